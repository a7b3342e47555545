//! `ppmt status`: each day's batches stage by stage (scraped, loaded, transformed,
//! synced) from the run ledger, with durations, superseded batches and stale runs marked,
//! and the consumers' queue depths. Everything here but [`queue_depths`] is pure, so the
//! formatting and the exit decision are unit-tested.

use std::collections::BTreeMap;

use aws_sdk_sqs::types::QueueAttributeName;
use chrono::{DateTime, NaiveDate, Utc};
use ppmt_domain::topology::MAX_RECEIVE_COUNT;
use ppmt_domain::{BatchId, Stage, StageCounts};
use ppmt_platform::aws::AwsClients;
use ppmt_platform::ports::{RunStatus, StageRun};
use serde::Serialize;

use crate::ops::StackEnv;

/// A stage still `running` this long after it started has lost its worker: the consumer
/// Lambdas stop at 900 s, and a live worker finishes or fails its message sooner.
pub const STALE_AFTER_SECS: i64 = ppmt_domain::topology::LAMBDA_TIMEOUT_SECS as i64;

/// One day as `ppmt status` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct DayStatus {
    pub date: NaiveDate,
    /// Newest first.
    pub batches: Vec<BatchStatus>,
}

/// One batch of a day, its stages in pipeline order.
#[derive(Debug, Clone, Serialize)]
pub struct BatchStatus {
    pub batch_id: BatchId,
    /// A later batch of the day was loaded, or this one was skipped for a newer one: its
    /// data is not what the app shows.
    pub superseded: bool,
    pub runs: Vec<RunView>,
}

impl BatchStatus {
    /// Its failed or stale runs, unless a later batch superseded it: then nothing of it
    /// is what the app shows, and its failures need no operator.
    fn troubled_runs(&self) -> impl Iterator<Item = &RunView> {
        self.runs.iter().filter(|v| !self.superseded && v.troubled())
    }
}

/// A stage run with what the ledger alone does not say.
#[derive(Debug, Clone, Serialize)]
pub struct RunView {
    #[serde(flatten)]
    pub run: StageRun,
    /// Running past the stage timeout: its worker is gone.
    pub stale: bool,
    pub duration_secs: Option<f64>,
}

impl RunView {
    fn troubled(&self) -> bool {
        self.stale || self.run.status == RunStatus::Failed
    }
}

/// A consumer's queue and dead-letter queue, as SQS counts them (approximately).
#[derive(Debug, Clone, Serialize)]
pub struct QueueDepth {
    pub consumer: String,
    /// Visible, waiting for a worker.
    pub waiting: u64,
    /// Received and not yet deleted, less those `in_backoff`: being worked.
    pub in_flight: u64,
    /// Failed runs of the days in view, not superseded, with receives left: their
    /// messages wait out a retry backoff (hidden by SQS, not lost). From the ledger.
    pub in_backoff: u64,
    pub delayed: u64,
    /// In the dead-letter queue: out of retries, waiting for an operator.
    pub dead_letters: u64,
}

/// Groups a day's ledger runs by batch, newest batch first.
pub fn day_status(date: NaiveDate, runs: &[StageRun], now: DateTime<Utc>) -> DayStatus {
    let mut by_batch: BTreeMap<&BatchId, Vec<&StageRun>> = BTreeMap::new();
    for run in runs {
        by_batch.entry(&run.batch_id).or_default().push(run);
    }
    let first_start = |runs: &[&StageRun]| runs.iter().filter_map(|r| r.started_at).min();
    let loaded_at = |runs: &[&StageRun]| {
        runs.iter().find(|r| r.stage == Stage::Loaded && r.status != RunStatus::Skipped).and_then(|r| r.started_at)
    };
    let latest_load = by_batch.values().filter_map(|r| loaded_at(r)).max();
    let mut batches: Vec<(Option<DateTime<Utc>>, BatchStatus)> = by_batch
        .iter()
        .map(|(id, runs)| {
            let skipped = runs.iter().any(|r| r.status == RunStatus::Skipped);
            let superseded = skipped || latest_load.is_some_and(|l| loaded_at(runs).is_none_or(|own| own < l));
            let mut views: Vec<RunView> = runs.iter().map(|r| view(r, now)).collect();
            views.sort_by_key(|v| v.run.stage);
            (first_start(runs), BatchStatus { batch_id: (*id).clone(), superseded, runs: views })
        })
        .collect();
    batches.sort_by_key(|(start, _)| std::cmp::Reverse(*start));
    DayStatus { date, batches: batches.into_iter().map(|(_, b)| b).collect() }
}

