//! The syncer: triggered by a `transformed` stage event (SNS → its SQS queue), it reads
//! the app's view of every product the batch touched from the warehouse (the product
//! now, its offers, the day's history point, and what to retire) and writes it to the
//! app's DynamoDB table ([`ppmt_domain::app_view`]), then emits `synced` with written,
//! deleted, unchanged and stale-skipped counts.
//!
//! Correct under concurrency and repetition: every write carries the version of the day
//! and load it comes from, and DynamoDB refuses a write older than the item it would
//! replace, so two syncers of two days, or a superseded batch racing its replacement,
//! never move an item backwards. Writes of unchanged content are not sent, so repeating
//! the event, or replaying a day, writes nothing new.
//!
//! Flat memory: the warehouse streams the view a page at a time
//! ([`Warehouse::sync_view`]), and no write depends on another page. The event's syncer
//! holds at most `shard_items` writes; a shard applies its writes in groups of
//! [`SHARD_FLUSH_WRITES`] as the pages come, with the app table's bounded transactions in
//! flight.
//!
//! Scale-out: a batch with more writes than `shard_items` is split into shards
//! ([`ppmt_domain::shard`]), one message each on the syncer's own queue, so Lambda syncs
//! them in parallel. Each shard streams the batch's view again (one snapshot each; the
//! read is a small part of a sync's time) and writes the items whose partition key
//! hashes to it. The ledger tallies the shards of the split; the shard that completes
//! the tally ends the stage and emits `synced` with the counts of all of them, then marks
//! the split announced, so a duplicate delivery of a shard announces nothing. A failed
//! shard is retried alone, and `synced` waits for it; a shard that keeps failing reaches
//! the DLQ, and the stage stays `running` (`STALE` in `ppmt status`) until it is redriven.

use std::sync::Arc;

use async_trait::async_trait;
use ppmt_domain::app_view::{self, day_sk, offer_sk, product_pk, Item, ItemVersion, GTIN_SK, LATEST_SK};
use ppmt_domain::s3_event::Body;
use ppmt_domain::shard::{shard_count, SyncShard};
use ppmt_domain::{BatchRef, Stage, StageCounts};
use ppmt_platform::ports::{
    AppStore, ItemWrite, MessageQueue, Notifier, RunLedger, SyncSet, SyncSink, Warehouse, WriteCounts,
};
use ppmt_platform::stage::{expect_stage_event, finish_stage, record_stage, run_stage, StageError, StageResult};
use ppmt_platform::worker::{Message, MessageHandler};
use ppmt_platform::PortError;

/// The syncer's ports and settings.
pub struct Syncer {
    pub warehouse: Arc<dyn Warehouse>,
    pub app: Arc<dyn AppStore>,
    pub notifier: Arc<dyn Notifier>,
    pub ledger: Arc<dyn RunLedger>,
    /// The syncer's own queue, where the shards of a large batch go.
    pub shards: Arc<dyn MessageQueue>,
    /// A batch with more writes than this is split into shards of at most this many.
    pub shard_items: usize,
}

/// Owned writes a shard collects before it applies them: eight transactions of 100, as
/// many as the app table keeps in flight.
const SHARD_FLUSH_WRITES: usize = 800;

/// The event's sink: holds the view's writes while they fit one invocation
/// (`shard_items`), and beyond that only counts them, for the split.
struct Held {
    limit: usize,
    writes: Vec<ItemWrite>,
    total: usize,
}

#[async_trait]
impl SyncSink for Held {
    async fn page(&mut self, page: SyncSet) -> Result<(), PortError> {
        let writes = plan_item_writes(&page);
        self.total += writes.len();
        if self.total <= self.limit {
            self.writes.extend(writes);
        } else {
            self.writes = Vec::new();
        }
        Ok(())
    }
}

/// A shard's sink: keeps the writes it owns and applies them in groups of
/// [`SHARD_FLUSH_WRITES`] as the pages come, so its memory stays flat.
struct ShardWriter<'a> {
    shard: &'a SyncShard,
    app: &'a dyn AppStore,
    pending: Vec<ItemWrite>,
    counts: WriteCounts,
}

impl ShardWriter<'_> {
    async fn flush(&mut self) -> Result<(), PortError> {
        if !self.pending.is_empty() {
            self.counts += self.app.apply(&self.pending).await?;
            self.pending.clear();
        }
        Ok(())
    }
}

