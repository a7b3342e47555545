-- The batch currently staged for the day, and its load sequence; a stage event of
-- another batch is stale, and staging refuses a batch from an earlier scrape.
SELECT batch_id, load_seq FROM batches WHERE batch_date = CAST(:batch_date AS DATE)
