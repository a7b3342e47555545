//! The loader: triggered by the S3 `ObjectCreated` event of a day's `manifest.json`
//! (through its SQS queue), it streams every file the manifest lists into the warehouse:
//! each object is read, counted and hashed as it arrives, parsed and validated on a
//! blocking thread, and its rows are written in chunks to one staging session (a
//! transaction), rejected rows included with their reasons, while the next chunk is
//! parsed. Memory stays a few chunks whatever the size of the files. Each file's size,
//! sha256 and record count are checked against the manifest when it ends; a file that
//! fails them fails the batch and the session is dropped, so nothing is staged. Then it
//! emits `loaded`.
//!
//! Idempotent: loading replaces whatever was staged for the day, so a repeated event or
//! a replayed day stages exactly the same rows.
//!
//! Fan-out: a day whose files total more than `fanout_bytes` is loaded in parts, one per
//! file ([`LoadPart`]), each a message on the loader's own queue, so that Lambda loads
//! them in parallel and no invocation reads much more than a file. Each part streams its
//! file into the warehouse as above, under the batch's id but not yet as the day's
//! batch (staging the same file again replaces its rows), and the ledger tallies the
//! parts of the split. The part that completes the split makes the batch the day's
//! staged batch (on Redshift, one `COPY` of all the parts) and emits `loaded`, once. A
//! part that fails for good fails the stage in the ledger; the batch then never
//! completes, and the day keeps what was staged before.

pub mod parse;

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use async_trait::async_trait;
use chrono::Utc;
use ppmt_domain::batch::parse_manifest_key;
use ppmt_domain::manifest::{FileKind, ManifestFile};
use ppmt_domain::record::FxRateRecord;
use ppmt_domain::s3_event::{Body, S3ObjectRef};
use ppmt_domain::shard::{LoadPart, MAX_SHARDS};
use ppmt_domain::{BatchId, BatchRef, Manifest, Stage, StageCounts};
use ppmt_platform::error::{PortError, Retryable};
use ppmt_platform::ports::{
    MessageQueue, Notifier, ObjectStore, RunLedger, Staging, StagingSession, StagingStart, Warehouse,
};
use ppmt_platform::stage::{finish_stage, record_stage, run_stage, StageError, StageResult};
use ppmt_platform::worker::{Message, MessageHandler};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, ReadBuf};
use tokio_util::io::SyncIoBridge;

use crate::parse::{ParseError, Records};

/// Parsed chunks waiting for the warehouse: the parser runs ahead of the writes by at
/// most this many.
const CHUNKS_IN_FLIGHT: usize = 2;

/// The loader's ports.
pub struct Loader {
    pub store: Arc<dyn ObjectStore>,
    pub warehouse: Arc<dyn Warehouse>,
    pub notifier: Arc<dyn Notifier>,
    pub ledger: Arc<dyn RunLedger>,
    /// The loader's own queue, where the parts of a large day go.
    pub parts: Arc<dyn MessageQueue>,
    /// A day whose files total more than this many bytes is loaded in parts.
    pub fanout_bytes: u64,
}

#[async_trait]
impl MessageHandler for Loader {
    type Error = StageError;

    fn consumer(&self) -> &'static str {
        "loader"
    }

    async fn handle(&self, message: &Message) -> Result<(), StageError> {
        match &message.body {
            Body::S3Objects(objects) => {
                for object in objects {
                    self.on_object(object, &message.message_id).await?;
                }
                Ok(())
            }
            Body::S3TestEvent => Ok(()),
            Body::Other(text) => match LoadPart::parse(text) {
                Some(part) => {
                    let part = part.map_err(|e| StageError::invalid(format!("message {}", message.message_id), e))?;
                    self.on_part(&part).await
                }
                None => Err(StageError::invalid(
                    format!("message {}", message.message_id),
                    format!("not an S3 event notification nor a load part: {}", excerpt(text)),
                )),
            },
        }
    }
}

