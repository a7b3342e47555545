-- Replace, never append: a re-run or replay of a day removes what the day produced
-- before, so the outcome is the same however often it runs.
DELETE FROM fact_prices WHERE price_date = CAST(:batch_date AS DATE);
DELETE FROM quarantined_rows WHERE batch_date = CAST(:batch_date AS DATE);
DELETE FROM duplicate_rows WHERE batch_date = CAST(:batch_date AS DATE);
DELETE FROM batch_fx WHERE batch_id = :batch_id;
