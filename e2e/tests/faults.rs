//! Delivery under faults, end to end: a bad row costs that row, and a bad manifest is
//! refused with its reason, while everything else of the day goes on.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

use std::time::Duration;

use chrono::{NaiveDate, Utc};
use ppmt_domain::manifest::{FileFormat, FileKind};
use ppmt_domain::record::PRICE_CSV_REQUIRED;
use ppmt_e2e::{Harness, RawFile};

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
