//! End-to-end test harness. Each test gets its own stack on the emulator (bucket,
//! topic, queues, tables named after the test) and its own PostgreSQL database, then
//! starts the real service binaries in worker mode against them, exactly as `make demo`
//! does. Run through `make e2e`, which starts moto server and PostgreSQL first.

pub mod bench;
pub mod fault_proxy;
pub mod outage_proxy;
pub mod raw_day;
pub mod staged_day;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use aws_sdk_dynamodb::types::AttributeValue;
use bytes::Bytes;
use chrono::{NaiveDate, Utc};
use ppmt_cli::demo::{spawn_worker, Worker};
use ppmt_domain::batch::{manifest_key, raw_file_key};
use ppmt_domain::manifest::{FileFormat, FileKind, ManifestFile, MANIFEST_SCHEMA_VERSION};
use ppmt_domain::topology::Topology;
use ppmt_domain::{BatchId, Manifest, Stage, StageEvent};
use ppmt_platform::adapters::dynamodb::DynamoLedger;
use ppmt_platform::adapters::postgres::PostgresWarehouse;
use ppmt_platform::aws::AwsClients;
use ppmt_platform::ports::{MessageFailure, ObjectStore, RunLedger, RunStatus, StageRun};
use ppmt_platform::provision::{provision, Provisioned};

/// One file of a batch a test drops.
pub struct RawFile<'a> {
    pub source_id: &'a str,
    pub kind: FileKind,
    pub format: FileFormat,
    pub content: String,
    /// Records the manifest announces.
    pub records: u64,
}

/// An isolated stack with its services.
pub struct Harness {
    pub clients: AwsClients,
    pub provisioned: Provisioned,
    /// Environment the services run with.
    pub env: BTreeMap<String, String>,
    pub database_url: String,
    pub ledger: DynamoLedger,
    workers: BTreeMap<&'static str, Worker>,
    log_dir: PathBuf,
}

fn required(name: &str) -> anyhow::Result<String> {
    std::env::var(name).with_context(|| {
        format!("{name} is not set: run the end-to-end tests with `make e2e`, which starts the local stack")
    })
}

