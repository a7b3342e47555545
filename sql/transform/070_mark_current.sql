-- is_current: the newest day of each product and source. Recomputed everywhere it is
-- wrong, so replaying an older day never makes it current again.
UPDATE fact_prices
SET is_current = (fact_prices.price_date = l.newest_date)
FROM (
    SELECT product_id, source_id, MAX(price_date) AS newest_date
    FROM fact_prices
    GROUP BY product_id, source_id
) l
WHERE fact_prices.product_id = l.product_id
  AND fact_prices.source_id = l.source_id
  AND fact_prices.is_current <> (fact_prices.price_date = l.newest_date);
