//! A chunk of a batch's staged rows as CSV, in the column order both warehouse adapters load
//! (PostgreSQL `COPY ... FROM STDIN`, Redshift `COPY ... FROM 's3://...'`). `None` is an
//! unquoted empty field, which both read as NULL.

use std::borrow::Cow;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use ppmt_domain::BatchRef;

use crate::ports::{RejectedRow, StagedRow};

/// `staging_prices` columns, in CSV order.
pub const STAGING_COLUMNS: &str = "staging_prices (batch_id, batch_date, source_id, file_key, line_no, source_sku, \
     name, brand, gtin, mpn, category, price, price_kind, price_max, regular_price, sale_starts_at, sale_ends_at, \
     offer_count, currency, availability, url, observed_at, gtin14, mpn_key, brand_key, name_key)";

/// `rejected_rows` columns, in CSV order.
pub const REJECTED_COLUMNS: &str =
    "rejected_rows (batch_id, batch_date, source_id, file_key, line_no, reason_code, detail, raw_row)";

/// A field: text borrowed from the row, or made for the CSV (a number, a time).
type Field<'a> = Option<Cow<'a, str>>;

fn csv_bytes<'a, const N: usize>(rows: impl Iterator<Item = [Field<'a>; N]>) -> Result<Bytes, csv::Error> {
    let mut writer = csv::WriterBuilder::new().quote_style(csv::QuoteStyle::Necessary).from_writer(Vec::new());
    for row in rows {
        writer.write_record(row.iter().map(|f| f.as_deref().unwrap_or("")))?;
    }
    let bytes = writer.into_inner().map_err(|e| csv::Error::from(e.into_error()))?;
    Ok(Bytes::from(bytes))
}

fn text(value: &str) -> Field<'_> {
    Some(Cow::Borrowed(value))
}

fn optional(value: &Option<String>) -> Field<'_> {
    value.as_deref().map(Cow::Borrowed)
}

fn made(value: impl ToString) -> Field<'static> {
    Some(Cow::Owned(value.to_string()))
}

fn time(value: DateTime<Utc>) -> Field<'static> {
    Some(Cow::Owned(value.to_rfc3339()))
}

/// The batch's valid rows `rows`, for [`STAGING_COLUMNS`].
pub fn staged_rows_csv(batch: &BatchRef, rows: &[StagedRow]) -> Result<Bytes, csv::Error> {
    let id = batch.batch_id.to_string();
    let day = batch.batch_date.to_string();
    csv_bytes(rows.iter().map(|r| {
        let v = &r.record;
        [
            text(&id),
            text(&day),
            text(&r.source_id),
            text(&r.file_key),
            made(r.line_no),
            text(&v.product_id),
            optional(&v.name),
            optional(&v.brand),
            optional(&v.gtin),
            optional(&v.mpn),
            optional(&v.category),
            made(v.price),
            text(v.price_kind.as_str()),
            v.price_max.and_then(made),
            v.regular_price.and_then(made),
            v.sale_starts_at.and_then(time),
            v.sale_ends_at.and_then(time),
            v.offer_count.and_then(made),
            text(v.currency.as_str()),
            optional(&v.availability),
            optional(&v.url),
            time(v.observed_at),
            optional(&v.keys.gtin14),
            optional(&v.keys.mpn_key),
            optional(&v.keys.brand_key),
            optional(&v.keys.name_key),
        ]
    }))
}

/// The batch's rejected rows `rejects`, for [`REJECTED_COLUMNS`].
pub fn rejected_rows_csv(batch: &BatchRef, rejects: &[RejectedRow]) -> Result<Bytes, csv::Error> {
    let id = batch.batch_id.to_string();
    let day = batch.batch_date.to_string();
    csv_bytes(rejects.iter().map(|r| {
        [
            text(&id),
            text(&day),
            text(&r.source_id),
            text(&r.file_key),
            made(r.line_no),
            text(r.reason.code()),
            text(&r.detail),
            text(&r.raw),
        ]
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::StagedBatch;
    use chrono::{NaiveDate, TimeZone, Utc};
    use ppmt_domain::record::{IdentityKeys, PriceKind, ValidRecord};
    use ppmt_domain::{BatchId, BatchRef, Currency, RejectReason};
    use rust_decimal::Decimal;

    #[test]
    fn optional_fields_become_unquoted_empties_and_text_is_quoted_when_needed() {
        let staged = StagedBatch {
            batch: BatchRef {
                batch_id: BatchId("b1".into()),
                batch_date: NaiveDate::from_ymd_opt(2026, 11, 25).unwrap(),
                bucket: "raw".into(),
                manifest_key: "raw/2026-11-25/manifest.json".into(),
            },
            rows: vec![StagedRow {
                file_key: "raw/2026-11-25/a.csv".into(),
                source_id: "a".into(),
                line_no: 2,
                record: ValidRecord {
                    product_id: "p1".into(),
                    name: Some("Widget, large".into()),
                    brand: None,
                    gtin: None,
                    mpn: None,
                    category: None,
                    price: Decimal::new(1050, 2),
                    price_kind: PriceKind::Exact,
                    price_max: None,
                    regular_price: None,
                    sale_starts_at: None,
                    sale_ends_at: None,
                    offer_count: None,
                    currency: Currency::EUR,
                    availability: None,
                    url: None,
                    observed_at: Utc.with_ymd_and_hms(2026, 11, 25, 2, 0, 0).unwrap(),
                    keys: IdentityKeys { name_key: Some("widget, large".into()), ..IdentityKeys::default() },
                },
            }],
            rejects: vec![RejectedRow {
                file_key: "raw/2026-11-25/a.csv".into(),
                source_id: "a".into(),
                line_no: 3,
                reason: RejectReason::ZeroPrice,
                detail: "price is zero".into(),
                raw: "p2,\"x\",0".into(),
            }],
            fx_rates: vec![],
            load_seq: 1,
            manifest_sha256: "00".repeat(32),
        };
        let rows = String::from_utf8(staged_rows_csv(&staged.batch, &staged.rows).unwrap().to_vec()).unwrap();
        assert_eq!(
            rows,
            "b1,2026-11-25,a,raw/2026-11-25/a.csv,2,p1,\"Widget, large\",,,,,10.50,exact,,,,,,EUR,,,2026-11-25T02:00:00+00:00,,,,\"widget, large\"\n"
        );
        let rejects = String::from_utf8(rejected_rows_csv(&staged.batch, &staged.rejects).unwrap().to_vec()).unwrap();
        assert_eq!(rejects, "b1,2026-11-25,a,raw/2026-11-25/a.csv,3,ZERO_PRICE,price is zero,\"p2,\"\"x\"\",0\"\n");
    }
}
