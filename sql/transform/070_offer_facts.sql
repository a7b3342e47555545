-- The day's offer facts: the passing, kept offers (one per product, source and day),
-- with the rate each was converted with and its lineage (file, line, manifest).
INSERT INTO fact_offer_prices
    (product_id, source_id, price_date, source_sku, name, brand, source_category, price,
     price_kind, price_max, regular_price, currency, fx_rate, fx_rate_date, fx_source,
     price_usd, regular_price_usd, availability, url, observed_at, batch_id, file_key,
     line_no, manifest_sha256)
SELECT c.product_id, c.source_id, c.batch_date, c.source_sku, c.name, c.brand,
       c.source_category, c.price, c.price_kind, c.price_max, c.regular_price, c.currency,
       c.usd_per_unit, c.fx_rate_date, c.fx_source, c.price_usd, c.regular_price_usd,
       c.availability, c.url, c.observed_at, c.batch_id, c.file_key, c.line_no,
       b.manifest_sha256
FROM offer_checks c
JOIN batches b ON b.batch_id = :batch_id
WHERE c.batch_id = :batch_id AND c.reason_code IS NULL AND c.offer_rank = 1;
