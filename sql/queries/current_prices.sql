-- Current price of every product the batch touched, from every source: the products it
-- staged, and those the day had before the batch replaced it. Reads the current rows
-- whatever batch made them, so an older day's replay writes the newer price.
SELECT f.product_id, f.source_id, f.name, f.price, f.price_kind, f.currency, f.price_usd,
       f.market_price_usd, CAST(f.market_sources AS BIGINT) AS market_sources, f.price_date,
       f.observed_at, f.fx_rate_date, f.batch_id
FROM fact_prices f
WHERE f.is_current
  AND (f.product_id IN (SELECT product_id FROM staging_prices WHERE batch_id = :batch_id)
       OR f.product_id IN (SELECT product_id FROM batch_keys WHERE batch_id = :batch_id))
ORDER BY f.product_id, f.source_id
