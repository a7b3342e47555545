//! The golden days (`e2e/fixtures/golden/`): three days of three shops in EUR, GBP and
//! USD, scraped by the real scraper from a local server and carried by the real services
//! into the warehouse, the app's table and the read API. Every expected figure is worked
//! out by hand in the fixtures' README; `expected.json` holds the same figures.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use chrono::NaiveDate;
use ppmt_domain::{BatchId, Stage};
use ppmt_e2e::Harness;
use ppmt_platform::ports::RunStatus;
use ppmt_scraper::fixture_server::FixtureServer;
use serde_json::Value;

const DAYS: [(&str, &str); 3] = [("2026-11-23", "day1"), ("2026-11-24", "day2"), ("2026-11-25", "day3")];
const PRODUCTS: [&str; 3] = ["headphones", "kettle", "speaker"];

fn golden() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/golden")
}

fn expected() -> Value {
    serde_json::from_str(&std::fs::read_to_string(golden().join("expected.json")).unwrap()).unwrap()
}

fn date(text: &str) -> NaiveDate {
    text.parse().unwrap()
}

/// What a day's products look like in the warehouse, as the expectations spell them.
async fn product_figures(h: &Harness, day: &str) -> anyhow::Result<BTreeMap<String, Value>> {
    let rows = h
        .query(&format!(
            "SELECT product_id, market_price_usd::text, retail_price_usd::text, lowest_price_usd::text, \
             sources::text, dispersion::text, price_change_pct::text, trend, avg_7d::text, min_7d::text, \
             max_7d::text, avg_30d::text, min_30d::text, max_30d::text, category, category_avg_usd::text, \
             confidence::text FROM fact_product_prices WHERE price_date = '{day}' ORDER BY product_id"
        ))
        .await?;
    let names = [
        "product_id",
        "market_price_usd",
        "retail_price_usd",
        "lowest_price_usd",
        "sources",
        "dispersion",
        "price_change_pct",
        "trend",
        "avg_7d",
        "min_7d",
        "max_7d",
        "avg_30d",
        "min_30d",
        "max_30d",
        "category",
        "category_avg_usd",
        "confidence",
    ];
    Ok(rows
        .into_iter()
        .map(|r| {
            let mut o = serde_json::Map::new();
            for (name, cell) in names.iter().zip(&r) {
                let v = match (name, cell) {
                    (_, None) => Value::Null,
                    (&"sources", Some(t)) => Value::from(t.parse::<i64>().unwrap()),
                    (_, Some(t)) => Value::from(t.clone()),
                };
                o.insert((*name).to_owned(), v);
            }
            (r[0].clone().unwrap(), Value::Object(o))
        })
        .collect())
}

