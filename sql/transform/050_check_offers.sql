-- The batch's work rows (offer_checks): one per offer, with everything the checks use
-- and the verdict, written once. Checked in this order, the first that applies is the
-- reason (NULL = the offer passes):
--   NO_FX_RATE     no rate pinned to the batch for the currency
--   OVERFLOW_AFTER_FX  the USD price is 10^15 or more (more than its column holds, and
--                  no real price): price_usd is left NULL instead of failing the day
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
-- First the best category rule of each (category, name_key) of the batch (category_work),
-- once per key rather than per offer: source_path rules on the lower-cased path, keyword
-- rules on name_key; the best first; none: the 'uncategorized' row. Each carries the
-- bounds of its category (an operator's row wins over the seed's).
INSERT INTO category_work
    (batch_id, category_key, no_category, name_key, no_name, rule_category, priority, kind,
     min_usd, max_usd)
SELECT :batch_id, b.category_key, b.no_category, b.name_key, b.no_name, b.rule_category,
       b.priority, b.kind, b.min_usd, b.max_usd
FROM (
    SELECT COALESCE(k.category, '') AS category_key, k.category IS NULL AS no_category,
           COALESCE(k.name_key, '') AS name_key, k.name_key IS NULL AS no_name,
           r.category AS rule_category, r.priority, r.kind, r.min_usd, r.max_usd,
           ROW_NUMBER() OVER (
               PARTITION BY k.category, k.name_key
               ORDER BY COALESCE(r.priority, 2147483647), COALESCE(r.kind, 9), r.category
           ) AS rule_rank
    FROM (
        -- (the path lower-cased once per key, not once per key and rule)
        SELECT w.category, LOWER(w.category) AS path, w.name_key
        FROM offer_work w
        WHERE w.batch_id = :batch_id
        GROUP BY w.category, w.name_key
    ) k
    LEFT JOIN (
        SELECT c.rule_kind, c.pattern, c.category, c.priority,
               CASE WHEN c.rule_kind = 'source_path' THEN 0 ELSE 1 END AS kind,
               CASE WHEN bo.category IS NOT NULL THEN bo.min_usd ELSE bs.min_usd END AS min_usd,
               CASE WHEN bo.category IS NOT NULL THEN bo.max_usd ELSE bs.max_usd END AS max_usd
        FROM category_rules c
        LEFT JOIN category_price_bounds bo ON bo.category = c.category AND bo.origin <> 'seed'
        LEFT JOIN category_price_bounds bs ON bs.category = c.category AND bs.origin = 'seed'
        UNION ALL
        SELECT 'none', CAST(NULL AS VARCHAR(256)), CAST(NULL AS VARCHAR(64)),
               CAST(NULL AS INTEGER), CAST(NULL AS INTEGER),
               CASE WHEN bo.category IS NOT NULL THEN bo.min_usd ELSE bs.min_usd END,
               CASE WHEN bo.category IS NOT NULL THEN bo.max_usd ELSE bs.max_usd END
        FROM (SELECT 'uncategorized' AS category) n
        LEFT JOIN category_price_bounds bo ON bo.category = n.category AND bo.origin <> 'seed'
        LEFT JOIN category_price_bounds bs ON bs.category = n.category AND bs.origin = 'seed'
    ) r
      ON (r.rule_kind = 'source_path' AND k.path LIKE r.pattern)
      OR (r.rule_kind = 'keyword' AND k.name_key LIKE r.pattern)
      OR r.rule_kind = 'none'
) b
WHERE b.rule_rank = 1;

-- Then the history of the batch's products, read once (product_windows): per product,
-- how many days it has in the 30 before the batch date and the lowest and highest of
-- their market prices; for 090, its latest earlier day and that day's market price (the
-- greatest of date || price as text: the date, as YYYY-MM-DD whatever the session's
-- DateStyle, is fixed-width and first), and the sum, count, min and max of its market
-- prices of the 6 and of the 29 days before. One aggregation by product, without a sort.
-- A product without a day in the 30 has no row (its figures are 0 days and NULL, as
-- without one; on a first day that is every product). History is read only for the
-- batch's products and the 30 days before the batch date, and only as the optional side
-- of a LEFT JOIN, so that a nested loop can only probe its indexes.
INSERT INTO product_windows
    (batch_id, product_id, hist_days, hist_median, hist_mad, min_30, max_30, prev_date,
     prev_market, sum_6, n_6, min_6, max_6, sum_29, n_29, min_29, max_29)
