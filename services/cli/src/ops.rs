//! Operator commands over a provisioned stack: status from the ledger, replays, and
//! dead-letter queue inspection and redrive.

use std::collections::BTreeMap;

use anyhow::{bail, Context};
use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};
use chrono::{DateTime, NaiveDate, Utc};
use ppmt_domain::batch::manifest_key;
use ppmt_domain::s3_event::object_created_body;
use ppmt_domain::{BatchRef, Stage, StageEvent};
use ppmt_platform::aws::AwsClients;
use ppmt_platform::ports::{Notifier, RunLedger, RunStatus, SetAside, StageRun};

/// The stack's resources, read from the environment `ppmt provision` wrote.
#[derive(Debug, Clone)]
pub struct StackEnv {
    vars: BTreeMap<String, String>,
}

impl StackEnv {
    pub fn new(vars: BTreeMap<String, String>) -> Self {
        StackEnv { vars }
    }

    /// A variable, or an error saying how to get it.
    pub fn get(&self, name: &str) -> anyhow::Result<&str> {
        self.vars.get(name).map(String::as_str).filter(|v| !v.is_empty()).with_context(|| {
            format!(
                "{name} is not set: run `ppmt provision --env-file .local/stack.env` and load that file (make does)"
            )
        })
    }

    /// URL of a consumer's queue (`dlq`: its dead-letter queue).
    pub fn queue_url(&self, consumer: &str, dlq: bool) -> anyhow::Result<&str> {
        let kind = if dlq { "DLQ" } else { "QUEUE" };
        self.get(&format!("PPMT_{}_{kind}_URL", consumer.to_ascii_uppercase()))
    }
}

/// A stage still `running` this long after it started has lost its worker: the consumer
/// Lambdas stop at 900 s, and a live worker finishes or fails its message sooner.
pub const STALE_AFTER_SECS: i64 = ppmt_domain::topology::LAMBDA_TIMEOUT_SECS as i64;

/// The day's runs as JSON for `ppmt status --output json`: each run as the ledger holds
/// it, with `stale` set when it has run past the stage timeout.
pub fn runs_json(date: NaiveDate, runs: &[StageRun], now: DateTime<Utc>) -> String {
    let runs: Vec<serde_json::Value> = runs
        .iter()
        .map(|r| {
            let mut value = serde_json::to_value(r).unwrap_or_default();
            value["stale"] = serde_json::Value::Bool(is_stale(r, now));
            value
        })
        .collect();
    serde_json::json!({ "date": date, "runs": runs }).to_string()
}

/// `ppmt rejects` as a table: one line per kind, source and reason, with its count and
/// first row.
pub fn render_set_aside(date: NaiveDate, rows: &[SetAside]) -> String {
    if rows.is_empty() {
        return format!("no rejected, quarantined or duplicate row on {date}\n");
    }
    let mut out =
        format!("{:<12} {:<16} {:<20} {:>7}  {}\n", "KIND", "SOURCE", "REASON", "ROWS", "FIRST (FILE:LINE DETAIL)");
    for r in rows {
        out.push_str(&format!(
            "{:<12} {:<16} {:<20} {:>7}  {}:{} {}\n",
            r.kind, r.source_id, r.reason_code, r.rows, r.sample_file, r.sample_line, r.sample_detail
        ));
    }
    out
}

/// Runs that need an operator: failed, or running past the stage timeout.
pub fn troubled_runs(runs: &[StageRun], now: DateTime<Utc>) -> usize {
    runs.iter().filter(|r| r.status == RunStatus::Failed || is_stale(r, now)).count()
}

fn is_stale(r: &StageRun, now: DateTime<Utc>) -> bool {
    r.status == RunStatus::Running && r.started_at.is_some_and(|t| (now - t).num_seconds() > STALE_AFTER_SECS)
}

