-- New products, one key class at a time: the unmatched offers of the strongest class any
-- of them has found products named after their key, G<gtin14> (class 1),
-- M<md5(brand_key|mpn_key)[0..16]> (2), N<md5(brand_key|name_key)[0..16]> (3) or
-- S<md5(source_id|source_sku)[0..16]> (4, every other offer). The transform lists this
-- step four times, the weaker rules between, so an offer of a weaker class can join a
-- product founded by a stronger one. (A product with the id may exist already, made by
-- an override: then the offers join it and found nothing.)
UPDATE offer_work
SET product_id = n.product_id, match_rule = 'new', founds = n.founds
FROM (
    SELECT k.source_id, k.source_sku, k.product_id, p.product_id IS NULL AS founds
    FROM (
        SELECT c.source_id, c.source_sku,
               CASE c.key_class
                   WHEN 1 THEN 'G' || c.gtin14
                   WHEN 2 THEN 'M' || SUBSTRING(MD5(c.brand_key || '|' || c.mpn_key), 1, 16)
                   WHEN 3 THEN 'N' || SUBSTRING(MD5(c.brand_key || '|' || c.name_key), 1, 16)
                   ELSE 'S' || SUBSTRING(MD5(c.source_id || '|' || c.source_sku), 1, 16)
               END AS product_id
        FROM (
            SELECT w.source_id, w.source_sku, w.gtin14, w.mpn_key, w.brand_key, w.name_key,
                   w.key_class, MIN(w.key_class) OVER () AS strongest
            FROM (
                SELECT u.source_id, u.source_sku, u.gtin14, u.mpn_key, u.brand_key, u.name_key,
                       CASE
                           WHEN u.gtin14 IS NOT NULL THEN 1
                           WHEN u.mpn_key IS NOT NULL AND u.brand_key IS NOT NULL THEN 2
                           WHEN u.name_key IS NOT NULL AND u.brand_key IS NOT NULL THEN 3
                           ELSE 4
                       END AS key_class
                FROM offer_work u
                WHERE u.batch_id = :batch_id AND u.is_new AND u.product_id IS NULL
            ) w
        ) c
        WHERE c.key_class = c.strongest
    ) k
    LEFT JOIN dim_products p ON p.product_id = k.product_id
) n
WHERE offer_work.batch_id = :batch_id AND offer_work.source_id = n.source_id
  AND offer_work.source_sku = n.source_sku;
