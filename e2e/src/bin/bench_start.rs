//! `make bench`: start-to-ready time of each binary, beside the time to start and end
//! `/bin/true` on the same machine in the same run. A worker (loader, transformer,
//! syncer) is ready when its first request reaches the endpoint (its first
//! `ReceiveMessage`, to a local listener standing in for SQS, new for each run); the read
//! API when its port (also new for each run) accepts; the scraper and `ppmt`, which run
//! and end, when `--help` returns.
//! Median of `PPMT_BENCH_START_RUNS` runs (default 11).

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;
use ppmt_e2e::bench;

fn median(mut samples: Vec<Duration>) -> f64 {
    samples.sort();
    samples[samples.len() / 2].as_secs_f64() * 1000.0
}

/// Starts `name` with `env` and returns how long until `ready` says so; then kills it.
fn time_start(
    name: &str,
    args: &[&str],
    env: &[(&str, String)],
    ready: impl Fn(&mut std::process::Child) -> anyhow::Result<bool>,
) -> anyhow::Result<Duration> {
    let start = Instant::now();
    let mut child = Command::new(ppmt_cli::demo::binary(name)?)
        .args(args)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("start {name}"))?;
    while !ready(&mut child)? {
        anyhow::ensure!(start.elapsed() < Duration::from_secs(10), "{name} was not ready within 10 s");
        std::thread::sleep(Duration::from_micros(200));
    }
    let took = start.elapsed();
    let _ = child.kill();
    let _ = child.wait();
    Ok(took)
}

/// One start of `name`, on a fresh listener standing in for SQS and a fresh port for the
/// API: a connection the run before left in the listener's backlog would otherwise pass
/// for this run's first request.
fn start_once(name: &str) -> anyhow::Result<Duration> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    listener.set_nonblocking(true)?;
    let endpoint = format!("http://{}", listener.local_addr()?);
    let api_port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let env = vec![
        ("AWS_ENDPOINT_URL", endpoint.clone()),
        ("AWS_REGION", "us-east-1".to_owned()),
        ("AWS_ACCESS_KEY_ID", "test".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", "test".to_owned()),
        ("PPMT_METRICS", "off".to_owned()),
        ("PPMT_QUEUE_URL", format!("{endpoint}/123456789012/bench")),
        ("PPMT_RAW_BUCKET", "bench".to_owned()),
        ("PPMT_STAGE_TOPIC_ARN", "arn:aws:sns:us-east-1:123456789012:bench".to_owned()),
        ("PPMT_PRICES_TABLE", "bench".to_owned()),
        ("PPMT_LEDGER_TABLE", "bench".to_owned()),
        ("PPMT_DATABASE_URL", "postgres://bench@127.0.0.1:1/bench".to_owned()),
        ("PPMT_API_ADDR", format!("127.0.0.1:{api_port}")),
    ];
    let first_request = |_: &mut std::process::Child| -> anyhow::Result<bool> {
        match listener.accept() {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Ok(false),
            Err(e) => Err(e.into()),
        }
    };
    let port_open = |_: &mut std::process::Child| Ok(std::net::TcpStream::connect(("127.0.0.1", api_port)).is_ok());
    let exited = |child: &mut std::process::Child| Ok(child.try_wait()?.is_some());
    match name {
        "api" => time_start(name, &[], &env, port_open),
        "scraper" | "ppmt" => time_start(name, &["--help"], &env, exited),
        _ => time_start(name, &[], &env, first_request),
    }
}

fn main() -> anyhow::Result<()> {
    let runs = std::env::var("PPMT_BENCH_START_RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(11usize);
    let baseline = median(
        (0..runs)
            .map(|_| {
                let start = Instant::now();
                Command::new("true").status().map(|_| start.elapsed())
            })
            .collect::<Result<_, _>>()?,
    );
    for name in ["loader", "transformer", "syncer", "api", "scraper", "ppmt"] {
        let samples = (0..runs).map(|_| start_once(name)).collect::<anyhow::Result<Vec<_>>>()?;
        bench::line(&format!("start_to_ready_{name}_ms"), median(samples), baseline, "ms", "none", None);
    }
    bench::write_results("bench_start")
}
