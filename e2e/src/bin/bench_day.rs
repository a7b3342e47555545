//! `make bench`: whole days through the real services on the local stack, from the
//! manifest to `synced`, at growing sizes: a generated raw day ([`ppmt_e2e::raw_day`])
//! of 20 sources (CSV and JSON Lines, rejects, duplicates, ×100 prices, four
//! currencies, each product seen about 20 times), dropped with its manifest as the
//! scraper does. Each size runs on a fresh stack. Printed beside their baselines:
//!
//! - each stage's time, and the whole day's, against the first size's scaled linearly
//!   (goal: 10× the rows in at most 12× the time);
//! - the loader's peak resident memory (`VmHWM`) against the day's input size (goal:
//!   at most 64 MB whatever the input);
//! - the syncer's peak resident memory against the first size's (goal: flat, at most
//!   1.2× it whatever the day's size);
//! - the loader's stage time against a bare `psql \copy` of the same clean rows into a
//!   copy of the staging table, indexes included (goal: at most 1.25×).
//!
//! Sizes: `PPMT_BENCH_DAY_ROWS`, comma-separated (default `100000,300000`; add
//! `1000000` for the 1M day, which on moto is mostly the emulator's DynamoDB).

use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::NaiveDate;
use ppmt_domain::manifest::{FileFormat, FileKind};
use ppmt_domain::Stage;
use ppmt_e2e::{bench, raw_day, Harness, RawFile};
use ppmt_platform::ports::{RunStatus, StageRun};

const SOURCES: usize = 20;
const DAY: u32 = 25;

/// What one size measured.
struct DayFigures {
    rows: usize,
    total: f64,
    stages: Vec<(Stage, f64)>,
    loader_rss_mb: f64,
    syncer_rss_mb: f64,
    input_mb: f64,
}

fn seconds(run: &StageRun) -> f64 {
    match (run.started_at, run.finished_at) {
        (Some(start), Some(end)) => (end - start).num_milliseconds() as f64 / 1000.0,
        _ => f64::NAN,
    }
}

/// The raw files of a day of `rows` observations: one per source, then the rates.
fn day_files(rows: usize, ids: &[String]) -> anyhow::Result<Vec<RawFile<'_>>> {
    let records = raw_day::records(rows, (rows / 20).max(1), DAY);
    let mut files = Vec::new();
    for (chunk, id) in records.chunks(rows.div_ceil(SOURCES).max(1)).zip(ids) {
        let (format, bytes) = if files.len() % 2 == 0 {
            (FileFormat::Csv, raw_day::csv(chunk)?)
        } else {
            (FileFormat::Json, raw_day::json_lines(chunk)?)
        };
        let content = String::from_utf8(bytes)?;
        files.push(RawFile { source_id: id, kind: FileKind::Prices, format, content, records: chunk.len() as u64 });
    }
    let fx = raw_day::fx_csv(DAY);
    files.push(RawFile { source_id: "ecb", kind: FileKind::FxRates, format: FileFormat::Csv, content: fx, records: 3 });
    Ok(files)
}

/// Times a bare `psql \copy` of the batch's staged rows into a copy of the staging table.
fn psql_copy_seconds(h: &Harness, batch_id: &str) -> anyhow::Result<f64> {
    let file = std::env::temp_dir().join(format!("bench-day-{}.csv", std::process::id()));
    let psql = |command: &str| -> anyhow::Result<()> {
        let out = std::process::Command::new("psql")
            .args([h.database_url.as_str(), "-v", "ON_ERROR_STOP=1", "-q", "-c", command])
            .output()
            .context("run psql")?;
        anyhow::ensure!(out.status.success(), "psql: {}", String::from_utf8_lossy(&out.stderr));
        Ok(())
    };
    let path = file.to_string_lossy();
    psql(&format!("\\copy (SELECT * FROM staging_prices WHERE batch_id = '{batch_id}') TO '{path}' CSV"))?;
    psql("CREATE TABLE bench_copy (LIKE staging_prices INCLUDING ALL)")?;
    let start = Instant::now();
    psql(&format!("\\copy bench_copy FROM '{path}' CSV"))?;
    let took = start.elapsed().as_secs_f64();
    std::fs::remove_file(&file)?;
    Ok(took)
}