#[async_trait]
impl SyncSink for ShardWriter<'_> {
    async fn page(&mut self, page: SyncSet) -> Result<(), PortError> {
        self.pending.extend(plan_owned_writes(&page, |pk| self.shard.owns(pk)));
        if self.pending.len() >= SHARD_FLUSH_WRITES {
            self.flush().await?;
        }
        Ok(())
    }
}

/// The writes that make the app's table show `set`: puts of products (and their GTIN
/// pointers), offers and history points, and deletes of what was retired, each at its
/// version.
pub fn plan_item_writes(set: &SyncSet) -> Vec<ItemWrite> {
    plan_owned_writes(set, |_| true)
}

/// The writes of `set` whose partition key `owns` keeps; an item is built only when it is
/// kept, so a shard builds its own items and no other.
fn plan_owned_writes(set: &SyncSet, owns: impl Fn(&str) -> bool) -> Vec<ItemWrite> {
    let mut writes = Vec::new();
    let mut add = |pk: String, sk: String, version: ItemVersion, put: &dyn Fn() -> Option<Item>| {
        if owns(&pk) {
            writes.push(ItemWrite { pk, sk, version, put: put() });
        }
    };
    for (p, v) in &set.products {
        add(product_pk(&p.product_id), LATEST_SK.into(), *v, &|| Some(app_view::product_item(p, *v)));
        if let Some(gtin) = &p.gtin {
            add(app_view::gtin_pk(gtin), GTIN_SK.into(), *v, &|| Some(app_view::gtin_item(gtin, &p.product_id, *v)));
        }
    }
    for (o, v) in &set.offers {
        add(product_pk(&o.product_id), offer_sk(&o.source_id), *v, &|| Some(app_view::offer_item(o, *v)));
    }
    for (h, v) in &set.history {
        add(product_pk(&h.product_id), day_sk(h.price_date), *v, &|| Some(app_view::history_item(h, *v)));
    }
    for (product, source, v) in &set.retired_offers {
        add(product_pk(product), offer_sk(source), *v, &|| None);
    }
    // A retired product's GTIN pointer goes with it; the warehouse gives no GTIN when
    // one of the batch's products has it now (`retired_products.sql`).
    for (product, gtin, v) in &set.retired_products {
        add(product_pk(product), LATEST_SK.into(), *v, &|| None);
        if let Some(gtin) = gtin {
            add(app_view::gtin_pk(gtin), GTIN_SK.into(), *v, &|| None);
        }
    }
    for (product, date, v) in &set.retired_history {
        add(product_pk(product), day_sk(*date), *v, &|| None);
    }
    writes
}

fn counts_of(c: WriteCounts) -> StageCounts {
    StageCounts {
        items_written: Some(c.written),
        items_deleted: Some(c.deleted),
        items_unchanged: Some(c.unchanged),
        stale_skipped: Some(c.stale_skipped),
        ..StageCounts::default()
    }
}

impl Syncer {
    /// Why the batch has no view to write: a newer batch of its day replaced it.
    async fn replaced(&self, batch: &BatchRef) -> Result<Option<String>, StageError> {
        let staged = self.warehouse.current_batch(batch).await?;
        if staged.as_ref() == Some(&batch.batch_id) {
            return Ok(None);
        }
        let by = staged.map(|b| b.0).unwrap_or_else(|| "nothing".into());
        Ok(Some(format!("batch was replaced by {by} for {}", batch.batch_date)))
    }

    /// Writes one shard's part of the batch, then tallies it; the shard that completes
    /// the split ends the stage and announces it, once. A shard's failure is left to the
    /// message's retries and the failure log: the stage stays `running` until the split
    /// completes, and a late failure of a duplicate delivery never overwrites its end.
    async fn sync_shard(&self, shard: &SyncShard) -> Result<(), StageError> {
        let batch = shard.event.batch();
        let trace_id = &shard.event.trace_id;
        record_stage(&batch, Stage::Synced, trace_id);
        let (index, count, split) = (shard.index, shard.count, shard.split_id.as_str());
        let replaced = self.replaced(&batch).await?;
        let counts = match &replaced {
            Some(_) => StageCounts::default(),
            None => {
                let mut writer =
                    ShardWriter { shard, app: &*self.app, pending: Vec::new(), counts: WriteCounts::default() };
                self.warehouse.sync_view(&batch, &mut writer).await?;
                writer.flush().await?;
                counts_of(writer.counts)
            }
        };
        let total = self.ledger.shard_done(&batch, Stage::Synced, split, index, count, &counts).await?;
        let outcome = match (total, replaced) {
            (None, _) => {
                StageResult::Pending(format!("shard {index} of {count} done; the split is not complete or announced"))
            }
            (Some(_), Some(why)) => StageResult::Skipped(why),
            (Some(total), None) => StageResult::Completed(total),
        };
        let ends = !matches!(outcome, StageResult::Pending(_));
        finish_stage(&*self.ledger, &*self.notifier, &batch, Stage::Synced, trace_id, Ok(outcome)).await?;
        if ends {
            self.ledger.split_announced(&batch, Stage::Synced, split).await?;
        }
        Ok(())
    }
}

