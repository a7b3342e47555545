//! The app's DynamoDB table ([`AppStore`] for the syncer, [`AppReader`] for the API).
//!
//! Writes are delta and never backwards:
//! 1. `BatchGetItem` reads the content hash and version of every item to write (100
//!    keys a request); a put of the same content, or a delete of an absent item, is not
//!    sent, and a write older than the item's version is not sent either.
//! 2. The rest go out as `TransactWriteItems` calls of up to 100 conditional puts and
//!    deletes, a bounded number in flight, each write with the condition "absent, or an
//!    older day, or the same day from this or an older load". `BatchWriteItem` cannot
//!    carry a condition, and one conditional `PutItem` per item would cost N requests
//!    instead of N/100. A transaction is all or nothing: when DynamoDB cancels one, its
//!    cancellation reasons say which writes failed their condition (a newer syncer won
//!    the race: counted as stale) and which were throttled or conflicted; the others are
//!    sent again without the stale ones. A transaction costs twice the write units of
//!    plain writes; the delta of step 1 keeps them few.
//! 3. Throttling, cancelled transactions, a transaction still in progress under the
//!    same token, and unprocessed keys are retried with capped exponential backoff and
//!    full jitter up to one deadline for the whole call (not one per request), then the
//!    sync fails retryably, having written nothing twice with different content: a
//!    retried request carries the same `ClientRequestToken`, so DynamoDB applies it once.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, Delete, KeysAndAttributes, Put, TransactWriteItem};
use futures::StreamExt;
use ppmt_domain::app_view::{self, AttrValue, Item, ItemVersion, CATEGORY_INDEX, LATEST_SK};

use crate::error::{aws_error, backoff_delay, PortError};
use crate::ports::{AppReader, AppStore, ItemWrite, WriteCounts};

/// Keys of one `BatchGetItem` request (DynamoDB's limit).
const MAX_BATCH_GET: usize = 100;
/// Writes of one `TransactWriteItems` request (DynamoDB's limit).
const MAX_TRANSACTION: usize = 100;
/// Transactions in flight at once.
const MAX_IN_FLIGHT: usize = 8;
/// The condition every write carries: the item is absent, or holds an older day, or
/// the same day from this or an older load.
const NOT_BACKWARDS: &str =
    "attribute_not_exists(pk) OR version_date < :d OR (version_date = :d AND version_seq <= :s)";

type DynamoItem = HashMap<String, AttributeValue>;

/// The app's table.
#[derive(Debug, Clone)]
pub struct DynamoAppTable {
    pub client: aws_sdk_dynamodb::Client,
    pub table: String,
    /// How long throttling and conflicts are retried before the sync fails (retryably).
    pub retry_deadline: Duration,
}

fn to_dynamo(item: &Item) -> DynamoItem {
    item.iter()
        .map(|(k, v)| {
            let value = match v {
                AttrValue::S(t) => AttributeValue::S(t.clone()),
                AttrValue::N(t) => AttributeValue::N(t.clone()),
            };
            (k.clone(), value)
        })
        .collect()
}

/// The attributes the app's items use (text and numbers); others are ignored.
pub fn from_dynamo(item: &DynamoItem) -> Item {
    item.iter()
        .filter_map(|(k, v)| match v {
            AttributeValue::S(t) => Some((k.clone(), AttrValue::S(t.clone()))),
            AttributeValue::N(t) => Some((k.clone(), AttrValue::N(t.clone()))),
            _ => None,
        })
        .collect()
}

fn key(pk: &str, sk: &str) -> DynamoItem {
    DynamoItem::from([("pk".to_owned(), AttributeValue::S(pk.into())), ("sk".to_owned(), AttributeValue::S(sk.into()))])
}

/// What the table holds for a key: its content hash and version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub content_hash: Option<String>,
    pub version: ItemVersion,
}

/// Whether a write must be sent, given what the table holds. Pure, so that the memory
/// fake and DynamoDB decide the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Send,
    Unchanged,
    Stale,
}

