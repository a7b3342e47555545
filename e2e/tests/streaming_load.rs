//! The loader's streaming on PostgreSQL: the real handler, files in the in-memory store,
//! staged into a fresh database. A file of several chunks stages every row once on its
//! own line; a file whose checksum fails only at its end rolls the whole load back (the
//! chunks already copied and the day's replaced rows alike); and two loads of one day at
//! once serialise on the batches lock while their files stream, the later scrape staying.
//! A day loaded in parts (the loader's fan-out) stages what a whole load stages, whatever
//! the workers, the order and the deliveries, and a later scrape's parts survive an
//! earlier scrape's whole load between them.
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
use ppmt_platform::testing::{MemoryLedger, MemoryNotifier, MemoryQueue, MemoryStore};
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

/// A loader, the batch of its day, and where it sends parts and announcements.
struct Day {
    loader: Loader,
    batch_id: BatchId,
    parts: Arc<MemoryQueue>,
    notifier: Arc<MemoryNotifier>,
}

impl Day {
    /// The message of part `index`, as sent.
    fn part(&self, index: usize) -> Message {
        let body = self.parts.sent.lock().unwrap()[index].clone();
        Message { message_id: format!("part-{index}"), body: ppmt_domain::s3_event::classify(&body), receive_count: 1 }
    }
}

/// Files of at most this many bytes in all are loaded whole (so, here, always).
const WHOLE: u64 = u64::MAX;

/// A loader over its own store holding the day's `stored` files and a manifest created
/// at `created_at` that lists `listed` (the same files, unless a test tampers with one);
/// a day of more than `fanout_bytes` is loaded in parts.
fn loader(
    warehouse: &PostgresWarehouse,
    stored: &[(FileFormat, String)],
    listed: &[(FileFormat, String)],
    created_at: DateTime<Utc>,
    fanout_bytes: u64,
) -> Day {
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
    let (parts, notifier) = (Arc::new(MemoryQueue::default()), Arc::new(MemoryNotifier::default()));
    let loader = Loader {
        store,
        warehouse: Arc::new(warehouse.clone()),
        notifier: notifier.clone(),
        ledger: Arc::new(MemoryLedger::default()),
        parts: parts.clone(),
        fanout_bytes,
    };
    Day { loader, batch_id, parts, notifier }
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
    let Day { loader: first, batch_id: first_id, .. } =
        loader(&w, &good, &good, Utc::now() - chrono::Duration::minutes(5), WHOLE);
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
    let second = loader(&w, &tampered, &later, Utc::now(), WHOLE).loader;
    let err = second.handle(&manifest_event()).await.unwrap_err();
    assert!(err.to_string().contains("sha256"), "{err}");
    assert_eq!(staged(&w).await, expected(&first_id));
}

#[tokio::test]
async fn two_streaming_loads_of_one_day_at_once_leave_the_later_scrape() {
    let w = database("race").await;
    let (files_a, files_b) = (files("10.00"), files("12.00"));
    let now = Utc::now();
    let earlier = loader(&w, &files_a, &files_a, now - chrono::Duration::minutes(1), WHOLE).loader;
    let Day { loader: later, batch_id: later_id, .. } = loader(&w, &files_b, &files_b, now, WHOLE);
    let event = manifest_event();
    let (a, b) = tokio::join!(earlier.handle(&event), later.handle(&event));
    a.unwrap();
    b.unwrap();
    assert_eq!(staged(&w).await, expected(&later_id));
    let prices = query(&w, "SELECT DISTINCT price FROM staging_prices WHERE source_sku LIKE 'c%'").await.unwrap();
    assert_eq!(prices, vec![vec![Some("12.000000".to_owned())]]);
}

#[tokio::test]
async fn a_day_loaded_in_parts_by_two_workers_at_once_stages_what_a_whole_load_stages() {
    let w = database("parts").await;
    let good = files("10.00");
    let day = loader(&w, &good, &good, Utc::now(), 0);
    day.loader.handle(&manifest_event()).await.unwrap();
    assert_eq!(day.parts.sent.lock().unwrap().len(), 2, "a part per file");
    assert_eq!(query(&w, "SELECT COUNT(*) FROM batches").await.unwrap()[0][0].as_deref(), Some("0"));
    // Two workers take the two parts at once; they serialise on the batches lock.
    let (first, second) = (day.part(0), day.part(1));
    let (a, b) = tokio::join!(day.loader.handle(&first), day.loader.handle(&second));
    a.unwrap();
    b.unwrap();
    assert_eq!(staged(&w).await, expected(&day.batch_id));
    // A part delivered again after the batch completed (its first worker's delete came
    // late): its file's rows are replaced, not added, and nothing is announced again.
    day.loader.handle(&day.part(1)).await.unwrap();
    assert_eq!(staged(&w).await, expected(&day.batch_id));
    let events = day.notifier.events.lock().unwrap().clone();
    assert_eq!(events.len(), 1);
    let (valid, rejected) = ((2 * (ROWS - ROWS.div_ceil(10))) as u64, (2 * ROWS.div_ceil(10)) as u64);
    assert_eq!((events[0].counts.rows_staged, events[0].counts.rows_rejected), (Some(valid), Some(rejected)));
    let files = query(&w, "SELECT COUNT(*), SUM(rows_staged), SUM(rows_rejected) FROM load_files").await.unwrap();
    assert_eq!(files[0], [2, valid, rejected].map(|n| Some(n.to_string())).to_vec());
}

