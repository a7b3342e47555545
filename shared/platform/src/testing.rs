//! In-memory fakes of the ports, for unit tests of the services' handlers.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{NaiveDate, Utc};
use ppmt_domain::app_view::{category_pk, content_hash, read_version, AttrValue, Item, ItemVersion};
use ppmt_domain::record::FxRateRecord;
use ppmt_domain::{BatchId, BatchRef, Stage, StageCounts, StageEvent};

use crate::adapters::app_table::{decide, Decision, Stored};
use crate::error::PortError;
use crate::ports::{
    AppReader, AppStore, ItemWrite, MessageFailure, MessageQueue, Notifier, ObjectStore, ObjectStream, PriceMover,
    PricePoint, RejectedRow, RunLedger, RunStatus, SetAside, SqlStep, StageRun, StagedBatch, StagedRow, Staging,
    StagingSession, StagingStart, SyncSet, SyncSink, TransformOutcome, Warehouse, WriteCounts,
};

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Objects in a map keyed by (bucket, key).
#[derive(Debug, Default)]
pub struct MemoryStore {
    pub objects: Mutex<HashMap<(String, String), Bytes>>,
}

impl MemoryStore {
    pub fn insert(&self, bucket: &str, key: &str, body: impl Into<Bytes>) {
        lock(&self.objects).insert((bucket.to_owned(), key.to_owned()), body.into());
    }
}

#[async_trait]
impl ObjectStore for MemoryStore {
    async fn get_stream(&self, bucket: &str, key: &str) -> Result<ObjectStream, PortError> {
        let (body, _) = self.get_versioned(bucket, key).await?;
        Ok(Box::new(std::io::Cursor::new(body)))
    }

    async fn get_versioned(&self, bucket: &str, key: &str) -> Result<(Bytes, String), PortError> {
        let body = lock(&self.objects)
            .get(&(bucket.to_owned(), key.to_owned()))
            .cloned()
            .ok_or_else(|| PortError::not_found(format!("get s3://{bucket}/{key}"), "no such key"))?;
        let version = version_of(&body);
        Ok((body, version))
    }

    async fn put(&self, bucket: &str, key: &str, body: Bytes, _content_type: &str) -> Result<(), PortError> {
        self.insert(bucket, key, body);
        Ok(())
    }

    async fn put_if(
        &self,
        bucket: &str,
        key: &str,
        body: Bytes,
        _content_type: &str,
        expected: Option<&str>,
    ) -> Result<(), PortError> {
        let mut objects = lock(&self.objects);
        let slot = (bucket.to_owned(), key.to_owned());
        let current = objects.get(&slot).map(version_of);
        if current.as_deref() != expected {
            return Err(PortError::conflict(format!("put s3://{bucket}/{key}"), "the object changed"));
        }
        objects.insert(slot, body);
        Ok(())
    }
}

/// A fake ETag: a hash of the content.
fn version_of(body: &Bytes) -> String {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    body.hash(&mut hasher);
    format!("{:016x}", hasher.finish())
}

/// Keeps every published event.
#[derive(Debug, Default)]
pub struct MemoryNotifier {
    pub events: Mutex<Vec<StageEvent>>,
}

#[async_trait]
impl Notifier for MemoryNotifier {
    async fn publish(&self, event: &StageEvent) -> Result<(), PortError> {
        lock(&self.events).push(event.clone());
        Ok(())
    }
}

/// Keeps every page of a batch's view, in order.
#[derive(Debug, Default)]
pub struct ViewPages(pub Vec<SyncSet>);

#[async_trait]
impl SyncSink for ViewPages {
    async fn page(&mut self, page: SyncSet) -> Result<(), PortError> {
        self.0.push(page);
        Ok(())
    }
}

