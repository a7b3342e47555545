-- Rule 1: an unmatched offer with a GTIN joins the product of a mapped offer with the same
-- GTIN. (The offers are the preserved side of a LEFT JOIN, so a plan can only probe the
-- mappings' indexes per offer, never loop over the offers per mapping.)
UPDATE offer_work
SET product_id = m.product_id, match_rule = 'gtin'
FROM (
    SELECT c.source_id, c.source_sku, MIN(k.product_id) AS product_id
    FROM offer_work c
    LEFT JOIN mapped_offers k ON k.gtin14 = c.gtin14
    WHERE c.batch_id = :batch_id AND c.is_new AND c.product_id IS NULL AND c.gtin14 IS NOT NULL
    GROUP BY c.source_id, c.source_sku
) m
WHERE offer_work.batch_id = :batch_id AND offer_work.source_id = m.source_id
  AND offer_work.source_sku = m.source_sku AND m.product_id IS NOT NULL;
