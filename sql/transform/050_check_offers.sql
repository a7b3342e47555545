-- Completes the batch's work rows with everything the checks need, then the verdict.
-- Checked in this order, the first that applies is the reason (NULL = the offer passes):
--   NO_FX_RATE     no rate pinned to the batch for the currency
--   ZERO_AFTER_FX  the USD price rounds to 0.00
--   SCALE_ERROR    the ratio to the same source's latest earlier price of the product
--                  (within 30 days) is in [80, 125] or [1/125, 1/80]
--   PRICE_BOUNDS   the USD price is outside the bounds of the product's category
--   OUTLIER_MAD    with >= 5 earlier days in the 30 before: |price - median| >
--                  5 * max(1.4826 * MAD, 0.10 * median) over the product's daily market
--                  prices
-- The last three are skipped for an offer an operator released for that day and reason.
-- History is read only for the batch's products and the 30 days before the batch date.
-- Each statement joins the work rows, by their key (batch, source, sku), to one derived
-- table, and derived tables join only base tables, so that no plan can loop over one
-- derived table per row of another.

-- The offer itself: its product (040), USD price (ROUND(price * usd_per_unit, 2), half
-- away from zero), best category rule (source_path rules match the lower-cased category
-- path, keyword rules the name_key, which is the name in lower case; the lowest
-- priority wins, then source_path before keyword, then the category name), its
-- product's category (the best over the
-- product's offers of the day; none: uncategorized) with that category's price bounds
-- (an operator's row wins over the seed's), and the operator's releases of the day.
UPDATE offer_checks
SET product_id = x.product_id,
    usd_per_unit = x.usd_per_unit,
    fx_rate_date = x.fx_rate_date,
    fx_source = x.fx_source,
    price_usd = x.price_usd,
    regular_price_usd = x.regular_price_usd,
    offer_category = x.offer_category,
    category_priority = x.category_priority,
    category_kind = x.category_kind,
    product_category = x.product_category,
    min_usd = x.min_usd,
    max_usd = x.max_usd,
    released_scale = x.released_scale,
    released_bounds = x.released_bounds,
    released_outlier = x.released_outlier
FROM (
    SELECT o.source_id, o.source_sku, o.product_id, o.usd_per_unit, o.fx_rate_date,
           o.fx_source, o.price_usd, o.regular_price_usd, o.offer_category,
           o.category_priority, o.category_kind, o.product_category, pb.min_usd, pb.max_usd,
           COALESCE(rl.scale > 0, FALSE) AS released_scale,
           COALESCE(rl.bounds > 0, FALSE) AS released_bounds,
           COALESCE(rl.outlier > 0, FALSE) AS released_outlier
    FROM (
        SELECT r.source_id, r.source_sku, r.product_id, r.usd_per_unit, r.fx_rate_date,
               r.fx_source, r.price_usd, r.regular_price_usd, r.offer_category,
               r.category_priority, r.category_kind,
               FIRST_VALUE(COALESCE(r.offer_category, 'uncategorized')) OVER (
                   PARTITION BY r.product_id
                   ORDER BY COALESCE(r.category_priority, 2147483647), COALESCE(r.category_kind, 9),
                            COALESCE(r.offer_category, 'uncategorized')
                   ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING
               ) AS product_category
        FROM (
            SELECT c.source_id, c.source_sku, po.product_id, f.usd_per_unit,
                   f.rate_date AS fx_rate_date, f.source AS fx_source,
                   ROUND(c.price * f.usd_per_unit, 2) AS price_usd,
                   ROUND(c.regular_price * f.usd_per_unit, 2) AS regular_price_usd,
                   cr.category AS offer_category, cr.priority AS category_priority,
                   cr.kind AS category_kind,
                   ROW_NUMBER() OVER (
                       PARTITION BY c.source_id, c.source_sku
                       ORDER BY COALESCE(cr.priority, 2147483647), COALESCE(cr.kind, 9), cr.category
                   ) AS rule_rank
            FROM offer_checks c
            JOIN product_offers po ON po.source_id = c.source_id AND po.source_sku = c.source_sku
            LEFT JOIN batch_fx f ON f.batch_id = c.batch_id AND f.currency = c.currency
            LEFT JOIN (
                SELECT rule_kind, pattern, category, priority,
                       CASE WHEN rule_kind = 'source_path' THEN 0 ELSE 1 END AS kind
                FROM category_rules
            ) cr
              ON (cr.rule_kind = 'source_path' AND c.source_category LIKE cr.pattern)
              OR (cr.rule_kind = 'keyword' AND c.name_key LIKE cr.pattern)
            WHERE c.batch_id = :batch_id
        ) r
        WHERE r.rule_rank = 1
    ) o
    LEFT JOIN (
        SELECT category, min_usd, max_usd,
               ROW_NUMBER() OVER (
                   PARTITION BY category
                   ORDER BY CASE WHEN origin = 'seed' THEN 1 ELSE 0 END, min_usd, max_usd
               ) AS pick
        FROM category_price_bounds
    ) pb ON pb.category = o.product_category AND pb.pick = 1
    LEFT JOIN (
        SELECT source_id, source_sku,
               SUM(CASE WHEN reason_code = 'SCALE_ERROR' THEN 1 ELSE 0 END) AS scale,
               SUM(CASE WHEN reason_code = 'PRICE_BOUNDS' THEN 1 ELSE 0 END) AS bounds,
               SUM(CASE WHEN reason_code = 'OUTLIER_MAD' THEN 1 ELSE 0 END) AS outlier
        FROM quarantine_releases
        WHERE price_date = CAST(:batch_date AS DATE)
        GROUP BY source_id, source_sku
    ) rl ON rl.source_id = o.source_id AND rl.source_sku = o.source_sku
) x
WHERE offer_checks.batch_id = :batch_id
  AND offer_checks.source_id = x.source_id AND offer_checks.source_sku = x.source_sku;

