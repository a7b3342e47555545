//! The ports: small traits through which services do I/O. Each has an AWS or
//! PostgreSQL adapter in [`crate::adapters`] and an in-memory fake in
//! [`crate::testing`].

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, NaiveDate, Utc};
use ppmt_domain::app_view::{HistoryPoint, Item, ItemVersion, OfferView, ProductView};
use ppmt_domain::record::{FxRateRecord, ValidRecord};
use ppmt_domain::{BatchId, BatchRef, RejectReason, Stage, StageCounts, StageEvent};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use tokio::io::AsyncRead;

use crate::error::PortError;

/// An object's bytes as they arrive from the store.
pub type ObjectStream = Box<dyn AsyncRead + Send + Unpin>;

/// Objects by bucket and key (S3).
#[async_trait]
pub trait ObjectStore: Send + Sync {
    /// The object's bytes; a missing object is an error with `not_found` set.
    async fn get(&self, bucket: &str, key: &str) -> Result<Bytes, PortError> {
        self.get_versioned(bucket, key).await.map(|(body, _)| body)
    }
    /// The object's bytes as a stream, so that an object of any size is read without
    /// holding it; a missing object is an error with `not_found` set, before any byte. A
    /// read that fails midway is an I/O error of the stream.
    async fn get_stream(&self, bucket: &str, key: &str) -> Result<ObjectStream, PortError>;
    /// Writes (or replaces) an object.
    async fn put(&self, bucket: &str, key: &str, body: Bytes, content_type: &str) -> Result<(), PortError>;
    /// The object's bytes and its version (ETag); missing: an error with `not_found` set.
    async fn get_versioned(&self, bucket: &str, key: &str) -> Result<(Bytes, String), PortError>;
    /// Writes an object only if it is still version `expected`, or (`None`) only if it
    /// does not exist; otherwise an error with `conflict` set, and nothing written.
    async fn put_if(
        &self,
        bucket: &str,
        key: &str,
        body: Bytes,
        content_type: &str,
        expected: Option<&str>,
    ) -> Result<(), PortError>;
}

/// Announces that a stage finished (SNS).
#[async_trait]
pub trait Notifier: Send + Sync {
    async fn publish(&self, event: &StageEvent) -> Result<(), PortError>;
}

/// A queue a service sends its own follow-up messages to (the syncer's shards).
#[async_trait]
pub trait MessageQueue: Send + Sync {
    /// Sends every body; an error means some may not have been sent.
    async fn send_all(&self, bodies: &[String]) -> Result<(), PortError>;
}

/// A validated row, ready for the staging table. Its file's key and source are shared by
/// every row of the file, not copied into each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StagedRow {
    pub file_key: Arc<str>,
    pub source_id: Arc<str>,
    /// 1-based record number in its file (the CSV line a person sees, header = 1).
    pub line_no: u64,
    pub record: ValidRecord,
}

/// A row that failed validation, kept with its reason and its original text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectedRow {
    pub file_key: String,
    pub source_id: String,
    pub line_no: u64,
    pub reason: RejectReason,
    pub detail: String,
    /// The row as it was in the file.
    pub raw: String,
}

/// Everything staged for one batch at once, written atomically: the whole-batch form of
/// a [`StagingSession`], for batches built in memory (tests, benches).
#[derive(Debug, Clone, PartialEq)]
pub struct StagedBatch {
    pub batch: BatchRef,
    pub rows: Vec<StagedRow>,
    pub rejects: Vec<RejectedRow>,
    pub fx_rates: Vec<FxRateRecord>,
    /// The batch's load sequence: its manifest's creation time in milliseconds. A
    /// larger one is a newer scrape; the app's items carry it so that a write of an
    /// older batch of the same day is refused.
    pub load_seq: i64,
    /// sha256 of the manifest, hex: lineage of every fact the batch produces.
    pub manifest_sha256: String,
}

/// Row figures of a transform run; staged = facts + quarantined + duplicates.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TransformCounts {
    pub staged: u64,
    pub facts: u64,
    pub quarantined: u64,
    pub duplicates: u64,
}

impl TransformCounts {
    /// The row accounting contract: every staged row is a fact, quarantined, or a
    /// removed duplicate.
    pub fn check(&self) -> Result<(), String> {
        let accounted = self.facts + self.quarantined + self.duplicates;
        if accounted == self.staged {
            Ok(())
        } else {
            Err(format!(
                "row accounting broken: {} staged but {} facts + {} quarantined + {} duplicates = {accounted}",
                self.staged, self.facts, self.quarantined, self.duplicates
            ))
        }
    }
}

