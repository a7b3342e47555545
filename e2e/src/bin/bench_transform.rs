//! `make bench`: the transform on PostgreSQL at realistic sizes, with a baseline measured
//! in the same run. Four sources each list every product (GTIN, GTIN, MPN + brand and
//! name + brand), in three currencies, with prices moving a little every day.
//!
//! - a day of `ROWS` observations transformed into an empty history, then the same day
//!   shape after `DAYS` earlier days (goal: at most 1.2× the first: no step reads all of
//!   history). Each side is the median of three runs, as one run of a few seconds on this
//!   kind of machine varies by a fifth or more (an autovacuum of the facts beside it, say):
//!   the empty day in three fresh warehouses, and the days after `DAYS`, `DAYS + 1` and
//!   `DAYS + 2` earlier days;
//! - a first day of each of `SIZES` observations, each in a fresh warehouse, against the
//!   first size scaled linearly (goal: 10× the rows in at most 12× the time), and the 1M
//!   day against its absolute goal (at most 60 s).
//!
//! Sizes come from `PPMT_BENCH_ROWS`, `PPMT_BENCH_DAYS` and `PPMT_BENCH_SIZES` (comma
//! separated; `make bench-quick` makes them small). Needs `PPMT_DATABASE_URL` (`make up`).
//! `PPMT_BENCH_KEEP=1` keeps the warehouses for `EXPLAIN`: the history's
//! (`bench_transform`) and the last size's first day (`bench_transform_big`).

use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::NaiveDate;
use ppmt_e2e::bench;
use ppmt_e2e::staged_day::{day_batch, drop_database, fresh_database, Offer};
use ppmt_platform::adapters::postgres::PostgresWarehouse;
use ppmt_platform::ports::{StagedBatch, TransformOutcome, Warehouse};
use ppmt_platform::sql::TRANSFORM_STEPS;
use rust_decimal::Decimal;

fn setting(name: &str, default: u32) -> u32 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// A valid GTIN-13 for product `p`: twelve digits and their GS1 check digit.
fn gtin(p: u32) -> String {
    let body = format!("40{p:010}");
    let sum: u32 =
        body.bytes().rev().enumerate().map(|(i, b)| u32::from(b - b'0') * if i % 2 == 0 { 3 } else { 1 }).sum();
    format!("{body}{}", (10 - sum % 10) % 10)
}

/// A bench day: every product listed by each of the four sources.
fn bench_day(date: NaiveDate, rows: u32, seq: i64) -> anyhow::Result<StagedBatch> {
    let products = rows / 4;
    let day = chrono::Datelike::ordinal(&date);
    let mut offers = Vec::with_capacity(rows as usize);
    for (s, (source, currency)) in
        [("gtin_a", "EUR"), ("gtin_b", "USD"), ("mpn_c", "GBP"), ("name_d", "USD")].iter().enumerate()
    {
        for p in 0..products {
            let cents = 1000 + (p % 5000) * 7 + (day + s as u32) % 13;
            let price = format!("{}.{:02}", cents / 100, cents % 100);
            let mut offer = Offer::new(source, &format!("{source}-{p}"), &price, currency)
                .name(&format!("Bench gadget {p}"), "Acme");
            if s < 2 {
                offer = offer.gtin(&gtin(p));
            }
            if s == 2 {
                offer = offer.mpn(&format!("BG-{p}"));
            }
            offers.push(offer);
        }
    }
    day_batch(date, seq, &offers, &[("USD", Decimal::new(10500, 4)), ("GBP", Decimal::new(8400, 4))])
}

/// The middle of three (or more) timings.
fn median(mut runs: Vec<Duration>) -> Duration {
    runs.sort();
    runs[runs.len() / 2]
}

