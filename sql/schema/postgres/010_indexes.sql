-- PostgreSQL only: the lookups the transform and the syncer make. (Redshift has no
-- indexes; sort and distribution keys for it are not declared yet.)
CREATE INDEX IF NOT EXISTS staging_prices_batch ON staging_prices (batch_id);
CREATE INDEX IF NOT EXISTS staging_prices_date ON staging_prices (batch_date);
CREATE INDEX IF NOT EXISTS rejected_rows_batch ON rejected_rows (batch_id);
CREATE INDEX IF NOT EXISTS fact_prices_batch ON fact_prices (batch_id);
CREATE INDEX IF NOT EXISTS fact_prices_date ON fact_prices (price_date);
CREATE INDEX IF NOT EXISTS batches_date ON batches (batch_date);
