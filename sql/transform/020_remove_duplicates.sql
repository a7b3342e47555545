-- One observation per offer (source, source_sku) per day: the latest wins (then the
-- first file and line). The others go to duplicate_rows with the row kept instead; the
-- view staged_offers (001) is then the batch's offers, one row each.
INSERT INTO duplicate_rows
    (batch_id, batch_date, source_id, file_key, line_no, source_sku, kept_file_key, kept_line_no)
SELECT r.batch_id, r.batch_date, r.source_id, r.file_key, r.line_no, r.source_sku,
       r.kept_file_key, r.kept_line_no
FROM (
    SELECT s.batch_id, s.batch_date, s.source_id, s.file_key, s.line_no, s.source_sku,
           ROW_NUMBER() OVER (
               PARTITION BY s.source_id, s.source_sku
               ORDER BY s.observed_at DESC, s.file_key, s.line_no
           ) AS rank_in_offer,
           FIRST_VALUE(s.file_key) OVER (
               PARTITION BY s.source_id, s.source_sku
               ORDER BY s.observed_at DESC, s.file_key, s.line_no
               ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING
           ) AS kept_file_key,
           FIRST_VALUE(s.line_no) OVER (
               PARTITION BY s.source_id, s.source_sku
               ORDER BY s.observed_at DESC, s.file_key, s.line_no
               ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING
           ) AS kept_line_no
    FROM staging_prices s
    WHERE s.batch_id = :batch_id
) r
WHERE r.rank_in_offer > 1;
