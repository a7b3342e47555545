//! One runtime for every SQS consumer.
//!
//! Under Lambda (`AWS_LAMBDA_RUNTIME_API` set) the event source mapping polls and calls
//! [`handle_lambda_event`] with an `SqsEvent`; the returned `SqsBatchResponse` names the
//! failed messages (`ReportBatchItemFailures`). Elsewhere [`run_worker`] long-polls the
//! queue, builds the same `SqsEvent`, calls the same [`handle_batch`], deletes only the
//! messages that succeeded and leaves the failures for redelivery, so after
//! `maxReceiveCount` tries SQS moves them to the dead-letter queue, exactly as in Lambda.
//!
//! One retry policy in both modes: a failed message's visibility is set to its retry
//! delay ([`redelivery_delay_secs`]: doubling from the base per receive for a retryable
//! failure, none for the others), so it comes back after the backoff, not after the
//! queue's visibility timeout (90 minutes for the Lambda queues).
//!
//! Each record is decoded on its own: one bad body fails one message, not the batch.
//! SNS envelopes are unwrapped and `s3:TestEvent` is skipped.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use aws_sdk_sqs::types::{
    ChangeMessageVisibilityBatchRequestEntry, DeleteMessageBatchRequestEntry, MessageSystemAttributeName,
};
use chrono::Utc;
use futures::future::join_all;
use ppmt_domain::s3_event::{classify, Body};
use ppmt_domain::topology::MAX_RECEIVE_COUNT;
use tracing::Instrument;

use crate::config::{RunMode, WorkerSettings};
use crate::error::{aws_error, capped, BoxError, PortError, Retryable, MAX_LOGGED_ERROR, MAX_RECORDED_ERROR};
use crate::ports::{MessageFailure, RunLedger};

/// A decoded SQS message, handed to a service's handler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub message_id: String,
    /// The body, SNS envelope removed and S3 notifications decoded.
    pub body: Body,
    /// How many times SQS has delivered it, this time included.
    pub receive_count: u32,
}

/// A service's per-message logic.
#[async_trait]
pub trait MessageHandler: Send + Sync + 'static {
    type Error: std::error::Error + Retryable + Send + Sync + 'static;

    /// The consumer's name (`loader`, ...), for logs and the failure log.
    fn consumer(&self) -> &'static str;

    /// Processes one message. An `Ok` means it can be deleted.
    async fn handle(&self, message: &Message) -> Result<(), Self::Error>;
}

/// The failed messages of a batch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchOutcome {
    /// (message id, retryable) of each failed message.
    pub failures: Vec<(String, bool)>,
}

impl BatchOutcome {
    /// The Lambda response: every failed message id.
    pub fn into_response(self) -> SqsBatchResponse {
        let mut response = SqsBatchResponse::default();
        response.batch_item_failures = self
            .failures
            .into_iter()
            .map(|(id, _)| {
                let mut failure = BatchItemFailure::default();
                failure.item_identifier = id;
                failure
            })
            .collect();
        response
    }
}

/// A message body that is not there.
#[derive(Debug, thiserror::Error)]
#[error("message has no body")]
struct EmptyBody;

/// Messages of one batch handled at the same time, at most.
pub const MAX_IN_FLIGHT: usize = 10;

/// The span of one message's work: every line logged for the message carries its
/// fields. `batch_id`, `stage` and `trace_id` are recorded once the stage knows them
/// ([`crate::stage::record_stage`]).
fn message_span(consumer: &str, message_id: &str, receive_count: u32) -> tracing::Span {
    use tracing::field::Empty;
    tracing::info_span!(
        "message",
        consumer,
        message_id,
        receive_count,
        batch_id = Empty,
        stage = Empty,
        trace_id = Empty
    )
}

