-- The products this batch founded, each named after its offer with the smallest
-- (source, sku); a GTIN product has its GTIN (the others are founded by offers without
-- one).
INSERT INTO dim_products (product_id, gtin14, brand_key, name, brand, created_batch_id, created_date)
SELECT n.product_id, n.gtin14, n.brand_key, n.name, n.brand, :batch_id, CAST(:batch_date AS DATE)
FROM (
    SELECT w.product_id, w.gtin14, w.brand_key, w.name, w.brand,
           ROW_NUMBER() OVER (PARTITION BY w.product_id ORDER BY w.source_id, w.source_sku) AS pick
    FROM offer_work w
    WHERE w.batch_id = :batch_id AND w.founds
) n
WHERE n.pick = 1;

-- The batch's new offers, with the product and the rule that matched them.
INSERT INTO product_offers
    (source_id, source_sku, product_id, match_rule, gtin14, mpn_key, brand_key, name_key,
     first_batch_id, first_date)
SELECT w.source_id, w.source_sku, w.product_id, w.match_rule, w.gtin14, w.mpn_key, w.brand_key,
       w.name_key, :batch_id, CAST(:batch_date AS DATE)
FROM offer_work w
WHERE w.batch_id = :batch_id AND w.is_new;

-- A product without a GTIN takes the smallest GTIN of the offers this batch mapped to
-- it (it has one now).
UPDATE dim_products
SET gtin14 = po.gtin14
FROM product_offers po
WHERE po.product_id = dim_products.product_id
  AND po.first_batch_id = :batch_id AND po.gtin14 IS NOT NULL
  AND dim_products.gtin14 IS NULL
  AND NOT EXISTS (
      SELECT 1 FROM product_offers o2
      WHERE o2.product_id = po.product_id AND o2.first_batch_id = :batch_id
        AND o2.gtin14 < po.gtin14
  )
  AND EXISTS (SELECT 1 FROM batches WHERE batch_id = :batch_id);
