//! `make bench`: parse + validate throughput per core, each format beside Python's
//! standard library doing the same checks on the same file in the same run
//! (`bench/parse_baseline.py`): the loader's canonical CSV and JSON Lines, and the
//! scraper's Google Merchant feed (XML). The files are a generated raw day
//! ([`ppmt_e2e::raw_day`]): rejects, duplicates, ×100 prices, four currencies.
//!
//! Size: `PPMT_BENCH_PARSE_ROWS` (default 500,000 records); each figure is the median of
//! `PPMT_BENCH_PARSE_RUNS` runs (default 5).

use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::Utc;
use ppmt_domain::manifest::{FileFormat, FileKind, ManifestFile};
use ppmt_e2e::{bench, raw_day};
use ppmt_loader::parse::parse_stream;
use ppmt_scraper::extract::merchant_feed::parse_merchant_feed;
use ppmt_scraper::extract::price::NumberLocale;

fn setting(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// The median time of `runs` runs of `work`, and what the last run returned.
fn median_of(
    runs: usize,
    mut work: impl FnMut() -> anyhow::Result<(usize, usize)>,
) -> anyhow::Result<(Duration, (usize, usize))> {
    let mut times = Vec::with_capacity(runs);
    let mut counts = (0, 0);
    for _ in 0..runs {
        let start = Instant::now();
        counts = std::hint::black_box(work()?);
        times.push(start.elapsed());
    }
    times.sort();
    Ok((times[times.len() / 2], counts))
}

/// Python's median seconds and (valid, rejected) for the same file.
fn python(kind: &str, path: &std::path::Path, runs: usize) -> anyhow::Result<(f64, (usize, usize))> {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../bench/parse_baseline.py");
    let out = std::process::Command::new("python3")
        .arg(&script)
        .args([kind, &path.to_string_lossy(), &runs.to_string()])
        .output()
        .context("run python3 bench/parse_baseline.py")?;
    anyhow::ensure!(out.status.success(), "the Python baseline failed: {}", String::from_utf8_lossy(&out.stderr));
    let answer: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    let count = |k: &str| answer[k].as_u64().unwrap_or(0) as usize;
    Ok((answer["seconds"].as_f64().context("the baseline's seconds")?, (count("valid"), count("rejected"))))
}

fn main() -> anyhow::Result<()> {
    let rows = setting("PPMT_BENCH_PARSE_ROWS", 500_000);
    let runs = setting("PPMT_BENCH_PARSE_RUNS", 5);
    let records = raw_day::records(rows, 50_000, 25);
    let dir = std::env::temp_dir().join(format!("ppmt-bench-parse-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let files = [
        ("csv", raw_day::csv(&records)?, ">=400MB/s and >=12x", 400.0),
        ("json", raw_day::json_lines(&records)?, ">=250MB/s and >=12x", 250.0),
        ("xml", raw_day::merchant_feed(&records), ">=12x", 0.0),
    ];
    let describe = |format| {
        ManifestFile::describe("raw/2026-11-25/bench".into(), "bench".into(), FileKind::Prices, format, b"", 0)
    };
    for (kind, bytes, goal, floor) in files {
        let path = dir.join(format!("day.{kind}"));
        std::fs::write(&path, &bytes)?;
        let (ours, counts) = median_of(runs, || match kind {
            "csv" | "json" => {
                let format = if kind == "csv" { FileFormat::Csv } else { FileFormat::Json };
                // As the loader reads a file: a chunk at a time, each dropped when taken.
                let mut counts = (0, 0);
                parse_stream(&describe(format), bytes.as_slice(), |chunk| {
                    counts.0 += chunk.rows.len();
                    counts.1 += chunk.rejects.len();
                    true
                })?;
                Ok(counts)
            }
            _ => {
                let parsed = parse_merchant_feed(bytes.as_slice(), &NumberLocale::en(), None, Utc::now())?;
                Ok((parsed.records.len(), parsed.rejects.len()))
            }
        })?;
        let (theirs, their_counts) = python(kind, &path, runs)?;
        let mb = bytes.len() as f64 / 1e6;
        let (ours_rate, their_rate) = (mb / ours.as_secs_f64(), mb / theirs);
        println!(
            "parse+validate {kind}: {mb:.1} MB, {rows} records: ours {:.3} s ({} valid, {} rejected), Python {theirs:.3} s ({} valid, {} rejected)",
            ours.as_secs_f64(),
            counts.0,
            counts.1,
            their_counts.0,
            their_counts.1
        );
        // CSV and JSON: both sides apply the loader's checks, so different counts mean
        // the two did different work and the ratio compares nothing. The Merchant feed's
        // counts may differ by design: our en locale reads the raw day's `12,34.5` as
        // 1234.5 (a grouping comma), where Python's `Decimal` rejects it.
        anyhow::ensure!(
            kind == "xml" || counts == their_counts,
            "{kind}: ours and the Python baseline disagree on (valid, rejected): {counts:?} vs {their_counts:?}"
        );
        let met = ours_rate >= floor && ours_rate >= 12.0 * their_rate;
        bench::line(&format!("parse_{kind}_mb_per_s"), ours_rate, their_rate, "MB/s", goal, Some(met));
    }
    std::fs::remove_dir_all(&dir)?;
    bench::write_results("bench_parse")
}
