-- The batch's work rows (offer_checks): one per offer, with everything the checks use
-- and the verdict, written once. Checked in this order, the first that applies is the
-- reason (NULL = the offer passes):
--   NO_FX_RATE     no rate pinned to the batch for the currency
--   ZERO_AFTER_FX  the USD price rounds to 0.00
--   SCALE_ERROR    the ratio to the same source's latest earlier price of the product
--                  (within 30 days) is in [80, 125] or [1/125, 1/80]
--   PRICE_BOUNDS   the USD price is outside the bounds of the product's category
--   OUTLIER_MAD    with >= 5 earlier days in the 30 before: |price - median| >
--                  5 * max(1.4826 * MAD, 0.10 * median) over the product's daily market
--                  prices
-- The last three are skipped for an offer an operator released for that day (any reason).
-- Among the passing offers of one product from one source (two SKUs of a shop matched
-- to one product), the lowest USD price is kept (then the smallest sku): offer_rank 1,
-- the others are duplicates of it (060).
--
-- One statement, one pass: the offers (o), the latest earlier fact of each of their
-- (product, source) pairs (F rows) and the 30 days before of their products' market
-- prices (P rows) are stacked and read with window functions, so no derived table is
-- ever joined to another (a plan cannot loop over one per row of the other). History
-- is read only for the batch's products and the 30 days before the batch date.
INSERT INTO offer_checks
    (batch_id, batch_date, source_id, source_sku, file_key, line_no, product_id, price,
     currency, usd_per_unit, fx_rate_date, fx_source, price_usd, regular_price_usd,
     offer_category, category_priority, category_kind, product_category, min_usd, max_usd,
     prev_price_usd, prev_price_date, hist_days, hist_median, hist_mad, released_scale,
     released_bounds, released_outlier, reason_code, detail, offer_rank, kept_file_key,
     kept_line_no)
SELECT :batch_id, CAST(:batch_date AS DATE), r.source_id, r.source_sku, r.file_key, r.line_no,
       r.product_id, r.price, r.currency, r.usd_per_unit, r.fx_rate_date, r.fx_source,
       r.price_usd, r.regular_price_usd, r.offer_category, r.category_priority,
       r.category_kind, r.product_category, r.min_usd, r.max_usd, r.prev_price_usd,
       r.prev_price_date, r.hist_days, r.hist_median, r.hist_mad, r.released_scale,
       r.released_bounds, r.released_outlier, r.reason_code,
       CASE r.reason_code
           WHEN 'NO_FX_RATE' THEN
               'no ' || r.currency || ' to USD rate in the 7 days up to ' || :batch_date
           WHEN 'ZERO_AFTER_FX' THEN
               CAST(r.price AS VARCHAR(40)) || ' ' || r.currency || ' is 0.00 USD'
           WHEN 'SCALE_ERROR' THEN
               CAST(r.price_usd AS VARCHAR(40)) || ' USD against '
               || CAST(r.prev_price_usd AS VARCHAR(40)) || ' USD from this source on '
               || CAST(r.prev_price_date AS VARCHAR(10))
           WHEN 'PRICE_BOUNDS' THEN
               CAST(r.price_usd AS VARCHAR(40)) || ' USD outside ' || CAST(r.min_usd AS VARCHAR(40))
               || '..' || CAST(r.max_usd AS VARCHAR(40)) || ' for ' || r.product_category
           WHEN 'OUTLIER_MAD' THEN
               CAST(r.price_usd AS VARCHAR(40)) || ' USD against a median of '
               || CAST(r.hist_median AS VARCHAR(40)) || ' (MAD ' || CAST(r.hist_mad AS VARCHAR(40))
               || ') over ' || CAST(r.hist_days AS VARCHAR(10)) || ' days'
       END,
       CASE WHEN r.reason_code IS NULL THEN r.offer_rank END,
       CASE WHEN r.reason_code IS NULL THEN r.kept_file_key END,
       CASE WHEN r.reason_code IS NULL THEN r.kept_line_no END
