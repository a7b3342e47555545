//! The pipeline end to end: real binaries, moto server, PostgreSQL. Expected values are
//! computed by hand in the comments next to them.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::NaiveDate;
use ppmt_domain::manifest::{FileFormat, FileKind};
use ppmt_domain::record::PRICE_CSV_REQUIRED;
use ppmt_domain::s3_event::object_created_body;
use ppmt_domain::{Manifest, Stage};
use ppmt_e2e::{Harness, RawFile};
use ppmt_platform::ports::{RunLedger, RunStatus};

fn day(d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, d).unwrap()
}

/// The golden day, 2026-11-24: two shops, three currencies, a duplicate, an invalid row,
/// and a currency without a rate. Both shops name the same products (brand Acme), so
/// they are matched by name and brand. shop_a's file has the original 14-column header,
/// as files written before the identity columns existed.
///
/// Rates (ECB, base EUR): USD 1.05, GBP 0.84, so 1 EUR = 1.05 USD and 1 GBP = 1.25 USD.
fn golden_files(kettle_eur: &str) -> Vec<RawFile<'static>> {
    let shop_a = format!(
        "{}\n\
         kettle,Kettle,Acme,,,{kettle_eur},,,EUR,,,2026-11-24T02:00:00Z,,\n\
         toaster,Toaster,Acme,,,25.50,,,EUR,,,2026-11-24T02:00:00Z,,\n\
         toaster,Toaster,Acme,,,24.00,,,EUR,,,2026-11-24T02:05:00Z,,\n\
         blender,Blender,Acme,,,-3.00,,,EUR,,,2026-11-24T02:00:00Z,,\n",
        PRICE_CSV_REQUIRED.join(",")
    );
    let shop_b = [
        r#"{"product_id":"kettle","name":"Kettle","brand":"Acme","price":"34.00","currency":"GBP","observed_at":"2026-11-24T03:00:00Z"}"#,
        r#"{"product_id":"blender","name":"Blender","brand":"Acme","price":99.99,"currency":"USD","observed_at":"2026-11-24T03:00:00Z"}"#,
        r#"{"product_id":"rice-cooker","name":"Rice cooker","brand":"Acme","price":"5000","currency":"JPY","observed_at":"2026-11-24T03:00:00Z"}"#,
    ]
    .join("\n")
        + "\n";
    let fx = "rate_date,base_currency,quote_currency,rate,source\n2026-11-24,EUR,USD,1.05,ECB\n2026-11-24,EUR,GBP,0.84,ECB\n";
    vec![
        RawFile { source_id: "shop_a", kind: FileKind::Prices, format: FileFormat::Csv, content: shop_a, records: 4 },
        RawFile { source_id: "shop_b", kind: FileKind::Prices, format: FileFormat::Json, content: shop_b, records: 3 },
        RawFile { source_id: "ecb", kind: FileKind::FxRates, format: FileFormat::Csv, content: fx.into(), records: 2 },
    ]
}

/// (product name, item sort key) → the item's figures in short.
type Summary = BTreeMap<(String, String), String>;

/// The app's table in short, products named by their display name.
async fn app_summary(h: &Harness) -> anyhow::Result<Summary> {
    let names: BTreeMap<String, String> = h
        .query("SELECT product_id, name FROM dim_products")
        .await?
        .into_iter()
        .map(|r| (format!("PRODUCT#{}", r[0].clone().unwrap_or_default()), r[1].clone().unwrap_or_default()))
        .collect();
    Ok(h.app_items()
        .await?
        .iter()
        .filter_map(|((pk, sk), i)| {
            let name = names.get(pk)?.clone();
            let v = |k: &str| i.get(k).cloned().unwrap_or_default();
            let text = match sk.split_once('#').map_or(sk.as_str(), |(kind, _)| kind) {
                "LATEST" => format!("{} market {} from {}", v("price_date"), v("market_price_usd"), v("sources")),
                "OFFER" => format!("{} {} = {} USD", v("price"), v("currency"), v("price_usd")),
                "DAY" => {
                    format!("market {} lowest {} from {}", v("market_price_usd"), v("lowest_price_usd"), v("sources"))
                }
                _ => return None,
            };
            Some(((name, sk.clone()), text))
        })
        .collect())
}

fn golden_items() -> Summary {
    let item = |p: &str, sk: &str, text: &str| ((p.to_owned(), sk.to_owned()), text.to_owned());
    BTreeMap::from([
        // Kettle: 40.00 EUR × 1.05 = 42.00 USD and 34.00 GBP × 1.25 = 42.50 USD; the median
        // of two is their mean, 42.25.
        item("Kettle", "LATEST", "2026-11-24 market 42.25 from 2"),
        item("Kettle", "OFFER#shop_a", "40 EUR = 42.00 USD"),
        item("Kettle", "OFFER#shop_b", "34 GBP = 42.50 USD"),
        item("Kettle", "DAY#2026-11-24", "market 42.25 lowest 42.00 from 2"),
        // The 02:05 observation (24.00 EUR) beats the 02:00 one: 24.00 × 1.05 = 25.20 USD.
        item("Toaster", "LATEST", "2026-11-24 market 25.20 from 1"),
        item("Toaster", "OFFER#shop_a", "24 EUR = 25.20 USD"),
        item("Toaster", "DAY#2026-11-24", "market 25.20 lowest 25.20 from 1"),
        // shop_a's blender is rejected (negative); shop_b's stands alone.
        item("Blender", "LATEST", "2026-11-24 market 99.99 from 1"),
        item("Blender", "OFFER#shop_b", "99.99 USD = 99.99 USD"),
        item("Blender", "DAY#2026-11-24", "market 99.99 lowest 99.99 from 1"),
    ])
}

async fn golden_day(h: &mut Harness) -> anyhow::Result<Manifest> {
    h.start_all()?;
    let manifest = h.drop_batch(day(24), &golden_files("40.00")).await?;
    h.wait_synced(day(24), &manifest.batch_id).await?;
    Ok(manifest)
}

