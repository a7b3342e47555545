-- Products whose app items go: products the batch's day listed before this batch's runs
-- (batch_keys) that have no product fact on any day any more. The version is the
-- greatest day and load_seq of the day batches that listed the product (this batch among
-- them: none of them lists it any more), and its GTIN, whose pointer item goes too.
-- Nothing is returned once the batch is no longer its day's batch.
--
-- Columns: product_id, gtin14, version_date, version_seq.
SELECT v.product_id, p.gtin14, v.version_date, v.version_seq
FROM (
    SELECT g.product_id, b.batch_date AS version_date, b.load_seq AS version_seq,
           ROW_NUMBER() OVER (
               PARTITION BY g.product_id
               ORDER BY CASE WHEN b.batch_date IS NULL THEN 1 ELSE 0 END, b.batch_date DESC,
                        b.load_seq DESC
           ) AS pick
    FROM (
        SELECT DISTINCT product_id FROM batch_keys t
        WHERE t.batch_id = :batch_id
          AND NOT EXISTS (SELECT 1 FROM fact_product_prices f WHERE f.product_id = t.product_id)
    ) g
    LEFT JOIN batch_keys k ON k.product_id = g.product_id
    LEFT JOIN batches b ON b.batch_id = k.batch_id
) v
LEFT JOIN dim_products p ON p.product_id = v.product_id
WHERE v.pick = 1 AND v.version_date IS NOT NULL
  AND EXISTS (SELECT 1 FROM batches WHERE batch_id = :batch_id)
ORDER BY v.product_id