impl ViewPages {
    /// The whole view, its pages' rows put together.
    pub fn merged(self) -> SyncSet {
        self.0.into_iter().fold(SyncSet::default(), |mut all, page| {
            all.products.extend(page.products);
            all.offers.extend(page.offers);
            all.history.extend(page.history);
            all.retired_offers.extend(page.retired_offers);
            all.retired_products.extend(page.retired_products);
            all.retired_history.extend(page.retired_history);
            all
        })
    }
}

/// Files of batches loaded in parts, by batch id and file key, each as a batch of its own.
pub type StagedFiles = BTreeMap<(String, String), StagedBatch>;

/// Keeps the staged batches and answers transforms and reads with canned values.
#[derive(Debug, Default)]
pub struct MemoryWarehouse {
    /// Every batch whose staging finished, in order.
    pub staged: Arc<Mutex<Vec<StagedBatch>>>,
    /// Chunks written to staging sessions, finished or not: (rows, rejects) each.
    pub chunks: Arc<Mutex<Vec<(usize, usize)>>>,
    /// Files staged in parts, by batch id and file key, until their batch completes.
    pub parts: Arc<Mutex<StagedFiles>>,
    pub transform_outcome: Mutex<Option<TransformOutcome>>,
    /// What `current_batch` answers; `None` means "the asked batch is current".
    pub current_batch: Mutex<Option<BatchId>>,
    /// What `sync_view` streams, one row a page (the smallest pages a warehouse sends).
    pub sync_set: Mutex<SyncSet>,
    /// What `set_aside` answers.
    pub set_aside: Mutex<Vec<SetAside>>,
    /// What `top_movers` answers (its first `limit`).
    pub movers: Mutex<Vec<PriceMover>>,
    /// Every product's prices; `mover_history` answers those of the asked products and
    /// days.
    pub history: Mutex<Vec<PricePoint>>,
}

/// A staging session of [`MemoryWarehouse`]: the batch grows with each chunk and joins
/// the warehouse's staged batches when it finishes.
struct MemoryStaging {
    batch: StagedBatch,
    staged: Arc<Mutex<Vec<StagedBatch>>>,
    chunks: Arc<Mutex<Vec<(usize, usize)>>>,
    /// The file, for a part: it then joins the warehouse's parts, replacing an earlier
    /// staging of the same file.
    part: Option<(String, Arc<Mutex<StagedFiles>>)>,
}

impl MemoryWarehouse {
    fn open(&self, batch: &BatchRef, load_seq: i64, manifest_sha256: &str) -> MemoryStaging {
        MemoryStaging {
            batch: StagedBatch {
                batch: batch.clone(),
                rows: Vec::new(),
                rejects: Vec::new(),
                fx_rates: Vec::new(),
                load_seq,
                manifest_sha256: manifest_sha256.to_owned(),
            },
            staged: self.staged.clone(),
            chunks: self.chunks.clone(),
            part: None,
        }
    }
}

#[async_trait]
impl StagingSession for MemoryStaging {
    async fn write(&mut self, rows: &[StagedRow], rejects: &[RejectedRow]) -> Result<(), PortError> {
        lock(&self.chunks).push((rows.len(), rejects.len()));
        self.batch.rows.extend_from_slice(rows);
        self.batch.rejects.extend_from_slice(rejects);
        Ok(())
    }

    async fn finish(self: Box<Self>, fx_rates: &[FxRateRecord]) -> Result<Staging, PortError> {
        let MemoryStaging { mut batch, staged, part, .. } = *self;
        batch.fx_rates = fx_rates.to_vec();
        match part {
            None => lock(&staged).push(batch),
            Some((file_key, parts)) => {
                lock(&parts).insert((batch.batch.batch_id.0.clone(), file_key), batch);
            }
        }
        Ok(Staging::Staged)
    }
}

#[async_trait]
impl Warehouse for MemoryWarehouse {
    async fn begin_staging(
        &self,
        batch: &BatchRef,
        load_seq: i64,
        manifest_sha256: &str,
    ) -> Result<StagingStart, PortError> {
        Ok(StagingStart::Open(Box::new(self.open(batch, load_seq, manifest_sha256))))
    }

