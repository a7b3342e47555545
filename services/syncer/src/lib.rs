//! The syncer: triggered by a `transformed` stage event (SNS → its SQS queue), it reads
//! the current price of every product the batch touched from the warehouse and writes
//! them to the DynamoDB prices table the app reads (`BatchWriteItem`, at most 25 items a
//! request, `UnprocessedItems` retried), then emits `synced`.
//!
//! Idempotent: items are whole-item puts of the warehouse's current rows, so repeating
//! the event, or replaying an older day, writes the same (newest) prices again. Items of
//! products a replaced day listed and no day lists any more are deleted.

use std::sync::Arc;

use async_trait::async_trait;
use ppmt_domain::{Stage, StageCounts};
use ppmt_platform::ports::{Notifier, PriceStore, RunLedger, Warehouse};
use ppmt_platform::stage::{expect_stage_event, run_stage, StageError, StageResult};
use ppmt_platform::worker::{Message, MessageHandler};

/// The syncer's ports.
pub struct Syncer {
    pub warehouse: Arc<dyn Warehouse>,
    pub prices: Arc<dyn PriceStore>,
    pub notifier: Arc<dyn Notifier>,
    pub ledger: Arc<dyn RunLedger>,
}

#[async_trait]
impl MessageHandler for Syncer {
    type Error = StageError;

    fn consumer(&self) -> &'static str {
        "syncer"
    }

    async fn handle(&self, message: &Message) -> Result<(), StageError> {
        let Some(event) = expect_stage_event(message, Stage::Transformed)? else {
            return Ok(());
        };
        let batch = event.batch();
        let work = async {
            let staged = self.warehouse.current_batch(&batch).await?;
            if staged.as_ref() != Some(&batch.batch_id) {
                let by = staged.map(|b| b.0).unwrap_or_else(|| "nothing".into());
                return Ok(StageResult::Skipped(format!("batch was replaced by {by} for {}", batch.batch_date)));
            }
            let current = self.warehouse.current_prices(&batch).await?;
            let written = self.prices.put_prices(&current).await?;
            let retired = self.warehouse.retired_keys(&batch).await?;
            let deleted = self.prices.delete_prices(&retired).await?;
            Ok(StageResult::Completed(StageCounts {
                items_written: Some(written),
                items_deleted: Some(deleted),
                ..StageCounts::default()
            }))
        };
        run_stage(&*self.ledger, &*self.notifier, &batch, Stage::Synced, &event.trace_id, work).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{NaiveDate, TimeZone, Utc};
    use ppmt_domain::record::PriceKind;
    use ppmt_domain::{BatchId, BatchRef, StageEvent};
    use ppmt_platform::ports::{CurrentPrice, PriceKey, PriceStore};
    use ppmt_platform::testing::{MemoryLedger, MemoryNotifier, MemoryPriceStore, MemoryWarehouse};
    use rust_decimal::Decimal;

    #[tokio::test]
    async fn writes_current_prices_and_announces_synced() {
        let batch = BatchRef {
            batch_id: BatchId("2026-11-25-b1".into()),
            batch_date: NaiveDate::from_ymd_opt(2026, 11, 25).unwrap(),
            bucket: "raw".into(),
            manifest_key: "raw/2026-11-25/manifest.json".into(),
        };
        let price = CurrentPrice {
            product_id: "p1".into(),
            source_id: "shop".into(),
            name: Some("Widget".into()),
            price: Decimal::new(1000, 2),
            price_kind: PriceKind::Exact,
            currency: "EUR".into(),
            price_usd: Decimal::new(1050, 2),
            market_price_usd: Decimal::new(1050, 2),
            market_sources: 1,
            price_date: batch.batch_date,
            observed_at: Utc.with_ymd_and_hms(2026, 11, 25, 2, 0, 0).unwrap(),
            fx_rate_date: batch.batch_date,
            batch_id: "2026-11-25-b1".into(),
        };
        let warehouse = Arc::new(MemoryWarehouse::default());
        warehouse.current.lock().unwrap().push(price.clone());
        let gone = PriceKey { product_id: "p9".into(), source_id: "shop".into() };
        warehouse.retired.lock().unwrap().push(gone.clone());
        let prices = Arc::new(MemoryPriceStore::default());
        prices.put_prices(&[CurrentPrice { product_id: "p9".into(), ..price.clone() }]).await.unwrap();
        let notifier = Arc::new(MemoryNotifier::default());
        let syncer = Syncer {
            warehouse,
            prices: prices.clone(),
            notifier: notifier.clone(),
            ledger: Arc::new(MemoryLedger::default()),
        };
        let event = StageEvent::new(&batch, Stage::Transformed, StageCounts::default(), "t".into());
        let body = ppmt_domain::s3_event::classify(&serde_json::to_string(&event).unwrap());
        syncer.handle(&Message { message_id: "m".into(), body, receive_count: 1 }).await.unwrap();
        assert_eq!(prices.items.lock().unwrap().get(&("p1".into(), "shop".into())), Some(&price));
        let events = notifier.events.lock().unwrap();
        assert_eq!(events[0].stage, Stage::Synced);
        assert_eq!(events[0].counts.items_written, Some(1));
        assert_eq!(events[0].counts.items_deleted, Some(1));
        assert!(!prices.items.lock().unwrap().contains_key(&("p9".into(), "shop".into())), "retired item removed");
    }

    #[tokio::test]
    async fn a_replaced_batch_is_skipped_and_writes_nothing() {
        let batch = BatchRef {
            batch_id: BatchId("2026-11-25-old".into()),
            batch_date: NaiveDate::from_ymd_opt(2026, 11, 25).unwrap(),
            bucket: "raw".into(),
            manifest_key: "raw/2026-11-25/manifest.json".into(),
        };
        let warehouse = Arc::new(MemoryWarehouse::default());
        *warehouse.current_batch.lock().unwrap() = Some(BatchId("2026-11-25-new".into()));
        let (prices, notifier, ledger) = (
            Arc::new(MemoryPriceStore::default()),
            Arc::new(MemoryNotifier::default()),
            Arc::new(MemoryLedger::default()),
        );
        let syncer = Syncer { warehouse, prices: prices.clone(), notifier: notifier.clone(), ledger: ledger.clone() };
        let event = StageEvent::new(&batch, Stage::Transformed, StageCounts::default(), "t".into());
        let body = ppmt_domain::s3_event::classify(&serde_json::to_string(&event).unwrap());
        syncer.handle(&Message { message_id: "m".into(), body, receive_count: 1 }).await.unwrap();
        assert!(prices.items.lock().unwrap().is_empty());
        assert!(notifier.events.lock().unwrap().is_empty());
        let run = ledger.run("2026-11-25-old", Stage::Synced).unwrap();
        assert_eq!(run.status, ppmt_platform::ports::RunStatus::Skipped);
        assert!(run.error.unwrap().contains("2026-11-25-new"));
    }
}
