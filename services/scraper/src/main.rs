//! Wiring of the scraper: under Lambda it answers the daily EventBridge schedule (the
//! event's `time` gives the day), an on-demand `{"date": "YYYY-MM-DD"}`, or the
//! morning freshness check `{"check": "freshness"}`; elsewhere it scrapes the day given
//! on the command line (`ppmt scrape` does the same) and exits non-zero when a source
//! failed, stopped early or returned nothing, after writing the batch of the others.
//! Each scrape is recorded in the run ledger and emits `SourcesScraped` and
//! `SourceFailures` metrics.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use clap::Parser;
use ppmt_domain::Stage;
use ppmt_platform::adapters::dynamodb::DynamoLedger;
use ppmt_platform::adapters::s3::S3Store;
use ppmt_platform::aws::AwsClients;
use ppmt_platform::config::{vars, EnvReader};
use ppmt_platform::error::PortError;
use ppmt_platform::metrics::{self, Metric};
use ppmt_platform::ports::{RunLedger, RunStatus, StageRun};

/// Scrape one day of prices into the raw bucket.
#[derive(Debug, Parser)]
struct Args {
    /// Day to scrape (default: today, UTC).
    #[arg(long)]
    date: Option<NaiveDate>,
    /// Only this source.
    #[arg(long)]
    source: Option<String>,
    /// The sources file (default: $PPMT_SOURCES_FILE, else sources.toml).
    #[arg(long)]
    sources: Option<String>,
}

/// Where a scrape writes: the raw bucket, and the run ledger it reports to.
struct Stack {
    bucket: String,
    ledger: DynamoLedger,
}

async fn scrape(
    date: NaiveDate,
    only: Option<&str>,
    sources_path: &str,
    env: &BTreeMap<String, String>,
    stack: &Stack,
    clients: &AwsClients,
) -> anyhow::Result<Scraped> {
    let store = S3Store { client: clients.s3.clone() };
    let started_at = Utc::now();
    let outcome = ppmt_scraper::scrape_from_file(&store, &stack.bucket, sources_path, date, only, env).await;
    ppmt_scraper::record_scrape(&stack.ledger, date, started_at, &outcome).await;
    let sources = match &outcome {
        Ok((_, metadata)) => metadata.sources.iter().map(|s| s.health()).collect(),
        Err(ppmt_scraper::ScrapeError::NothingScraped { sources, .. }) => sources.clone(),
        Err(_) => Vec::new(),
    };
    let failures = sources.iter().filter(|s| s.troubled()).count() as u64;
    metrics::emit(
        "scraper",
        &[("batch_date", &date.to_string())],
        &[
            Metric::count("SourcesScraped", sources.len() as u64),
            Metric::count("SourceFailures", failures.max(u64::from(outcome.is_err()))),
        ],
    );
    let (manifest, metadata) = outcome?;
    Ok(Scraped {
        summary: format!("batch {} for {date}: {}", manifest.batch_id, manifest.file_summary()),
        troubled: metadata.troubled_sources(),
    })
}

/// Whether `date` has a batch whose `synced` stage succeeded, as the morning freshness
/// check asks (the schedule invokes the Lambda with `{"check": "freshness"}`): emits
/// `DaySynced` 1 or 0, which the template's freshness alarm watches; 0 too when the
/// ledger cannot be read, so the alarm fires instead of missing a data point.
async fn check_freshness(ledger: &dyn RunLedger, date: NaiveDate) -> anyhow::Result<serde_json::Value> {
    let (synced, answer) = freshness(date, ledger.runs_for_date(date).await);
    metrics::emit("scraper", &[("batch_date", &date.to_string())], &[Metric::count("DaySynced", u64::from(synced))]);
    if !synced && answer.is_ok() {
        tracing::error!(%date, "the day is not synced yet (`ppmt status --date {date}` shows why)");
    }
    answer
}

/// The `DaySynced` value of the day and the check's answer, from the day's runs as the
/// ledger gave them: not synced, and the error, when they could not be read.
fn freshness(date: NaiveDate, runs: Result<Vec<StageRun>, PortError>) -> (bool, anyhow::Result<serde_json::Value>) {
    let synced = runs.as_deref().is_ok_and(day_synced);
    let answer = match runs {
        Ok(_) => Ok(serde_json::json!({ "date": date, "synced": synced })),
        Err(e) => Err(anyhow::Error::new(e).context(format!("check that {date} is synced"))),
    };
    (synced, answer)
}