#[tokio::test]
async fn golden_day_reaches_dynamodb_with_hand_computed_prices() -> anyhow::Result<()> {
    let mut h = Harness::new("golden").await?;
    let manifest = golden_day(&mut h).await?;
    assert_eq!(app_summary(&h).await?, golden_items());

    // Row accounting: read 9 = staged 6 + rejected 1 + fx 2; staged 6 = facts 4 + quarantined 1 + duplicates 1.
    let loaded = h.run(day(24), &manifest.batch_id, Stage::Loaded).await?.unwrap();
    assert_eq!(
        (loaded.counts.rows_read, loaded.counts.rows_staged, loaded.counts.rows_rejected, loaded.counts.fx_rates),
        (Some(9), Some(6), Some(1), Some(2))
    );
    let transformed = h.run(day(24), &manifest.batch_id, Stage::Transformed).await?.unwrap();
    assert_eq!(
        (transformed.counts.facts, transformed.counts.quarantined, transformed.counts.duplicates),
        (Some(4), Some(1), Some(1))
    );

    // Rejected and quarantined rows keep where they were and why.
    let rejected = h.query("SELECT source_id, line_no::text, reason_code FROM rejected_rows").await?;
    assert_eq!(rejected, vec![vec![Some("shop_a".into()), Some("5".into()), Some("NEGATIVE_PRICE".into())]]);
    let quarantined = h.query("SELECT source_sku, reason_code FROM quarantined_rows").await?;
    assert_eq!(quarantined, vec![vec![Some("rice-cooker".into()), Some("NO_FX_RATE".into())]]);

    // Every stage announced itself with the manifest's batch id.
    let events = h.audit_events().await?;
    let stages: Vec<_> = events.iter().map(|e| (e.stage, e.batch_id.clone())).collect();
    for stage in [Stage::Loaded, Stage::Transformed, Stage::Synced] {
        assert!(stages.contains(&(stage, manifest.batch_id.clone())), "{stage:?} missing from {stages:?}");
    }
    assert!(events.iter().all(|e| e.batch_id == manifest.batch_id));
    Ok(())
}

#[tokio::test]
async fn golden_day_loaded_in_parts_reaches_dynamodb_with_the_same_prices() -> anyhow::Result<()> {
    let mut h = Harness::new("parts").await?;
    // Every day is larger than this: its three files are three parts, on the loader's own
    // queue, which the one loader worker takes at once.
    h.env.insert("PPMT_LOAD_FANOUT_BYTES".into(), "1".into());
    let manifest = golden_day(&mut h).await?;
    assert_eq!(app_summary(&h).await?, golden_items());
    let loaded = h.run(day(24), &manifest.batch_id, Stage::Loaded).await?.unwrap();
    assert_eq!(loaded.status, RunStatus::Succeeded);
    assert_eq!(
        (loaded.counts.files, loaded.counts.rows_read, loaded.counts.rows_staged, loaded.counts.rows_rejected),
        (Some(3), Some(9), Some(6), Some(1))
    );
    assert_eq!(loaded.counts.fx_rates, Some(2));
    let files = h.query("SELECT COUNT(*)::text, SUM(rows_staged)::text FROM load_files").await?;
    assert_eq!(files, vec![vec![Some("3".into()), Some("6".into())]]);
    // One `loaded` for the batch, however many parts.
    let events = h.audit_events().await?;
    assert_eq!(events.iter().filter(|e| e.stage == Stage::Loaded).count(), 1, "{events:?}");
    Ok(())
}

