//! The loader's streaming on PostgreSQL: the real handler, files in the in-memory store,
//! staged into a fresh database. A file of several chunks stages every row once on its
//! own line; a file whose checksum fails only at its end rolls the whole load back (the
//! chunks already copied and the day's replaced rows alike); and two loads of one day at
//! once serialise on the batches lock while their files stream, the later scrape staying.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use ppmt_domain::batch::{manifest_key, raw_file_key};
use ppmt_domain::manifest::{FileFormat, FileKind, ManifestFile, MANIFEST_SCHEMA_VERSION};
use ppmt_domain::record::PRICE_CSV_HEADER;
use ppmt_domain::{BatchId, Manifest};
use ppmt_e2e::query;
use ppmt_e2e::staged_day::fresh_database;
use ppmt_loader::parse::CHUNK_RECORDS;
use ppmt_loader::Loader;
use ppmt_platform::adapters::postgres::PostgresWarehouse;
use ppmt_platform::testing::{MemoryLedger, MemoryNotifier, MemoryStore};
use ppmt_platform::worker::{Message, MessageHandler};

const BUCKET: &str = "ppmt-raw";
/// Rows of each file: more than two chunks.
const ROWS: usize = 2 * CHUNK_RECORDS + 1_234;

fn date() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 20).unwrap()
}

async fn database(test: &str) -> PostgresWarehouse {
    let admin = std::env::var("PPMT_DATABASE_URL").expect("PPMT_DATABASE_URL: run with `make e2e`");
    fresh_database(&admin, &format!("streaming_{test}")).await.unwrap()
}

/// A CSV and a JSON Lines file of [`ROWS`] rows each, priced `price`; every 10th row has
/// a zero price (a reject).
fn files(price: &str) -> [(FileFormat, String); 2] {
    let mut csv = PRICE_CSV_HEADER.join(",") + "\n";
    let mut json = String::new();
    for i in 0..ROWS {
        let price = if i % 10 == 0 { "0" } else { price };
        let mut fields: Vec<String> = vec![String::new(); PRICE_CSV_HEADER.len()];
        for (column, value) in [
            ("product_id", format!("c{i}")),
            ("name", format!("Widget \"{i}\", large")),
            ("price", price.to_owned()),
            ("currency", "EUR".to_owned()),
            ("observed_at", "2026-11-20T02:00:00Z".to_owned()),
        ] {
            let at = PRICE_CSV_HEADER.iter().position(|c| *c == column).unwrap();
            fields[at] = value;
        }
        let mut writer = csv::WriterBuilder::new().has_headers(false).from_writer(Vec::new());
        writer.write_record(&fields).unwrap();
        csv.push_str(&String::from_utf8(writer.into_inner().unwrap()).unwrap());
        json.push_str(&format!(
            "{{\"product_id\":\"j{i}\",\"price\":\"{price}\",\"currency\":\"USD\",\"observed_at\":\"2026-11-20T02:00:00Z\"}}\n"
        ));
    }
    [(FileFormat::Csv, csv), (FileFormat::Json, json)]
}

/// A loader over its own store holding the day's `stored` files and a manifest created
/// at `created_at` that lists `listed` (the same files, unless a test tampers with one).
fn loader(
    warehouse: &PostgresWarehouse,
    stored: &[(FileFormat, String)],
    listed: &[(FileFormat, String)],
    created_at: DateTime<Utc>,
) -> (Loader, BatchId) {
    let store = Arc::new(MemoryStore::default());
    let batch_id = BatchId::new_for(date());
    let mut described = Vec::new();
    for (i, ((format, content), (_, listed))) in stored.iter().zip(listed).enumerate() {
        let at = chrono::NaiveTime::from_hms_opt(2, 0, i as u32).unwrap();
        let key = raw_file_key(date(), &format!("shop{i}"), at, &batch_id, format.extension());
        store.insert(BUCKET, &key, content.clone());
        let file =
            ManifestFile::describe(key, format!("shop{i}"), FileKind::Prices, *format, listed.as_bytes(), ROWS as u64);
        described.push(file);
    }
    let manifest = Manifest {
        schema_version: MANIFEST_SCHEMA_VERSION,
        batch_id: batch_id.clone(),
        batch_date: date(),
        created_at,
        files: described,
        sources_without_data: Vec::new(),
    };
    store.insert(BUCKET, &manifest_key(date()), serde_json::to_vec(&manifest).unwrap());
    let loader = Loader {
        store,
        warehouse: Arc::new(warehouse.clone()),
        notifier: Arc::new(MemoryNotifier::default()),
        ledger: Arc::new(MemoryLedger::default()),
    };
    (loader, batch_id)
}

