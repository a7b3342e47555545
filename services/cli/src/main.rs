//! Argument parsing and dispatch of `ppmt`; the work is in the library.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use chrono::{NaiveDate, Utc};
use clap::{Parser, Subcommand};
use ppmt_cli::demo::{run_demo, DemoOptions};
use ppmt_cli::ops::{self, StackEnv};
use ppmt_cli::{replay, report, status};
use ppmt_domain::topology::Topology;
use ppmt_domain::Stage;
use ppmt_platform::adapters::dynamodb::DynamoLedger;
use ppmt_platform::adapters::postgres::PostgresWarehouse;
use ppmt_platform::adapters::s3::S3Store;
use ppmt_platform::adapters::sns::SnsNotifier;
use ppmt_platform::aws::AwsClients;
use ppmt_platform::config::{Needs, ServiceConfig};
use ppmt_platform::ports::{RunLedger, Warehouse};
use ppmt_platform::wiring::Ports;

/// Operator CLI of the PPMT-AMP price pipeline.
#[derive(Debug, Parser)]
#[command(name = "ppmt", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create the stack's queues, topic, bucket, tables and warehouse schema (idempotent).
    Provision {
        /// The stack's name: every resource is named after it.
        #[arg(long, env = "PPMT_STACK", default_value = "ppmt-amp-local")]
        stack: String,
        /// Write the stack's environment (KEY=value lines) to this file [default: print it].
        #[arg(long)]
        env_file: Option<PathBuf>,
        /// PostgreSQL to apply the warehouse schema to [default: none].
        #[arg(long, env = "PPMT_DATABASE_URL")]
        database_url: Option<String>,
    },
    /// Each day's batches stage by stage (scraped, loaded, transformed, synced) with
    /// durations and errors, and the queue depths; exits non-zero when anything shown
    /// failed or is stale, a DLQ holds messages, or `--date`'s day has no batch.
    Status {
        /// Only this day (YYYY-MM-DD) [default: the last `--days` days].
        #[arg(long, conflicts_with = "days", value_parser = ops::parse_date)]
        date: Option<NaiveDate>,
        /// How many days back from today (UTC).
        #[arg(long, default_value_t = 7)]
        days: u32,
        /// Only the days with a failed or stale stage.
        #[arg(long)]
        failed: bool,
        /// `json`: `{"days": [{date, batches: [{batch_id, superseded, runs: [{…, stale,
        /// duration_secs}]}]}], "queues": [{consumer, waiting, in_flight, in_backoff,
        /// delayed, dead_letters}], "troubles": [text]}`.
        #[arg(long, value_enum, default_value_t = Output::Text)]
        output: Output,
    },
    /// The day's rows that did not become facts (rejected by the loader, quarantined by
    /// the transform, or duplicates), counted by source and reason, with a sample each.
    Rejects {
        /// The day (YYYY-MM-DD).
        #[arg(long, value_parser = ops::parse_date)]
        date: NaiveDate,
        /// Only this kind [default: all three].
        #[arg(long, value_parser = ["rejected", "quarantined", "duplicate"])]
        kind: Option<String>,
        /// Only this reason code, e.g. `NEGATIVE_PRICE` (any case) [default: all].
        #[arg(long)]
        reason: Option<String>,
        /// Only this source id [default: all].
        #[arg(long)]
        source: Option<String>,
        /// `text` (a table) or `json` (`{"date", "set_aside": [{kind, source_id,
        /// reason_code, rows, sample_file, sample_line, sample_detail}]}`).
        #[arg(long, value_enum, default_value_t = Output::Text)]
        output: Output,
    },
    /// Write a day's run report, one self-contained HTML file (inline CSS and SVG, no
    /// script): each batch's stage timeline, the newest scrape's sources, the rows set
    /// aside, and the biggest price movers with a 30-day price chart each.
    Report {
        /// The day (YYYY-MM-DD) [default: today, UTC].
        #[arg(long, value_parser = ops::parse_date)]
        date: Option<NaiveDate>,
        /// The HTML file to write (replaced if it exists).
        #[arg(long, default_value = "report.html")]
        out: PathBuf,
    },
    /// Re-run days from their manifests (the whole chain), or re-announce one finished
    /// stage (only the stages after it run); days go in order, paced, with progress.
    Replay {
        /// One day (YYYY-MM-DD; the same as `--from D --to D`).
        #[arg(long, conflicts_with_all = ["from", "to"], required_unless_present = "from", value_parser = ops::parse_date)]
        date: Option<NaiveDate>,
        /// The first day of a range (YYYY-MM-DD); goes with `--to`.
        #[arg(long, requires = "to", value_parser = ops::parse_date)]
        from: Option<NaiveDate>,
        /// The last day of a range (YYYY-MM-DD, at most 366 days after `--from`); goes
        /// with `--from`.
        #[arg(long, requires = "from", value_parser = ops::parse_date)]
        to: Option<NaiveDate>,
        /// Re-announce this finished stage instead of the manifest event [default: the
        /// manifest, so every stage runs again].
        #[arg(long, value_enum)]
        stage: Option<ReplayStage>,
        /// Follow each day in the run ledger until it ends (synced, failed on its last
        /// receive, or skipped for a newer batch) before the next, and exit non-zero if
        /// any day fails or has not ended within `--timeout-secs`.
        #[arg(long)]
        wait: bool,
        /// With `--wait`: how long one day may take.
        #[arg(long, default_value_t = 900)]
        timeout_secs: u64,
        /// Without `--wait`: seconds between two days' messages, so a long range does not
        /// flood the workers.
        #[arg(long, default_value_t = 2)]
        pause_secs: u64,
    },
    /// Inspect or redrive a consumer's dead-letter queue.
    Dlq {
        #[command(subcommand)]
        action: DlqAction,
    },
    /// Scrape a day now (as the daily schedule does).
    Scrape {
        /// The day (YYYY-MM-DD) [default: today, UTC].
        #[arg(long, value_parser = ops::parse_date)]
        date: Option<NaiveDate>,
        /// Only this source; the day's other files are kept [default: every source].
        #[arg(long)]
        source: Option<String>,
        /// The sources file.
        #[arg(long, env = "PPMT_SOURCES_FILE", default_value = "sources.toml")]
        sources: String,
    },
    /// Parse a past day again from the original documents in the lake, with no network,
    /// and write it as a new batch of the day (the chain then runs as for a scrape).
    Reparse {
        /// The day (YYYY-MM-DD).
        #[arg(long, value_parser = ops::parse_date)]
        date: NaiveDate,
        /// Only this source; the others' files are kept [default: every source].
        #[arg(long)]
        source: Option<String>,
        /// The sources file.
        #[arg(long, env = "PPMT_SOURCES_FILE", default_value = "sources.toml")]
        sources: String,
    },
    /// Run the loader, transformer and syncer in worker mode on the stack in the
    /// environment until Ctrl-C or SIGTERM (`kill %1` after `./ppmt workers &`), as Lambda
    /// runs them on AWS (replays need them).
    Workers {
        /// Where the workers' logs go (`loader.log`, …).
        #[arg(long, default_value = ".local/logs")]
        log_dir: PathBuf,
    },
    /// Run the whole pipeline once on the local stack with the bundled demo sources.
    Demo {
        /// The stack to provision and run on.
        #[arg(long, default_value = "ppmt-amp-demo")]
        stack: String,
        /// The day to scrape (YYYY-MM-DD; the demo sources are dated 2026-11-25).
        #[arg(long, default_value = "2026-11-25", value_parser = ops::parse_date)]
        date: NaiveDate,
        /// The demo sources: `sources.toml` and the `site/` it is served from.
        #[arg(long, default_value = "e2e/fixtures/demo")]
        fixtures: PathBuf,
        /// The PostgreSQL warehouse.
        #[arg(long, env = "PPMT_DATABASE_URL")]
        database_url: String,
        /// Where the workers' logs go.
        #[arg(long, default_value = ".local/logs")]
        log_dir: PathBuf,
        /// Where the stack's environment is written, for the `ppmt` commands after it.
        #[arg(long, default_value = ".local/demo.env")]
        env_file: PathBuf,
        /// How long the batch may take to reach `synced`.
        #[arg(long, default_value_t = 180)]
        timeout_secs: u64,
    },
}

