//! `ppmt report` on the golden days (`e2e/fixtures/golden/`): the three days are scraped
//! by the real scraper and carried through the real services, then the real `ppmt`
//! writes each day's report, which a real headless Chromium (Debian's `chromium`,
//! installed by `infra/local/chromium.sh` when missing) renders: a screenshot of day 3,
//! and each day's DOM checked against figures worked out by hand in the fixtures' README
//! (and re-derived in the comments below).
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::NaiveDate;
use ppmt_e2e::Harness;
use ppmt_scraper::fixture_server::FixtureServer;

const DAYS: [(&str, &str); 3] = [("2026-11-23", "day1"), ("2026-11-24", "day2"), ("2026-11-25", "day3")];

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Runs headless Chromium with a fresh profile in `dir`; returns its stdout.
async fn chromium(dir: &Path, profile: &str, args: &[&str]) -> anyhow::Result<String> {
    let run = tokio::process::Command::new("/usr/bin/chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", dir.join(profile).display()))
        .args(args)
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(120), run).await??;
    anyhow::ensure!(out.status.success(), "chromium {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    Ok(String::from_utf8(out.stdout)?)
}

/// The text of an element's content with tags removed and entities decoded.
fn text(html: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            _ if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", "\"").replace("&#39;", "'").replace("&amp;", "&")
}

/// The HTML of `<section id="…">`.
fn section<'a>(dom: &'a str, id: &str) -> &'a str {
    let start = dom.find(&format!("<section id=\"{id}\"")).unwrap_or_else(|| panic!("no section {id}: {dom}"));
    let end = dom[start..].find("</section>").unwrap();
    &dom[start..start + end]
}

/// The body rows of a section's table(s), each cell as text.
fn rows(dom: &str, id: &str) -> Vec<Vec<String>> {
    section(dom, id)
        .split("<tr")
        .skip(1)
        .filter(|row| row.contains("<td"))
        .map(|row| {
            row.split("<td").skip(1).map(|cell| text(&format!("<td{}", cell.split("</td>").next().unwrap()))).collect()
        })
        .collect()
}

/// The text of the element with `id`.
fn by_id(dom: &str, id: &str) -> String {
    let start = dom.find(&format!("id=\"{id}\"")).unwrap_or_else(|| panic!("no element {id}"));
    let end = dom[start..].find("</span>").unwrap();
    text(&format!("<{}", &dom[start..start + end]))
}

/// `ppmt report` for a day, then Chromium's DOM of it; returns the file and the DOM.
async fn report(h: &Harness, dir: &Path, day: &str) -> anyhow::Result<(PathBuf, String)> {
    let file = dir.join(format!("report-{day}.html"));
    let out = h.ppmt(&["report", "--date", day, "--out", &file.to_string_lossy()])?;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains(&format!("report of {day} written to")));
    let html = std::fs::read_to_string(&file)?;
    // Self-contained: nothing to run, nothing to fetch.
    assert!(!html.contains("<script") && !html.contains("src=") && !html.contains("href="), "{html}");
    let dom = chromium(dir, &format!("dom-{day}"), &["--dump-dom", &format!("file://{}", file.display())]).await?;
    Ok((file, dom))
}

fn strings(rows: &[&[&str]]) -> Vec<Vec<String>> {
    rows.iter().map(|r| r.iter().map(|c| (*c).to_owned()).collect()).collect()
}

