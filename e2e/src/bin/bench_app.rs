//! `make bench`: the app's table on the local emulator, each figure beside a baseline
//! measured in the same run on the same endpoint.
//!
//! - **Sync**: `PRODUCTS` products (a LATEST, an offer, a GTIN pointer and `DAYS` history
//!   items each) written by the syncer's `DynamoAppTable`, against boto3's `batch_writer`
//!   (the original design's sync) writing the same items to a second table. Each client
//!   counts the requests it sends (an SDK interceptor; a botocore event hook); the
//!   client's and the emulator's CPU seconds are reported apart (the emulator's from
//!   `/proc`, when it is the local moto server).
//! - **Read API**: 50 concurrent clients on `GET /products/{id}` and
//!   `/products/{id}/history` through the release `api` binary, p50 and p99, against the
//!   same requests answered in-process (`Api::handle` on the same table, no HTTP): the
//!   emulator's own time.
//!
//! Sizes: `PPMT_BENCH_APP_PRODUCTS` (default 2,000), `PPMT_BENCH_APP_DAYS` (3),
//! `PPMT_BENCH_API_REQUESTS` per endpoint (1,000). Needs `AWS_ENDPOINT_URL` (`make up`).

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use chrono::{NaiveDate, TimeZone, Utc};
use ppmt_api::{Api, ApiRequest};
use ppmt_domain::app_view::{HistoryPoint, ItemVersion, OfferView, ProductView};
use ppmt_domain::topology::Topology;
use ppmt_e2e::bench;
use ppmt_platform::adapters::app_table::DynamoAppTable;
use ppmt_platform::aws::AwsClients;
use ppmt_platform::ports::{AppStore, ItemWrite, SyncSet};
use rust_decimal::Decimal;

