-- Offer items (product, source) the app must no longer show, at the product's version
-- (see sync_products.sql): the offer keys the batch's day listed before this batch's
-- runs (batch_keys), and the offers of the batch's products on their previous day
-- (the newest within the 30 days before the current day), that have no offer fact on
-- the product's current day (or whose product has no current day: no rows at all).
-- Nothing is returned once the batch is no longer its day's batch.
--
-- Columns: product_id, source_id, version_date, version_seq.
SELECT r.product_id, r.source_id, pv.version_date, pv.version_seq
FROM (
    SELECT product_id, source_id FROM batch_keys WHERE batch_id = :batch_id
    UNION
    SELECT o.product_id, o.source_id
    FROM (
        SELECT f.product_id, MAX(h.price_date) AS prev_date
        FROM (
            SELECT product_id FROM fact_product_prices
            WHERE price_date = CAST(:batch_date AS DATE) AND batch_id = :batch_id
            UNION
            SELECT product_id FROM batch_keys WHERE batch_id = :batch_id
        ) bp
        JOIN fact_product_prices f ON f.product_id = bp.product_id AND f.is_current
        JOIN fact_product_prices h
          ON h.product_id = f.product_id
         AND h.price_date BETWEEN f.price_date - 30 AND f.price_date - 1
        GROUP BY f.product_id
    ) pd
    JOIN fact_offer_prices o ON o.product_id = pd.product_id AND o.price_date = pd.prev_date
) r
LEFT JOIN fact_product_prices f ON f.product_id = r.product_id AND f.is_current
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
) pv ON pv.product_id = r.product_id
WHERE NOT EXISTS (
        SELECT 1 FROM fact_offer_prices o
        WHERE o.product_id = r.product_id AND o.source_id = r.source_id
          AND o.price_date = f.price_date
    )
  AND EXISTS (SELECT 1 FROM batches WHERE batch_id = :batch_id)
ORDER BY r.product_id, r.source_id
