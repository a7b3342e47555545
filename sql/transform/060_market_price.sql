-- Market price: the mean USD price of a product across the day's sources.
UPDATE fact_prices
SET market_price_usd = m.mean_usd,
    market_sources = m.sources
FROM (
    SELECT product_id, ROUND(AVG(price_usd), 2) AS mean_usd, CAST(COUNT(*) AS INTEGER) AS sources
    FROM fact_prices
    WHERE price_date = CAST(:batch_date AS DATE)
    GROUP BY product_id
) m
WHERE fact_prices.product_id = m.product_id
  AND fact_prices.price_date = CAST(:batch_date AS DATE);