#[tokio::test]
async fn ppmt_status_and_rejects_read_a_day_and_an_unrecorded_day_exits_non_zero() -> anyhow::Result<()> {
    let mut h = Harness::new("status").await?;
    let manifest = golden_day(&mut h).await?;
    let ppmt = |args: &[&str]| h.ppmt(args);
    let out = ppmt(&["status", "--date", "2026-11-24", "--output", "json"])?;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let status: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    assert_eq!(status["days"][0]["date"], "2026-11-24");
    let batches = status["days"][0]["batches"].as_array().unwrap();
    assert_eq!(batches.len(), 1);
    assert_eq!(
        (&batches[0]["batch_id"], &batches[0]["superseded"]),
        (&serde_json::json!(manifest.batch_id), &false.into())
    );
    let runs = batches[0]["runs"].as_array().unwrap();
    let stages: Vec<&str> = runs.iter().filter_map(|r| r["stage"].as_str()).collect();
    assert_eq!(stages, ["loaded", "transformed", "synced"], "dropped by the test, not scraped");
    let succeeded = serde_json::to_value(RunStatus::Succeeded)?;
    for r in runs {
        assert_eq!((&r["status"], &r["stale"]), (&succeeded, &serde_json::json!(false)));
        assert!(r["duration_secs"].as_f64().is_some_and(|d| d >= 0.0), "{r}");
    }
    let consumers: Vec<(&str, u64)> = status["queues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| (q["consumer"].as_str().unwrap(), q["dead_letters"].as_u64().unwrap()))
        .collect();
    assert_eq!(consumers, [("loader", 0), ("transformer", 0), ("syncer", 0)]);
    assert_eq!(status["troubles"], serde_json::json!([]));
    let table = ppmt(&["status", "--date", "2026-11-24"])?;
    let table = String::from_utf8_lossy(&table.stdout);
    let line = table.lines().find(|l| l.starts_with("2026-11-24")).unwrap_or_default();
    assert!(line.contains(manifest.batch_id.as_str()) && line.matches(" ok ").count() == 3, "{table}");
    assert!(
        table.contains(
            "rows: read 9, staged 6, rejected 1, facts 4, quarantined 1, duplicates 1, items written 10, unchanged 0"
        ),
        "{table}"
    );
    let empty = ppmt(&["status", "--date", "2026-11-20"])?;
    assert!(!empty.status.success());
    assert!(String::from_utf8_lossy(&empty.stderr).contains("no batch recorded for 2026-11-20"));
    // No region: one line naming the variable, not the SDK's region-lookup warnings.
    let no_region = std::process::Command::new(ppmt_cli::demo::binary("ppmt")?)
        .envs(&h.env)
        .env_remove("AWS_REGION")
        .env_remove("AWS_DEFAULT_REGION")
        .env_remove("RUST_LOG")
        .args(["status", "--date", "2026-11-24"])
        .output()?;
    let stderr = String::from_utf8_lossy(&no_region.stderr);
    assert!(!no_region.status.success());
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("error: no AWS region: set AWS_REGION"), "{stderr}");
    // A sources file that is not there: refused, and no failed batch recorded for it.
    for command in ["scrape", "reparse"] {
        let out = ppmt(&[command, "--date", "2026-11-20", "--sources", "no-such-sources.toml"])?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && stderr.contains("read sources file no-such-sources.toml"), "{stderr}");
    }
    assert_eq!(h.ledger.runs_for_date(day(20)).await?, []);

    // The golden day's rows that did not become facts: shop_a's blender (line 5, -3.00),
    // the toaster's earlier observation (line 3, a duplicate of line 4), and shop_b's
    // rice cooker (line 3, JPY has no rate).
    let out = ppmt(&["rejects", "--date", "2026-11-24", "--output", "json"])?;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let rejects: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    let rows: Vec<(String, String, String, u64, u64)> = rejects["set_aside"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let text = |k: &str| r[k].as_str().unwrap_or_default().to_owned();
            (
                text("kind"),
                text("source_id"),
                text("reason_code"),
                r["rows"].as_u64().unwrap(),
                r["sample_line"].as_u64().unwrap(),
            )
        })
        .collect();
    let row = |kind: &str, source: &str, reason: &str, line: u64| (kind.into(), source.into(), reason.into(), 1, line);
    assert_eq!(
        rows,
        [
            row("duplicate", "shop_a", "DUPLICATE", 3),
            row("quarantined", "shop_b", "NO_FX_RATE", 3),
            row("rejected", "shop_a", "NEGATIVE_PRICE", 5)
        ]
    );
    let table = ppmt(&["rejects", "--date", "2026-11-24", "--kind", "rejected"])?;
    let table = String::from_utf8_lossy(&table.stdout);
    assert!(table.contains("NEGATIVE_PRICE") && !table.contains("NO_FX_RATE"), "{table}");
    Ok(())
}

#[tokio::test]
async fn repeated_events_and_a_replayed_day_change_nothing() -> anyhow::Result<()> {
    let mut h = Harness::new("replay").await?;
    let manifest = golden_day(&mut h).await?;
    let facts_sql = "SELECT o.product_id, o.source_id, o.price_date::text, o.price::text, o.price_usd::text, \
        p.market_price_usd::text, p.is_current::text, o.batch_id FROM fact_offer_prices o \
        JOIN fact_product_prices p ON p.product_id = o.product_id AND p.price_date = o.price_date ORDER BY 1, 2, 3";
    let facts_before = h.query(facts_sql).await?;
    let items_before = h.app_items().await?;

    // The same S3 event delivered twice more, then the day replayed by the operator command.
    let loader_queue = h.queue_url("loader", false)?;
    let event = object_created_body(h.bucket(), "raw/2026-11-24/manifest.json");
    for _ in 0..2 {
        h.clients.sqs.send_message().queue_url(&loader_queue).message_body(&event).send().await?;
    }
    let env = ppmt_cli::ops::StackEnv::new(h.env.clone());
    ppmt_cli::ops::replay_day(&h.clients, &env, day(24)).await?;
    h.wait_for(day(24), &manifest.batch_id, Stage::Synced, Duration::from_secs(60), |r| {
        r.attempts >= 4 && r.status == RunStatus::Succeeded
    })
    .await?;

    assert_eq!(h.query(facts_sql).await?, facts_before);
    assert_eq!(h.app_items().await?, items_before);
    let staged = h.query("SELECT COUNT(*)::text FROM staging_prices").await?;
    assert_eq!(staged, vec![vec![Some("6".into())]], "staging holds the day once");
    Ok(())
}

#[tokio::test]
async fn replaying_an_older_day_keeps_the_newer_latest_price() -> anyhow::Result<()> {
    let mut h = Harness::new("older").await?;
    let older = golden_day(&mut h).await?;
    // The next day the kettle costs 50.00 EUR at shop_a (same rates, dated the 25th).
    let mut newer_files = golden_files("50.00");
    for f in &mut newer_files {
        f.content = f.content.replace("2026-11-24", "2026-11-25");
    }
    let newer = h.drop_batch(day(25), &newer_files).await?;
    h.wait_synced(day(25), &newer.batch_id).await?;
    let after_newer = app_summary(&h).await?;
    // 50.00 EUR × 1.05 = 52.50 USD; market (52.50 + 42.50) / 2 = 47.50.
    let kettle = |s: &Summary, sk: &str| s[&("Kettle".to_string(), sk.to_string())].clone();
    assert_eq!(kettle(&after_newer, "LATEST"), "2026-11-25 market 47.50 from 2");
    assert_eq!(kettle(&after_newer, "OFFER#shop_a"), "50 EUR = 52.50 USD");

    ppmt_cli::ops::replay_day(&h.clients, &ppmt_cli::ops::StackEnv::new(h.env.clone()), day(24)).await?;
    h.wait_for(day(24), &older.batch_id, Stage::Synced, Duration::from_secs(60), |r| {
        r.attempts >= 2 && r.status == RunStatus::Succeeded
    })
    .await?;
    // The latest items keep the 25th; the 24th's history stays as it was.
    let after_replay = app_summary(&h).await?;
    assert_eq!(after_replay, after_newer);
    assert_eq!(kettle(&after_replay, "DAY#2026-11-24"), "market 42.25 lowest 42.00 from 2");
    let current = h
        .query("SELECT price_date::text FROM fact_product_prices p JOIN product_offers o ON o.product_id = p.product_id WHERE o.source_id = 'shop_a' AND o.source_sku = 'kettle' AND p.is_current")
        .await?;
    assert_eq!(current, vec![vec![Some("2026-11-25".into())]]);
    Ok(())
}

