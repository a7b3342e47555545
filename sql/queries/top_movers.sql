-- The day's biggest price movers: the products of the day's current batch that have a
-- change against their previous day (090's price_change_pct), the largest move either
-- way first (then by product id), at most :limit. The fact carries the product's name
-- and brand (dim_products') and its category. For `ppmt report`; it reads only the
-- day's rows, through the batches_date and fact_product_prices_date indexes.
--
-- Columns: product_id, name, brand, category, market_price_usd, price_change_pct,
-- prev_price_date.
SELECT f.product_id, f.name, f.brand, f.category, f.market_price_usd, f.price_change_pct,
       f.prev_price_date
FROM batches b
JOIN fact_product_prices f ON f.price_date = b.batch_date AND f.batch_id = b.batch_id
WHERE b.batch_date = CAST(:batch_date AS DATE) AND f.price_change_pct IS NOT NULL
ORDER BY ABS(f.price_change_pct) DESC, f.product_id
LIMIT :limit