fn view(run: &StageRun, now: DateTime<Utc>) -> RunView {
    let stale =
        run.status == RunStatus::Running && run.started_at.is_some_and(|t| (now - t).num_seconds() > STALE_AFTER_SECS);
    let duration_secs = match (run.started_at, run.finished_at) {
        (Some(start), Some(end)) if run.status != RunStatus::Running => Some(end - start),
        (Some(start), _) if run.status == RunStatus::Running => Some(now - start),
        _ => None,
    }
    .map(|d| d.num_milliseconds().max(0) as f64 / 1000.0);
    RunView { run: run.clone(), stale, duration_secs }
}

/// What needs an operator, one line each: failed or stale runs of batches not
/// superseded, dead letters, and, when `missing_is_trouble`, a day with no batch.
pub fn troubles(days: &[DayStatus], queues: &[QueueDepth], missing_is_trouble: bool) -> Vec<String> {
    let mut out = Vec::new();
    for day in days {
        if day.batches.is_empty() && missing_is_trouble {
            out.push(format!(
                "no batch recorded for {}: was the day scraped? (`ppmt dlq list --queue loader`)",
                day.date
            ));
        }
        for batch in &day.batches {
            for v in batch.troubled_runs() {
                let what = if v.stale { "is stale" } else { "failed" };
                out.push(format!("{} {} of batch {} {what}", day.date, v.run.stage.as_str(), batch.batch_id));
            }
        }
    }
    for q in queues.iter().filter(|q| q.dead_letters > 0) {
        out.push(format!(
            "{} dead letter(s) for the {} (`ppmt dlq list --queue {}`)",
            q.dead_letters, q.consumer, q.consumer
        ));
    }
    out
}

/// Splits the not-visible count of `consumer`'s queue into (in flight, in backoff): the
/// messages of the failed runs in `days` (batches not superseded) that will be received
/// again wait out a backoff; the rest are being worked.
pub fn split_not_visible(consumer: &str, not_visible: u64, days: &[DayStatus]) -> (u64, u64) {
    let in_backoff = days
        .iter()
        .flat_map(|d| &d.batches)
        .filter(|b| !b.superseded)
        .flat_map(|b| &b.runs)
        .filter(|v| {
            v.run.status == RunStatus::Failed && v.run.attempts < MAX_RECEIVE_COUNT && v.run.stage.service() == consumer
        })
        .count() as u64;
    (not_visible.saturating_sub(in_backoff), in_backoff)
}

/// Whether a day has a failed or stale run of a batch not superseded (for `--failed`).
pub fn has_trouble(day: &DayStatus) -> bool {
    day.batches.iter().any(|b| b.troubled_runs().next().is_some())
}

/// The days and queues as text: a line per batch with each stage's status and duration,
/// then a line per problem saying why, the figures of each current batch, and the queues.
pub fn render(days: &[DayStatus], queues: &[QueueDepth]) -> String {
    let shown = [Stage::Scraped, Stage::Loaded, Stage::Transformed, Stage::Synced];
    let mut out = format!("{:<10}  {:<43}  ", "DAY", "BATCH");
    for stage in shown {
        out.push_str(&format!("{:<16}", stage.as_str().to_uppercase()));
    }
    out = out.trim_end().to_owned() + "\n";
    for day in days {
        if day.batches.is_empty() {
            out.push_str(&format!("{:<10}  (no batch recorded)\n", day.date));
        }
        for (i, batch) in day.batches.iter().enumerate() {
            let date = if i == 0 { day.date.to_string() } else { String::new() };
            let mut line = format!("{date:<10}  {:<43}  ", batch.batch_id.as_str());
            for stage in shown {
                let cell = batch.runs.iter().find(|v| v.run.stage == stage).map_or("-".to_owned(), cell);
                line.push_str(&format!("{cell:<16}"));
            }
            out.push_str(line.trim_end());
            out.push_str(if batch.superseded { "  (superseded)\n" } else { "\n" });
            for v in &batch.runs {
                if let Some(why) = explain(v) {
                    out.push_str(&format!("{:<12}↳ {}: {why}\n", "", v.run.stage.as_str()));
                }
            }
            if !batch.superseded {
                if let Some(figures) = figures(batch.runs.iter().map(|v| &v.run.counts)) {
                    out.push_str(&format!("{:<12}  {figures}\n", ""));
                }
            }
        }
    }
    if !queues.is_empty() {
        out.push_str(&format!(
            "\n{:<12} {:>8} {:>10} {:>11} {:>8} {:>13}\n",
            "QUEUE", "WAITING", "IN FLIGHT", "IN BACKOFF", "DELAYED", "DEAD LETTERS"
        ));
        for q in queues {
            out.push_str(&format!(
                "{:<12} {:>8} {:>10} {:>11} {:>8} {:>13}\n",
                q.consumer, q.waiting, q.in_flight, q.in_backoff, q.delayed, q.dead_letters
            ));
        }
    }
    out
}

