-- Replace, never append: a re-run or replay of a day removes what the day produced
-- before, so the outcome is the same however often it runs. Nothing is removed unless
-- this batch is still the day's staged batch (a newer load may have replaced it).
-- The day's keys are remembered first, for the syncer.
DELETE FROM batch_keys WHERE batch_id = :batch_id;
INSERT INTO batch_keys (batch_id, product_id, source_id)
SELECT DISTINCT :batch_id, product_id, source_id FROM fact_prices
WHERE price_date = CAST(:batch_date AS DATE)
  AND EXISTS (SELECT 1 FROM batches WHERE batch_id = :batch_id);
DELETE FROM fact_prices WHERE price_date = CAST(:batch_date AS DATE)
    AND EXISTS (SELECT 1 FROM batches WHERE batch_id = :batch_id);
DELETE FROM quarantined_rows WHERE batch_date = CAST(:batch_date AS DATE)
    AND EXISTS (SELECT 1 FROM batches WHERE batch_id = :batch_id);
DELETE FROM duplicate_rows WHERE batch_date = CAST(:batch_date AS DATE)
    AND EXISTS (SELECT 1 FROM batches WHERE batch_id = :batch_id);
DELETE FROM batch_fx WHERE batch_id = :batch_id;