/// Stages and transforms one day; returns (load time, transform time).
async fn run_day(w: &PostgresWarehouse, date: NaiveDate, rows: u32, seq: i64) -> anyhow::Result<(Duration, Duration)> {
    let staged = bench_day(date, rows, seq)?;
    let start = Instant::now();
    w.stage_batch(&staged).await?;
    let loaded = start.elapsed();
    w.connect().await?.batch_execute("ANALYZE").await?;
    let start = Instant::now();
    match w.run_transform(&staged.batch, TRANSFORM_STEPS).await? {
        TransformOutcome::Done(counts) => counts.check().map_err(anyhow::Error::msg)?,
        TransformOutcome::Superseded { .. } => anyhow::bail!("the bench batch was superseded"),
    }
    Ok((loaded, start.elapsed()))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // RUST_LOG=ppmt_platform=debug prints each transform statement's time and rows.
    ppmt_platform::telemetry::init("bench_transform", "warn");
    let admin = std::env::var("PPMT_DATABASE_URL").context("PPMT_DATABASE_URL is not set: run `make bench`")?;
    let rows = setting("PPMT_BENCH_ROWS", 100_000);
    let days = setting("PPMT_BENCH_DAYS", 30);
    let sizes: Vec<u32> = std::env::var("PPMT_BENCH_SIZES")
        .unwrap_or_else(|_| "100000,1000000,3000000".into())
        .split(',')
        .map(|s| s.trim().parse().context("PPMT_BENCH_SIZES: sizes separated by commas"))
        .collect::<anyhow::Result<_>>()?;
    let first = NaiveDate::from_ymd_opt(2026, 10, 1).context("date")?;

    // Each figure on a quiet server: a warehouse is dropped once measured, so that no
    // autovacuum of its millions of rows runs beside the next.
    let mut smallest: Option<(u32, f64)> = None;
    for size in sizes {
        let w = fresh_database(&admin, "bench_transform_big").await?;
        let (load, transform) = run_day(&w, first, size, 1).await?;
        let (load, transform) = (load.as_secs_f64(), transform.as_secs_f64());
        println!("a first day of {size} rows: staged in {load:.2} s, transformed in {transform:.2} s");
        match smallest {
            None => smallest = Some((size, transform)),
            Some((base_rows, base)) => {
                let linear = base * f64::from(size) / f64::from(base_rows);
                bench::line(
                    &format!("transform_{size}_rows_vs_linear_s"),
                    transform,
                    linear,
                    "s",
                    "<=1.2x linear",
                    Some(transform <= 1.2 * linear),
                );
            }
        }
        if size == 1_000_000 {
            // The goal is absolute; the baseline is the same rows staged (COPY) in this run.
            bench::line("transform_1000000_rows_s", transform, load, "s", "<=60s", Some(transform <= 60.0));
        }
    }
    if std::env::var_os("PPMT_BENCH_KEEP").is_none() {
        drop_database(&admin, "bench_transform_big").await?;
    }

    let mut empty = Vec::new();
    for _ in 0..2 {
        let w = fresh_database(&admin, "bench_transform_empty").await?;
        empty.push(run_day(&w, first, rows, 1).await?.1);
    }
    drop_database(&admin, "bench_transform_empty").await?;
    let w = fresh_database(&admin, "bench_transform").await?;
    empty.push(run_day(&w, first, rows, 1).await?.1);
    let empty = median(empty);
    println!("transform of {rows} rows into an empty history (median of 3): {:.2} s", empty.as_secs_f64());
    let mut after = Vec::new();
    for d in 1..=days + 2 {
        let (_, t) = run_day(&w, first + chrono::Duration::days(i64::from(d)), rows, i64::from(d) + 1).await?;
        if d >= days {
            after.push(t);
        }
    }
    let last = median(after);
    println!(
        "transform of {rows} rows after {days} to {} earlier days (median of 3): {:.2} s",
        days + 2,
        last.as_secs_f64()
    );
    let ratio = last.as_secs_f64() / empty.as_secs_f64();
    bench::line(
        &format!("transform_{rows}_after_{days}_days_s"),
        last.as_secs_f64(),
        empty.as_secs_f64(),
        "s",
        "<=1.2x",
        Some(ratio <= 1.2),
    );

    if std::env::var_os("PPMT_BENCH_KEEP").is_none() {
        drop_database(&admin, "bench_transform").await?;
    }
    bench::write_results("bench_transform")
}
