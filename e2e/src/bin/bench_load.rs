//! `make bench`: the loader alone on days of growing input, to show its memory does not
//! grow with the input. Each size is one day of two raw files of about half the size
//! each, one CSV and one JSON Lines ([`ppmt_e2e::raw_day`]: rejects, duplicates, ×100
//! prices, four currencies), dropped with its manifest on a fresh stack where only the
//! loader runs, so its peak resident memory (`VmHWM`) is that one load's. Printed beside
//! their baselines:
//!
//! - the loader's peak RSS against the input size (goal: at most 64 MB whatever the
//!   input);
//! - the load's time against the first size's scaled linearly (goal: 10× the input in at
//!   most 12× the time).
//!
//! Sizes in MB: `PPMT_BENCH_LOAD_MB`, comma-separated (default `10,100,1000`).

use std::time::Duration;

use anyhow::Context;
use chrono::NaiveDate;
use ppmt_domain::manifest::{FileFormat, FileKind};
use ppmt_domain::record::PRICE_CSV_HEADER;
use ppmt_domain::Stage;
use ppmt_e2e::{bench, raw_day, Harness, RawFile};
use ppmt_platform::ports::RunStatus;

const DAY: u32 = 25;
/// Observations generated at a time while a file grows to its size.
const PIECE: usize = 5_000;

/// A raw file of `format` of at least `bytes` bytes, from observation `first_row` on, and
/// its record count.
fn raw_file(format: FileFormat, bytes: usize, first_row: usize) -> anyhow::Result<(String, u64)> {
    let mut rows = first_row;
    let mut piece = || {
        rows += PIECE;
        raw_day::records_in(rows - PIECE..rows, 20_000, DAY)
    };
    let content = match format {
        FileFormat::Csv => {
            let mut w = csv::Writer::from_writer(Vec::with_capacity(bytes + (1 << 20)));
            w.write_record(PRICE_CSV_HEADER)?;
            while w.get_ref().len() < bytes {
                for r in piece() {
                    w.write_record(r.csv_fields())?;
                }
            }
            w.into_inner()?
        }
        FileFormat::Json => {
            let mut out = Vec::with_capacity(bytes + (1 << 20));
            while out.len() < bytes {
                for r in piece() {
                    serde_json::to_writer(&mut out, &r)?;
                    out.push(b'\n');
                }
            }
            out
        }
    };
    Ok((String::from_utf8(content)?, (rows - first_row) as u64))
}

/// Loads a day of about `mb` MB on a fresh stack; returns the input's size in MB, the
/// loader's peak RSS in MB and the load's time in seconds.
async fn load_day(mb: usize) -> anyhow::Result<(f64, f64, f64)> {
    let (csv, csv_records) = raw_file(FileFormat::Csv, mb * 500_000, 0)?;
    let (json, json_records) = raw_file(FileFormat::Json, mb * 500_000, 10_000_000)?;
    let input_mb = (csv.len() + json.len()) as f64 / 1e6;
    let files = [
        RawFile {
            source_id: "csv",
            kind: FileKind::Prices,
            format: FileFormat::Csv,
            content: csv,
            records: csv_records,
        },
        RawFile {
            source_id: "json",
            kind: FileKind::Prices,
            format: FileFormat::Json,
            content: json,
            records: json_records,
        },
    ];
    let mut h = Harness::new(&format!("bench-load-{mb}")).await?;
    let date = NaiveDate::from_ymd_opt(2026, 11, DAY).context("the bench day")?;
    let manifest = h.drop_batch(date, &files).await?;
    drop(files);
    h.start("loader")?;
    let timeout = Duration::from_secs(3600);
    let run = h.wait_for(date, &manifest.batch_id, Stage::Loaded, timeout, |r| r.status != RunStatus::Running).await?;
    anyhow::ensure!(run.status == RunStatus::Succeeded, "the load of {mb} MB ended {:?}: {:?}", run.status, run.error);
    let rss_mb = h.peak_rss("loader")? as f64 / 1e6;
    let seconds = match (run.started_at, run.finished_at) {
        (Some(start), Some(end)) => (end - start).num_milliseconds() as f64 / 1000.0,
        _ => f64::NAN,
    };
    println!(
        "load of {input_mb:.0} MB ({} records, {:?} staged, {:?} rejected): {seconds:.1} s ({:.0} MB/s); \
         loader peak RSS {rss_mb:.0} MB",
        csv_records + json_records,
        run.counts.rows_staged,
        run.counts.rows_rejected,
        input_mb / seconds
    );
    Ok((input_mb, rss_mb, seconds))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let sizes: Vec<usize> = std::env::var("PPMT_BENCH_LOAD_MB")
        .unwrap_or_else(|_| "10,100,1000".into())
        .split(',')
        .map(|s| s.trim().parse().context("PPMT_BENCH_LOAD_MB: sizes in MB separated by commas"))
        .collect::<anyhow::Result<_>>()?;
    let mut first: Option<(f64, f64)> = None;
    for mb in sizes {
        let (input_mb, rss_mb, seconds) = load_day(mb).await?;
        bench::line(&format!("loader_peak_rss_{mb}MB"), rss_mb, input_mb, "MB", "<=64MB", Some(rss_mb <= 64.0));
        match first {
            None => first = Some((input_mb, seconds)),
            Some((base_mb, base_seconds)) => {
                let linear = base_seconds * input_mb / base_mb;
                let met = seconds <= 1.2 * linear;
                bench::line(&format!("load_{mb}MB_s"), seconds, linear, "s", "<=1.2x linear", Some(met));
            }
        }
    }
    bench::write_results("bench_load")
}
