-- Market price: the mean USD price of a product across the day's sources, rounded to
-- cents half away from zero. Summed at a wider scale first, so PostgreSQL and Redshift
-- (whose AVG keeps the column's scale) round the same value.
UPDATE fact_prices
SET market_price_usd = m.mean_usd,
    market_sources = m.sources
FROM (
    SELECT product_id,
           ROUND(SUM(CAST(price_usd AS NUMERIC(28,6))) / COUNT(*), 2) AS mean_usd,
           CAST(COUNT(*) AS INTEGER) AS sources
    FROM fact_prices
    WHERE price_date = CAST(:batch_date AS DATE)
    GROUP BY product_id
) m
WHERE fact_prices.product_id = m.product_id
  AND fact_prices.price_date = CAST(:batch_date AS DATE);
