-- Row accounting of a transformed batch: staged = offer facts + quarantined + duplicates.
SELECT
    (SELECT COUNT(*) FROM staging_prices WHERE batch_id = :batch_id) AS staged,
    (SELECT COUNT(*) FROM fact_offer_prices
     WHERE price_date = CAST(:batch_date AS DATE) AND batch_id = :batch_id) AS facts,
    (SELECT COUNT(*) FROM quarantined_rows WHERE batch_id = :batch_id) AS quarantined,
    (SELECT COUNT(*) FROM duplicate_rows WHERE batch_id = :batch_id) AS duplicates
