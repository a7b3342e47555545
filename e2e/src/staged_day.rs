//! Days staged straight into a fresh PostgreSQL database, without the emulator: for the
//! transform's focused tests and `make bench`, which check what the SQL computes.

use anyhow::Context;
use chrono::{NaiveDate, TimeZone, Utc};
use ppmt_domain::record::{FxRateRecord, RawRecord};
use ppmt_domain::{BatchId, BatchRef, Currency};
use ppmt_platform::adapters::postgres::PostgresWarehouse;
use ppmt_platform::ports::{StagedBatch, StagedRow};
use rust_decimal::Decimal;

/// Creates database `name` with the C collation (byte order: for UTF-8 text the same order
/// as code points, as `C.UTF-8` sorts, but compared with `memcmp` instead of `strcoll`,
/// which costs a transform's sorts and indexes on text keys about 2.5 times as much).
/// The character classes (`LOWER`) stay the cluster's.
pub async fn create_database(admin: &tokio_postgres::Client, name: &str) -> anyhow::Result<()> {
    admin.batch_execute(&format!("CREATE DATABASE {name} TEMPLATE template0 LC_COLLATE 'C'")).await?;
    Ok(())
}

/// Drops database `name` on the server of `admin_url`, if it exists.
pub async fn drop_database(admin_url: &str, name: &str) -> anyhow::Result<()> {
    let admin = PostgresWarehouse { url: admin_url.to_owned() }.connect().await?;
    admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await?;
    Ok(())
}

/// A new database `name` (dropped first if it exists) on the server of `admin_url`, with
/// the schema and the seeds applied.
pub async fn fresh_database(admin_url: &str, name: &str) -> anyhow::Result<PostgresWarehouse> {
    drop_database(admin_url, name).await?;
    let admin = PostgresWarehouse { url: admin_url.to_owned() }.connect().await?;
    create_database(&admin, name).await?;
    let base = admin_url.rsplit_once('/').map(|(b, _)| b).context("PPMT_DATABASE_URL has no database part")?;
    let warehouse = PostgresWarehouse { url: format!("{base}/{name}") };
    warehouse.apply_schema().await?;
    Ok(warehouse)
}

/// One observation of a day: a source's offer as the scraper would write it.
#[derive(Debug, Clone, Default)]
pub struct Offer {
    pub source_id: String,
    pub record: RawRecord,
}

impl Offer {
    /// An offer of `source`'s SKU `sku` at `price` (decimal text) in `currency`.
    pub fn new(source: &str, sku: &str, price: &str, currency: &str) -> Offer {
        Offer {
            source_id: source.to_owned(),
            record: RawRecord {
                product_id: Some(sku.to_owned()),
                price: Some(price.to_owned()),
                currency: Some(currency.to_owned()),
                ..RawRecord::default()
            },
        }
    }

    pub fn name(mut self, name: &str, brand: &str) -> Offer {
        self.record.name = Some(name.to_owned());
        self.record.brand = Some(brand.to_owned());
        self
    }

    pub fn gtin(mut self, gtin: &str) -> Offer {
        self.record.gtin = Some(gtin.to_owned());
        self
    }

    pub fn mpn(mut self, mpn: &str) -> Offer {
        self.record.mpn = Some(mpn.to_owned());
        self
    }

    pub fn category(mut self, category: &str) -> Offer {
        self.record.category = Some(category.to_owned());
        self
    }
}

/// Day `date`'s scrape number `seq`.
fn batch_ref(date: NaiveDate, seq: i64) -> BatchRef {
    BatchRef {
        batch_id: BatchId(format!("{date}-s{seq}")),
        batch_date: date,
        bucket: "staged-day".into(),
        manifest_key: format!("raw/{date}/manifest.json"),
    }
}

/// A staged batch of `offers` seen at 02:00 UTC on `date`, one file per source, with the
/// ECB rates `(quote currency, units per EUR)` of that date. `seq` orders the scrapes of
/// a day (the load sequence).
pub fn day_batch(
    date: NaiveDate,
    seq: i64,
    offers: &[Offer],
    rates: &[(&str, Decimal)],
) -> anyhow::Result<StagedBatch> {
    let observed = Utc.from_utc_datetime(&date.and_hms_opt(2, 0, 0).context("time")?).to_rfc3339();
    let mut rows = Vec::with_capacity(offers.len());
    for (i, offer) in offers.iter().enumerate() {
        let mut raw = offer.record.clone();
        raw.observed_at.get_or_insert_with(|| observed.clone());
        let record = raw.validate().map_err(|r| anyhow::anyhow!("offer {i} rejected: {}", r.detail))?;
        rows.push(StagedRow {
            file_key: format!("raw/{date}/{}.csv", offer.source_id).into(),
            source_id: offer.source_id.as_str().into(),
            line_no: i as u64 + 2,
            record,
        });
    }
    let fx_rates = rates
        .iter()
        .map(|(quote, rate)| -> anyhow::Result<FxRateRecord> {
            Ok(FxRateRecord {
                rate_date: date,
                base_currency: Currency::EUR,
                quote_currency: quote.parse()?,
                rate: *rate,
                source: "ECB".into(),
            })
        })
        .collect::<anyhow::Result<_>>()?;
    Ok(StagedBatch {
        batch: batch_ref(date, seq),
        rows,
        rejects: Vec::new(),
        fx_rates,
        load_seq: seq,
        manifest_sha256: "00".repeat(32),
    })
}
