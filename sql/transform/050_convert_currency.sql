-- The day's facts: one row per product and source, converted to USD (rounded to cents,
-- half away from zero).
INSERT INTO fact_prices
    (product_id, source_id, price_date, name, brand, gtin, price, price_kind, price_max,
     currency, usd_per_unit, fx_rate_date, price_usd, market_price_usd, market_sources,
     is_current, observed_at, batch_id, file_key, line_no)
SELECT w.product_id, w.source_id, w.batch_date, w.name, w.brand, w.gtin, w.price,
       w.price_kind, w.price_max, w.currency, f.usd_per_unit, f.rate_date,
       ROUND(w.price * f.usd_per_unit, 2), NULL, NULL, FALSE, w.observed_at, w.batch_id,
       w.file_key, w.line_no
FROM staged_ranked w
JOIN batch_fx f ON f.batch_id = w.batch_id AND f.currency = w.currency
WHERE w.batch_id = :batch_id AND w.rank_in_key = 1;