#[tokio::test]
async fn the_daily_report_renders_in_chromium_with_hand_computed_figures() -> anyhow::Result<()> {
    let setup = std::process::Command::new(repo().join("infra/local/chromium.sh")).status()?;
    assert!(setup.success(), "infra/local/chromium.sh could not install chromium");

    let mut h = Harness::new("report").await?;
    h.start_all()?;
    let sources = repo().join("e2e/fixtures/golden/sources.toml");
    let mut batches = Vec::new();
    for (day, dir) in DAYS {
        let site = FixtureServer::serve_dir(0, &repo().join("e2e/fixtures/golden").join(dir).join("site")).await?;
        // Day 3's scrape exits non-zero: eu_shop's export is gone (404).
        h.run_scraper(day.parse()?, &sources, &[("PPMT_DEMO_BASE_URL", &site.base_url())]).await?;
        let manifest = h.manifest(day.parse::<NaiveDate>()?).await?;
        h.wait_synced(manifest.batch_date, &manifest.batch_id).await?;
        batches.push(manifest.batch_id);
    }
    let dir = std::env::temp_dir().join(format!("ppmt-report-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir)?;
    println!("reports and screenshot in {}", dir.display());

    // Day 3 (2026-11-25), seen as a person sees it: a 1280 × 2000 screenshot with content.
    let (file, dom) = report(&h, &dir, "2026-11-25").await?;
    let png = dir.join("report-2026-11-25.png");
    let shot = format!("--screenshot={}", png.display());
    chromium(&dir, "shot", &[&shot, "--window-size=1280,2000", &format!("file://{}", file.display())]).await?;
    let bytes = std::fs::read(&png)?;
    assert_eq!(&bytes[1..4], b"PNG");
    let (width, height) = (&bytes[16..20], &bytes[20..24]);
    assert_eq!((width, height), (&1280u32.to_be_bytes()[..], &2000u32.to_be_bytes()[..]));
    assert!(bytes.len() > 30_000, "a screenshot of {} bytes shows next to nothing", bytes.len());

    // One batch: the scrape failed (eu_shop needs an operator), the stages after it ran
    // once each on the other sources' data.
    let stages: Vec<(String, String, String)> =
        rows(&dom, "timeline").into_iter().map(|r| (r[0].clone(), r[1].clone(), r[4].clone())).collect();
    let want: Vec<(String, String, String)> =
        [("scraped", "failed"), ("loaded", "succeeded"), ("transformed", "succeeded"), ("synced", "succeeded")]
            .map(|(s, st)| (s.to_owned(), st.to_owned(), "1".to_owned()))
            .into();
    assert_eq!(stages, want);
    assert!(rows(&dom, "timeline")[0][5].contains("eu_shop (failed)"), "{dom}");
    assert!(section(&dom, "timeline").contains(batches[2].as_str()));
    // The newest scrape's sources: eu_shop got a 404 and wrote nothing; uk_api's 3
    // products (page 2 is empty), us_feed's 3 items and the ECB's 2 rates (USD, GBP).
    assert!(section(&dom, "sources").contains(batches[2].as_str()));
    let sources: Vec<(String, String, String)> =
        rows(&dom, "sources").into_iter().map(|r| (r[0].clone(), r[1].clone(), r[3].clone())).collect();
    for want in [("eu_shop", "failed", "0"), ("uk_api", "ok", "3"), ("us_feed", "ok", "3"), ("ecb", "ok", "2")] {
        let want = (want.0.to_owned(), want.1.to_owned(), want.2.to_owned());
        assert!(sources.contains(&want), "{want:?} in {sources:?}");
    }
    let eu_shop = rows(&dom, "sources").into_iter().find(|r| r[0] == "eu_shop").unwrap();
    assert!(eu_shop[5].contains("HTTP 404"), "{eu_shop:?}");
    // Nothing set aside on day 3.
    for (kind, total) in [("rejected", 0), ("quarantined", 0), ("duplicate", 0)] {
        assert_eq!(by_id(&dom, &format!("total-{kind}")), format!("{kind}: {total}"));
    }
    // Movers against 2026-11-24, largest move first:
    //   speaker    median(43.86, 44.99) = 44.425 → 44.43; (44.43 − 48.75) / 48.75 = −8.8615 % → −8.86
    //   headphones median(286.94, 289.99) = 288.465 → 288.47; (288.47 − 273.65) / 273.65 = +5.4157 % → +5.42
    //   kettle     median(52.00, 51.99) = 51.995 → 52.00; (52.00 − 51.75) / 51.75 = +0.4831 % → +0.48
    // each charted over its three days (11-23, 11-24, 11-25) of the 30 ending 11-25.
    let chart = |low: &str, high: &str| format!("3 day(s) from 2026-10-27 to 2026-11-25: low {low}, high {high} USD");
    let movers_want = [
        (
            "Sonora Go Portable Bluetooth Speaker",
            "G00840012345894",
            "audio",
            "44.43",
            "-8.86 %",
            chart("44.43", "49.37"),
        ),
        (
            "Sonora ANC900 Over-Ear Headphones, schwarz",
            "G00840012345672",
            "audio",
            "288.47",
            "+5.42 %",
            chart("273.65", "288.47"),
        ),
        (
            "Brewmaster KT-200 Electric Kettle 1.7L",
            "G04260123456788",
            "kitchen",
            "52.00",
            "+0.48 %",
            chart("51.75", "52.19"),
        ),
    ];
    let movers = rows(&dom, "movers");
    assert_eq!(movers.len(), movers_want.len(), "{movers:?}");
    for (got, (name, id, category, market, change, chart)) in movers.iter().zip(movers_want) {
        assert!(got[0].starts_with(name) && got[0].ends_with(id), "{got:?}");
        assert_eq!(got[1..], [category, market, change, "2026-11-24", &chart]);
    }

    // Day 2 (2026-11-24): uk_api's headphones at 24900 GBP (×100) were quarantined, and
    // the moves against 11-23 are small: speaker (48.75 − 49.37) / 49.37 = −1.2558 %,
    // kettle (51.75 − 52.19) / 52.19 = −0.8431 %, headphones median(270.30, 276.99) =
    // 273.645 → 273.65, (273.65 − 273.75) / 273.75 = −0.0365 %.
    let (_, dom) = report(&h, &dir, "2026-11-24").await?;
    let set_aside: Vec<Vec<String>> = rows(&dom, "set-aside").into_iter().map(|r| r[..4].to_vec()).collect();
    assert_eq!(set_aside, strings(&[&["quarantined", "uk_api", "SCALE_ERROR", "1"]]));
    assert_eq!(by_id(&dom, "total-quarantined"), "quarantined: 1");
    let moves: Vec<(String, String)> = rows(&dom, "movers").into_iter().map(|r| (r[2].clone(), r[3].clone())).collect();
    let moves_want = [("48.75", "-1.26 %"), ("51.75", "-0.84 %"), ("273.65", "-0.04 %")];
    assert_eq!(moves, moves_want.map(|(a, b)| (a.to_owned(), b.to_owned())).to_vec());

    // Day 1 (2026-11-23): the scraper refused eu_shop's toaster (price `abc`, line 4 of
    // its file), and us_feed sent its headphones twice (line 2 removed, line 1 kept). No
    // earlier day, so no mover.
    let (_, dom) = report(&h, &dir, "2026-11-23").await?;
    let set_aside = rows(&dom, "set-aside");
    let kinds: Vec<Vec<String>> = set_aside.iter().map(|r| r[..4].to_vec()).collect();
    assert_eq!(
        kinds,
        strings(&[&["duplicate", "us_feed", "DUPLICATE", "1"], &["rejected", "eu_shop", "UNPARSEABLE_PRICE", "1"]])
    );
    assert!(set_aside[0][4].ends_with(":2") && set_aside[0][5].ends_with(" line 1"), "{set_aside:?}");
    assert!(set_aside[1][4].ends_with(":4") && set_aside[1][5].contains("abc"), "{set_aside:?}");
    for (kind, total) in [("rejected", 1), ("quarantined", 0), ("duplicate", 1)] {
        assert_eq!(by_id(&dom, &format!("total-{kind}")), format!("{kind}: {total}"));
    }
    assert!(section(&dom, "movers").contains("No product of this day has a price change"));
    Ok(())
}