fn manifest_event() -> Message {
    let body = ppmt_domain::s3_event::object_created_body(BUCKET, &manifest_key(date()));
    Message { message_id: "m1".into(), body: ppmt_domain::s3_event::classify(&body), receive_count: 1 }
}

/// One row of text answers: (batch ids, staged rows, distinct file lines, rejects,
/// the batches row's counts).
async fn staged(w: &PostgresWarehouse) -> Vec<Option<String>> {
    let sql = "SELECT (SELECT string_agg(DISTINCT batch_id, ',') FROM staging_prices), \
               (SELECT COUNT(*) FROM staging_prices), \
               (SELECT COUNT(DISTINCT (file_key, line_no)) FROM staging_prices), \
               (SELECT COUNT(*) FROM rejected_rows), \
               (SELECT string_agg(batch_id || ':' || rows_staged || ':' || rows_rejected, ',') FROM batches)";
    query(w, sql).await.unwrap().remove(0)
}

fn expected(batch: &BatchId) -> Vec<Option<String>> {
    let (valid, rejected) = (2 * (ROWS - ROWS.div_ceil(10)), 2 * ROWS.div_ceil(10));
    [batch.to_string(), valid.to_string(), valid.to_string(), rejected.to_string()]
        .into_iter()
        .chain([format!("{batch}:{valid}:{rejected}")])
        .map(Some)
        .collect()
}

#[tokio::test]
async fn a_file_of_many_chunks_stages_each_row_once_and_a_late_checksum_failure_rolls_back() {
    let w = database("chunks").await;
    let good = files("10.00");
    let (first, first_id) = loader(&w, &good, &good, Utc::now() - chrono::Duration::minutes(5));
    first.handle(&manifest_event()).await.unwrap();
    assert_eq!(staged(&w).await, expected(&first_id));
    // Every line of each file, once: the CSV's from 2 (after its header), the JSON's from 1.
    let lines = query(
        &w,
        "SELECT MIN(line_no), MAX(line_no) FROM (SELECT line_no FROM staging_prices UNION ALL \
         SELECT line_no FROM rejected_rows) l",
    )
    .await
    .unwrap();
    assert_eq!(lines[0], vec![Some("1".to_owned()), Some((ROWS + 1).to_string())]);
    let raw = query(&w, "SELECT raw_row FROM rejected_rows WHERE file_key LIKE '%.csv' AND line_no = 2").await.unwrap();
    assert_eq!(raw[0][0].as_deref(), good[0].1.lines().nth(1), "a reject keeps its row as it was, quotes and all");

    // A later scrape whose JSON file differs from its manifest in its very last byte: the
    // checksum fails after every chunk of both files was copied, and the load rolls back,
    // the first batch still staged.
    let later = files("11.00");
    let mut tampered = later.clone();
    let last = tampered[1].1.rfind("USD").unwrap();
    tampered[1].1.replace_range(last..last + 3, "GBP");
    let (second, _) = loader(&w, &tampered, &later, Utc::now());
    let err = second.handle(&manifest_event()).await.unwrap_err();
    assert!(err.to_string().contains("sha256"), "{err}");
    assert_eq!(staged(&w).await, expected(&first_id));
}

#[tokio::test]
async fn two_streaming_loads_of_one_day_at_once_leave_the_later_scrape() {
    let w = database("race").await;
    let (files_a, files_b) = (files("10.00"), files("12.00"));
    let now = Utc::now();
    let (earlier, _) = loader(&w, &files_a, &files_a, now - chrono::Duration::minutes(1));
    let (later, later_id) = loader(&w, &files_b, &files_b, now);
    let event = manifest_event();
    let (a, b) = tokio::join!(earlier.handle(&event), later.handle(&event));
    a.unwrap();
    b.unwrap();
    assert_eq!(staged(&w).await, expected(&later_id));
    let prices = query(&w, "SELECT DISTINCT price FROM staging_prices WHERE source_sku LIKE 'c%'").await.unwrap();
    assert_eq!(prices, vec![vec![Some("12.000000".to_owned())]]);
}
