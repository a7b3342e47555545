-- Exactly one current row per product: its newest day. 090 made the day's row current
-- where no later day is; here the row that was current before it steps down, ...
UPDATE fact_product_prices
SET is_current = FALSE
FROM fact_product_prices d
WHERE d.price_date = CAST(:batch_date AS DATE) AND d.batch_id = :batch_id AND d.is_current
  AND fact_product_prices.product_id = d.product_id
  AND fact_product_prices.is_current
  AND fact_product_prices.price_date < CAST(:batch_date AS DATE)
  AND EXISTS (SELECT 1 FROM batches WHERE batch_id = :batch_id);
-- ... and a product the day listed before (batch_keys) but no longer lists, whose
-- current row was the day's, gets its newest remaining day as current. Only these
-- products are looked up over their whole history.
UPDATE fact_product_prices
SET is_current = TRUE
FROM (
    SELECT k.product_id, MAX(f.price_date) AS newest_date
    FROM (
        SELECT DISTINCT b.product_id
        FROM batch_keys b
        WHERE b.batch_id = :batch_id
          AND NOT EXISTS (
                  SELECT 1 FROM fact_product_prices t
                  WHERE t.product_id = b.product_id AND t.price_date = CAST(:batch_date AS DATE)
              )
          AND NOT EXISTS (
                  SELECT 1 FROM fact_product_prices c
                  WHERE c.product_id = b.product_id AND c.is_current
              )
    ) k
    LEFT JOIN fact_product_prices f ON f.product_id = k.product_id
    GROUP BY k.product_id
) l
WHERE fact_product_prices.product_id = l.product_id
  AND fact_product_prices.price_date = l.newest_date
  AND EXISTS (SELECT 1 FROM batches WHERE batch_id = :batch_id);
