-- The app's product items (LATEST) for the batch: every product with a fact on the
-- batch's day from this batch, and every product the day listed before this batch's
-- runs replaced it (batch_keys), each with its current row, whatever day and batch it
-- comes from (a replay of an older day writes the newer figures again).
--
-- The version each item is written at (version_date, version_seq) is the greatest of:
-- the current row's day and the load_seq of its batch (0 if that batch was replaced),
-- and the day and load_seq of each day's batch that listed the product before and no
-- longer does. So a product this batch dropped is rewritten from its newest remaining
-- day at this batch's version, over the item the replaced batch wrote.
-- Nothing is returned once the batch is no longer its day's batch.
--
-- Columns: product_id, gtin14, name, brand, category, market_price_usd,
-- retail_price_usd, lowest_price_usd, sources, price_change_pct, trend, confidence,
-- availability_summary, price_date, batch_id, version_date, version_seq.
SELECT f.product_id, f.gtin14, f.name, f.brand, f.category, f.market_price_usd,
       f.retail_price_usd, f.lowest_price_usd, f.sources, f.price_change_pct, f.trend,
       f.confidence, f.availability_summary, f.price_date, f.batch_id,
       pv.version_date, pv.version_seq
FROM (
    SELECT product_id FROM fact_product_prices
    WHERE price_date = CAST(:batch_date AS DATE) AND batch_id = :batch_id
    UNION
    SELECT product_id FROM batch_keys WHERE batch_id = :batch_id
) bp
JOIN fact_product_prices f ON f.product_id = bp.product_id AND f.is_current
JOIN (
    SELECT v.product_id, v.version_date, v.version_seq
    FROM (
        SELECT u.product_id, u.version_date, u.version_seq,
               ROW_NUMBER() OVER (
                   PARTITION BY u.product_id ORDER BY u.version_date DESC, u.version_seq DESC
               ) AS pick
        FROM (
            SELECT c.product_id, c.price_date AS version_date,
                   COALESCE(cb.load_seq, 0) AS version_seq
            FROM fact_product_prices c
            JOIN (
                SELECT product_id FROM fact_product_prices
                WHERE price_date = CAST(:batch_date AS DATE) AND batch_id = :batch_id
                UNION
                SELECT product_id FROM batch_keys WHERE batch_id = :batch_id
            ) p ON p.product_id = c.product_id
            LEFT JOIN batches cb ON cb.batch_id = c.batch_id
            WHERE c.is_current
            UNION ALL
            SELECT k.product_id, b.batch_date, b.load_seq
            FROM batch_keys k
            JOIN (
                SELECT product_id FROM fact_product_prices
                WHERE price_date = CAST(:batch_date AS DATE) AND batch_id = :batch_id
                UNION
                SELECT product_id FROM batch_keys WHERE batch_id = :batch_id
            ) p ON p.product_id = k.product_id
            JOIN batches b ON b.batch_id = k.batch_id
            WHERE NOT EXISTS (
                SELECT 1 FROM fact_product_prices t
                WHERE t.product_id = k.product_id AND t.price_date = b.batch_date
            )
        ) u
    ) v
    WHERE v.pick = 1
) pv ON pv.product_id = f.product_id
WHERE EXISTS (SELECT 1 FROM batches WHERE batch_id = :batch_id)
ORDER BY f.product_id