/// What staging a batch did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Staging {
    /// The batch is now its day's staged batch.
    Staged,
    /// A later scrape of the day is staged already; nothing was changed.
    Older { current: BatchId },
}

/// How [`Warehouse::begin_staging`] went.
pub enum StagingStart {
    /// Staging is open: write the batch's rows into it, then finish it.
    Open(Box<dyn StagingSession>),
    /// A later scrape of the day is staged already: nothing to write, nothing changed.
    Older { current: BatchId },
}

/// A batch being staged, its rows written chunk by chunk as they are parsed, so that a
/// day of any size is staged without holding it. Nothing of it is visible, and nothing
/// staged before it is replaced, until [`StagingSession::finish`] succeeds; a session
/// dropped without finishing (a file failed its checksum, a write failed) stages nothing.
#[async_trait]
pub trait StagingSession: Send {
    /// Writes a chunk of the batch's valid rows and rejected rows.
    async fn write(&mut self, rows: &[StagedRow], rejects: &[RejectedRow]) -> Result<(), PortError>;
    /// Stores the batch's FX rates and makes everything written the day's staged batch,
    /// replacing what was staged for the day, atomically; unless a later scrape of the
    /// day was staged meanwhile, which stays and is returned.
    async fn finish(self: Box<Self>, fx_rates: &[FxRateRecord]) -> Result<Staging, PortError>;
}

/// Whether the day's staged batch `current` (with its load sequence) comes from a later
/// scrape than `batch`: a larger load sequence (the manifest's creation time), or the
/// same one and a larger batch id. A batch is never later than itself, so a replay of the
/// staged batch stages again.
pub fn staged_later(current: &BatchId, current_seq: i64, batch: &BatchId, seq: i64) -> bool {
    current != batch && (current_seq, current.as_str()) > (seq, batch.as_str())
}

/// What a transform run found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransformOutcome {
    /// The SQL ran; the counts are the batch's.
    Done(TransformCounts),
    /// A newer batch of the same day was loaded since; this one is stale and nothing
    /// was changed.
    Superseded { current: Option<BatchId> },
}

/// One SQL step of the transform, run in file-name order inside one transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SqlStep {
    /// File name under `sql/transform/`, for errors and logs.
    pub name: &'static str,
    /// Statements separated by `;` at the end of a line; `:batch_id` and `:batch_date`
    /// are replaced by the batch's values.
    pub sql: &'static str,
    /// Tables this step fills enough that the statements after it must be planned on
    /// fresh statistics: PostgreSQL analyses such a table inside the transaction right
    /// after a statement that writes it, unless the rows changed since its last analysis
    /// are under a tenth of it (Redshift keeps its own statistics current).
    pub analyze: &'static [&'static str],
}

/// What the syncer reads from the warehouse for a batch: the app's view of every product
/// the batch touched, with the version each item is written at.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SyncSet {
    /// Each product's current figures, at the version of the day and load they come from
    /// (or of this batch, for a product this batch's day no longer lists).
    pub products: Vec<(ProductView, ItemVersion)>,
    /// The offers of those products on their current day.
    pub offers: Vec<(OfferView, ItemVersion)>,
    /// The batch day's history point of each product that has one.
    pub history: Vec<(HistoryPoint, ItemVersion)>,
    /// Offers the app must no longer show: (product, source) at the version that retires
    /// them.
    pub retired_offers: Vec<(String, String, ItemVersion)>,
    /// Products with no price on any day any more: (product, GTIN) at the version that
    /// retires them.
    pub retired_products: Vec<(String, Option<String>, ItemVersion)>,
    /// History points of the batch's day that the day no longer has.
    pub retired_history: Vec<(String, NaiveDate, ItemVersion)>,
}

/// Most rows of one query a warehouse reads into one page of a batch's view.
pub const SYNC_PAGE_ROWS: usize = 1_000;

/// Where a batch's view goes, a page at a time ([`Warehouse::sync_view`]).
#[async_trait]
pub trait SyncSink: Send {
    /// One page: rows of one of the view's parts, at most [`SYNC_PAGE_ROWS`] of them.
    async fn page(&mut self, page: SyncSet) -> Result<(), PortError>;
}

/// One write to the app's table: a put of a sealed item, or a delete, at a version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemWrite {
    pub pk: String,
    pub sk: String,
    pub version: ItemVersion,
    /// The item to put; `None` deletes.
    pub put: Option<Item>,
}

/// What applying writes did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteCounts {
    pub written: u64,
    pub deleted: u64,
    /// Same content already there (or nothing to delete): no write sent.
    pub unchanged: u64,
    /// Refused: the item holds a newer version.
    pub stale_skipped: u64,
}

