-- The market price of each of :product_ids on each day it has one among the :days days
-- ending on the day, by product and day: the report's price charts. Each product's
-- window is read through the primary key (product_id, price_date), never its whole
-- history.
--
-- Columns: product_id, price_date, market_price_usd.
SELECT f.product_id, f.price_date, f.market_price_usd
FROM fact_product_prices f
WHERE f.product_id IN (:product_ids)
  AND f.price_date > CAST(:batch_date AS DATE) - :days
  AND f.price_date <= CAST(:batch_date AS DATE)
ORDER BY f.product_id, f.price_date