/// Handles every record of an event concurrently (at most [`MAX_IN_FLIGHT`] at once),
/// each in its own task and [`message_span`]: a panic fails that message alone.
pub async fn handle_batch<H: MessageHandler>(
    handler: &Arc<H>,
    ledger: &Arc<dyn RunLedger>,
    event: SqsEvent,
) -> BatchOutcome {
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_IN_FLIGHT));
    let tasks = event.records.into_iter().map(|record| {
        let (message_id, receive_count) = (record.message_id.clone().unwrap_or_default(), receive_count(&record));
        let (consumer, ledger) = (handler.consumer(), ledger.clone());
        let span = message_span(consumer, &message_id, receive_count);
        let (handler, task_ledger, slots) = (handler.clone(), ledger.clone(), slots.clone());
        let task = tokio::spawn(
            async move {
                let _slot = slots.acquire_owned().await;
                handle_record(&*handler, &*task_ledger, record).await
            }
            .instrument(span.clone()),
        );
        async move {
            let error = match task.await {
                Ok(result) => return result,
                Err(e) if e.is_panic() => {
                    let payload = e.into_panic();
                    let text = payload
                        .downcast_ref::<&str>()
                        .map(|s| (*s).to_owned())
                        .or_else(|| payload.downcast_ref::<String>().cloned())
                        .unwrap_or_default();
                    format!("the handler panicked: {text}")
                }
                Err(_) => "the handler's task was cancelled".to_owned(),
            };
            failed(&*ledger, consumer, message_id, receive_count, &error, false).instrument(span).await
        }
    });
    let results = join_all(tasks).await;
    BatchOutcome { failures: results.into_iter().flatten().collect() }
}

/// Logs a failed message and records why in the failure log; returns its entry of the
/// batch's failures.
async fn failed(
    ledger: &dyn RunLedger,
    consumer: &str,
    message_id: String,
    receive_count: u32,
    error: &str,
    retryable: bool,
) -> Option<(String, bool)> {
    let logged = capped(error, MAX_LOGGED_ERROR);
    if receive_count >= MAX_RECEIVE_COUNT {
        tracing::error!(error = %logged, "message failed on its last receive; it now goes to the DLQ");
    } else if retryable {
        tracing::warn!(error = %logged, "message failed; it will be retried");
    } else {
        tracing::error!(error = %logged, "message failed and cannot succeed as it is; it goes to the DLQ after its retries");
    }
    let failure = MessageFailure {
        consumer: consumer.to_owned(),
        message_id: message_id.clone(),
        receive_count,
        error: capped(error, MAX_RECORDED_ERROR),
        retryable,
        failed_at: Utc::now(),
    };
    if let Err(e) = ledger.record_message_failure(&failure).await {
        tracing::warn!(error = %e, "could not record the failure in the ledger");
    }
    Some((message_id, retryable))
}

/// How many times SQS has delivered the record (1 if it does not say).
fn receive_count(record: &SqsMessage) -> u32 {
    record.attributes.get("ApproximateReceiveCount").and_then(|c| c.parse().ok()).unwrap_or(1)
}

/// Handles one record, in its [`message_span`].
async fn handle_record<H: MessageHandler>(
    handler: &H,
    ledger: &dyn RunLedger,
    record: SqsMessage,
) -> Option<(String, bool)> {
    let message_id = record.message_id.clone().unwrap_or_default();
    let receive_count = receive_count(&record);
    let outcome: Result<(), (String, bool)> = match record.body.as_deref() {
        None => Err((EmptyBody.to_string(), false)),
        Some(text) => match classify(text) {
            Body::S3TestEvent => {
                tracing::info!("skipping s3:TestEvent");
                Ok(())
            }
            body => {
                #[cfg(debug_assertions)]
                injected_panic(text, receive_count);
                let message = Message { message_id: message_id.clone(), body, receive_count };
                handler.handle(&message).await.map_err(|e| (e.to_string(), e.is_retryable()))
            }
        },
    };
    let (error, retryable) = outcome.err()?;
    failed(ledger, handler.consumer(), message_id, receive_count, &error, retryable).await
}

/// Fault injection for the end-to-end tests, compiled into debug builds only: the first
/// delivery of a message whose body contains `PPMT_TEST_PANIC_ON` panics in its task.
#[cfg(debug_assertions)]
fn injected_panic(body: &str, receive_count: u32) {
    if let Ok(needle) = std::env::var("PPMT_TEST_PANIC_ON") {
        if !needle.is_empty() && receive_count == 1 && body.contains(&needle) {
            panic!("injected by PPMT_TEST_PANIC_ON");
        }
    }
}

