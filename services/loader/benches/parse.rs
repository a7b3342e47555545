//! `make bench`: how fast the loader turns raw files into validated rows, against a
//! baseline run on the same bytes at the same time (the bare `csv` reader, and
//! `serde_json` alone), so the ratio means something on a shared, noisy machine.

use std::time::{Duration, Instant};

use ppmt_domain::manifest::{FileFormat, FileKind, ManifestFile};
use ppmt_domain::record::PRICE_CSV_REQUIRED;
use ppmt_loader::parse::parse_file;

const ROWS: usize = 200_000;
const RUNS: usize = 7;

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn time(mut f: impl FnMut() -> usize) -> (Duration, usize) {
    let mut samples = Vec::with_capacity(RUNS);
    let mut count = 0;
    for _ in 0..RUNS {
        let start = Instant::now();
        count = std::hint::black_box(f());
        samples.push(start.elapsed());
    }
    (median(samples), count)
}

fn report(name: &str, measured: (Duration, usize), baseline: (Duration, usize)) {
    let rate = |(d, n): (Duration, usize)| n as f64 / d.as_secs_f64();
    println!(
        "{name:<28} {:>10.0} rows/s  (baseline {:>10.0} rows/s)  {:.2}x the baseline's time  [median of {RUNS}, {ROWS} rows]",
        rate(measured),
        rate(baseline),
        measured.0.as_secs_f64() / baseline.0.as_secs_f64(),
    );
}

fn main() {
    let mut csv = PRICE_CSV_REQUIRED.join(",");
    csv.push('\n');
    let mut json = String::new();
    for i in 0..ROWS {
        csv.push_str(&format!(
            "p{i},Product {i},Acme,,,{}.{:02},,,EUR,in_stock,,2026-11-25T02:00:00Z,,\n",
            10 + i % 500,
            i % 100
        ));
        json.push_str(&format!(
            "{{\"product_id\":\"p{i}\",\"name\":\"Product {i}\",\"price\":\"{}.{:02}\",\"currency\":\"EUR\",\"observed_at\":\"2026-11-25T02:00:00Z\"}}\n",
            10 + i % 500,
            i % 100
        ));
    }
    let file = |format| {
        ManifestFile::describe("raw/2026-11-25/bench.x".into(), "bench".into(), FileKind::Prices, format, b"", 0)
    };

    let csv_file = file(FileFormat::Csv);
    let measured = time(|| parse_file(&csv_file, csv.as_bytes()).map(|p| p.rows.len()).unwrap_or(0));
    let baseline = time(|| {
        let mut reader = csv::Reader::from_reader(csv.as_bytes());
        let mut record = csv::ByteRecord::new();
        let mut n = 0;
        while reader.read_byte_record(&mut record).unwrap_or(false) {
            n += 1;
        }
        n
    });
    assert_eq!(measured.1, ROWS, "every generated CSV row is valid");
    report("loader parse+validate CSV", measured, baseline);

    let json_file = file(FileFormat::Json);
    let measured = time(|| parse_file(&json_file, json.as_bytes()).map(|p| p.rows.len()).unwrap_or(0));
    let baseline = time(|| json.lines().filter(|l| serde_json::from_str::<serde_json::Value>(l).is_ok()).count());
    assert_eq!(measured.1, ROWS, "every generated JSON line is valid");
    report("loader parse+validate JSONL", measured, baseline);
}
