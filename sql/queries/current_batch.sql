-- The batch currently staged for the day; a stage event of another batch is stale.
SELECT batch_id FROM batches WHERE batch_date = CAST(:batch_date AS DATE)