async fn run_day(rows: usize, measure_copy: bool) -> anyhow::Result<(DayFigures, Option<(f64, f64)>)> {
    let mut h = Harness::new(&format!("bench-day-{rows}")).await?;
    h.start_all()?;
    let date = NaiveDate::from_ymd_opt(2026, 11, DAY).context("the bench day")?;
    let ids: Vec<String> = (0..SOURCES).map(|s| format!("src{s:02}")).collect();
    let files = day_files(rows, &ids)?;
    let input_mb = files.iter().map(|f| f.content.len()).sum::<usize>() as f64 / 1e6;
    let start = Instant::now();
    let manifest = h.drop_batch(date, &files).await?;
    let timeout = Duration::from_secs(3600);
    h.wait_for(date, &manifest.batch_id, Stage::Synced, timeout, |r| r.status == RunStatus::Succeeded).await?;
    let total = start.elapsed().as_secs_f64();
    let loader_rss_mb = h.peak_rss("loader")? as f64 / 1e6;
    let syncer_rss_mb = h.peak_rss("syncer")? as f64 / 1e6;
    let mut stages = Vec::new();
    for stage in [Stage::Loaded, Stage::Transformed, Stage::Synced] {
        let run = h.run(date, &manifest.batch_id, stage).await?.context("a stage run")?;
        stages.push((stage, seconds(&run)));
    }
    let counts = h.run(date, &manifest.batch_id, Stage::Transformed).await?.map(|r| r.counts).unwrap_or_default();
    let synced = h.run(date, &manifest.batch_id, Stage::Synced).await?.map(|r| r.counts).unwrap_or_default();
    println!(
        "day of {rows} observations ({input_mb:.1} MB): manifest to synced {total:.1} s ({}); staged {:?}, facts {:?}, \
         quarantined {:?}, duplicates {:?}, items written {:?}; peak RSS: loader {loader_rss_mb:.0} MB, syncer \
         {syncer_rss_mb:.0} MB",
        stages.iter().map(|(s, t)| format!("{} {t:.1} s", s.as_str())).collect::<Vec<_>>().join(", "),
        counts.rows_staged,
        counts.facts,
        counts.quarantined,
        counts.duplicates,
        synced.items_written,
    );
    let copy = if measure_copy {
        let loaded = stages[0].1;
        Some((loaded, psql_copy_seconds(&h, manifest.batch_id.as_str())?))
    } else {
        None
    };
    Ok((DayFigures { rows, total, stages, loader_rss_mb, syncer_rss_mb, input_mb }, copy))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let sizes: Vec<usize> = std::env::var("PPMT_BENCH_DAY_ROWS")
        .unwrap_or_else(|_| "100000,300000".into())
        .split(',')
        .map(|s| s.trim().parse().context("PPMT_BENCH_DAY_ROWS: sizes separated by commas"))
        .collect::<anyhow::Result<_>>()?;
    let mut days: Vec<DayFigures> = Vec::new();
    for (i, rows) in sizes.iter().copied().enumerate() {
        let (figures, copy) = run_day(rows, i == 0).await?;
        if let Some((loaded, psql)) = copy {
            bench::line(
                &format!("staging_{rows}_vs_psql_copy_s"),
                loaded,
                psql,
                "s",
                "<=1.25x",
                Some(loaded <= 1.25 * psql),
            );
        }
        let rss_goal = figures.loader_rss_mb <= 64.0;
        bench::line(
            &format!("loader_peak_rss_{rows}_mb"),
            figures.loader_rss_mb,
            figures.input_mb,
            "MB",
            "<=64MB",
            Some(rss_goal),
        );
        if let Some(first) = days.first() {
            let scale = rows as f64 / first.rows as f64;
            let linear = |ours: f64, base: f64, name: &str| {
                bench::line(
                    &format!("{name}_{rows}_s"),
                    ours,
                    base * scale,
                    "s",
                    "<=1.2x linear",
                    Some(ours <= 1.2 * base * scale),
                );
            };
            bench::line(
                &format!("syncer_peak_rss_{rows}_mb"),
                figures.syncer_rss_mb,
                first.syncer_rss_mb,
                "MB",
                "<=1.2x the first size's",
                Some(figures.syncer_rss_mb <= 1.2 * first.syncer_rss_mb),
            );
            linear(figures.total, first.total, "day");
            for ((stage, ours), (_, base)) in figures.stages.iter().zip(&first.stages) {
                linear(*ours, *base, stage.as_str());
            }
        }
        if rows >= 1_000_000 {
            bench::line(&format!("day_{rows}_s"), figures.total, 180.0, "s", "<=180s", Some(figures.total <= 180.0));
        }
        days.push(figures);
    }
    bench::write_results("bench_day")
}