-- The same source's latest earlier USD price of the product, within the 30 days before.
-- History rows are put next to the offers and read with window functions, so every
-- work row is matched through its key alone.
UPDATE offer_checks
SET prev_price_usd = p.prev_price_usd, prev_price_date = p.prev_price_date
FROM (
    SELECT u.source_id, u.source_sku,
           FIRST_VALUE(u.hist_price_usd) OVER (
               PARTITION BY u.product_id, u.source_id
               ORDER BY CASE WHEN u.hist_date IS NULL THEN 1 ELSE 0 END, u.hist_date DESC
               ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING
           ) AS prev_price_usd,
           MAX(u.hist_date) OVER (PARTITION BY u.product_id, u.source_id) AS prev_price_date
    FROM (
        SELECT c.product_id, c.source_id, c.source_sku,
               CAST(NULL AS DATE) AS hist_date, CAST(NULL AS NUMERIC(18,2)) AS hist_price_usd
        FROM offer_checks c
        WHERE c.batch_id = :batch_id
        UNION ALL
        SELECT f.product_id, f.source_id, CAST(NULL AS VARCHAR(256)), f.price_date, f.price_usd
        FROM (
            SELECT DISTINCT product_id, source_id FROM offer_checks WHERE batch_id = :batch_id
        ) k
        JOIN fact_offer_prices f
          ON f.product_id = k.product_id AND f.source_id = k.source_id
         AND f.price_date BETWEEN CAST(:batch_date AS DATE) - 30 AND CAST(:batch_date AS DATE) - 1
    ) u
) p
WHERE offer_checks.batch_id = :batch_id
  AND offer_checks.source_id = p.source_id AND offer_checks.source_sku = p.source_sku
  AND p.prev_price_date IS NOT NULL;

-- The product's daily market prices of the 30 days before: how many days, their median
-- and their median absolute deviation (medians: the mean of the middle one or two),
-- likewise with the history rows next to the offers.
UPDATE offer_checks
SET hist_days = m.days, hist_median = m.median, hist_mad = m.mad
FROM (
    SELECT z.source_id, z.source_sku, z.days, z.median,
           AVG(CASE WHEN z.deviation IS NOT NULL AND z.drn IN ((z.days + 1) / 2, (z.days + 2) / 2)
                    THEN z.deviation END) OVER (PARTITION BY z.product_id) AS mad
    FROM (
        SELECT y.product_id, y.source_id, y.source_sku, y.days, y.median, y.deviation,
               ROW_NUMBER() OVER (
                   PARTITION BY y.product_id
                   ORDER BY CASE WHEN y.deviation IS NULL THEN 1 ELSE 0 END, y.deviation
               ) AS drn
        FROM (
            SELECT x.product_id, x.source_id, x.source_sku, x.days, x.median,
                   CAST(ABS(x.market_price_usd - x.median) AS NUMERIC(22,6)) AS deviation
            FROM (
                SELECT w.product_id, w.source_id, w.source_sku, w.market_price_usd, w.days,
                       AVG(CASE WHEN w.market_price_usd IS NOT NULL
                                 AND w.rn IN ((w.days + 1) / 2, (w.days + 2) / 2)
                                THEN CAST(w.market_price_usd AS NUMERIC(20,4)) END)
                           OVER (PARTITION BY w.product_id) AS median
                FROM (
                    SELECT u.product_id, u.source_id, u.source_sku, u.market_price_usd,
                           ROW_NUMBER() OVER (
                               PARTITION BY u.product_id
                               ORDER BY CASE WHEN u.market_price_usd IS NULL THEN 1 ELSE 0 END,
                                        u.market_price_usd
                           ) AS rn,
                           COUNT(u.market_price_usd) OVER (PARTITION BY u.product_id) AS days
                    FROM (
                        SELECT c.product_id, c.source_id, c.source_sku,
                               CAST(NULL AS NUMERIC(18,2)) AS market_price_usd
                        FROM offer_checks c
                        WHERE c.batch_id = :batch_id
                        UNION ALL
                        SELECT f.product_id, CAST(NULL AS VARCHAR(128)), CAST(NULL AS VARCHAR(256)),
                               f.market_price_usd
                        FROM (
                            SELECT DISTINCT product_id FROM offer_checks WHERE batch_id = :batch_id
                        ) k
                        JOIN fact_product_prices f
                          ON f.product_id = k.product_id
                         AND f.price_date BETWEEN CAST(:batch_date AS DATE) - 30 AND CAST(:batch_date AS DATE) - 1
                    ) u
                ) w
            ) x
        ) y
    ) z
    WHERE z.source_sku IS NOT NULL AND z.days > 0
) m
WHERE offer_checks.batch_id = :batch_id
  AND offer_checks.source_id = m.source_id AND offer_checks.source_sku = m.source_sku;

