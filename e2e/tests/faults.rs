//! Delivery under faults, end to end: a bad row costs that row, a bad manifest is
//! refused with its reason, an earlier scrape loaded late changes nothing, a panic fails
//! its message alone, Lambda mode retries on its backoff, and racing scrapes cannot
//! replace each other's manifest, while everything else of the day goes on. (The kill
//! and outage cases, which need a big batch, are in `pipeline.rs`.)
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

use std::time::Duration;

use chrono::{NaiveDate, Utc};
use ppmt_domain::manifest::{FileFormat, FileKind};
use ppmt_domain::record::PRICE_CSV_REQUIRED;
use ppmt_e2e::{Harness, RawFile};
use ppmt_platform::ports::RunStatus;

fn day(d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, d).unwrap()
}

#[tokio::test]
async fn a_nul_row_an_out_of_range_rate_and_an_empty_file_each_cost_only_themselves() -> anyhow::Result<()> {
    let mut h = Harness::new("bad_rows").await?;
    h.start_all()?;
    // Line 3 has a NUL byte in its name (COPY used to fail the day with 22021).
    let shop = format!(
        "{}\n\
         kettle,Kettle,Acme,,,40.00,,,EUR,,,2026-11-24T02:00:00Z,,\n\
         toaster,Toa\0ster,Acme,,,25.50,,,EUR,,,2026-11-24T02:00:00Z,,\n\
         blender,Blender,Acme,,,30.00,,,GBP,,,2026-11-24T02:00:00Z,,\n",
        PRICE_CSV_REQUIRED.join(",")
    );
    // Line 3's rate would overflow NUMERIC(18,8); the GBP rate on line 4 is fine.
    let fx = "rate_date,base_currency,quote_currency,rate,source\n\
              2026-11-24,EUR,USD,1.05,ECB\n\
              2026-11-24,EUR,JPY,50000000000,ECB\n\
              2026-11-24,EUR,GBP,0.84,ECB\n";
    let files = vec![
        RawFile { source_id: "shop", kind: FileKind::Prices, format: FileFormat::Csv, content: shop, records: 3 },
        RawFile {
            source_id: "quiet",
            kind: FileKind::Prices,
            format: FileFormat::Csv,
            content: String::new(),
            records: 0,
        },
        RawFile { source_id: "ecb", kind: FileKind::FxRates, format: FileFormat::Csv, content: fx.into(), records: 3 },
    ];
    let manifest = h.drop_batch(day(24), &files).await?;
    h.wait_synced(day(24), &manifest.batch_id).await?;

    let rejected =
        h.query("SELECT source_id, line_no::text, reason_code, detail FROM rejected_rows ORDER BY source_id").await?;
    let text = |r: &Vec<Option<String>>| r.iter().map(|c| c.clone().unwrap_or_default()).collect::<Vec<_>>();
    assert_eq!(
        rejected.iter().map(text).collect::<Vec<_>>(),
        vec![
            vec!["ecb", "3", "OUT_OF_RANGE", "rate 50000000000 is outside 0.0001..1000000"],
            vec!["shop", "3", "CONTROL_CHARACTER", "name contains the control character U+0000"],
        ]
    );
    // The good rows went on: 40.00 EUR × 1.05 = 42.00 USD; 30.00 GBP × 1.05 / 0.84 = 37.50 USD.
    let facts = h.query("SELECT source_sku, price_usd::text FROM fact_offer_prices ORDER BY source_sku").await?;
    assert_eq!(facts.iter().map(text).collect::<Vec<_>>(), vec![vec!["blender", "37.50"], vec!["kettle", "42.00"]]);
    Ok(())
}

