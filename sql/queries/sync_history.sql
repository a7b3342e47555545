-- The app's history items (DAY#date) of the batch's day: each product's row of the day,
-- at this batch's version. Nothing is returned once the batch is no longer its day's
-- batch.
--
-- Columns: product_id, price_date, market_price_usd, lowest_price_usd, sources,
-- version_date, version_seq.
SELECT f.product_id, f.price_date, f.market_price_usd, f.lowest_price_usd, f.sources,
       b.batch_date AS version_date, b.load_seq AS version_seq
FROM fact_product_prices f
JOIN batches b ON b.batch_id = :batch_id
WHERE f.price_date = CAST(:batch_date AS DATE) AND f.batch_id = :batch_id
ORDER BY f.product_id