/// Decides one write against the stored item.
pub fn decide(write: &ItemWrite, stored: Option<&Stored>) -> Decision {
    match (stored, &write.put) {
        (None, None) => Decision::Unchanged,
        (None, Some(_)) => Decision::Send,
        (Some(s), _) if s.version > write.version => Decision::Stale,
        (Some(s), Some(item)) if s.content_hash.as_deref() == app_view::content_hash(item) => Decision::Unchanged,
        (Some(_), _) => Decision::Send,
    }
}

/// What a cancelled transaction's reason means for its write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cancelled {
    /// The condition failed: a newer version is stored.
    Stale,
    /// Not applied, but may be on a retry: rolled back with the others, throttled, or
    /// in conflict with another transaction.
    Retry,
    /// The write itself is refused (e.g. a validation error).
    Refused,
}

fn cancelled(code: Option<&str>) -> Cancelled {
    match code {
        Some("ConditionalCheckFailed") => Cancelled::Stale,
        None
        | Some(
            "None"
            | "ThrottlingError"
            | "TransactionConflict"
            | "ProvisionedThroughputExceeded"
            | "RequestLimitExceeded",
        ) => Cancelled::Retry,
        Some(_) => Cancelled::Refused,
    }
}

impl DynamoAppTable {
    fn op(&self, what: &str) -> String {
        format!("{what} {}", self.table)
    }

    /// Waits before retry `attempt`, never past `deadline` (one for the whole `apply`, so
    /// that its reads and transactions together give up after `retry_deadline`), and
    /// fails retryably once the deadline has passed.
    async fn pause(&self, attempt: u32, deadline: Instant, what: &str, why: &str) -> Result<(), PortError> {
        let delay = backoff_delay(attempt, Duration::from_millis(50), Duration::from_secs(5));
        tokio::time::sleep(delay.min(deadline.saturating_duration_since(Instant::now()))).await;
        if Instant::now() >= deadline {
            return Err(PortError::transient(
                self.op(what),
                format!("still failing after {:?}: {why}", self.retry_deadline),
            ));
        }
        Ok(())
    }

    /// The hash and version of every existing item among `keys`.
    async fn stored(
        &self,
        keys: &[(String, String)],
        deadline: Instant,
    ) -> Result<HashMap<(String, String), Stored>, PortError> {
        let mut found = HashMap::new();
        for chunk in keys.chunks(MAX_BATCH_GET) {
            let mut pending: Vec<DynamoItem> = chunk.iter().map(|(pk, sk)| key(pk, sk)).collect();
            let mut attempt = 0;
            while !pending.is_empty() {
                let request = KeysAndAttributes::builder()
                    .set_keys(Some(std::mem::take(&mut pending)))
                    .projection_expression("pk, sk, content_hash, version_date, version_seq")
                    .build()
                    .map_err(|e| PortError::permanent(self.op("build a read of"), e))?;
                let out = match self.client.batch_get_item().request_items(&self.table, request.clone()).send().await {
                    Ok(out) => out,
                    Err(e) => {
                        let err = aws_error(self.op("batch-get from"), e);
                        if !crate::Retryable::is_retryable(&err) {
                            return Err(err);
                        }
                        pending = request.keys;
                        attempt += 1;
                        self.pause(attempt, deadline, "batch-get from", &err.to_string()).await?;
                        continue;
                    }
                };
                for item in out.responses.and_then(|mut r| r.remove(&self.table)).unwrap_or_default() {
                    let item = from_dynamo(&item);
                    let text = |n: &str| match item.get(n) {
                        Some(AttrValue::S(t)) => Some(t.clone()),
                        _ => None,
                    };
                    let (Some(pk), Some(sk)) = (text("pk"), text("sk")) else { continue };
                    let version = app_view::read_version(&item)
                        .map_err(|e| PortError::permanent(self.op("read versions in"), e))?;
                    found.insert((pk, sk), Stored { content_hash: text("content_hash"), version });
                }
                pending =
                    out.unprocessed_keys.and_then(|mut u| u.remove(&self.table)).map(|k| k.keys).unwrap_or_default();
                if !pending.is_empty() {
                    attempt += 1;
                    self.pause(attempt, deadline, "batch-get from", "unprocessed keys").await?;
                }
            }
        }
        Ok(found)
    }

