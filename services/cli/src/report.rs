//! `ppmt report`: a day's run as one self-contained HTML page (inline CSS and SVG, no
//! script, nothing fetched), for a person to open or attach:
//!
//! 1. each batch's stage timeline from the run ledger: scraped, loaded, transformed and
//!    synced with status, start, duration, attempts and error, and a bar per stage;
//! 2. the health of each source of the day's newest scrape;
//! 3. the rows set aside (rejected, quarantined, duplicates) by kind, source and reason;
//! 4. the day's biggest price movers, each with a chart of its market price over the
//!    last [`HISTORY_DAYS`] days.
//!
//! [`gather`] reads the ledger and the warehouse; [`render_report`] only formats, and
//! escapes every text it writes. Money stays decimal; floats only place SVG points.

use std::collections::BTreeMap;

use chrono::{DateTime, Days, NaiveDate, Utc};
use ppmt_domain::event::SourceHealth;
use ppmt_domain::Stage;
use ppmt_platform::ports::{PriceMover, PricePoint, RunLedger, RunStatus, SetAside, StageRun, Warehouse};

/// How many movers the report lists.
pub const TOP_MOVERS: u32 = 10;
/// How many days (the report's day included) each mover's chart covers.
pub const HISTORY_DAYS: u32 = 30;

/// Everything the report shows.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportData {
    pub date: NaiveDate,
    /// When the data was read: the end of a stage still running.
    pub generated_at: DateTime<Utc>,
    /// Every stage run of the day's batches.
    pub runs: Vec<StageRun>,
    pub set_aside: Vec<SetAside>,
    /// Largest move first.
    pub movers: Vec<PriceMover>,
    /// The movers' market prices over the [`HISTORY_DAYS`] days up to the day.
    pub history: Vec<PricePoint>,
}

/// Reads the day's runs, set-aside rows, movers and their price history.
pub async fn gather(ledger: &dyn RunLedger, warehouse: &dyn Warehouse, date: NaiveDate) -> anyhow::Result<ReportData> {
    let runs = ledger.runs_for_date(date).await?;
    let set_aside = warehouse.set_aside(date).await?;
    let movers = warehouse.top_movers(date, TOP_MOVERS).await?;
    let ids: Vec<String> = movers.iter().map(|m| m.product_id.clone()).collect();
    let history = warehouse.mover_history(date, &ids, HISTORY_DAYS).await?;
    Ok(ReportData { date, generated_at: Utc::now(), runs, set_aside, movers, history })
}

