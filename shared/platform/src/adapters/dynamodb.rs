//! DynamoDB adapters: the prices table the app reads ([`PriceStore`]) and the run
//! ledger ([`RunLedger`]).

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, DeleteRequest, PutRequest, WriteRequest};
use chrono::{DateTime, NaiveDate, Utc};
use ppmt_domain::topology::LEDGER_BY_DATE_INDEX;
use ppmt_domain::{BatchId, BatchRef, Stage, StageCounts};

use crate::error::{aws_error, backoff_delay, PortError};
use crate::ports::{CurrentPrice, MessageFailure, PriceKey, PriceStore, RunLedger, RunStatus, StageRun};

/// DynamoDB's limit of items per `BatchWriteItem`.
pub const MAX_BATCH_WRITE: usize = 25;
/// Rounds of retrying `UnprocessedItems` before giving up (retryably).
const MAX_WRITE_ROUNDS: u32 = 8;

type Item = HashMap<String, AttributeValue>;

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

/// The item the app reads for one product and source.
pub fn price_item(p: &CurrentPrice) -> Item {
    let mut item = Item::from([
        ("product_id".to_owned(), s(&p.product_id)),
        ("source_id".to_owned(), s(&p.source_id)),
        ("price".to_owned(), n(p.price.normalize())),
        ("price_kind".to_owned(), s(p.price_kind.as_str())),
        ("currency".to_owned(), s(&p.currency)),
        ("price_usd".to_owned(), n(p.price_usd.normalize())),
        ("market_price_usd".to_owned(), n(p.market_price_usd.normalize())),
        ("market_sources".to_owned(), n(p.market_sources)),
        ("price_date".to_owned(), s(p.price_date.to_string())),
        ("observed_at".to_owned(), s(p.observed_at.to_rfc3339())),
        ("fx_rate_date".to_owned(), s(p.fx_rate_date.to_string())),
        ("batch_id".to_owned(), s(&p.batch_id)),
    ]);
    if let Some(name) = &p.name {
        item.insert("name".to_owned(), s(name));
    }
    item
}

/// Splits items into `BatchWriteItem` requests of at most 25, with no key twice in one
/// request (DynamoDB refuses that); a later item for the same key wins.
pub fn plan_batch_writes(prices: &[CurrentPrice]) -> Vec<Vec<Item>> {
    let mut latest: Vec<&CurrentPrice> = Vec::with_capacity(prices.len());
    let mut index: HashMap<(&str, &str), usize> = HashMap::new();
    for p in prices {
        match index.get(&(p.product_id.as_str(), p.source_id.as_str())) {
            Some(&i) => latest[i] = p,
            None => {
                index.insert((p.product_id.as_str(), p.source_id.as_str()), latest.len());
                latest.push(p);
            }
        }
    }
    latest.chunks(MAX_BATCH_WRITE).map(|chunk| chunk.iter().map(|p| price_item(p)).collect()).collect()
}

/// The prices table.
#[derive(Debug, Clone)]
pub struct DynamoPriceStore {
    pub client: aws_sdk_dynamodb::Client,
    pub table: String,
}

impl DynamoPriceStore {
    /// Sends one `BatchWriteItem` of at most 25 requests, retrying `UnprocessedItems`
    /// with backoff until none is left.
    async fn write_all(&self, mut pending: Vec<WriteRequest>) -> Result<(), PortError> {
        let mut round = 0;
        while !pending.is_empty() {
            if round == MAX_WRITE_ROUNDS {
                return Err(PortError::transient(
                    format!("batch-write {}", self.table),
                    format!("{} items still unprocessed after {MAX_WRITE_ROUNDS} rounds", pending.len()),
                ));
            }
            if round > 0 {
                tokio::time::sleep(backoff_delay(round, Duration::from_millis(50), Duration::from_secs(5))).await;
            }
            let output = self
                .client
                .batch_write_item()
                .request_items(&self.table, pending)
                .send()
                .await
                .map_err(|e| aws_error(format!("batch-write {}", self.table), e))?;
            pending = output.unprocessed_items.and_then(|mut m| m.remove(&self.table)).unwrap_or_default();
            round += 1;
        }
        Ok(())
    }
}

#[async_trait]
impl PriceStore for DynamoPriceStore {
    async fn put_prices(&self, prices: &[CurrentPrice]) -> Result<u64, PortError> {
        let mut written = 0u64;
        for chunk in plan_batch_writes(prices) {
            let requests: Vec<WriteRequest> = chunk
                .into_iter()
                .map(|item| {
                    PutRequest::builder()
                        .set_item(Some(item))
                        .build()
                        .map(|put| WriteRequest::builder().put_request(put).build())
                })
                .collect::<Result<_, _>>()
                .map_err(|e| PortError::permanent(format!("build write for {}", self.table), e))?;
            written += requests.len() as u64;
            self.write_all(requests).await?;
        }
        Ok(written)
    }