#[tokio::test]
async fn a_product_missing_from_a_new_scrape_of_the_day_leaves_the_app() -> anyhow::Result<()> {
    let mut h = Harness::new("dropped").await?;
    golden_day(&mut h).await?;
    assert!(app_summary(&h).await?.contains_key(&("Blender".to_string(), "LATEST".to_string())));
    // The day is scraped again and shop_b no longer lists the blender.
    let mut files = golden_files("40.00");
    files[1].content = files[1].content.lines().filter(|l| !l.contains("blender")).map(|l| format!("{l}\n")).collect();
    files[1].records = 2;
    let again = h.drop_batch(day(24), &files).await?;
    let synced = h.wait_synced(day(24), &again.batch_id).await?;
    // The blender's product, offer and history items go; the other products' figures are
    // the same, and only their LATEST items are rewritten to name the new batch.
    assert_eq!((synced.counts.items_deleted, synced.counts.items_written), (Some(3), Some(2)));
    let mut expected = golden_items();
    expected.retain(|(name, _), _| name != "Blender");
    assert_eq!(app_summary(&h).await?, expected);
    Ok(())
}

/// The retry-after-commit case: the transform of a re-scrape runs twice (a duplicate
/// `loaded` event) before the syncer sees it. Each run must remember what the replaced
/// batch listed, or the product the re-scrape dropped keeps its items forever.
#[tokio::test]
async fn a_dropped_product_leaves_the_app_even_when_the_transform_ran_twice() -> anyhow::Result<()> {
    let mut h = Harness::new("dropped-twice").await?;
    golden_day(&mut h).await?;
    h.stop("syncer").await?;
    let mut files = golden_files("40.00");
    files[1].content = files[1].content.lines().filter(|l| !l.contains("blender")).map(|l| format!("{l}\n")).collect();
    files[1].records = 2;
    let again = h.drop_batch(day(24), &files).await?;
    let done = |r: &ppmt_platform::ports::StageRun| r.status == RunStatus::Succeeded;
    h.wait_for(day(24), &again.batch_id, Stage::Transformed, Duration::from_secs(60), done).await?;
    // The same `loaded` event again: the transform runs a second time and commits.
    let env = ppmt_cli::ops::StackEnv::new(h.env.clone());
    let notifier = ppmt_platform::adapters::sns::SnsNotifier {
        client: h.clients.sns.clone(),
        topic_arn: h.provisioned.topic_arn.clone(),
    };
    ppmt_cli::ops::replay_stage(&h.ledger, &notifier, &env, day(24), Stage::Loaded).await?;
    h.wait_for(day(24), &again.batch_id, Stage::Transformed, Duration::from_secs(60), |r| {
        r.attempts >= 2 && r.status == RunStatus::Succeeded
    })
    .await?;
    h.start("syncer")?;
    h.wait_synced(day(24), &again.batch_id).await?;
    let mut expected = golden_items();
    expected.retain(|(name, _), _| name != "Blender");
    assert_eq!(app_summary(&h).await?, expected);
    Ok(())
}