-- The verdict and its words, and, among the passing offers of one product from one
-- source (two SKUs of a shop matched to one product), the kept one: the lowest USD
-- price, then the smallest sku (offer_rank 1; the others are duplicates of it).
UPDATE offer_checks
SET reason_code = v.reason_code,
    detail = v.detail,
    offer_rank = v.offer_rank,
    kept_file_key = v.kept_file_key,
    kept_line_no = v.kept_line_no
FROM (
    SELECT w.source_id, w.source_sku, w.reason_code,
           CASE w.reason_code
               WHEN 'NO_FX_RATE' THEN
                   'no ' || w.currency || ' to USD rate in the 7 days up to '
                   || CAST(w.batch_date AS VARCHAR(10))
               WHEN 'ZERO_AFTER_FX' THEN
                   CAST(w.price AS VARCHAR(40)) || ' ' || w.currency || ' is 0.00 USD'
               WHEN 'SCALE_ERROR' THEN
                   CAST(w.price_usd AS VARCHAR(40)) || ' USD against '
                   || CAST(w.prev_price_usd AS VARCHAR(40)) || ' USD from this source on '
                   || CAST(w.prev_price_date AS VARCHAR(10))
               WHEN 'PRICE_BOUNDS' THEN
                   CAST(w.price_usd AS VARCHAR(40)) || ' USD outside '
                   || CAST(w.min_usd AS VARCHAR(40)) || '..' || CAST(w.max_usd AS VARCHAR(40))
                   || ' for ' || w.product_category
               WHEN 'OUTLIER_MAD' THEN
                   CAST(w.price_usd AS VARCHAR(40)) || ' USD against a median of '
                   || CAST(w.hist_median AS VARCHAR(40)) || ' (MAD '
                   || CAST(w.hist_mad AS VARCHAR(40)) || ') over '
                   || CAST(w.hist_days AS VARCHAR(10)) || ' days'
           END AS detail,
           CASE WHEN w.reason_code IS NULL THEN
               ROW_NUMBER() OVER (
                   PARTITION BY w.product_id, w.source_id, w.passes ORDER BY w.price_usd, w.source_sku
               )
           END AS offer_rank,
           CASE WHEN w.reason_code IS NULL THEN
               FIRST_VALUE(w.file_key) OVER (
                   PARTITION BY w.product_id, w.source_id, w.passes ORDER BY w.price_usd, w.source_sku
                   ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING
               )
           END AS kept_file_key,
           CASE WHEN w.reason_code IS NULL THEN
               FIRST_VALUE(w.line_no) OVER (
                   PARTITION BY w.product_id, w.source_id, w.passes ORDER BY w.price_usd, w.source_sku
                   ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING
               )
           END AS kept_line_no
    FROM (
        SELECT u.*, CASE WHEN u.reason_code IS NULL THEN 1 ELSE 0 END AS passes
        FROM (
            SELECT c.source_id, c.source_sku, c.product_id, c.file_key, c.line_no,
                   c.batch_date, c.currency, c.price, c.price_usd, c.prev_price_usd,
                   c.prev_price_date, c.min_usd, c.max_usd, c.product_category,
                   c.hist_median, c.hist_mad, c.hist_days,
                   CASE
                       WHEN c.usd_per_unit IS NULL THEN 'NO_FX_RATE'
                       WHEN c.price_usd = 0 THEN 'ZERO_AFTER_FX'
                       WHEN NOT c.released_scale AND c.prev_price_usd > 0
                            AND (c.price_usd BETWEEN 80 * c.prev_price_usd AND 125 * c.prev_price_usd
                                 OR c.prev_price_usd BETWEEN 80 * c.price_usd AND 125 * c.price_usd)
                           THEN 'SCALE_ERROR'
                       WHEN NOT c.released_bounds AND c.min_usd IS NOT NULL
                            AND (c.price_usd < c.min_usd OR c.price_usd > c.max_usd)
                           THEN 'PRICE_BOUNDS'
                       WHEN NOT c.released_outlier AND c.hist_days >= 5
                            AND ABS(c.price_usd - c.hist_median)
                                > 5 * GREATEST(1.4826 * c.hist_mad, 0.10 * c.hist_median)
                           THEN 'OUTLIER_MAD'
                   END AS reason_code
            FROM offer_checks c
            WHERE c.batch_id = :batch_id
        ) u
    ) w
) v
WHERE offer_checks.batch_id = :batch_id
  AND offer_checks.source_id = v.source_id AND offer_checks.source_sku = v.source_sku;