    async fn delete_prices(&self, keys: &[PriceKey]) -> Result<u64, PortError> {
        let unique: std::collections::BTreeSet<&PriceKey> = keys.iter().collect();
        let unique: Vec<&PriceKey> = unique.into_iter().collect();
        for chunk in unique.chunks(MAX_BATCH_WRITE) {
            let requests: Vec<WriteRequest> = chunk
                .iter()
                .map(|k| {
                    DeleteRequest::builder()
                        .key("product_id", s(&k.product_id))
                        .key("source_id", s(&k.source_id))
                        .build()
                        .map(|delete| WriteRequest::builder().delete_request(delete).build())
                })
                .collect::<Result<_, _>>()
                .map_err(|e| PortError::permanent(format!("build delete for {}", self.table), e))?;
            self.write_all(requests).await?;
        }
        Ok(unique.len() as u64)
    }
}

/// The run ledger table.
#[derive(Debug, Clone)]
pub struct DynamoLedger {
    pub client: aws_sdk_dynamodb::Client,
    pub table: String,
}

fn batch_key(batch_id: &BatchId, stage: Stage) -> Item {
    Item::from([
        ("pk".to_owned(), s(format!("batch#{batch_id}"))),
        ("sk".to_owned(), s(format!("stage#{}", stage.as_str()))),
    ])
}

fn get_s<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.get(name).and_then(|v| v.as_s().ok()).map(String::as_str)
}

fn get_n(item: &Item, name: &str) -> Option<u64> {
    item.get(name).and_then(|v| v.as_n().ok()).and_then(|t| t.parse().ok())
}

fn get_time(item: &Item, name: &str) -> Option<DateTime<Utc>> {
    get_s(item, name).and_then(|t| DateTime::parse_from_rfc3339(t).ok()).map(|t| t.with_timezone(&Utc))
}

fn status_name(status: &RunStatus) -> &'static str {
    match status {
        RunStatus::Running => "running",
        RunStatus::Succeeded => "succeeded",
        RunStatus::Failed => "failed",
        RunStatus::Skipped => "skipped",
    }
}

fn parse_run(item: &Item) -> Option<StageRun> {
    let status = match get_s(item, "status")? {
        "running" => RunStatus::Running,
        "succeeded" => RunStatus::Succeeded,
        "failed" => RunStatus::Failed,
        "skipped" => RunStatus::Skipped,
        _ => return None,
    };
    Some(StageRun {
        batch_id: BatchId(get_s(item, "batch_id")?.to_owned()),
        batch_date: NaiveDate::parse_from_str(get_s(item, "batch_date")?, "%Y-%m-%d").ok()?,
        stage: Stage::parse(get_s(item, "stage")?)?,
        status,
        attempts: get_n(item, "attempts").unwrap_or(0) as u32,
        started_at: get_time(item, "started_at"),
        finished_at: get_time(item, "finished_at"),
        counts: get_s(item, "counts").and_then(|c| serde_json::from_str(c).ok()).unwrap_or_default(),
        error: get_s(item, "error").map(str::to_owned),
    })
}

