-- PostgreSQL only: the lookups the loader, the transform and the syncer make, and the
-- work table's storage. (Redshift has no indexes; sort and distribution keys for it are
-- not declared yet.) Primary keys declared in 001 already give: batches (batch_id), fx_rates (rate_date, base, quote),
-- dim_products (product_id), product_offers (source_id, source_sku), product_overrides
-- (source_id, source_sku), offer_work and offer_checks (batch_id, source_id, source_sku),
-- fact_offer_prices (product_id, source_id, price_date), fact_product_prices
-- (product_id, price_date) and source_day_stats (source_id, price_date).

-- The loader replaces a day; the transform and the syncer read a batch; batch_keys by
-- batch, and by product (the versions the syncer writes at).
CREATE INDEX IF NOT EXISTS batches_date ON batches (batch_date);
CREATE INDEX IF NOT EXISTS staging_prices_date ON staging_prices (batch_date);
CREATE INDEX IF NOT EXISTS staging_prices_offer ON staging_prices (batch_id, source_id, source_sku);
CREATE INDEX IF NOT EXISTS rejected_rows_date ON rejected_rows (batch_date);
CREATE INDEX IF NOT EXISTS rejected_rows_batch ON rejected_rows (batch_id);
CREATE INDEX IF NOT EXISTS batch_fx_batch ON batch_fx (batch_id, currency);
CREATE INDEX IF NOT EXISTS batch_keys_batch ON batch_keys (batch_id, product_id, source_id);
CREATE INDEX IF NOT EXISTS batch_keys_product ON batch_keys (product_id);

-- Matching (040): an existing offer by GTIN, by MPN and brand, by name and brand. Names
-- can be longer than a B-tree entry may be, so the name lookup is a hash index.
CREATE INDEX IF NOT EXISTS product_offers_gtin ON product_offers (gtin14);
CREATE INDEX IF NOT EXISTS product_offers_mpn ON product_offers (mpn_key, brand_key);
CREATE INDEX IF NOT EXISTS product_offers_name ON product_offers USING hash (name_key);
-- The offers a batch mapped first, by product (a product's GTIN).
CREATE INDEX IF NOT EXISTS product_offers_first_batch ON product_offers (first_batch_id, product_id);
CREATE INDEX IF NOT EXISTS quarantine_releases_day ON quarantine_releases (price_date, source_id, source_sku);
-- Rules as data: one seed row and one operator row per key at most.
CREATE UNIQUE INDEX IF NOT EXISTS brand_aliases_seed ON brand_aliases (alias_key) WHERE origin = 'seed';
CREATE UNIQUE INDEX IF NOT EXISTS brand_aliases_operator ON brand_aliases (alias_key) WHERE origin <> 'seed';
CREATE UNIQUE INDEX IF NOT EXISTS category_price_bounds_seed ON category_price_bounds (category) WHERE origin = 'seed';
CREATE UNIQUE INDEX IF NOT EXISTS category_price_bounds_operator ON category_price_bounds (category) WHERE origin <> 'seed';

-- The work rows of a batch (offer_work, offer_checks) live only inside a transform's
-- transaction, so they need no WAL: unlogged (a crash empties the tables, which hold
-- nothing between transforms anyway). offer_checks is found by its primary key only;
-- offer_work's new offers (a few, on most days) by batch and by each matching key.
ALTER TABLE offer_work SET UNLOGGED;
ALTER TABLE offer_checks SET UNLOGGED;
ALTER TABLE product_windows SET UNLOGGED;
-- Matching (041 to 044) sets product_id, match_rule and founds on the new offers' rows,
-- none of them indexed: with room left on each page, each update is a heap-only tuple
-- (HOT) on the same page, and no index gets a new entry. (Each row is updated at most
-- once, so half of each page is enough.)
ALTER TABLE offer_work SET (fillfactor = 50);
CREATE INDEX IF NOT EXISTS offer_work_new ON offer_work (batch_id) WHERE is_new;
CREATE INDEX IF NOT EXISTS offer_work_new_gtin ON offer_work (gtin14) WHERE is_new;
CREATE INDEX IF NOT EXISTS offer_work_new_mpn ON offer_work (mpn_key, brand_key) WHERE is_new;
CREATE INDEX IF NOT EXISTS offer_work_new_name ON offer_work USING hash (name_key) WHERE is_new;

-- Facts: a day's rows (reset, the day's aggregates), a product's history windows (the
-- primary keys), a product's offers of one day (the syncer), each product's current row.
-- No index leads with the date and goes on with the product: without statistics (a young
-- table) the planner takes such an index for a product's 30-day window and scans the
-- window of every product per row.
CREATE INDEX IF NOT EXISTS fact_offer_prices_date ON fact_offer_prices (price_date);
CREATE INDEX IF NOT EXISTS fact_offer_prices_product_day ON fact_offer_prices (product_id, price_date);
CREATE INDEX IF NOT EXISTS fact_product_prices_date ON fact_product_prices (price_date);
CREATE INDEX IF NOT EXISTS fact_product_prices_current ON fact_product_prices (product_id, price_date) WHERE is_current;

-- Transform outcomes of a day or a batch.
CREATE INDEX IF NOT EXISTS quarantined_rows_date ON quarantined_rows (batch_date);
CREATE INDEX IF NOT EXISTS quarantined_rows_batch ON quarantined_rows (batch_id);
CREATE INDEX IF NOT EXISTS duplicate_rows_date ON duplicate_rows (batch_date);
CREATE INDEX IF NOT EXISTS duplicate_rows_batch ON duplicate_rows (batch_id);
