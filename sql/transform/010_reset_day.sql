-- Replace, never append: a re-run or replay of a day removes what the day produced
-- before, so the outcome is the same however often it runs. Nothing is removed unless
-- this batch is still the day's staged batch (a newer load may have replaced it).
-- First the day's offer keys are remembered for the syncer. batch_keys accumulates over
-- the runs of the batch: a second run adds the keys it finds and keeps those an earlier
-- run recorded (the keys of the batch this one replaced), so no product of the replaced
-- batch is forgotten. Pinned rates (batch_fx) and product mappings are kept.
INSERT INTO batch_keys (batch_id, product_id, source_id)
SELECT :batch_id, u.product_id, u.source_id
FROM (
    SELECT f.product_id, f.source_id, 0 AS recorded
    FROM fact_offer_prices f
    WHERE f.price_date = CAST(:batch_date AS DATE)
      AND EXISTS (SELECT 1 FROM batches WHERE batch_id = :batch_id)
    UNION ALL
    SELECT k.product_id, k.source_id, 1
    FROM batch_keys k
    WHERE k.batch_id = :batch_id
) u
GROUP BY u.product_id, u.source_id
HAVING MAX(u.recorded) = 0;
DELETE FROM fact_offer_prices WHERE price_date = CAST(:batch_date AS DATE)
    AND EXISTS (SELECT 1 FROM batches WHERE batch_id = :batch_id);
DELETE FROM fact_product_prices WHERE price_date = CAST(:batch_date AS DATE)
    AND EXISTS (SELECT 1 FROM batches WHERE batch_id = :batch_id);
DELETE FROM quarantined_rows WHERE batch_date = CAST(:batch_date AS DATE)
    AND EXISTS (SELECT 1 FROM batches WHERE batch_id = :batch_id);
DELETE FROM duplicate_rows WHERE batch_date = CAST(:batch_date AS DATE)
    AND EXISTS (SELECT 1 FROM batches WHERE batch_id = :batch_id);
DELETE FROM source_day_stats WHERE price_date = CAST(:batch_date AS DATE)
    AND EXISTS (SELECT 1 FROM batches WHERE batch_id = :batch_id);
DELETE FROM offer_work WHERE batch_id = :batch_id
    AND EXISTS (SELECT 1 FROM batches WHERE batch_id = :batch_id);
DELETE FROM offer_checks WHERE batch_id = :batch_id
    AND EXISTS (SELECT 1 FROM batches WHERE batch_id = :batch_id);
DELETE FROM product_windows WHERE batch_id = :batch_id
    AND EXISTS (SELECT 1 FROM batches WHERE batch_id = :batch_id);
DELETE FROM category_work WHERE batch_id = :batch_id
    AND EXISTS (SELECT 1 FROM batches WHERE batch_id = :batch_id);