#[async_trait]
impl RunLedger for DynamoLedger {
    async fn stage_started(&self, batch: &BatchRef, stage: Stage) -> Result<(), PortError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(batch_key(&batch.batch_id, stage)))
            .update_expression(
                "SET batch_id = :b, batch_date = :d, stage = :s, #status = :running, started_at = :now, \
                 attempts = if_not_exists(attempts, :zero) + :one REMOVE finished_at, #error",
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#error", "error")
            .expression_attribute_values(":b", s(batch.batch_id.as_str()))
            .expression_attribute_values(":d", s(batch.batch_date.to_string()))
            .expression_attribute_values(":s", s(stage.as_str()))
            .expression_attribute_values(":running", s("running"))
            .expression_attribute_values(":now", s(Utc::now().to_rfc3339()))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":one", n(1))
            .send()
            .await
            .map_err(|e| {
                aws_error(
                    format!("record {} started for batch {} in {}", stage.as_str(), batch.batch_id, self.table),
                    e,
                )
            })?;
        Ok(())
    }

    async fn stage_ended(
        &self,
        batch: &BatchRef,
        stage: Stage,
        status: RunStatus,
        counts: &StageCounts,
        error: Option<&str>,
    ) -> Result<(), PortError> {
        let operation = format!(
            "record {} {} for batch {} in {}",
            stage.as_str(),
            status_name(&status),
            batch.batch_id,
            self.table
        );
        let counts = serde_json::to_string(counts).map_err(|e| PortError::permanent(operation.clone(), e))?;
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(batch_key(&batch.batch_id, stage)))
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#error", "error")
            .expression_attribute_values(":b", s(batch.batch_id.as_str()))
            .expression_attribute_values(":d", s(batch.batch_date.to_string()))
            .expression_attribute_values(":s", s(stage.as_str()))
            .expression_attribute_values(":st", s(status_name(&status)))
            .expression_attribute_values(":now", s(Utc::now().to_rfc3339()))
            .expression_attribute_values(":c", s(counts));
        let set = "SET batch_id = :b, batch_date = :d, stage = :s, #status = :st, finished_at = :now, counts = :c";
        update = match error {
            Some(text) => {
                update.update_expression(format!("{set}, #error = :e")).expression_attribute_values(":e", s(text))
            }
            None => update.update_expression(format!("{set} REMOVE #error")),
        };
        update.send().await.map_err(|e| aws_error(operation, e))?;
        Ok(())
    }

    async fn runs_for_date(&self, date: NaiveDate) -> Result<Vec<StageRun>, PortError> {
        let operation = format!("query {} for {date}", self.table);
        let mut pages = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(LEDGER_BY_DATE_INDEX)
            .key_condition_expression("batch_date = :d")
            .expression_attribute_values(":d", s(date.to_string()))
            .into_paginator()
            .items()
            .send();
        let mut runs = Vec::new();
        while let Some(item) = pages.next().await {
            let item = item.map_err(|e| aws_error(operation.clone(), e))?;
            runs.extend(parse_run(&item));
        }
        runs.sort_by_key(|r| (r.started_at, r.stage));
        Ok(runs)
    }

    async fn record_message_failure(&self, failure: &MessageFailure) -> Result<(), PortError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(format!("message#{}", failure.message_id)))
            .item("sk", s("failure"))
            .item("consumer", s(&failure.consumer))
            .item("message_id", s(&failure.message_id))
            .item("receive_count", n(failure.receive_count))
            .item("error", s(&failure.error))
            .item("retryable", AttributeValue::Bool(failure.retryable))
            .item("failed_at", s(failure.failed_at.to_rfc3339()))
            .send()
            .await
            .map_err(|e| aws_error(format!("record failure of message {} in {}", failure.message_id, self.table), e))?;
        Ok(())
    }

    async fn message_failure(&self, message_id: &str) -> Result<Option<MessageFailure>, PortError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(format!("message#{message_id}")))
            .key("sk", s("failure"))
            .send()
            .await
            .map_err(|e| aws_error(format!("read failure of message {message_id} from {}", self.table), e))?;
        Ok(output.item.and_then(|item| {
            Some(MessageFailure {
                consumer: get_s(&item, "consumer")?.to_owned(),
                message_id: get_s(&item, "message_id")?.to_owned(),
                receive_count: get_n(&item, "receive_count").unwrap_or(0) as u32,
                error: get_s(&item, "error")?.to_owned(),
                retryable: item.get("retryable").and_then(|v| v.as_bool().ok()).copied().unwrap_or(false),
                failed_at: get_time(&item, "failed_at")?,
            })
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ppmt_domain::record::PriceKind;
    use rust_decimal::Decimal;
    use std::str::FromStr;

    fn price(product: &str, source: &str, amount: &str) -> CurrentPrice {
        CurrentPrice {
            product_id: product.into(),
            source_id: source.into(),
            name: None,
            price: Decimal::from_str(amount).unwrap(),
            price_kind: PriceKind::Exact,
            currency: "USD".into(),
            price_usd: Decimal::from_str(amount).unwrap(),
            market_price_usd: Decimal::from_str(amount).unwrap(),
            market_sources: 1,
            price_date: NaiveDate::from_ymd_opt(2026, 11, 25).unwrap(),
            observed_at: DateTime::parse_from_rfc3339("2026-11-25T02:00:00Z").unwrap().with_timezone(&Utc),
            fx_rate_date: NaiveDate::from_ymd_opt(2026, 11, 25).unwrap(),
            batch_id: "b".into(),
        }
    }

    #[test]
    fn plans_requests_of_at_most_25_without_repeated_keys() {
        let mut prices: Vec<CurrentPrice> = (0..60).map(|i| price(&format!("p{i}"), "s", "1.50")).collect();
        prices.push(price("p3", "s", "9.99"));
        let plan = plan_batch_writes(&prices);
        assert_eq!(plan.iter().map(Vec::len).collect::<Vec<_>>(), vec![25, 25, 10]);
        let p3 = plan.iter().flatten().filter(|i| i["product_id"] == s("p3")).collect::<Vec<_>>();
        assert_eq!(p3.len(), 1);
        assert_eq!(p3[0]["price"], n("9.99"));
    }

    #[test]
    fn items_carry_decimal_numbers_exactly() {
        let item = price_item(&price("p", "s", "2879.20"));
        assert_eq!(item["price"], n("2879.2"));
        assert_eq!(item["price_date"], s("2026-11-25"));
        assert!(!item.contains_key("name"));
    }
}