impl std::ops::AddAssign for WriteCounts {
    fn add_assign(&mut self, other: WriteCounts) {
        self.written += other.written;
        self.deleted += other.deleted;
        self.unchanged += other.unchanged;
        self.stale_skipped += other.stale_skipped;
    }
}

/// The warehouse: Redshift in production, PostgreSQL locally.
#[async_trait]
pub trait Warehouse: Send + Sync {
    /// Opens the staging of a batch whose manifest was created at `load_seq` (ms) and
    /// hashes to `manifest_sha256`. A warehouse that can tell already that a later scrape
    /// of the day is staged says so here; otherwise [`StagingSession::finish`] does.
    async fn begin_staging(
        &self,
        batch: &BatchRef,
        load_seq: i64,
        manifest_sha256: &str,
    ) -> Result<StagingStart, PortError>;
    /// Replaces what is staged for the batch's day with this whole batch, atomically: a
    /// staging session written at once.
    async fn stage_batch(&self, staged: &StagedBatch) -> Result<Staging, PortError> {
        match self.begin_staging(&staged.batch, staged.load_seq, &staged.manifest_sha256).await? {
            StagingStart::Older { current } => Ok(Staging::Older { current }),
            StagingStart::Open(mut session) => {
                session.write(&staged.rows, &staged.rejects).await?;
                session.finish(&staged.fx_rates).await
            }
        }
    }
    /// Opens the staging of one file of a batch loaded in parts, `file_index` its place
    /// in the manifest's list. Its rows stay the batch's own, not the day's, until
    /// [`Warehouse::complete_parts`]; staging the same file of the batch again replaces
    /// them. The session's [`StagingSession::finish`] stores the file's FX rates and
    /// makes its rows the batch's (`Staged`). A warehouse that can tell already that a
    /// later scrape of the day is staged says so (here, or at the finish); otherwise
    /// [`Warehouse::complete_parts`] does.
    async fn begin_part(
        &self,
        batch: &BatchRef,
        load_seq: i64,
        file_key: &str,
        file_index: u32,
    ) -> Result<StagingStart, PortError>;
    /// Makes the batch's staged parts the day's staged batch, replacing what was staged
    /// for the day, atomically; unless a later scrape of the day was staged meanwhile,
    /// which stays and is returned. `rows_staged` and `rows_rejected` are the parts'
    /// totals, as the ledger tallied them.
    async fn complete_parts(
        &self,
        batch: &BatchRef,
        load_seq: i64,
        manifest_sha256: &str,
        rows_staged: u64,
        rows_rejected: u64,
    ) -> Result<Staging, PortError>;
    /// The batch currently staged for `batch`'s day, if any; events of other batches of
    /// that day are stale.
    async fn current_batch(&self, batch: &BatchRef) -> Result<Option<BatchId>, PortError>;
    /// Runs the transform steps for the batch in one transaction and counts its rows.
    async fn run_transform(&self, batch: &BatchRef, steps: &[SqlStep]) -> Result<TransformOutcome, PortError>;
    /// Streams the app's view of every product the batch touched into `sink`, a page at
    /// a time, so that a reader's memory does not grow with the day: products, offers,
    /// history points, then retired offers, products and history points, each in
    /// product order. No row of the view depends on another page.
    async fn sync_view(&self, batch: &BatchRef, sink: &mut dyn SyncSink) -> Result<(), PortError>;
    /// The rows of the day's current batch that did not become facts, by kind, source and
    /// reason, with a sample each.
    async fn set_aside(&self, date: NaiveDate) -> Result<Vec<SetAside>, PortError>;
    /// The products of the day's current batch whose market price moved most against
    /// their previous day, the largest move (either way) first; at most `limit`.
    async fn top_movers(&self, date: NaiveDate, limit: u32) -> Result<Vec<PriceMover>, PortError>;
    /// The market prices of `product_ids` on the days they have one among the `days` days
    /// ending on `date`, by product and day.
    async fn mover_history(
        &self,
        date: NaiveDate,
        product_ids: &[String],
        days: u32,
    ) -> Result<Vec<PricePoint>, PortError>;
}

/// A product of a day whose market price moved against its previous day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriceMover {
    pub product_id: String,
    pub name: Option<String>,
    pub brand: Option<String>,
    pub category: String,
    pub market_price_usd: Decimal,
    /// (today - then) / then * 100, 2 places.
    pub price_change_pct: Decimal,
    /// The day it is compared with: the product's latest earlier day within 30 days.
    pub prev_price_date: NaiveDate,
}

