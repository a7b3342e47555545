//! The app's table under races: syncers of two days, and of two loads of one day,
//! interleaved so that the older one writes last. DynamoDB's conditional writes must
//! refuse every one of its writes that would move an item backwards. The syncer runs
//! in-process here, with a warehouse that holds its read until the newer sync is done,
//! so the interleaving is certain rather than likely.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::NaiveDate;
use ppmt_domain::manifest::{FileFormat, FileKind};
use ppmt_domain::record::PRICE_CSV_HEADER;
use ppmt_domain::{BatchId, BatchRef, Stage, StageCounts, StageEvent};
use ppmt_e2e::fault_proxy::FaultProxy;
use ppmt_e2e::{Harness, RawFile};
use ppmt_platform::adapters::app_table::DynamoAppTable;
use ppmt_platform::adapters::postgres::PostgresWarehouse;
use ppmt_platform::adapters::sns::SnsNotifier;
use ppmt_platform::ports::{
    PriceMover, PricePoint, RunStatus, SetAside, SqlStep, Staging, StagingStart, SyncSink, TransformOutcome, Warehouse,
};
use ppmt_platform::testing::ViewPages;
use ppmt_platform::worker::{Message, MessageHandler};
use ppmt_platform::PortError;
use ppmt_syncer::Syncer;
use tokio::sync::Notify;

fn day(d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, d).unwrap()
}

/// `products` products of brand Acme at `price_of(n)` EUR, from one shop, dated `d`.
fn day_files(d: u32, products: std::ops::Range<u32>, price_of: impl Fn(u32) -> String) -> Vec<RawFile<'static>> {
    let date = day(d);
    let mut csv = PRICE_CSV_HEADER.join(",");
    csv.push('\n');
    let fields = PRICE_CSV_HEADER.len();
    for n in products.clone() {
        let mut row = vec![String::new(); fields];
        row[0] = format!("sku{n:05}");
        row[1] = format!("Gadget {n}");
        row[2] = "Acme".into();
        row[6] = price_of(n);
        row[13] = "EUR".into();
        row[16] = format!("{date}T02:00:00Z");
        csv.push_str(&row.join(","));
        csv.push('\n');
    }
    let fx = format!("rate_date,base_currency,quote_currency,rate,source\n{date},EUR,USD,1.05,ECB\n");
    vec![
        RawFile {
            source_id: "shop",
            kind: FileKind::Prices,
            format: FileFormat::Csv,
            content: csv,
            records: u64::from(products.end - products.start),
        },
        RawFile { source_id: "ecb", kind: FileKind::FxRates, format: FileFormat::Csv, content: fx, records: 1 },
    ]
}

/// A warehouse whose `sync_view` reads the whole view, then waits for `release` before
/// handing its pages on: the syncer has read its view and not yet written it.
struct HeldRead {
    inner: PostgresWarehouse,
    read: Notify,
    release: Notify,
}

#[async_trait]
impl Warehouse for HeldRead {
    async fn begin_staging(&self, batch: &BatchRef, seq: i64, sha256: &str) -> Result<StagingStart, PortError> {
        self.inner.begin_staging(batch, seq, sha256).await
    }
    async fn begin_part(&self, batch: &BatchRef, seq: i64, key: &str, index: u32) -> Result<StagingStart, PortError> {
        self.inner.begin_part(batch, seq, key, index).await
    }
    async fn complete_parts(
        &self,
        batch: &BatchRef,
        seq: i64,
        sha256: &str,
        rows: u64,
        rejects: u64,
    ) -> Result<Staging, PortError> {
        self.inner.complete_parts(batch, seq, sha256, rows, rejects).await
    }
    async fn current_batch(&self, batch: &BatchRef) -> Result<Option<BatchId>, PortError> {
        self.inner.current_batch(batch).await
    }
    async fn run_transform(&self, batch: &BatchRef, steps: &[SqlStep]) -> Result<TransformOutcome, PortError> {
        self.inner.run_transform(batch, steps).await
    }
    async fn sync_view(&self, batch: &BatchRef, sink: &mut dyn SyncSink) -> Result<(), PortError> {
        let mut pages = ViewPages::default();
        self.inner.sync_view(batch, &mut pages).await?;
        self.read.notify_one();
        self.release.notified().await;
        for page in pages.0 {
            sink.page(page).await?;
        }
        Ok(())
    }
    async fn set_aside(&self, date: NaiveDate) -> Result<Vec<SetAside>, PortError> {
        self.inner.set_aside(date).await
    }
    async fn top_movers(&self, date: NaiveDate, limit: u32) -> Result<Vec<PriceMover>, PortError> {
        self.inner.top_movers(date, limit).await
    }
    async fn mover_history(&self, date: NaiveDate, ids: &[String], days: u32) -> Result<Vec<PricePoint>, PortError> {
        self.inner.mover_history(date, ids, days).await
    }
}