/// The ledger as a table at time `now`, one line per stage run.
pub fn render_runs(runs: &[StageRun], now: DateTime<Utc>) -> String {
    let mut out = format!("{:<46} {:<12} {:<10} {:>8}  {}\n", "BATCH", "STAGE", "STATUS", "ATTEMPTS", "COUNTS / ERROR");
    for r in runs {
        let stale_since = r.started_at.filter(|_| is_stale(r, now));
        let status = match r.status {
            RunStatus::Running if stale_since.is_some() => "STALE",
            RunStatus::Running => "running",
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "FAILED",
            RunStatus::Skipped => "skipped",
        };
        let detail = match (&r.error, stale_since) {
            (_, Some(t)) => format!(
                "running since {} ({} s, past the {STALE_AFTER_SECS} s stage timeout): its worker is gone; replay the stage",
                t.format("%Y-%m-%d %H:%M:%SZ"),
                (now - t).num_seconds()
            ),
            (Some(e), None) => e.clone(),
            (None, None) => serde_json::to_string(&r.counts).unwrap_or_default(),
        };
        out.push_str(&format!(
            "{:<46} {:<12} {:<10} {:>8}  {detail}\n",
            r.batch_id,
            r.stage.as_str(),
            status,
            r.attempts
        ));
    }
    out
}

/// Re-enqueues a day: the manifest's `ObjectCreated` event, to the loader queue, exactly
/// as S3 sends it. The whole chain runs again.
pub async fn replay_day(clients: &AwsClients, env: &StackEnv, date: NaiveDate) -> anyhow::Result<String> {
    let bucket = env.get("PPMT_RAW_BUCKET")?;
    let key = manifest_key(date);
    clients
        .s3
        .head_object()
        .bucket(bucket)
        .key(&key)
        .send()
        .await
        .with_context(|| format!("no manifest at s3://{bucket}/{key}"))?;
    let queue = env.queue_url("loader", false)?;
    let sent =
        clients.sqs.send_message().queue_url(queue).message_body(object_created_body(bucket, &key)).send().await?;
    Ok(format!("re-enqueued s3://{bucket}/{key} to the loader (message {})", sent.message_id.unwrap_or_default()))
}

/// Re-announces a finished stage of the day's newest batch, so only the stages after it
/// run again (e.g. `--stage transformed` re-syncs DynamoDB).
pub async fn replay_stage(
    ledger: &dyn RunLedger,
    notifier: &dyn Notifier,
    env: &StackEnv,
    date: NaiveDate,
    stage: Stage,
) -> anyhow::Result<String> {
    let runs = ledger.runs_for_date(date).await?;
    let Some(run) =
        runs.iter().filter(|r| r.stage == stage && r.status == RunStatus::Succeeded).max_by_key(|r| r.finished_at)
    else {
        bail!("no succeeded {} stage for {date} in the ledger", stage.as_str());
    };
    let batch = BatchRef {
        batch_id: run.batch_id.clone(),
        batch_date: date,
        bucket: env.get("PPMT_RAW_BUCKET")?.to_owned(),
        manifest_key: manifest_key(date),
    };
    let event = StageEvent::new(&batch, stage, run.counts.clone(), format!("replay-{}", uuid::Uuid::new_v4().simple()));
    notifier.publish(&event).await?;
    Ok(format!("re-published {} of batch {}", stage.as_str(), batch.batch_id))
}

/// What a queue message is about, read from its body: the manifest of a day, a stage
/// event of a batch, a sync shard, or that it cannot be decoded.
pub fn describe_body(body: &str) -> String {
    use ppmt_domain::s3_event::{classify, Body};
    match classify(body) {
        Body::S3TestEvent => "S3's test event".to_owned(),
        Body::S3Objects(objects) => objects
            .iter()
            .map(|o| match ppmt_domain::batch::parse_manifest_key(&o.key) {
                Some(date) => format!("manifest of {date} (s3://{}/{})", o.bucket, o.key),
                None => format!("S3 object s3://{}/{} (not a manifest)", o.bucket, o.key),
            })
            .collect::<Vec<_>>()
            .join("; "),
        Body::Other(text) => match (ppmt_domain::shard::SyncShard::parse(&text), StageEvent::parse(&text)) {
            (Some(Ok(shard)), _) => format!(
                "sync shard {} of {} of batch {} ({})",
                shard.index, shard.count, shard.event.batch_id, shard.event.batch_date
            ),
            (_, Ok(event)) => {
                format!("{} event of batch {} ({})", event.stage.as_str(), event.batch_id, event.batch_date)
            }
            (_, Err(e)) => format!("undecodable: {e}"),
        },
    }
}