/// A stage's cell: status, duration, and attempts when more than one.
fn cell(v: &RunView) -> String {
    let status = match v.run.status {
        RunStatus::Running if v.stale => "STALE",
        RunStatus::Running => "running",
        RunStatus::Succeeded => "ok",
        RunStatus::Failed => "FAILED",
        RunStatus::Skipped => "skipped",
    };
    let duration = v.duration_secs.map(human_secs).unwrap_or_default();
    let attempts = if v.run.attempts > 1 { format!(" x{}", v.run.attempts) } else { String::new() };
    format!("{status} {duration}{attempts}").trim_end().to_owned()
}

fn human_secs(secs: f64) -> String {
    match secs {
        s if s < 60.0 => format!("{s:.1}s"),
        s if s < 3600.0 => format!("{:.0}m{:02.0}s", (s / 60.0).floor(), s % 60.0),
        s => format!("{:.0}h{:02.0}m", (s / 3600.0).floor(), (s % 3600.0) / 60.0),
    }
}

/// Why a run needs reading: its error, why it was skipped, or that it is stale.
fn explain(v: &RunView) -> Option<String> {
    if v.stale {
        let since = v.run.started_at.map(|t| t.format("%Y-%m-%d %H:%M:%SZ").to_string()).unwrap_or_default();
        return Some(format!(
            "running since {since}, past the {STALE_AFTER_SECS} s stage timeout: its worker is gone; \
             replay the stage (`ppmt replay --date {} --stage …`)",
            v.run.batch_date
        ));
    }
    v.run.error.clone()
}

/// The figures of a batch's stages on one line, if it has any. A figure more than one
/// stage reports (rows staged) is taken from the last of them.
fn figures<'a>(stages: impl Iterator<Item = &'a StageCounts>) -> Option<String> {
    let mut known = serde_json::Map::new();
    for counts in stages {
        if let Ok(serde_json::Value::Object(figures)) = serde_json::to_value(counts) {
            known.extend(figures);
        }
    }
    let parts: Vec<String> = [
        ("read", "rows_read"),
        ("staged", "rows_staged"),
        ("rejected", "rows_rejected"),
        ("facts", "facts"),
        ("quarantined", "quarantined"),
        ("duplicates", "duplicates"),
        ("items written", "items_written"),
        ("unchanged", "items_unchanged"),
        ("stale skipped", "stale_skipped"),
    ]
    .into_iter()
    .filter_map(|(name, key)| Some(format!("{name} {}", known.get(key)?)))
    .collect();
    (!parts.is_empty()).then(|| format!("rows: {}", parts.join(", ")))
}

/// The days from `last` back, `days` of them, newest first.
pub fn days_back(last: NaiveDate, days: u32) -> Vec<NaiveDate> {
    (0..days.max(1)).filter_map(|i| last.checked_sub_days(chrono::Days::new(u64::from(i)))).collect()
}

