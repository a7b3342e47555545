-- History items (product, the batch's day) the app must delete: products the day
-- listed before this batch's runs (batch_keys) that no longer have a row that day, at
-- this batch's version. Nothing is returned once the batch is no longer its day's batch.
--
-- Columns: product_id, price_date, version_date, version_seq.
SELECT k.product_id, CAST(:batch_date AS DATE) AS price_date,
       b.batch_date AS version_date, b.load_seq AS version_seq
FROM (SELECT DISTINCT product_id FROM batch_keys WHERE batch_id = :batch_id) k
JOIN batches b ON b.batch_id = :batch_id
WHERE NOT EXISTS (
    SELECT 1 FROM fact_product_prices f
    WHERE f.product_id = k.product_id AND f.price_date = CAST(:batch_date AS DATE)
)
ORDER BY k.product_id
