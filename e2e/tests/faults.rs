//! Delivery under faults, end to end: a bad row costs that row, and a bad manifest is
//! refused with its reason, while everything else of the day goes on.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

use std::time::Duration;

use chrono::{NaiveDate, Utc};
use ppmt_domain::manifest::{FileFormat, FileKind};
use ppmt_domain::record::PRICE_CSV_REQUIRED;
use ppmt_e2e::{Harness, RawFile};

fn day(d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, d).unwrap()
}

#[tokio::test]
async fn a_nul_row_an_out_of_range_rate_and_an_empty_file_each_cost_only_themselves() -> anyhow::Result<()> {
    let mut h = Harness::new("bad_rows").await?;
    h.start_all()?;
    // Line 3 has a NUL byte in its name (COPY used to fail the day with 22021).
    let shop = format!(
        "{}\n\
         kettle,Kettle,Acme,,,40.00,,,EUR,,,2026-11-24T02:00:00Z,,\n\
         toaster,Toa\0ster,Acme,,,25.50,,,EUR,,,2026-11-24T02:00:00Z,,\n\
         blender,Blender,Acme,,,30.00,,,GBP,,,2026-11-24T02:00:00Z,,\n",
        PRICE_CSV_REQUIRED.join(",")
    );
    // Line 3's rate would overflow NUMERIC(18,8); the GBP rate on line 4 is fine.
    let fx = "rate_date,base_currency,quote_currency,rate,source\n\
              2026-11-24,EUR,USD,1.05,ECB\n\
              2026-11-24,EUR,JPY,50000000000,ECB\n\
              2026-11-24,EUR,GBP,0.84,ECB\n";
    let files = vec![
        RawFile { source_id: "shop", kind: FileKind::Prices, format: FileFormat::Csv, content: shop, records: 3 },
        RawFile {
            source_id: "quiet",
            kind: FileKind::Prices,
            format: FileFormat::Csv,
            content: String::new(),
            records: 0,
        },
        RawFile { source_id: "ecb", kind: FileKind::FxRates, format: FileFormat::Csv, content: fx.into(), records: 3 },
    ];
    let manifest = h.drop_batch(day(24), &files).await?;
    h.wait_synced(day(24), &manifest.batch_id).await?;

    let rejected =
        h.query("SELECT source_id, line_no::text, reason_code, detail FROM rejected_rows ORDER BY source_id").await?;
    let text = |r: &Vec<Option<String>>| r.iter().map(|c| c.clone().unwrap_or_default()).collect::<Vec<_>>();
    assert_eq!(
        rejected.iter().map(text).collect::<Vec<_>>(),
        vec![
            vec!["ecb", "3", "OUT_OF_RANGE", "rate 50000000000 is outside 0.0001..1000000"],
            vec!["shop", "3", "CONTROL_CHARACTER", "name contains the control character U+0000"],
        ]
    );
    // The good rows went on: 40.00 EUR × 1.05 = 42.00 USD; 30.00 GBP × 1.05 / 0.84 = 37.50 USD.
    let facts = h.query("SELECT source_sku, price_usd::text FROM fact_offer_prices ORDER BY source_sku").await?;
    assert_eq!(facts.iter().map(text).collect::<Vec<_>>(), vec![vec!["blender", "37.50"], vec!["kettle", "42.00"]]);
    Ok(())
}

#[tokio::test]
async fn a_manifest_dated_after_tomorrow_is_refused_with_its_reason() -> anyhow::Result<()> {
    let mut h = Harness::new("future_day").await?;
    h.start_all()?;
    let future = Utc::now().date_naive() + chrono::Duration::days(2);
    let shop = format!("{}\nkettle,Kettle,Acme,,,40.00,,,USD,,,{future}T02:00:00Z,,\n", PRICE_CSV_REQUIRED.join(","));
    let files =
        [RawFile { source_id: "shop", kind: FileKind::Prices, format: FileFormat::Csv, content: shop, records: 1 }];
    h.drop_batch(future, &files).await?;

    let dlq = h.queue_url("loader", true)?;
    let start = std::time::Instant::now();
    let letters = loop {
        let letters = ppmt_cli::ops::list_dead_letters(&h.clients, &h.ledger, &dlq).await?;
        if !letters.is_empty() || start.elapsed() > Duration::from_secs(90) {
            break letters;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert_eq!(letters.len(), 1, "the manifest's event is dead: {letters:?}");
    let reason = letters[0].last_error.clone().unwrap_or_default();
    assert!(reason.contains(&format!("batch date {future} is later than tomorrow")), "{reason}");
    // Nothing of that day was staged.
    let staged = h.query("SELECT COUNT(*)::text FROM staging_prices").await?;
    assert_eq!(staged, vec![vec![Some("0".to_owned())]]);
    Ok(())
}