fn excerpt(text: &str) -> String {
    let mut cut: String = text.chars().take(120).collect();
    if cut.len() < text.len() {
        cut.push('…');
    }
    cut
}

impl Loader {
    async fn on_object(&self, object: &S3ObjectRef, message_id: &str) -> Result<(), StageError> {
        let Some(key_date) = parse_manifest_key(&object.key) else {
            tracing::info!(bucket = %object.bucket, key = %object.key, "not a manifest; ignored");
            return Ok(());
        };
        let bytes = self.store.get(&object.bucket, &object.key).await?;
        let manifest = Manifest::parse(&bytes, key_date)
            .and_then(|m| m.check_date(Utc::now().date_naive()).map(|()| m))
            .map_err(|e| StageError::invalid(format!("s3://{}/{}", object.bucket, object.key), e))?;
        let batch = BatchRef {
            batch_id: manifest.batch_id.clone(),
            batch_date: manifest.batch_date,
            bucket: object.bucket.clone(),
            manifest_key: object.key.clone(),
        };
        let trace_id = format!("{}-{message_id}", batch.batch_id);
        let manifest_sha256 = hex::encode(Sha256::digest(&bytes));
        let files = loaded_files(&manifest);
        let size: u64 = files.iter().map(|(_, f)| f.size_bytes).sum();
        let parts = u32::try_from(files.len()).unwrap_or(u32::MAX);
        let large = parts > 1 && size > self.fanout_bytes;
        if large && parts > MAX_SHARDS {
            tracing::warn!(files = parts, "more files than a split's tally holds ({MAX_SHARDS}): loaded whole");
        }
        let work = async {
            if large && parts <= MAX_SHARDS {
                self.fan_out(&batch, &files, &manifest_sha256, &trace_id, size).await
            } else {
                self.load(&batch, &manifest, &files, &manifest_sha256).await
            }
        };
        run_stage(&*self.ledger, &*self.notifier, &batch, Stage::Loaded, &trace_id, work).await
    }

    async fn load(
        &self,
        batch: &BatchRef,
        manifest: &Manifest,
        files: &[(u32, &ManifestFile)],
        manifest_sha256: &str,
    ) -> Result<StageResult, StageError> {
        let load_seq = manifest.created_at.timestamp_millis();
        let mut session = match self.warehouse.begin_staging(batch, load_seq, manifest_sha256).await? {
            StagingStart::Open(session) => session,
            StagingStart::Older { current } => return Ok(later_scrape_staged(&current, batch)),
        };
        let mut totals = Totals::default();
        for (_, file) in files {
            self.load_file(batch, file, session.as_mut(), &mut totals).await?;
        }
        if let Staging::Older { current } = session.finish(&totals.fx_rates).await? {
            return Ok(later_scrape_staged(&current, batch));
        }
        Ok(StageResult::Completed(totals.counts(files.len())))
    }

    /// Sends one part per file to the loader's own queue; the stage stays `running`.
    async fn fan_out(
        &self,
        batch: &BatchRef,
        files: &[(u32, &ManifestFile)],
        manifest_sha256: &str,
        trace_id: &str,
        size: u64,
    ) -> Result<StageResult, StageError> {
        let count = u32::try_from(files.len()).unwrap_or(MAX_SHARDS);
        // A fresh split each time: if sending fails half-way, the retry's split completes
        // and the first one's parts, never complete, announce nothing (what they staged
        // is the same files' rows, which the retry's parts replace).
        let split_id = uuid::Uuid::new_v4().simple().to_string();
        let bodies: Vec<String> = (0..count)
            .zip(files)
            .map(|(index, (file_index, file))| {
                LoadPart {
                    batch: batch.clone(),
                    manifest_sha256: manifest_sha256.to_owned(),
                    trace_id: trace_id.to_owned(),
                    split_id: split_id.clone(),
                    index,
                    count,
                    file_key: file.key.clone(),
                    file_index: *file_index,
                }
                .to_body()
            })
            .collect();
        self.parts.send_all(&bodies).await?;
        Ok(StageResult::Pending(format!(
            "{size} bytes of files, more than {} for one invocation: loading them in {count} parts",
            self.fanout_bytes
        )))
    }

