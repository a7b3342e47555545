//! What every `make bench` program prints: one line per figure that scripts can read,
//! `BENCH <figure> ours=<v><unit> baseline=<v><unit> ratio=<r> goal=<goal> MET|MISSED`,
//! each figure beside its baseline measured in the same run; and, at the end, the same
//! figures as JSON in `bench/results/<program>.json`, with the machine they ran on.

use std::sync::Mutex;

/// One figure of a bench run.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Figure {
    pub figure: String,
    pub ours: f64,
    pub baseline: f64,
    pub unit: String,
    pub ratio: f64,
    pub goal: String,
    /// Against the goal; `None` for a figure without one (printed `INFO`).
    pub met: Option<bool>,
}

static FIGURES: Mutex<Vec<Figure>> = Mutex::new(Vec::new());

/// Prints a figure's `BENCH` line and keeps it for [`write_results`].
pub fn line(figure: &str, ours: f64, baseline: f64, unit: &str, goal: &str, met: Option<bool>) {
    let ratio = ours / baseline;
    let verdict = match met {
        Some(true) => "MET",
        Some(false) => "MISSED",
        None => "INFO",
    };
    println!("BENCH {figure} ours={ours:.3}{unit} baseline={baseline:.3}{unit} ratio={ratio:.2} goal={goal} {verdict}");
    let kept = Figure { figure: figure.into(), ours, baseline, unit: unit.into(), ratio, goal: goal.into(), met };
    FIGURES.lock().unwrap_or_else(|p| p.into_inner()).push(kept);
}

/// Writes the figures printed so far to `bench/results/<program>.json`.
pub fn write_results(program: &str) -> anyhow::Result<()> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../bench/results");
    std::fs::create_dir_all(&dir)?;
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines().find(|l| l.starts_with("model name")).map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_default();
    let figures = FIGURES.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let doc = serde_json::json!({
        "program": program,
        "measured_at": chrono::Utc::now().to_rfc3339(),
        "machine": { "cpu": cpu, "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0) },
        "figures": figures,
    });
    let path = dir.join(format!("{program}.json"));
    std::fs::write(&path, serde_json::to_string_pretty(&doc)?)?;
    println!("figures written to {}", path.display());
    Ok(())
}