/// One message sitting in a dead-letter queue.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DeadLetter {
    pub message_id: String,
    #[serde(skip)]
    pub receipt_handle: String,
    pub body: String,
    pub receive_count: String,
    /// Why it failed, from the ledger's failure log.
    pub last_error: Option<String>,
}

/// Reads every message of a DLQ without removing it: each is made visible again once
/// the listing is complete.
pub async fn list_dead_letters(
    clients: &AwsClients,
    ledger: &dyn RunLedger,
    dlq_url: &str,
) -> anyhow::Result<Vec<DeadLetter>> {
    let letters = receive_dead_letters(clients, ledger, dlq_url).await?;
    for letter in &letters {
        let released = clients
            .sqs
            .change_message_visibility()
            .queue_url(dlq_url)
            .receipt_handle(&letter.receipt_handle)
            .visibility_timeout(0)
            .send()
            .await;
        if let Err(e) = released {
            tracing::warn!(message_id = %letter.message_id, error = %aws_sdk_sqs::error::DisplayErrorContext(&e), "stays hidden until its visibility timeout");
        }
    }
    Ok(letters)
}

/// Receives every message of a DLQ, keeping each hidden for 30 s so the caller can act
/// on it with its receipt handle.
async fn receive_dead_letters(
    clients: &AwsClients,
    ledger: &dyn RunLedger,
    dlq_url: &str,
) -> anyhow::Result<Vec<DeadLetter>> {
    let mut letters: Vec<DeadLetter> = Vec::new();
    loop {
        let out = clients
            .sqs
            .receive_message()
            .queue_url(dlq_url)
            .max_number_of_messages(10)
            .visibility_timeout(30)
            .wait_time_seconds(1)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .send()
            .await?;
        let messages = out.messages.unwrap_or_default();
        if messages.is_empty() {
            break;
        }
        let mut new = 0;
        for m in messages {
            let id = m.message_id.unwrap_or_default();
            if let Some(known) = letters.iter_mut().find(|l| l.message_id == id) {
                // Received again: only the newest receipt handle can delete it.
                known.receipt_handle = m.receipt_handle.unwrap_or_default();
                continue;
            }
            new += 1;
            let last_error = ledger
                .message_failure(&id)
                .await?
                .map(|f| format!("{} (try {}, {})", f.error, f.receive_count, f.failed_at));
            letters.push(DeadLetter {
                receive_count: m
                    .attributes
                    .as_ref()
                    .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                    .cloned()
                    .unwrap_or_default(),
                message_id: id,
                receipt_handle: m.receipt_handle.unwrap_or_default(),
                body: m.body.unwrap_or_default(),
                last_error,
            });
        }
        if new == 0 {
            break;
        }
    }
    Ok(letters)
}

