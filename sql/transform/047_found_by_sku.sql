-- Every other offer is a product of its own: S<md5(source_id|source_sku)[0..16]>.
UPDATE offer_work
SET product_id = n.product_id, match_rule = 'new', founds = n.founds
FROM (
    SELECT k.source_id, k.source_sku, k.product_id, p.product_id IS NULL AS founds
    FROM (
        SELECT c.source_id, c.source_sku,
               'S' || SUBSTRING(MD5(c.source_id || '|' || c.source_sku), 1, 16) AS product_id
        FROM offer_work c
        WHERE c.batch_id = :batch_id AND c.is_new AND c.product_id IS NULL
    ) k
    LEFT JOIN dim_products p ON p.product_id = k.product_id
) n
WHERE offer_work.batch_id = :batch_id AND offer_work.source_id = n.source_id
  AND offer_work.source_sku = n.source_sku;
