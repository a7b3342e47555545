-- The day's offer facts: one per product, source and day, with the rate it was
-- converted with and its lineage (file, line, manifest).
INSERT INTO fact_offer_prices
    (product_id, source_id, price_date, source_sku, name, brand, source_category, price,
     price_kind, price_max, regular_price, currency, fx_rate, fx_rate_date, fx_source,
     price_usd, regular_price_usd, availability, url, observed_at, batch_id, file_key,
     line_no, manifest_sha256)
SELECT c.product_id, c.source_id, c.batch_date, c.source_sku, s.name, s.brand, s.category,
       s.price, s.price_kind, s.price_max, s.regular_price, s.currency, c.usd_per_unit,
       c.fx_rate_date, c.fx_source, c.price_usd, c.regular_price_usd, s.availability, s.url,
       s.observed_at, c.batch_id, c.file_key, c.line_no, b.manifest_sha256
FROM offer_checks c
JOIN staging_prices s
  ON s.batch_id = c.batch_id AND s.source_id = c.source_id AND s.source_sku = c.source_sku
 AND s.file_key = c.file_key AND s.line_no = c.line_no
JOIN batches b ON b.batch_id = c.batch_id
WHERE c.batch_id = :batch_id AND s.batch_id = :batch_id
  AND c.reason_code IS NULL AND c.offer_rank = 1;
