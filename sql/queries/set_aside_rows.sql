-- The rows of a day's current batch that did not become facts, per kind (`rejected` by
-- the loader, `quarantined` by the transform, `duplicate` removed by it), source and
-- reason: how many, and the first of them (by file and line) as a sample. For
-- `ppmt rejects`; it reads only the day's batch, through the batch_id indexes.
--
-- Columns: kind, source_id, reason_code, row_count, file_key, line_no, detail.
SELECT v.kind, v.source_id, v.reason_code, v.row_count, v.file_key, v.line_no, v.detail
FROM (
    SELECT u.kind, u.source_id, u.reason_code, u.file_key, u.line_no, u.detail,
           COUNT(*) OVER (PARTITION BY u.kind, u.source_id, u.reason_code) AS row_count,
           ROW_NUMBER() OVER (
               PARTITION BY u.kind, u.source_id, u.reason_code ORDER BY u.file_key, u.line_no
           ) AS pick
    FROM (
        SELECT 'rejected' AS kind, r.source_id, r.reason_code, r.file_key, r.line_no, r.detail
        FROM batches b
        JOIN rejected_rows r ON r.batch_id = b.batch_id
        WHERE b.batch_date = CAST(:batch_date AS DATE)
        UNION ALL
        SELECT 'quarantined', q.source_id, q.reason_code, q.file_key, q.line_no, q.detail
        FROM batches b
        JOIN quarantined_rows q ON q.batch_id = b.batch_id
        WHERE b.batch_date = CAST(:batch_date AS DATE)
        UNION ALL
        SELECT 'duplicate', d.source_id, 'DUPLICATE', d.file_key, d.line_no,
               'kept ' || d.kept_file_key || ' line ' || CAST(d.kept_line_no AS VARCHAR(20))
        FROM batches b
        JOIN duplicate_rows d ON d.batch_id = b.batch_id
        WHERE b.batch_date = CAST(:batch_date AS DATE)
    ) u
) v
WHERE v.pick = 1
ORDER BY v.kind, v.source_id, v.reason_code
