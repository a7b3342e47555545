//! `ppmt replay --from D1 --to D2 [--stage S] [--wait]`: days re-run in order, paced,
//! with a progress bar; with `--wait`, each day is followed in the run ledger until it
//! ends (synced, failed on its last receive, or skipped for a newer batch) before the
//! next is sent, and any day that fails makes the command fail.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use ppmt_domain::topology::MAX_RECEIVE_COUNT;
use ppmt_domain::{BatchId, Stage};
use ppmt_platform::ports::{RunLedger, RunStatus, StageRun};

/// How far behind ours the clock of a host writing the ledger may be: its runs started
/// up to this long before the replay was sent still answer for it.
pub const CLOCK_SKEW: TimeDelta = TimeDelta::seconds(5);

/// How a replayed day ended, as far as the ledger says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DayOutcome {
    /// `synced` succeeded after the replay was sent, in this many seconds.
    Synced { secs: i64 },
    /// The replayed batch changed nothing: a newer batch of the day is current (and no
    /// other batch is on its way).
    Skipped { reason: String },
    /// A stage failed on its message's last receive (the message is now in the DLQ).
    Failed { reason: String },
}

/// The attempts of each stage run of a day, read before the replay is sent: the ledger
/// counts attempts over a batch's whole life, and only the replay's own count towards
/// its message's last receive.
pub type Attempts = HashMap<(BatchId, Stage), u32>;

/// The attempts of each of `runs`.
pub fn attempts(runs: &[StageRun]) -> Attempts {
    runs.iter().map(|r| ((r.batch_id.clone(), r.stage), r.attempts)).collect()
}

/// The days from `from` to `to`, in order; an error when `to` is before `from` or the
/// range is longer than `max_days`.
pub fn days_between(from: NaiveDate, to: NaiveDate, max_days: usize) -> anyhow::Result<Vec<NaiveDate>> {
    if to < from {
        anyhow::bail!("--to {to} is before --from {from}: give the earlier day first");
    }
    let days: Vec<NaiveDate> = from.iter_days().take_while(|d| *d <= to).take(max_days + 1).collect();
    if days.len() > max_days {
        anyhow::bail!("{from}..{to} is more than {max_days} days: replay it in parts");
    }
    Ok(days)
}

/// What the day's runs say about a replay sent at `since`, when the runs had the
/// attempts `before`: synced, failed for good, skipped, or not yet (`None`). Only runs
/// started at or after `since` (less [`CLOCK_SKEW`]) count, so the day's earlier runs
/// never answer for the replay. A failed run whose message will be received again is
/// not an end: the failure ends the day once its stage has failed on
/// [`MAX_RECEIVE_COUNT`] attempts since the replay, as its message then goes to the
/// DLQ. A skip ends it only when every fresh batch was skipped: a newer batch still on
/// its way may yet sync the day.
pub fn outcome(runs: &[StageRun], since: DateTime<Utc>, before: &Attempts) -> Option<DayOutcome> {
    let fresh: Vec<&StageRun> = runs.iter().filter(|r| r.started_at.is_some_and(|t| t >= since - CLOCK_SKEW)).collect();
    if let Some(end) = fresh
        .iter()
        .filter(|r| r.stage == Stage::Synced && r.status == RunStatus::Succeeded)
        .find_map(|r| r.finished_at)
    {
        return Some(DayOutcome::Synced { secs: (end - since).num_seconds().max(0) });
    }
    let since_replay =
        |r: &StageRun| r.attempts.saturating_sub(before.get(&(r.batch_id.clone(), r.stage)).copied().unwrap_or(0));
    if let Some(failed) = fresh.iter().find(|r| r.status == RunStatus::Failed && since_replay(r) >= MAX_RECEIVE_COUNT) {
        let why = failed.error.as_deref().unwrap_or("no error recorded");
        return Some(DayOutcome::Failed {
            reason: format!("{} of batch {} failed: {why}", failed.stage.as_str(), failed.batch_id),
        });
    }
    let skipped = |r: &&StageRun| fresh.iter().any(|s| s.batch_id == r.batch_id && s.status == RunStatus::Skipped);
    if !fresh.iter().all(skipped) {
        return None;
    }
    let skip = fresh.iter().find(|r| r.status == RunStatus::Skipped)?;
    let why = skip.error.as_deref().unwrap_or("a newer batch is current");
    Some(DayOutcome::Skipped { reason: format!("{} of batch {} skipped: {why}", skip.stage.as_str(), skip.batch_id) })
}

