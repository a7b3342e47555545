//! `ppmt demo`: the whole pipeline on the local stack, for a newcomer. Provisions the
//! demo stack, serves the bundled demo sources on a local port, starts the loader,
//! transformer and syncer in worker mode, scrapes the demo day, follows the batch stage
//! by stage, prints a summary and stops the services.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use chrono::NaiveDate;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use ppmt_domain::topology::Topology;
use ppmt_domain::{Stage, StageCounts};
use ppmt_platform::adapters::dynamodb::DynamoLedger;
use ppmt_platform::adapters::postgres::PostgresWarehouse;
use ppmt_platform::adapters::s3::S3Store;
use ppmt_platform::aws::AwsClients;
use ppmt_platform::ports::{RunLedger, RunStatus, StageRun};
use ppmt_scraper::fixture_server::FixtureServer;
use tokio::process::{Child, Command};

/// The consumers the demo starts.
pub const CONSUMERS: [&str; 3] = ["loader", "transformer", "syncer"];

/// Options of a demo run.
pub struct DemoOptions {
    pub stack: String,
    pub date: NaiveDate,
    /// Folder with `sources.toml` and `site/` (the pages and feeds served).
    pub fixtures: PathBuf,
    pub database_url: String,
    /// Where the services' logs go.
    pub log_dir: PathBuf,
    /// Where the stack's environment is written (`KEY=value` lines), so the `ppmt`
    /// commands after the demo address the demo's stack.
    pub env_file: PathBuf,
    pub timeout: Duration,
}

/// A service binary running in worker mode; killed if dropped.
pub struct Worker {
    pub name: &'static str,
    pub child: Child,
}

impl Worker {
    /// Asks the worker to stop (SIGTERM) and waits for it.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(pid) = self.child.id() {
            Command::new("kill").args(["-TERM", &pid.to_string()]).status().await?;
        }
        tokio::time::timeout(Duration::from_secs(30), self.child.wait()).await.context("worker did not stop")??;
        Ok(())
    }
}

/// The service binaries are built next to `ppmt` (or, for a test executable in
/// `target/debug/deps`, one folder up).
pub fn binary(name: &str) -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let dir = exe.parent().context("the executable has no parent folder")?;
    let candidates = [Some(dir.join(name)), dir.parent().map(|p| p.join(name))];
    candidates.into_iter().flatten().find(|p| p.is_file()).with_context(|| {
        format!("{name} is missing next to {}: build the workspace first (cargo build --bins)", exe.display())
    })
}

/// Starts a consumer in worker mode on its queue, with `env` (resources, endpoint).
pub fn spawn_worker(name: &'static str, env: &BTreeMap<String, String>, log_dir: &Path) -> anyhow::Result<Worker> {
    let queue = env
        .get(&format!("PPMT_{}_QUEUE_URL", name.to_ascii_uppercase()))
        .with_context(|| format!("no queue for {name}"))?;
    std::fs::create_dir_all(log_dir)?;
    let log = std::fs::File::create(log_dir.join(format!("{name}.log")))?;
    let child = Command::new(binary(name)?)
        .envs(env)
        .env("PPMT_QUEUE_URL", queue)
        .env("PPMT_WAIT_TIME_SECS", "1")
        .stdout(Stdio::null())
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("start {name}"))?;
    Ok(Worker { name, child })
}

fn stage_line(run: Option<&StageRun>) -> String {
    match run {
        None => "waiting".into(),
        Some(r) => match r.status {
            RunStatus::Running => format!("running (attempt {})", r.attempts),
            RunStatus::Succeeded => format!("done {}", serde_json::to_string(&r.counts).unwrap_or_default()),
            RunStatus::Failed => format!("FAILED: {}", r.error.clone().unwrap_or_default()),
            RunStatus::Skipped => format!("skipped: {}", r.error.clone().unwrap_or_default()),
        },
    }
}