    /// Loads one part, then tallies it; the part that completes the split stages the
    /// batch and ends the stage, once. A part that fails for good ends the stage as
    /// failed (the batch can no longer complete); any other failure is left to the
    /// message's retries, the stage staying `running`.
    async fn on_part(&self, part: &LoadPart) -> Result<(), StageError> {
        let batch = &part.batch;
        record_stage(batch, Stage::Loaded, &part.trace_id);
        let outcome = match self.load_part(part).await {
            Err(e) if e.is_retryable() => return Err(e),
            outcome => outcome,
        };
        let ends = matches!(outcome, Ok(StageResult::Completed(_) | StageResult::Skipped(_)));
        finish_stage(&*self.ledger, &*self.notifier, batch, Stage::Loaded, &part.trace_id, outcome).await?;
        if ends {
            self.ledger.split_announced(batch, Stage::Loaded, &part.split_id).await?;
        }
        Ok(())
    }

    async fn load_part(&self, part: &LoadPart) -> Result<StageResult, StageError> {
        let batch = &part.batch;
        let (index, count) = (part.index, part.count);
        let location = format!("s3://{}/{}", batch.bucket, batch.manifest_key);
        let bytes = self.store.get(&batch.bucket, &batch.manifest_key).await?;
        let manifest_sha256 = hex::encode(Sha256::digest(&bytes));
        if manifest_sha256 != part.manifest_sha256 {
            return Ok(StageResult::Skipped(format!(
                "{location} changed since part {index} of {count} of batch {} was sent: a later scrape replaces it",
                batch.batch_id
            )));
        }
        let manifest =
            Manifest::parse(&bytes, batch.batch_date).map_err(|e| StageError::invalid(location.clone(), e))?;
        let file = usize::try_from(part.file_index)
            .ok()
            .and_then(|i| manifest.files.get(i))
            .filter(|f| f.key == part.file_key)
            .ok_or_else(|| {
                StageError::invalid(
                    format!("part {index} of {count} of batch {}", batch.batch_id),
                    format!("{location} lists no {} at place {}", part.file_key, part.file_index),
                )
            })?;
        let load_seq = manifest.created_at.timestamp_millis();
        let mut session = match self.warehouse.begin_part(batch, load_seq, &file.key, part.file_index).await? {
            StagingStart::Open(session) => session,
            StagingStart::Older { current } => return Ok(later_scrape_staged(&current, batch)),
        };
        let mut totals = Totals::default();
        self.load_file(batch, file, session.as_mut(), &mut totals).await?;
        if let Staging::Older { current } = session.finish(&totals.fx_rates).await? {
            return Ok(later_scrape_staged(&current, batch));
        }
        let done =
            self.ledger.shard_done(batch, Stage::Loaded, &part.split_id, index, count, &totals.counts(1)).await?;
        let Some(total) = done else {
            return Ok(StageResult::Pending(format!(
                "part {index} of {count} ({}) staged; the split is not complete or announced",
                file.key
            )));
        };
        let (rows, rejects) = (total.rows_staged.unwrap_or(0), total.rows_rejected.unwrap_or(0));
        Ok(match self.warehouse.complete_parts(batch, load_seq, &manifest_sha256, rows, rejects).await? {
            Staging::Staged => StageResult::Completed(total),
            Staging::Older { current } => later_scrape_staged(&current, batch),
        })
    }