/// Each consumer's queue and DLQ depth, its messages in backoff told from `days`.
pub async fn queue_depths(clients: &AwsClients, env: &StackEnv, days: &[DayStatus]) -> anyhow::Result<Vec<QueueDepth>> {
    let mut out = Vec::new();
    for consumer in crate::demo::CONSUMERS {
        let queue = attributes(clients, env.queue_url(consumer, false)?).await?;
        let dlq = attributes(clients, env.queue_url(consumer, true)?).await?;
        let get = |a: &BTreeMap<QueueAttributeName, u64>, name| a.get(&name).copied().unwrap_or(0);
        let not_visible = get(&queue, QueueAttributeName::ApproximateNumberOfMessagesNotVisible);
        let (in_flight, in_backoff) = split_not_visible(consumer, not_visible, days);
        out.push(QueueDepth {
            consumer: consumer.to_owned(),
            waiting: get(&queue, QueueAttributeName::ApproximateNumberOfMessages),
            in_flight,
            in_backoff,
            delayed: get(&queue, QueueAttributeName::ApproximateNumberOfMessagesDelayed),
            dead_letters: get(&dlq, QueueAttributeName::ApproximateNumberOfMessages)
                + get(&dlq, QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
        });
    }
    Ok(out)
}

async fn attributes(clients: &AwsClients, url: &str) -> anyhow::Result<BTreeMap<QueueAttributeName, u64>> {
    let out = clients
        .sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesDelayed)
        .send()
        .await
        .map_err(|e| crate::ops::aws_failure(format!("read the depth of {url}"), e))?;
    Ok(out.attributes.unwrap_or_default().into_iter().filter_map(|(k, v)| Some((k, v.parse().ok()?))).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(minute: i64) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-25T06:00:00Z").unwrap().with_timezone(&Utc)
            + chrono::Duration::minutes(minute)
    }

    fn run(batch: &str, stage: Stage, status: RunStatus, start: i64, secs: i64) -> StageRun {
        StageRun {
            batch_id: BatchId(batch.into()),
            batch_date: NaiveDate::from_ymd_opt(2026, 11, 25).unwrap(),
            stage,
            status: status.clone(),
            attempts: 1,
            started_at: Some(at(start)),
            finished_at: (status != RunStatus::Running).then(|| at(start) + chrono::Duration::seconds(secs)),
            counts: StageCounts::default(),
            error: None,
        }
    }

    #[test]
    fn a_day_shows_each_stage_with_its_duration_and_the_replaced_batch_as_superseded() {
        let date = NaiveDate::from_ymd_opt(2026, 11, 25).unwrap();
        let scrape_failed = StageRun {
            error: Some("eu_shop (failed): GET http://x/feed: HTTP 404".into()),
            counts: StageCounts { rows_read: Some(40), ..StageCounts::default() },
            ..run("2026-11-25-new", Stage::Scraped, RunStatus::Failed, 10, 3)
        };
        let runs = vec![
            run("2026-11-25-old", Stage::Scraped, RunStatus::Succeeded, 0, 2),
            run("2026-11-25-old", Stage::Loaded, RunStatus::Succeeded, 1, 1),
            // Replaced before it could be retried: no operator needed.
            run("2026-11-25-old", Stage::Transformed, RunStatus::Failed, 2, 1),
            scrape_failed,
            run("2026-11-25-new", Stage::Loaded, RunStatus::Succeeded, 11, 75),
            run("2026-11-25-new", Stage::Transformed, RunStatus::Running, 13, 0),
        ];
        let now = at(30);
        let day = day_status(date, &runs, now);
        assert_eq!(
            day.batches.iter().map(|b| (b.batch_id.as_str(), b.superseded)).collect::<Vec<_>>(),
            [("2026-11-25-new", false), ("2026-11-25-old", true)]
        );
        let text = render(std::slice::from_ref(&day), &[]);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[1].starts_with("2026-11-25  2026-11-25-new"), "{text}");
        // 17 min running is past the 15 min timeout.
        assert!(
            lines[1].contains("FAILED 3.0s") && lines[1].contains("ok 1m15s") && lines[1].contains("STALE 17m00s"),
            "{text}"
        );
        assert!(lines[2].contains("↳ scraped: eu_shop (failed): GET http://x/feed: HTTP 404"), "{text}");
        assert!(lines[3].contains("↳ transformed: running since 2026-11-25 06:13:00Z, past the 900 s"), "{text}");
        assert!(lines[4].contains("rows: read 40"), "{text}");
        assert!(lines[5].contains("2026-11-25-old") && lines[5].ends_with("(superseded)"), "{text}");
        assert_eq!(
            troubles(std::slice::from_ref(&day), &[], true),
            [
                "2026-11-25 scraped of batch 2026-11-25-new failed",
                "2026-11-25 transformed of batch 2026-11-25-new is stale"
            ]
        );
        assert!(has_trouble(&day));
    }

    #[test]
    fn a_day_whose_only_failure_is_of_a_superseded_batch_needs_no_operator() {
        let date = NaiveDate::from_ymd_opt(2026, 11, 25).unwrap();
        let runs = [
            run("old", Stage::Loaded, RunStatus::Succeeded, 0, 1),
            run("old", Stage::Transformed, RunStatus::Failed, 1, 1),
            run("new", Stage::Loaded, RunStatus::Succeeded, 10, 1),
            run("new", Stage::Synced, RunStatus::Succeeded, 11, 1),
        ];
        let day = day_status(date, &runs, at(30));
        assert_eq!(troubles(std::slice::from_ref(&day), &[], true), Vec::<String>::new());
        assert!(!has_trouble(&day));
    }

    #[test]
    fn dead_letters_and_a_missing_day_need_an_operator_but_a_running_stage_does_not() {
        let date = NaiveDate::from_ymd_opt(2026, 11, 25).unwrap();
        let busy = day_status(date, &[run("b", Stage::Loaded, RunStatus::Running, 25, 0)], at(30));
        assert!(troubles(std::slice::from_ref(&busy), &[], true).is_empty());
        assert!(!has_trouble(&busy));
        let empty = DayStatus { date, batches: Vec::new() };
        assert_eq!(troubles(std::slice::from_ref(&empty), &[], false), Vec::<String>::new());
        assert_eq!(troubles(std::slice::from_ref(&empty), &[], true).len(), 1);
        let queues = [QueueDepth {
            consumer: "loader".into(),
            waiting: 0,
            in_flight: 1,
            in_backoff: 0,
            delayed: 0,
            dead_letters: 2,
        }];
        assert_eq!(troubles(&[], &queues, true), ["2 dead letter(s) for the loader (`ppmt dlq list --queue loader`)"]);
        let text = render(&[empty], &queues);
        assert!(text.contains("2026-11-25  (no batch recorded)"), "{text}");
        assert!(text.lines().last().unwrap().split_whitespace().eq(["loader", "0", "1", "0", "0", "2"]), "{text}");
    }

    #[test]
    fn a_failed_run_with_receives_left_is_counted_in_backoff_out_of_the_not_visible_ones() {
        let date = NaiveDate::from_ymd_opt(2026, 11, 25).unwrap();
        let attempts = |mut r: StageRun, n: u32| {
            r.attempts = n;
            r
        };
        let runs = [
            // waits out its backoff: 2 of 8 receives
            attempts(run("new", Stage::Transformed, RunStatus::Failed, 20, 1), 2),
            // out of receives: a dead letter, not in backoff
            attempts(run("new", Stage::Loaded, RunStatus::Failed, 10, 1), MAX_RECEIVE_COUNT),
            // superseded by "new": nothing will retry it
            run("old", Stage::Loaded, RunStatus::Succeeded, 0, 1),
            attempts(run("old", Stage::Transformed, RunStatus::Failed, 1, 1), 1),
        ];
        let day = day_status(date, &runs, at(30));
        let split: Vec<(u64, u64)> = [("loader", 0), ("transformer", 3), ("syncer", 1)]
            .into_iter()
            .map(|(consumer, not_visible)| split_not_visible(consumer, not_visible, std::slice::from_ref(&day)))
            .collect();
        assert_eq!(split, [(0, 0), (2, 1), (1, 0)]);
    }

    #[test]
    fn days_go_back_from_the_last() {
        let last = NaiveDate::from_ymd_opt(2026, 3, 1).unwrap();
        assert_eq!(
            days_back(last, 3).iter().map(ToString::to_string).collect::<Vec<_>>(),
            ["2026-03-01", "2026-02-28", "2026-02-27"]
        );
        assert_eq!(days_back(last, 0), [last]);
    }
}
