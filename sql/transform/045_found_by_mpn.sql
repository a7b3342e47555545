-- New products by MPN + brand: M<md5(brand_key|mpn_key)[0..16]>.
UPDATE offer_work
SET product_id = n.product_id, match_rule = 'new', founds = n.founds
FROM (
    SELECT k.source_id, k.source_sku, k.product_id, p.product_id IS NULL AS founds
    FROM (
        SELECT c.source_id, c.source_sku,
               'M' || SUBSTRING(MD5(c.brand_key || '|' || c.mpn_key), 1, 16) AS product_id
        FROM offer_work c
        WHERE c.batch_id = :batch_id AND c.is_new AND c.product_id IS NULL
          AND c.mpn_key IS NOT NULL AND c.brand_key IS NOT NULL
    ) k
    LEFT JOIN dim_products p ON p.product_id = k.product_id
) n
WHERE offer_work.batch_id = :batch_id AND offer_work.source_id = n.source_id
  AND offer_work.source_sku = n.source_sku;