#[tokio::test]
async fn a_manifest_dated_after_tomorrow_is_refused_with_its_reason() -> anyhow::Result<()> {
    let mut h = Harness::new("future_day").await?;
    h.start_all()?;
    let future = Utc::now().date_naive() + chrono::Duration::days(2);
    let shop = format!("{}\nkettle,Kettle,Acme,,,40.00,,,USD,,,{future}T02:00:00Z,,\n", PRICE_CSV_REQUIRED.join(","));
    let files =
        [RawFile { source_id: "shop", kind: FileKind::Prices, format: FileFormat::Csv, content: shop, records: 1 }];
    h.drop_batch(future, &files).await?;

    let dlq = h.queue_url("loader", true)?;
    let start = std::time::Instant::now();
    let letters = loop {
        let letters = ppmt_cli::ops::list_dead_letters(&h.clients, &h.ledger, &dlq).await?;
        if !letters.is_empty() || start.elapsed() > Duration::from_secs(90) {
            break letters;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert_eq!(letters.len(), 1, "the manifest's event is dead: {letters:?}");
    let reason = letters[0].last_error.clone().unwrap_or_default();
    assert!(reason.contains(&format!("batch date {future} is later than tomorrow")), "{reason}");
    // Nothing of that day was staged.
    let staged = h.query("SELECT COUNT(*)::text FROM staging_prices").await?;
    assert_eq!(staged, vec![vec![Some("0".to_owned())]]);
    Ok(())
}

/// Fails every message retryably, as a handler does while the warehouse is down.
struct WarehouseDown;

#[derive(Debug, thiserror::Error)]
#[error("warehouse unreachable")]
struct Unreachable;

impl ppmt_platform::error::Retryable for Unreachable {
    fn is_retryable(&self) -> bool {
        true
    }
}

#[async_trait::async_trait]
impl ppmt_platform::worker::MessageHandler for WarehouseDown {
    type Error = Unreachable;

    fn consumer(&self) -> &'static str {
        "loader"
    }

    async fn handle(&self, _message: &ppmt_platform::worker::Message) -> Result<(), Unreachable> {
        Err(Unreachable)
    }
}

#[tokio::test]
async fn lambda_mode_brings_a_failed_message_back_after_its_backoff_not_the_queue_timeout() -> anyhow::Result<()> {
    let h = Harness::new("lambda_backoff").await?;
    let sqs = &h.clients.sqs;
    // A queue whose visibility timeout (600 s) is far longer than the backoff (2 s).
    let name = format!("lambda-backoff-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let created = sqs
        .create_queue()
        .queue_name(&name)
        .attributes(aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout, "600")
        .send()
        .await?;
    let url = created.queue_url.unwrap_or_default();
    let arn = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await?
        .attributes
        .and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn).cloned())
        .unwrap_or_default();
    sqs.send_message().queue_url(&url).message_body("a manifest event").send().await?;
    // What the event source mapping does: receive, and hand the records to the function.
    let received = sqs.receive_message().queue_url(&url).wait_time_seconds(5).send().await?;
    let message = received.messages.unwrap_or_default().pop().expect("the message");
    let event: aws_lambda_events::event::sqs::SqsEvent = serde_json::from_value(serde_json::json!({"Records": [{
        "messageId": message.message_id, "receiptHandle": message.receipt_handle, "body": message.body,
        "attributes": {"ApproximateReceiveCount": "1"}, "messageAttributes": {},
        "eventSource": "aws:sqs", "eventSourceARN": arn, "awsRegion": "us-east-1"
    }]}))?;
    let handler = std::sync::Arc::new(WarehouseDown);
    let ledger: std::sync::Arc<dyn ppmt_platform::ports::RunLedger> =
        std::sync::Arc::new(ppmt_platform::testing::MemoryLedger::default());
    let started = std::time::Instant::now();
    let response = ppmt_platform::worker::handle_lambda_event(&handler, &ledger, sqs, 2, event).await;
    let failed: Vec<_> = response.batch_item_failures.iter().map(|f| f.item_identifier.clone()).collect();
    assert_eq!(failed, vec![message.message_id.clone().unwrap_or_default()]);

    // It is offered again after about 2 s (receive 1: the base delay), not 600 s.
    let again = loop {
        let r = sqs.receive_message().queue_url(&url).wait_time_seconds(1).send().await?;
        if let Some(m) = r.messages.unwrap_or_default().pop() {
            break m;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "not back after 30 s");
    };
    let waited = started.elapsed();
    println!("lambda-mode retry came back after {:.1} s (backoff 2 s, queue timeout 600 s)", waited.as_secs_f64());
    assert_eq!(again.message_id, message.message_id);
    assert!(waited >= Duration::from_millis(1500), "came back too early: {waited:?}");
    Ok(())
}