#[tokio::test]
async fn an_undecodable_message_fails_alone_and_ends_in_the_dlq_with_its_reason() -> anyhow::Result<()> {
    let mut h = Harness::new("poison").await?;
    let loader_queue = h.queue_url("loader", false)?;
    let poison =
        h.clients.sqs.send_message().queue_url(&loader_queue).message_body("this is not an event {").send().await?;
    let poison_id = poison.message_id.unwrap_or_default();
    // Both are queued before the loader starts, so they arrive in the same receive.
    let manifest = h.drop_batch(day(24), &golden_files("40.00")).await?;
    h.start_all()?;
    h.wait_synced(day(24), &manifest.batch_id).await?;
    assert_eq!(app_summary(&h).await?, golden_items());

    let env = ppmt_cli::ops::StackEnv::new(h.env.clone());
    let dlq = h.queue_url("loader", true)?;
    let start = std::time::Instant::now();
    let letters = loop {
        let letters = ppmt_cli::ops::list_dead_letters(&h.clients, &h.ledger, &dlq).await?;
        if !letters.is_empty() || start.elapsed() > Duration::from_secs(60) {
            break letters;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert_eq!(letters.len(), 1, "only the poison message is dead: {letters:?}");
    assert_eq!(letters[0].message_id, poison_id);
    assert_eq!(letters[0].body, "this is not an event {");
    let failure = h.ledger.message_failure(&poison_id).await?.expect("failure recorded");
    assert!(failure.error.contains("not an S3 event notification"), "{}", failure.error);
    assert!(!failure.retryable);
    assert_eq!(failure.receive_count, ppmt_domain::topology::MAX_RECEIVE_COUNT);
    assert!(letters[0].last_error.as_deref().unwrap_or_default().contains("not an S3 event notification"));
    // `ppmt dlq list --output json` and `ppmt dlq show` say what it is, and consume nothing.
    let ppmt = |args: &[&str]| h.ppmt(args);
    let listed = ppmt(&["dlq", "list", "--queue", "loader", "--output", "json"])?;
    let listed: serde_json::Value = serde_json::from_slice(&listed.stdout)?;
    assert_eq!(listed[0]["message_id"], poison_id.as_str());
    assert!(listed[0]["about"].as_str().unwrap().starts_with("undecodable: "), "{listed}");
    assert!(listed[0]["last_error"].as_str().unwrap().contains("not an S3 event notification"), "{listed}");
    let shown = ppmt(&["dlq", "show", "--queue", "loader", &poison_id])?;
    let shown = String::from_utf8_lossy(&shown.stdout);
    assert!(shown.contains("this is not an event {") && shown.contains("about: undecodable"), "{shown}");

    // An operator can move it back; it fails again and returns to the DLQ, nothing is lost.
    let moved = ppmt_cli::ops::redrive(&h.clients, &h.ledger, &env, "loader", Some(&poison_id)).await?;
    assert!(moved.contains("moved 1 message"), "{moved}");
    let start = std::time::Instant::now();
    let back = loop {
        let letters = ppmt_cli::ops::list_dead_letters(&h.clients, &h.ledger, &dlq).await?;
        if !letters.is_empty() || start.elapsed() > Duration::from_secs(60) {
            break letters;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert_eq!(back.len(), 1, "the replayed message failed again and is back in the DLQ");
    assert_eq!(back[0].body, "this is not an event {");
    assert_eq!(app_summary(&h).await?, golden_items(), "nothing else changed");
    Ok(())
}

/// Waits up to 60 s for a consumer's DLQ to hold `n` messages; returns them.
async fn dead_letters(h: &Harness, consumer: &str, n: usize) -> anyhow::Result<Vec<ppmt_cli::ops::DeadLetter>> {
    let dlq = h.queue_url(consumer, true)?;
    let start = std::time::Instant::now();
    loop {
        let letters = ppmt_cli::ops::list_dead_letters(&h.clients, &h.ledger, &dlq).await?;
        if letters.len() >= n || start.elapsed() > Duration::from_secs(60) {
            return Ok(letters);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test]
async fn a_dead_letter_is_listed_shown_replayed_with_ppmt_and_completes() -> anyhow::Result<()> {
    let mut h = Harness::new("dlq-replay").await?;
    // The manifest event of the 24th arrives before the manifest can be read: the loader
    // cannot get it (a permanent failure), so the message goes to the DLQ.
    let loader_queue = h.queue_url("loader", false)?;
    let early = object_created_body(h.bucket(), "raw/2026-11-24/manifest.json");
    let sent = h.clients.sqs.send_message().queue_url(&loader_queue).message_body(&early).send().await?;
    let id = sent.message_id.unwrap_or_default();
    h.start_all()?;
    assert_eq!(dead_letters(&h, "loader", 1).await?.len(), 1);

    // `status` names the dead letter and exits non-zero; `dlq list` says which day it is
    // about and why it failed; `dlq show` prints it whole. Nothing is consumed.
    let status = h.ppmt(&["status", "--days", "1", "--output", "json"])?;
    assert!(!status.status.success());
    let status: serde_json::Value = serde_json::from_slice(&status.stdout)?;
    assert_eq!(
        status["troubles"],
        serde_json::json!(["1 dead letter(s) for the loader (`ppmt dlq list --queue loader`)"])
    );
    let listed = h.ppmt(&["dlq", "list", "--queue", "loader", "--output", "json"])?;
    let listed: serde_json::Value = serde_json::from_slice(&listed.stdout)?;
    let letter = &listed[0];
    assert_eq!(letter["message_id"], id.as_str());
    assert_eq!(letter["consumer"], "loader");
    assert_eq!(letter["about"], format!("manifest of 2026-11-24 (s3://{}/raw/2026-11-24/manifest.json)", h.bucket()));
    assert!(letter["last_error"].as_str().unwrap().contains("raw/2026-11-24/manifest.json"), "{letter}");
    assert!(letter["age_secs"].as_i64().is_some_and(|a| (0..300).contains(&a)), "{letter}");
    let shown = h.ppmt(&["dlq", "show", "--queue", "loader", &id])?;
    let shown = String::from_utf8_lossy(&shown.stdout);
    assert!(shown.contains("about: manifest of 2026-11-24") && shown.contains("\"eventName\""), "{shown}");

    // The scrape lands; then the operator replays the dead letter, which now completes:
    // the day is synced a second time (the same batch, nothing changes).
    let manifest = h.drop_batch(day(24), &golden_files("40.00")).await?;
    h.wait_synced(day(24), &manifest.batch_id).await?;
    let replayed = h.ppmt(&["dlq", "replay", "--queue", "loader", "--message-id", &id])?;
    assert!(String::from_utf8_lossy(&replayed.stdout).contains("moved 1 message(s)"), "{replayed:?}");
    h.wait_for(day(24), &manifest.batch_id, Stage::Synced, Duration::from_secs(60), |r| {
        r.attempts >= 2 && r.status == RunStatus::Succeeded
    })
    .await?;
    assert!(dead_letters(&h, "loader", 0).await?.is_empty());
    assert_eq!(app_summary(&h).await?, golden_items());
    let status = h.ppmt(&["status", "--date", "2026-11-24"])?;
    assert!(status.status.success(), "{}", String::from_utf8_lossy(&status.stderr));
    Ok(())
}

#[tokio::test]
async fn dlq_purge_deletes_only_old_enough_letters_and_asks_first() -> anyhow::Result<()> {
    let h = Harness::new("dlq-purge").await?;
    let dlq = h.queue_url("syncer", true)?;
    h.clients.sqs.send_message().queue_url(&dlq).message_body("dead 1").send().await?;
    // Nothing is that old; without a terminal and without --yes nothing is deleted.
    let young = h.ppmt(&["dlq", "purge", "--queue", "syncer", "--older-than", "1h", "--yes"])?;
    assert!(String::from_utf8_lossy(&young.stdout).contains("nothing deleted"), "{young:?}");
    let refused = h.ppmt(&["dlq", "purge", "--queue", "syncer", "--older-than", "0s"])?;
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("pass --yes"), "{refused:?}");
    assert_eq!(dead_letters(&h, "syncer", 1).await?.len(), 1, "still there, and visible");
    let purged = h.ppmt(&["dlq", "purge", "--queue", "syncer", "--older-than", "0s", "--yes"])?;
    assert!(String::from_utf8_lossy(&purged.stdout).contains("deleted 1 message(s)"), "{purged:?}");
    assert!(dead_letters(&h, "syncer", 0).await?.is_empty());
    Ok(())
}

/// 60,000 rows: 300 products seen 200 times each by one shop. The newest observation of
/// product N (second 199) is 10 + N + 0.99 EUR, so its USD price is (10 + N + 0.99) × 1.05.
fn big_batch() -> Vec<RawFile<'static>> {
    // The original 14-column layout, as files written before the identity columns.
    let mut csv = PRICE_CSV_REQUIRED.join(",");
    csv.push('\n');
    for second in 0..200u32 {
        for product in 0..300u32 {
            let cents = if second == 199 { 99 } else { second % 99 };
            csv.push_str(&format!(
                "p{product:03},Product {product},,,,{}.{cents:02},,,EUR,,,2026-11-24T02:{:02}:{:02}Z,,\n",
                10 + product,
                second / 60,
                second % 60
            ));
        }
    }
    let fx = "rate_date,base_currency,quote_currency,rate,source\n2026-11-24,EUR,USD,1.05,ECB\n";
    vec![
        RawFile { source_id: "bulk", kind: FileKind::Prices, format: FileFormat::Csv, content: csv, records: 60_000 },
        RawFile { source_id: "ecb", kind: FileKind::FxRates, format: FileFormat::Csv, content: fx.into(), records: 1 },
    ]
}

async fn assert_big_batch_complete(h: &Harness) -> anyhow::Result<()> {
    let counts = h.query("SELECT (SELECT COUNT(*) FROM staging_prices)::text, (SELECT COUNT(*) FROM fact_offer_prices)::text, (SELECT COUNT(*) FROM duplicate_rows)::text").await?;
    assert_eq!(counts, vec![vec![Some("60000".into()), Some("300".into()), Some("59700".into())]]);
    let summary = app_summary(h).await?;
    // A LATEST, an offer and a history item per product.
    assert_eq!(summary.len(), 900);
    // p000: 10.99 EUR × 1.05 = 11.5395 → 11.54 USD; p299: 309.99 × 1.05 = 325.4895 → 325.49 USD.
    assert_eq!(summary[&("Product 0".to_string(), "OFFER#bulk".to_string())], "10.99 EUR = 11.54 USD");
    assert_eq!(summary[&("Product 299".to_string(), "LATEST".to_string())], "2026-11-24 market 325.49 from 1");
    Ok(())
}

#[tokio::test]
async fn a_loader_killed_mid_batch_is_restarted_and_nothing_is_lost_or_doubled() -> anyhow::Result<()> {
    let mut h = Harness::new("crash").await?;
    h.start_all()?;
    let manifest = h.drop_batch(day(24), &big_batch()).await?;
    h.wait_for(day(24), &manifest.batch_id, Stage::Loaded, Duration::from_secs(30), |r| r.status == RunStatus::Running)
        .await?;
    h.kill("loader").await?;
    let run = h.run(day(24), &manifest.batch_id, Stage::Loaded).await?.unwrap();
    assert_eq!(run.status, RunStatus::Running, "the kill must land mid-batch");

    h.start("loader")?;
    let synced = h.wait_synced(day(24), &manifest.batch_id).await?;
    assert_eq!(synced.status, RunStatus::Succeeded);
    let loaded = h.run(day(24), &manifest.batch_id, Stage::Loaded).await?.unwrap();
    assert!(loaded.attempts >= 2, "the message was delivered again after the crash: {loaded:?}");
    assert_big_batch_complete(&h).await
}

/// Waits until a backend of the test's database waits for a lock: the transform's
/// transaction is then open, some of its steps done, and blocked.
async fn wait_for_lock_waiter(h: &Harness) -> anyhow::Result<()> {
    let start = std::time::Instant::now();
    loop {
        let waiting = h
            .query("SELECT COUNT(*)::text FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'")
            .await?;
        if waiting[0][0].as_deref() != Some("0") {
            return Ok(());
        }
        assert!(start.elapsed() < Duration::from_secs(60), "no transform blocked on the lock after 60 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_transformer_killed_inside_its_transaction_is_restarted_and_nothing_is_lost_or_doubled() -> anyhow::Result<()>
{
    let mut h = Harness::new("crash_transform").await?;
    // The test holds dim_products, which the transform first reads in step 040, after
    // resetting the day and removing duplicates: the kill lands inside its transaction.
    let blocker =
        ppmt_platform::adapters::postgres::PostgresWarehouse { url: h.database_url.clone() }.connect().await?;
    blocker.batch_execute("BEGIN; LOCK TABLE dim_products IN ACCESS EXCLUSIVE MODE").await?;
    h.start_all()?;
    let manifest = h.drop_batch(day(24), &big_batch()).await?;
    wait_for_lock_waiter(&h).await?;
    h.kill("transformer").await?;
    let run = h.run(day(24), &manifest.batch_id, Stage::Transformed).await?.unwrap();
    assert_eq!(run.status, RunStatus::Running, "the kill must land mid-batch");
    let facts = h.query("SELECT COUNT(*)::text FROM fact_offer_prices").await?;
    assert_eq!(facts[0][0].as_deref(), Some("0"), "nothing of the killed transaction is visible");

    blocker.batch_execute("ROLLBACK").await?;
    h.start("transformer")?;
    h.wait_synced(day(24), &manifest.batch_id).await?;
    let transformed = h.run(day(24), &manifest.batch_id, Stage::Transformed).await?.unwrap();
    assert_eq!(transformed.status, RunStatus::Succeeded);
    assert!(transformed.attempts >= 2, "the message was delivered again after the kill: {transformed:?}");
    assert_big_batch_complete(&h).await
}

#[tokio::test]
async fn a_syncer_killed_mid_write_is_restarted_and_nothing_is_lost_or_doubled() -> anyhow::Result<()> {
    let mut h = Harness::new("crash_sync").await?;
    // The syncer reaches the app's table through a proxy that holds every transaction
    // after the 3rd: the syncer is frozen a third of the way through its 900 items
    // (transactions of 100 writes).
    let proxy = ppmt_e2e::fault_proxy::FaultProxy::start(&std::env::var("AWS_ENDPOINT_URL")?, &[], 1).await?;
    proxy.hold_after("TransactWriteItems", 3);
    h.env.insert("AWS_ENDPOINT_URL_DYNAMODB".into(), proxy.url.clone());
    h.start_all()?;
    let manifest = h.drop_batch(day(24), &big_batch()).await?;
    let start = std::time::Instant::now();
    while proxy.counts().requests.get("TransactWriteItems").copied().unwrap_or(0) <= 3 {
        assert!(start.elapsed() < Duration::from_secs(60), "the syncer did not write: {:?}", proxy.counts());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    h.kill("syncer").await?;
    let run = h.run(day(24), &manifest.batch_id, Stage::Synced).await?.unwrap();
    assert_eq!(run.status, RunStatus::Running, "the kill must land mid-batch");
    let written = h.app_items().await?.len();
    println!("syncer killed with {written} of 900 items written");
    assert!((1..900).contains(&written), "{written} items written before the kill");

    proxy.release();
    h.start("syncer")?;
    h.wait_synced(day(24), &manifest.batch_id).await?;
    let synced = h.run(day(24), &manifest.batch_id, Stage::Synced).await?.unwrap();
    assert!(synced.attempts >= 2, "the message was delivered again after the kill: {synced:?}");
    assert_big_batch_complete(&h).await
}

#[tokio::test]
async fn postgres_down_for_60_s_mid_load_the_day_completes_with_no_operator() -> anyhow::Result<()> {
    let mut h = Harness::new("pg_outage").await?;
    // The services reach PostgreSQL through a proxy the test takes down: every open
    // connection is cut and new ones are closed, as in a crash or a failover.
    let (outage, proxied) = ppmt_e2e::outage_proxy::OutageProxy::for_database(&h.database_url).await?;
    h.env.insert("PPMT_DATABASE_URL".into(), proxied);
    h.start_all()?;
    let manifest = h.drop_batch(day(24), &big_batch()).await?;
    h.wait_for(day(24), &manifest.batch_id, Stage::Loaded, Duration::from_secs(30), |r| r.status == RunStatus::Running)
        .await?;
    outage.set_down(true);
    tokio::time::sleep(Duration::from_secs(60)).await;
    outage.set_down(false);
    let back = std::time::Instant::now();

    let synced = h
        .wait_for(day(24), &manifest.batch_id, Stage::Synced, Duration::from_secs(240), |r| {
            r.status == RunStatus::Succeeded
        })
        .await?;
    let loaded = h.run(day(24), &manifest.batch_id, Stage::Loaded).await?.unwrap();
    let mut dead_letters = 0;
    for consumer in ppmt_cli::demo::CONSUMERS {
        let attributes = h
            .clients
            .sqs
            .get_queue_attributes()
            .queue_url(h.queue_url(consumer, true)?)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
            .send()
            .await?;
        let depth = attributes
            .attributes()
            .and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages));
        dead_letters += depth.and_then(|d| d.parse::<u32>().ok()).unwrap_or(0);
    }
    println!(
        "PostgreSQL down 60 s mid-load: the load took {} attempts; synced {:.1} s after PostgreSQL was back; {dead_letters} dead letters",
        loaded.attempts,
        back.elapsed().as_secs_f64(),
    );
    assert_eq!(synced.status, RunStatus::Succeeded);
    assert!(loaded.attempts >= 2, "the outage hit the load: {loaded:?}");
    assert_eq!(dead_letters, 0, "the DLQs stay empty");
    assert_big_batch_complete(&h).await
}

#[tokio::test]
async fn sigterm_finishes_the_batch_in_hand_before_exiting() -> anyhow::Result<()> {
    let mut h = Harness::new("sigterm").await?;
    h.start_all()?;
    let manifest = h.drop_batch(day(24), &big_batch()).await?;
    h.wait_for(day(24), &manifest.batch_id, Stage::Loaded, Duration::from_secs(30), |r| r.status == RunStatus::Running)
        .await?;
    h.stop("loader").await?;
    let loaded = h.run(day(24), &manifest.batch_id, Stage::Loaded).await?.unwrap();
    assert_eq!((loaded.status, loaded.attempts), (RunStatus::Succeeded, 1), "finished before exiting");
    h.wait_synced(day(24), &manifest.batch_id).await?;
    assert_big_batch_complete(&h).await?;
    // The message was deleted: after its visibility timeout nothing is delivered again.
    h.start("loader")?;
    tokio::time::sleep(Duration::from_secs(6)).await;
    let loaded = h.run(day(24), &manifest.batch_id, Stage::Loaded).await?.unwrap();
    assert_eq!(loaded.attempts, 1);
    Ok(())
}

#[tokio::test]
async fn ppmt_workers_stops_its_workers_and_exits_on_sigterm() -> anyhow::Result<()> {
    use tokio::io::AsyncBufReadExt;
    let h = Harness::new("workers_sigterm").await?;
    let log_dir = std::env::temp_dir().join(format!("ppmt-workers-{}", std::process::id()));
    let mut ppmt = tokio::process::Command::new(ppmt_cli::demo::binary("ppmt")?)
        .envs(&h.env)
        .args(["workers", "--log-dir", &log_dir.to_string_lossy()])
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let mut stdout = tokio::io::BufReader::new(ppmt.stdout.take().unwrap()).lines();
    let started = stdout.next_line().await?.unwrap_or_default();
    assert!(started.contains("`kill %1`"), "the hint says how to stop it: {started}");
    let pid = ppmt.id().unwrap();
    // Its children, whichever of its threads started them.
    let mut workers = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))? {
        let children = std::fs::read_to_string(task?.path().join("children"))?;
        workers.extend(children.split_whitespace().map(str::to_owned));
    }
    assert_eq!(workers.len(), 3, "{workers:?}");

    std::process::Command::new("kill").args(["-TERM", &pid.to_string()]).status()?;
    let exit = tokio::time::timeout(Duration::from_secs(30), ppmt.wait()).await??;
    let left: Vec<String> =
        workers.into_iter().filter(|w| std::path::Path::new(&format!("/proc/{w}")).exists()).collect();
    for worker in &left {
        std::process::Command::new("kill").args(["-KILL", worker]).status()?;
    }
    assert!(exit.success() && left.is_empty(), "ppmt: {exit}; workers left running: {left:?}");
    std::fs::remove_dir_all(&log_dir)?;
    Ok(())
}

#[tokio::test]
async fn the_demo_sources_scraped_by_the_real_scraper_reach_dynamodb() -> anyhow::Result<()> {
    let mut h = Harness::new("scraped").await?;
    h.start_all()?;
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/demo");
    let site = ppmt_scraper::fixture_server::FixtureServer::serve_dir(0, &fixtures.join("site")).await?;
    let out = h.scrape(day(25), &fixtures.join("sources.toml"), &[("PPMT_DEMO_BASE_URL", &site.base_url())]).await?;
    assert!(out.contains("5 files"), "{out}");
    let manifest = h.manifest(day(25)).await?;
    h.wait_synced(day(25), &manifest.batch_id).await?;

    // Rates of 2026-11-25 (ECB, base EUR): USD 1.05, GBP 0.84, so 1 EUR = 1.05 USD and
    // 1 GBP = 1.25 USD. Offers of one GTIN are one product; market = their median.
    let summary = app_summary(&h).await?;
    let item = |p: &str, sk: &str, text: &str| ((p.to_owned(), sk.to_owned()), text.to_owned());
    let expected = BTreeMap::from([
        // Widget Pro (GTIN 4006381333931, from all four sources): 19.99 USD; 17.50 EUR ×
        // 1.05 = 18.375 → 18.38; sale price 18.50 USD; 15.20 GBP × 1.25 = 19.00.
        // Median of 18.38, 18.50, 19.00, 19.99 = (18.50 + 19.00) / 2 = 18.75.
        item("Widget Pro", "LATEST", "2026-11-25 market 18.75 from 4"),
        item("Widget Pro", "OFFER#acme_api", "19.99 USD = 19.99 USD"),
        item("Widget Pro", "OFFER#partner_csv", "17.5 EUR = 18.38 USD"),
        item("Widget Pro", "OFFER#merchant_feed", "18.5 USD = 18.50 USD"),
        item("Widget Pro", "OFFER#shop_pages", "15.2 GBP = 19.00 USD"),
        item("Widget Pro", "DAY#2026-11-25", "market 18.75 lowest 18.38 from 4"),
        // Gadget Mini: "1,299.00" USD; "1.199,00" EUR × 1.05 = 1258.95; 999 GBP × 1.25 =
        // 1248.75. Median 1258.95.
        item("Gadget Mini", "LATEST", "2026-11-25 market 1258.95 from 3"),
        item("Gadget Mini", "OFFER#acme_api", "1299 USD = 1299.00 USD"),
        item("Gadget Mini", "OFFER#partner_csv", "1199 EUR = 1258.95 USD"),
        item("Gadget Mini", "OFFER#shop_pages", "999 GBP = 1248.75 USD"),
        item("Gadget Mini", "DAY#2026-11-25", "market 1258.95 lowest 1248.75 from 3"),
        // Doohickey: 7.50 USD; "6,90" EUR × 1.05 = 7.245 → 7.25. Median (7.25 + 7.50) / 2
        // = 7.375 → 7.38.
        item("Doohickey", "LATEST", "2026-11-25 market 7.38 from 2"),
        item("Doohickey", "OFFER#acme_api", "7.5 USD = 7.50 USD"),
        item("Doohickey", "OFFER#partner_csv", "6.9 EUR = 7.25 USD"),
        item("Doohickey", "DAY#2026-11-25", "market 7.38 lowest 7.25 from 2"),
        // Gizmo: the API's zero price is rejected; the feed's 12.00 USD stands alone.
        item("Gizmo", "LATEST", "2026-11-25 market 12.00 from 1"),
        item("Gizmo", "OFFER#merchant_feed", "12 USD = 12.00 USD"),
        item("Gizmo", "DAY#2026-11-25", "market 12.00 lowest 12.00 from 1"),
    ]);
    assert_eq!(summary, expected);
    // The zero price reached the warehouse as a rejected row with the scraper's reason.
    let rejected = h.query("SELECT source_id, reason_code FROM rejected_rows").await?;
    assert_eq!(rejected, vec![vec![Some("acme_api".into()), Some("ZERO_PRICE".into())]]);
    let loaded = h.run(day(25), &manifest.batch_id, Stage::Loaded).await?.unwrap();
    // 10 price records, 1 rejected record and 4 rates: read = staged + rejected + fx = 15.
    let c = &loaded.counts;
    assert_eq!(c.rows_read, Some(c.rows_staged.unwrap() + c.rows_rejected.unwrap() + c.fx_rates.unwrap()));
    assert_eq!((c.rows_staged, c.rows_rejected, c.fx_rates), (Some(10), Some(1), Some(4)));

    // The day parsed again from the lake alone, the site gone: a new batch, the same app.
    let base_url = site.base_url();
    drop(site);
    let sources = fixtures.join("sources.toml");
    let out = std::process::Command::new(ppmt_cli::demo::binary("ppmt")?)
        .envs(&h.env)
        .env("PPMT_DEMO_BASE_URL", &base_url)
        .args(["reparse", "--date", "2026-11-25", "--sources", &sources.to_string_lossy()])
        .output()?;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("5 files, 9 original documents"));
    let again = h.manifest(day(25)).await?;
    assert_ne!(again.batch_id, manifest.batch_id);
    h.wait_synced(day(25), &again.batch_id).await?;
    assert_eq!(app_summary(&h).await?, expected, "the same prices from the same documents");
    Ok(())
}