    async fn begin_part(
        &self,
        batch: &BatchRef,
        load_seq: i64,
        file_key: &str,
        _file_index: u32,
    ) -> Result<StagingStart, PortError> {
        let mut staging = self.open(batch, load_seq, "");
        staging.part = Some((file_key.to_owned(), self.parts.clone()));
        Ok(StagingStart::Open(Box::new(staging)))
    }

    /// The batch's parts, in file key order, become one staged batch; the totals must be
    /// theirs.
    async fn complete_parts(
        &self,
        batch: &BatchRef,
        load_seq: i64,
        manifest_sha256: &str,
        rows_staged: u64,
        rows_rejected: u64,
    ) -> Result<Staging, PortError> {
        let mut whole = self.open(batch, load_seq, manifest_sha256).batch;
        for ((id, _), part) in lock(&self.parts).iter() {
            if *id == batch.batch_id.0 {
                whole.rows.extend_from_slice(&part.rows);
                whole.rejects.extend_from_slice(&part.rejects);
                whole.fx_rates.extend_from_slice(&part.fx_rates);
            }
        }
        let counted = (whole.rows.len() as u64, whole.rejects.len() as u64);
        if counted != (rows_staged, rows_rejected) {
            return Err(PortError::permanent(
                format!("complete batch {}", batch.batch_id),
                format!(
                    "the parts hold {counted:?} rows and rejects, the totals say {:?}",
                    (rows_staged, rows_rejected)
                ),
            ));
        }
        lock(&self.staged).push(whole);
        Ok(Staging::Staged)
    }

    async fn current_batch(&self, batch: &BatchRef) -> Result<Option<BatchId>, PortError> {
        Ok(Some(lock(&self.current_batch).clone().unwrap_or_else(|| batch.batch_id.clone())))
    }

    async fn run_transform(&self, batch: &BatchRef, _steps: &[SqlStep]) -> Result<TransformOutcome, PortError> {
        lock(&self.transform_outcome)
            .clone()
            .ok_or_else(|| PortError::transient(format!("transform batch {}", batch.batch_id), "no outcome set"))
    }

    async fn sync_view(&self, _batch: &BatchRef, sink: &mut dyn SyncSink) -> Result<(), PortError> {
        let set = lock(&self.sync_set).clone();
        let pages = set.products.into_iter().map(|r| SyncSet { products: vec![r], ..SyncSet::default() });
        let pages = pages
            .chain(set.offers.into_iter().map(|r| SyncSet { offers: vec![r], ..SyncSet::default() }))
            .chain(set.history.into_iter().map(|r| SyncSet { history: vec![r], ..SyncSet::default() }))
            .chain(set.retired_offers.into_iter().map(|r| SyncSet { retired_offers: vec![r], ..SyncSet::default() }))
            .chain(
                set.retired_products.into_iter().map(|r| SyncSet { retired_products: vec![r], ..SyncSet::default() }),
            )
            .chain(set.retired_history.into_iter().map(|r| SyncSet { retired_history: vec![r], ..SyncSet::default() }));
        for page in pages {
            sink.page(page).await?;
        }
        Ok(())
    }

    async fn set_aside(&self, _date: NaiveDate) -> Result<Vec<SetAside>, PortError> {
        Ok(lock(&self.set_aside).clone())
    }

    async fn top_movers(&self, _date: NaiveDate, limit: u32) -> Result<Vec<PriceMover>, PortError> {
        Ok(lock(&self.movers).iter().take(limit as usize).cloned().collect())
    }

    async fn mover_history(
        &self,
        date: NaiveDate,
        product_ids: &[String],
        days: u32,
    ) -> Result<Vec<PricePoint>, PortError> {
        let first = date - chrono::Days::new(u64::from(days)) + chrono::Days::new(1);
        let mut points: Vec<PricePoint> = lock(&self.history)
            .iter()
            .filter(|p| product_ids.contains(&p.product_id) && (first..=date).contains(&p.price_date))
            .cloned()
            .collect();
        points.sort_by(|a, b| (&a.product_id, a.price_date).cmp(&(&b.product_id, b.price_date)));
        Ok(points)
    }
}