#[tokio::test]
async fn two_scrapes_of_a_day_racing_cannot_replace_each_others_manifest() -> anyhow::Result<()> {
    use ppmt_platform::ports::ObjectStore;
    let h = Harness::new("manifest_race").await?;
    let store = ppmt_platform::adapters::s3::S3Store { client: h.clients.s3.clone() };
    let key = ppmt_domain::batch::manifest_key(day(24));
    let put = |text: &'static str, expected: Option<String>| {
        let store = store.clone();
        let (bucket, key) = (h.bucket().to_owned(), key.clone());
        async move { store.put_if(&bucket, &key, bytes::Bytes::from(text), "application/json", expected.as_deref()).await }
    };
    // Both scrapes start on a day without a manifest; the first to finish writes it, the
    // other is refused by S3 itself.
    put("scrape A", None).await?;
    let refused = put("scrape B", None).await.unwrap_err();
    assert!(refused.conflict, "{refused}");
    // A re-scrape that read version v replaces v only.
    let (_, v) = store.get_versioned(h.bucket(), &key).await?;
    put("scrape C", Some(v.clone())).await?;
    let stale = put("scrape D", Some(v)).await.unwrap_err();
    assert!(stale.conflict, "{stale}");
    assert_eq!(store.get(h.bucket(), &key).await?, bytes::Bytes::from("scrape C"));
    Ok(())
}

/// One shop's day: a kettle at `eur` EUR, and the day's EUR→USD rate of 1.05.
fn kettle_day(eur: &str) -> Vec<RawFile<'static>> {
    let shop = format!("{}\nkettle,Kettle,Acme,,,{eur},,,EUR,,,2026-11-24T02:00:00Z,,\n", PRICE_CSV_REQUIRED.join(","));
    let fx = "rate_date,base_currency,quote_currency,rate,source\n2026-11-24,EUR,USD,1.05,ECB\n";
    vec![
        RawFile { source_id: "shop", kind: FileKind::Prices, format: FileFormat::Csv, content: shop, records: 1 },
        RawFile { source_id: "ecb", kind: FileKind::FxRates, format: FileFormat::Csv, content: fx.into(), records: 1 },
    ]
}

/// The app's latest market price of the kettle.
async fn kettle_market(h: &Harness) -> anyhow::Result<String> {
    let kettle = h.product_id("shop", "kettle").await?;
    let items = h.app_items().await?;
    Ok(items[&(format!("PRODUCT#{kettle}"), "LATEST".to_string())]["market_price_usd"].clone())
}

#[tokio::test]
async fn a_slow_earlier_scrape_loaded_after_a_later_one_changes_nothing() -> anyhow::Result<()> {
    let mut h = Harness::new("older_manifest").await?;
    h.start_all()?;
    // The later scrape of the day arrives first: 40.00 EUR × 1.05 = 42.00 USD.
    let later = h.drop_batch(day(24), &kettle_day("40.00")).await?;
    h.wait_synced(day(24), &later.batch_id).await?;
    // A scrape created an hour earlier, whose manifest is only now written and loaded.
    let earlier = h.drop_batch_created(day(24), &kettle_day("99.00"), Utc::now() - chrono::Duration::hours(1)).await?;
    let loaded = h
        .wait_for(day(24), &earlier.batch_id, ppmt_domain::Stage::Loaded, Duration::from_secs(30), |r| {
            r.status != RunStatus::Running
        })
        .await?;
    assert_eq!(loaded.status, RunStatus::Skipped, "{loaded:?}");
    let reason = loaded.error.unwrap_or_default();
    assert!(reason.contains(&later.batch_id.to_string()), "names the staged batch: {reason}");
    assert!(h.run(day(24), &earlier.batch_id, ppmt_domain::Stage::Transformed).await?.is_none());
    let batches = h.query("SELECT DISTINCT batch_id FROM fact_offer_prices").await?;
    assert_eq!(batches, vec![vec![Some(later.batch_id.to_string())]]);
    assert_eq!(kettle_market(&h).await?, "42.00");
    Ok(())
}