#[async_trait]
impl MessageHandler for Syncer {
    type Error = StageError;

    fn consumer(&self) -> &'static str {
        "syncer"
    }

    async fn handle(&self, message: &Message) -> Result<(), StageError> {
        if let Body::Other(text) = &message.body {
            if let Some(shard) = SyncShard::parse(text) {
                let shard = shard.map_err(|e| StageError::invalid(format!("message {}", message.message_id), e))?;
                return self.sync_shard(&shard).await;
            }
        }
        let Some(event) = expect_stage_event(message, Stage::Transformed)? else {
            return Ok(());
        };
        let batch = event.batch();
        let work = async {
            if let Some(why) = self.replaced(&batch).await? {
                return Ok(StageResult::Skipped(why));
            }
            let mut held = Held { limit: self.shard_items, writes: Vec::new(), total: 0 };
            self.warehouse.sync_view(&batch, &mut held).await?;
            if held.total <= self.shard_items {
                return Ok(StageResult::Completed(counts_of(self.app.apply(&held.writes).await?)));
            }
            let count = shard_count(held.total, self.shard_items);
            // A fresh split each time: if sending fails half-way, the retry's split
            // completes and the first one's shards, never complete, announce nothing.
            let split_id = uuid::Uuid::new_v4().simple().to_string();
            let bodies: Vec<String> = (0..count)
                .map(|index| SyncShard { event: event.clone(), split_id: split_id.clone(), index, count }.to_body())
                .collect();
            self.shards.send_all(&bodies).await?;
            Ok(StageResult::Pending(format!("{} writes split into {count} shards", held.total)))
        };
        run_stage(&*self.ledger, &*self.notifier, &batch, Stage::Synced, &event.trace_id, work).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{NaiveDate, TimeZone, Utc};
    use ppmt_domain::app_view::{HistoryPoint, ItemVersion, OfferView, ProductView};
    use ppmt_domain::{BatchId, BatchRef, StageEvent};
    use ppmt_platform::ports::RunStatus;
    use ppmt_platform::testing::{MemoryAppStore, MemoryLedger, MemoryNotifier, MemoryQueue, MemoryWarehouse};
    use rust_decimal::Decimal;

    fn d(day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, day).unwrap()
    }

    fn batch(id: &str, day: u32) -> BatchRef {
        BatchRef {
            batch_id: BatchId(id.into()),
            batch_date: d(day),
            bucket: "raw".into(),
            manifest_key: format!("raw/2026-11-{day}/manifest.json"),
        }
    }

    fn product(id: &str, market: i64, day: u32) -> ProductView {
        ProductView {
            product_id: id.into(),
            gtin: Some("04006381333931".into()),
            name: Some("Widget".into()),
            brand: None,
            category: "kitchen".into(),
            market_price_usd: Decimal::new(market, 2),
            retail_price_usd: Decimal::new(market, 2),
            lowest_price_usd: Decimal::new(market, 2),
            sources: 1,
            price_change_pct: None,
            trend: None,
            confidence: Decimal::new(5, 1),
            availability: None,
            price_date: d(day),
            batch_id: format!("b{day}"),
        }
    }

    fn set(market: i64, day: u32, seq: i64) -> SyncSet {
        let version = ItemVersion { price_date: d(day), load_seq: seq };
        let offer = OfferView {
            product_id: "p1".into(),
            source_id: "shop".into(),
            price: Decimal::new(market, 2),
            currency: "USD".into(),
            price_usd: Decimal::new(market, 2),
            fx_rate: Decimal::ONE,
            fx_rate_date: d(day),
            fx_source: "identity".into(),
            availability: None,
            url: None,
            observed_at: Utc.with_ymd_and_hms(2026, 11, day, 2, 0, 0).unwrap(),
            price_date: d(day),
            price_max: None,
            regular_price_usd: None,
        };
        let history = HistoryPoint {
            product_id: "p1".into(),
            price_date: d(day),
            market_price_usd: Decimal::new(market, 2),
            lowest_price_usd: Decimal::new(market, 2),
            sources: 1,
        };
        SyncSet {
            products: vec![(product("p1", market, day), version)],
            offers: vec![(offer, version)],
            history: vec![(history, version)],
            retired_offers: vec![("p1".into(), "gone".into(), version)],
            ..SyncSet::default()
        }
    }

    fn syncer(set: SyncSet, app: Arc<MemoryAppStore>) -> (Syncer, Arc<MemoryNotifier>, Arc<MemoryLedger>) {
        let warehouse = Arc::new(MemoryWarehouse::default());
        *warehouse.sync_set.lock().unwrap() = set;
        let notifier = Arc::new(MemoryNotifier::default());
        let ledger = Arc::new(MemoryLedger::default());
        let shards = Arc::new(MemoryQueue::default());
        let s = Syncer { warehouse, app, notifier: notifier.clone(), ledger: ledger.clone(), shards, shard_items: 100 };
        (s, notifier, ledger)
    }

    fn transformed(b: &BatchRef) -> Message {
        let event = StageEvent::new(b, Stage::Transformed, StageCounts::default(), "t".into());
        let body = ppmt_domain::s3_event::classify(&serde_json::to_string(&event).unwrap());
        Message { message_id: "m".into(), body, receive_count: 1 }
    }

    fn market(app: &MemoryAppStore) -> String {
        let items = app.items.lock().unwrap();
        let item = &items[&("PRODUCT#p1".to_string(), "LATEST".to_string())];
        app_view::read_product(item).unwrap().market_price_usd.to_string()
    }

    #[tokio::test]
    async fn writes_product_offer_history_and_gtin_items_then_nothing_when_repeated() {
        let app = Arc::new(MemoryAppStore::default());
        let (s, notifier, _) = syncer(set(24900, 25, 1), app.clone());
        s.handle(&transformed(&batch("b25", 25))).await.unwrap();
        let keys: Vec<(String, String)> = app.items.lock().unwrap().keys().cloned().collect();
        assert_eq!(
            keys,
            [
                ("GTIN#04006381333931", "PRODUCT"),
                ("PRODUCT#p1", "DAY#2026-11-25"),
                ("PRODUCT#p1", "LATEST"),
                ("PRODUCT#p1", "OFFER#shop"),
            ]
            .map(|(a, b)| (a.to_string(), b.to_string()))
        );
        s.handle(&transformed(&batch("b25", 25))).await.unwrap();
        let events = notifier.events.lock().unwrap();
        let counts: Vec<_> = events
            .iter()
            .map(|e| (e.counts.items_written, e.counts.items_unchanged, e.counts.items_deleted, e.counts.stale_skipped))
            .collect();
        // The retired offer was never there: nothing to delete, so it counts as unchanged.
        assert_eq!(counts, vec![(Some(4), Some(1), Some(0), Some(0)), (Some(0), Some(5), Some(0), Some(0))]);
    }

    #[test]
    fn a_retired_product_takes_the_gtin_pointer_the_warehouse_gives_it() {
        let gtin = "04006381333931".to_owned();
        let version = ItemVersion { price_date: d(25), load_seq: 2 };
        let retire = |gtin: Option<String>| SyncSet {
            retired_products: vec![("p1".into(), gtin, version)],
            ..SyncSet::default()
        };
        let keys = |set: SyncSet| -> Vec<(String, String)> {
            plan_item_writes(&set).into_iter().map(|w| (w.pk, w.sk)).collect()
        };
        assert_eq!(
            keys(retire(Some(gtin))),
            [("PRODUCT#p1", "LATEST"), ("GTIN#04006381333931", "PRODUCT")].map(|(a, b)| (a.to_string(), b.to_string()))
        );
        // Another product holds the GTIN now: the warehouse gives none, and the pointer
        // stays (`retired_products.sql`, tested on PostgreSQL).
        assert_eq!(keys(retire(None)), [("PRODUCT#p1".to_string(), "LATEST".to_string())]);
    }

    #[tokio::test]
    async fn an_older_day_synced_after_a_newer_one_is_refused_as_stale() {
        let app = Arc::new(MemoryAppStore::default());
        let (newer, _, _) = syncer(set(26000, 26, 2), app.clone());
        newer.handle(&transformed(&batch("b26", 26))).await.unwrap();
        let (older, notifier, _) = syncer(set(24900, 25, 1), app.clone());
        older.handle(&transformed(&batch("b25", 25))).await.unwrap();
        assert_eq!(market(&app), "260.00");
        let c = &notifier.events.lock().unwrap()[0].counts;
        // LATEST, GTIN and the offer are newer; the history item of the 25th is written.
        assert_eq!((c.items_written, c.stale_skipped), (Some(1), Some(3)));
        assert!(app.items.lock().unwrap().contains_key(&("PRODUCT#p1".to_string(), "DAY#2026-11-25".to_string())));
    }

    /// An app table that throttles every write.
    struct DownTable;

    #[async_trait]
    impl AppStore for DownTable {
        async fn apply(&self, _writes: &[ItemWrite]) -> Result<WriteCounts, PortError> {
            Err(PortError::transient("write to the app table", "throttled"))
        }
    }

    /// `n` products, each with an offer and a history point: 4n writes with the GTINs.
    fn wide_set(n: usize) -> SyncSet {
        let one = set(24900, 25, 1);
        let mut wide = SyncSet::default();
        for i in 0..n {
            let id = format!("p{i:03}");
            let (mut p, v) = one.products[0].clone();
            (p.product_id, p.gtin) = (id.clone(), Some(format!("{i:014}")));
            wide.products.push((p, v));
            let (mut o, v) = one.offers[0].clone();
            o.product_id = id.clone();
            wide.offers.push((o, v));
            let (mut h, v) = one.history[0].clone();
            h.product_id = id;
            wide.history.push((h, v));
        }
        wide
    }

    /// The memory table, recording how many writes each `apply` carried.
    #[derive(Default)]
    struct Recorded {
        table: MemoryAppStore,
        applies: std::sync::Mutex<Vec<usize>>,
    }

    #[async_trait]
    impl AppStore for Recorded {
        async fn apply(&self, writes: &[ItemWrite]) -> Result<WriteCounts, PortError> {
            self.applies.lock().unwrap().push(writes.len());
            self.table.apply(writes).await
        }
    }

    #[tokio::test]
    async fn a_shard_writes_as_the_pages_come_in_groups_of_bounded_size() {
        // 1,000 products: 4,000 writes, streamed one row a page by the memory warehouse,
        // split into two shards of about 2,000.
        let app = Arc::new(Recorded::default());
        let (s, notifier, _) = syncer(wide_set(1000), Arc::new(MemoryAppStore::default()));
        let queue = Arc::new(MemoryQueue::default());
        let s = Syncer { app: app.clone(), shards: queue.clone(), shard_items: 2000, ..s };
        s.handle(&transformed(&batch("b25", 25))).await.unwrap();
        assert!(app.applies.lock().unwrap().is_empty(), "the splitter writes nothing itself");
        let bodies = queue.sent.lock().unwrap().clone();
        assert_eq!(bodies.len(), 2);
        s.handle(&shard_message(&bodies[0], "s0")).await.unwrap();
        let first = app.applies.lock().unwrap().clone();
        assert!(first.len() >= 3 && first.iter().all(|&n| n <= SHARD_FLUSH_WRITES), "{first:?}");
        s.handle(&shard_message(&bodies[1], "s1")).await.unwrap();
        let applies = app.applies.lock().unwrap().clone();
        assert!(applies.iter().all(|&n| n <= SHARD_FLUSH_WRITES), "{applies:?}");
        assert_eq!(applies.iter().sum::<usize>(), 4000);
        assert_eq!(app.table.items.lock().unwrap().len(), 4000);
        assert_eq!(notifier.events.lock().unwrap()[0].counts.items_written, Some(4000));
    }

    #[tokio::test]
    async fn the_event_holds_no_more_writes_than_one_invocation_carries() {
        let mut held = Held { limit: 10, writes: Vec::new(), total: 0 };
        let mut sizes = Vec::new();
        for page in wide_set(5).products {
            held.page(SyncSet { products: vec![page], ..SyncSet::default() }).await.unwrap();
            sizes.push(held.writes.len());
        }
        // Two writes a product (its item and its GTIN's): 2, 4, 6, 8, 10, then over the
        // limit, only counted.
        assert_eq!((sizes, held.total), (vec![2, 4, 6, 8, 10], 10));
        held.page(SyncSet { history: wide_set(1).history, ..SyncSet::default() }).await.unwrap();
        assert_eq!((held.writes.len(), held.total), (0, 11));
    }

    fn shard_message(body: &str, id: &str) -> Message {
        Message { message_id: id.into(), body: ppmt_domain::s3_event::classify(body), receive_count: 1 }
    }

    #[tokio::test]
    async fn a_large_batch_is_split_and_synced_once_after_its_last_shard() {
        // 60 products: 240 writes, 100 a shard, so 3 shards.
        let app = Arc::new(MemoryAppStore::default());
        let warehouse = Arc::new(MemoryWarehouse::default());
        *warehouse.sync_set.lock().unwrap() = wide_set(60);
        let (s, notifier, ledger) = syncer(SyncSet::default(), app.clone());
        let queue = Arc::new(MemoryQueue::default());
        let s = Syncer { warehouse, shards: queue.clone(), ..s };
        s.handle(&transformed(&batch("b25", 25))).await.unwrap();
        let bodies = queue.sent.lock().unwrap().clone();
        assert_eq!(bodies.len(), 3);
        assert!(app.items.lock().unwrap().is_empty(), "the splitter writes nothing itself");
        assert_eq!(ledger.run("b25", Stage::Synced).unwrap().status, RunStatus::Running);

        // Shards 2 and 0 finish; shard 1 fails once (its table is down) and is retried.
        for (i, body) in [(2, &bodies[2]), (0, &bodies[0])] {
            s.handle(&shard_message(body, &format!("s{i}"))).await.unwrap();
            assert!(notifier.events.lock().unwrap().is_empty(), "synced waits for every shard");
        }
        let failing = Syncer {
            warehouse: s.warehouse.clone(),
            app: Arc::new(DownTable),
            notifier: s.notifier.clone(),
            ledger: s.ledger.clone(),
            shards: queue.clone(),
            shard_items: s.shard_items,
        };
        assert!(failing.handle(&shard_message(&bodies[1], "s1")).await.is_err());
        assert!(notifier.events.lock().unwrap().is_empty());
        assert_eq!(ledger.run("b25", Stage::Synced).unwrap().status, RunStatus::Running, "left to the retries");
        s.handle(&shard_message(&bodies[1], "s1")).await.unwrap();
        assert_eq!(notifier.events.lock().unwrap().len(), 1, "synced once, after the last shard");

        // Duplicate deliveries of shards announce nothing more and leave the stage as it
        // ended, even when one of them fails.
        s.handle(&shard_message(&bodies[0], "s0-again")).await.unwrap();
        assert!(failing.handle(&shard_message(&bodies[2], "s2-again")).await.is_err());
        s.handle(&shard_message(&bodies[1], "s1-again")).await.unwrap();
        assert_eq!(ledger.run("b25", Stage::Synced).unwrap().status, RunStatus::Succeeded);
        let events = notifier.events.lock().unwrap();
        assert_eq!(events.len(), 1, "announced once: {events:#?}");
        assert_eq!(events[0].stage, Stage::Synced);
        assert_eq!((events[0].counts.items_written, events[0].counts.items_unchanged), (Some(240), Some(0)));
        assert_eq!(app.items.lock().unwrap().len(), 240, "every item written by exactly one shard");
        let run = ledger.run("b25", Stage::Synced).unwrap();
        assert_eq!(run.counts.items_written, Some(240));
    }

    #[tokio::test]
    async fn a_replaced_batch_is_skipped_and_writes_nothing() {
        let app = Arc::new(MemoryAppStore::default());
        let (s, notifier, ledger) = syncer(set(24900, 25, 1), app.clone());
        let warehouse = Arc::new(MemoryWarehouse::default());
        *warehouse.current_batch.lock().unwrap() = Some(BatchId("2026-11-25-new".into()));
        let s = Syncer { warehouse, ..s };
        s.handle(&transformed(&batch("2026-11-25-old", 25))).await.unwrap();
        assert!(app.items.lock().unwrap().is_empty());
        assert!(notifier.events.lock().unwrap().is_empty());
        let run = ledger.run("2026-11-25-old", Stage::Synced).unwrap();
        assert_eq!(run.status, RunStatus::Skipped);
        assert!(run.error.unwrap().contains("2026-11-25-new"));
    }
}
