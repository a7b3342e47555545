-- A price we cannot convert to USD is held back with a reason, not dropped.
INSERT INTO quarantined_rows
    (batch_id, batch_date, source_id, file_key, line_no, product_id, reason_code, detail)
SELECT w.batch_id, w.batch_date, w.source_id, w.file_key, w.line_no, w.product_id,
       'NO_FX_RATE',
       'no ' || w.currency || ' to USD rate in the 7 days up to ' || CAST(w.batch_date AS VARCHAR(10))
FROM staged_ranked w
LEFT JOIN batch_fx f ON f.batch_id = w.batch_id AND f.currency = w.currency
WHERE w.batch_id = :batch_id AND w.rank_in_key = 1 AND f.currency IS NULL;