fn setting(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// User plus system CPU seconds of a process, from `/proc/<pid>/stat`.
fn cpu_seconds(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

/// The local moto server's pid, when the emulator is that.
fn emulator_pid() -> Option<String> {
    let file = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.local/moto.pid");
    std::fs::read_to_string(file).ok().map(|p| p.trim().to_owned())
}

/// CPU seconds the emulator spends while `work` runs, if it can be read.
struct EmulatorCpu(Option<String>);

impl EmulatorCpu {
    fn now(&self) -> Option<f64> {
        self.0.as_deref().and_then(cpu_seconds)
    }
}

fn money(cents: u64) -> Decimal {
    Decimal::new(i64::try_from(cents).unwrap_or(i64::MAX), 2)
}

/// `products` products with an offer each, and `days` history points ending on the
/// 25th.
fn bench_set(products: usize, days: usize) -> SyncSet {
    let date = NaiveDate::from_ymd_opt(2026, 11, 25).unwrap_or_default();
    let version = ItemVersion { price_date: date, load_seq: 1 };
    let mut set = SyncSet::default();
    for p in 0..products {
        let id = format!("G{:014}", 40_000_000_000_000 + p);
        let price = money(1000 + (p as u64 % 5000) * 7);
        set.products.push((
            ProductView {
                product_id: id.clone(),
                gtin: Some(id[1..].to_owned()),
                name: Some(format!("Bench gadget {p}")),
                brand: Some("Acme".into()),
                category: ["audio", "laptops", "smartphones", "kitchen"][p % 4].into(),
                market_price_usd: price,
                retail_price_usd: price,
                lowest_price_usd: price,
                sources: 1,
                price_change_pct: Some(Decimal::new(12, 1)),
                trend: Some("stable".into()),
                confidence: Decimal::new(75, 2),
                availability: Some("in_stock".into()),
                price_date: date,
                batch_id: "2026-11-25-bench".into(),
            },
            version,
        ));
        set.offers.push((
            OfferView {
                product_id: id.clone(),
                source_id: "shop".into(),
                price,
                currency: "USD".into(),
                price_usd: price,
                fx_rate: Decimal::ONE,
                fx_rate_date: date,
                fx_source: "identity".into(),
                availability: Some("in_stock".into()),
                url: Some(format!("https://shop.example/p/{p}")),
                observed_at: Utc.from_utc_datetime(&date.and_hms_opt(2, 0, 0).unwrap_or_default()),
                price_date: date,
                price_max: None,
                regular_price_usd: None,
            },
            version,
        ));
        for d in 0..days {
            set.history.push((
                HistoryPoint {
                    product_id: id.clone(),
                    price_date: date - chrono::Duration::days(d as i64),
                    market_price_usd: price,
                    lowest_price_usd: price,
                    sources: 1,
                },
                version,
            ));
        }
    }
    set
}

/// The writes as DynamoDB JSON lines, for the boto3 baseline.
fn dynamo_json(writes: &[ItemWrite]) -> String {
    let mut out = String::new();
    for w in writes.iter().filter_map(|w| w.put.as_ref()) {
        let item: serde_json::Map<String, serde_json::Value> = w
            .iter()
            .map(|(k, v)| {
                let typed = match v {
                    ppmt_domain::app_view::AttrValue::S(t) => serde_json::json!({ "S": t }),
                    ppmt_domain::app_view::AttrValue::N(t) => serde_json::json!({ "N": t }),
                };
                (k.clone(), typed)
            })
            .collect();
        out.push_str(&serde_json::Value::Object(item).to_string());
        out.push('\n');
    }
    out
}

/// boto3's `batch_writer`, timed after the items are decoded; prints seconds and the
/// client's CPU seconds as JSON.
const BOTO3_BATCH_WRITER: &str = r#"
import json, os, resource, sys, time
import boto3
from boto3.dynamodb.types import TypeDeserializer
table_name, path = sys.argv[1:3]
d = TypeDeserializer()
items = [{k: d.deserialize(v) for k, v in json.loads(line).items()} for line in open(path)]
region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
dynamodb = boto3.resource("dynamodb", region_name=region)
requests = [0]
def count(**_):
    requests[0] += 1
dynamodb.meta.client.meta.events.register("before-send.dynamodb", count)
table = dynamodb.Table(table_name)
cpu0 = resource.getrusage(resource.RUSAGE_SELF)
t0 = time.perf_counter()
with table.batch_writer() as batch:
    for item in items:
        batch.put_item(Item=item)
seconds = time.perf_counter() - t0
cpu1 = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"seconds": seconds, "requests": requests[0],
                  "cpu": cpu1.ru_utime + cpu1.ru_stime - cpu0.ru_utime - cpu0.ru_stime}))
"#;

/// The first Python with boto3: the one on PATH, or the local stack's virtualenv.
fn python_with_boto3() -> anyhow::Result<PathBuf> {
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.local/venv/bin/python");
    for candidate in [PathBuf::from("python3"), venv] {
        let ok = std::process::Command::new(&candidate)
            .args(["-c", "import boto3"])
            .output()
            .is_ok_and(|o| o.status.success());
        if ok {
            return Ok(candidate);
        }
    }
    bail!("no Python with boto3 found (the local stack's moto install brings one): run `make up`")
}

/// Counts the requests a client sends, retries included.
#[derive(Debug, Clone, Default)]
struct CountRequests(Arc<AtomicU64>);

impl aws_sdk_dynamodb::config::Intercept for CountRequests {
    fn name(&self) -> &'static str {
        "CountRequests"
    }

    fn read_before_transmit(
        &self,
        _context: &aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef<'_>,
        _components: &aws_sdk_dynamodb::config::RuntimeComponents,
        _config: &mut aws_sdk_dynamodb::config::ConfigBag,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        self.0.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i).map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

