-- Products whose app items go: products the batch's day listed before this batch's runs
-- (batch_keys) that have no product fact on any day any more. The version is the
-- greatest day and load_seq of the day batches that listed the product and no longer do
-- (this batch among them). Nothing is returned once the batch is no longer its day's
-- batch.
--
-- Columns: product_id, version_date, version_seq.
SELECT v.product_id, v.version_date, v.version_seq
FROM (
    SELECT k.product_id, b.batch_date AS version_date, b.load_seq AS version_seq,
           ROW_NUMBER() OVER (
               PARTITION BY k.product_id ORDER BY b.batch_date DESC, b.load_seq DESC
           ) AS pick
    FROM batch_keys k
    JOIN (SELECT DISTINCT product_id FROM batch_keys WHERE batch_id = :batch_id) p
      ON p.product_id = k.product_id
    JOIN batches b ON b.batch_id = k.batch_id
    WHERE NOT EXISTS (SELECT 1 FROM fact_product_prices f WHERE f.product_id = k.product_id)
) v
WHERE v.pick = 1
  AND EXISTS (SELECT 1 FROM batches WHERE batch_id = :batch_id)
ORDER BY v.product_id
