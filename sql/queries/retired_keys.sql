-- Keys the batch's day had that now have no price at all: the batch replaced a day that
-- listed them, and no other day does. Their items leave the app's table.
SELECT k.product_id, k.source_id
FROM batch_keys k
WHERE k.batch_id = :batch_id
  AND NOT EXISTS (
      SELECT 1 FROM fact_prices f
      WHERE f.product_id = k.product_id AND f.source_id = k.source_id AND f.is_current
  )
ORDER BY k.product_id, k.source_id