/// Runs `requests` calls of `call` from 50 concurrent clients; returns sorted latencies.
async fn fifty_clients<F, Fut>(requests: usize, call: F) -> anyhow::Result<Vec<Duration>>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send,
{
    let call = Arc::new(call);
    let clients = 50;
    let tasks: Vec<_> = (0..clients)
        .map(|c| {
            let call = call.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                for r in (c..requests).step_by(clients) {
                    let start = Instant::now();
                    call(r).await?;
                    latencies.push(start.elapsed());
                }
                anyhow::Ok(latencies)
            })
        })
        .collect();
    let mut all = Vec::with_capacity(requests);
    for t in tasks {
        all.extend(t.await??);
    }
    all.sort();
    Ok(all)
}

// The syncer's runtime: one thread (see `services/syncer/src/main.rs`).
#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    ppmt_platform::telemetry::init("bench_app", "warn");
    std::env::var("AWS_ENDPOINT_URL").context("AWS_ENDPOINT_URL is not set: run `make bench`")?;
    let products = setting("PPMT_BENCH_APP_PRODUCTS", 2_000);
    let days = setting("PPMT_BENCH_APP_DAYS", 3);
    let api_requests = setting("PPMT_BENCH_API_REQUESTS", 1_000);
    let emulator = EmulatorCpu(emulator_pid());

    let clients = AwsClients::from_env().await;
    let suffix = &uuid::Uuid::new_v4().simple().to_string()[..8];
    let ours =
        ppmt_platform::provision::provision(&clients, &Topology::for_stack(&format!("bench-app-{suffix}"))).await?;
    let theirs =
        ppmt_platform::provision::provision(&clients, &Topology::for_stack(&format!("bench-boto3-{suffix}"))).await?;

    // --- sync: ours -----------------------------------------------------------------------
    let writes = ppmt_syncer::plan_item_writes(&bench_set(products, days));
    let n = writes.len();
    let sent = CountRequests::default();
    let counted =
        aws_sdk_dynamodb::Client::from_conf(clients.dynamodb.config().to_builder().interceptor(sent.clone()).build());
    let table = DynamoAppTable {
        client: counted,
        table: ours.topology.prices_table.name.clone(),
        retry_deadline: Duration::from_secs(120),
    };
    let (cpu0, emu0) = (cpu_seconds("self"), emulator.now());
    let start = Instant::now();
    let counts = table.apply(&writes).await?;
    let ours_seconds = start.elapsed().as_secs_f64();
    let ours_cpu = cpu_seconds("self").zip(cpu0).map(|(b, a)| b - a);
    let ours_emulator = emulator.now().zip(emu0).map(|(b, a)| b - a);
    let ours_requests = sent.0.load(Ordering::Relaxed);
    if counts.written != n as u64 {
        bail!("the bench sync wrote {} of {n} items: {counts:?}", counts.written);
    }

    // --- sync: boto3 batch_writer, same items, same endpoint ---------------------------
    let items_file = std::env::temp_dir().join(format!("bench-app-{suffix}.jsonl"));
    std::fs::write(&items_file, dynamo_json(&writes))?;
    let emu0 = emulator.now();
    let output = std::process::Command::new(python_with_boto3()?)
        .args(["-c", BOTO3_BATCH_WRITER, &theirs.topology.prices_table.name, &items_file.to_string_lossy()])
        .output()
        .context("run the boto3 baseline")?;
    let _ = std::fs::remove_file(&items_file);
    if !output.status.success() {
        bail!("the boto3 baseline failed: {}", String::from_utf8_lossy(&output.stderr));
    }
    let theirs_emulator = emulator.now().zip(emu0).map(|(b, a)| b - a);
    let baseline: serde_json::Value = serde_json::from_slice(&output.stdout)?;
    let theirs_seconds = baseline["seconds"].as_f64().context("the baseline's seconds")?;
    let theirs_cpu = baseline["cpu"].as_f64().context("the baseline's CPU")?;
    let theirs_requests = baseline["requests"].as_u64().context("the baseline's requests")?;

    let show = |cpu: Option<f64>| cpu.map_or("n/a".to_owned(), |c| format!("{c:.2} s"));
    println!(
        "sync of {n} items: ours {ours_seconds:.2} s ({ours_requests} requests, client CPU {}, emulator CPU {}); \
         boto3 batch_writer {theirs_seconds:.2} s ({theirs_requests} requests, client CPU {theirs_cpu:.2} s, emulator CPU {})",
        show(ours_cpu),
        show(ours_emulator),
        show(theirs_emulator),
    );
    let (ours_rate, theirs_rate) = (n as f64 / ours_seconds, n as f64 / theirs_seconds);
    bench::line("sync_items_per_s", ours_rate, theirs_rate, "/s", ">=10x", Some(ours_rate >= 10.0 * theirs_rate));
    if let Some(cpu) = ours_cpu {
        let (ours_us, theirs_us) = (cpu * 1e6 / n as f64, theirs_cpu * 1e6 / n as f64);
        bench::line("sync_client_cpu_per_item", ours_us, theirs_us, "us", "<=0.1x", Some(ours_us * 10.0 <= theirs_us));
    }
    let budget = 1.3 * n.div_ceil(25) as f64;
    bench::line(
        "sync_requests",
        ours_requests as f64,
        theirs_requests as f64,
        "",
        &format!("<={budget:.0}"),
        Some(ours_requests as f64 <= budget),
    );

    // --- read API: the release binary over HTTP, against in-process answers -------------
    let api_binary = std::env::current_exe()?.parent().context("the bench's folder")?.join("api");
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let mut api = tokio::process::Command::new(&api_binary)
        .env("PPMT_PRICES_TABLE", &ours.topology.prices_table.name)
        .env("PPMT_API_ADDR", format!("127.0.0.1:{port}"))
        .env("RUST_LOG", "warn")
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("start {} (built by `make bench`)", api_binary.display()))?;
    let started = Instant::now();
    while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
        if started.elapsed() > Duration::from_secs(10) {
            bail!("the api did not listen on {port}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let in_process = Arc::new(Api {
        reader: Arc::new(DynamoAppTable {
            client: clients.dynamodb.clone(),
            table: ours.topology.prices_table.name.clone(),
            retry_deadline: Duration::from_secs(10),
        }),
    });
    let http = reqwest::Client::new();
    let id = move |r: usize| format!("G{:014}", 40_000_000_000_000 + (r * 7919) % products);
    for (figure, path) in [("api_product", ""), ("api_history", "/history")] {
        let (http, base) = (http.clone(), format!("http://127.0.0.1:{port}"));
        let over_http = fifty_clients(api_requests, move |r| {
            let (http, url) = (http.clone(), format!("{base}/products/{}{path}", id(r)));
            async move {
                let response = http.get(&url).send().await?;
                if response.status() != 200 {
                    bail!("{url}: {}", response.status());
                }
                response.bytes().await?;
                Ok(())
            }
        })
        .await?;
        let api = in_process.clone();
        let direct = fifty_clients(api_requests, move |r| {
            let (api, path) = (api.clone(), format!("/products/{}{path}", id(r)));
            async move {
                let request = ApiRequest { method: "GET".into(), path, query: String::new(), if_none_match: None };
                let response = api.handle(&request).await;
                if response.status != 200 {
                    bail!("{}: {}", request.path, response.status);
                }
                Ok(())
            }
        })
        .await?;
        for (q, p) in [("p50", 0.5), ("p99", 0.99)] {
            bench::line(
                &format!("{figure}_{q}"),
                percentile(&over_http, p),
                percentile(&direct, p),
                "ms",
                "none",
                None,
            );
        }
    }
    api.kill().await?;
    println!(
        "(api: {api_requests} requests per endpoint from 50 concurrent clients; each baseline is the same requests \
         answered in-process, with no HTTP: the emulator's own time)"
    );
    bench::write_results("bench_app")
}
