//! `ppmt replay --from D1 --to D2 [--stage S] [--wait]`: days re-run in order, paced,
//! with a progress bar; with `--wait`, each day is followed in the run ledger to
//! `synced` before the next is sent, and any day that fails makes the command fail.

use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use ppmt_domain::Stage;
use ppmt_platform::ports::{RunLedger, RunStatus, StageRun};

/// How a replayed day ended, as far as the ledger says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DayOutcome {
    /// `synced` succeeded after the replay was sent, in this many seconds.
    Synced { secs: i64 },
    /// A stage failed after the replay was sent.
    Failed { reason: String },
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

/// What the day's runs say about a replay sent at `since`: synced, failed, or not yet
/// (`None`). Only runs started at or after `since` count, so the day's earlier runs never
/// answer for the replay.
pub fn outcome(runs: &[StageRun], since: DateTime<Utc>) -> Option<DayOutcome> {
    let fresh = |r: &&StageRun| r.started_at.is_some_and(|t| t >= since);
    if let Some(failed) = runs.iter().filter(fresh).find(|r| r.status == RunStatus::Failed) {
        let why = failed.error.as_deref().unwrap_or("no error recorded");
        return Some(DayOutcome::Failed {
            reason: format!("{} of batch {} failed: {why}", failed.stage.as_str(), failed.batch_id),
        });
    }
    runs.iter()
        .filter(fresh)
        .filter(|r| r.stage == Stage::Synced && r.status == RunStatus::Succeeded)
        .find_map(|r| r.finished_at)
        .map(|end| DayOutcome::Synced { secs: (end - since).num_seconds() })
}

/// Polls the ledger until the day replayed at `since` is synced or failed, or `timeout`
/// passes (a failure saying so).
pub async fn follow(
    ledger: &dyn RunLedger,
    date: NaiveDate,
    since: DateTime<Utc>,
    timeout: Duration,
    poll: Duration,
) -> anyhow::Result<DayOutcome> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(outcome) = outcome(&ledger.runs_for_date(date).await?, since) {
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
/// `wait`, each day is followed to `synced` (for at most `wait`) before the next;
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
        let since = Utc::now();
        let line = match (send(day).await, wait) {
            (Err(e), _) => {
                failures.push(format!("{day}: {e:#}"));
                format!("{day}: not sent: {e:#}")
            }
            (Ok(sent), None) => sent,
            (Ok(_), Some(timeout)) => {
                progress.set_message(format!("{day}: waiting for synced"));
                match follow(ledger, day, since, timeout, Duration::from_secs(1)).await? {
                    DayOutcome::Synced { secs } => format!("{day}: synced in {secs} s"),
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
        let earlier = run(Stage::Synced, RunStatus::Succeeded, 0, Some(5));
        assert_eq!(outcome(std::slice::from_ref(&earlier), at(100)), None);
        let loading = run(Stage::Loaded, RunStatus::Running, 101, None);
        assert_eq!(outcome(&[earlier.clone(), loading], at(100)), None);
        let synced = run(Stage::Synced, RunStatus::Succeeded, 110, Some(112));
        assert_eq!(outcome(&[earlier, synced], at(100)), Some(DayOutcome::Synced { secs: 12 }));
    }

    #[test]
    fn a_failed_stage_fails_the_day_with_its_error() {
        let failed =
            StageRun { error: Some("boom".into()), ..run(Stage::Transformed, RunStatus::Failed, 105, Some(106)) };
        assert_eq!(
            outcome(&[failed], at(100)),
            Some(DayOutcome::Failed { reason: "transformed of batch 2026-11-25-b failed: boom".into() })
        );
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