/// The app's table in memory, keyed by (pk, sk), deciding writes exactly as the
/// DynamoDB adapter does ([`decide`]).
#[derive(Debug, Default)]
pub struct MemoryAppStore {
    pub items: Mutex<BTreeMap<(String, String), Item>>,
}

#[async_trait]
impl AppStore for MemoryAppStore {
    async fn apply(&self, writes: &[ItemWrite]) -> Result<WriteCounts, PortError> {
        let mut items = lock(&self.items);
        let mut counts = WriteCounts::default();
        for w in writes {
            let k = (w.pk.clone(), w.sk.clone());
            let stored = items.get(&k).map(|i| Stored {
                content_hash: content_hash(i).map(str::to_owned),
                version: read_version(i).unwrap_or(ItemVersion { price_date: NaiveDate::MIN, load_seq: i64::MIN }),
            });
            match (decide(w, stored.as_ref()), &w.put) {
                (Decision::Send, Some(item)) => {
                    items.insert(k, item.clone());
                    counts.written += 1;
                }
                (Decision::Send, None) => {
                    items.remove(&k);
                    counts.deleted += 1;
                }
                (Decision::Unchanged, _) => counts.unchanged += 1,
                (Decision::Stale, _) => counts.stale_skipped += 1,
            }
        }
        Ok(counts)
    }
}

#[async_trait]
impl AppReader for MemoryAppStore {
    async fn get_item(&self, pk: &str, sk: &str) -> Result<Option<Item>, PortError> {
        Ok(lock(&self.items).get(&(pk.to_owned(), sk.to_owned())).cloned())
    }

    async fn query_range(
        &self,
        pk: &str,
        from_sk: &str,
        to_sk: &str,
        newest_first: bool,
        limit: usize,
    ) -> Result<Vec<Item>, PortError> {
        let items = lock(&self.items);
        let range = items.range((pk.to_owned(), from_sk.to_owned())..=(pk.to_owned(), to_sk.to_owned()));
        let found: Vec<Item> = if newest_first {
            range.rev().take(limit).map(|(_, i)| i.clone()).collect()
        } else {
            range.take(limit).map(|(_, i)| i.clone()).collect()
        };
        Ok(found)
    }

    async fn query_category(
        &self,
        category: &str,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<(Vec<Item>, Option<String>), PortError> {
        let wanted = AttrValue::S(category_pk(category));
        let text = |i: &Item| match i.get("gsi1sk") {
            Some(AttrValue::S(t)) => t.clone(),
            _ => String::new(),
        };
        let mut all: Vec<Item> =
            lock(&self.items).values().filter(|i| i.get("gsi1pk") == Some(&wanted)).cloned().collect();
        all.sort_by_key(|i| text(i));
        let page: Vec<Item> =
            all.iter().filter(|i| cursor.is_none_or(|c| text(i).as_str() > c)).take(limit).cloned().collect();
        let next = (page.len() == limit).then(|| page.last().map(text)).flatten();
        Ok((page, next))
    }
}

/// A ledger in memory.
#[derive(Debug, Default)]
pub struct MemoryLedger {
    pub runs: Mutex<Vec<StageRun>>,
    pub failures: Mutex<HashMap<String, MessageFailure>>,
    /// (batch, stage, split) → each done shard's counts.
    pub shards: Mutex<HashMap<SplitKey, BTreeMap<u32, StageCounts>>>,
    /// Splits whose end was announced.
    pub announced: Mutex<std::collections::HashSet<SplitKey>>,
}

/// A split of a batch's stage: (batch id, stage, split id).
pub type SplitKey = (String, Stage, String);

impl MemoryLedger {
    /// The run of a stage of a batch, if recorded.
    pub fn run(&self, batch_id: &str, stage: Stage) -> Option<StageRun> {
        lock(&self.runs).iter().find(|r| r.batch_id.as_str() == batch_id && r.stage == stage).cloned()
    }
}

#[async_trait]
impl RunLedger for MemoryLedger {
    async fn stage_started(&self, batch: &BatchRef, stage: Stage) -> Result<(), PortError> {
        let mut runs = lock(&self.runs);
        let now = Some(Utc::now());
        match runs.iter_mut().find(|r| r.batch_id == batch.batch_id && r.stage == stage) {
            Some(run) => {
                run.status = RunStatus::Running;
                run.attempts += 1;
                run.started_at = now;
                run.error = None;
            }
            None => runs.push(StageRun {
                batch_id: batch.batch_id.clone(),
                batch_date: batch.batch_date,
                stage,
                status: RunStatus::Running,
                attempts: 1,
                started_at: now,
                finished_at: None,
                counts: StageCounts::default(),
                error: None,
            }),
        }
        Ok(())
    }

