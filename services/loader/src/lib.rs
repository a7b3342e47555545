//! The loader: triggered by the S3 `ObjectCreated` event of a day's `manifest.json`
//! (through its SQS queue), it verifies every file the manifest lists (size, sha256,
//! record count), parses and validates the rows, and stages them in the warehouse in one
//! transaction, rejected rows included with their reasons. Then it emits `loaded`.
//!
//! Idempotent: loading replaces whatever was staged for the day, so a repeated event or
//! a replayed day stages exactly the same rows.

pub mod parse;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::Utc;
use ppmt_domain::batch::parse_manifest_key;
use ppmt_domain::manifest::{FileKind, ManifestFile};
use ppmt_domain::s3_event::{Body, S3ObjectRef};
use ppmt_domain::{BatchRef, Manifest, Stage, StageCounts};
use ppmt_platform::ports::{Notifier, ObjectStore, RunLedger, StagedBatch, Staging, Warehouse};
use ppmt_platform::stage::{run_stage, StageError, StageResult};
use ppmt_platform::worker::{Message, MessageHandler};
use sha2::{Digest, Sha256};

/// The loader's ports.
pub struct Loader {
    pub store: Arc<dyn ObjectStore>,
    pub warehouse: Arc<dyn Warehouse>,
    pub notifier: Arc<dyn Notifier>,
    pub ledger: Arc<dyn RunLedger>,
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
            Body::Other(text) => Err(StageError::invalid(
                format!("message {}", message.message_id),
                format!("not an S3 event notification: {}", excerpt(text)),
            )),
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
        let work = self.load(&batch, &manifest, &manifest_sha256);
        run_stage(&*self.ledger, &*self.notifier, &batch, Stage::Loaded, &trace_id, work).await
    }

    async fn load(
        &self,
        batch: &BatchRef,
        manifest: &Manifest,
        manifest_sha256: &str,
    ) -> Result<StageResult, StageError> {
        let mut staged = StagedBatch {
            batch: batch.clone(),
            rows: Vec::new(),
            rejects: Vec::new(),
            fx_rates: Vec::new(),
            load_seq: manifest.created_at.timestamp_millis(),
            manifest_sha256: manifest_sha256.to_owned(),
        };
        // The original documents are kept for `ppmt reparse`; only canonical files load.
        let loaded: Vec<&ManifestFile> = manifest.files.iter().filter(|f| f.kind != FileKind::Original).collect();
        for file in &loaded {
            let content = self.store.get(&batch.bucket, &file.key).await.map_err(|e| {
                if e.not_found {
                    StageError::invalid(
                        format!("s3://{}/{}", batch.bucket, file.key),
                        "listed in the manifest but missing",
                    )
                } else {
                    StageError::Port(e)
                }
            })?;
            file.verify(&content).map_err(|e| StageError::invalid(format!("batch {}", batch.batch_id), e))?;
            let parsed = parse::parse_file(file, &content)
                .map_err(|e| StageError::invalid(format!("batch {}", batch.batch_id), e))?;
            file.verify_record_count(parsed.records())
                .map_err(|e| StageError::invalid(format!("batch {}", batch.batch_id), e))?;
            staged.rows.extend(parsed.rows);
            staged.fx_rates.extend(parsed.fx_rates);
            staged.rejects.extend(parsed.rejects);
        }
        for reject in &staged.rejects {
            tracing::info!(file = %reject.file_key, line = reject.line_no, reason = reject.reason.code(), detail = %reject.detail, "row rejected");
        }
        if let Staging::Older { current } = self.warehouse.stage_batch(&staged).await? {
            return Ok(StageResult::Skipped(format!(
                "{current}, from a later scrape, is already staged for {}; this earlier one changes nothing",
                batch.batch_date
            )));
        }
        let (rows, fx, rejected) =
            (staged.rows.len() as u64, staged.fx_rates.len() as u64, staged.rejects.len() as u64);
        Ok(StageResult::Completed(StageCounts {
            files: Some(loaded.len() as u64),
            rows_read: Some(rows + fx + rejected),
            rows_staged: Some(rows),
            rows_rejected: Some(rejected),
            fx_rates: Some(fx),
            ..StageCounts::default()
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ppmt_domain::manifest::{FileFormat, FileKind, ManifestFile};
    use ppmt_platform::ports::RunStatus;
    use ppmt_platform::testing::{MemoryLedger, MemoryNotifier, MemoryStore, MemoryWarehouse};
    use ppmt_platform::Retryable;

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
        loader: Loader,
    }

    fn fixture() -> Fixture {
        let store = Arc::new(MemoryStore::default());
        let warehouse = Arc::new(MemoryWarehouse::default());
        let notifier = Arc::new(MemoryNotifier::default());
        let ledger = Arc::new(MemoryLedger::default());
        let loader = Loader {
            store: store.clone(),
            warehouse: warehouse.clone(),
            notifier: notifier.clone(),
            ledger: ledger.clone(),
        };
        Fixture { store, warehouse, notifier, ledger, loader }
    }

    fn put_batch(f: &Fixture, content: &str, listed_records: u64) {
        let key = "raw/2026-11-25/shop_020000.csv";
        f.store.insert(BUCKET, key, content.to_owned());
        let file = ManifestFile::describe(
            key.into(),
            "shop".into(),
            FileKind::Prices,
            FileFormat::Csv,
            PRICES.as_bytes(),
            listed_records,
        );
        let manifest = serde_json::json!({
            "schema_version": 1, "batch_id": "2026-11-25-b1", "batch_date": "2026-11-25",
            "created_at": "2026-11-25T02:10:00Z", "files": [file]
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
}