/// Handles a Lambda SQS event as [`handle_batch`] does, then sets each failed message's
/// visibility to its retry delay.
pub async fn handle_lambda_event<H: MessageHandler>(
    handler: &Arc<H>,
    ledger: &Arc<dyn RunLedger>,
    sqs: &aws_sdk_sqs::Client,
    retry_base_delay_secs: i32,
    event: SqsEvent,
) -> SqsBatchResponse {
    let records = event.records.clone();
    let outcome = handle_batch(handler, ledger, event).await;
    let mut queue_urls: HashMap<String, String> = HashMap::new();
    for (id, retryable) in &outcome.failures {
        let Some(record) = records.iter().find(|r| r.message_id.as_deref() == Some(id.as_str())) else { continue };
        let Some(arn) = &record.event_source_arn else { continue };
        if !queue_urls.contains_key(arn) {
            match queue_url_of(sqs, arn).await {
                Ok(url) => queue_urls.insert(arn.clone(), url),
                Err(e) => {
                    tracing::warn!(error = %e, message_id = %id, "message keeps its visibility timeout");
                    continue;
                }
            };
        }
        let delay = redelivery_delay_secs(*retryable, receive_count(record), retry_base_delay_secs);
        reschedule(sqs, &queue_urls[arn], record.receipt_handle.clone(), delay).await;
    }
    outcome.into_response()
}

/// The URL of the queue `arn:aws:sqs:<region>:<account>:<name>`.
async fn queue_url_of(sqs: &aws_sdk_sqs::Client, arn: &str) -> Result<String, PortError> {
    let mut parts = arn.rsplitn(3, ':');
    let (Some(name), Some(account)) = (parts.next(), parts.next()) else {
        return Err(PortError::permanent("find the queue of a message", format!("`{arn}` is not a queue ARN")));
    };
    let out = sqs
        .get_queue_url()
        .queue_name(name)
        .queue_owner_aws_account_id(account)
        .send()
        .await
        .map_err(|e| aws_error(format!("find the URL of {arn}"), e))?;
    Ok(out.queue_url.unwrap_or_default())
}

/// Offers a failed message again after `delay_secs`.
async fn reschedule(sqs: &aws_sdk_sqs::Client, queue_url: &str, receipt_handle: Option<String>, delay_secs: i32) {
    let result = sqs
        .change_message_visibility()
        .queue_url(queue_url)
        .set_receipt_handle(receipt_handle)
        .visibility_timeout(delay_secs)
        .send()
        .await;
    if let Err(e) = result {
        tracing::warn!(error = %aws_error("reschedule failed message", e), "message keeps its visibility timeout");
    }
}

/// Runs under the Lambda runtime until the runtime stops.
pub async fn run_lambda<H: MessageHandler>(
    handler: Arc<H>,
    ledger: Arc<dyn RunLedger>,
    sqs: aws_sdk_sqs::Client,
    retry_base_delay_secs: i32,
) -> Result<(), BoxError> {
    let service = lambda_runtime::service_fn(move |event: lambda_runtime::LambdaEvent<SqsEvent>| {
        let (handler, ledger, sqs) = (handler.clone(), ledger.clone(), sqs.clone());
        async move {
            let response = handle_lambda_event(&handler, &ledger, &sqs, retry_base_delay_secs, event.payload).await;
            Ok::<_, lambda_runtime::Error>(response)
        }
    });
    lambda_runtime::run(service).await
}

/// Resolves when the process is asked to stop (SIGTERM or Ctrl-C).
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {},
                    _ = tokio::signal::ctrl_c() => {},
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot watch SIGTERM; only Ctrl-C stops the worker");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Runs a consumer in the mode the configuration chose: under the Lambda runtime, or
/// polling its queue until SIGTERM.
pub async fn serve<H: MessageHandler>(
    handler: H,
    ledger: Arc<dyn RunLedger>,
    sqs: aws_sdk_sqs::Client,
    mode: RunMode,
) -> Result<(), BoxError> {
    let handler = Arc::new(handler);
    match mode {
        RunMode::Lambda { retry_base_delay_secs } => run_lambda(handler, ledger, sqs, retry_base_delay_secs).await,
        RunMode::Worker(settings) => {
            run_worker(handler, ledger, sqs, settings, shutdown_signal()).await;
            Ok(())
        }
    }
}

