-- The app's offer items (OFFER#source) for the batch: the offer facts of the batch's
-- products (as in sync_products.sql) on each product's current day, at the product's
-- version (see sync_products.sql). Nothing is returned once the batch is no longer its
-- day's batch.
--
-- Columns: product_id, source_id, price, currency, price_usd, fx_rate, fx_rate_date,
-- fx_source, availability, url, observed_at, price_date, version_date, version_seq,
-- price_max, regular_price_usd.
SELECT v.product_id, v.source_id, v.price, v.currency, v.price_usd, v.fx_rate, v.fx_rate_date,
       v.fx_source, v.availability, v.url, v.observed_at, v.price_date, v.version_date,
       v.version_seq, v.price_max, v.regular_price_usd
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
        -- O: the product's offers on its current day, which carry that day's version
        SELECT 'O' AS kind, bp.product_id, o.source_id, o.price, o.currency, o.price_usd,
               o.fx_rate, o.fx_rate_date, o.fx_source, o.availability, o.url, o.observed_at,
               o.price_date, o.price_max, o.regular_price_usd,
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
        SELECT 'D', bp.product_id, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
               NULL, NULL, NULL,
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
WHERE v.kind = 'O' AND v.source_id IS NOT NULL
  AND EXISTS (SELECT 1 FROM batches WHERE batch_id = :batch_id)
ORDER BY v.product_id, v.source_id