    /// Streams one file into the staging session: read, counted and hashed as it arrives,
    /// parsed on a blocking thread whose chunks are written while it parses the next;
    /// then checked against the manifest. An error leaves the session to be dropped.
    async fn load_file(
        &self,
        batch: &BatchRef,
        file: &ManifestFile,
        session: &mut dyn StagingSession,
        totals: &mut Totals,
    ) -> Result<(), StageError> {
        let location = format!("s3://{}/{}", batch.bucket, file.key);
        let body = self.store.get_stream(&batch.bucket, &file.key).await.map_err(|e| {
            if e.not_found {
                StageError::invalid(location.clone(), "listed in the manifest but missing")
            } else {
                StageError::Port(e)
            }
        })?;
        let mut input = SyncIoBridge::new(Digesting { inner: body, hasher: Sha256::new(), size: 0 });
        let (sender, mut chunks) = tokio::sync::mpsc::channel::<Records>(CHUNKS_IN_FLIGHT);
        let described = file.clone();
        let parser = tokio::task::spawn_blocking(move || {
            let parsed = parse::parse_stream(&described, &mut input, |chunk| sender.blocking_send(chunk).is_ok());
            // A file that cannot be parsed may not be the file the manifest lists: read it
            // to its end, so that its checksum can say so.
            let drained = match parsed {
                Err(ParseError::File(_)) => io::copy(&mut input, &mut io::sink()).map(drop),
                _ => Ok(()),
            };
            (parsed, drained, input.into_inner())
        });
        while let Some(chunk) = chunks.recv().await {
            for reject in &chunk.rejects {
                tracing::info!(file = %reject.file_key, line = reject.line_no, reason = reject.reason.code(), detail = %reject.detail, "row rejected");
            }
            // Dropping `chunks` on an error stops the parser at its next chunk.
            session.write(&chunk.rows, &chunk.rejects).await?;
            totals.rows += chunk.rows.len() as u64;
            totals.rejects += chunk.rejects.len() as u64;
            totals.fx_rates.extend(chunk.fx_rates);
        }
        let (parsed, drained, read) = parser.await.map_err(|e| {
            PortError::transient(format!("parse {location}"), format!("the parser ended abnormally: {e}"))
        })?;
        let read_failed = |e: io::Error| StageError::Port(PortError::transient(format!("read {location}"), e));
        drained.map_err(read_failed)?;
        let records = match parsed {
            Err(ParseError::Read { source, .. }) => return Err(read_failed(source)),
            other => other,
        };
        let invalid =
            |e: Box<dyn std::error::Error + Send + Sync>| StageError::invalid(format!("batch {}", batch.batch_id), e);
        // The checksum first: a file that is not the manifest's fails as such, whatever its
        // content.
        file.verify_digest(read.size, hex::encode(read.hasher.finalize())).map_err(|e| invalid(e.into()))?;
        let records = records.map_err(|e| invalid(e.into()))?;
        file.verify_record_count(records).map_err(|e| invalid(e.into()))
    }
}

/// Why an earlier scrape of a day changed nothing.
fn later_scrape_staged(current: &BatchId, batch: &BatchRef) -> StageResult {
    StageResult::Skipped(format!(
        "{current}, from a later scrape, is already staged for {}; this earlier one changes nothing",
        batch.batch_date
    ))
}

/// The files the loader stages, with their places in the manifest's list: the original
/// documents are kept for `ppmt reparse`, and only canonical files load.
fn loaded_files(manifest: &Manifest) -> Vec<(u32, &ManifestFile)> {
    (0..).zip(&manifest.files).filter(|(_, f)| f.kind != FileKind::Original).collect()
}

/// What the batch's files have yielded so far.
#[derive(Debug, Default)]
struct Totals {
    rows: u64,
    rejects: u64,
    /// FX rate files are a few lines: their rates are kept and stored at the end.
    fx_rates: Vec<FxRateRecord>,
}

impl Totals {
    /// The stage's figures for `files` files.
    fn counts(&self, files: usize) -> StageCounts {
        let fx = self.fx_rates.len() as u64;
        StageCounts {
            files: Some(files as u64),
            rows_read: Some(self.rows + fx + self.rejects),
            rows_staged: Some(self.rows),
            rows_rejected: Some(self.rejects),
            fx_rates: Some(fx),
            ..StageCounts::default()
        }
    }
}