fn to_event(messages: &[aws_sdk_sqs::types::Message]) -> SqsEvent {
    let mut event = SqsEvent::default();
    event.records = messages
        .iter()
        .map(|m| {
            let mut record = SqsMessage::default();
            record.message_id = m.message_id.clone();
            record.receipt_handle = m.receipt_handle.clone();
            record.body = m.body.clone();
            record.md5_of_body = m.md5_of_body.clone();
            record.attributes =
                m.attributes.iter().flatten().map(|(k, v)| (k.as_str().to_owned(), v.clone())).collect();
            record
        })
        .collect();
    event
}

/// Delay before a failed message is offered again: retryable failures back off
/// exponentially with its receive count (`base · 2^(receive − 1)`), plus a random jitter
/// of up to half that again, so the retries of many messages spread out while the
/// retry budget never shrinks below the sum of the plain delays; capped at 900 s.
/// The others come back at once, to reach the dead-letter queue without waiting.
pub fn redelivery_delay_secs(retryable: bool, receive_count: u32, base_secs: i32) -> i32 {
    if !retryable {
        return 0;
    }
    let exponent = receive_count.saturating_sub(1).min(10);
    let delay = base_secs.saturating_mul(1 << exponent);
    let jitter = (f64::from(delay / 2) * fastrand::f64()).round() as i32;
    delay.saturating_add(jitter).clamp(0, 900)
}

