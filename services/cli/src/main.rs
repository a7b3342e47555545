//! Argument parsing and dispatch of `ppmt`; the work is in the library.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use chrono::{NaiveDate, Utc};
use clap::{Parser, Subcommand};
use ppmt_cli::demo::{run_demo, DemoOptions};
use ppmt_cli::ops::{self, StackEnv};
use ppmt_domain::topology::Topology;
use ppmt_domain::Stage;
use ppmt_platform::adapters::dynamodb::DynamoLedger;
use ppmt_platform::adapters::postgres::PostgresWarehouse;
use ppmt_platform::adapters::s3::S3Store;
use ppmt_platform::adapters::sns::SnsNotifier;
use ppmt_platform::aws::AwsClients;
use ppmt_platform::config::{Needs, ServiceConfig};
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
        #[arg(long, env = "PPMT_STACK", default_value = "ppmt-amp-local")]
        stack: String,
        /// Write the stack's environment (KEY=value lines) to this file.
        #[arg(long)]
        env_file: Option<PathBuf>,
        /// PostgreSQL to apply the warehouse schema to.
        #[arg(long, env = "PPMT_DATABASE_URL")]
        database_url: Option<String>,
    },
    /// Show each batch's stages for a day, from the run ledger; exits non-zero when no
    /// batch is recorded or a stage failed or is stale.
    Status {
        /// The day (default: today, UTC).
        #[arg(long)]
        date: Option<NaiveDate>,
        /// `text` (a table) or `json` (`{"date", "runs": [{…, "stale"}]}`).
        #[arg(long, value_enum, default_value_t = Output::Text)]
        output: Output,
    },
    /// The day's rows that did not become facts (rejected by the loader, quarantined by
    /// the transform, or duplicates), counted by source and reason, with a sample each.
    Rejects {
        #[arg(long)]
        date: NaiveDate,
        /// Only this kind.
        #[arg(long, value_parser = ["rejected", "quarantined", "duplicate"])]
        kind: Option<String>,
        /// Only this reason code, e.g. `NEGATIVE_PRICE` (any case).
        #[arg(long)]
        reason: Option<String>,
        /// Only this source.
        #[arg(long)]
        source: Option<String>,
        /// `text` (a table) or `json` (`{"date", "set_aside": [{kind, source_id,
        /// reason_code, rows, sample_file, sample_line, sample_detail}]}`).
        #[arg(long, value_enum, default_value_t = Output::Text)]
        output: Output,
    },
    /// Re-run a day from its manifest, or re-announce one finished stage.
    Replay {
        #[arg(long)]
        date: NaiveDate,
        /// Re-publish this finished stage (`loaded` or `transformed`) instead of the manifest event.
        #[arg(long)]
        stage: Option<String>,
    },
    /// Inspect or redrive a consumer's dead-letter queue.
    Dlq {
        #[command(subcommand)]
        action: DlqAction,
    },
    /// Scrape a day now (as the daily schedule does).
    Scrape {
        #[arg(long)]
        date: Option<NaiveDate>,
        #[arg(long)]
        source: Option<String>,
        #[arg(long, env = "PPMT_SOURCES_FILE", default_value = "sources.toml")]
        sources: String,
    },
    /// Parse a past day again from the original documents in the lake, with no network,
    /// and write it as a new batch of the day (the chain then runs as for a scrape).
    Reparse {
        #[arg(long)]
        date: NaiveDate,
        /// Only this source; the others' files are kept.
        #[arg(long)]
        source: Option<String>,
        #[arg(long, env = "PPMT_SOURCES_FILE", default_value = "sources.toml")]
        sources: String,
    },
    /// Run the whole pipeline once on the local stack with the bundled demo sources.
    Demo {
        #[arg(long, default_value = "ppmt-amp-demo")]
        stack: String,
        /// The demo sources are dated 2026-11-25.
        #[arg(long, default_value = "2026-11-25")]
        date: NaiveDate,
        #[arg(long, default_value = "e2e/fixtures/demo")]
        fixtures: PathBuf,
        #[arg(long, env = "PPMT_DATABASE_URL")]
        database_url: String,
        #[arg(long, default_value = ".local/logs")]
        log_dir: PathBuf,
        #[arg(long, default_value_t = 180)]
        timeout_secs: u64,
    },
}