fn transformed_message(manifest: &ppmt_domain::Manifest, h: &Harness) -> Message {
    let batch = BatchRef {
        batch_id: manifest.batch_id.clone(),
        batch_date: manifest.batch_date,
        bucket: h.bucket().to_owned(),
        manifest_key: format!("raw/{}/manifest.json", manifest.batch_date),
    };
    let event = StageEvent::new(&batch, Stage::Transformed, StageCounts::default(), "race".into());
    let body = ppmt_domain::s3_event::classify(&serde_json::to_string(&event).unwrap());
    Message { message_id: format!("race-{}", manifest.batch_id), body, receive_count: 1 }
}

fn in_process_syncer(h: &Harness, warehouse: Arc<dyn Warehouse>) -> Syncer {
    Syncer {
        warehouse,
        app: Arc::new(DynamoAppTable {
            client: h.clients.dynamodb.clone(),
            table: h.provisioned.topology.prices_table.name.clone(),
            retry_deadline: Duration::from_secs(30),
        }),
        notifier: Arc::new(SnsNotifier { client: h.clients.sns.clone(), topic_arn: h.provisioned.topic_arn.clone() }),
        ledger: Arc::new(h.ledger.clone()),
        shards: Arc::new(ppmt_platform::testing::MemoryQueue::default()),
        shard_items: 100_000,
    }
}

/// The (price_date, market price) of every product's LATEST item.
async fn latest(h: &Harness) -> anyhow::Result<Vec<(String, String, String)>> {
    Ok(h.app_items()
        .await?
        .into_iter()
        .filter(|((_, sk), _)| sk == "LATEST")
        .map(|((pk, _), item)| (pk, item["price_date"].clone(), item["market_price_usd"].clone()))
        .collect())
}

