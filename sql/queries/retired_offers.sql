-- Offer items (product, source) the app must no longer show, at the product's version
-- (see sync_products.sql): the offer keys the batch's day listed before this batch's
-- runs (batch_keys, K rows), and the offers of the batch's products on their previous
-- day (the newest within the 30 days before the current day, P rows), that have no
-- offer fact on the product's current day (A rows), or whose product has no current day
-- any more. Nothing is returned once the batch is no longer its day's batch.
--
-- As in sync_products.sql, the batch's products are joined to other tables only as the
-- preserved side of LEFT JOINs, and the rest is read with window functions.
--
-- Columns: product_id, source_id, version_date, version_seq.
SELECT DISTINCT v.product_id, v.source_id, v.version_date, v.version_seq
FROM (
    SELECT u.kind, u.product_id, u.source_id,
           MAX(CASE WHEN u.kind = 'A' THEN 1 ELSE 0 END)
               OVER (PARTITION BY u.product_id, u.source_id) AS listed_now,
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
        -- A: the offers of the product's current day, which carry that day's version
        SELECT 'A' AS kind, bp.product_id, o.source_id,
               f.price_date AS row_version_date, COALESCE(cb.load_seq, 0) AS row_version_seq
        FROM (
            SELECT product_id FROM fact_product_prices
            WHERE price_date = CAST(:batch_date AS DATE) AND batch_id = :batch_id
            UNION
            SELECT product_id FROM batch_keys WHERE batch_id = :batch_id
        ) bp
        LEFT JOIN fact_product_prices f ON f.product_id = bp.product_id AND f.is_current
        LEFT JOIN batches cb ON cb.batch_id = f.batch_id
        LEFT JOIN fact_offer_prices o ON o.product_id = f.product_id AND o.price_date = f.price_date
        UNION ALL
        -- D: each day's current batch that listed the product (batch_keys) on a day after
        -- its current day, so no longer lists it
        SELECT 'D', bp.product_id, NULL,
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
        UNION ALL
        -- K: the keys the day listed before this batch's runs
        SELECT 'K', product_id, source_id, NULL, NULL
        FROM batch_keys
        WHERE batch_id = :batch_id
        UNION ALL
        -- P: the offers of the product's previous day
        SELECT 'P', pd.product_id, o.source_id, NULL, NULL
        FROM (
            SELECT f.product_id, MAX(h.price_date) AS prev_date
            FROM (
                SELECT product_id FROM fact_product_prices
                WHERE price_date = CAST(:batch_date AS DATE) AND batch_id = :batch_id
                UNION
                SELECT product_id FROM batch_keys WHERE batch_id = :batch_id
            ) bp
            LEFT JOIN fact_product_prices f ON f.product_id = bp.product_id AND f.is_current
            LEFT JOIN fact_product_prices h
              ON h.product_id = f.product_id
             AND h.price_date BETWEEN f.price_date - 30 AND f.price_date - 1
            GROUP BY f.product_id
        ) pd
        LEFT JOIN fact_offer_prices o ON o.product_id = pd.product_id AND o.price_date = pd.prev_date
    ) u
) v
WHERE v.kind IN ('K', 'P') AND v.source_id IS NOT NULL AND v.listed_now = 0
  AND EXISTS (SELECT 1 FROM batches WHERE batch_id = :batch_id)
ORDER BY v.product_id, v.source_id
