-- The day's product facts: one row per product with an offer fact that day, over its
-- offers (at most one per source), read from the work rows that 070 made facts. Money
-- is rounded to cents half away from zero; means are taken at a wide scale first, so
-- PostgreSQL and Redshift (whose AVG keeps the argument's scale) round the same value.
--   market_price_usd  the median offer (the mean of the two middle ones for an even count)
--   retail_price_usd  the highest regular price in USD where a source gives one, else the
--                     highest offer
--   dispersion        (highest - lowest) / market price, 4 places
--   prev_price_date, price_change_pct  the product's latest earlier day within 30 days,
--                     and (today - then) / then * 100, 2 places
--   trend             today against the mean market price of the 6 days before: rising
--                     at >= +2 %, falling at <= -2 %, else stable (compared without
--                     division: today * n >= 1.02 * sum); NULL without such a day
--   avg/min/max_7d, avg/min/max_30d  over the market prices of the 7 and 30 days ending
--                     on the day (today included)
--   category          the best category rule over its offers (none: uncategorized), and
--                     category_avg_usd the mean market price of the category that day
--   confidence        0.35 A + 0.25 D + 0.15 F + 0.25 T, 3 places: A = min(1, offers
--                     within 5 % of the market price / 3); D = max(0, 1 - dispersion / 0.5);
--                     F = 1 if the newest observation is on or after the day's 00:00 UTC,
--                     0.5 if within the day before, else 0; T = the mean over the
--                     product's sources of (staged - quarantined) / (staged + rejected)
--                     over the 30 days up to the day (1 - the bad share)
--   is_current        unless the product has a current row on a later day (N rows: the
--                     day is a replay of an older one); 100 retires the row that was
--                     current before
-- As in 050, the day's offers (O rows), per product a summary of its rows of the 30 days
-- before (H rows) and its current rows on later days (N rows) are stacked and read with
-- window functions and one aggregation, so no derived table is joined to another, and
-- history is joined only as the optional side of a LEFT JOIN.
INSERT INTO fact_product_prices
    (product_id, price_date, name, brand, gtin14, category, market_price_usd,
     retail_price_usd, lowest_price_usd, sources, dispersion, prev_price_date,
     price_change_pct, trend, avg_7d, min_7d, max_7d, avg_30d, min_30d, max_30d,
     category_avg_usd, confidence, availability_summary, is_current, batch_id,
     manifest_sha256)
SELECT t.product_id, CAST(:batch_date AS DATE), p.name, p.brand, p.gtin14, t.category,
       t.market, t.retail, t.lowest, t.sources, t.dispersion,
       t.prev_date,
       CASE WHEN t.prev_market > 0 THEN
           GREATEST(LEAST(ROUND((t.market - t.prev_market) * 100 / t.prev_market, 2),
                          9999999999.99), -9999999999.99)
       END,
       CASE
           WHEN t.n_6 = 0 THEN NULL
           WHEN t.market * t.n_6 >= 1.02 * t.sum_6 THEN 'rising'
           WHEN t.market * t.n_6 <= 0.98 * t.sum_6 THEN 'falling'
           ELSE 'stable'
       END,
       ROUND(CAST(COALESCE(t.sum_6, 0) + t.market AS NUMERIC(20,4)) / CAST(t.n_6 + 1 AS NUMERIC(6,0)), 2),
       CASE WHEN t.min_6 < t.market THEN t.min_6 ELSE t.market END,
       CASE WHEN t.max_6 > t.market THEN t.max_6 ELSE t.market END,
       ROUND(CAST(COALESCE(t.sum_29, 0) + t.market AS NUMERIC(20,4)) / CAST(t.n_29 + 1 AS NUMERIC(6,0)), 2),
       CASE WHEN t.min_29 < t.market THEN t.min_29 ELSE t.market END,
       CASE WHEN t.max_29 > t.market THEN t.max_29 ELSE t.market END,
       ROUND(AVG(CAST(t.market AS NUMERIC(28,10))) OVER (PARTITION BY t.category), 2),
       ROUND(
           0.35 * ROUND(CAST(LEAST(t.agreeing, 3) AS NUMERIC(18,6)) / 3, 6)
         + 0.25 * GREATEST(0, 1 - 2 * t.dispersion)
         + 0.15 * CASE
               WHEN t.newest_observed >= CAST(:batch_date || ' 00:00:00+00' AS TIMESTAMPTZ) THEN 1
               WHEN t.newest_observed >= CAST(:batch_date || ' 00:00:00+00' AS TIMESTAMPTZ) - INTERVAL '1 day' THEN 0.5
               ELSE 0
           END
         + 0.25 * ROUND(t.good_sum / t.sources, 6),
       3),
       'in_stock ' || CAST(t.in_stock AS VARCHAR(12)) || '/' || CAST(t.sources AS VARCHAR(12)),
       (t.newer = 0), :batch_id, b.manifest_sha256
FROM (
    -- 3. one row per product
    SELECT m.product_id,
           CAST(SUM(CASE WHEN m.kind = 'O' THEN 1 ELSE 0 END) AS INTEGER) AS sources,
           MAX(m.market) AS market,
           COALESCE(MAX(m.regular_price_usd), MAX(m.price_usd)) AS retail,
           MIN(m.price_usd) AS lowest,
           LEAST(ROUND((MAX(m.price_usd) - MIN(m.price_usd)) / MAX(m.market), 4), 999999.9999) AS dispersion,
           SUM(CASE WHEN m.kind = 'O' AND ABS(m.price_usd - m.market) <= 0.05 * m.market THEN 1 ELSE 0 END) AS agreeing,
           SUM(CASE WHEN m.kind = 'O' AND m.availability = 'in_stock' THEN 1 ELSE 0 END) AS in_stock,
           MAX(m.observed_at) AS newest_observed,
           SUM(m.good_share) AS good_sum,
           COALESCE(CAST(SUBSTRING(MIN(m.category_key), 12, 64) AS VARCHAR(64)), 'uncategorized') AS category,
           MAX(m.prev_date) AS prev_date, MAX(m.prev_market) AS prev_market,
           MAX(m.sum_6) AS sum_6, COALESCE(MAX(m.n_6), 0) AS n_6,
           MAX(m.min_6) AS min_6, MAX(m.max_6) AS max_6,
           MAX(m.sum_29) AS sum_29, COALESCE(MAX(m.n_29), 0) AS n_29,
           MAX(m.min_29) AS min_29, MAX(m.max_29) AS max_29,
           SUM(CASE WHEN m.kind = 'N' THEN 1 ELSE 0 END) AS newer
    FROM (
        -- 2. the market price: the median of the O rows
        SELECT w.*,
               ROUND(AVG(CASE WHEN w.kind = 'O' AND w.orn IN ((w.n + 1) / 2, (w.n + 2) / 2)
                              THEN CAST(w.price_usd AS NUMERIC(20,4)) END)
                         OVER (PARTITION BY w.product_id), 2) AS market
        FROM (
            -- 1. the O rows ranked by price
            SELECT u.*,
                   ROW_NUMBER() OVER (
                       PARTITION BY u.product_id
                       ORDER BY CASE WHEN u.kind = 'O' THEN 0 ELSE 1 END, u.price_usd, u.source_id
                   ) AS orn,
                   SUM(CASE WHEN u.kind = 'O' THEN 1 ELSE 0 END) OVER (PARTITION BY u.product_id) AS n
            FROM (
                -- O rows: the day's offers, as 070 made them facts (passing and kept),
                -- with their category rule (050) and their source's good share of the 30
                -- days up to the day, ...
                SELECT 'O' AS kind, c.product_id, c.source_id, c.price_usd, c.regular_price_usd,
                       c.availability, c.observed_at, COALESCE(g.good_share, 1) AS good_share,
                       -- category_key: priority + 2^31 in 10 digits, the rule kind, the category
                       LPAD(CAST(CAST(COALESCE(c.category_priority, 2147483647) AS BIGINT) + 2147483648
                                 AS VARCHAR(10)), 10, '0')
                       || CAST(COALESCE(c.category_kind, 9) AS VARCHAR(1))
                       || COALESCE(c.offer_category, 'uncategorized') AS category_key,
                       CAST(NULL AS DATE) AS prev_date, CAST(NULL AS NUMERIC(18,2)) AS prev_market,
                       CAST(NULL AS NUMERIC(28,2)) AS sum_6, CAST(NULL AS BIGINT) AS n_6,
                       CAST(NULL AS NUMERIC(18,2)) AS min_6, CAST(NULL AS NUMERIC(18,2)) AS max_6,
                       CAST(NULL AS NUMERIC(28,2)) AS sum_29, CAST(NULL AS BIGINT) AS n_29,
                       CAST(NULL AS NUMERIC(18,2)) AS min_29, CAST(NULL AS NUMERIC(18,2)) AS max_29
                FROM offer_checks c
                LEFT JOIN (
                    SELECT source_id,
                           ROUND(CAST(SUM(rows_staged) - SUM(rows_quarantined) AS NUMERIC(24,6))
                                 / NULLIF(SUM(rows_staged) + SUM(rows_rejected), 0), 6) AS good_share
                    FROM source_day_stats
                    WHERE price_date BETWEEN CAST(:batch_date AS DATE) - 29 AND CAST(:batch_date AS DATE)
                    GROUP BY source_id
                ) g ON g.source_id = c.source_id
                WHERE c.batch_id = :batch_id AND c.reason_code IS NULL AND c.offer_rank = 1
                UNION ALL
                -- ... H rows: per product of the batch with a day in the 30 before, as 050
                -- read them (product_windows): its latest earlier day within 30 days and
                -- that day's market price; the sum, count, min and max of its market
                -- prices of the 6 days before (with today: the 7-day figures) and the 29
                -- days before (the 30-day figures), ...
                SELECT 'H', p.product_id, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
                       p.prev_date, p.prev_market, p.sum_6, p.n_6, p.min_6, p.max_6,
                       p.sum_29, p.n_29, p.min_29, p.max_29
                FROM product_windows p
                WHERE p.batch_id = :batch_id
                UNION ALL
                -- ... and N rows: a current row of the product on a later day (the day is a
                -- replay of an older one)
                -- (probed per offer, not per distinct product: most products have none,
                -- and grouping a day's offers costs more than probing; a product's several
                -- offers give several N rows, which only count as newer = 0 or not)
                SELECT 'N', k.product_id,
                       NULL, NULL, NULL, NULL, NULL, NULL, NULL,
                       NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL
                FROM offer_checks k
                LEFT JOIN fact_product_prices n
                  ON n.product_id = k.product_id AND n.is_current
                 AND n.price_date > CAST(:batch_date AS DATE)
                -- (COALESCE keeps the join a LEFT JOIN)
                WHERE k.batch_id = :batch_id AND k.reason_code IS NULL AND k.offer_rank = 1
                  AND COALESCE(n.price_date, CAST(:batch_date AS DATE)) > CAST(:batch_date AS DATE)
            ) u
        ) w
    ) m
    GROUP BY m.product_id
) t
JOIN dim_products p ON p.product_id = t.product_id
JOIN batches b ON b.batch_id = :batch_id
-- (a product of the batch without a fact that day has only its H row)
WHERE t.sources > 0;
