//! The bookkeeping every consumer stage shares: record the start in the ledger, do the
//! work, record how it ended, emit the run's metrics ([`crate::metrics`]), and on success
//! announce the stage on SNS. The batch, stage and trace id are recorded on the message's
//! span ([`record_stage`]), so every line of the work names them.

use std::future::Future;
use std::time::{Duration, Instant};

use ppmt_domain::s3_event::Body;
use ppmt_domain::{BatchRef, Stage, StageCounts, StageEvent};

use crate::error::{capped, BoxError, PortError, Retryable, MAX_RECORDED_ERROR};
use crate::metrics::{self, Metric};
use crate::ports::{Notifier, RunLedger, RunStatus};
use crate::worker::Message;

/// How a stage's work ended when it did not fail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StageResult {
    /// Done; announce it with these counts.
    Completed(StageCounts),
    /// Nothing to do (the batch was replaced by a newer one); say why, announce nothing.
    Skipped(String),
    /// Not over yet: the work goes on in other messages (a sync's shards) and the stage
    /// stays `running` until the last of them ends it ([`finish_stage`]); say what is
    /// pending.
    Pending(String),
}

/// Why a stage failed.
#[derive(Debug, thiserror::Error)]
pub enum StageError {
    /// An I/O port failed; retryable or not as the port says.
    #[error(transparent)]
    Port(#[from] PortError),
    /// The input can never be processed as it is (bad manifest, checksum mismatch,
    /// broken row accounting). Not retryable.
    #[error("{context}: {source}")]
    Invalid {
        context: String,
        #[source]
        source: BoxError,
    },
}

impl StageError {
    /// A permanent failure about `context` (a key, a batch).
    pub fn invalid(context: impl Into<String>, source: impl Into<BoxError>) -> Self {
        StageError::Invalid { context: context.into(), source: source.into() }
    }
}

impl Retryable for StageError {
    fn is_retryable(&self) -> bool {
        match self {
            StageError::Port(e) => e.is_retryable(),
            StageError::Invalid { .. } => false,
        }
    }
}

/// Decodes the stage event this consumer expects from a message.
pub fn expect_stage_event(message: &Message, expected: Stage) -> Result<Option<StageEvent>, StageError> {
    let Body::Other(text) = &message.body else {
        return Err(StageError::invalid(
            format!("message {}", message.message_id),
            "an S3 notification, not a stage event",
        ));
    };
    let event =
        StageEvent::parse(text).map_err(|e| StageError::invalid(format!("message {}", message.message_id), e))?;
    if event.stage != expected {
        tracing::warn!(stage = event.stage.as_str(), "unexpected stage event; check the subscription's filter policy");
        return Ok(None);
    }
    Ok(Some(event))
}

/// Records `batch`, `stage` and `trace_id` on the current span (the worker's `message`
/// span declares them), so every line logged from here on in the message carries them.
pub fn record_stage(batch: &BatchRef, stage: Stage, trace_id: &str) {
    let span = tracing::Span::current();
    span.record("batch_id", batch.batch_id.as_str());
    span.record("stage", stage.as_str());
    span.record("trace_id", trace_id);
}

/// Runs `work` as `stage` of `batch`, with the ledger, the metrics and the announcement
/// around it.
pub async fn run_stage<F>(
    ledger: &dyn RunLedger,
    notifier: &dyn Notifier,
    batch: &BatchRef,
    stage: Stage,
    trace_id: &str,
    work: F,
) -> Result<(), StageError>
where
    F: Future<Output = Result<StageResult, StageError>>,
{
    record_stage(batch, stage, trace_id);
    let started = Instant::now();
    ledger.stage_started(batch, stage).await?;
    let outcome = work.await;
    end_stage(ledger, notifier, batch, stage, trace_id, outcome, Some(started.elapsed())).await
}

/// Records how a stage's work ended, emits its metrics (without `StageDurationMs`: the
/// stage began in other messages) and, when it completed, announces it. Callers outside
/// [`run_stage`] call [`record_stage`] first.
pub async fn finish_stage(
    ledger: &dyn RunLedger,
    notifier: &dyn Notifier,
    batch: &BatchRef,
    stage: Stage,
    trace_id: &str,
    outcome: Result<StageResult, StageError>,
) -> Result<(), StageError> {
    end_stage(ledger, notifier, batch, stage, trace_id, outcome, None).await
}

async fn end_stage(
    ledger: &dyn RunLedger,
    notifier: &dyn Notifier,
    batch: &BatchRef,
    stage: Stage,
    trace_id: &str,
    outcome: Result<StageResult, StageError>,
    duration: Option<Duration>,
) -> Result<(), StageError> {
    match outcome {
        Ok(StageResult::Completed(counts)) => {
            let announced = notifier.publish(&StageEvent::new(batch, stage, counts.clone(), trace_id.to_owned())).await;
            // The work is done either way; a failed announcement is still recorded, so the
            // stage never stays `running` (the retry redoes the idempotent work).
            let (status, error) = match &announced {
                Ok(()) => (RunStatus::Succeeded, None),
                Err(e) => (
                    RunStatus::Failed,
                    Some(capped(&format!("work done, but announcing it failed: {e}"), MAX_RECORDED_ERROR)),
                ),
            };
            emit_metrics(batch, stage, &status, &counts, duration);
            ledger.stage_ended(batch, stage, status, &counts, error.as_deref()).await?;
            announced?;
            tracing::info!(?counts, "stage done");
            Ok(())
        }
        Ok(StageResult::Pending(what)) => {
            tracing::info!(pending = %what, "stage goes on");
            Ok(())
        }
        Ok(StageResult::Skipped(why)) => {
            emit_metrics(batch, stage, &RunStatus::Skipped, &StageCounts::default(), duration);
            ledger.stage_ended(batch, stage, RunStatus::Skipped, &StageCounts::default(), Some(&why)).await?;
            tracing::info!(reason = %why, "stage skipped");
            Ok(())
        }
        Err(e) => {
            emit_metrics(batch, stage, &RunStatus::Failed, &StageCounts::default(), duration);
            let text = capped(&e.to_string(), MAX_RECORDED_ERROR);
            if let Err(ledger_error) =
                ledger.stage_ended(batch, stage, RunStatus::Failed, &StageCounts::default(), Some(&text)).await
            {
                tracing::warn!(error = %ledger_error, "could not record the failure in the ledger");
            }
            Err(e)
        }
    }
}

/// The metrics of a stage run that ended with `status`: its counts (those it has),
/// `StageFailures` (1 when it failed), `StageDurationMs` when known, and `DaysSynced` = 1
/// when a sync succeeded.
fn stage_metrics(stage: Stage, status: &RunStatus, counts: &StageCounts, duration: Option<Duration>) -> Vec<Metric> {
    let counted = [
        ("RowsRead", counts.rows_read),
        ("RowsStaged", counts.rows_staged),
        ("RowsRejected", counts.rows_rejected),
        ("Facts", counts.facts),
        ("Quarantined", counts.quarantined),
        ("Duplicates", counts.duplicates),
        ("ItemsWritten", counts.items_written),
        ("ItemsDeleted", counts.items_deleted),
        ("ItemsUnchanged", counts.items_unchanged),
        ("StaleSkipped", counts.stale_skipped),
    ];
    let mut values: Vec<Metric> = counted.into_iter().filter_map(|(name, n)| Some(Metric::count(name, n?))).collect();
    values.push(Metric::count("StageFailures", u64::from(*status == RunStatus::Failed)));
    values.extend(duration.map(|d| Metric::duration("StageDurationMs", d)));
    if stage == Stage::Synced && *status == RunStatus::Succeeded {
        values.push(Metric::count("DaysSynced", 1));
    }
    values
}

fn emit_metrics(batch: &BatchRef, stage: Stage, status: &RunStatus, counts: &StageCounts, duration: Option<Duration>) {
    let properties = [("batch_id", batch.batch_id.as_str()), ("stage", stage.as_str())];
    metrics::emit(stage.service(), &properties, &stage_metrics(stage, status, counts, duration));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{MemoryLedger, MemoryNotifier};
    use chrono::NaiveDate;
    use ppmt_domain::BatchId;

    fn batch() -> BatchRef {
        BatchRef {
            batch_id: BatchId("b1".into()),
            batch_date: NaiveDate::from_ymd_opt(2026, 11, 25).unwrap(),
            bucket: "raw".into(),
            manifest_key: "raw/2026-11-25/manifest.json".into(),
        }
    }

    #[test]
    fn a_run_reports_its_counts_failure_duration_and_synced_day() {
        let names = |values: &[Metric]| values.iter().map(|m| (m.name, m.value)).collect::<Vec<_>>();
        let counts = StageCounts { items_written: Some(5), stale_skipped: Some(0), ..Default::default() };
        let synced = stage_metrics(Stage::Synced, &RunStatus::Succeeded, &counts, Some(Duration::from_millis(20)));
        assert_eq!(
            names(&synced),
            [
                ("ItemsWritten", 5.0),
                ("StaleSkipped", 0.0),
                ("StageFailures", 0.0),
                ("StageDurationMs", 20.0),
                ("DaysSynced", 1.0)
            ]
        );
        let failed = stage_metrics(Stage::Synced, &RunStatus::Failed, &StageCounts::default(), None);
        assert_eq!(names(&failed), [("StageFailures", 1.0)]);
        let skipped = stage_metrics(Stage::Loaded, &RunStatus::Skipped, &StageCounts::default(), None);
        assert_eq!(names(&skipped), [("StageFailures", 0.0)]);
    }

    #[tokio::test]
    async fn success_is_announced_and_recorded() {
        let (ledger, notifier) = (MemoryLedger::default(), MemoryNotifier::default());
        let counts = StageCounts { facts: Some(3), ..Default::default() };
        run_stage(&ledger, &notifier, &batch(), Stage::Transformed, "t", async {
            Ok(StageResult::Completed(counts.clone()))
        })
        .await
        .unwrap();
        let run = ledger.run("b1", Stage::Transformed).unwrap();
        assert_eq!(run.status, RunStatus::Succeeded);
        assert_eq!(run.counts, counts);
        let events = notifier.events.lock().unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].stage, Stage::Transformed);
        assert_eq!(events[0].counts.facts, Some(3));
    }

    /// A topic that cannot be reached.
    struct DownTopic;

    #[async_trait::async_trait]
    impl Notifier for DownTopic {
        async fn publish(&self, _event: &StageEvent) -> Result<(), PortError> {
            Err(PortError::transient("publish stage event", "topic unreachable"))
        }
    }

    #[tokio::test]
    async fn a_failed_announcement_after_the_work_is_recorded_and_retried() {
        let ledger = MemoryLedger::default();
        let err = run_stage(&ledger, &DownTopic, &batch(), Stage::Transformed, "t", async {
            Ok(StageResult::Completed(StageCounts::default()))
        })
        .await
        .unwrap_err();
        assert!(err.is_retryable());
        let run = ledger.run("b1", Stage::Transformed).unwrap();
        assert_eq!(run.status, RunStatus::Failed, "never left running");
        assert_eq!(
            run.error.as_deref(),
            Some("work done, but announcing it failed: failed to publish stage event: topic unreachable")
        );
    }

    #[tokio::test]
    async fn failures_and_skips_are_recorded_but_not_announced() {
        let (ledger, notifier) = (MemoryLedger::default(), MemoryNotifier::default());
        let err = run_stage(&ledger, &notifier, &batch(), Stage::Loaded, "t", async {
            Err(StageError::invalid("raw/x.csv", "sha256 mismatch"))
        })
        .await
        .unwrap_err();
        assert!(!err.is_retryable());
        let run = ledger.run("b1", Stage::Loaded).unwrap();
        assert_eq!(run.status, RunStatus::Failed);
        assert_eq!(run.error.as_deref(), Some("raw/x.csv: sha256 mismatch"));

        run_stage(&ledger, &notifier, &batch(), Stage::Synced, "t", async {
            Ok(StageResult::Skipped("newer batch".into()))
        })
        .await
        .unwrap();
        assert_eq!(ledger.run("b1", Stage::Synced).unwrap().status, RunStatus::Skipped);
        assert!(notifier.events.lock().unwrap().is_empty());
    }
}
