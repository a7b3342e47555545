-- The app's offer items (OFFER#source) for the batch: the offer facts of the batch's
-- products (as in sync_products.sql) on each product's current day, at the product's
-- version (see sync_products.sql). Nothing is returned once the batch is no longer its
-- day's batch.
--
-- Columns: product_id, source_id, price, currency, price_usd, fx_rate, fx_rate_date,
-- fx_source, availability, url, observed_at, price_date, version_date, version_seq,
-- price_max, regular_price_usd.
SELECT o.product_id, o.source_id, o.price, o.currency, o.price_usd, o.fx_rate,
       o.fx_rate_date, o.fx_source, o.availability, o.url, o.observed_at, o.price_date,
       pv.version_date, pv.version_seq, o.price_max, o.regular_price_usd
FROM (
    SELECT product_id FROM fact_product_prices
    WHERE price_date = CAST(:batch_date AS DATE) AND batch_id = :batch_id
    UNION
    SELECT product_id FROM batch_keys WHERE batch_id = :batch_id
) bp
JOIN fact_product_prices f ON f.product_id = bp.product_id AND f.is_current
JOIN fact_offer_prices o ON o.product_id = f.product_id AND o.price_date = f.price_date
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
ORDER BY o.product_id, o.source_id