    async fn stage_ended(
        &self,
        batch: &BatchRef,
        stage: Stage,
        status: RunStatus,
        counts: &StageCounts,
        error: Option<&str>,
    ) -> Result<(), PortError> {
        let mut runs = lock(&self.runs);
        let Some(run) = runs.iter_mut().find(|r| r.batch_id == batch.batch_id && r.stage == stage) else {
            return Err(PortError::permanent("end a stage", "stage was never started"));
        };
        run.status = status;
        run.finished_at = Some(Utc::now());
        run.counts = counts.clone();
        run.error = error.map(str::to_owned);
        Ok(())
    }

    async fn record_run(&self, run: &StageRun) -> Result<(), PortError> {
        let mut runs = lock(&self.runs);
        runs.retain(|r| !(r.batch_id == run.batch_id && r.stage == run.stage));
        runs.push(run.clone());
        Ok(())
    }

    async fn runs_for_date(&self, date: NaiveDate) -> Result<Vec<StageRun>, PortError> {
        Ok(lock(&self.runs).iter().filter(|r| r.batch_date == date).cloned().collect())
    }

    async fn record_message_failure(&self, failure: &MessageFailure) -> Result<(), PortError> {
        lock(&self.failures).insert(failure.message_id.clone(), failure.clone());
        Ok(())
    }

    async fn message_failure(&self, message_id: &str) -> Result<Option<MessageFailure>, PortError> {
        Ok(lock(&self.failures).get(message_id).cloned())
    }

    async fn shard_done(
        &self,
        batch: &BatchRef,
        stage: Stage,
        split_id: &str,
        index: u32,
        count: u32,
        counts: &StageCounts,
    ) -> Result<Option<StageCounts>, PortError> {
        let key = (batch.batch_id.0.clone(), stage, split_id.to_owned());
        let announced = lock(&self.announced).contains(&key);
        let mut shards = lock(&self.shards);
        let done = shards.entry(key).or_default();
        done.insert(index, counts.clone());
        let complete = done.len() >= count as usize && !announced;
        Ok(complete.then(|| done.values().fold(StageCounts::default(), |a, c| a.plus(c))))
    }

    async fn split_announced(&self, batch: &BatchRef, stage: Stage, split_id: &str) -> Result<(), PortError> {
        lock(&self.announced).insert((batch.batch_id.0.clone(), stage, split_id.to_owned()));
        Ok(())
    }
}

/// Keeps what was sent, in order.
#[derive(Debug, Default)]
pub struct MemoryQueue {
    pub sent: Mutex<Vec<String>>,
}

#[async_trait]
impl MessageQueue for MemoryQueue {
    async fn send_all(&self, bodies: &[String]) -> Result<(), PortError> {
        lock(&self.sent).extend(bodies.iter().cloned());
        Ok(())
    }
}