SELECT :batch_id, k.product_id, CAST(COUNT(h.market_price_usd) AS INTEGER),
       CAST(NULL AS NUMERIC(20,4)), CAST(NULL AS NUMERIC(22,6)),
       MIN(h.market_price_usd), MAX(h.market_price_usd),
       MAX(h.price_date),
       CAST(SUBSTRING(MAX(TO_CHAR(h.price_date, 'YYYY-MM-DD')
                          || CAST(h.market_price_usd AS VARCHAR(40))), 11, 40) AS NUMERIC(18,2)),
       SUM(CASE WHEN h.price_date >= CAST(:batch_date AS DATE) - 6 THEN h.market_price_usd END),
       SUM(CASE WHEN h.price_date >= CAST(:batch_date AS DATE) - 6 THEN 1 ELSE 0 END),
       MIN(CASE WHEN h.price_date >= CAST(:batch_date AS DATE) - 6 THEN h.market_price_usd END),
       MAX(CASE WHEN h.price_date >= CAST(:batch_date AS DATE) - 6 THEN h.market_price_usd END),
       SUM(CASE WHEN h.price_date >= CAST(:batch_date AS DATE) - 29 THEN h.market_price_usd END),
       SUM(CASE WHEN h.price_date >= CAST(:batch_date AS DATE) - 29 THEN 1 ELSE 0 END),
       MIN(CASE WHEN h.price_date >= CAST(:batch_date AS DATE) - 29 THEN h.market_price_usd END),
       MAX(CASE WHEN h.price_date >= CAST(:batch_date AS DATE) - 29 THEN h.market_price_usd END)
FROM (
    SELECT DISTINCT s.product_id
    FROM offer_work s
    WHERE s.batch_id = :batch_id
) k
LEFT JOIN fact_product_prices h
  ON h.product_id = k.product_id
 AND h.price_date BETWEEN CAST(:batch_date AS DATE) - 30
                      AND CAST(:batch_date AS DATE) - 1
-- (COALESCE keeps the join a LEFT JOIN)
WHERE COALESCE(h.price_date, CAST(:batch_date AS DATE)) < CAST(:batch_date AS DATE)
GROUP BY k.product_id;

-- Then the median of those market prices (the mean of the middle one or two) and their
-- median absolute deviation (MAD), only where they can decide something. OUTLIER_MAD
-- needs an offer more than 5 * 0.10 = 50 % away from the median, whatever the MAD, and
-- the median lies between the lowest and the highest of the prices: so only a product
-- with >= 5 days and an offer above 1.5 times its lowest or below 0.5 times its highest
-- can have an outlier (compared in unrounded USD, with the half cent the rounding can
-- move an offer by), a few on a usual day. Only those are read again and sorted; the
-- others keep a NULL median and MAD, which no check reads.
UPDATE product_windows
SET hist_median = m.median, hist_mad = m.mad
FROM (
    SELECT d.product_id, MAX(d.median) AS median,
           CAST(AVG(CASE WHEN d.drn IN ((d.n + 1) / 2, (d.n + 2) / 2) THEN d.deviation END)
                AS NUMERIC(22,6)) AS mad
    FROM (
        -- 3. each price's deviation from the median, ranked
        SELECT e.product_id, e.n, e.median, e.deviation,
               ROW_NUMBER() OVER (PARTITION BY e.product_id ORDER BY e.deviation) AS drn
        FROM (
            -- 2. the median
            SELECT r.product_id, r.n, r.median,
                   CAST(ABS(r.market_price_usd - r.median) AS NUMERIC(22,6)) AS deviation
            FROM (
                SELECT q.product_id, q.n, q.market_price_usd,
                       CAST(AVG(CASE WHEN q.rn IN ((q.n + 1) / 2, (q.n + 2) / 2)
                                     THEN CAST(q.market_price_usd AS NUMERIC(20,4)) END)
                                OVER (PARTITION BY q.product_id) AS NUMERIC(20,4)) AS median
                FROM (
                    -- 1. the prices ranked
                    SELECT f.product_id, f.n, h.market_price_usd,
                           ROW_NUMBER() OVER (
                               PARTITION BY f.product_id ORDER BY h.market_price_usd
                           ) AS rn
                    FROM (
                        -- the products to read: the day's offers in USD and the product's
                        -- row of product_windows, stacked and grouped (no join, whatever
                        -- the estimates)
                        SELECT u.product_id, MAX(u.n) AS n
                        FROM (
                            SELECT s.product_id, CAST(NULL AS INTEGER) AS n,
                                   CAST(NULL AS NUMERIC(18,2)) AS min_30,
                                   CAST(NULL AS NUMERIC(18,2)) AS max_30,
                                   s.price * x.usd_per_unit AS usd
                            FROM offer_work s
                            JOIN batch_fx x ON x.batch_id = s.batch_id AND x.currency = s.currency
                            WHERE s.batch_id = :batch_id
                            UNION ALL
                            SELECT p.product_id, p.hist_days, p.min_30, p.max_30, NULL
                            FROM product_windows p
                            WHERE p.batch_id = :batch_id
                        ) u
                        GROUP BY u.product_id
                        HAVING MAX(u.n) >= 5
                           AND (MAX(u.usd) > 1.5 * MAX(u.min_30) - 0.005
                                OR MIN(u.usd) < 0.5 * MAX(u.max_30) + 0.005)
                    ) f
                    JOIN fact_product_prices h
                      ON h.product_id = f.product_id
                     AND h.price_date BETWEEN CAST(:batch_date AS DATE) - 30
                                          AND CAST(:batch_date AS DATE) - 1
                ) q
            ) r
        ) e
    ) d
    GROUP BY d.product_id
) m
WHERE product_windows.batch_id = :batch_id AND product_windows.product_id = m.product_id;