impl Harness {
    /// Provisions a fresh stack and database for `test`.
    pub async fn new(test: &str) -> anyhow::Result<Harness> {
        required("AWS_ENDPOINT_URL")?;
        let admin_url = required("PPMT_DATABASE_URL")?;
        let suffix = &uuid::Uuid::new_v4().simple().to_string()[..8];
        let stack = format!("e2e-{test}-{suffix}").replace('_', "-");
        let clients = AwsClients::from_env().await;
        let provisioned = provision(&clients, &Topology::for_stack(&stack)).await?;

        let db_name = format!("e2e_{}_{suffix}", test.replace('-', "_"));
        let admin = PostgresWarehouse { url: admin_url.clone() }.connect().await?;
        staged_day::create_database(&admin, &db_name).await?;
        let base = admin_url.rsplit_once('/').map(|(b, _)| b).context("PPMT_DATABASE_URL has no database part")?;
        let database_url = format!("{base}/{db_name}");
        PostgresWarehouse { url: database_url.clone() }.apply_schema().await?;

        let mut env = provisioned.env();
        env.insert("PPMT_DATABASE_URL".into(), database_url.clone());
        env.insert("PPMT_VISIBILITY_TIMEOUT_SECS".into(), "4".into());
        env.insert("PPMT_RETRY_BASE_DELAY_SECS".into(), "1".into());
        for passthrough in ["AWS_ENDPOINT_URL", "AWS_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "RUST_LOG"]
        {
            if let Ok(v) = std::env::var(passthrough) {
                env.insert(passthrough.into(), v);
            }
        }
        let ledger =
            DynamoLedger { client: clients.dynamodb.clone(), table: provisioned.topology.ledger_table.name.clone() };
        let log_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.local/e2e-logs").join(&stack);
        Ok(Harness { clients, provisioned, env, database_url, ledger, workers: BTreeMap::new(), log_dir })
    }

    /// Starts (or restarts) a consumer.
    pub fn start(&mut self, name: &'static str) -> anyhow::Result<()> {
        let worker = spawn_worker(name, &self.env, &self.log_dir)?;
        self.workers.insert(name, worker);
        Ok(())
    }

    /// The highest resident memory a running worker has had so far, in bytes (`VmHWM`).
    pub fn peak_rss(&self, name: &str) -> anyhow::Result<u64> {
        let worker = self.workers.get(name).with_context(|| format!("{name} is not running"))?;
        let pid = worker.child.id().with_context(|| format!("{name} has exited"))?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
        let kb = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .context("no VmHWM in /proc/<pid>/status")?;
        Ok(kb * 1024)
    }

    /// Starts the loader, transformer and syncer.
    pub fn start_all(&mut self) -> anyhow::Result<()> {
        for name in ppmt_cli::demo::CONSUMERS {
            self.start(name)?;
        }
        Ok(())
    }

    /// Starts the read API binary over the stack's table on a free local port and waits
    /// until it answers; returns its base URL. It stops with the harness.
    pub async fn start_api(&mut self) -> anyhow::Result<String> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        std::fs::create_dir_all(&self.log_dir)?;
        let log = std::fs::File::create(self.log_dir.join("api.log"))?;
        let child = tokio::process::Command::new(ppmt_cli::demo::binary("api")?)
            .envs(&self.env)
            .env("PPMT_API_ADDR", format!("127.0.0.1:{port}"))
            .stdout(std::process::Stdio::null())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .context("start api")?;
        self.workers.insert("api", Worker { name: "api", child });
        let start = Instant::now();
        while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
            if start.elapsed() > Duration::from_secs(10) {
                bail!("the api did not listen on {port}; log in {}", self.log_dir.display());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(format!("http://127.0.0.1:{port}"))
    }

    /// Kills a consumer with SIGKILL: no cleanup, nothing deleted.
    pub async fn kill(&mut self, name: &str) -> anyhow::Result<()> {
        let mut worker = self.workers.remove(name).with_context(|| format!("{name} is not running"))?;
        worker.child.kill().await?;
        Ok(())
    }

    /// Whether a consumer started by the harness is still running (not exited).
    pub fn is_running(&mut self, name: &str) -> bool {
        self.workers.get_mut(name).is_some_and(|w| matches!(w.child.try_wait(), Ok(None)))
    }

    /// Stops a consumer with SIGTERM and returns once it has exited.
    pub async fn stop(&mut self, name: &str) -> anyhow::Result<()> {
        let worker = self.workers.remove(name).with_context(|| format!("{name} is not running"))?;
        worker.stop().await
    }

    /// Runs the `ppmt` binary with the stack's environment; returns its output.
    pub fn ppmt(&self, args: &[&str]) -> anyhow::Result<std::process::Output> {
        let binary = ppmt_cli::demo::binary("ppmt")?;
        Ok(std::process::Command::new(binary).envs(&self.env).args(args).output()?)
    }

    /// Runs the `scraper` binary once for `date` on `sources` (a sources file), with
    /// `extra` environment; returns whether it exited 0, and its stdout and stderr.
    pub async fn run_scraper(
        &self,
        date: NaiveDate,
        sources: &std::path::Path,
        extra: &[(&str, &str)],
    ) -> anyhow::Result<(bool, String)> {
        let output = tokio::process::Command::new(ppmt_cli::demo::binary("scraper")?)
            .envs(&self.env)
            .envs(extra.iter().copied())
            .args(["--date", &date.to_string(), "--sources", &sources.to_string_lossy()])
            .output()
            .await?;
        let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
        Ok((output.status.success(), text))
    }

    /// [`Harness::run_scraper`], which must succeed; returns its stdout and stderr.
    pub async fn scrape(
        &self,
        date: NaiveDate,
        sources: &std::path::Path,
        extra: &[(&str, &str)],
    ) -> anyhow::Result<String> {
        match self.run_scraper(date, sources, extra).await? {
            (true, text) => Ok(text),
            (false, text) => bail!("scraper failed: {text}"),
        }
    }

    /// The day's manifest as the scraper wrote it.
    pub async fn manifest(&self, date: NaiveDate) -> anyhow::Result<Manifest> {
        let store = ppmt_platform::adapters::s3::S3Store { client: self.clients.s3.clone() };
        Ok(Manifest::parse(&store.get(self.bucket(), &manifest_key(date)).await?, date)?)
    }

    pub fn bucket(&self) -> &str {
        &self.provisioned.topology.raw_bucket
    }

    /// URL of a consumer's queue or dead-letter queue.
    pub fn queue_url(&self, consumer: &str, dlq: bool) -> anyhow::Result<String> {
        let q = self.provisioned.queue(consumer).with_context(|| format!("no queue for {consumer}"))?;
        Ok(if dlq { q.dlq_url.clone() } else { q.url.clone() })
    }

    /// Writes the files, then the manifest last, as the scraper does.
    pub async fn drop_batch(&self, date: NaiveDate, files: &[RawFile<'_>]) -> anyhow::Result<Manifest> {
        self.drop_batch_created(date, files, Utc::now()).await
    }

    /// [`Harness::drop_batch`], with the manifest's creation time given: an earlier
    /// `created_at` plays a scrape that started and finished before another.
    pub async fn drop_batch_created(
        &self,
        date: NaiveDate,
        files: &[RawFile<'_>],
        created_at: chrono::DateTime<Utc>,
    ) -> anyhow::Result<Manifest> {
        let store = ppmt_platform::adapters::s3::S3Store { client: self.clients.s3.clone() };
        let batch_id = BatchId::new_for(date);
        let mut listed = Vec::new();
        for (i, f) in files.iter().enumerate() {
            let at = chrono::NaiveTime::from_hms_opt(2, 0, i as u32).context("time")?;
            let key = raw_file_key(date, f.source_id, at, &batch_id, f.format.extension());
            store.put(self.bucket(), &key, Bytes::from(f.content.clone()), "text/plain").await?;
            listed.push(ManifestFile::describe(
                key,
                f.source_id.into(),
                f.kind,
                f.format,
                f.content.as_bytes(),
                f.records,
            ));
        }
        let manifest = Manifest {
            schema_version: MANIFEST_SCHEMA_VERSION,
            batch_id,
            batch_date: date,
            created_at,
            files: listed,
            sources_without_data: Vec::new(),
        };
        store
            .put(self.bucket(), &manifest_key(date), Bytes::from(serde_json::to_vec(&manifest)?), "application/json")
            .await?;
        Ok(manifest)
    }

    /// The ledger run of a stage of a batch.
    pub async fn run(&self, date: NaiveDate, batch: &BatchId, stage: Stage) -> anyhow::Result<Option<StageRun>> {
        Ok(self.ledger.runs_for_date(date).await?.into_iter().find(|r| &r.batch_id == batch && r.stage == stage))
    }

    /// Waits until `done` holds for the stage's run, failing fast if the stage failed
    /// for good.
    pub async fn wait_for(
        &self,
        date: NaiveDate,
        batch: &BatchId,
        stage: Stage,
        timeout: Duration,
        done: impl Fn(&StageRun) -> bool,
    ) -> anyhow::Result<StageRun> {
        let start = Instant::now();
        loop {
            if let Some(run) = self.run(date, batch, stage).await? {
                if done(&run) {
                    return Ok(run);
                }
            }
            if start.elapsed() > timeout {
                let runs = self.ledger.runs_for_date(date).await?;
                bail!(
                    "{} of {batch} not reached in {timeout:?}; ledger: {runs:#?}; logs in {}",
                    stage.as_str(),
                    self.log_dir.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits for the batch to be synced.
    pub async fn wait_synced(&self, date: NaiveDate, batch: &BatchId) -> anyhow::Result<StageRun> {
        self.wait_for(date, batch, Stage::Synced, Duration::from_secs(60), |r| r.status == RunStatus::Succeeded).await
    }

    /// Every message failure the ledger has recorded.
    pub async fn message_failures(&self) -> anyhow::Result<Vec<MessageFailure>> {
        let table = &self.provisioned.topology.ledger_table.name;
        let mut failures = Vec::new();
        let mut pages = self.clients.dynamodb.scan().table_name(table).into_paginator().items().send();
        while let Some(item) = pages.next().await {
            let item: HashMap<String, AttributeValue> = item?;
            if item.get("sk").and_then(|v| v.as_s().ok()).map(String::as_str) != Some("failure") {
                continue;
            }
            let id = item.get("message_id").and_then(|v| v.as_s().ok()).context("a failure names its message")?;
            failures.extend(self.ledger.message_failure(id).await?);
        }
        Ok(failures)
    }

    /// Every stage event published so far, from the audit queue.
    pub async fn audit_events(&self) -> anyhow::Result<Vec<StageEvent>> {
        let url = self.queue_url("audit", false)?;
        let mut events = Vec::new();
        loop {
            let out = self
                .clients
                .sqs
                .receive_message()
                .queue_url(&url)
                .max_number_of_messages(10)
                .wait_time_seconds(1)
                .send()
                .await?;
            let messages = out.messages.unwrap_or_default();
            if messages.is_empty() {
                return Ok(events);
            }
            for m in messages {
                events.push(StageEvent::parse(m.body.as_deref().unwrap_or_default())?);
                self.clients.sqs.delete_message().queue_url(&url).set_receipt_handle(m.receipt_handle).send().await?;
            }
        }
    }

    /// Every item of the app's table, keyed by (pk, sk), attributes as text.
    pub async fn app_items(&self) -> anyhow::Result<BTreeMap<(String, String), BTreeMap<String, String>>> {
        let table = &self.provisioned.topology.prices_table.name;
        let mut items = BTreeMap::new();
        let mut pages = self.clients.dynamodb.scan().table_name(table).into_paginator().items().send();
        while let Some(item) = pages.next().await {
            let item: HashMap<String, AttributeValue> = item?;
            let text: BTreeMap<String, String> = item
                .iter()
                .map(|(k, v)| (k.clone(), v.as_s().or_else(|_| v.as_n()).cloned().unwrap_or_else(|_| format!("{v:?}"))))
                .collect();
            let key = (text.get("pk").cloned().unwrap_or_default(), text.get("sk").cloned().unwrap_or_default());
            items.insert(key, text);
        }
        Ok(items)
    }

    /// Our product id for a source's SKU, as the transform matched it.
    pub async fn product_id(&self, source_id: &str, sku: &str) -> anyhow::Result<String> {
        let rows = self
            .query(&format!(
                "SELECT product_id FROM product_offers WHERE source_id = '{source_id}' AND source_sku = '{sku}'"
            ))
            .await?;
        rows.first()
            .and_then(|r| r.first().cloned().flatten())
            .with_context(|| format!("no product for {source_id}/{sku}"))
    }

    /// Runs a query on the test's database; every column is cast to text by the caller.
    pub async fn query(&self, sql: &str) -> anyhow::Result<Vec<Vec<Option<String>>>> {
        query(&PostgresWarehouse { url: self.database_url.clone() }, sql).await
    }
}

/// Runs a query on a warehouse database and returns its rows as text (simple protocol).
pub async fn query(warehouse: &PostgresWarehouse, sql: &str) -> anyhow::Result<Vec<Vec<Option<String>>>> {
    let rows = warehouse.connect().await?.simple_query(sql).await?;
    Ok(rows
        .into_iter()
        .filter_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(row) => {
                Some((0..row.len()).map(|i| row.get(i).map(str::to_owned)).collect())
            }
            _ => None,
        })
        .collect())
}
