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

-- A product without a GTIN takes the smallest GTIN of the new offers this batch mapped
-- to it (it has one now). Read from the work rows: product_offers has no index by the
-- batch that first mapped an offer, which a day of a million new offers would pay for.
UPDATE dim_products
SET gtin14 = g.gtin14
FROM (
    SELECT w.product_id, MIN(w.gtin14) AS gtin14
    FROM offer_work w
    WHERE w.batch_id = :batch_id AND w.is_new AND w.gtin14 IS NOT NULL
    GROUP BY w.product_id
) g
WHERE g.product_id = dim_products.product_id
  AND dim_products.gtin14 IS NULL
  AND EXISTS (SELECT 1 FROM batches WHERE batch_id = :batch_id);
