//! Operator commands over a provisioned stack: status from the ledger, replays, and
//! dead-letter queue inspection and redrive.

use std::collections::BTreeMap;

use anyhow::{bail, Context};
use aws_sdk_sqs::config::http::HttpResponse;
use aws_sdk_sqs::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};
use chrono::{DateTime, NaiveDate, Utc};
use ppmt_domain::batch::manifest_key;
use ppmt_domain::s3_event::object_created_body;
use ppmt_domain::shard::{LoadPart, SyncShard};
use ppmt_domain::{BatchRef, Stage, StageEvent};
use ppmt_platform::aws::AwsClients;
use ppmt_platform::ports::{Notifier, RunLedger, RunStatus, SetAside};

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
                "{name} is not set: on the demo stack run `./ppmt` (it loads .local/demo.env, which `make demo` \
                 writes); for another stack, load the file `ppmt provision --env-file F` wrote"
            )
        })
    }

    /// URL of a consumer's queue (`dlq`: its dead-letter queue).
    pub fn queue_url(&self, consumer: &str, dlq: bool) -> anyhow::Result<&str> {
        let kind = if dlq { "DLQ" } else { "QUEUE" };
        self.get(&format!("PPMT_{}_{kind}_URL", consumer.to_ascii_uppercase()))
    }
}

/// An SDK call that failed, as a one-line error saying what was being done: the
/// service's code and message, or why its endpoint could not be reached.
pub fn aws_failure<E>(doing: impl Into<String>, err: SdkError<E, HttpResponse>) -> anyhow::Error
where
    E: std::error::Error + ProvideErrorMetadata + Send + Sync + 'static,
{
    anyhow::Error::new(ppmt_platform::error::aws_error(doing, err))
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

/// Re-enqueues a day: the manifest's `ObjectCreated` event, to the loader queue, exactly
/// as S3 sends it. The whole chain runs again.
pub async fn replay_day(clients: &AwsClients, env: &StackEnv, date: NaiveDate) -> anyhow::Result<String> {
    let bucket = env.get("PPMT_RAW_BUCKET")?;
    let key = manifest_key(date);
    clients.s3.head_object().bucket(bucket).key(&key).send().await.map_err(|e| {
        aws_failure(format!("find the manifest of {date} at s3://{bucket}/{key} (was the day scraped?)"), e)
    })?;
    let queue = env.queue_url("loader", false)?;
    let sent = clients
        .sqs
        .send_message()
        .queue_url(queue)
        .message_body(object_created_body(bucket, &key))
        .send()
        .await
        .map_err(|e| aws_failure(format!("send the manifest event of {date} to {queue}"), e))?;
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
/// event of a batch, a sync shard, a load part, or that it cannot be decoded.
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
        Body::Other(text) => {
            if let Some(Ok(shard)) = SyncShard::parse(&text) {
                let event = &shard.event;
                return format!(
                    "sync shard {} of {} of batch {} ({})",
                    shard.index, shard.count, event.batch_id, event.batch_date
                );
            }
            if let Some(Ok(part)) = LoadPart::parse(&text) {
                let batch = &part.batch;
                let (index, count) = (part.index, part.count);
                return format!(
                    "load part {index} of {count} of batch {} ({}): {}",
                    batch.batch_id, batch.batch_date, part.file_key
                );
            }
            match StageEvent::parse(&text) {
                Ok(event) => {
                    format!("{} event of batch {} ({})", event.stage.as_str(), event.batch_id, event.batch_date)
                }
                Err(e) => format!("undecodable: {e}"),
            }
        }
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
    /// When it was first sent to its queue.
    pub sent_at: Option<DateTime<Utc>>,
    /// Why it failed, from the ledger's failure log.
    pub last_error: Option<String>,
}

impl DeadLetter {
    /// Seconds since it was first sent, at `now`.
    pub fn age_secs(&self, now: DateTime<Utc>) -> Option<i64> {
        self.sent_at.map(|t| (now - t).num_seconds().max(0))
    }

    /// As `dlq list --output json` prints it: with `about`, `consumer` and `age_secs`.
    pub fn to_json(&self, consumer: &str, now: DateTime<Utc>) -> serde_json::Value {
        let mut value = serde_json::to_value(self).unwrap_or_default();
        value["about"] = describe_body(&self.body).into();
        value["consumer"] = consumer.into();
        value["age_secs"] = self.age_secs(now).into();
        value
    }

    /// As `dlq list` prints it: id, receive count and age, what it is about, and why.
    pub fn render(&self, now: DateTime<Utc>) -> String {
        let age = self.age_secs(now).map(|a| format!(", {} old", human_age(a))).unwrap_or_default();
        format!(
            "- {}  received {}x{age}\n  about: {}\n  last error: {}",
            self.message_id,
            self.receive_count,
            describe_body(&self.body),
            self.last_error.as_deref().unwrap_or("(not recorded)")
        )
    }
}

/// `90061` → `1d 1h`: the two largest units.
pub fn human_age(secs: i64) -> String {
    let units = [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)];
    let parts: Vec<String> = units
        .iter()
        .scan(secs, |rest, (name, size)| {
            let n = *rest / size;
            *rest %= size;
            Some((n, name))
        })
        .skip_while(|(n, _)| *n == 0)
        .take(2)
        .filter(|(n, _)| *n > 0)
        .map(|(n, name)| format!("{n}{name}"))
        .collect();
    if parts.is_empty() {
        "0s".to_owned()
    } else {
        parts.join(" ")
    }
}

