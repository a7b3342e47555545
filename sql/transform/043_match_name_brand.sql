-- Rule 3: likewise by normalised name and brand. Run again after 044 and 045.
UPDATE offer_work
SET product_id = m.product_id, match_rule = 'name_brand'
FROM (
    SELECT c.source_id, c.source_sku,
           MIN(CASE WHEN c.gtin14 IS NULL OR p.gtin14 IS NULL THEN k.product_id END) AS product_id
    FROM offer_work c
    LEFT JOIN mapped_offers k ON k.name_key = c.name_key AND k.brand_key = c.brand_key
    LEFT JOIN dim_products p ON p.product_id = k.product_id
    WHERE c.batch_id = :batch_id AND c.is_new AND c.product_id IS NULL
      AND c.name_key IS NOT NULL AND c.brand_key IS NOT NULL
    GROUP BY c.source_id, c.source_sku
) m
WHERE offer_work.batch_id = :batch_id AND offer_work.source_id = m.source_id
  AND offer_work.source_sku = m.source_sku AND m.product_id IS NOT NULL;
