-- Offers with a verdict are held back with their reason (flagged, never deleted); of
-- two passing offers of one product from one source, the one not kept is a duplicate,
-- recorded with the row kept instead.
INSERT INTO quarantined_rows
    (batch_id, batch_date, source_id, file_key, line_no, source_sku, product_id, price_usd,
     reason_code, detail)
SELECT batch_id, batch_date, source_id, file_key, line_no, source_sku, product_id, price_usd,
       reason_code, detail
FROM offer_checks
WHERE batch_id = :batch_id AND reason_code IS NOT NULL;
INSERT INTO duplicate_rows
    (batch_id, batch_date, source_id, file_key, line_no, source_sku, kept_file_key, kept_line_no)
SELECT batch_id, batch_date, source_id, file_key, line_no, source_sku, kept_file_key, kept_line_no
FROM offer_checks
WHERE batch_id = :batch_id AND reason_code IS NULL AND offer_rank > 1;