    /// One write of a transaction, with the not-backwards condition.
    fn transact_item(&self, write: &ItemWrite) -> Result<TransactWriteItem, PortError> {
        let values = HashMap::from([
            (":d".to_owned(), AttributeValue::S(write.version.price_date.to_string())),
            (":s".to_owned(), AttributeValue::N(write.version.load_seq.to_string())),
        ]);
        let built = match &write.put {
            Some(item) => Put::builder()
                .table_name(&self.table)
                .set_item(Some(to_dynamo(item)))
                .condition_expression(NOT_BACKWARDS)
                .set_expression_attribute_values(Some(values))
                .build()
                .map(|put| TransactWriteItem::builder().put(put).build()),
            None => Delete::builder()
                .table_name(&self.table)
                .set_key(Some(key(&write.pk, &write.sk)))
                .condition_expression(NOT_BACKWARDS)
                .set_expression_attribute_values(Some(values))
                .build()
                .map(|delete| TransactWriteItem::builder().delete(delete).build()),
        };
        built.map_err(|e| PortError::permanent(self.op(&format!("build the write of {}/{} to", write.pk, write.sk)), e))
    }

    /// Sends up to 100 writes as one transaction until each is done or refused as
    /// stale; returns whether each was written (`Send`) or `Stale`, in order.
    async fn transact(&self, writes: &[&ItemWrite], deadline: Instant) -> Result<Vec<Decision>, PortError> {
        let what = format!("write {} items in one transaction to", writes.len());
        let mut outcome: Vec<Decision> = vec![Decision::Send; writes.len()];
        let mut pending: Vec<usize> = (0..writes.len()).collect();
        let mut attempt = 0;
        // The same token for the same request: a retry after a lost answer is applied once.
        let mut token = uuid::Uuid::new_v4().to_string();
        while !pending.is_empty() {
            let items = pending.iter().map(|&i| self.transact_item(writes[i])).collect::<Result<Vec<_>, _>>()?;
            let sent = self
                .client
                .transact_write_items()
                .set_transact_items(Some(items))
                .client_request_token(&token)
                .send()
                .await;
            let error = match sent {
                Ok(_) => return Ok(outcome),
                Err(e) => e,
            };
            let (reasons, in_progress) = match error.as_service_error() {
                Some(TransactWriteItemsError::TransactionCanceledException(c)) => {
                    (Some(c.cancellation_reasons().to_vec()), false)
                }
                Some(TransactWriteItemsError::TransactionInProgressException(_)) => (None, true),
                _ => (None, false),
            };
            let Some(reasons) = reasons.filter(|r| r.len() == pending.len()) else {
                let err = aws_error(self.op(&what), error);
                // In progress: an earlier send of this token is still being applied; the
                // same token again returns its outcome once it is done.
                if !in_progress && !crate::Retryable::is_retryable(&err) {
                    return Err(err);
                }
                attempt += 1;
                self.pause(attempt, deadline, &what, &err.to_string()).await?;
                continue;
            };
            let mut retry = Vec::new();
            for (&i, reason) in pending.iter().zip(&reasons) {
                match cancelled(reason.code()) {
                    Cancelled::Stale => outcome[i] = Decision::Stale,
                    Cancelled::Retry => retry.push(i),
                    Cancelled::Refused => {
                        let why =
                            format!("{}: {}", reason.code().unwrap_or_default(), reason.message().unwrap_or_default());
                        let write = writes[i];
                        return Err(PortError::permanent(self.op(&format!("write {}/{} to", write.pk, write.sk)), why));
                    }
                }
            }
            let throttled = retry.len() == pending.len();
            pending = retry;
            token = uuid::Uuid::new_v4().to_string();
            if throttled {
                attempt += 1;
                self.pause(attempt, deadline, &what, "transaction cancelled: throttled or in conflict").await?;
            }
        }
        Ok(outcome)
    }
}