#[tokio::test]
async fn a_later_scrapes_parts_survive_an_earlier_scrapes_whole_load_between_them() {
    let w = database("parts_race").await;
    let (files_a, files_b) = (files("10.00"), files("12.00"));
    let now = Utc::now();
    let later = loader(&w, &files_b, &files_b, now, 0);
    later.loader.handle(&manifest_event()).await.unwrap();
    later.loader.handle(&later.part(0)).await.unwrap();
    // An earlier scrape, loaded whole, becomes the day's batch meanwhile: the later
    // scrape's staged part is not its to delete.
    let earlier = loader(&w, &files_a, &files_a, now - chrono::Duration::minutes(1), WHOLE);
    earlier.loader.handle(&manifest_event()).await.unwrap();
    assert_eq!(staged(&w).await[4], expected(&earlier.batch_id)[4], "the earlier scrape is the day's");
    // The later scrape's last part completes it, and it replaces the earlier one.
    later.loader.handle(&later.part(1)).await.unwrap();
    assert_eq!(staged(&w).await, expected(&later.batch_id));
    // The earlier scrape again, in parts this time (a replay racing the scrape): each
    // part finds the later scrape staged, and changes nothing.
    let replay = loader(&w, &files_a, &files_a, now - chrono::Duration::minutes(1), 0);
    replay.loader.handle(&manifest_event()).await.unwrap();
    for i in 0..2 {
        replay.loader.handle(&replay.part(i)).await.unwrap();
    }
    assert_eq!(staged(&w).await, expected(&later.batch_id));
    assert!(replay.notifier.events.lock().unwrap().is_empty());
    let prices = query(&w, "SELECT DISTINCT price FROM staging_prices WHERE source_sku LIKE 'c%'").await.unwrap();
    assert_eq!(prices, vec![vec![Some("12.000000".to_owned())]]);
}

#[tokio::test]
async fn rejected_rows_of_many_chunks_are_staged_between_the_valid_rows_copies_each_once() {
    // 60,000 rows, nine in ten with a zero price: about 8 MB of rejects, which the session
    // writes whenever it holds 4 MB of them, ending the valid rows' COPY and opening a
    // new one for the next chunk.
    let w = database("rejects").await;
    let mut csv = PRICE_CSV_HEADER.join(",") + "\n";
    let rows = 60_000;
    for i in 0..rows {
        let price = if i % 10 == 0 { "10.00" } else { "0" };
        let mut fields: Vec<String> = vec![String::new(); PRICE_CSV_HEADER.len()];
        for (column, value) in [
            ("product_id", format!("r{i}")),
            ("name", format!("A long enough name for a rejected row of the test number {i}")),
            ("price", price.to_owned()),
            ("currency", "EUR".to_owned()),
            ("observed_at", "2026-11-20T02:00:00Z".to_owned()),
        ] {
            fields[PRICE_CSV_HEADER.iter().position(|c| *c == column).unwrap()] = value;
        }
        csv.push_str(&fields.join(","));
        csv.push('\n');
    }
    let one = [(FileFormat::Csv, csv)];
    let store = Arc::new(MemoryStore::default());
    let batch_id = BatchId::new_for(date());
    let at = chrono::NaiveTime::from_hms_opt(2, 0, 0).unwrap();
    let key = raw_file_key(date(), "shop", at, &batch_id, "csv");
    store.insert(BUCKET, &key, one[0].1.clone());
    let file = ManifestFile::describe(key, "shop".into(), FileKind::Prices, FileFormat::Csv, one[0].1.as_bytes(), rows);
    let manifest = Manifest {
        schema_version: MANIFEST_SCHEMA_VERSION,
        batch_id,
        batch_date: date(),
        created_at: Utc::now(),
        files: vec![file],
        sources_without_data: Vec::new(),
    };
    store.insert(BUCKET, &manifest_key(date()), serde_json::to_vec(&manifest).unwrap());
    let one_file = Loader { store, ..loader(&w, &[], &[], Utc::now(), WHOLE).loader };
    one_file.handle(&manifest_event()).await.unwrap();
    let counts = query(
        &w,
        "SELECT (SELECT COUNT(*) FROM staging_prices), (SELECT COUNT(*) FROM rejected_rows), \
         (SELECT COUNT(DISTINCT line_no) FROM (SELECT line_no FROM staging_prices UNION ALL \
          SELECT line_no FROM rejected_rows) l), \
         (SELECT rows_staged || ':' || rows_rejected FROM batches)",
    )
    .await
    .unwrap();
    let expected = ["6000", "54000", "60000", "6000:54000"].map(|v| Some(v.to_owned())).to_vec();
    assert_eq!(counts[0], expected);
    assert!(rejected_bytes(&w).await > 2 * (4 << 20), "the rejects span more than two writes");
}

/// The size of the rejected rows' CSV as the session encoded it, about: their raw text
/// and detail.
async fn rejected_bytes(w: &PostgresWarehouse) -> usize {
    let sum = query(w, "SELECT SUM(LENGTH(raw_row) + LENGTH(detail) + LENGTH(file_key) + 40) FROM rejected_rows").await;
    sum.unwrap()[0][0].as_deref().unwrap_or("0").parse().unwrap()
}
