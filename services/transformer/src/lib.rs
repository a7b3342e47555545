//! The transformer: triggered by a `loaded` stage event (SNS → its SQS queue), it runs
//! the SQL in `sql/transform/` for the batch inside one warehouse transaction (dedup,
//! FX → USD, market price, `is_current`) producing `fact_prices`, checks the row
//! accounting (staged = facts + quarantined + duplicates), and emits `transformed`.
//!
//! Idempotent: the SQL replaces the day's facts, so a repeated event changes nothing.
//! An event of a batch that a newer load of the same day replaced is skipped.

use std::sync::Arc;

use async_trait::async_trait;
use ppmt_domain::{Stage, StageCounts};
use ppmt_platform::ports::{Notifier, RunLedger, TransformCounts, TransformOutcome, Warehouse};
use ppmt_platform::sql::TRANSFORM_STEPS;
use ppmt_platform::stage::{expect_stage_event, run_stage, StageError, StageResult};
use ppmt_platform::worker::{Message, MessageHandler};

/// The transformer's ports.
pub struct Transformer {
    pub warehouse: Arc<dyn Warehouse>,
    pub notifier: Arc<dyn Notifier>,
    pub ledger: Arc<dyn RunLedger>,
}

/// The event counts of a transform whose row accounting holds.
pub fn transformed_counts(counts: &TransformCounts) -> Result<StageCounts, String> {
    counts.check()?;
    Ok(StageCounts {
        rows_staged: Some(counts.staged),
        facts: Some(counts.facts),
        quarantined: Some(counts.quarantined),
        duplicates: Some(counts.duplicates),
        ..StageCounts::default()
    })
}

#[async_trait]
impl MessageHandler for Transformer {
    type Error = StageError;

    fn consumer(&self) -> &'static str {
        "transformer"
    }

    async fn handle(&self, message: &Message) -> Result<(), StageError> {
        let Some(event) = expect_stage_event(message, Stage::Loaded)? else {
            return Ok(());
        };
        let batch = event.batch();
        let work = async {
            match self.warehouse.run_transform(&batch, TRANSFORM_STEPS).await? {
                TransformOutcome::Superseded { current } => Ok(StageResult::Skipped(format!(
                    "batch was replaced by {} for {}",
                    current.map(|c| c.0).unwrap_or_else(|| "nothing".into()),
                    batch.batch_date
                ))),
                TransformOutcome::Done(counts) => transformed_counts(&counts)
                    .map(StageResult::Completed)
                    .map_err(|e| StageError::invalid(format!("batch {}", batch.batch_id), e)),
            }
        };
        run_stage(&*self.ledger, &*self.notifier, &batch, Stage::Transformed, &event.trace_id, work).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;
    use ppmt_domain::event::StageEvent;
    use ppmt_domain::s3_event::Body;
    use ppmt_domain::{BatchId, BatchRef};
    use ppmt_platform::ports::RunStatus;
    use ppmt_platform::testing::{MemoryLedger, MemoryNotifier, MemoryWarehouse};
    use ppmt_platform::Retryable;

    fn loaded_message() -> Message {
        let batch = BatchRef {
            batch_id: BatchId("2026-11-25-b1".into()),
            batch_date: NaiveDate::from_ymd_opt(2026, 11, 25).unwrap(),
            bucket: "raw".into(),
            manifest_key: "raw/2026-11-25/manifest.json".into(),
        };
        let event = StageEvent::new(&batch, Stage::Loaded, StageCounts::default(), "trace-1".into());
        let body = serde_json::to_string(&event).unwrap();
        Message { message_id: "m1".into(), body: ppmt_domain::s3_event::classify(&body), receive_count: 1 }
    }

    fn transformer(outcome: TransformOutcome) -> (Transformer, Arc<MemoryNotifier>, Arc<MemoryLedger>) {
        let warehouse = Arc::new(MemoryWarehouse::default());
        *warehouse.transform_outcome.lock().unwrap() = Some(outcome);
        let notifier = Arc::new(MemoryNotifier::default());
        let ledger = Arc::new(MemoryLedger::default());
        (Transformer { warehouse, notifier: notifier.clone(), ledger: ledger.clone() }, notifier, ledger)
    }

    #[tokio::test]
    async fn announces_transformed_with_balanced_counts_and_the_same_trace() {
        let counts = TransformCounts { staged: 5, facts: 3, quarantined: 1, duplicates: 1 };
        let (t, notifier, _) = transformer(TransformOutcome::Done(counts));
        t.handle(&loaded_message()).await.unwrap();
        let events = notifier.events.lock().unwrap();
        assert_eq!(events[0].stage, Stage::Transformed);
        assert_eq!(events[0].trace_id, "trace-1");
        assert_eq!(events[0].counts.facts, Some(3));
    }

    #[tokio::test]
    async fn unbalanced_counts_fail_permanently() {
        let counts = TransformCounts { staged: 5, facts: 3, quarantined: 0, duplicates: 1 };
        let (t, notifier, ledger) = transformer(TransformOutcome::Done(counts));
        let err = t.handle(&loaded_message()).await.unwrap_err();
        assert!(!err.is_retryable());
        assert!(err.to_string().contains("row accounting broken"));
        assert!(notifier.events.lock().unwrap().is_empty());
        assert_eq!(ledger.run("2026-11-25-b1", Stage::Transformed).unwrap().status, RunStatus::Failed);
    }

    #[tokio::test]
    async fn a_superseded_batch_is_skipped_silently() {
        let (t, notifier, ledger) =
            transformer(TransformOutcome::Superseded { current: Some(BatchId("newer".into())) });
        t.handle(&loaded_message()).await.unwrap();
        assert!(notifier.events.lock().unwrap().is_empty());
        let run = ledger.run("2026-11-25-b1", Stage::Transformed).unwrap();
        assert_eq!(run.status, RunStatus::Skipped);
        assert!(run.error.unwrap().contains("newer"));
    }

    #[tokio::test]
    async fn garbage_and_newer_envelopes_fail_permanently() {
        let (t, _, _) = transformer(TransformOutcome::Superseded { current: None });
        for body in ["{oops", r#"{"schema_version":9}"#] {
            let m = Message { message_id: "bad".into(), body: Body::Other(body.into()), receive_count: 1 };
            let err = t.handle(&m).await.unwrap_err();
            assert!(!err.is_retryable(), "{err}");
            assert!(err.to_string().contains("message bad"));
        }
    }
}