/// Reads every message of a DLQ without removing it: each is made visible again once
/// the listing is complete.
pub async fn list_dead_letters(
    clients: &AwsClients,
    ledger: &dyn RunLedger,
    dlq_url: &str,
) -> anyhow::Result<Vec<DeadLetter>> {
    let letters = receive_dead_letters(clients, ledger, dlq_url).await?;
    release(clients, dlq_url, &letters).await;
    Ok(letters)
}

/// Makes received messages visible again at once; one that cannot be is logged, and
/// shows again when its 30 s visibility ends.
async fn release(clients: &AwsClients, dlq_url: &str, letters: &[DeadLetter]) {
    for letter in letters {
        let released = clients
            .sqs
            .change_message_visibility()
            .queue_url(dlq_url)
            .receipt_handle(&letter.receipt_handle)
            .visibility_timeout(0)
            .send()
            .await;
        if let Err(e) = released {
            let e = aws_failure(format!("release message {}", letter.message_id), e);
            tracing::warn!(error = %e, "stays hidden until its visibility timeout");
        }
    }
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
            .message_system_attribute_names(MessageSystemAttributeName::SentTimestamp)
            .send()
            .await
            .map_err(|e| aws_failure(format!("read the dead letters of {dlq_url}"), e))?;
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
            let attribute = |name| m.attributes.as_ref().and_then(|a| a.get(&name)).cloned();
            let sent_at = attribute(MessageSystemAttributeName::SentTimestamp)
                .and_then(|ms| ms.parse().ok())
                .and_then(DateTime::<Utc>::from_timestamp_millis);
            letters.push(DeadLetter {
                receive_count: attribute(MessageSystemAttributeName::ApproximateReceiveCount).unwrap_or_default(),
                message_id: id,
                receipt_handle: m.receipt_handle.unwrap_or_default(),
                body: m.body.unwrap_or_default(),
                sent_at,
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
/// queue and only then deleted from the DLQ, so none is lost. The messages not moved
/// are made visible again at once.
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
                    let e = aws_failure("start a native redrive", e);
                    tracing::info!(error = %e, "native redrive unavailable; moving messages one by one")
                }
            }
        }
    }
    let letters = receive_dead_letters(clients, ledger, dlq).await?;
    let (chosen, others): (Vec<DeadLetter>, Vec<DeadLetter>) =
        letters.into_iter().partition(|l| message_id.is_none_or(|id| id == l.message_id));
    release(clients, dlq, &others).await;
    if let Some(id) = message_id {
        if chosen.is_empty() {
            bail!("message {id} is not in the {consumer} DLQ (`ppmt dlq list --queue {consumer}` lists them)");
        }
    }
    for letter in &chosen {
        let id = &letter.message_id;
        clients
            .sqs
            .send_message()
            .queue_url(queue)
            .message_body(&letter.body)
            .send()
            .await
            .map_err(|e| aws_failure(format!("send dead letter {id} back to {queue}"), e))?;
        clients
            .sqs
            .delete_message()
            .queue_url(dlq)
            .receipt_handle(&letter.receipt_handle)
            .send()
            .await
            .map_err(|e| aws_failure(format!("delete dead letter {id} from {dlq} (it was sent back)"), e))?;
    }
    Ok(format!("moved {} message(s) from the {consumer} DLQ back to its queue", chosen.len()))
}

/// The dead letters of a consumer sent at least `older_than` before `now`: what
/// `dlq purge` would delete. All are visible again when this returns: [`purge`]
/// receives them again once the operator has confirmed.
pub async fn purge_candidates(
    clients: &AwsClients,
    ledger: &dyn RunLedger,
    dlq_url: &str,
    older_than: std::time::Duration,
    now: DateTime<Utc>,
) -> anyhow::Result<Vec<DeadLetter>> {
    let letters = list_dead_letters(clients, ledger, dlq_url).await?;
    let limit = older_than.as_secs() as i64;
    Ok(letters.into_iter().filter(|l| l.age_secs(now).is_some_and(|a| a >= limit)).collect())
}