const STYLE: &str = "
body { font: 14px/1.4 system-ui, sans-serif; margin: 24px; color: #1d2733; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 17px; margin: 28px 0 8px; border-bottom: 1px solid #d5dbe3; padding-bottom: 4px; }
h3 { font-size: 14px; margin: 16px 0 6px; }
.muted { color: #667385; }
table { border-collapse: collapse; margin: 6px 0 12px; max-width: 100%; }
th, td { border: 1px solid #d5dbe3; padding: 4px 8px; text-align: left; vertical-align: top; overflow-wrap: anywhere; }
th { background: #f2f5f8; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.succeeded, .ok { color: #1f7a3a; }
.failed { color: #b3261e; font-weight: bold; }
.running, .partial, .empty { color: #9a6700; }
.skipped { color: #667385; }
tr.failed td { background: #fdecea; }
svg .bar.succeeded { fill: #3f9b5a; }
svg .bar.failed { fill: #d0453b; }
svg .bar.running { fill: #e0a526; }
svg .bar.skipped { fill: #a9b3bf; }
svg text { font: 12px system-ui, sans-serif; fill: #1d2733; }
svg .window { fill: #f2f5f8; }
svg .spark { fill: none; stroke: #2f6fb3; stroke-width: 1.5; }
svg .last { fill: #2f6fb3; }
.up { color: #1f7a3a; }
.down { color: #b3261e; }
.totals span { margin-right: 18px; }
";

/// The report as one HTML document.
pub fn render_report(data: &ReportData) -> String {
    let title = format!("PPMT-AMP daily report {}", data.date);
    let mut html = format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<h1>{}</h1>\n<p class=\"muted\">Generated {}.</p>\n",
        esc(&title),
        esc(&title),
        esc(&time_text(data.generated_at))
    );
    html.push_str(&timeline_section(&data.runs, data.generated_at));
    html.push_str(&sources_section(&data.runs));
    html.push_str(&set_aside_section(&data.set_aside));
    html.push_str(&movers_section(data));
    html.push_str("</body>\n</html>\n");
    html
}

/// Text with `&`, `<`, `>` and quotes escaped, safe in elements and attribute values.
fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// A table row of already escaped cells; `num` cells are right-aligned.
fn row(class: &str, cells: &[(bool, String)]) -> String {
    let mut out = if class.is_empty() { "<tr>".to_owned() } else { format!("<tr class=\"{class}\">") };
    for (num, cell) in cells {
        out.push_str(if *num { "<td class=\"num\">" } else { "<td>" });
        out.push_str(cell);
        out.push_str("</td>");
    }
    out.push_str("</tr>\n");
    out
}

fn header(names: &[&str]) -> String {
    let cells: String = names.iter().map(|n| format!("<th>{n}</th>")).collect();
    format!("<tr>{cells}</tr>\n")
}

fn time_text(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

fn seconds_text(ms: i64) -> String {
    if ms < 60_000 {
        format!("{:.1} s", ms as f64 / 1000.0)
    } else {
        format!("{} min {} s", ms / 60_000, ms % 60_000 / 1000)
    }
}

/// A known source status as a CSS class; anything else gets none.
fn source_class(status: &str) -> &'static str {
    match status {
        "ok" => "ok",
        "partial" => "partial",
        "empty" => "empty",
        "failed" => "failed",
        _ => "",
    }
}

/// The day's runs by batch, each batch's stages in pipeline order, the batch that
/// started first first.
fn batches(runs: &[StageRun]) -> Vec<Vec<&StageRun>> {
    let mut by_batch: BTreeMap<&str, Vec<&StageRun>> = BTreeMap::new();
    for r in runs {
        by_batch.entry(r.batch_id.as_str()).or_default().push(r);
    }
    let mut groups: Vec<Vec<&StageRun>> = by_batch.into_values().collect();
    for g in &mut groups {
        g.sort_by_key(|r| r.stage);
    }
    groups.sort_by_key(|g| g.iter().filter_map(|r| r.started_at).min());
    groups
}

fn timeline_section(runs: &[StageRun], now: DateTime<Utc>) -> String {
    let mut out = String::from("<section id=\"timeline\">\n<h2>Stage timeline</h2>\n");
    if runs.is_empty() {
        out.push_str("<p>No batch of this day is in the run ledger: was the day scraped?</p>\n");
    }
    for batch in batches(runs) {
        out.push_str(&format!("<h3>Batch <code>{}</code></h3>\n", esc(batch[0].batch_id.as_str())));
        out.push_str(&timeline_svg(&batch, now));
        out.push_str("<table>\n");
        out.push_str(&header(&["Stage", "Status", "Started", "Duration", "Attempts", "Error"]));
        for r in &batch {
            let status = r.status.as_str();
            let duration = match (r.started_at, r.finished_at) {
                (Some(s), Some(f)) => seconds_text((f - s).num_milliseconds()),
                (Some(_), None) => "not finished".to_owned(),
                _ => String::new(),
            };
            out.push_str(&row(
                if r.status == RunStatus::Failed { "failed" } else { "" },
                &[
                    (false, r.stage.as_str().to_owned()),
                    (false, format!("<span class=\"{status}\">{status}</span>")),
                    (false, r.started_at.map(time_text).unwrap_or_default()),
                    (true, duration),
                    (true, r.attempts.to_string()),
                    (false, esc(r.error.as_deref().unwrap_or_default())),
                ],
            ));
        }
        out.push_str("</table>\n");
    }
    out.push_str("</section>\n");
    out
}

/// One bar per stage on the batch's time axis, from its first start to its last end (a
/// stage still running ends `now`).
fn timeline_svg(batch: &[&StageRun], now: DateTime<Utc>) -> String {
    const LABEL: f64 = 100.0;
    const PLOT: f64 = 640.0;
    const ROW: f64 = 24.0;
    let spans: Vec<(&StageRun, DateTime<Utc>, DateTime<Utc>)> =
        batch.iter().filter_map(|r| r.started_at.map(|s| (*r, s, r.finished_at.unwrap_or(now).max(s)))).collect();
    let (Some(t0), Some(t1)) = (spans.iter().map(|s| s.1).min(), spans.iter().map(|s| s.2).max()) else {
        return String::new();
    };
    let span_ms = (t1 - t0).num_milliseconds().max(1) as f64;
    let height = ROW * spans.len() as f64 + 20.0;
    let mut svg = format!(
        "<svg width=\"{w}\" height=\"{height}\" viewBox=\"0 0 {w} {height}\" role=\"img\" aria-label=\"stage timeline\">\n",
        w = LABEL + PLOT + 90.0
    );
    for (i, (run, start, end)) in spans.iter().enumerate() {
        let y = ROW * i as f64;
        let x = LABEL + (*start - t0).num_milliseconds() as f64 / span_ms * PLOT;
        let width = ((*end - *start).num_milliseconds() as f64 / span_ms * PLOT).max(2.0);
        svg.push_str(&format!(
            "<text x=\"0\" y=\"{ty}\">{stage}</text><rect class=\"bar {status}\" x=\"{x:.1}\" y=\"{y:.1}\" width=\"{width:.1}\" height=\"16\"><title>{stage} {status}</title></rect><text x=\"{dx:.1}\" y=\"{ty}\">{duration}</text>\n",
            ty = y + 13.0,
            stage = run.stage.as_str(),
            status = run.status.as_str(),
            dx = x + width + 6.0,
            duration = seconds_text((*end - *start).num_milliseconds()),
        ));
    }
    svg.push_str(&format!(
        "<text x=\"{LABEL}\" y=\"{ay}\" class=\"muted\">{start}</text><text x=\"{end_x}\" y=\"{ay}\" text-anchor=\"end\">+{total}</text>\n</svg>\n",
        ay = height - 4.0,
        start = esc(&time_text(t0)),
        end_x = LABEL + PLOT,
        total = seconds_text((t1 - t0).num_milliseconds()),
    ));
    svg
}

fn sources_section(runs: &[StageRun]) -> String {
    let mut out = String::from("<section id=\"sources\">\n<h2>Sources</h2>\n");
    let newest = runs.iter().filter(|r| r.stage == Stage::Scraped).max_by_key(|r| r.started_at);
    match newest.and_then(|r| r.counts.sources.as_ref().map(|s| (r, s))) {
        None => out.push_str("<p>No scrape of this day reported its sources.</p>\n"),
        Some((run, sources)) => {
            out.push_str(&format!(
                "<p class=\"muted\">The newest scrape: batch <code>{}</code>.</p>\n",
                esc(run.batch_id.as_str())
            ));
            out.push_str("<table>\n");
            out.push_str(&header(&["Source", "Status", "Requests", "Records", "Rejected", "Error"]));
            for s in sources {
                out.push_str(&source_row(s));
            }
            out.push_str("</table>\n");
        }
    }
    out.push_str("</section>\n");
    out
}

fn source_row(s: &SourceHealth) -> String {
    let class = source_class(&s.status);
    row(
        if s.troubled() { "failed" } else { "" },
        &[
            (false, esc(&s.source_id)),
            (false, format!("<span class=\"{class}\">{}</span>", esc(&s.status))),
            (true, s.requests.to_string()),
            (true, s.records.to_string()),
            (true, s.rejected.to_string()),
            (false, esc(s.error.as_deref().unwrap_or_default())),
        ],
    )
}

fn set_aside_section(rows: &[SetAside]) -> String {
    let mut out = String::from("<section id=\"set-aside\">\n<h2>Rows set aside</h2>\n");
    // The kinds in pipeline order, each shown even when none; a kind unknown here after them.
    let mut totals: Vec<(&str, u64)> = vec![("rejected", 0), ("quarantined", 0), ("duplicate", 0)];
    for r in rows {
        match totals.iter_mut().find(|(kind, _)| *kind == r.kind) {
            Some((_, n)) => *n += r.rows,
            None => totals.push((&r.kind, r.rows)),
        }
    }
    out.push_str("<p class=\"totals\">");
    for (kind, n) in &totals {
        out.push_str(&format!("<span id=\"total-{k}\">{k}: <b>{n}</b></span>", k = esc(kind)));
    }
    out.push_str("</p>\n");
    if rows.is_empty() {
        out.push_str("<p>No row of this day was rejected, quarantined or removed as a duplicate.</p>\n");
    } else {
        out.push_str("<table>\n");
        out.push_str(&header(&["Kind", "Source", "Reason", "Rows", "First (file:line)", "Detail"]));
        for r in rows {
            out.push_str(&row(
                "",
                &[
                    (false, esc(&r.kind)),
                    (false, esc(&r.source_id)),
                    (false, esc(&r.reason_code)),
                    (true, r.rows.to_string()),
                    (false, format!("{}:{}", esc(&r.sample_file), r.sample_line)),
                    (false, esc(&r.sample_detail)),
                ],
            ));
        }
        out.push_str("</table>\n");
    }
    out.push_str("</section>\n");
    out
}

fn movers_section(data: &ReportData) -> String {
    let mut out = String::from("<section id=\"movers\">\n<h2>Biggest price movers</h2>\n");
    if data.movers.is_empty() {
        out.push_str("<p>No product of this day has a price change against an earlier day.</p>\n</section>\n");
        return out;
    }
    out.push_str("<table>\n");
    let chart = format!("Last {HISTORY_DAYS} days");
    out.push_str(&header(&["Product", "Category", "Market price (USD)", "Change", "Since", &chart]));
    for m in &data.movers {
        let product = format!(
            "{}<br><span class=\"muted\">{} · <code>{}</code></span>",
            esc(m.name.as_deref().unwrap_or("(no name)")),
            esc(m.brand.as_deref().unwrap_or("(no brand)")),
            esc(&m.product_id)
        );
        let (class, sign) = if m.price_change_pct.is_sign_negative() { ("down", "") } else { ("up", "+") };
        let points: Vec<&PricePoint> = data.history.iter().filter(|p| p.product_id == m.product_id).collect();
        out.push_str(&row(
            "",
            &[
                (false, product),
                (false, esc(&m.category)),
                (true, m.market_price_usd.to_string()),
                (true, format!("<span class=\"{class}\">{sign}{} %</span>", m.price_change_pct)),
                (false, m.prev_price_date.to_string()),
                (false, sparkline(&points, data.date)),
            ],
        ));
    }
    out.push_str("</table>\n</section>\n");
    out
}

/// A product's market price over the [`HISTORY_DAYS`] days up to `date` as a line, the
/// last day marked; x is the day, y the price between the lowest and the highest.
fn sparkline(points: &[&PricePoint], date: NaiveDate) -> String {
    const W: f64 = 180.0;
    const H: f64 = 40.0;
    const PAD: f64 = 4.0;
    let (Some(low), Some(high)) =
        (points.iter().map(|p| p.market_price_usd).min(), points.iter().map(|p| p.market_price_usd).max())
    else {
        return String::new();
    };
    let first = date - Days::new(u64::from(HISTORY_DAYS - 1));
    let range = (high - low).as_f64();
    let xy = |p: &PricePoint| {
        let x = PAD + (p.price_date - first).num_days() as f64 / f64::from(HISTORY_DAYS - 1) * (W - 2.0 * PAD);
        let y =
            if range > 0.0 { H - PAD - (p.market_price_usd - low).as_f64() / range * (H - 2.0 * PAD) } else { H / 2.0 };
        (x, y)
    };
    let line: Vec<String> = points.iter().map(|p| xy(p)).map(|(x, y)| format!("{x:.1},{y:.1}")).collect();
    let (lx, ly) = points.last().map(|p| xy(p)).unwrap_or_default();
    format!(
        "<svg width=\"{W}\" height=\"{H}\" viewBox=\"0 0 {W} {H}\" role=\"img\"><title>{n} day(s) from {first} to {date}: low {low}, high {high} USD</title><rect class=\"window\" width=\"{W}\" height=\"{H}\"/><polyline class=\"spark\" points=\"{}\"/><circle class=\"last\" cx=\"{lx:.1}\" cy=\"{ly:.1}\" r=\"2.5\"/></svg>",
        line.join(" "),
        n = points.len(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use ppmt_domain::{BatchId, StageCounts};

    fn day() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 25).unwrap()
    }

    fn at(h: u32, m: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 25, h, m, s).unwrap()
    }

    fn run(stage: Stage, status: RunStatus, start: u32, secs: u32, error: Option<&str>) -> StageRun {
        StageRun {
            batch_id: BatchId("2026-11-25-b1".into()),
            batch_date: day(),
            stage,
            status,
            attempts: 1,
            started_at: Some(at(2, 0, start)),
            finished_at: Some(at(2, 0, start + secs)),
            counts: StageCounts::default(),
            error: error.map(str::to_owned),
        }
    }

    fn health(source_id: &str, status: &str, records: u64, error: Option<&str>) -> SourceHealth {
        SourceHealth {
            source_id: source_id.into(),
            status: status.into(),
            requests: 2,
            records,
            rejected: 0,
            error: error.map(str::to_owned),
        }
    }

    fn data() -> ReportData {
        let mut scraped = run(Stage::Scraped, RunStatus::Failed, 0, 4, Some("eu_shop (failed): HTTP 404 <Not Found>"));
        scraped.counts.sources =
            Some(vec![health("eu_shop", "failed", 0, Some("HTTP 404 <Not Found>")), health("uk_api", "ok", 3, None)]);
        let point = |id: &str, d: u32, price: &str| PricePoint {
            product_id: id.into(),
            price_date: NaiveDate::from_ymd_opt(2026, 11, d).unwrap(),
            market_price_usd: price.parse().unwrap(),
        };
        ReportData {
            date: day(),
            generated_at: at(3, 0, 0),
            runs: vec![
                run(Stage::Transformed, RunStatus::Succeeded, 10, 3, None),
                scraped,
                run(Stage::Loaded, RunStatus::Succeeded, 5, 2, None),
            ],
            set_aside: vec![SetAside {
                kind: "quarantined".into(),
                source_id: "uk_api".into(),
                reason_code: "SCALE_ERROR".into(),
                rows: 7,
                sample_file: "raw/2026-11-25/uk_api.jsonl".into(),
                sample_line: 3,
                sample_detail: "price <b>x100</b> & \"more\"".into(),
            }],
            movers: vec![PriceMover {
                product_id: "G00840012345894".into(),
                name: Some("Sonora Go <Speaker>".into()),
                brand: Some("Sonora".into()),
                category: "audio".into(),
                market_price_usd: "44.43".parse().unwrap(),
                price_change_pct: "-8.86".parse().unwrap(),
                prev_price_date: NaiveDate::from_ymd_opt(2026, 11, 24).unwrap(),
            }],
            history: vec![
                point("G00840012345894", 23, "49.37"),
                point("G00840012345894", 24, "48.75"),
                point("G00840012345894", 25, "44.43"),
            ],
        }
    }

    #[test]
    fn escapes_every_text() {
        let html = render_report(&data());
        assert!(html.contains("price &lt;b&gt;x100&lt;/b&gt; &amp; &quot;more&quot;"), "{html}");
        assert!(html.contains("Sonora Go &lt;Speaker&gt;"));
        assert!(html.contains("HTTP 404 &lt;Not Found&gt;"));
        assert!(!html.contains("<b>x100") && !html.contains("<Speaker>") && !html.contains("<Not Found>"));
        assert_eq!(esc("a'b"), "a&#39;b");
    }

    #[test]
    fn a_failed_source_and_a_failed_stage_stand_out() {
        let html = render_report(&data());
        assert!(html.contains(
            "<tr class=\"failed\"><td>eu_shop</td><td><span class=\"failed\">failed</span></td><td class=\"num\">2</td>"
        ));
        assert!(html.contains("<tr><td>uk_api</td><td><span class=\"ok\">ok</span></td>"));
        assert!(html.contains("<tr class=\"failed\"><td>scraped</td><td><span class=\"failed\">failed</span></td>"));
        assert!(html.contains("<rect class=\"bar failed\""));
    }

    #[test]
    fn shows_the_numbers() {
        let html = render_report(&data());
        // Stages in pipeline order, with durations.
        let at = |cell: &str| html.find(cell).unwrap();
        let (scraped, loaded, transformed) =
            (at("<td>scraped</td>"), at("<td>loaded</td>"), at("<td>transformed</td>"));
        assert!(scraped < loaded && loaded < transformed, "{html}");
        assert!(html.contains("<td class=\"num\">4.0 s</td>") && html.contains("<td class=\"num\">3.0 s</td>"));
        // Set-aside rows and totals per kind.
        assert!(html.contains("<td>SCALE_ERROR</td><td class=\"num\">7</td><td>raw/2026-11-25/uk_api.jsonl:3</td>"));
        assert!(html.contains("quarantined: <b>7</b>") && html.contains("rejected: <b>0</b>"));
        assert!(at("rejected: <b>") < at("quarantined: <b>") && at("quarantined: <b>") < at("duplicate: <b>"));
        // The mover, and its chart: three days, the last at the right end, lowest.
        assert!(html.contains("<td class=\"num\">44.43</td><td class=\"num\"><span class=\"down\">-8.86 %</span></td>"));
        assert!(html.contains("3 day(s) from 2026-10-27 to 2026-11-25: low 44.43, high 49.37 USD"));
        assert!(html.contains("<circle class=\"last\" cx=\"176.0\" cy=\"36.0\""), "{html}");
    }

    #[tokio::test]
    async fn gathers_the_movers_and_only_their_recent_prices() {
        let ledger = ppmt_platform::testing::MemoryLedger::default();
        let warehouse = ppmt_platform::testing::MemoryWarehouse::default();
        let want = data();
        ledger.runs.lock().unwrap().clone_from(&want.runs);
        warehouse.movers.lock().unwrap().clone_from(&want.movers);
        let mut history = want.history.clone();
        let other = PricePoint { product_id: "G-other".into(), ..history[0].clone() };
        let too_old = PricePoint { price_date: day() - Days::new(30), ..history[0].clone() };
        history.extend([other, too_old]);
        *warehouse.history.lock().unwrap() = history;
        let got = gather(&ledger, &warehouse, day()).await.unwrap();
        assert_eq!((got.movers, got.history), (want.movers, want.history));
    }

    #[test]
    fn an_empty_day_says_so() {
        let html =
            render_report(&ReportData { runs: vec![], set_aside: vec![], movers: vec![], history: vec![], ..data() });
        assert!(html.contains("No batch of this day is in the run ledger"));
        assert!(html.contains("No scrape of this day reported its sources."));
        assert!(html.contains("No row of this day was rejected"));
        assert!(html.contains("No product of this day has a price change"));
    }
}