/// Moves messages from a consumer's DLQ back to its queue: one (`message_id`) or all.
/// For all, SQS's native redrive (`StartMessageMoveTask`) is tried first; where the
/// endpoint lacks it (moto), and for a single message, each message is sent to the
/// queue and only then deleted from the DLQ, so none is lost.
pub async fn redrive(
    clients: &AwsClients,
    ledger: &dyn RunLedger,
    env: &StackEnv,
    consumer: &str,
    message_id: Option<&str>,
) -> anyhow::Result<String> {
    let dlq = env.queue_url(consumer, true)?;
    let queue = env.queue_url(consumer, false)?;
    if message_id.is_none() {
        let arn = |url: &str| {
            let url = url.to_owned();
            async move {
                clients
                    .sqs
                    .get_queue_attributes()
                    .queue_url(&url)
                    .attribute_names(QueueAttributeName::QueueArn)
                    .send()
                    .await
                    .ok()
                    .and_then(|o| o.attributes)
                    .and_then(|mut a| a.remove(&QueueAttributeName::QueueArn))
            }
        };
        if let (Some(source), Some(destination)) = (arn(dlq).await, arn(queue).await) {
            match clients.sqs.start_message_move_task().source_arn(source).destination_arn(destination).send().await {
                Ok(task) => return Ok(format!("started native redrive task {}", task.task_handle.unwrap_or_default())),
                Err(e) => {
                    tracing::info!(error = %aws_sdk_sqs::error::DisplayErrorContext(&e), "native redrive unavailable; moving messages one by one")
                }
            }
        }
    }
    let letters = receive_dead_letters(clients, ledger, dlq).await?;
    let chosen: Vec<_> = letters.iter().filter(|l| message_id.is_none_or(|id| id == l.message_id)).collect();
    if let Some(id) = message_id {
        if chosen.is_empty() {
            bail!("message {id} is not in {dlq}");
        }
    }
    for letter in &chosen {
        clients.sqs.send_message().queue_url(queue).message_body(&letter.body).send().await?;
        clients.sqs.delete_message().queue_url(dlq).receipt_handle(&letter.receipt_handle).send().await?;
    }
    Ok(format!("moved {} message(s) from the {consumer} DLQ back to its queue", chosen.len()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ppmt_domain::{BatchId, StageCounts};

    #[test]
    fn a_dead_letter_says_what_it_is_about() {
        let manifest = ppmt_domain::s3_event::object_created_body("raw", "raw/2026-11-25/manifest.json");
        assert_eq!(describe_body(&manifest), "manifest of 2026-11-25 (s3://raw/raw/2026-11-25/manifest.json)");
        let batch = BatchRef {
            batch_id: BatchId("2026-11-25-b1".into()),
            batch_date: NaiveDate::from_ymd_opt(2026, 11, 25).unwrap(),
            bucket: "raw".into(),
            manifest_key: "raw/2026-11-25/manifest.json".into(),
        };
        let event = StageEvent::new(&batch, Stage::Loaded, StageCounts::default(), "t".into());
        assert_eq!(
            describe_body(&serde_json::to_string(&event).unwrap()),
            "loaded event of batch 2026-11-25-b1 (2026-11-25)"
        );
        assert!(describe_body("this is not an event {").starts_with("undecodable: "));
    }

    #[test]
    fn a_stage_running_past_its_timeout_is_shown_stale() {
        let now = Utc::now();
        let run = |minutes: i64| StageRun {
            batch_id: BatchId("2026-11-25-b1".into()),
            batch_date: NaiveDate::from_ymd_opt(2026, 11, 25).unwrap(),
            stage: Stage::Transformed,
            status: RunStatus::Running,
            attempts: 1,
            started_at: Some(now - chrono::Duration::minutes(minutes)),
            finished_at: None,
            counts: StageCounts::default(),
            error: None,
        };
        let table = render_runs(&[run(5), run(20)], now);
        let lines: Vec<&str> = table.lines().collect();
        assert!(lines[1].contains(" running "), "{}", lines[1]);
        assert!(lines[2].contains(" STALE "), "{}", lines[2]);
        assert!(lines[2].contains("(1200 s, past the 900 s stage timeout)"), "{}", lines[2]);
        // `ppmt status` exits non-zero on a stale or failed run, not on a running one.
        let failed = StageRun { status: RunStatus::Failed, ..run(1) };
        let done = StageRun { status: RunStatus::Succeeded, ..run(30) };
        assert_eq!(troubled_runs(&[run(5), done.clone()], now), 0);
        assert_eq!(troubled_runs(&[run(5), run(20), failed, done], now), 2);
        let json: serde_json::Value =
            serde_json::from_str(&runs_json(run(5).batch_date, &[run(5), run(20)], now)).unwrap();
        assert_eq!(json["date"], "2026-11-25");
        assert_eq!((&json["runs"][0]["stale"], &json["runs"][1]["stale"]), (&false.into(), &true.into()));
    }
}