/// An object's bytes as they stream by, counted and hashed for the manifest's checks.
struct Digesting<R> {
    inner: R,
    hasher: Sha256,
    size: u64,
}

impl<R: AsyncRead + Unpin> AsyncRead for Digesting<R> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled {
            let read = buf.filled().get(before..).unwrap_or_default();
            self.hasher.update(read);
            self.size += read.len() as u64;
        }
        polled
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ppmt_domain::manifest::{FileFormat, FileKind, ManifestFile};
    use ppmt_platform::ports::RunStatus;
    use ppmt_platform::testing::{MemoryLedger, MemoryNotifier, MemoryQueue, MemoryStore, MemoryWarehouse};

    const BUCKET: &str = "ppmt-raw";
    const PRICES: &str =
        "product_id,name,brand,gtin,mpn,price,price_kind,price_max,currency,availability,url,observed_at,reject_reason,reject_detail\n\
p1,Widget,,,,10.00,,,EUR,,,2026-11-25T02:00:00Z,,\n\
p2,Gadget,,,,0,,,EUR,,,2026-11-25T02:00:00Z,,\n";

    struct Fixture {
        store: Arc<MemoryStore>,
        warehouse: Arc<MemoryWarehouse>,
        notifier: Arc<MemoryNotifier>,
        ledger: Arc<MemoryLedger>,
        parts: Arc<MemoryQueue>,
        loader: Loader,
    }

    fn fixture() -> Fixture {
        let store = Arc::new(MemoryStore::default());
        let warehouse = Arc::new(MemoryWarehouse::default());
        let notifier = Arc::new(MemoryNotifier::default());
        let ledger = Arc::new(MemoryLedger::default());
        let parts = Arc::new(MemoryQueue::default());
        let loader = Loader {
            store: store.clone(),
            warehouse: warehouse.clone(),
            notifier: notifier.clone(),
            ledger: ledger.clone(),
            parts: parts.clone(),
            fanout_bytes: 1 << 20,
        };
        Fixture { store, warehouse, notifier, ledger, parts, loader }
    }

    fn put_batch(f: &Fixture, content: &str, listed_records: u64) {
        put_described(f, content, PRICES, listed_records);
    }

    /// Stores `content` as the day's one file, listed in the manifest as `described`.
    fn put_described(f: &Fixture, content: &str, described: &str, listed_records: u64) {
        put_files(f, &[("shop", content, described, listed_records)], "02:10");
    }

    /// Stores each (source, content) as a file of the day, listed in a manifest created
    /// at `created_at` (HH:MM) as (described, records).
    fn put_files(f: &Fixture, files: &[(&str, &str, &str, u64)], created_at: &str) {
        let mut listed = Vec::new();
        for (source, content, described, records) in files {
            let key = format!("raw/2026-11-25/{source}_020000.csv");
            f.store.insert(BUCKET, &key, (*content).to_owned());
            let kind = FileKind::Prices;
            listed.push(ManifestFile::describe(
                key,
                (*source).into(),
                kind,
                FileFormat::Csv,
                described.as_bytes(),
                *records,
            ));
        }
        let manifest = serde_json::json!({
            "schema_version": 1, "batch_id": "2026-11-25-b1", "batch_date": "2026-11-25",
            "created_at": format!("2026-11-25T{created_at}:00Z"), "files": listed
        });
        f.store.insert(BUCKET, "raw/2026-11-25/manifest.json", manifest.to_string());
    }

    /// The SQS record body moto delivers for the manifest's ObjectCreated event.
    fn manifest_event() -> Message {
        let body = r#"{"Records": [{"eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1", "eventTime": "2026-11-25T02:10:00.000Z", "eventName": "ObjectCreated:Put", "s3": {"s3SchemaVersion": "1.0", "configurationId": "manifest-to-loader", "bucket": {"name": "ppmt-raw", "arn": "arn:aws:s3:::ppmt-raw"}, "object": {"key": "raw%2F2026-11-25%2Fmanifest.json", "size": 400, "eTag": "x", "sequencer": "1"}}}]}"#;
        Message { message_id: "m1".into(), body: ppmt_domain::s3_event::classify(body), receive_count: 1 }
    }

    #[tokio::test]
    async fn stages_valid_rows_keeps_rejects_and_announces_loaded() {
        let f = fixture();
        put_batch(&f, PRICES, 2);
        f.loader.handle(&manifest_event()).await.unwrap();
        let staged = f.warehouse.staged.lock().unwrap();
        assert_eq!(staged[0].rows.len(), 1);
        assert_eq!(staged[0].rejects[0].reason.code(), "ZERO_PRICE");
        let events = f.notifier.events.lock().unwrap();
        assert_eq!(events[0].stage, Stage::Loaded);
        assert_eq!(events[0].batch_id.as_str(), "2026-11-25-b1");
        assert_eq!(
            (events[0].counts.rows_read, events[0].counts.rows_staged, events[0].counts.rows_rejected),
            (Some(2), Some(1), Some(1))
        );
        assert_eq!(f.ledger.run("2026-11-25-b1", Stage::Loaded).unwrap().status, RunStatus::Succeeded);
    }

    #[tokio::test]
    async fn a_tampered_file_fails_the_batch_and_stages_nothing() {
        let f = fixture();
        put_batch(&f, &PRICES.replace("10.00", "99.00"), 2);
        let err = f.loader.handle(&manifest_event()).await.unwrap_err();
        assert!(!err.is_retryable());
        assert!(err.to_string().contains("sha256"), "{err}");
        assert!(f.warehouse.staged.lock().unwrap().is_empty());
        assert!(f.notifier.events.lock().unwrap().is_empty());
        let run = f.ledger.run("2026-11-25-b1", Stage::Loaded).unwrap();
        assert_eq!(run.status, RunStatus::Failed);
    }

    #[tokio::test]
    async fn a_record_count_mismatch_fails_the_batch() {
        let f = fixture();
        put_batch(&f, PRICES, 3);
        let err = f.loader.handle(&manifest_event()).await.unwrap_err();
        assert!(err.to_string().contains("2 records read, manifest says 3"), "{err}");
    }

    #[tokio::test]
    async fn other_keys_are_ignored_and_garbage_is_a_permanent_failure() {
        let f = fixture();
        let other = ppmt_domain::s3_event::object_created_body(BUCKET, "raw/2026-11-25/shop_020000.csv");
        let msg = Message { message_id: "m2".into(), body: ppmt_domain::s3_event::classify(&other), receive_count: 1 };
        f.loader.handle(&msg).await.unwrap();
        let garbage = Message { message_id: "m3".into(), body: Body::Other("hello".into()), receive_count: 1 };
        let err = f.loader.handle(&garbage).await.unwrap_err();
        assert!(!err.is_retryable());
        assert!(err.to_string().contains("message m3"));
    }

    /// A file of several chunks: its zero prices (every 10th row) rejected.
    fn large_file(rows: usize) -> String {
        let mut content = PRICES.lines().next().unwrap_or_default().to_owned() + "\n";
        for i in 0..rows {
            let price = if i % 10 == 0 { "0" } else { "10.00" };
            content.push_str(&format!("p{i},Widget,,,,{price},,,EUR,,,2026-11-25T02:00:00Z,,\n"));
        }
        content
    }

    #[tokio::test]
    async fn a_file_of_many_chunks_is_staged_chunk_by_chunk_each_row_once() {
        let f = fixture();
        let rows = 2 * parse::CHUNK_RECORDS + 1_001;
        let content = large_file(rows);
        put_described(&f, &content, &content, rows as u64);
        f.loader.handle(&manifest_event()).await.unwrap();
        let chunks = f.warehouse.chunks.lock().unwrap().clone();
        assert_eq!(chunks.len(), 3);
        assert!(chunks.iter().all(|(r, j)| r + j <= parse::CHUNK_RECORDS));
        let staged = f.warehouse.staged.lock().unwrap();
        let mut lines: Vec<u64> =
            staged[0].rows.iter().map(|r| r.line_no).chain(staged[0].rejects.iter().map(|r| r.line_no)).collect();
        lines.sort_unstable();
        assert_eq!(lines, (2..rows as u64 + 2).collect::<Vec<_>>());
        assert_eq!(staged[0].rejects.len(), rows.div_ceil(10));
        let counts = f.notifier.events.lock().unwrap()[0].counts.clone();
        assert_eq!(
            (counts.rows_read, counts.rows_staged),
            (Some(rows as u64), Some((rows - rows.div_ceil(10)) as u64))
        );
    }

    #[tokio::test]
    async fn a_checksum_failing_only_at_the_end_of_a_large_file_stages_nothing() {
        let f = fixture();
        let rows = 2 * parse::CHUNK_RECORDS + 1_001;
        let listed = large_file(rows);
        // The last row differs from the file the manifest lists: only its end tells.
        let at = listed.rfind("Widget").unwrap();
        let tampered = format!("{}Gadget{}", &listed[..at], &listed[at + 6..]);
        assert_eq!(tampered.len(), listed.len());
        put_described(&f, &tampered, &listed, rows as u64);
        let err = f.loader.handle(&manifest_event()).await.unwrap_err();
        assert!(err.to_string().contains("sha256"), "{err}");
        assert_eq!(f.warehouse.chunks.lock().unwrap().len(), 3, "the chunks were written before the end was read");
        assert!(f.warehouse.staged.lock().unwrap().is_empty(), "the session was never finished");
        assert!(f.notifier.events.lock().unwrap().is_empty());
    }

    /// Two files, of 2 rows (one rejected) and 3 rows, loaded in parts; the second one
    /// differs from what the manifest lists when `tampered`.
    fn parted(f: &mut Fixture, tampered: bool) {
        f.loader.fanout_bytes = 0;
        let three = format!("{PRICES}p3,Widget 3,,,,3.00,,,EUR,,,2026-11-25T02:00:00Z,,\n");
        let three = three.replace("p2,Gadget,,,,0,", "p2,Gadget,,,,2.00,");
        let stored = if tampered { three.replace("3.00", "9.00") } else { three.clone() };
        put_files(f, &[("shop_a", PRICES, PRICES, 2), ("shop_b", &stored, &three, 3)], "02:10");
    }

    fn part_message(f: &Fixture, index: usize, id: &str) -> Message {
        let body = f.parts.sent.lock().unwrap()[index].clone();
        Message { message_id: id.into(), body: ppmt_domain::s3_event::classify(&body), receive_count: 1 }
    }

    #[tokio::test]
    async fn a_large_day_is_loaded_in_parts_and_announced_once_after_its_last_part() {
        let mut f = fixture();
        parted(&mut f, false);
        f.loader.handle(&manifest_event()).await.unwrap();
        assert_eq!(f.parts.sent.lock().unwrap().len(), 2, "a part per file");
        assert!(f.warehouse.staged.lock().unwrap().is_empty() && f.notifier.events.lock().unwrap().is_empty());
        assert_eq!(f.ledger.run("2026-11-25-b1", Stage::Loaded).unwrap().status, RunStatus::Running);

        // The second part first: staged as the batch's, not the day's, and nothing said.
        f.loader.handle(&part_message(&f, 1, "p1")).await.unwrap();
        assert_eq!(f.warehouse.parts.lock().unwrap().len(), 1);
        assert!(f.warehouse.staged.lock().unwrap().is_empty() && f.notifier.events.lock().unwrap().is_empty());
        assert_eq!(f.ledger.run("2026-11-25-b1", Stage::Loaded).unwrap().status, RunStatus::Running);

        // The last part completes the batch: 1 + 3 rows, 1 reject, said once with the
        // whole day's figures; a second delivery of a part stages its file again and says
        // nothing more.
        f.loader.handle(&part_message(&f, 0, "p0")).await.unwrap();
        f.loader.handle(&part_message(&f, 0, "p0-again")).await.unwrap();
        let staged = f.warehouse.staged.lock().unwrap().clone();
        assert_eq!(staged.len(), 1);
        assert_eq!((staged[0].rows.len(), staged[0].rejects.len()), (4, 1));
        let events = f.notifier.events.lock().unwrap().clone();
        assert_eq!(events.len(), 1);
        let c = &events[0].counts;
        assert_eq!((c.files, c.rows_read, c.rows_staged, c.rows_rejected), (Some(2), Some(5), Some(4), Some(1)));
        assert_eq!(events[0].trace_id, "2026-11-25-b1-m1", "the manifest event's trace id, carried on");
        assert_eq!(f.ledger.run("2026-11-25-b1", Stage::Loaded).unwrap().status, RunStatus::Succeeded);
    }

    #[tokio::test]
    async fn a_small_day_or_a_single_file_is_loaded_whole() {
        let mut f = fixture();
        parted(&mut f, false);
        f.loader.fanout_bytes = (PRICES.len() * 3) as u64;
        f.loader.handle(&manifest_event()).await.unwrap();
        assert!(f.parts.sent.lock().unwrap().is_empty());
        assert_eq!(f.notifier.events.lock().unwrap().len(), 1);
        let g = fixture();
        put_batch(&g, PRICES, 2);
        let g = Fixture { loader: Loader { fanout_bytes: 0, ..g.loader }, ..g };
        g.loader.handle(&manifest_event()).await.unwrap();
        assert!(g.parts.sent.lock().unwrap().is_empty(), "one file is one part: loaded whole");
        assert_eq!(g.notifier.events.lock().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn a_part_whose_file_fails_its_checksum_fails_the_stage_and_the_batch_never_completes() {
        let mut f = fixture();
        parted(&mut f, true);
        f.loader.handle(&manifest_event()).await.unwrap();
        let err = f.loader.handle(&part_message(&f, 1, "p1")).await.unwrap_err();
        assert!(!err.is_retryable() && err.to_string().contains("sha256"), "{err}");
        f.loader.handle(&part_message(&f, 0, "p0")).await.unwrap();
        assert!(f.warehouse.staged.lock().unwrap().is_empty() && f.notifier.events.lock().unwrap().is_empty());
        let run = f.ledger.run("2026-11-25-b1", Stage::Loaded).unwrap();
        assert_eq!(run.status, RunStatus::Failed);
        assert!(run.error.unwrap().contains("sha256"));
    }

    #[tokio::test]
    async fn a_part_of_a_replaced_manifest_is_skipped() {
        let mut f = fixture();
        parted(&mut f, false);
        f.loader.handle(&manifest_event()).await.unwrap();
        // A later scrape of the day writes its manifest before the parts run.
        put_files(&f, &[("shop_a", PRICES, PRICES, 2)], "03:10");
        f.loader.handle(&part_message(&f, 0, "p0")).await.unwrap();
        let run = f.ledger.run("2026-11-25-b1", Stage::Loaded).unwrap();
        assert_eq!(run.status, RunStatus::Skipped);
        assert!(run.error.unwrap().contains("changed since part 0 of 2"));
        assert!(f.warehouse.parts.lock().unwrap().is_empty() && f.notifier.events.lock().unwrap().is_empty());
        let broken =
            Message { message_id: "b".into(), body: Body::Other(r#"{"load_part": {}}"#.into()), receive_count: 1 };
        let err = f.loader.handle(&broken).await.unwrap_err();
        assert!(!err.is_retryable() && err.to_string().contains("message b"), "{err}");
    }
}