/// Checks the warehouse's figures of a day against the expectations.
async fn assert_day(h: &Harness, day: &str, want: &Value) -> anyhow::Result<()> {
    let got = product_figures(h, day).await?;
    for key in PRODUCTS {
        let want = &want["products"][key];
        let id = want["product_id"].as_str().unwrap();
        let have = got.get(id).unwrap_or_else(|| panic!("{day}: no figures for {key} ({id}): {got:#?}"));
        for (field, value) in have.as_object().unwrap() {
            assert_eq!(value, &want[field], "{day} {key} {field}");
        }
    }
    let quarantined = h
        .query(&format!(
            "SELECT source_id, source_sku, reason_code FROM quarantined_rows WHERE batch_date = '{day}' ORDER BY 1, 2"
        ))
        .await?;
    let want_q: Vec<Vec<Option<String>>> = want["quarantined_rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| ["source_id", "source_sku", "reason_code"].iter().map(|f| q[*f].as_str().map(str::to_owned)).collect())
        .collect();
    assert_eq!(quarantined, want_q, "{day} quarantined rows");
    Ok(())
}

async fn assert_counts(h: &Harness, day: &str, batch: &BatchId, want: &Value) -> anyhow::Result<()> {
    let n = |f: &str| want[f].as_u64();
    let loaded = h.run(date(day), batch, Stage::Loaded).await?.unwrap().counts;
    assert_eq!(
        (loaded.rows_read, loaded.rows_staged, loaded.rows_rejected, loaded.fx_rates),
        (n("rows_read"), n("rows_staged"), n("rows_rejected"), n("fx_rates")),
        "{day} load counts"
    );
    let t = h.run(date(day), batch, Stage::Transformed).await?.unwrap().counts;
    assert_eq!((t.facts, t.quarantined, t.duplicates), (n("facts"), n("quarantined"), n("duplicates")), "{day}");
    Ok(())
}

async fn get(url: &str) -> anyhow::Result<(u16, Value)> {
    let response = reqwest::get(url).await?;
    let status = response.status().as_u16();
    Ok((status, response.json().await?))
}

/// Replays a day and waits until its batch is synced once more.
async fn replay_and_wait(h: &Harness, day: &str, batch: &BatchId) -> anyhow::Result<()> {
    let synced_before = h.run(date(day), batch, Stage::Synced).await?.map_or(0, |r| r.attempts);
    let env = ppmt_cli::ops::StackEnv::new(h.env.clone());
    ppmt_cli::ops::replay_day(&h.clients, &env, date(day)).await?;
    h.wait_for(date(day), batch, Stage::Synced, Duration::from_secs(60), |r| {
        r.attempts > synced_before && r.status == RunStatus::Succeeded
    })
    .await?;
    Ok(())
}

#[tokio::test]
async fn three_golden_days_reach_the_app_with_hand_computed_figures() -> anyhow::Result<()> {
    let expected = expected();
    let mut h = Harness::new("golden-days").await?;
    h.start_all()?;
    let sources = golden().join("sources.toml");
    let mut batches = BTreeMap::new();
    for (day, dir) in DAYS {
        let site = FixtureServer::serve_dir(0, &golden().join(dir).join("site")).await?;
        let (succeeded, output) =
            h.run_scraper(date(day), &sources, &[("PPMT_DEMO_BASE_URL", &site.base_url())]).await?;
        // On day 3 eu_shop's export is gone (404): the scrape writes the others' batch and
        // exits non-zero, naming the source.
        let eu_shop_missing = day == "2026-11-25";
        assert_eq!(succeeded, !eu_shop_missing, "{output}");
        if eu_shop_missing {
            assert!(output.contains("1 source(s) need attention") && output.contains("eu_shop (failed)"), "{output}");
        }
        let manifest = h.manifest(date(day)).await?;
        h.wait_synced(date(day), &manifest.batch_id).await?;
        let want = &expected["days"][day];
        assert_counts(&h, day, &manifest.batch_id, want).await?;
        assert_day(&h, day, want).await?;
        batches.insert(day, manifest.batch_id);
    }

    // The app's table after day 3: each product's LATEST is day 3; the eu_shop offers
    // (missing on day 3) are gone; every day has its history item.
    let items = h.app_items().await?;
    let day3 = &expected["days"]["2026-11-25"]["products"];
    for key in PRODUCTS {
        let id = day3[key]["product_id"].as_str().unwrap();
        let latest = &items[&(format!("PRODUCT#{id}"), "LATEST".to_string())];
        for field in ["market_price_usd", "retail_price_usd", "lowest_price_usd", "confidence", "category"] {
            assert_eq!(latest[field], day3[key][field].as_str().unwrap(), "{key} LATEST {field}");
        }
        assert_eq!(latest["price_date"], "2026-11-25");
        let offers: Vec<&str> = items
            .keys()
            .filter(|(pk, sk)| pk == &format!("PRODUCT#{id}") && sk.starts_with("OFFER#"))
            .map(|(_, sk)| sk.as_str())
            .collect();
        assert!(!offers.contains(&"OFFER#eu_shop"), "{key}: eu_shop's offer retired: {offers:?}");
        assert_eq!(offers.len() as i64, day3[key]["sources"].as_i64().unwrap(), "{key} offers {offers:?}");
        for (day, _) in DAYS {
            let sold = expected["days"][day]["products"][key]["market_price_usd"].as_str().unwrap();
            assert_eq!(items[&(format!("PRODUCT#{id}"), format!("DAY#{day}"))]["market_price_usd"], sold);
        }
    }

    // The three days replayed in order by one command, each followed to `synced`; the
    // app's table does not change.
    let before = h.app_items().await?;
    let out = h.ppmt(&["replay", "--from", "2026-11-23", "--to", "2026-11-25", "--wait", "--timeout-secs", "120"])?;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    let days: Vec<&str> = text.lines().filter(|l| l.contains(": synced in ")).map(|l| &l[..10]).collect();
    assert_eq!(days, ["2026-11-23", "2026-11-24", "2026-11-25"], "{text}");
    assert_eq!(h.app_items().await?, before);

    // The read API over that table.
    let api = h.start_api().await?;
    let headphones = day3["headphones"]["product_id"].as_str().unwrap();
    // By our id, and by the UPC-A the US feed uses.
    let (status, by_upc) = get(&format!("{api}/products/840012345672")).await?;
    assert_eq!(status, 200, "{by_upc}");
    assert_eq!(by_upc["product_id"], headphones);
    assert_eq!(by_upc["market_price_usd"], day3["headphones"]["market_price_usd"]);
    assert_eq!(by_upc["offers"].as_array().unwrap().len(), 2);
    assert_eq!(get(&format!("{api}/products/{headphones}")).await?.1, by_upc);
    let (_, history) = get(&format!("{api}/products/{headphones}/history?days=90")).await?;
    let dates: Vec<&str> =
        history["history"].as_array().unwrap().iter().map(|e| e["price_date"].as_str().unwrap()).collect();
    assert_eq!(dates, ["2026-11-25", "2026-11-24", "2026-11-23"]);
    let (_, audio) = get(&format!("{api}/categories/audio/products?limit=1")).await?;
    assert_eq!(audio["products"][0]["product_id"], day3["speaker"]["product_id"], "cheapest first");
    let cursor = audio["next_cursor"].as_str().unwrap();
    let (_, page2) = get(&format!("{api}/categories/audio/products?limit=1&cursor={cursor}")).await?;
    assert_eq!(page2["products"][0]["product_id"], headphones);
    assert_eq!(get(&format!("{api}/products/nothing-here")).await?.0, 404);
    assert_eq!(get(&format!("{api}/products/{headphones}/history?days=0")).await?.0, 400);

    // (b) Day 1 replayed after day 3: its figures and the app's table do not change.
    let before = h.app_items().await?;
    replay_and_wait(&h, "2026-11-23", &batches["2026-11-23"]).await?;
    assert_day(&h, "2026-11-23", &expected["followups"]["b_replay_day1_after_day3"]["day"]).await?;
    assert_eq!(h.app_items().await?, before, "a replay of an older day writes nothing");
    let replayed = h.run(date("2026-11-23"), &batches["2026-11-23"], Stage::Synced).await?.unwrap().counts;
    assert_eq!((replayed.items_written, replayed.items_deleted), (Some(0), Some(0)), "{replayed:?}");

    // (a) The operator releases the ×100 offer of day 2 and replays the day: it flows on
    // as a fact, and the median of three stays sane. Day 3 stays current.
    let release = &expected["followups"]["a_release_then_replay_day2"];
    for r in release["quarantine_releases"].as_array().unwrap() {
        h.query(&format!(
            "INSERT INTO quarantine_releases (price_date, source_id, source_sku, reason_code, note, released_at) \
             VALUES ('{}', '{}', '{}', '{}', 'golden test', now())",
            r["price_date"].as_str().unwrap(),
            r["source_id"].as_str().unwrap(),
            r["source_sku"].as_str().unwrap(),
            r["reason_code"].as_str().unwrap()
        ))
        .await?;
    }
    replay_and_wait(&h, "2026-11-24", &batches["2026-11-24"]).await?;
    assert_day(&h, "2026-11-24", &release["day"]).await?;
    let items = h.app_items().await?;
    let day2 = &release["day"]["products"]["headphones"];
    assert_eq!(
        items[&(format!("PRODUCT#{headphones}"), "DAY#2026-11-24".to_string())]["market_price_usd"],
        day2["market_price_usd"].as_str().unwrap()
    );
    assert_eq!(items[&(format!("PRODUCT#{headphones}"), "LATEST".to_string())]["price_date"], "2026-11-25");

    // Day 3's scrape lost eu_shop: `ppmt status` shows the scraped stage failed, with
    // each source's figures and eu_shop's error, and exits non-zero.
    let out = h.ppmt(&["status", "--date", "2026-11-25", "--output", "json"])?;
    assert!(!out.status.success());
    let status: Value = serde_json::from_slice(&out.stdout)?;
    let day3_batch = &status["days"][0]["batches"][0];
    assert_eq!(day3_batch["batch_id"], batches["2026-11-25"].as_str());
    let scraped = &day3_batch["runs"][0];
    assert_eq!((&scraped["stage"], &scraped["status"]), (&"scraped".into(), &"failed".into()), "{scraped}");
    let eu_shop =
        scraped["counts"]["sources"].as_array().unwrap().iter().find(|s| s["source_id"] == "eu_shop").unwrap();
    assert_eq!((&eu_shop["status"], &eu_shop["records"]), (&"failed".into(), &0.into()), "{eu_shop}");
    assert!(eu_shop["error"].as_str().unwrap().contains("HTTP 404"), "{eu_shop}");
    assert_eq!(
        status["troubles"],
        serde_json::json!([format!("2026-11-25 scraped of batch {} failed", batches["2026-11-25"])])
    );
    let table = String::from_utf8_lossy(&h.ppmt(&["status", "--date", "2026-11-25"])?.stdout).into_owned();
    assert!(table.contains("↳ scraped: eu_shop (failed): ") && table.contains("HTTP 404"), "{table}");

    Ok(())
}
