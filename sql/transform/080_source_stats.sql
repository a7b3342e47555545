-- Rows per source and day: staged, refused by the loader, quarantined by the transform
-- (the trust part of confidence reads 30 days of these).
INSERT INTO source_day_stats (source_id, price_date, rows_staged, rows_rejected, rows_quarantined)
SELECT x.source_id, CAST(:batch_date AS DATE), SUM(x.staged), SUM(x.rejected), SUM(x.quarantined)
FROM (
    SELECT source_id, COUNT(*) AS staged, CAST(0 AS BIGINT) AS rejected, CAST(0 AS BIGINT) AS quarantined
    FROM staging_prices WHERE batch_id = :batch_id GROUP BY source_id
    UNION ALL
    SELECT source_id, CAST(0 AS BIGINT), COUNT(*), CAST(0 AS BIGINT)
    FROM rejected_rows WHERE batch_id = :batch_id GROUP BY source_id
    UNION ALL
    SELECT source_id, CAST(0 AS BIGINT), CAST(0 AS BIGINT), COUNT(*)
    FROM quarantined_rows WHERE batch_id = :batch_id GROUP BY source_id
) x
WHERE EXISTS (SELECT 1 FROM batches WHERE batch_id = :batch_id)
GROUP BY x.source_id;