/// How a reading command prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Output {
    /// Tables for people.
    Text,
    /// One JSON document, for scripts.
    Json,
}

/// A consumer with a queue and a dead-letter queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Consumer {
    Loader,
    Transformer,
    Syncer,
}

impl Consumer {
    fn name(self) -> &'static str {
        match self {
            Consumer::Loader => "loader",
            Consumer::Transformer => "transformer",
            Consumer::Syncer => "syncer",
        }
    }
}

/// A finished stage that `replay --stage` can announce again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum ReplayStage {
    /// Transform and sync again.
    Loaded,
    /// Sync again.
    Transformed,
}

impl ReplayStage {
    fn stage(self) -> Stage {
        match self {
            ReplayStage::Loaded => Stage::Loaded,
            ReplayStage::Transformed => Stage::Transformed,
        }
    }
}

/// Writes a line to stdout; a reader that went away (`ppmt … | head`) ends the command
/// quietly instead of panicking.
fn emit(text: impl std::fmt::Display) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{text}").and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
        written => Ok(written?),
    }
}

#[derive(Debug, Subcommand)]
enum DlqAction {
    /// List the messages in a consumer's DLQ: what each is about (the batch and its
    /// date), its receive count and last error; nothing is consumed.
    List {
        /// Whose dead-letter queue.
        #[arg(long, value_enum)]
        queue: Consumer,
        /// `json`: `[{message_id, consumer, about, body, receive_count, sent_at, age_secs,
        /// last_error}]`.
        #[arg(long, value_enum, default_value_t = Output::Text)]
        output: Output,
    },
    /// One dead letter in full: what it is about, its last error and its whole body.
    Show {
        /// Whose dead-letter queue.
        #[arg(long, value_enum)]
        queue: Consumer,
        /// The message id, as `dlq list` shows it.
        message_id: String,
        /// `json`: the message as in `dlq list`, its body decoded when it is JSON.
        #[arg(long, value_enum, default_value_t = Output::Text)]
        output: Output,
    },
    /// Move one message (or all) back to the consumer's queue; the others stay listed.
    Replay {
        /// Whose dead-letter queue.
        #[arg(long, value_enum)]
        queue: Consumer,
        /// Only this message [default: all of them].
        #[arg(long)]
        message_id: Option<String>,
    },
    /// Delete the dead letters older than an age, after confirmation.
    Purge {
        /// Whose dead-letter queue.
        #[arg(long, value_enum)]
        queue: Consumer,
        /// Only messages first sent at least this long ago: a whole number and a unit,
        /// `s` (seconds), `m` (minutes), `h` (hours) or `d` (days), e.g. `7d` (`0s` for
        /// all).
        #[arg(long, value_parser = ops::parse_age)]
        older_than: Duration,
        /// Do not ask: needed when the input is not a terminal.
        #[arg(long)]
        yes: bool,
    },
}