/// Polls the queue until `shutdown` resolves. A batch in work when it does is finished
/// and settled first; nothing unfinished is deleted.
pub async fn run_worker<H: MessageHandler>(
    handler: Arc<H>,
    ledger: Arc<dyn RunLedger>,
    sqs: aws_sdk_sqs::Client,
    settings: WorkerSettings,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) {
    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });
    tracing::info!(consumer = handler.consumer(), queue = %settings.queue_url, "worker polling");
    loop {
        if *stop_rx.borrow() {
            break;
        }
        let receive = sqs
            .receive_message()
            .queue_url(&settings.queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(settings.wait_time_secs)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .visibility_timeout(settings.visibility_timeout_secs);
        let received = tokio::select! {
            _ = stop_rx.changed() => break,
            r = receive.send() => r,
        };
        let messages = match received {
            Ok(output) => output.messages.unwrap_or_default(),
            Err(e) => {
                let e = aws_error(format!("receive from {}", settings.queue_url), e);
                tracing::warn!(error = %e, "receive failed; trying again in 1 s");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        if messages.is_empty() {
            continue;
        }
        // The heartbeat runs in its own task, so slow work cannot pause it.
        let heartbeat = tokio::spawn(keep_invisible(sqs.clone(), settings.clone(), messages.clone()));
        let outcome = handle_batch(&handler, &ledger, to_event(&messages)).await;
        heartbeat.abort();
        settle(&sqs, &settings, &messages, &outcome).await;
    }
    tracing::info!(consumer = handler.consumer(), "worker stopped");
}

/// Extends the visibility of `messages` every half timeout until aborted, so a slow
/// batch is not delivered twice while it is still in work. Each message the extension
/// fails for is logged (it may be delivered again while in work).
async fn keep_invisible(
    sqs: aws_sdk_sqs::Client,
    settings: WorkerSettings,
    messages: Vec<aws_sdk_sqs::types::Message>,
) {
    let vt = settings.visibility_timeout_secs;
    let mut ticker = tokio::time::interval(Duration::from_secs((vt as u64 / 2).max(1)));
    ticker.tick().await;
    loop {
        ticker.tick().await;
        let entries = messages.iter().enumerate().filter_map(|(i, m)| {
            ChangeMessageVisibilityBatchRequestEntry::builder()
                .id(i.to_string())
                .set_receipt_handle(m.receipt_handle.clone())
                .visibility_timeout(vt)
                .build()
                .ok()
        });
        let sent = sqs
            .change_message_visibility_batch()
            .queue_url(&settings.queue_url)
            .set_entries(Some(entries.collect()))
            .send()
            .await;
        match sent {
            Ok(out) => {
                for failed in out.failed {
                    let message_id = failed.id.parse::<usize>().ok().and_then(|i| messages.get(i)?.message_id.clone());
                    tracing::warn!(
                        message_id = message_id.unwrap_or_default(),
                        code = %failed.code,
                        reason = failed.message.unwrap_or_default(),
                        "could not extend this message's visibility; it may be delivered again while in work"
                    );
                }
            }
            Err(e) => tracing::warn!(error = %aws_error("extend visibility", e), "could not extend visibility"),
        }
    }
}

/// Deletes the messages that succeeded; schedules the redelivery of the others.
async fn settle(
    sqs: &aws_sdk_sqs::Client,
    settings: &WorkerSettings,
    messages: &[aws_sdk_sqs::types::Message],
    outcome: &BatchOutcome,
) {
    let failed = |m: &aws_sdk_sqs::types::Message| {
        outcome.failures.iter().find(|(id, _)| Some(id.as_str()) == m.message_id.as_deref()).map(|(_, r)| *r)
    };
    let deletes: Vec<_> = messages
        .iter()
        .enumerate()
        .filter(|(_, m)| failed(m).is_none())
        .filter_map(|(i, m)| {
            DeleteMessageBatchRequestEntry::builder()
                .id(i.to_string())
                .set_receipt_handle(m.receipt_handle.clone())
                .build()
                .ok()
        })
        .collect();
    if !deletes.is_empty() {
        match sqs.delete_message_batch().queue_url(&settings.queue_url).set_entries(Some(deletes)).send().await {
            Ok(out) => {
                for f in out.failed {
                    tracing::warn!(entry = %f.id, code = %f.code, "delete failed; the message will be delivered again");
                }
            }
            Err(e) => {
                tracing::warn!(error = %aws_error("delete messages", e), "delete failed; the messages will be delivered again")
            }
        }
    }
    for m in messages {
        let Some(retryable) = failed(m) else { continue };
        let receive_count = m
            .attributes
            .as_ref()
            .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
            .and_then(|c| c.parse().ok())
            .unwrap_or(1);
        let delay = redelivery_delay_secs(retryable, receive_count, settings.retry_base_delay_secs);
        reschedule(sqs, &settings.queue_url, m.receipt_handle.clone(), delay).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::MemoryLedger;

    /// An `SqsEvent` as Lambda delivers it (AWS's documented shape): an S3 notification
    /// wrapped in an SNS envelope, a raw stage-like body, S3's test event, and garbage.
    const SQS_EVENT: &str = r#"{"Records": [
      {"messageId": "m-s3", "receiptHandle": "r1", "body": "{\"Type\":\"Notification\",\"MessageId\":\"x\",\"TopicArn\":\"arn:aws:sns:us-east-1:123456789012:t\",\"Message\":\"{\\\"Records\\\":[{\\\"eventName\\\":\\\"ObjectCreated:Put\\\",\\\"s3\\\":{\\\"bucket\\\":{\\\"name\\\":\\\"raw\\\"},\\\"object\\\":{\\\"key\\\":\\\"raw%2F2026-11-25%2Fmanifest.json\\\"}}}]}\"}", "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1764036000000"}, "messageAttributes": {}, "md5OfBody": "x", "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:loader", "awsRegion": "us-east-1"},
      {"messageId": "m-test", "receiptHandle": "r2", "body": "{\"Service\":\"Amazon S3\",\"Event\":\"s3:TestEvent\",\"Bucket\":\"raw\"}", "attributes": {"ApproximateReceiveCount": "1"}, "messageAttributes": {}, "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:loader", "awsRegion": "us-east-1"},
      {"messageId": "m-bad", "receiptHandle": "r3", "body": "not json at all", "attributes": {"ApproximateReceiveCount": "3"}, "messageAttributes": {}, "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:loader", "awsRegion": "us-east-1"},
      {"messageId": "m-flaky", "receiptHandle": "r4", "body": "flaky", "attributes": {"ApproximateReceiveCount": "1"}, "messageAttributes": {}, "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:loader", "awsRegion": "us-east-1"}
    ]}"#;

    #[derive(Debug, thiserror::Error)]
    #[error("{0}")]
    struct Failure(String, bool);

    impl Retryable for Failure {
        fn is_retryable(&self) -> bool {
            self.1
        }
    }

    /// Accepts S3 notifications of manifests; `flaky` fails retryably, anything else
    /// permanently. Records what it saw.
    #[derive(Default)]
    struct Recorder {
        seen: std::sync::Mutex<Vec<String>>,
    }

    #[async_trait]
    impl MessageHandler for Recorder {
        type Error = Failure;

        fn consumer(&self) -> &'static str {
            "loader"
        }

        async fn handle(&self, message: &Message) -> Result<(), Failure> {
            self.seen.lock().unwrap().push(message.message_id.clone());
            match &message.body {
                Body::S3Objects(objects) if objects[0].key == "raw/2026-11-25/manifest.json" => Ok(()),
                Body::Other(text) if text == "flaky" => Err(Failure("warehouse unreachable".into(), true)),
                Body::Other(text) if text == "panic" => panic!("a bug in the handler"),
                other => Err(Failure(format!("cannot use {other:?}"), false)),
            }
        }
    }

    #[tokio::test]
    async fn each_record_succeeds_or_fails_on_its_own() {
        let event: SqsEvent = serde_json::from_str(SQS_EVENT).unwrap();
        let (handler, ledger) = (Arc::new(Recorder::default()), Arc::new(MemoryLedger::default()));
        let outcome = handle_batch(&handler, &(ledger.clone() as Arc<dyn RunLedger>), event).await;
        assert_eq!(outcome.failures, vec![("m-bad".to_string(), false), ("m-flaky".to_string(), true)]);
        // The test event never reaches the handler.
        assert!(!handler.seen.lock().unwrap().contains(&"m-test".to_string()));
        let response = serde_json::to_value(outcome.into_response()).unwrap();
        assert_eq!(
            response,
            serde_json::json!({"batchItemFailures": [{"itemIdentifier": "m-bad"}, {"itemIdentifier": "m-flaky"}]})
        );
        let bad = ledger.message_failure("m-bad").await.unwrap().unwrap();
        assert_eq!((bad.receive_count, bad.retryable, bad.consumer.as_str()), (3, false, "loader"));
        assert!(bad.error.contains("not json at all"));
    }

    #[tokio::test]
    async fn a_panicking_handler_fails_its_message_alone() {
        let event: SqsEvent =
            serde_json::from_str(&SQS_EVENT.replace(r#""body": "flaky""#, r#""body": "panic""#)).unwrap();
        let handler = Arc::new(Recorder::default());
        let ledger: Arc<dyn RunLedger> = Arc::new(MemoryLedger::default());
        let outcome = handle_batch(&handler, &ledger, event).await;
        assert_eq!(outcome.failures, vec![("m-bad".to_string(), false), ("m-flaky".to_string(), false)]);
        // The manifest's message still succeeded, and the panic is on record.
        assert!(handler.seen.lock().unwrap().contains(&"m-s3".to_string()));
        let failure = ledger.message_failure("m-flaky").await.unwrap().unwrap();
        assert_eq!(failure.error, "the handler panicked: a bug in the handler");
    }

    #[test]
    fn retryable_failures_back_off_and_others_return_at_once() {
        assert_eq!(redelivery_delay_secs(false, 2, 5), 0);
        let delays = |receive| (0..200).map(|_| redelivery_delay_secs(true, receive, 5)).collect::<Vec<_>>();
        // 5 · 2^(receive − 1), plus up to half again.
        for (receive, plain) in [(1, 5), (3, 20), (7, 320)] {
            let seen = delays(receive);
            assert!(seen.iter().all(|d| (plain..=plain + plain / 2).contains(d)), "{receive}: {seen:?}");
            assert!(seen.iter().any(|d| *d != plain), "jittered: {seen:?}");
        }
        assert!(delays(40).iter().all(|d| *d == 900));
        // The budget of 8 receives is at least the sum of the plain delays: 635 s.
        let budget: i32 = (1..MAX_RECEIVE_COUNT).map(|r| redelivery_delay_secs(true, r, 5)).sum();
        assert!((635..=952).contains(&budget), "{budget}");
    }
}