/// Polls the ledger until the day replayed at `since` is synced, failed for good or
/// skipped, or `timeout` passes (a failure saying so).
pub async fn follow(
    ledger: &dyn RunLedger,
    date: NaiveDate,
    since: DateTime<Utc>,
    before: &Attempts,
    timeout: Duration,
    poll: Duration,
) -> anyhow::Result<DayOutcome> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(outcome) = outcome(&ledger.runs_for_date(date).await?, since, before) {
            return Ok(outcome);
        }
        if tokio::time::Instant::now() >= deadline {
            return Ok(DayOutcome::Failed {
                reason: format!(
                    "not synced within {} s (`ppmt status --date {date}` shows where it is)",
                    timeout.as_secs()
                ),
            });
        }
        tokio::time::sleep(poll).await;
    }
}

/// Replays `days` in order with `send` (which sends one day and says what it sent),
/// printing a line per day through `print` and a progress bar on a terminal. With
/// `wait`, each day is followed to its end (for at most `wait`) before the next;
/// without, the days are sent `pause` apart. Returns the days that failed, with why.
pub async fn replay_days(
    days: &[NaiveDate],
    ledger: &dyn RunLedger,
    wait: Option<Duration>,
    pause: Duration,
    send: impl AsyncFn(NaiveDate) -> anyhow::Result<String>,
    mut print: impl FnMut(&str) -> anyhow::Result<()>,
) -> anyhow::Result<Vec<String>> {
    let style = indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} {msg}")
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
    let progress = indicatif::ProgressBar::new(days.len() as u64).with_style(style);
    let mut failures = Vec::new();
    for (i, day) in days.iter().copied().enumerate() {
        progress.set_message(format!("{day}: sending"));
        let before = match wait {
            Some(_) => attempts(&ledger.runs_for_date(day).await?),
            None => Attempts::new(),
        };
        let since = Utc::now();
        let line = match (send(day).await, wait) {
            (Err(e), _) => {
                failures.push(format!("{day}: {e:#}"));
                format!("{day}: not sent: {e:#}")
            }
            (Ok(sent), None) => sent,
            (Ok(_), Some(timeout)) => {
                progress.set_message(format!("{day}: waiting for synced"));
                match follow(ledger, day, since, &before, timeout, Duration::from_secs(1)).await? {
                    DayOutcome::Synced { secs } => format!("{day}: synced in {secs} s"),
                    DayOutcome::Skipped { reason } => format!("{day}: {reason}"),
                    DayOutcome::Failed { reason } => {
                        failures.push(format!("{day}: {reason}"));
                        format!("{day}: FAILED: {reason}")
                    }
                }
            }
        };
        progress.suspend(|| print(&line))?;
        progress.inc(1);
        if wait.is_none() && i + 1 < days.len() {
            tokio::time::sleep(pause).await;
        }
    }
    progress.finish_and_clear();
    Ok(failures)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ppmt_domain::{BatchId, StageCounts};

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-25T06:00:00Z").unwrap().with_timezone(&Utc)
            + chrono::Duration::seconds(secs)
    }

    fn run(stage: Stage, status: RunStatus, start: i64, end: Option<i64>) -> StageRun {
        StageRun {
            batch_id: BatchId("2026-11-25-b".into()),
            batch_date: NaiveDate::from_ymd_opt(2026, 11, 25).unwrap(),
            stage,
            status,
            attempts: 1,
            started_at: Some(at(start)),
            finished_at: end.map(at),
            counts: StageCounts::default(),
            error: None,
        }
    }

    #[test]
    fn only_runs_after_the_replay_answer_for_it() {
        let none = Attempts::new();
        let earlier = run(Stage::Synced, RunStatus::Succeeded, 0, Some(5));
        assert_eq!(outcome(std::slice::from_ref(&earlier), at(100), &none), None);
        let loading = run(Stage::Loaded, RunStatus::Running, 101, None);
        assert_eq!(outcome(&[earlier.clone(), loading], at(100), &none), None);
        let synced = run(Stage::Synced, RunStatus::Succeeded, 110, Some(112));
        assert_eq!(outcome(&[earlier, synced], at(100), &none), Some(DayOutcome::Synced { secs: 12 }));
    }

    #[test]
    fn a_ledger_host_with_a_slightly_slow_clock_still_answers() {
        let synced = run(Stage::Synced, RunStatus::Succeeded, 97, Some(99));
        assert_eq!(outcome(&[synced], at(100), &Attempts::new()), Some(DayOutcome::Synced { secs: 0 }));
    }

    #[test]
    fn a_stage_fails_the_day_only_on_its_last_receive_since_the_replay() {
        let failed = |attempts| StageRun {
            error: Some("boom".into()),
            attempts,
            ..run(Stage::Transformed, RunStatus::Failed, 105, Some(106))
        };
        // Two attempts before the replay, from the batch's first days.
        let before = attempts(&[failed(2)]);
        assert_eq!(outcome(&[failed(3)], at(100), &before), None, "retried: redelivered");
        assert_eq!(outcome(&[failed(MAX_RECEIVE_COUNT + 1)], at(100), &before), None, "not yet its last receive");
        assert_eq!(
            outcome(&[failed(MAX_RECEIVE_COUNT + 2)], at(100), &before),
            Some(DayOutcome::Failed { reason: "transformed of batch 2026-11-25-b failed: boom".into() })
        );
    }

    #[test]
    fn a_skip_ends_the_day_only_when_no_other_batch_is_on_its_way() {
        let none = Attempts::new();
        let skipped = StageRun {
            error: Some("2026-11-25-new is current".into()),
            ..run(Stage::Loaded, RunStatus::Skipped, 101, Some(102))
        };
        let ended = Some(DayOutcome::Skipped {
            reason: "loaded of batch 2026-11-25-b skipped: 2026-11-25-new is current".into(),
        });
        assert_eq!(outcome(std::slice::from_ref(&skipped), at(100), &none), ended);
        let newer = |stage, status, end| StageRun {
            batch_id: BatchId("2026-11-25-new".into()),
            ..run(stage, status, 103, end)
        };
        let newer_transformed = newer(Stage::Transformed, RunStatus::Succeeded, Some(104));
        assert_eq!(outcome(&[skipped.clone(), newer_transformed], at(100), &none), None, "the newer batch goes on");
        let newer_synced = newer(Stage::Synced, RunStatus::Succeeded, Some(110));
        assert_eq!(outcome(&[skipped, newer_synced], at(100), &none), Some(DayOutcome::Synced { secs: 10 }));
    }

    #[test]
    fn ranges_go_in_order_and_refuse_backwards_or_huge() {
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        let days = days_between(d("2026-02-27"), d("2026-03-01"), 366).unwrap();
        assert_eq!(
            days.iter().map(ToString::to_string).collect::<Vec<_>>(),
            ["2026-02-27", "2026-02-28", "2026-03-01"]
        );
        assert!(days_between(d("2026-03-01"), d("2026-02-27"), 366).unwrap_err().to_string().contains("before"));
        assert!(days_between(d("2025-01-01"), d("2026-03-01"), 366).unwrap_err().to_string().contains("in parts"));
    }

    #[tokio::test]
    async fn days_go_out_in_order_and_each_is_followed_or_named_as_failed() {
        let ledger = ppmt_platform::testing::MemoryLedger::default();
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        let days = [d("2026-11-23"), d("2026-11-24")];
        let mut lines = Vec::new();
        let send = async |day: NaiveDate| {
            anyhow::ensure!(day == days[0], "no manifest of {day}");
            Ok(format!("sent {day}"))
        };
        let failures = replay_days(&days, &ledger, None, Duration::ZERO, send, |l| {
            lines.push(l.to_owned());
            Ok(())
        })
        .await
        .unwrap();
        assert_eq!(lines, ["sent 2026-11-23", "2026-11-24: not sent: no manifest of 2026-11-24"]);
        assert_eq!(failures, ["2026-11-24: no manifest of 2026-11-24"]);

        // With --wait: a day is done when its `synced` run ends after it was sent.
        let synced_when_sent = async |day: NaiveDate| {
            let now = Utc::now();
            let run = StageRun {
                batch_date: day,
                started_at: Some(now),
                finished_at: Some(now),
                ..run(Stage::Synced, RunStatus::Succeeded, 0, None)
            };
            ledger.record_run(&run).await?;
            Ok(String::new())
        };
        let mut lines = Vec::new();
        let wait = Some(Duration::from_secs(5));
        let failures = replay_days(&days[..1], &ledger, wait, Duration::ZERO, synced_when_sent, |l| {
            lines.push(l.to_owned());
            Ok(())
        })
        .await
        .unwrap();
        assert_eq!((lines, failures), (vec!["2026-11-23: synced in 0 s".to_owned()], Vec::<String>::new()));
    }
}