/// Asks a yes/no question on the terminal; without one, the answer is no.
fn confirm(question: &str) -> anyhow::Result<bool> {
    use std::io::IsTerminal;
    if !std::io::stdin().is_terminal() {
        anyhow::bail!("{question} Refused: the input is not a terminal; pass --yes to confirm");
    }
    eprint!("{question} [y/N] ");
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    ppmt_platform::telemetry::init("ppmt", "warn");
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // One line: what was being done, down to the root cause, and what to do. A
            // cause already quoted by the error above it is not repeated.
            let mut text = String::new();
            for cause in e.chain().map(|c| c.to_string().replace('\n', " ")) {
                if !text.contains(&cause) {
                    text = if text.is_empty() { cause } else { format!("{text}: {cause}") };
                }
            }
            let hint = match std::env::var("AWS_ENDPOINT_URL") {
                Ok(url) if text.contains("could not reach the endpoint") => {
                    format!(" (AWS_ENDPOINT_URL is {url}: is the local stack up? `make up` starts it)")
                }
                _ if text.contains("ResourceNotFoundException") || text.contains("NonExistentQueue") => {
                    " (the stack is not on this endpoint: `ppmt provision`, or `make demo` for the demo stack, creates it)"
                        .to_owned()
                }
                _ => String::new(),
            };
            eprintln!("error: {text}{hint}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let clients = AwsClients::from_env().await;
    // Without a region every request fails as if the endpoint could not be reached.
    if clients.sqs.config().region().is_none() {
        anyhow::bail!(
            "no AWS region: set AWS_REGION (`./ppmt` loads it from .local/local.env; on AWS, the stack's region)"
        );
    }
    let env = StackEnv::new(std::env::vars().collect::<BTreeMap<_, _>>());
    let ledger = || -> anyhow::Result<DynamoLedger> {
        Ok(DynamoLedger { client: clients.dynamodb.clone(), table: env.get("PPMT_LEDGER_TABLE")?.to_owned() })
    };
    let warehouse = || -> anyhow::Result<Arc<dyn Warehouse>> {
        let config = ServiceConfig::from_env(Needs { warehouse: true, queue: false })?;
        Ports::build(&config, &clients)
            .warehouse
            .context("no warehouse: set PPMT_DATABASE_URL or the PPMT_REDSHIFT_* variables")
    };
    match cli.command {
        Command::Provision { stack, env_file, database_url } => {
            let provisioned = ppmt_platform::provision::provision(&clients, &Topology::for_stack(&stack)).await?;
            if let Some(url) = database_url {
                PostgresWarehouse { url }.apply_schema().await?;
            }
            let mut text = String::new();
            for (k, v) in provisioned.env() {
                text.push_str(&format!("{k}={v}\n"));
            }
            match env_file {
                Some(path) => {
                    if let Some(dir) = path.parent() {
                        std::fs::create_dir_all(dir)?;
                    }
                    std::fs::write(&path, text).with_context(|| format!("write {}", path.display()))?;
                    emit(format!("stack {stack} provisioned; environment in {}", path.display()))?;
                }
                None => emit(text.trim_end())?,
            }
        }
        Command::Status { date, days, failed, output } => {
            let now = Utc::now();
            let dates = match date {
                Some(d) => vec![d],
                None => status::days_back(now.date_naive(), days),
            };
            let ledger = ledger()?;
            let mut in_view = Vec::new();
            for d in dates {
                in_view.push(status::day_status(d, &ledger.runs_for_date(d).await?, now));
            }
            let queues = status::queue_depths(&clients, &env, &in_view).await?;
            let shown: Vec<_> = in_view.into_iter().filter(|day| !failed || status::has_trouble(day)).collect();
            let troubles = status::troubles(&shown, &queues, date.is_some());
            match output {
                Output::Json => emit(serde_json::json!({ "days": shown, "queues": queues, "troubles": troubles }))?,
                Output::Text => emit(status::render(&shown, &queues).trim_end())?,
            }
            if !troubles.is_empty() {
                anyhow::bail!("{} thing(s) need an operator: {}", troubles.len(), troubles.join("; "));
            }
        }
        Command::Rejects { date, kind, reason, source, output } => {
            let wanted =
                |value: &str, filter: &Option<String>| filter.as_ref().is_none_or(|f| f.eq_ignore_ascii_case(value));
            let rows: Vec<_> = warehouse()?
                .set_aside(date)
                .await?
                .into_iter()
                .filter(|r| wanted(&r.kind, &kind) && wanted(&r.reason_code, &reason) && wanted(&r.source_id, &source))
                .collect();
            match output {
                Output::Json => emit(serde_json::json!({ "date": date, "set_aside": rows }))?,
                Output::Text => emit(ops::render_set_aside(date, &rows).trim_end())?,
            }
        }
        Command::Report { date, out } => {
            let date = date.unwrap_or_else(|| Utc::now().date_naive());
            let data = report::gather(&ledger()?, warehouse()?.as_ref(), date).await?;
            std::fs::write(&out, report::render_report(&data)).with_context(|| format!("write {}", out.display()))?;
            emit(format!(
                "report of {date} written to {}: {} stage run(s), {} mover(s)",
                out.display(),
                data.runs.len(),
                data.movers.len()
            ))?;
        }
        Command::Replay { date, from, to, stage, wait, timeout_secs, pause_secs } => {
            let (from, to) = match (date, from, to) {
                (Some(d), _, _) => (d, d),
                (None, Some(from), Some(to)) => (from, to),
                _ => anyhow::bail!("give --date D, or --from D1 --to D2"),
            };
            let days = replay::days_between(from, to, 366)?;
            let ledger = ledger()?;
            let send = async |day| match stage {
                None => ops::replay_day(&clients, &env, day).await,
                Some(stage) => {
                    let topic_arn = env.get("PPMT_STAGE_TOPIC_ARN")?.to_owned();
                    let notifier = SnsNotifier { client: clients.sns.clone(), topic_arn };
                    ops::replay_stage(&ledger, &notifier, &env, day, stage.stage()).await
                }
            };
            let wait = wait.then(|| Duration::from_secs(timeout_secs));
            let pause = Duration::from_secs(pause_secs);
            let failures = replay::replay_days(&days, &ledger, wait, pause, send, |line| emit(line)).await?;
            if !failures.is_empty() {
                anyhow::bail!("{} of {} day(s) failed: {}", failures.len(), days.len(), failures.join("; "));
            }
        }
        Command::Dlq { action: DlqAction::List { queue, output } } => {
            let letters = ops::list_dead_letters(&clients, &ledger()?, env.queue_url(queue.name(), true)?).await?;
            let now = Utc::now();
            match output {
                Output::Json => {
                    emit(serde_json::Value::Array(letters.iter().map(|l| l.to_json(queue.name(), now)).collect()))?
                }
                Output::Text => {
                    emit(format!("{} message(s) in the {} DLQ", letters.len(), queue.name()))?;
                    for l in letters {
                        emit(l.render(now))?;
                    }
                }
            }
        }
        Command::Dlq { action: DlqAction::Show { queue, message_id, output } } => {
            let consumer = queue.name();
            let letters = ops::list_dead_letters(&clients, &ledger()?, env.queue_url(consumer, true)?).await?;
            let letter = letters.into_iter().find(|l| l.message_id == message_id).with_context(|| {
                format!("no message {message_id} in the {consumer} DLQ (`ppmt dlq list --queue {consumer}`)")
            })?;
            let now = Utc::now();
            match output {
                Output::Json => {
                    let mut value = letter.to_json(consumer, now);
                    if let Ok(body) = serde_json::from_str::<serde_json::Value>(&letter.body) {
                        value["body"] = body;
                    }
                    emit(value)?
                }
                Output::Text => emit(format!("{}\nbody:\n{}", letter.render(now), letter.body))?,
            }
        }
        Command::Dlq { action: DlqAction::Replay { queue, message_id } } => {
            emit(ops::redrive(&clients, &ledger()?, &env, queue.name(), message_id.as_deref()).await?)?;
        }
        Command::Dlq { action: DlqAction::Purge { queue, older_than, yes } } => {
            let consumer = queue.name();
            let dlq = env.queue_url(consumer, true)?;
            let ledger = ledger()?;
            let chosen = ops::purge_candidates(&clients, &ledger, dlq, older_than, Utc::now()).await?;
            if chosen.is_empty() {
                emit(format!("no dead letter in the {consumer} DLQ is that old; nothing deleted"))?;
                return Ok(());
            }
            let now = Utc::now();
            for l in &chosen {
                emit(l.render(now))?;
            }
            let question = format!("delete these {} message(s) from the {consumer} DLQ for good?", chosen.len());
            if !yes && !confirm(&question)? {
                anyhow::bail!("nothing deleted: not confirmed (answer `y`, or pass --yes)");
            }
            let deleted = ops::purge(&clients, &ledger, dlq, &chosen).await?;
            emit(format!("deleted {deleted} message(s) from the {consumer} DLQ"))?;
        }
        Command::Scrape { date, source, sources } => {
            let date = date.unwrap_or_else(|| Utc::now().date_naive());
            // Before any work: a missing ledger table must not leave an unrecorded batch,
            // and a sources file that cannot be used must not record a failed one.
            let ledger = ledger()?;
            let store = S3Store { client: clients.s3.clone() };
            let vars: BTreeMap<String, String> = std::env::vars().collect();
            let chosen = ppmt_scraper::read_sources(&sources, source.as_deref(), &vars)?;
            let started_at = Utc::now();
            let outcome = ppmt_scraper::scrape_sources(
                &store,
                env.get("PPMT_RAW_BUCKET")?,
                &chosen,
                date,
                source.is_some(),
                &vars,
            )
            .await;
            ppmt_scraper::record_scrape(&ledger, date, started_at, &outcome).await;
            let (manifest, metadata) = outcome?;
            emit(format!("batch {} for {date}: {}", manifest.batch_id, manifest.file_summary()))?;
            emit(serde_json::to_string_pretty(&metadata.sources)?)?;
            let troubled = metadata.troubled_sources();
            if !troubled.is_empty() {
                anyhow::bail!(
                    "the batch was written, but {} source(s) need attention: {}",
                    troubled.len(),
                    troubled.join("; ")
                );
            }
        }
        Command::Reparse { date, source, sources } => {
            let ledger = ledger()?;
            let store = S3Store { client: clients.s3.clone() };
            let vars: BTreeMap<String, String> = std::env::vars().collect();
            let chosen = ppmt_scraper::read_sources(&sources, source.as_deref(), &vars)?;
            let bucket = env.get("PPMT_RAW_BUCKET")?;
            let started_at = Utc::now();
            let outcome = ppmt_scraper::reparse_sources(&store, bucket, chosen, date, source.as_deref(), &vars).await;
            ppmt_scraper::record_scrape(&ledger, date, started_at, &outcome).await;
            let (manifest, _) = outcome?;
            emit(format!(
                "batch {} for {date} parsed again from the lake: {}",
                manifest.batch_id,
                manifest.file_summary()
            ))?;
        }
        Command::Workers { log_dir } => {
            let vars: BTreeMap<String, String> = std::env::vars().collect();
            let mut workers = Vec::new();
            for name in ppmt_cli::demo::CONSUMERS {
                workers.push(ppmt_cli::demo::spawn_worker(name, &vars, &log_dir)?);
            }
            emit(format!(
                "loader, transformer and syncer are running on {} (logs in {}); Ctrl-C or SIGTERM (`kill %1` \
                 when started with `&`) stops them",
                env.get("PPMT_STACK")?,
                log_dir.display()
            ))?;
            ppmt_platform::worker::shutdown_signal().await;
            for worker in workers {
                worker.stop().await?;
            }
        }
        Command::Demo { stack, date, fixtures, database_url, log_dir, env_file, timeout_secs } => {
            let options = DemoOptions {
                stack,
                date,
                fixtures,
                database_url,
                log_dir,
                env_file,
                timeout: Duration::from_secs(timeout_secs),
            };
            emit(run_demo(&clients, &options).await?)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn every_date_flag_names_its_format_in_its_help_and_its_error() {
        let cli = Cli::command();
        let mut checked = Vec::new();
        for sub in cli.get_subcommands() {
            for arg in sub.get_arguments().filter(|a| ["date", "from", "to"].contains(&a.get_id().as_str())) {
                let flag = format!("--{}", arg.get_id());
                let help = arg.get_help().map(ToString::to_string).unwrap_or_default();
                assert!(help.contains("(YYYY-MM-DD"), "{} {flag}: {help}", sub.get_name());
                let err = Cli::try_parse_from(["ppmt", sub.get_name(), &flag, "25.11.2026"]).unwrap_err();
                assert!(err.to_string().contains("`25.11.2026` is not a date: use YYYY-MM-DD"), "{err}");
                checked.push(format!("{} {flag}", sub.get_name()));
            }
        }
        assert_eq!(checked.len(), 9, "{checked:?}");
    }
}