-- Then the checks, in one statement numbered from the inside out: the offers (O rows),
-- the latest earlier fact of each of their (product, source) pairs (F rows) and the
-- product's history (H rows, from product_windows) are stacked and spread onto the
-- offers with window functions, so no derived table is ever joined to another (no plan
-- can loop over one per row of the other), and the offers are sorted by product once.
INSERT INTO offer_checks
    (batch_id, batch_date, source_id, source_sku, file_key, line_no, product_id, name, brand,
     source_category, price, price_kind, price_max, regular_price, currency, availability,
     url, observed_at, usd_per_unit, fx_rate_date, fx_source, price_usd, regular_price_usd,
     offer_category, category_priority, category_kind, product_category, min_usd, max_usd,
     prev_price_usd, prev_price_date, hist_days, hist_median, hist_mad, released_scale,
     released_bounds, released_outlier, reason_code, detail, offer_rank, kept_file_key,
     kept_line_no)
SELECT :batch_id, CAST(:batch_date AS DATE), r.source_id, r.source_sku, r.file_key, r.line_no,
       r.product_id, r.name, r.brand, r.source_category, r.price, r.price_kind, r.price_max,
       r.regular_price, r.currency, r.availability, r.url, r.observed_at, r.usd_per_unit,
       r.fx_rate_date, r.fx_source, r.price_usd, r.regular_price_usd, r.offer_category,
       r.category_priority, r.category_kind, r.product_category, r.min_usd, r.max_usd,
       r.prev_price_usd, r.prev_price_date, r.hist_days, r.hist_median, r.hist_mad,
       r.released_scale, r.released_bounds, r.released_outlier, r.reason_code,
       CASE r.reason_code
           WHEN 'NO_FX_RATE' THEN
               'no ' || r.currency || ' to USD rate in the 7 days up to ' || :batch_date
           WHEN 'OVERFLOW_AFTER_FX' THEN
               CAST(r.price AS VARCHAR(40)) || ' ' || r.currency || ' at '
               || CAST(r.usd_per_unit AS VARCHAR(40)) || ' USD each is 10^15 USD or more'
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
  -- 5. the kept offer among the passing offers of a product and source
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
      -- 4. the verdict
      SELECT h.*,
             CASE
                 WHEN h.usd_per_unit IS NULL THEN 'NO_FX_RATE'
                 WHEN h.price_usd IS NULL THEN 'OVERFLOW_AFTER_FX'
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
        SELECT w.product_id, w.source_id, w.source_sku, w.file_key, w.line_no, w.name, w.brand,
               w.source_category, w.price, w.price_kind, w.price_max, w.regular_price,
               w.currency, w.availability, w.url, w.observed_at, w.usd_per_unit,
               w.fx_rate_date, w.fx_source, w.price_usd, w.regular_price_usd, w.offer_category,
               w.category_priority, w.category_kind,
               CAST(SUBSTRING(w.product_key, 12, 64) AS VARCHAR(64)) AS product_category,
               w.min_usd, w.max_usd, w.released_scale, w.released_bounds, w.released_outlier, w.prev_price_usd,
               w.prev_price_date, CAST(COALESCE(w.hist_days, 0) AS INTEGER) AS hist_days,
               CAST(w.hist_median AS NUMERIC(20,4)) AS hist_median,
               CAST(w.hist_mad AS NUMERIC(22,6)) AS hist_mad
        FROM (
          -- 3b. the bounds of the product's category, from an offer of that category
          -- (each offer carries the bounds of its own)
          SELECT x.*,
                 MAX(CASE WHEN x.category_key = x.product_key THEN x.category_min_usd END)
                     OVER (PARTITION BY x.product_id) AS min_usd,
                 MAX(CASE WHEN x.category_key = x.product_key THEN x.category_max_usd END)
                     OVER (PARTITION BY x.product_id) AS max_usd
          FROM (
          -- 3. spread onto the offers: the product's category, the best over its offers
          -- of the day (the smallest category_key: the rule's priority, then its kind,
          -- then the category, as text that sorts in that order, so one MIN over the
          -- product finds it without a sort of its own); the F row of each offer's
          -- (product, source); the H row of its product
          SELECT u.*,
                 MIN(u.category_key) OVER (PARTITION BY u.product_id) AS product_key,
                 MAX(u.f_price_usd) OVER (PARTITION BY u.product_id, u.source_id) AS prev_price_usd,
                 MAX(u.f_date) OVER (PARTITION BY u.product_id, u.source_id) AS prev_price_date,
                 MAX(u.h_days) OVER (PARTITION BY u.product_id) AS hist_days,
                 MAX(u.h_median) OVER (PARTITION BY u.product_id) AS hist_median,
                 MAX(u.h_mad) OVER (PARTITION BY u.product_id) AS hist_mad
          FROM (
            -- 2. O rows: the offers, with their releases, ...
            SELECT 'O' AS kind, o.product_id, o.source_id, o.source_sku, o.file_key,
                   o.line_no, o.name, o.brand, o.source_category, o.price, o.price_kind,
                   o.price_max, o.regular_price, o.currency, o.availability, o.url,
                   o.observed_at, o.usd_per_unit, o.fx_rate_date, o.fx_source,
                   o.price_usd, o.regular_price_usd, o.offer_category,
                   o.category_priority, o.category_kind, o.category_min_usd, o.category_max_usd,
                   -- category_key: priority + 2^31 in 10 digits, the rule kind, the category
                   LPAD(CAST(CAST(COALESCE(o.category_priority, 2147483647) AS BIGINT) + 2147483648
                             AS VARCHAR(10)), 10, '0')
                   || CAST(COALESCE(o.category_kind, 9) AS VARCHAR(1))
                   || COALESCE(o.offer_category, 'uncategorized') AS category_key,
                   rl.source_id IS NOT NULL AS released_scale,
                   rl.source_id IS NOT NULL AS released_bounds,
                   rl.source_id IS NOT NULL AS released_outlier,
                   CAST(NULL AS DATE) AS f_date, CAST(NULL AS NUMERIC(18,2)) AS f_price_usd,
                   CAST(NULL AS INTEGER) AS h_days, CAST(NULL AS NUMERIC(20,4)) AS h_median,
                   CAST(NULL AS NUMERIC(22,6)) AS h_mad
            FROM (
              -- 1. each offer with its product (040 to 048), its USD price (half away from
              -- zero) and the category rule of its (category, name_key) (category_work)
              SELECT s.source_id, s.source_sku, s.file_key, s.line_no, s.product_id,
                     s.name, s.brand, s.category AS source_category, s.price,
                     s.price_kind, s.price_max, s.regular_price, s.currency,
                     s.availability, s.url, s.observed_at, f.usd_per_unit,
                     f.rate_date AS fx_rate_date, f.source AS fx_source,
                     CASE WHEN s.price * f.usd_per_unit < 1000000000000000
                          THEN ROUND(s.price * f.usd_per_unit, 2) END AS price_usd,
                     CASE WHEN s.regular_price * f.usd_per_unit < 1000000000000000
                          THEN ROUND(s.regular_price * f.usd_per_unit, 2) END AS regular_price_usd,
                     cr.rule_category AS offer_category, cr.priority AS category_priority,
                     cr.kind AS category_kind, cr.min_usd AS category_min_usd,
                     cr.max_usd AS category_max_usd
              FROM offer_work s
              LEFT JOIN batch_fx f ON f.batch_id = s.batch_id AND f.currency = s.currency
              LEFT JOIN category_work cr
                ON cr.batch_id = s.batch_id
               AND cr.category_key = COALESCE(s.category, '') AND cr.no_category = (s.category IS NULL)
               AND cr.name_key = COALESCE(s.name_key, '') AND cr.no_name = (s.name_key IS NULL)
              WHERE s.batch_id = :batch_id
            ) o
            -- a released offer skips every releasable check that day
            LEFT JOIN (
                SELECT DISTINCT source_id, source_sku
                FROM quarantine_releases
                WHERE price_date = CAST(:batch_date AS DATE)
            ) rl ON rl.source_id = o.source_id AND rl.source_sku = o.source_sku
            UNION ALL
            -- ... F rows: the latest earlier fact (30 days) of each (product, source) pair
            -- of the batch: the day before's, which most pairs have, or else the newest
            -- of the 29 days before that (so a calm day reads one day of facts, not 30);
            -- a pair of two SKUs has the day before's row twice, which the MAX that
            -- spreads it does not mind, ...
            SELECT 'F', y.product_id, y.source_id,
                   NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
                   NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
                   NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
                   y.price_date, y.price_usd, NULL, NULL, NULL
            FROM (
                SELECT k.product_id, k.source_id, d1.price_date, d1.price_usd, 1 AS newest
                FROM offer_work k
                JOIN fact_offer_prices d1
                  ON d1.product_id = k.product_id AND d1.source_id = k.source_id
                 AND d1.price_date = CAST(:batch_date AS DATE) - 1
                WHERE k.batch_id = :batch_id
                UNION ALL
                SELECT m.product_id, m.source_id, h.price_date, h.price_usd,
                       ROW_NUMBER() OVER (
                           PARTITION BY m.product_id, m.source_id ORDER BY h.price_date DESC
                       ) AS newest
                FROM (
                    SELECT k.product_id, k.source_id
                    FROM offer_work k
                    LEFT JOIN fact_offer_prices d1
                      ON d1.product_id = k.product_id AND d1.source_id = k.source_id
                     AND d1.price_date = CAST(:batch_date AS DATE) - 1
                    -- (not grouped: a pair of two SKUs reads its window twice, and the
                    -- ranking keeps one newest row; a first day's million pairs, none with
                    -- a fact, would cost more to group than to probe)
                    WHERE k.batch_id = :batch_id AND d1.product_id IS NULL
                ) m
                LEFT JOIN fact_offer_prices h
                  ON h.product_id = m.product_id AND h.source_id = m.source_id
                 AND h.price_date BETWEEN CAST(:batch_date AS DATE) - 30
                                      AND CAST(:batch_date AS DATE) - 2
                -- (a pair without an earlier fact needs no row, nor a place in the ranking:
                -- on a first day that is every pair; COALESCE keeps the join a LEFT JOIN)
                WHERE COALESCE(h.price_date, CAST(:batch_date AS DATE)) < CAST(:batch_date AS DATE)
            ) y
            WHERE y.newest = 1
            UNION ALL
            -- ... and H rows: the product's history, from product_windows (a product
            -- without one has none)
            SELECT 'H', p.product_id,
                   NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
                   NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
                   NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
                   NULL, p.hist_days, p.hist_median, p.hist_mad
            FROM product_windows p
            WHERE p.batch_id = :batch_id
          ) u
          ) x
        ) w
        WHERE w.kind = 'O'
      ) h
    ) c
  ) v
) r;
