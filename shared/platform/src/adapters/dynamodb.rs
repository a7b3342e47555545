//! The run ledger ([`RunLedger`]) on DynamoDB. (The app's table is
//! [`crate::adapters::app_table`].)

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, NaiveDate, Utc};
use ppmt_domain::topology::LEDGER_BY_DATE_INDEX;
use ppmt_domain::{BatchId, BatchRef, Stage, StageCounts};

use crate::error::{aws_error, PortError};
use crate::ports::{MessageFailure, RunLedger, RunStatus, StageRun};

type Item = HashMap<String, AttributeValue>;

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
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

/// The ledger item tallying the shards of one split of a batch's stage.
fn shards_key(batch_id: &BatchId, stage: Stage, split_id: &str) -> Item {
    Item::from([
        ("pk".to_owned(), s(format!("batch#{batch_id}"))),
        ("sk".to_owned(), s(format!("shards#{}#{split_id}", stage.as_str()))),
    ])
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
        let operation =
            format!("record {} {} for batch {} in {}", stage.as_str(), status.as_str(), batch.batch_id, self.table);
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
            .expression_attribute_values(":st", s(status.as_str()))
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

    async fn record_run(&self, run: &StageRun) -> Result<(), PortError> {
        let operation = format!("record {} of batch {} in {}", run.stage.as_str(), run.batch_id, self.table);
        let counts = serde_json::to_string(&run.counts).map_err(|e| PortError::permanent(operation.clone(), e))?;
        let mut item = batch_key(&run.batch_id, run.stage);
        item.extend([
            ("batch_id".to_owned(), s(run.batch_id.as_str())),
            ("batch_date".to_owned(), s(run.batch_date.to_string())),
            ("stage".to_owned(), s(run.stage.as_str())),
            ("status".to_owned(), s(run.status.as_str())),
            ("attempts".to_owned(), n(run.attempts)),
            ("counts".to_owned(), s(counts)),
        ]);
        let times = [("started_at", run.started_at), ("finished_at", run.finished_at)];
        item.extend(times.into_iter().filter_map(|(name, t)| Some((name.to_owned(), s(t?.to_rfc3339())))));
        item.extend(run.error.as_ref().map(|e| ("error".to_owned(), s(e))));
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| aws_error(operation, e))?;
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

    /// One atomic update sets the shard's counts and adds its index to the split's done
    /// set, returning the item as it now is: of shards finishing at once, only the one
    /// that completes the set sees it complete; once the split is announced, none does.
    async fn shard_done(
        &self,
        batch: &BatchRef,
        stage: Stage,
        split_id: &str,
        index: u32,
        count: u32,
        counts: &StageCounts,
    ) -> Result<Option<StageCounts>, PortError> {
        let operation = format!(
            "record shard {index} of {count} of {} for batch {} in {}",
            stage.as_str(),
            batch.batch_id,
            self.table
        );
        let text = serde_json::to_string(counts).map_err(|e| PortError::permanent(operation.clone(), e))?;
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(shards_key(&batch.batch_id, stage, split_id)))
            .update_expression("SET #shard = :c ADD done :i")
            .expression_attribute_names("#shard", format!("shard_{index}"))
            .expression_attribute_values(":c", s(text))
            .expression_attribute_values(":i", AttributeValue::Ns(vec![index.to_string()]))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew)
            .send()
            .await
            .map_err(|e| aws_error(operation.clone(), e))?;
        let item = out.attributes.unwrap_or_default();
        let done = item.get("done").and_then(|v| v.as_ns().ok()).map_or(0, Vec::len);
        if done < count as usize || item.contains_key("announced") {
            return Ok(None);
        }
        let mut total = StageCounts::default();
        for i in 0..count {
            let part: StageCounts = get_s(&item, &format!("shard_{i}"))
                .and_then(|t| serde_json::from_str(t).ok())
                .ok_or_else(|| PortError::permanent(operation.clone(), format!("shard {i}'s counts are unreadable")))?;
            total = total.plus(&part);
        }
        Ok(Some(total))
    }

    async fn split_announced(&self, batch: &BatchRef, stage: Stage, split_id: &str) -> Result<(), PortError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(shards_key(&batch.batch_id, stage, split_id)))
            .update_expression("SET announced = :t")
            .expression_attribute_values(":t", AttributeValue::Bool(true))
            .send()
            .await
            .map_err(|e| aws_error(format!("mark split {split_id} of batch {} announced", batch.batch_id), e))?;
        Ok(())
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