/// How a reading command prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Output {
    Text,
    Json,
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
        /// The consumer: `loader`, `transformer` or `syncer`.
        #[arg(long)]
        queue: String,
        /// `text` or `json` (`[{message_id, body, receive_count, last_error, about}]`).
        #[arg(long, value_enum, default_value_t = Output::Text)]
        output: Output,
    },
    /// One dead letter in full: what it is about, its last error and its whole body.
    Show {
        #[arg(long)]
        queue: String,
        /// The message id, as `dlq list` shows it.
        message_id: String,
    },
    /// Move one message (or all) back to the consumer's queue.
    Replay {
        #[arg(long)]
        queue: String,
        #[arg(long)]
        message_id: Option<String>,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    ppmt_platform::telemetry::init("ppmt", "warn");
    let cli = Cli::parse();
    let clients = AwsClients::from_env().await;
    let env = StackEnv::new(std::env::vars().collect::<BTreeMap<_, _>>());
    let ledger = || -> anyhow::Result<DynamoLedger> {
        Ok(DynamoLedger { client: clients.dynamodb.clone(), table: env.get("PPMT_LEDGER_TABLE")?.to_owned() })
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
        Command::Status { date, output } => {
            let date = date.unwrap_or_else(|| Utc::now().date_naive());
            let runs = ppmt_platform::ports::RunLedger::runs_for_date(&ledger()?, date).await?;
            let now = chrono::Utc::now();
            match output {
                Output::Json => emit(ops::runs_json(date, &runs, now))?,
                Output::Text if runs.is_empty() => {}
                Output::Text => emit(ops::render_runs(&runs, now).trim_end())?,
            }
            if runs.is_empty() {
                anyhow::bail!("no batch recorded for {date}: was the day scraped? (`ppmt dlq list --queue loader`)");
            }
            let troubled = ops::troubled_runs(&runs, now);
            if troubled > 0 {
                anyhow::bail!("{troubled} stage run(s) of {date} failed or are stale");
            }
        }
        Command::Rejects { date, kind, reason, source, output } => {
            let config = ServiceConfig::from_env(Needs { warehouse: true, queue: false })?;
            let warehouse = Ports::build(&config, &clients)
                .warehouse
                .context("no warehouse: set PPMT_DATABASE_URL or the PPMT_REDSHIFT_* variables")?;
            let wanted =
                |value: &str, filter: &Option<String>| filter.as_ref().is_none_or(|f| f.eq_ignore_ascii_case(value));
            let rows: Vec<_> = warehouse
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
        Command::Replay { date, stage: None } => emit(ops::replay_day(&clients, &env, date).await?)?,
        Command::Replay { date, stage: Some(stage) } => {
            let stage = Stage::parse(&stage).filter(|s| matches!(s, Stage::Loaded | Stage::Transformed));
            let stage = stage.context("--stage must be `loaded` or `transformed`")?;
            let notifier =
                SnsNotifier { client: clients.sns.clone(), topic_arn: env.get("PPMT_STAGE_TOPIC_ARN")?.to_owned() };
            emit(ops::replay_stage(&ledger()?, &notifier, &env, date, stage).await?)?;
        }
        Command::Dlq { action: DlqAction::List { queue, output } } => {
            let letters = ops::list_dead_letters(&clients, &ledger()?, env.queue_url(&queue, true)?).await?;
            if output == Output::Json {
                let listed: Vec<serde_json::Value> = letters
                    .iter()
                    .map(|l| {
                        let mut value = serde_json::to_value(l).unwrap_or_default();
                        value["about"] = ops::describe_body(&l.body).into();
                        value
                    })
                    .collect();
                emit(serde_json::Value::Array(listed))?;
            } else {
                emit(format!("{} message(s) in the {queue} DLQ", letters.len()))?;
                for l in letters {
                    emit(format!(
                        "- {}  received {}x\n  about: {}\n  last error: {}",
                        l.message_id,
                        l.receive_count,
                        ops::describe_body(&l.body),
                        l.last_error.as_deref().unwrap_or("(not recorded)")
                    ))?;
                }
            }
        }
        Command::Dlq { action: DlqAction::Show { queue, message_id } } => {
            let letters = ops::list_dead_letters(&clients, &ledger()?, env.queue_url(&queue, true)?).await?;
            let letter = letters.into_iter().find(|l| l.message_id == message_id).with_context(|| {
                format!("no message {message_id} in the {queue} DLQ (`ppmt dlq list --queue {queue}`)")
            })?;
            emit(format!(
                "message {}  received {}x\nabout: {}\nlast error: {}\nbody:\n{}",
                letter.message_id,
                letter.receive_count,
                ops::describe_body(&letter.body),
                letter.last_error.as_deref().unwrap_or("(not recorded)"),
                letter.body
            ))?;
        }
        Command::Dlq { action: DlqAction::Replay { queue, message_id } } => {
            emit(ops::redrive(&clients, &ledger()?, &env, &queue, message_id.as_deref()).await?)?;
        }
        Command::Scrape { date, source, sources } => {
            let date = date.unwrap_or_else(|| Utc::now().date_naive());
            let store = S3Store { client: clients.s3.clone() };
            let vars: BTreeMap<String, String> = std::env::vars().collect();
            let started_at = Utc::now();
            let outcome = ppmt_scraper::scrape_from_file(
                &store,
                env.get("PPMT_RAW_BUCKET")?,
                &sources,
                date,
                source.as_deref(),
                &vars,
            )
            .await;
            ppmt_scraper::record_scrape(&ledger()?, date, started_at, &outcome).await;
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
            let store = S3Store { client: clients.s3.clone() };
            let vars: BTreeMap<String, String> = std::env::vars().collect();
            let bucket = env.get("PPMT_RAW_BUCKET")?;
            let started_at = Utc::now();
            let outcome =
                ppmt_scraper::reparse_from_file(&store, bucket, &sources, date, source.as_deref(), &vars).await;
            ppmt_scraper::record_scrape(&ledger()?, date, started_at, &outcome).await;
            let (manifest, _) = outcome?;
            emit(format!(
                "batch {} for {date} parsed again from the lake: {}",
                manifest.batch_id,
                manifest.file_summary()
            ))?;
        }
        Command::Demo { stack, date, fixtures, database_url, log_dir, timeout_secs } => {
            let options = DemoOptions {
                stack,
                date,
                fixtures,
                database_url,
                log_dir,
                timeout: Duration::from_secs(timeout_secs),
            };
            emit(run_demo(&clients, &options).await?)?;
        }
    }
    Ok(())
}