/// Loads and transforms `older`, starts its sync and holds it between its read and its
/// writes, then loads, transforms and syncs `newer` with the real syncer, and only then
/// lets the older sync write. Returns the older batch's id.
async fn older_sync_lands_last(
    h: &mut Harness,
    older: (u32, Vec<RawFile<'static>>),
    newer: (u32, Vec<RawFile<'static>>),
) -> anyhow::Result<BatchId> {
    h.start("loader")?;
    h.start("transformer")?;
    let first = h.drop_batch(day(older.0), &older.1).await?;
    h.wait_for(day(older.0), &first.batch_id, Stage::Transformed, Duration::from_secs(60), |r| {
        r.status == RunStatus::Succeeded
    })
    .await?;
    let held = Arc::new(HeldRead {
        inner: PostgresWarehouse { url: h.database_url.clone() },
        read: Notify::new(),
        release: Notify::new(),
    });
    let syncer = in_process_syncer(h, held.clone());
    let message = transformed_message(&first, h);
    let older_sync = tokio::spawn(async move { syncer.handle(&message).await });
    held.read.notified().await;

    h.start("syncer")?;
    let second = h.drop_batch(day(newer.0), &newer.1).await?;
    h.wait_synced(day(newer.0), &second.batch_id).await?;
    held.release.notify_one();
    older_sync.await??;
    Ok(first.batch_id)
}

#[tokio::test]
async fn an_older_day_whose_sync_lands_last_leaves_no_stale_item() -> anyhow::Result<()> {
    let mut h = Harness::new("race-days").await?;
    // Day 24: 600 products at 10.00 EUR. Day 25: the first 300 of them at 20.00 EUR.
    let d24 = day_files(24, 0..600, |_| "10.00".into());
    let d25 = day_files(25, 0..300, |_| "20.00".into());
    let older = older_sync_lands_last(&mut h, (24, d24), (25, d25)).await?;
    let run = h.run(day(24), &older, Stage::Synced).await?.unwrap();
    // 10.00 EUR × 1.05 = 10.50 USD; 20.00 EUR × 1.05 = 21.00 USD.
    let items = latest(&h).await?;
    assert_eq!(items.len(), 600);
    let stale: Vec<_> = items.iter().filter(|(_, date, _)| date == "2026-11-24").take(301).collect();
    assert_eq!(stale.len(), 300, "only the products day 25 does not list keep day 24");
    let newer = items.iter().filter(|(_, date, market)| date == "2026-11-25" && market == "21.00").count();
    assert_eq!(newer, 300, "every product of day 25 shows day 25: 0 stale items");
    // The 300 products of both days: their LATEST and offer items (no GTIN, so no pointer).
    assert_eq!(run.counts.stale_skipped, Some(600), "{:?}", run.counts);
    Ok(())
}

#[tokio::test]
async fn a_superseded_load_whose_sync_lands_last_leaves_no_stale_item() -> anyhow::Result<()> {
    let mut h = Harness::new("race-loads").await?;
    // The day is scraped again with new prices; the new load's sync completes first.
    let first = day_files(24, 0..200, |_| "10.00".into());
    let second = day_files(24, 0..200, |_| "30.00".into());
    let older = older_sync_lands_last(&mut h, (24, first), (24, second)).await?;
    // 30.00 EUR × 1.05 = 31.50 USD everywhere.
    let items = latest(&h).await?;
    assert_eq!(items.len(), 200);
    assert!(items.iter().all(|(_, _, market)| market == "31.50"), "{:?}", &items[..3]);
    let run = h.run(day(24), &older, Stage::Synced).await?.unwrap();
    // Every LATEST, offer and history item of the first load is older than the second's.
    assert_eq!(run.counts.stale_skipped, Some(600), "{:?}", run.counts);
    Ok(())
}

#[tokio::test]
async fn throttled_reads_and_writes_are_retried_and_nothing_is_lost_or_doubled() -> anyhow::Result<()> {
    let mut h = Harness::new("throttled").await?;
    // Every fifth BatchGetItem and TransactWriteItems fails, alternately with
    // ThrottlingException and as DynamoDB does under load: all keys returned as
    // UnprocessedKeys, or the transaction cancelled with every fifth write throttled.
    // 20 % of the syncer's requests to the app's table.
    let upstream = std::env::var("AWS_ENDPOINT_URL")?;
    let proxy = FaultProxy::start(&upstream, &["BatchGetItem", "TransactWriteItems"], 5).await?;
    h.env.insert("AWS_ENDPOINT_URL_DYNAMODB".into(), proxy.url.clone());
    h.start_all()?;
    // 400 products; product n costs (10 + n mod 50).(n mod 100) EUR.
    let price = |n: u32| format!("{}.{:02}", 10 + n % 50, n % 100);
    let batch = h.drop_batch(day(24), &day_files(24, 0..400, price)).await?;
    let run = h.wait_synced(day(24), &batch.batch_id).await?;

    // A LATEST, an offer and a history item per product, each written exactly once.
    let n = 1200u64;
    assert_eq!((run.counts.items_written, run.counts.stale_skipped), (Some(n), Some(0)));
    let items = h.app_items().await?;
    assert_eq!(items.len() as u64, n, "nothing lost, nothing extra");
    // Product 7: 17.07 EUR × 1.05 = 17.9235 → 17.92 USD.
    let sku7 = h.product_id("shop", "sku00007").await?;
    assert_eq!(items[&(format!("PRODUCT#{sku7}"), "LATEST".to_string())]["market_price_usd"], "17.92");

    // Reads of 100 keys and transactions of 100 conditional writes, each fifth refused
    // and sent again: within the budget of 1.3 requests per 25 items.
    let counts = proxy.counts();
    let requests: u64 =
        ["BatchGetItem", "TransactWriteItems"].iter().map(|op| counts.requests.get(*op).copied().unwrap_or(0)).sum();
    let budget = 1.3 * n.div_ceil(25) as f64;
    println!("fault proxy: {counts:?}; {requests} requests for {n} items, budget {budget:.1}");
    for op in ["BatchGetItem", "TransactWriteItems"] {
        assert!(counts.throttled.get(op).copied().unwrap_or(0) > 0, "{op} throttled: {counts:?}");
    }
    assert!(counts.unprocessed > 0 && counts.cancelled > 0, "partial faults were injected: {counts:?}");
    assert!((requests as f64) <= budget, "{requests} requests for {n} items exceeds 1.3 per 25 items");
    Ok(())
}

#[tokio::test]
async fn a_large_batch_is_synced_in_shards_and_synced_waits_for_a_failed_one() -> anyhow::Result<()> {
    let mut h = Harness::new("shards").await?;
    // 400 products make 1,200 writes; at 300 a shard, 4 shards. The test-only hook of
    // debug builds panics shard 1's first delivery, so it fails and is retried.
    h.env.insert("PPMT_SYNC_SHARD_ITEMS".into(), "300".into());
    h.env.insert("PPMT_TEST_PANIC_ON".into(), r#""index":1,"count":4"#.into());
    h.start_all()?;
    let price = |n: u32| format!("{}.{:02}", 10 + n % 50, n % 100);
    let batch = h.drop_batch(day(24), &day_files(24, 0..400, price)).await?;
    let run = h.wait_synced(day(24), &batch.batch_id).await?;

    let panics: Vec<_> = h.message_failures().await?.into_iter().filter(|f| f.error.contains("panicked")).collect();
    assert_eq!(panics.len(), 1, "shard 1 failed once: {panics:#?}");
    assert_eq!(panics[0].consumer, "syncer");
    // Every shard's items are counted in the one `synced`, the retried shard's too.
    assert_eq!((run.counts.items_written, run.counts.stale_skipped), (Some(1200), Some(0)), "{:?}", run.counts);
    let synced: Vec<_> = h.audit_events().await?.into_iter().filter(|e| e.stage == Stage::Synced).collect();
    assert_eq!(synced.len(), 1, "synced is emitted once: {synced:#?}");
    assert_eq!(synced[0].counts.items_written, Some(1200));
    let items = h.app_items().await?;
    assert_eq!(items.len(), 1200, "nothing lost, nothing extra");
    // Product 7: 17.07 EUR × 1.05 = 17.9235 → 17.92 USD.
    let sku7 = h.product_id("shop", "sku00007").await?;
    assert_eq!(items[&(format!("PRODUCT#{sku7}"), "LATEST".to_string())]["market_price_usd"], "17.92");
    Ok(())
}
