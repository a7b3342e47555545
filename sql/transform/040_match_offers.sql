-- Matching, 040 to 048: every offer (source, sku) of the batch gets its product. An offer
-- already mapped in product_offers keeps its product (stable ids), except that an
-- operator's override always wins and is re-applied on every run. A new offer is matched,
-- in this order: GTIN (041), MPN + brand (042), name + brand (043), each rule against
-- every mapped offer (mapped_offers: product_offers and the offers this batch mapped so
-- far); several candidates: the smallest product_id. Offers no rule matches found new
-- products (044), whose ids come from the matching key, so the same data gives the same
-- ids in any order of runs: G<gtin14>, M<md5(brand_key|mpn_key)[0..16]>,
-- N<md5(brand_key|name_key)[0..16]>, S<md5(source_id|source_sku)[0..16]>. New products
-- are founded key by key, and the weaker rules run again after each (the transform lists
-- 042, 043 and 044 more than once), so an offer without a GTIN joins the product that a
-- GTIN-bearing offer of the same batch founds. 048 then writes the new products and
-- mappings, once.
--
-- All of it works on offer_work, the batch's offers read from staging once. No statement
-- reads the table it writes through a join: a table that is empty when a statement is
-- planned (the first day) would otherwise be scanned once per row the statement adds.

-- The batch's offers, with their override or their mapping; neither: new. An override to
-- a product that does not exist founds it.
INSERT INTO offer_work
    (batch_id, source_id, source_sku, file_key, line_no, name, brand, category, price,
     price_kind, price_max, regular_price, currency, availability, url, observed_at, gtin14,
     mpn_key, brand_key, name_key, product_id, match_rule, is_new, founds)
SELECT s.batch_id, s.source_id, s.source_sku, s.file_key, s.line_no, s.name, s.brand,
       s.category, s.price, s.price_kind, s.price_max, s.regular_price, s.currency,
       s.availability, s.url, s.observed_at, s.gtin14, s.mpn_key, s.brand_key, s.name_key,
       COALESCE(o.product_id, po.product_id),
       CASE WHEN o.product_id IS NOT NULL THEN 'override' ELSE po.match_rule END,
       po.source_id IS NULL,
       o.product_id IS NOT NULL AND p.product_id IS NULL
FROM staged_offers s
LEFT JOIN product_overrides o ON o.source_id = s.source_id AND o.source_sku = s.source_sku
LEFT JOIN product_offers po ON po.source_id = s.source_id AND po.source_sku = s.source_sku
LEFT JOIN dim_products p ON p.product_id = o.product_id
WHERE s.batch_id = :batch_id;

-- A mapped offer with an override is re-pointed.
UPDATE product_offers
SET product_id = w.product_id, match_rule = 'override'
FROM offer_work w
WHERE w.batch_id = :batch_id AND w.match_rule = 'override' AND NOT w.is_new
  AND w.source_id = product_offers.source_id AND w.source_sku = product_offers.source_sku
  AND (product_offers.product_id <> w.product_id OR product_offers.match_rule <> 'override');
