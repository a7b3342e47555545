-- The work rows of the batch are no longer needed (reasons are in quarantined_rows,
-- duplicates in duplicate_rows, facts in fact_offer_prices).
DELETE FROM offer_work WHERE batch_id = :batch_id
    AND EXISTS (SELECT 1 FROM batches WHERE batch_id = :batch_id);
DELETE FROM offer_checks WHERE batch_id = :batch_id
    AND EXISTS (SELECT 1 FROM batches WHERE batch_id = :batch_id);
DELETE FROM product_windows WHERE batch_id = :batch_id
    AND EXISTS (SELECT 1 FROM batches WHERE batch_id = :batch_id);
DELETE FROM category_work WHERE batch_id = :batch_id
    AND EXISTS (SELECT 1 FROM batches WHERE batch_id = :batch_id);
