-- Rule 2: an unmatched offer joins the product of a mapped offer with the same MPN and
-- brand; an offer with a GTIN only a product without one (it would be a different item).
-- Run again after 044 founds the GTIN products.
UPDATE offer_work
SET product_id = m.product_id, match_rule = 'mpn_brand'
FROM (
    SELECT c.source_id, c.source_sku,
           MIN(CASE WHEN c.gtin14 IS NULL OR p.gtin14 IS NULL THEN k.product_id END) AS product_id
    FROM offer_work c
    LEFT JOIN mapped_offers k ON k.mpn_key = c.mpn_key AND k.brand_key = c.brand_key
    LEFT JOIN dim_products p ON p.product_id = k.product_id
    WHERE c.batch_id = :batch_id AND c.is_new AND c.product_id IS NULL
      AND c.mpn_key IS NOT NULL AND c.brand_key IS NOT NULL
    GROUP BY c.source_id, c.source_sku
) m
WHERE offer_work.batch_id = :batch_id AND offer_work.source_id = m.source_id
  AND offer_work.source_sku = m.source_sku AND m.product_id IS NOT NULL;
