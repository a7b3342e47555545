-- Row accounting of a transformed batch: staged = facts + quarantined + duplicates.
SELECT
    (SELECT COUNT(*) FROM staging_prices WHERE batch_id = :batch_id) AS staged,
    (SELECT COUNT(*) FROM fact_prices WHERE batch_id = :batch_id) AS facts,
    (SELECT COUNT(*) FROM quarantined_rows WHERE batch_id = :batch_id) AS quarantined,
    (SELECT COUNT(*) FROM duplicate_rows WHERE batch_id = :batch_id) AS duplicates