/// A product's market price on one day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PricePoint {
    pub product_id: String,
    pub price_date: NaiveDate,
    pub market_price_usd: Decimal,
}

/// Rows of one kind, source and reason that did not become facts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetAside {
    /// `rejected` (by the loader), `quarantined` (by the transform) or `duplicate`.
    pub kind: String,
    pub source_id: String,
    pub reason_code: String,
    pub rows: u64,
    /// The first of them, by file and line.
    pub sample_file: String,
    pub sample_line: u64,
    pub sample_detail: String,
}

/// The table the app reads (DynamoDB), as the syncer writes it.
#[async_trait]
pub trait AppStore: Send + Sync {
    /// Applies the writes. A put whose content the item already has is skipped; a write
    /// older than the item's version is refused by the store itself and counted as
    /// stale. Throttling is retried; nothing is dropped.
    async fn apply(&self, writes: &[ItemWrite]) -> Result<WriteCounts, PortError>;
}

/// The table the app reads, as the read API queries it.
#[async_trait]
pub trait AppReader: Send + Sync {
    /// One item.
    async fn get_item(&self, pk: &str, sk: &str) -> Result<Option<Item>, PortError>;
    /// The items of a partition whose sort key is at least `from_sk`, in key order, up to
    /// `limit`; `newest_first` reads backwards from `to_sk`.
    async fn query_range(
        &self,
        pk: &str,
        from_sk: &str,
        to_sk: &str,
        newest_first: bool,
        limit: usize,
    ) -> Result<Vec<Item>, PortError>;
    /// A page of a category's products, cheapest first, after `cursor` (the last page's
    /// last sort key); returns the items and the next cursor.
    async fn query_category(
        &self,
        category: &str,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<(Vec<Item>, Option<String>), PortError>;
}

/// How a stage run ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Running,
    Succeeded,
    Failed,
    /// Nothing done because a newer batch of the day replaced this one.
    Skipped,
}

impl RunStatus {
    /// The name the ledger stores and the JSON output prints.
    pub fn as_str(&self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
            RunStatus::Skipped => "skipped",
        }
    }
}

/// One stage of one batch, as the ledger holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageRun {
    pub batch_id: BatchId,
    pub batch_date: NaiveDate,
    pub stage: Stage,
    pub status: RunStatus,
    pub attempts: u32,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub counts: StageCounts,
    /// Last error, or why it was skipped.
    pub error: Option<String>,
}

/// A message a consumer could not process, with the reason, so an operator can see
/// why before replaying it from the dead-letter queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageFailure {
    pub consumer: String,
    pub message_id: String,
    pub receive_count: u32,
    pub error: String,
    pub retryable: bool,
    pub failed_at: DateTime<Utc>,
}

/// The run ledger: each batch's progress per stage, and failed messages.
#[async_trait]
pub trait RunLedger: Send + Sync {
    /// Marks the stage running and counts an attempt.
    async fn stage_started(&self, batch: &BatchRef, stage: Stage) -> Result<(), PortError>;
    /// Records how the stage ended.
    async fn stage_ended(
        &self,
        batch: &BatchRef,
        stage: Stage,
        status: RunStatus,
        counts: &StageCounts,
        error: Option<&str>,
    ) -> Result<(), PortError>;
    /// Records a whole run at once, for a stage that reports only when it is over (the
    /// scrape): it replaces any earlier record of the batch's stage.
    async fn record_run(&self, run: &StageRun) -> Result<(), PortError>;
    /// Every stage run of the batches of a day.
    async fn runs_for_date(&self, date: NaiveDate) -> Result<Vec<StageRun>, PortError>;
    /// Keeps the last failure of a message.
    async fn record_message_failure(&self, failure: &MessageFailure) -> Result<(), PortError>;
    /// The last failure recorded for a message id.
    async fn message_failure(&self, message_id: &str) -> Result<Option<MessageFailure>, PortError>;
    /// Records that shard `index` of split `split_id` of the batch's `stage` is done
    /// with `counts` (again, on a retry: the shard's figures are replaced, not added).
    /// Returns the counts of the whole split once all `count` shards are done, until the
    /// split is marked announced.
    async fn shard_done(
        &self,
        batch: &BatchRef,
        stage: Stage,
        split_id: &str,
        index: u32,
        count: u32,
        counts: &StageCounts,
    ) -> Result<Option<StageCounts>, PortError>;
    /// Marks the split's end announced: [`RunLedger::shard_done`] returns `None` for it
    /// from now on.
    async fn split_announced(&self, batch: &BatchRef, stage: Stage, split_id: &str) -> Result<(), PortError>;
}