FROM (
    -- the kept offer among the passing offers of a product and source
    SELECT v.*,
           ROW_NUMBER() OVER (
               PARTITION BY v.product_id, v.source_id, v.passes ORDER BY v.price_usd, v.source_sku
           ) AS offer_rank,
           FIRST_VALUE(v.file_key) OVER (
               PARTITION BY v.product_id, v.source_id, v.passes ORDER BY v.price_usd, v.source_sku
               ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING
           ) AS kept_file_key,
           FIRST_VALUE(v.line_no) OVER (
               PARTITION BY v.product_id, v.source_id, v.passes ORDER BY v.price_usd, v.source_sku
               ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING
           ) AS kept_line_no
    FROM (
        SELECT c.*, CASE WHEN c.reason_code IS NULL THEN 1 ELSE 0 END AS passes
        FROM (
            -- the verdict
            SELECT h.*,
                   CASE
                       WHEN h.usd_per_unit IS NULL THEN 'NO_FX_RATE'
                       WHEN h.price_usd = 0 THEN 'ZERO_AFTER_FX'
                       WHEN NOT h.released_scale AND h.prev_price_usd > 0
                            AND (h.price_usd BETWEEN 80 * h.prev_price_usd AND 125 * h.prev_price_usd
                                 OR h.prev_price_usd BETWEEN 80 * h.price_usd AND 125 * h.price_usd)
                           THEN 'SCALE_ERROR'
                       WHEN NOT h.released_bounds AND h.min_usd IS NOT NULL
                            AND (h.price_usd < h.min_usd OR h.price_usd > h.max_usd)
                           THEN 'PRICE_BOUNDS'
                       WHEN NOT h.released_outlier AND h.hist_days >= 5
                            AND ABS(h.price_usd - h.hist_median)
                                > 5 * GREATEST(1.4826 * h.hist_mad, 0.10 * h.hist_median)
                           THEN 'OUTLIER_MAD'
                   END AS reason_code
            FROM (
                -- MAD: the median of the P rows' deviations; the offers are kept
                SELECT w4.source_id, w4.source_sku, w4.file_key, w4.line_no, w4.product_id,
                       w4.price, w4.currency, w4.usd_per_unit, w4.fx_rate_date, w4.fx_source,
                       w4.price_usd, w4.regular_price_usd, w4.offer_category,
                       w4.category_priority, w4.category_kind, w4.product_category,
                       w4.min_usd, w4.max_usd, w4.released_scale, w4.released_bounds,
                       w4.released_outlier, w4.prev_price_usd, w4.prev_price_date,
                       CAST(w4.days AS INTEGER) AS hist_days, w4.median AS hist_median,
                       w4.mad AS hist_mad, w4.kind
                FROM (
                    SELECT w3.*,
                           AVG(CASE WHEN w3.kind = 'P' AND w3.drn IN ((w3.days + 1) / 2, (w3.days + 2) / 2)
                                    THEN w3.deviation END)
                               OVER (PARTITION BY w3.product_id) AS mad
                    FROM (
                        SELECT w2.*,
                               ROW_NUMBER() OVER (
                                   PARTITION BY w2.product_id
                                   ORDER BY CASE WHEN w2.kind = 'P' THEN 0 ELSE 1 END, w2.deviation
                               ) AS drn
                        FROM (
                            SELECT w1.*,
                                   CASE WHEN w1.kind = 'P'
                                        THEN CAST(ABS(w1.hist_market - w1.median) AS NUMERIC(22,6))
                                   END AS deviation
                            FROM (
                                -- the median of the P rows
                                SELECT w0.*,
                                       AVG(CASE WHEN w0.kind = 'P' AND w0.mrn IN ((w0.days + 1) / 2, (w0.days + 2) / 2)
                                                THEN CAST(w0.hist_market AS NUMERIC(20,4)) END)
                                           OVER (PARTITION BY w0.product_id) AS median
                                FROM (
                                    -- the same source's latest earlier price; the P rows
                                    -- ranked by price and counted
                                    SELECT u.*,
                                           MAX(u.hist_price_usd) OVER (PARTITION BY u.product_id, u.source_id) AS prev_price_usd,
                                           MAX(u.hist_date) OVER (PARTITION BY u.product_id, u.source_id) AS prev_price_date,
                                           ROW_NUMBER() OVER (
                                               PARTITION BY u.product_id
                                               ORDER BY CASE WHEN u.kind = 'P' THEN 0 ELSE 1 END, u.hist_market
                                           ) AS mrn,
                                           SUM(CASE WHEN u.kind = 'P' THEN 1 ELSE 0 END)
                                               OVER (PARTITION BY u.product_id) AS days
                                    FROM (
                                        -- the offers
                                        SELECT 'O' AS kind, o.product_id, o.source_id, o.source_sku,
                                               o.file_key, o.line_no, o.price, o.currency,
                                               o.usd_per_unit, o.fx_rate_date, o.fx_source,
                                               o.price_usd, o.regular_price_usd, o.offer_category,
                                               o.category_priority, o.category_kind,
                                               o.product_category,
                                               CASE WHEN bo.category IS NOT NULL THEN bo.min_usd ELSE bs.min_usd END AS min_usd,
                                               CASE WHEN bo.category IS NOT NULL THEN bo.max_usd ELSE bs.max_usd END AS max_usd,
                                               rl.source_id IS NOT NULL AS released_scale,
                                               rl.source_id IS NOT NULL AS released_bounds,
                                               rl.source_id IS NOT NULL AS released_outlier,
                                               CAST(NULL AS DATE) AS hist_date,
                                               CAST(NULL AS NUMERIC(18,2)) AS hist_price_usd,
                                               CAST(NULL AS NUMERIC(18,2)) AS hist_market
                                        FROM (
                                            -- the product's category: the best over its offers
                                            SELECT r1.*,
                                                   FIRST_VALUE(COALESCE(r1.offer_category, 'uncategorized')) OVER (
                                                       PARTITION BY r1.product_id
                                                       ORDER BY COALESCE(r1.category_priority, 2147483647),
                                                                COALESCE(r1.category_kind, 9),
                                                                COALESCE(r1.offer_category, 'uncategorized')
                                                       ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING
                                                   ) AS product_category
                                            FROM (
                                                SELECT r0.*
                                                FROM (
                                                    -- each offer with its product, USD price
                                                    -- (half away from zero) and category rules
                                                    -- (source_path on the lower-cased path,
                                                    -- keyword on name_key), best first
                                                    SELECT s.source_id, s.source_sku, s.file_key, s.line_no,
                                                           po.product_id, s.price, s.currency,
                                                           f.usd_per_unit, f.rate_date AS fx_rate_date,
                                                           f.source AS fx_source,
                                                           ROUND(s.price * f.usd_per_unit, 2) AS price_usd,
                                                           ROUND(s.regular_price * f.usd_per_unit, 2) AS regular_price_usd,
                                                           cr.category AS offer_category,
                                                           cr.priority AS category_priority,
                                                           cr.kind AS category_kind,
                                                           ROW_NUMBER() OVER (
                                                               PARTITION BY s.source_id, s.source_sku
                                                               ORDER BY COALESCE(cr.priority, 2147483647),
                                                                        COALESCE(cr.kind, 9), cr.category
                                                           ) AS rule_rank
                                                    FROM staged_offers s
                                                    JOIN product_offers po
                                                      ON po.source_id = s.source_id AND po.source_sku = s.source_sku
                                                    LEFT JOIN batch_fx f
                                                      ON f.batch_id = s.batch_id AND f.currency = s.currency
                                                    LEFT JOIN (
                                                        SELECT rule_kind, pattern, category, priority,
                                                               CASE WHEN rule_kind = 'source_path' THEN 0 ELSE 1 END AS kind
                                                        FROM category_rules
                                                    ) cr
                                                      ON (cr.rule_kind = 'source_path' AND LOWER(s.category) LIKE cr.pattern)
                                                      OR (cr.rule_kind = 'keyword' AND s.name_key LIKE cr.pattern)
                                                    WHERE s.batch_id = :batch_id
                                                ) r0
                                                WHERE r0.rule_rank = 1
                                            ) r1
                                        ) o
                                        LEFT JOIN category_price_bounds bo
                                          ON bo.category = o.product_category AND bo.origin <> 'seed'
                                        LEFT JOIN category_price_bounds bs
                                          ON bs.category = o.product_category AND bs.origin = 'seed'
                                        -- a released offer skips every releasable check that day
                                        LEFT JOIN (
                                            SELECT DISTINCT source_id, source_sku
                                            FROM quarantine_releases
                                            WHERE price_date = CAST(:batch_date AS DATE)
                                        ) rl ON rl.source_id = o.source_id AND rl.source_sku = o.source_sku
                                        UNION ALL
                                        -- F: the latest earlier fact (30 days) of each (product, source)
                                        SELECT 'F', f.product_id, f.source_id, NULL, NULL, NULL, NULL, NULL,
                                               NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
                                               NULL, NULL, NULL, NULL, NULL, f.price_date, f.price_usd, NULL
                                        FROM (
                                            SELECT h.product_id, h.source_id, MAX(h.price_date) AS price_date
                                            FROM (
                                                SELECT DISTINCT po.product_id, s.source_id
                                                FROM staged_offers s
                                                JOIN product_offers po
                                                  ON po.source_id = s.source_id AND po.source_sku = s.source_sku
                                                WHERE s.batch_id = :batch_id
                                            ) k
                                            JOIN fact_offer_prices h
                                              ON h.product_id = k.product_id AND h.source_id = k.source_id
                                             AND h.price_date BETWEEN CAST(:batch_date AS DATE) - 30
                                                                  AND CAST(:batch_date AS DATE) - 1
                                            GROUP BY h.product_id, h.source_id
                                        ) l
                                        JOIN fact_offer_prices f
                                          ON f.product_id = l.product_id AND f.source_id = l.source_id
                                         AND f.price_date = l.price_date
                                        WHERE f.price_date BETWEEN CAST(:batch_date AS DATE) - 30
                                                               AND CAST(:batch_date AS DATE) - 1
                                        UNION ALL
                                        -- P: the products' market prices of the 30 days before
                                        SELECT 'P', f.product_id, NULL, NULL, NULL, NULL, NULL, NULL,
                                               NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
                                               NULL, NULL, NULL, NULL, NULL, NULL, NULL, f.market_price_usd
                                        FROM (
                                            SELECT DISTINCT po.product_id
                                            FROM staged_offers s
                                            JOIN product_offers po
                                              ON po.source_id = s.source_id AND po.source_sku = s.source_sku
                                            WHERE s.batch_id = :batch_id
                                        ) k
                                        JOIN fact_product_prices f
                                          ON f.product_id = k.product_id
                                         AND f.price_date BETWEEN CAST(:batch_date AS DATE) - 30
                                                              AND CAST(:batch_date AS DATE) - 1
                                    ) u
                                ) w0
                            ) w1
                        ) w2
                    ) w3
                ) w4
                WHERE w4.kind = 'O'
            ) h
        ) c
    ) v
) r;