#[async_trait]
impl AppStore for DynamoAppTable {
    async fn apply(&self, writes: &[ItemWrite]) -> Result<WriteCounts, PortError> {
        // One write per key (the last one), as a transaction may not name a key twice.
        let mut last: HashMap<(&str, &str), &ItemWrite> = HashMap::new();
        for w in writes {
            last.insert((w.pk.as_str(), w.sk.as_str()), w);
        }
        let mut unique: Vec<&ItemWrite> = last.into_values().collect();
        unique.sort_by(|a, b| (&a.pk, &a.sk).cmp(&(&b.pk, &b.sk)));
        let keys: Vec<(String, String)> = unique.iter().map(|w| (w.pk.clone(), w.sk.clone())).collect();
        let deadline = Instant::now() + self.retry_deadline;
        let stored = self.stored(&keys, deadline).await?;
        let mut counts = WriteCounts::default();
        let mut to_send = Vec::new();
        for w in unique {
            match decide(w, stored.get(&(w.pk.clone(), w.sk.clone()))) {
                Decision::Send => to_send.push(w),
                Decision::Unchanged => counts.unchanged += 1,
                Decision::Stale => counts.stale_skipped += 1,
            }
        }
        let mut in_flight = futures::stream::FuturesUnordered::new();
        let mut settle = |done: Result<(Vec<Decision>, Vec<bool>), PortError>| -> Result<(), PortError> {
            let (decisions, puts) = done?;
            for (decision, put) in decisions.into_iter().zip(puts) {
                match (decision, put) {
                    (Decision::Send, true) => counts.written += 1,
                    (Decision::Send, false) => counts.deleted += 1,
                    (Decision::Stale, _) => counts.stale_skipped += 1,
                    (Decision::Unchanged, _) => counts.unchanged += 1,
                }
            }
            Ok(())
        };
        for chunk in to_send.chunks(MAX_TRANSACTION) {
            if in_flight.len() == MAX_IN_FLIGHT {
                if let Some(done) = in_flight.next().await {
                    settle(done)?;
                }
            }
            let puts: Vec<bool> = chunk.iter().map(|w| w.put.is_some()).collect();
            in_flight.push(async move { self.transact(chunk, deadline).await.map(|d| (d, puts)) });
        }
        while let Some(done) = in_flight.next().await {
            settle(done)?;
        }
        Ok(counts)
    }
}

