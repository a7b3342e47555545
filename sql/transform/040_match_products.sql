-- Every offer (source, sku) of the batch gets its product. An offer already mapped in
-- product_offers keeps its product (stable ids), except that an operator's override
-- always wins and is re-applied on every run. A new offer is matched, in this order:
-- GTIN, MPN + brand, name + brand, each rule against every mapped offer, including
-- those the rules before it mapped in this batch; several candidates: the smallest
-- product_id. Offers no rule matches found new products, whose ids come from the
-- matching key, so the same data gives the same ids in any order of runs:
-- G<gtin14>, M<md5(brand_key|mpn_key)[0..16]>, N<md5(brand_key|name_key)[0..16]>,
-- S<md5(source_id|source_sku)[0..16]>. New products are founded key by key (GTIN, then
-- MPN, then name), and the weaker rules run again after each, so an offer without a
-- GTIN joins the product that a GTIN-bearing offer of the same batch founds.
-- The batch's offers are read from staged_offers (one row per offer, brand_key resolved
-- through brand_aliases), and joined to the mappings only as the preserved side of a
-- LEFT JOIN (a plan cannot then loop over the batch's rows per mapping).

-- Overrides: re-pointed when mapped, ...
UPDATE product_offers
SET product_id = o.product_id, match_rule = 'override'
FROM product_overrides o, staged_offers c
WHERE c.batch_id = :batch_id
  AND c.source_id = product_offers.source_id AND c.source_sku = product_offers.source_sku
  AND o.source_id = c.source_id AND o.source_sku = c.source_sku
  AND (product_offers.product_id <> o.product_id OR product_offers.match_rule <> 'override')
  AND EXISTS (SELECT 1 FROM batches WHERE batch_id = :batch_id);
-- ... mapped when new, ...
INSERT INTO product_offers
    (source_id, source_sku, product_id, match_rule, gtin14, mpn_key, brand_key, name_key,
     first_batch_id, first_date)
SELECT c.source_id, c.source_sku, o.product_id, 'override', c.gtin14, c.mpn_key,
       c.brand_key, c.name_key, :batch_id, CAST(:batch_date AS DATE)
FROM staged_offers c
JOIN product_overrides o ON o.source_id = c.source_id AND o.source_sku = c.source_sku
WHERE c.batch_id = :batch_id
  AND NOT EXISTS (
      SELECT 1 FROM product_offers m WHERE m.source_id = c.source_id AND m.source_sku = c.source_sku
  );
-- ... and an override's product that does not exist yet is created.
INSERT INTO dim_products (product_id, gtin14, brand_key, name, brand, created_batch_id, created_date)
SELECT n.product_id, n.gtin14, n.brand_key, n.name, n.brand, :batch_id,
       CAST(:batch_date AS DATE)
FROM (
    SELECT o.product_id, c.gtin14, c.brand_key, c.name, c.brand,
           ROW_NUMBER() OVER (PARTITION BY o.product_id ORDER BY c.source_id, c.source_sku) AS pick
    FROM staged_offers c
    JOIN product_overrides o ON o.source_id = c.source_id AND o.source_sku = c.source_sku
    WHERE c.batch_id = :batch_id
) n
WHERE n.pick = 1
  AND NOT EXISTS (SELECT 1 FROM dim_products p WHERE p.product_id = n.product_id);

-- 1. GTIN.
INSERT INTO product_offers
    (source_id, source_sku, product_id, match_rule, gtin14, mpn_key, brand_key, name_key,
     first_batch_id, first_date)
SELECT c.source_id, c.source_sku, MIN(po.product_id), 'gtin', c.gtin14, c.mpn_key,
       c.brand_key, c.name_key, :batch_id, CAST(:batch_date AS DATE)
FROM staged_offers c
LEFT JOIN product_offers po ON po.gtin14 = c.gtin14
WHERE c.batch_id = :batch_id AND c.gtin14 IS NOT NULL
  AND NOT EXISTS (
      SELECT 1 FROM product_offers m WHERE m.source_id = c.source_id AND m.source_sku = c.source_sku
  )
GROUP BY c.source_id, c.source_sku, c.gtin14, c.mpn_key, c.brand_key, c.name_key
HAVING MIN(po.product_id) IS NOT NULL;
-- 2. MPN + brand; a GTIN-bearing offer only joins a product without a GTIN.
INSERT INTO product_offers
    (source_id, source_sku, product_id, match_rule, gtin14, mpn_key, brand_key, name_key,
     first_batch_id, first_date)
SELECT c.source_id, c.source_sku,
       MIN(CASE WHEN c.gtin14 IS NULL OR p.gtin14 IS NULL THEN po.product_id END), 'mpn_brand',
       c.gtin14, c.mpn_key, c.brand_key, c.name_key, :batch_id, CAST(:batch_date AS DATE)
FROM staged_offers c
LEFT JOIN product_offers po ON po.mpn_key = c.mpn_key AND po.brand_key = c.brand_key
LEFT JOIN dim_products p ON p.product_id = po.product_id
WHERE c.batch_id = :batch_id AND c.mpn_key IS NOT NULL AND c.brand_key IS NOT NULL
  AND NOT EXISTS (
      SELECT 1 FROM product_offers m WHERE m.source_id = c.source_id AND m.source_sku = c.source_sku
  )
GROUP BY c.source_id, c.source_sku, c.gtin14, c.mpn_key, c.brand_key, c.name_key
HAVING MIN(CASE WHEN c.gtin14 IS NULL OR p.gtin14 IS NULL THEN po.product_id END) IS NOT NULL;
-- 3. Name + brand, likewise.
INSERT INTO product_offers
    (source_id, source_sku, product_id, match_rule, gtin14, mpn_key, brand_key, name_key,
     first_batch_id, first_date)
SELECT c.source_id, c.source_sku,
       MIN(CASE WHEN c.gtin14 IS NULL OR p.gtin14 IS NULL THEN po.product_id END), 'name_brand',
       c.gtin14, c.mpn_key, c.brand_key, c.name_key, :batch_id, CAST(:batch_date AS DATE)
FROM staged_offers c
LEFT JOIN product_offers po ON po.name_key = c.name_key AND po.brand_key = c.brand_key
LEFT JOIN dim_products p ON p.product_id = po.product_id
WHERE c.batch_id = :batch_id AND c.name_key IS NOT NULL AND c.brand_key IS NOT NULL
  AND NOT EXISTS (
      SELECT 1 FROM product_offers m WHERE m.source_id = c.source_id AND m.source_sku = c.source_sku
  )
GROUP BY c.source_id, c.source_sku, c.gtin14, c.mpn_key, c.brand_key, c.name_key
HAVING MIN(CASE WHEN c.gtin14 IS NULL OR p.gtin14 IS NULL THEN po.product_id END) IS NOT NULL;

-- 4a. New products by GTIN: G<gtin14>. Named after the offer with the smallest
-- (source, sku).
INSERT INTO dim_products (product_id, gtin14, brand_key, name, brand, created_batch_id, created_date)
SELECT n.product_id, n.gtin14, n.brand_key, n.name, n.brand, :batch_id,
       CAST(:batch_date AS DATE)
FROM (
    SELECT 'G' || c.gtin14 AS product_id, c.gtin14, c.brand_key, c.name, c.brand,
           ROW_NUMBER() OVER (PARTITION BY c.gtin14 ORDER BY c.source_id, c.source_sku) AS pick
    FROM staged_offers c
    WHERE c.batch_id = :batch_id AND c.gtin14 IS NOT NULL
      AND NOT EXISTS (
          SELECT 1 FROM product_offers m WHERE m.source_id = c.source_id AND m.source_sku = c.source_sku
      )
) n
WHERE n.pick = 1
  AND NOT EXISTS (SELECT 1 FROM dim_products p WHERE p.product_id = n.product_id);
INSERT INTO product_offers
    (source_id, source_sku, product_id, match_rule, gtin14, mpn_key, brand_key, name_key,
     first_batch_id, first_date)
SELECT c.source_id, c.source_sku, 'G' || c.gtin14, 'new', c.gtin14, c.mpn_key, c.brand_key,
       c.name_key, :batch_id, CAST(:batch_date AS DATE)
FROM staged_offers c
WHERE c.batch_id = :batch_id AND c.gtin14 IS NOT NULL
  AND NOT EXISTS (
      SELECT 1 FROM product_offers m WHERE m.source_id = c.source_id AND m.source_sku = c.source_sku
  );
-- 2 again, seeing the new GTIN products (only offers without a GTIN are left).
INSERT INTO product_offers
    (source_id, source_sku, product_id, match_rule, gtin14, mpn_key, brand_key, name_key,
     first_batch_id, first_date)
SELECT c.source_id, c.source_sku, MIN(po.product_id), 'mpn_brand', c.gtin14, c.mpn_key,
       c.brand_key, c.name_key, :batch_id, CAST(:batch_date AS DATE)
FROM staged_offers c
LEFT JOIN product_offers po ON po.mpn_key = c.mpn_key AND po.brand_key = c.brand_key
WHERE c.batch_id = :batch_id AND c.mpn_key IS NOT NULL AND c.brand_key IS NOT NULL
  AND NOT EXISTS (
      SELECT 1 FROM product_offers m WHERE m.source_id = c.source_id AND m.source_sku = c.source_sku
  )
GROUP BY c.source_id, c.source_sku, c.gtin14, c.mpn_key, c.brand_key, c.name_key
HAVING MIN(po.product_id) IS NOT NULL;
-- 3 again.
INSERT INTO product_offers
    (source_id, source_sku, product_id, match_rule, gtin14, mpn_key, brand_key, name_key,
     first_batch_id, first_date)
SELECT c.source_id, c.source_sku, MIN(po.product_id), 'name_brand', c.gtin14, c.mpn_key,
       c.brand_key, c.name_key, :batch_id, CAST(:batch_date AS DATE)
FROM staged_offers c
LEFT JOIN product_offers po ON po.name_key = c.name_key AND po.brand_key = c.brand_key
WHERE c.batch_id = :batch_id AND c.name_key IS NOT NULL AND c.brand_key IS NOT NULL
  AND NOT EXISTS (
      SELECT 1 FROM product_offers m WHERE m.source_id = c.source_id AND m.source_sku = c.source_sku
  )
GROUP BY c.source_id, c.source_sku, c.gtin14, c.mpn_key, c.brand_key, c.name_key
HAVING MIN(po.product_id) IS NOT NULL;

-- 4b. New products by MPN + brand: M<md5(brand_key|mpn_key)[0..16]>.
INSERT INTO dim_products (product_id, gtin14, brand_key, name, brand, created_batch_id, created_date)
SELECT n.product_id, NULL, n.brand_key, n.name, n.brand, :batch_id,
       CAST(:batch_date AS DATE)
FROM (
    SELECT 'M' || SUBSTRING(MD5(c.brand_key || '|' || c.mpn_key), 1, 16) AS product_id,
           c.brand_key, c.name, c.brand,
           ROW_NUMBER() OVER (
               PARTITION BY c.brand_key, c.mpn_key ORDER BY c.source_id, c.source_sku
           ) AS pick
    FROM staged_offers c
    WHERE c.batch_id = :batch_id AND c.mpn_key IS NOT NULL AND c.brand_key IS NOT NULL
      AND NOT EXISTS (
          SELECT 1 FROM product_offers m WHERE m.source_id = c.source_id AND m.source_sku = c.source_sku
      )
) n
WHERE n.pick = 1
  AND NOT EXISTS (SELECT 1 FROM dim_products p WHERE p.product_id = n.product_id);
INSERT INTO product_offers
    (source_id, source_sku, product_id, match_rule, gtin14, mpn_key, brand_key, name_key,
     first_batch_id, first_date)
SELECT c.source_id, c.source_sku, 'M' || SUBSTRING(MD5(c.brand_key || '|' || c.mpn_key), 1, 16),
       'new', c.gtin14, c.mpn_key, c.brand_key, c.name_key, :batch_id, CAST(:batch_date AS DATE)
FROM staged_offers c
WHERE c.batch_id = :batch_id AND c.mpn_key IS NOT NULL AND c.brand_key IS NOT NULL
  AND NOT EXISTS (
      SELECT 1 FROM product_offers m WHERE m.source_id = c.source_id AND m.source_sku = c.source_sku
  );
-- 3 again.
INSERT INTO product_offers
    (source_id, source_sku, product_id, match_rule, gtin14, mpn_key, brand_key, name_key,
     first_batch_id, first_date)
SELECT c.source_id, c.source_sku, MIN(po.product_id), 'name_brand', c.gtin14, c.mpn_key,
       c.brand_key, c.name_key, :batch_id, CAST(:batch_date AS DATE)
FROM staged_offers c
LEFT JOIN product_offers po ON po.name_key = c.name_key AND po.brand_key = c.brand_key
WHERE c.batch_id = :batch_id AND c.name_key IS NOT NULL AND c.brand_key IS NOT NULL
  AND NOT EXISTS (
      SELECT 1 FROM product_offers m WHERE m.source_id = c.source_id AND m.source_sku = c.source_sku
  )
GROUP BY c.source_id, c.source_sku, c.gtin14, c.mpn_key, c.brand_key, c.name_key
HAVING MIN(po.product_id) IS NOT NULL;

-- 4c. New products by name + brand: N<md5(brand_key|name_key)[0..16]>.
INSERT INTO dim_products (product_id, gtin14, brand_key, name, brand, created_batch_id, created_date)
SELECT n.product_id, NULL, n.brand_key, n.name, n.brand, :batch_id,
       CAST(:batch_date AS DATE)
FROM (
    SELECT 'N' || SUBSTRING(MD5(c.brand_key || '|' || c.name_key), 1, 16) AS product_id,
           c.brand_key, c.name, c.brand,
           ROW_NUMBER() OVER (
               PARTITION BY c.brand_key, c.name_key ORDER BY c.source_id, c.source_sku
           ) AS pick
    FROM staged_offers c
    WHERE c.batch_id = :batch_id AND c.name_key IS NOT NULL AND c.brand_key IS NOT NULL
      AND NOT EXISTS (
          SELECT 1 FROM product_offers m WHERE m.source_id = c.source_id AND m.source_sku = c.source_sku
      )
) n
WHERE n.pick = 1
  AND NOT EXISTS (SELECT 1 FROM dim_products p WHERE p.product_id = n.product_id);
INSERT INTO product_offers
    (source_id, source_sku, product_id, match_rule, gtin14, mpn_key, brand_key, name_key,
     first_batch_id, first_date)
SELECT c.source_id, c.source_sku, 'N' || SUBSTRING(MD5(c.brand_key || '|' || c.name_key), 1, 16),
       'new', c.gtin14, c.mpn_key, c.brand_key, c.name_key, :batch_id, CAST(:batch_date AS DATE)
FROM staged_offers c
WHERE c.batch_id = :batch_id AND c.name_key IS NOT NULL AND c.brand_key IS NOT NULL
  AND NOT EXISTS (
      SELECT 1 FROM product_offers m WHERE m.source_id = c.source_id AND m.source_sku = c.source_sku
  );

-- 4d. Every other offer is a product of its own: S<md5(source_id|source_sku)[0..16]>.
INSERT INTO dim_products (product_id, gtin14, brand_key, name, brand, created_batch_id, created_date)
SELECT n.product_id, NULL, n.brand_key, n.name, n.brand, :batch_id,
       CAST(:batch_date AS DATE)
FROM (
    SELECT 'S' || SUBSTRING(MD5(c.source_id || '|' || c.source_sku), 1, 16) AS product_id,
           c.brand_key, c.name, c.brand
    FROM staged_offers c
    WHERE c.batch_id = :batch_id
      AND NOT EXISTS (
          SELECT 1 FROM product_offers m WHERE m.source_id = c.source_id AND m.source_sku = c.source_sku
      )
) n
WHERE NOT EXISTS (SELECT 1 FROM dim_products p WHERE p.product_id = n.product_id);
INSERT INTO product_offers
    (source_id, source_sku, product_id, match_rule, gtin14, mpn_key, brand_key, name_key,
     first_batch_id, first_date)
SELECT c.source_id, c.source_sku, 'S' || SUBSTRING(MD5(c.source_id || '|' || c.source_sku), 1, 16),
       'new', c.gtin14, c.mpn_key, c.brand_key, c.name_key, :batch_id, CAST(:batch_date AS DATE)
FROM staged_offers c
WHERE c.batch_id = :batch_id
  AND NOT EXISTS (
      SELECT 1 FROM product_offers m WHERE m.source_id = c.source_id AND m.source_sku = c.source_sku
  );

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