/// Deletes the dead letters chosen by [`purge_candidates`]. The operator may take longer
/// to confirm than a receipt handle lives, so the DLQ is received again first and the
/// chosen messages are deleted with their fresh handles; the others, and any chosen one
/// no longer there (e.g. replayed meanwhile), are left alone. Returns how many were deleted.
pub async fn purge(
    clients: &AwsClients,
    ledger: &dyn RunLedger,
    dlq_url: &str,
    chosen: &[DeadLetter],
) -> anyhow::Result<usize> {
    let fresh = receive_dead_letters(clients, ledger, dlq_url).await?;
    let (doomed, others): (Vec<DeadLetter>, Vec<DeadLetter>) =
        fresh.into_iter().partition(|l| chosen.iter().any(|c| c.message_id == l.message_id));
    release(clients, dlq_url, &others).await;
    for letter in &doomed {
        clients
            .sqs
            .delete_message()
            .queue_url(dlq_url)
            .receipt_handle(&letter.receipt_handle)
            .send()
            .await
            .map_err(|e| aws_failure(format!("delete dead letter {} from {dlq_url}", letter.message_id), e))?;
    }
    Ok(doomed.len())
}

/// A day as every date flag takes it, `YYYY-MM-DD`; the error names the format.
pub fn parse_date(text: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").map_err(|_| format!("`{text}` is not a date: use YYYY-MM-DD"))
}

/// `30s`, `15m`, `12h` or `7d` as a duration (for `--older-than`).
pub fn parse_age(text: &str) -> Result<std::time::Duration, String> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: u64 = number.parse().map_err(|_| format!("`{text}` is not a duration: use e.g. 30s, 15m, 12h or 7d"))?;
    let secs = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        _ => return Err(format!("`{text}` has no unit: use s, m, h or d, e.g. 7d")),
    };
    // (past a century, no SQS message is that old; and the product must not wrap)
    match n.checked_mul(secs) {
        Some(total) if total <= MAX_AGE_SECS => Ok(std::time::Duration::from_secs(total)),
        _ => Err(format!("`{text}` is more than 36500d")),
    }
}

/// The longest age [`parse_age`] takes: 100 years.
const MAX_AGE_SECS: u64 = 36_500 * 86_400;

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
        let part = LoadPart {
            batch: batch.clone(),
            manifest_sha256: "ab".into(),
            trace_id: "t".into(),
            split_id: "s".into(),
            index: 1,
            count: 3,
            file_key: "raw/2026-11-25/shop_020000.csv".into(),
            file_index: 2,
        };
        assert_eq!(
            describe_body(&part.to_body()),
            "load part 1 of 3 of batch 2026-11-25-b1 (2026-11-25): raw/2026-11-25/shop_020000.csv"
        );
    }

    #[test]
    fn a_missing_variable_names_the_wrapper_and_the_file_that_sets_it() {
        let env = StackEnv::new(BTreeMap::from([("PPMT_RAW_BUCKET".to_owned(), String::new())]));
        let err = env.get("PPMT_RAW_BUCKET").unwrap_err().to_string();
        assert!(err.starts_with("PPMT_RAW_BUCKET is not set: on the demo stack run `./ppmt`"), "{err}");
        assert!(err.contains(".local/demo.env"), "{err}");
    }

    #[test]
    fn dates_read_as_year_month_day_and_anything_else_names_the_format() {
        assert_eq!(parse_date("2026-11-25"), Ok(NaiveDate::from_ymd_opt(2026, 11, 25).unwrap()));
        assert_eq!(parse_date("25.11.2026"), Err("`25.11.2026` is not a date: use YYYY-MM-DD".to_owned()));
        assert_eq!(parse_date("2026-02-30"), Err("`2026-02-30` is not a date: use YYYY-MM-DD".to_owned()));
    }

    #[test]
    fn ages_read_and_print_in_two_units() {
        assert_eq!(parse_age("7d"), Ok(std::time::Duration::from_secs(604_800)));
        assert_eq!(parse_age("15m"), Ok(std::time::Duration::from_secs(900)));
        assert!(parse_age("7").unwrap_err().contains("no unit"));
        assert!(parse_age("d7").unwrap_err().contains("is not a duration"));
        assert!(parse_age("18446744073709551615d").unwrap_err().contains("more than 36500d"));
        assert!(parse_age("36501d").unwrap_err().contains("more than 36500d"));
        assert_eq!(parse_age("36500d"), Ok(std::time::Duration::from_secs(MAX_AGE_SECS)));
        assert_eq!(human_age(90_061), "1d 1h");
        assert_eq!(human_age(3_605), "1h");
        assert_eq!(human_age(42), "42s");
        assert_eq!(human_age(0), "0s");
    }
}