#[async_trait]
impl AppReader for DynamoAppTable {
    async fn get_item(&self, pk: &str, sk: &str) -> Result<Option<Item>, PortError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(pk, sk)))
            .send()
            .await
            .map_err(|e| aws_error(format!("get {pk}/{sk} from {}", self.table), e))?;
        Ok(out.item.as_ref().map(from_dynamo))
    }

    async fn query_range(
        &self,
        pk: &str,
        from_sk: &str,
        to_sk: &str,
        newest_first: bool,
        limit: usize,
    ) -> Result<Vec<Item>, PortError> {
        let mut items = Vec::new();
        let mut start: Option<DynamoItem> = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND sk BETWEEN :a AND :b")
                .expression_attribute_values(":pk", AttributeValue::S(pk.into()))
                .expression_attribute_values(":a", AttributeValue::S(from_sk.into()))
                .expression_attribute_values(":b", AttributeValue::S(to_sk.into()))
                .scan_index_forward(!newest_first)
                .limit(i32::try_from(limit - items.len()).unwrap_or(i32::MAX))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| aws_error(format!("query {pk} in {}", self.table), e))?;
            items.extend(out.items.unwrap_or_default().iter().map(from_dynamo));
            match out.last_evaluated_key {
                Some(last) if items.len() < limit => start = Some(last),
                _ => return Ok(items),
            }
        }
    }

    async fn query_category(
        &self,
        category: &str,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<(Vec<Item>, Option<String>), PortError> {
        let gsi1pk = app_view::category_pk(category);
        let start = cursor.map(|c| {
            let product_id = c.split_once('#').map(|(_, id)| id).unwrap_or_default();
            DynamoItem::from([
                ("gsi1pk".to_owned(), AttributeValue::S(gsi1pk.clone())),
                ("gsi1sk".to_owned(), AttributeValue::S(c.to_owned())),
                ("pk".to_owned(), AttributeValue::S(app_view::product_pk(product_id))),
                ("sk".to_owned(), AttributeValue::S(LATEST_SK.to_owned())),
            ])
        });
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(CATEGORY_INDEX)
            .key_condition_expression("gsi1pk = :c")
            .expression_attribute_values(":c", AttributeValue::S(gsi1pk.clone()))
            .limit(i32::try_from(limit).unwrap_or(i32::MAX))
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| aws_error(format!("query category {category} in {}", self.table), e))?;
        let items: Vec<Item> = out.items.unwrap_or_default().iter().map(from_dynamo).collect();
        let next = out.last_evaluated_key.and_then(|k| k.get("gsi1sk").and_then(|v| v.as_s().ok()).cloned());
        Ok((items, next))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;
    use std::sync::{Arc, Mutex};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// What the fake DynamoDB answers to one request: its operation (`X-Amz-Target`
    /// without its prefix) and JSON body in, HTTP status and JSON body out.
    type Answer = dyn Fn(&str, &str) -> (u16, String) + Send + Sync;

    /// A DynamoDB endpoint on port 0 answering every request with `answer`.
    async fn fake_dynamodb(answer: Arc<Answer>) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let answer = answer.clone();
                tokio::spawn(async move {
                    let mut buffer = Vec::new();
                    loop {
                        let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") else {
                            let mut chunk = [0u8; 8192];
                            match stream.read(&mut chunk).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
                            }
                            continue;
                        };
                        let head = String::from_utf8_lossy(&buffer[..end]).into_owned();
                        let header = |name: &str| {
                            head.lines().find_map(|l| {
                                l.split_once(':').filter(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.trim())
                            })
                        };
                        let length: usize = header("content-length").map_or(0, |v| v.parse().unwrap());
                        let target = header("x-amz-target").unwrap_or_default().to_owned();
                        while buffer.len() < end + 4 + length {
                            let mut chunk = [0u8; 8192];
                            let n = stream.read(&mut chunk).await.unwrap();
                            buffer.extend_from_slice(&chunk[..n]);
                        }
                        let body = String::from_utf8_lossy(&buffer[end + 4..end + 4 + length]).into_owned();
                        buffer.drain(..end + 4 + length);
                        let operation = target.rsplit('.').next().unwrap_or_default();
                        let (status, out) = answer(operation, &body);
                        let response = format!(
                            "HTTP/1.1 {status} X\r\ncontent-type: application/x-amz-json-1.0\r\ncontent-length: {}\r\n\r\n{out}",
                            out.len()
                        );
                        stream.write_all(response.as_bytes()).await.unwrap();
                    }
                });
            }
        });
        url
    }

    /// The table behind `url`, with the SDK's own retries off so that only ours run.
    fn table_at(url: &str, retry_deadline: Duration) -> DynamoAppTable {
        use aws_sdk_dynamodb::config::{retry::RetryConfig, BehaviorVersion, Credentials, Region};
        let config = aws_sdk_dynamodb::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("test", "test", None, None, "test"))
            .endpoint_url(url)
            .retry_config(RetryConfig::disabled())
            .build();
        DynamoAppTable { client: aws_sdk_dynamodb::Client::from_conf(config), table: "prices".into(), retry_deadline }
    }

    fn dynamodb_error(code: &str) -> (u16, String) {
        (400, format!(r#"{{"__type":"com.amazonaws.dynamodb.v20120810#{code}","message":"test"}}"#))
    }

    const NOTHING_STORED: &str = r#"{"Responses":{"prices":[]},"UnprocessedKeys":{}}"#;

    fn new_product(id: usize) -> ItemWrite {
        ItemWrite { pk: format!("PRODUCT#{id}"), ..put(v(25, 1), "h") }
    }

    #[tokio::test]
    async fn a_transaction_in_progress_is_sent_again_with_the_same_token() {
        let tokens = Arc::new(Mutex::new(Vec::<String>::new()));
        let seen = tokens.clone();
        let url = fake_dynamodb(Arc::new(move |operation: &str, body: &str| {
            if operation != "TransactWriteItems" {
                return (200, NOTHING_STORED.to_owned());
            }
            let request: serde_json::Value = serde_json::from_str(body).unwrap();
            let mut tokens = seen.lock().unwrap();
            tokens.push(request["ClientRequestToken"].as_str().unwrap().to_owned());
            match tokens.len() {
                1 => dynamodb_error("TransactionInProgressException"),
                _ => (200, "{}".to_owned()),
            }
        }))
        .await;
        let counts = table_at(&url, Duration::from_secs(10)).apply(&[new_product(1)]).await.unwrap();
        assert_eq!(counts.written, 1);
        let tokens = tokens.lock().unwrap();
        assert_eq!(tokens.len(), 2, "sent again once");
        assert_eq!(tokens[0], tokens[1], "with the same ClientRequestToken");
    }

    #[tokio::test]
    async fn one_deadline_covers_every_request_of_a_call() {
        // Each 100-key read is throttled for 60% of the deadline after it is first seen:
        // two of them in a row take longer than one deadline.
        let deadline = Duration::from_millis(1000);
        let first_seen = Arc::new(Mutex::new(HashMap::<String, Instant>::new()));
        let url = fake_dynamodb(Arc::new(move |operation: &str, body: &str| {
            if operation != "BatchGetItem" {
                return (200, "{}".to_owned());
            }
            let since = *first_seen.lock().unwrap().entry(body.to_owned()).or_insert_with(Instant::now);
            match since.elapsed() < deadline.mul_f64(0.6) {
                true => dynamodb_error("ThrottlingException"),
                false => (200, NOTHING_STORED.to_owned()),
            }
        }))
        .await;
        let writes: Vec<ItemWrite> = (0..200).map(new_product).collect();
        let started = Instant::now();
        let err = table_at(&url, deadline).apply(&writes).await.unwrap_err();
        assert!(crate::Retryable::is_retryable(&err), "{err}");
        assert!(started.elapsed() < deadline + Duration::from_millis(300), "{:?}", started.elapsed());
    }

    fn v(day: u32, seq: i64) -> ItemVersion {
        ItemVersion { price_date: NaiveDate::from_ymd_opt(2026, 11, day).unwrap(), load_seq: seq }
    }

    fn put(version: ItemVersion, hash: &str) -> ItemWrite {
        let item = Item::from([("content_hash".to_owned(), AttrValue::S(hash.into()))]);
        ItemWrite { pk: "PRODUCT#p".into(), sk: "LATEST".into(), version, put: Some(item) }
    }

    #[test]
    fn decisions_never_go_backwards_and_skip_unchanged_content() {
        let stored = Stored { content_hash: Some("h1".into()), version: v(25, 5) };
        assert_eq!(decide(&put(v(24, 9), "h2"), Some(&stored)), Decision::Stale, "an older day");
        assert_eq!(decide(&put(v(25, 4), "h2"), Some(&stored)), Decision::Stale, "an older load of the day");
        assert_eq!(decide(&put(v(25, 5), "h2"), Some(&stored)), Decision::Send, "a retry of the same load");
        assert_eq!(decide(&put(v(26, 1), "h2"), Some(&stored)), Decision::Send, "a newer day");
        assert_eq!(decide(&put(v(26, 1), "h1"), Some(&stored)), Decision::Unchanged, "same content");
        assert_eq!(decide(&put(v(26, 1), "h1"), None), Decision::Send);
        let delete = ItemWrite { put: None, ..put(v(25, 5), "") };
        assert_eq!(decide(&delete, None), Decision::Unchanged, "nothing to delete");
        assert_eq!(decide(&delete, Some(&stored)), Decision::Send);
        assert_eq!(decide(&ItemWrite { version: v(25, 1), ..delete }, Some(&stored)), Decision::Stale);
    }
}