/// Whether a batch of the day reached `synced`.
fn day_synced(runs: &[StageRun]) -> bool {
    runs.iter().any(|r| r.stage == Stage::Synced && r.status == RunStatus::Succeeded)
}

/// What a scrape wrote, and the sources that need an operator.
struct Scraped {
    summary: String,
    troubled: Vec<String>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    ppmt_platform::telemetry::init("scraper", "info");
    let mut env = EnvReader::from_process();
    let bucket = env.required(vars::RAW_BUCKET);
    let ledger_table = env.required(vars::LEDGER_TABLE);
    let sources_path = env.optional("PPMT_SOURCES_FILE").unwrap_or_else(|| "sources.toml".into());
    let in_lambda = env.optional(vars::LAMBDA_RUNTIME_API).is_some();
    let vars = env.vars().clone();
    env.finish()?;
    let clients = AwsClients::from_env().await;
    let stack = Stack { bucket, ledger: DynamoLedger { client: clients.dynamodb.clone(), table: ledger_table } };
    if in_lambda {
        let service = lambda_runtime::service_fn(|event: lambda_runtime::LambdaEvent<serde_json::Value>| {
            let (stack, sources_path, vars, clients) = (&stack, &sources_path, &vars, &clients);
            async move {
                let payload = event.payload;
                if payload.get("check").and_then(|c| c.as_str()) == Some("freshness") {
                    let today = Utc::now().date_naive();
                    return check_freshness(&stack.ledger, today).await.map_err(|e| format!("{e:#}").into());
                }
                let date = match payload.get("date").and_then(|d| d.as_str()) {
                    Some(d) => NaiveDate::parse_from_str(d, "%Y-%m-%d")?,
                    None => payload
                        .get("time")
                        .and_then(|t| t.as_str())
                        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                        .map(|t| t.with_timezone(&Utc).date_naive())
                        .unwrap_or_else(|| Utc::now().date_naive()),
                };
                let only = payload.get("source").and_then(|s| s.as_str());
                // A troubled source does not fail the invocation: a retry would scrape
                // the whole day again. It is reported in the result and in metadata.json.
                let scraped =
                    scrape(date, only, sources_path, vars, stack, clients).await.map_err(|e| format!("{e:#}"))?;
                Ok::<_, lambda_runtime::Error>(
                    serde_json::json!({ "result": scraped.summary, "troubled_sources": scraped.troubled }),
                )
            }
        });
        lambda_runtime::run(service).await.map_err(|e| anyhow::anyhow!(e))
    } else {
        let args = Args::parse();
        let date = args.date.unwrap_or_else(|| Utc::now().date_naive());
        let path = args.sources.unwrap_or(sources_path);
        let scraped = scrape(date, args.source.as_deref(), &path, &vars, &stack, &clients).await?;
        println!("{}", scraped.summary);
        if !scraped.troubled.is_empty() {
            anyhow::bail!(
                "the batch was written, but {} source(s) need attention (see metadata.json): {}",
                scraped.troubled.len(),
                scraped.troubled.join("; ")
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ppmt_domain::{BatchId, StageCounts};

    #[test]
    fn a_day_is_fresh_once_a_batch_is_synced() {
        let run = |stage, status| StageRun {
            batch_id: BatchId("2026-11-25-b".into()),
            batch_date: NaiveDate::from_ymd_opt(2026, 11, 25).unwrap_or_default(),
            stage,
            status,
            attempts: 1,
            started_at: None,
            finished_at: None,
            counts: StageCounts::default(),
            error: None,
        };
        assert!(!day_synced(&[]));
        assert!(!day_synced(&[run(Stage::Scraped, RunStatus::Succeeded), run(Stage::Synced, RunStatus::Failed)]));
        assert!(day_synced(&[run(Stage::Synced, RunStatus::Running), run(Stage::Synced, RunStatus::Succeeded)]));
    }

    #[test]
    fn an_unreadable_ledger_reports_the_day_not_synced_and_fails_the_check() {
        let date = NaiveDate::from_ymd_opt(2026, 11, 25).unwrap_or_default();
        let (synced, answer) = freshness(date, Err(PortError::transient("query the ledger", "timed out")));
        assert!(!synced, "DaySynced 0: the alarm fires");
        let err = format!("{:#}", answer.unwrap_err());
        assert!(err.starts_with("check that 2026-11-25 is synced: failed to query the ledger: timed out"), "{err}");
        let (synced, answer) = freshness(date, Ok(Vec::new()));
        assert_eq!((synced, answer.unwrap()), (false, serde_json::json!({ "date": date, "synced": false })));
    }
}
