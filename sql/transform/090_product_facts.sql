-- The day's product facts: one row per product with an offer fact that day, over its
-- offers (at most one per source). Money is rounded to cents half away from zero; means
-- are taken at a wide scale first, so PostgreSQL and Redshift (whose AVG keeps the
-- argument's scale) round the same value.
--   market_price_usd  the median offer (the mean of the two middle ones for an even count)
--   retail_price_usd  the highest regular price in USD where a source gives one, else the
--                     highest offer
--   dispersion        (highest - lowest) / market price, 4 places
--   confidence        0.35 A + 0.25 D + 0.15 F + 0.25 T, 3 places: A = min(1, offers
--                     within 5 % of the market price / 3); D = max(0, 1 - dispersion / 0.5);
--                     F = 1 if the newest observation is on or after the day's 00:00 UTC,
--                     0.5 if within the day before, else 0; T = the mean over the
--                     product's sources of (staged - quarantined) / (staged + rejected)
--                     over the 30 days up to the day (1 - the bad share)
--   category          the best category rule over its offers (none: uncategorized), and
--                     category_avg_usd the mean market price of the category that day
-- The history figures are filled in next, and is_current last.
INSERT INTO fact_product_prices
    (product_id, price_date, name, brand, gtin14, category, market_price_usd,
     retail_price_usd, lowest_price_usd, sources, dispersion, prev_price_date,
     price_change_pct, trend, avg_7d, min_7d, max_7d, avg_30d, min_30d, max_30d,
     category_avg_usd, confidence, availability_summary, is_current, batch_id,
     manifest_sha256)
SELECT t.product_id, CAST(:batch_date AS DATE), p.name, p.brand, p.gtin14, t.category,
       t.market, t.retail, t.lowest, t.sources, t.dispersion,
       NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
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
       FALSE, :batch_id, b.manifest_sha256
FROM (
    SELECT o.product_id,
           CAST(COUNT(*) AS INTEGER) AS sources,
           MAX(o.market) AS market,
           COALESCE(MAX(o.regular_price_usd), MAX(o.price_usd)) AS retail,
           MIN(o.price_usd) AS lowest,
           LEAST(ROUND((MAX(o.price_usd) - MIN(o.price_usd)) / MAX(o.market), 4), 999999.9999) AS dispersion,
           SUM(CASE WHEN ABS(o.price_usd - o.market) <= 0.05 * o.market THEN 1 ELSE 0 END) AS agreeing,
           SUM(CASE WHEN o.availability = 'in_stock' THEN 1 ELSE 0 END) AS in_stock,
           MAX(o.observed_at) AS newest_observed,
           SUM(o.good_share) AS good_sum,
           COALESCE(MAX(CASE WHEN o.category_rank = 1 THEN o.category END), 'uncategorized') AS category
    FROM (
        SELECT m.product_id, m.price_usd, m.regular_price_usd, m.availability, m.observed_at,
               m.good_share, m.category, m.category_rank,
               ROUND(AVG(CASE WHEN m.rn IN ((m.n + 1) / 2, (m.n + 2) / 2)
                              THEN CAST(m.price_usd AS NUMERIC(20,4)) END)
                         OVER (PARTITION BY m.product_id), 2) AS market
        FROM (
            SELECT f.product_id, f.price_usd, f.regular_price_usd, f.availability,
                   f.observed_at, COALESCE(g.good_share, 1) AS good_share,
                   c.offer_category AS category,
                   ROW_NUMBER() OVER (
                       PARTITION BY f.product_id
                       ORDER BY COALESCE(c.category_priority, 2147483647), COALESCE(c.category_kind, 9),
                                COALESCE(c.offer_category, 'uncategorized')
                   ) AS category_rank,
                   ROW_NUMBER() OVER (PARTITION BY f.product_id ORDER BY f.price_usd, f.source_id) AS rn,
                   COUNT(*) OVER (PARTITION BY f.product_id) AS n
            FROM fact_offer_prices f
            JOIN offer_checks c
              ON c.batch_id = f.batch_id AND c.source_id = f.source_id AND c.source_sku = f.source_sku
            LEFT JOIN (
                SELECT source_id,
                       ROUND(CAST(SUM(rows_staged) - SUM(rows_quarantined) AS NUMERIC(24,6))
                             / NULLIF(SUM(rows_staged) + SUM(rows_rejected), 0), 6) AS good_share
                FROM source_day_stats
                WHERE price_date BETWEEN CAST(:batch_date AS DATE) - 29 AND CAST(:batch_date AS DATE)
                GROUP BY source_id
            ) g ON g.source_id = f.source_id
            WHERE f.price_date = CAST(:batch_date AS DATE) AND f.batch_id = :batch_id
              AND c.batch_id = :batch_id
        ) m
    ) o
    GROUP BY o.product_id
) t
JOIN dim_products p ON p.product_id = t.product_id
JOIN batches b ON b.batch_id = :batch_id;

-- History, over the product's rows of the 30 days before and the day itself:
--   prev_price_date, price_change_pct  the latest earlier day within 30 days, and
--                     (today - then) / then * 100, 2 places
--   trend             today against the mean market price of the 6 days before: rising
--                     at >= +2 %, falling at <= -2 %, else stable (compared without
--                     division: today * n >= 1.02 * sum)
--   avg/min/max_7d, avg/min/max_30d  over the 7 and 30 days ending on the day
UPDATE fact_product_prices
SET prev_price_date = h.prev_date,
    price_change_pct = CASE WHEN h.prev_market > 0 THEN
        GREATEST(LEAST(ROUND((h.today - h.prev_market) * 100 / h.prev_market, 2), 9999999999.99), -9999999999.99)
        END,
    trend = CASE
        WHEN h.n_6 = 0 THEN NULL
        WHEN h.today * h.n_6 >= 1.02 * h.sum_6 THEN 'rising'
        WHEN h.today * h.n_6 <= 0.98 * h.sum_6 THEN 'falling'
        ELSE 'stable'
    END,
    avg_7d = h.avg_7d, min_7d = h.min_7d, max_7d = h.max_7d,
    avg_30d = h.avg_30d, min_30d = h.min_30d, max_30d = h.max_30d
FROM (
    SELECT w.product_id,
           MAX(CASE WHEN w.newest = 1 THEN w.market_price_usd END) AS today,
           MAX(CASE WHEN w.newest = 2 THEN w.price_date END) AS prev_date,
           MAX(CASE WHEN w.newest = 2 THEN w.market_price_usd END) AS prev_market,
           SUM(CASE WHEN w.price_date >= CAST(:batch_date AS DATE) - 6 AND w.newest > 1
                    THEN w.market_price_usd ELSE 0 END) AS sum_6,
           SUM(CASE WHEN w.price_date >= CAST(:batch_date AS DATE) - 6 AND w.newest > 1
                    THEN 1 ELSE 0 END) AS n_6,
           ROUND(AVG(CASE WHEN w.price_date >= CAST(:batch_date AS DATE) - 6
                          THEN CAST(w.market_price_usd AS NUMERIC(28,10)) END), 2) AS avg_7d,
           MIN(CASE WHEN w.price_date >= CAST(:batch_date AS DATE) - 6 THEN w.market_price_usd END) AS min_7d,
           MAX(CASE WHEN w.price_date >= CAST(:batch_date AS DATE) - 6 THEN w.market_price_usd END) AS max_7d,
           ROUND(AVG(CASE WHEN w.price_date >= CAST(:batch_date AS DATE) - 29
                          THEN CAST(w.market_price_usd AS NUMERIC(28,10)) END), 2) AS avg_30d,
           MIN(CASE WHEN w.price_date >= CAST(:batch_date AS DATE) - 29 THEN w.market_price_usd END) AS min_30d,
           MAX(CASE WHEN w.price_date >= CAST(:batch_date AS DATE) - 29 THEN w.market_price_usd END) AS max_30d
    FROM (
        SELECT f.product_id, f.price_date, f.market_price_usd,
               ROW_NUMBER() OVER (PARTITION BY f.product_id ORDER BY f.price_date DESC) AS newest
        FROM fact_product_prices f
        JOIN fact_product_prices d
          ON d.product_id = f.product_id
         AND d.price_date = CAST(:batch_date AS DATE) AND d.batch_id = :batch_id
        WHERE f.price_date BETWEEN CAST(:batch_date AS DATE) - 30 AND CAST(:batch_date AS DATE)
    ) w
    GROUP BY w.product_id
) h
WHERE fact_product_prices.price_date = CAST(:batch_date AS DATE)
  AND fact_product_prices.batch_id = :batch_id
  AND fact_product_prices.product_id = h.product_id;

-- is_current: the day's row is the product's newest unless a later day is current
-- (a replay of an older day). 100 then retires the previous current rows.
UPDATE fact_product_prices
SET is_current = TRUE
WHERE price_date = CAST(:batch_date AS DATE) AND batch_id = :batch_id
  AND NOT EXISTS (
      SELECT 1 FROM fact_product_prices n
      WHERE n.product_id = fact_product_prices.product_id
        AND n.is_current AND n.price_date > CAST(:batch_date AS DATE)
  );
