//! In-memory fakes of the ports, for unit tests of the services' handlers.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{NaiveDate, Utc};
use ppmt_domain::{BatchId, BatchRef, Stage, StageCounts, StageEvent};

use crate::error::PortError;
use crate::ports::{
    CurrentPrice, MessageFailure, Notifier, ObjectStore, PriceKey, PriceStore, RunLedger, RunStatus, SqlStep, StageRun,
    StagedBatch, TransformOutcome, Warehouse,
};

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Objects in a map keyed by (bucket, key).
#[derive(Debug, Default)]
pub struct MemoryStore {
    pub objects: Mutex<HashMap<(String, String), Bytes>>,
}

impl MemoryStore {
    pub fn insert(&self, bucket: &str, key: &str, body: impl Into<Bytes>) {
        lock(&self.objects).insert((bucket.to_owned(), key.to_owned()), body.into());
    }
}

#[async_trait]
impl ObjectStore for MemoryStore {
    async fn get(&self, bucket: &str, key: &str) -> Result<Bytes, PortError> {
        lock(&self.objects)
            .get(&(bucket.to_owned(), key.to_owned()))
            .cloned()
            .ok_or_else(|| PortError::not_found(format!("get s3://{bucket}/{key}"), "no such key"))
    }

    async fn put(&self, bucket: &str, key: &str, body: Bytes, _content_type: &str) -> Result<(), PortError> {
        self.insert(bucket, key, body);
        Ok(())
    }
}

/// Keeps every published event.
#[derive(Debug, Default)]
pub struct MemoryNotifier {
    pub events: Mutex<Vec<StageEvent>>,
}

#[async_trait]
impl Notifier for MemoryNotifier {
    async fn publish(&self, event: &StageEvent) -> Result<(), PortError> {
        lock(&self.events).push(event.clone());
        Ok(())
    }
}

/// Keeps the last staged batch and answers transforms and reads with canned values.
#[derive(Debug, Default)]
pub struct MemoryWarehouse {
    pub staged: Mutex<Vec<StagedBatch>>,
    pub transform_outcome: Mutex<Option<TransformOutcome>>,
    /// What `current_batch` answers; `None` means "the asked batch is current".
    pub current_batch: Mutex<Option<BatchId>>,
    pub current: Mutex<Vec<CurrentPrice>>,
    pub retired: Mutex<Vec<PriceKey>>,
}

#[async_trait]
impl Warehouse for MemoryWarehouse {
    async fn stage_batch(&self, staged: &StagedBatch) -> Result<(), PortError> {
        lock(&self.staged).push(staged.clone());
        Ok(())
    }

    async fn current_batch(&self, batch: &BatchRef) -> Result<Option<BatchId>, PortError> {
        Ok(Some(lock(&self.current_batch).clone().unwrap_or_else(|| batch.batch_id.clone())))
    }

    async fn run_transform(&self, batch: &BatchRef, _steps: &[SqlStep]) -> Result<TransformOutcome, PortError> {
        lock(&self.transform_outcome)
            .clone()
            .ok_or_else(|| PortError::transient(format!("transform batch {}", batch.batch_id), "no outcome set"))
    }

    async fn current_prices(&self, _batch: &BatchRef) -> Result<Vec<CurrentPrice>, PortError> {
        Ok(lock(&self.current).clone())
    }

    async fn retired_keys(&self, _batch: &BatchRef) -> Result<Vec<PriceKey>, PortError> {
        Ok(lock(&self.retired).clone())
    }
}

/// Keeps written items by (product, source).
#[derive(Debug, Default)]
pub struct MemoryPriceStore {
    pub items: Mutex<HashMap<(String, String), CurrentPrice>>,
}

#[async_trait]
impl PriceStore for MemoryPriceStore {
    async fn put_prices(&self, prices: &[CurrentPrice]) -> Result<u64, PortError> {
        let mut items = lock(&self.items);
        for p in prices {
            items.insert((p.product_id.clone(), p.source_id.clone()), p.clone());
        }
        Ok(prices.len() as u64)
    }

    async fn delete_prices(&self, keys: &[PriceKey]) -> Result<u64, PortError> {
        let mut items = lock(&self.items);
        for k in keys {
            items.remove(&(k.product_id.clone(), k.source_id.clone()));
        }
        Ok(keys.len() as u64)
    }
}

/// A ledger in memory.
#[derive(Debug, Default)]
pub struct MemoryLedger {
    pub runs: Mutex<Vec<StageRun>>,
    pub failures: Mutex<HashMap<String, MessageFailure>>,
}

impl MemoryLedger {
    /// The run of a stage of a batch, if recorded.
    pub fn run(&self, batch_id: &str, stage: Stage) -> Option<StageRun> {
        lock(&self.runs).iter().find(|r| r.batch_id.as_str() == batch_id && r.stage == stage).cloned()
    }
}

#[async_trait]
impl RunLedger for MemoryLedger {
    async fn stage_started(&self, batch: &BatchRef, stage: Stage) -> Result<(), PortError> {
        let mut runs = lock(&self.runs);
        let now = Some(Utc::now());
        match runs.iter_mut().find(|r| r.batch_id == batch.batch_id && r.stage == stage) {
            Some(run) => {
                run.status = RunStatus::Running;
                run.attempts += 1;
                run.started_at = now;
                run.error = None;
            }
            None => runs.push(StageRun {
                batch_id: batch.batch_id.clone(),
                batch_date: batch.batch_date,
                stage,
                status: RunStatus::Running,
                attempts: 1,
                started_at: now,
                finished_at: None,
                counts: StageCounts::default(),
                error: None,
            }),
        }
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
        let mut runs = lock(&self.runs);
        let Some(run) = runs.iter_mut().find(|r| r.batch_id == batch.batch_id && r.stage == stage) else {
            return Err(PortError::permanent("end a stage", "stage was never started"));
        };
        run.status = status;
        run.finished_at = Some(Utc::now());
        run.counts = counts.clone();
        run.error = error.map(str::to_owned);
        Ok(())
    }

    async fn runs_for_date(&self, date: NaiveDate) -> Result<Vec<StageRun>, PortError> {
        Ok(lock(&self.runs).iter().filter(|r| r.batch_date == date).cloned().collect())
    }

    async fn record_message_failure(&self, failure: &MessageFailure) -> Result<(), PortError> {
        lock(&self.failures).insert(failure.message_id.clone(), failure.clone());
        Ok(())
    }

    async fn message_failure(&self, message_id: &str) -> Result<Option<MessageFailure>, PortError> {
        Ok(lock(&self.failures).get(message_id).cloned())
    }
}
