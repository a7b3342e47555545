-- Products whose app items go: products the batch's day listed before this batch's runs
-- (batch_keys) that have no product fact on any day any more. The version is the
-- greatest day and load_seq of the day batches that listed the product (this batch among
-- them: none of them lists it any more), and its GTIN, whose pointer item goes too,
-- unless one of the batch's products (as in sync_products.sql) has that GTIN now: its
-- product item points the GTIN at itself (an override split a product, say). The syncer
-- streams the view a page at a time, so this is decided here and not by the pages.
-- Nothing is returned once the batch is no longer its day's batch.
--
-- Columns: product_id, gtin14, version_date, version_seq.
SELECT v.product_id, CASE WHEN held.gtin14 IS NULL THEN p.gtin14 END AS gtin14,
       v.version_date, v.version_seq
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
LEFT JOIN (
    SELECT DISTINCT f.gtin14
    FROM (
        SELECT product_id FROM fact_product_prices
        WHERE price_date = CAST(:batch_date AS DATE) AND batch_id = :batch_id
        UNION
        SELECT product_id FROM batch_keys WHERE batch_id = :batch_id
    ) bp
    JOIN fact_product_prices f ON f.product_id = bp.product_id AND f.is_current
    WHERE f.gtin14 IS NOT NULL
) held ON held.gtin14 = p.gtin14
WHERE v.pick = 1 AND v.version_date IS NOT NULL
  AND EXISTS (SELECT 1 FROM batches WHERE batch_id = :batch_id)
ORDER BY v.product_id