#[tokio::test]
async fn a_panic_in_a_handler_fails_that_message_alone_and_the_worker_goes_on() -> anyhow::Result<()> {
    let mut h = Harness::new("panic").await?;
    h.start("loader")?;
    h.start("syncer")?;
    // The test-only hook of debug builds: the transformer panics on the first delivery of
    // the message announcing day 24, inside that message's task.
    h.env.insert("PPMT_TEST_PANIC_ON".into(), "2026-11-24".into());
    h.start("transformer")?;
    let mut day_25 = kettle_day("50.00");
    for f in &mut day_25 {
        f.content = f.content.replace("2026-11-24", "2026-11-25");
    }
    let day_24 = kettle_day("40.00");
    let (panicked, calm) = tokio::try_join!(h.drop_batch(day(24), &day_24), h.drop_batch(day(25), &day_25))?;
    h.wait_synced(day(24), &panicked.batch_id).await?;
    h.wait_synced(day(25), &calm.batch_id).await?;

    let failures = h.message_failures().await?;
    let panics: Vec<_> = failures.iter().filter(|f| f.error.contains("panicked")).collect();
    assert_eq!(panics.len(), 1, "{failures:#?}");
    assert_eq!(panics[0].consumer, "transformer");
    assert_eq!(panics[0].error, "the handler panicked: injected by PPMT_TEST_PANIC_ON");
    let calm_run = h.run(day(25), &calm.batch_id, ppmt_domain::Stage::Transformed).await?.unwrap();
    assert_eq!(calm_run.attempts, 1, "the other day was not disturbed: {calm_run:?}");
    assert!(h.is_running("transformer"), "the worker survived the panic");
    // 50.00 EUR × 1.05 = 52.50 USD, the newest day's.
    assert_eq!(kettle_market(&h).await?, "52.50");
    Ok(())
}

#[tokio::test]
async fn two_scrapes_racing_through_the_scraper_the_slower_is_refused_and_the_day_stays_whole() -> anyhow::Result<()> {
    use ppmt_scraper::fixture_server::FixtureServer;
    let mut h = Harness::new("scrape_race").await?;
    h.start_all()?;
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/demo");
    let sources = fixtures.join("sources.toml");
    let fast = FixtureServer::serve_dir(0, &fixtures.join("site")).await?;
    let slow = FixtureServer::serve_dir(0, &fixtures.join("site")).await?;
    slow.delay_all(Duration::from_secs(2));
    let (slow_url, fast_url) = (slow.base_url(), fast.base_url());
    // The slow scrape starts on a day without a manifest; the fast one starts once the
    // slow one is fetching, and finishes first.
    let slow_env = [("PPMT_DEMO_BASE_URL", slow_url.as_str())];
    let slow_scrape = h.scrape(day(25), &sources, &slow_env);
    let fast_scrape = async {
        while slow.hits("/fx/eurofxref-daily.xml") == 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        h.scrape(day(25), &sources, &[("PPMT_DEMO_BASE_URL", &fast_url)]).await
    };
    let (slow_result, fast_result) = tokio::join!(slow_scrape, fast_scrape);
    fast_result?;
    let refused = slow_result.unwrap_err().to_string();
    assert!(refused.contains("changed while this scrape ran"), "{refused}");

    let manifest = h.manifest(day(25)).await?;
    let batch = manifest.batch_id.to_string();
    let run = batch.rsplit('-').next().unwrap();
    assert!(manifest.files.iter().all(|f| f.key.contains(run)), "only the fast scrape's files: {manifest:?}");
    h.wait_synced(day(25), &manifest.batch_id).await?;
    // The demo day's 10 priced offers, each once, all from the fast scrape.
    let facts = h.query("SELECT COUNT(*)::text, COUNT(DISTINCT batch_id)::text FROM fact_offer_prices").await?;
    assert_eq!(facts, vec![vec![Some("10".into()), Some("1".into())]]);
    let duplicates = h.query("SELECT COUNT(*)::text FROM duplicate_rows").await?;
    assert_eq!(duplicates[0][0].as_deref(), Some("0"));
    Ok(())
}
