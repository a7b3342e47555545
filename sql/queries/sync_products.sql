-- The app's product items (LATEST) for the batch: every product with a fact on the
-- batch's day from this batch, and every product the day listed before this batch's
-- runs replaced it (batch_keys), each with its current row, whatever day and batch that
-- comes from (a replay of an older day writes the newer figures again).
--
-- The version an item is written at (version_date, version_seq) is the greatest of: the
-- current row's day and the load_seq of its batch (0 once that batch was replaced), and
-- the day and load_seq of each day's current batch that listed the product before and
-- no longer does (D rows: batch_keys of a day after the product's current day). So a product this batch dropped is rewritten from its newest
-- remaining day at this batch's version, over the item the replaced batch wrote, and a
-- later replay of that older day is not refused as stale.
-- Nothing is returned once the batch is no longer its day's batch.
--
-- The batch's products are joined to other tables only as the preserved side of LEFT
-- JOINs, and the versions are spread with a window function (no derived table is joined
-- to another), so every plan probes indexes per product.
--
-- Columns: product_id, gtin14, name, brand, category, market_price_usd,
-- retail_price_usd, lowest_price_usd, sources, price_change_pct, trend, confidence,
-- availability_summary, price_date, batch_id, version_date, version_seq.
SELECT v.product_id, v.gtin14, v.name, v.brand, v.category, v.market_price_usd,
       v.retail_price_usd, v.lowest_price_usd, v.sources, v.price_change_pct, v.trend,
       v.confidence, v.availability_summary, v.price_date, v.batch_id, v.version_date,
       v.version_seq
FROM (
    SELECT u.*,
           FIRST_VALUE(u.row_version_date) OVER (
               PARTITION BY u.product_id
               ORDER BY CASE WHEN u.row_version_date IS NULL THEN 1 ELSE 0 END,
                        u.row_version_date DESC, u.row_version_seq DESC
               ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING
           ) AS version_date,
           FIRST_VALUE(u.row_version_seq) OVER (
               PARTITION BY u.product_id
               ORDER BY CASE WHEN u.row_version_date IS NULL THEN 1 ELSE 0 END,
                        u.row_version_date DESC, u.row_version_seq DESC
               ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING
           ) AS version_seq
    FROM (
        -- C: the product's current row, at its own day and load
        SELECT 'C' AS kind, bp.product_id, f.gtin14, f.name, f.brand, f.category,
               f.market_price_usd, f.retail_price_usd, f.lowest_price_usd, f.sources,
               f.price_change_pct, f.trend, f.confidence, f.availability_summary,
               f.price_date, f.batch_id,
               f.price_date AS row_version_date, COALESCE(cb.load_seq, 0) AS row_version_seq
        FROM (
            SELECT product_id FROM fact_product_prices
            WHERE price_date = CAST(:batch_date AS DATE) AND batch_id = :batch_id
            UNION
            SELECT product_id FROM batch_keys WHERE batch_id = :batch_id
        ) bp
        LEFT JOIN fact_product_prices f ON f.product_id = bp.product_id AND f.is_current
        LEFT JOIN batches cb ON cb.batch_id = f.batch_id
        UNION ALL
        -- D: each day's current batch that listed the product (batch_keys) on a day after
        -- its current day, so no longer lists it
        SELECT 'D', bp.product_id, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
               NULL, NULL, NULL, NULL,
               CASE WHEN b.batch_date > COALESCE(f.price_date, CAST('0001-01-01' AS DATE))
                    THEN b.batch_date END,
               CASE WHEN b.batch_date > COALESCE(f.price_date, CAST('0001-01-01' AS DATE))
                    THEN b.load_seq END
        FROM (
            SELECT product_id FROM fact_product_prices
            WHERE price_date = CAST(:batch_date AS DATE) AND batch_id = :batch_id
            UNION
            SELECT product_id FROM batch_keys WHERE batch_id = :batch_id
        ) bp
        LEFT JOIN fact_product_prices f ON f.product_id = bp.product_id AND f.is_current
        LEFT JOIN batch_keys k ON k.product_id = bp.product_id
        LEFT JOIN batches b ON b.batch_id = k.batch_id
    ) u
) v
WHERE v.kind = 'C' AND v.price_date IS NOT NULL
  AND EXISTS (SELECT 1 FROM batches WHERE batch_id = :batch_id)
ORDER BY v.product_id