/// Runs the demo; returns the summary text.
pub async fn run_demo(clients: &AwsClients, options: &DemoOptions) -> anyhow::Result<String> {
    let topology = Topology::for_stack(&options.stack);
    let provisioned = ppmt_platform::provision::provision(clients, &topology).await?;
    let warehouse = PostgresWarehouse { url: options.database_url.clone() };
    warehouse.apply_schema().await?;
    let mut env = provisioned.env();
    env.insert("PPMT_DATABASE_URL".into(), options.database_url.clone());
    let lines: String = env.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
    if let Some(dir) = options.env_file.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&options.env_file, lines).with_context(|| format!("write {}", options.env_file.display()))?;
    for passthrough in ["AWS_ENDPOINT_URL", "AWS_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "RUST_LOG"] {
        if let Ok(v) = std::env::var(passthrough) {
            env.insert(passthrough.into(), v);
        }
    }

    let site = FixtureServer::serve_dir(0, &options.fixtures.join("site")).await.context("serve the demo sources")?;
    let mut workers = Vec::new();
    for name in CONSUMERS {
        workers.push(spawn_worker(name, &env, &options.log_dir)?);
    }

    let mut scrape_env: BTreeMap<String, String> = std::env::vars().collect();
    scrape_env.insert("PPMT_DEMO_BASE_URL".into(), site.base_url());
    let store = S3Store { client: clients.s3.clone() };
    let sources = options.fixtures.join("sources.toml");
    println!("scraping {} from the demo sources at {} ...", options.date, site.base_url());
    let ledger = DynamoLedger { client: clients.dynamodb.clone(), table: topology.ledger_table.name.clone() };
    let started_at = chrono::Utc::now();
    let outcome = ppmt_scraper::scrape_from_file(
        &store,
        &topology.raw_bucket,
        &sources.to_string_lossy(),
        options.date,
        None,
        &scrape_env,
    )
    .await;
    ppmt_scraper::record_scrape(&ledger, options.date, started_at, &outcome).await;
    let (manifest, metadata) = outcome?;
    for s in &metadata.sources {
        println!(
            "  {:<16} {:<14} {:>4} records {:>3} rejected  {:?}{}",
            s.source_id,
            s.kind,
            s.records,
            s.rejected,
            s.status,
            s.error.as_ref().map(|e| format!(" ({e})")).unwrap_or_default()
        );
    }

    let bars = MultiProgress::new();
    let style = ProgressStyle::with_template("{spinner} {prefix:<12} {msg}")
        .unwrap_or_else(|_| ProgressStyle::default_spinner());
    let stages = [Stage::Loaded, Stage::Transformed, Stage::Synced];
    let lines: Vec<ProgressBar> = stages
        .iter()
        .map(|s| {
            let bar = bars.add(ProgressBar::new_spinner().with_style(style.clone()).with_prefix(s.as_str()));
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        })
        .collect();
    let started = Instant::now();
    let runs = loop {
        let runs: Vec<StageRun> =
            ledger.runs_for_date(options.date).await?.into_iter().filter(|r| r.batch_id == manifest.batch_id).collect();
        for (stage, bar) in stages.iter().zip(&lines) {
            bar.set_message(stage_line(runs.iter().find(|r| r.stage == *stage)));
        }
        let synced = runs.iter().any(|r| r.stage == Stage::Synced && r.status == RunStatus::Succeeded);
        if synced {
            break runs;
        }
        if let Some(failed) = runs
            .iter()
            .find(|r| r.status == RunStatus::Failed && r.attempts >= ppmt_domain::topology::MAX_RECEIVE_COUNT)
        {
            bail!(
                "{} failed for batch {}: {}",
                failed.stage.as_str(),
                failed.batch_id,
                failed.error.clone().unwrap_or_default()
            );
        }
        if started.elapsed() > options.timeout {
            bail!(
                "batch {} not synced after {:?}; see the logs in {}",
                manifest.batch_id,
                options.timeout,
                options.log_dir.display()
            );
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    for bar in &lines {
        bar.finish();
    }
    for worker in workers {
        let name = worker.name;
        worker.stop().await.with_context(|| format!("stop {name}"))?;
    }
    summary(clients, &topology, &warehouse, &manifest.batch_id.0, &runs, started.elapsed()).await
}

async fn summary(
    clients: &AwsClients,
    topology: &Topology,
    warehouse: &PostgresWarehouse,
    batch_id: &str,
    runs: &[StageRun],
    took: Duration,
) -> anyhow::Result<String> {
    let mut out = format!("\nbatch {batch_id} synced in {:.1} s\n\nrows per stage:\n", took.as_secs_f64());
    // The scrape's sources are listed above; its figures without them.
    for r in runs {
        let counts = StageCounts { sources: None, ..r.counts.clone() };
        out.push_str(&format!("  {:<12} {}\n", r.stage.as_str(), serde_json::to_string(&counts)?));
    }
    let client = warehouse.connect().await?;
    let rejects = client
        .query(
            "SELECT reason_code, COUNT(*) FROM rejected_rows WHERE batch_id = $1 GROUP BY reason_code ORDER BY 1",
            &[&batch_id],
        )
        .await?;
    let quarantined = client
        .query(
            "SELECT reason_code, COUNT(*) FROM quarantined_rows WHERE batch_id = $1 GROUP BY reason_code ORDER BY 1",
            &[&batch_id],
        )
        .await?;
    out.push_str("\nrejected rows (loader) and quarantined rows (transformer):\n");
    for row in rejects.iter().chain(&quarantined) {
        out.push_str(&format!("  {:<20} {}\n", row.get::<_, String>(0), row.get::<_, i64>(1)));
    }
    let items = clients
        .dynamodb
        .scan()
        .table_name(&topology.prices_table.name)
        .filter_expression("sk = :latest")
        .expression_attribute_values(":latest", aws_sdk_dynamodb::types::AttributeValue::S("LATEST".into()))
        .send()
        .await?;
    out.push_str(
        "
products as the app reads them (PRODUCT#<id> / LATEST):
",
    );
    for item in items.items() {
        let text = |k: &str| item.get(k).and_then(|v| v.as_s().or_else(|_| v.as_n()).ok()).cloned().unwrap_or_default();
        out.push_str(&format!(
            "  {:<18} {:<14} {:<10} market {:>9} USD  lowest {:>9}  sources {}  confidence {}\n",
            text("product_id"),
            text("name").chars().take(14).collect::<String>(),
            text("category"),
            text("market_price_usd"),
            text("lowest_price_usd"),
            text("sources"),
            text("confidence")
        ));
    }
    Ok(out)
}
