-- One observation per product and source per day: the latest one wins. The others are
-- kept in duplicate_rows with the row that was kept instead.
INSERT INTO duplicate_rows
    (batch_id, batch_date, source_id, file_key, line_no, product_id, kept_file_key, kept_line_no)
SELECT d.batch_id, d.batch_date, d.source_id, d.file_key, d.line_no, d.product_id,
       k.file_key, k.line_no
FROM staged_ranked d
JOIN staged_ranked k
  ON k.batch_id = d.batch_id AND k.product_id = d.product_id AND k.source_id = d.source_id
 AND k.rank_in_key = 1
WHERE d.batch_id = :batch_id AND k.batch_id = :batch_id AND d.rank_in_key > 1;
