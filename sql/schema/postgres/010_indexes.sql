-- PostgreSQL only: the lookups the loader, the transform and the syncer make, and the
-- work table's storage. (Redshift has no indexes; sort and distribution keys for it are
-- not declared yet.) Primary keys declared in 001 already give: batches (batch_id), fx_rates (rate_date, base, quote),
-- dim_products (product_id), product_offers (source_id, source_sku), product_overrides
-- (source_id, source_sku), offer_work (batch_id, source_id, source_sku),
-- fact_offer_prices (product_id, source_id, price_date), fact_product_prices
-- (product_id, price_date) and source_day_stats (source_id, price_date).

-- The loader finds a day's batches, and replaces their rows by batch id; the transform
-- and the syncer read a batch; batch_keys by batch, and by product (the versions the
-- syncer writes at). Staged and rejected rows are never read by day: their indexes by
-- date, which every staged row paid for, are dropped where a warehouse still has them.
CREATE INDEX IF NOT EXISTS batches_date ON batches (batch_date);
DROP INDEX IF EXISTS staging_prices_date;
CREATE INDEX IF NOT EXISTS staging_prices_offer ON staging_prices (batch_id, source_id, source_sku);
DROP INDEX IF EXISTS rejected_rows_date;
CREATE INDEX IF NOT EXISTS rejected_rows_batch ON rejected_rows (batch_id);
CREATE INDEX IF NOT EXISTS batch_fx_batch ON batch_fx (batch_id, currency);
CREATE INDEX IF NOT EXISTS batch_keys_batch ON batch_keys (batch_id, product_id, source_id);
CREATE INDEX IF NOT EXISTS batch_keys_product ON batch_keys (product_id);

-- Matching (040): an existing offer by GTIN, by MPN and brand, by name and brand. Names
-- can be longer than a B-tree entry may be, so the name lookup is a hash index. A rule
-- compares keys with `=`, so an offer without the key is never looked up by it: the
-- indexes leave those out (many offers have no GTIN or MPN, and each index entry is work
-- when a day brings many new offers). The first versions indexed every offer; they are
-- dropped where a warehouse still has them.
DROP INDEX IF EXISTS product_offers_gtin;
DROP INDEX IF EXISTS product_offers_mpn;
DROP INDEX IF EXISTS product_offers_name;
CREATE INDEX IF NOT EXISTS product_offers_gtin_key ON product_offers (gtin14) WHERE gtin14 IS NOT NULL;
CREATE INDEX IF NOT EXISTS product_offers_mpn_key ON product_offers (mpn_key, brand_key)
    WHERE mpn_key IS NOT NULL AND brand_key IS NOT NULL;
CREATE INDEX IF NOT EXISTS product_offers_name_key ON product_offers USING hash (name_key)
    WHERE name_key IS NOT NULL AND brand_key IS NOT NULL;
-- (The offers a batch mapped first were once indexed by batch and product, for 048's
-- GTIN of a product founded without one; 048 reads the batch's work rows instead.)
DROP INDEX IF EXISTS product_offers_first_batch;
CREATE INDEX IF NOT EXISTS quarantine_releases_day ON quarantine_releases (price_date, source_id, source_sku);
-- Rules as data: one seed row and one operator row per key at most.
CREATE UNIQUE INDEX IF NOT EXISTS brand_aliases_seed ON brand_aliases (alias_key) WHERE origin = 'seed';
CREATE UNIQUE INDEX IF NOT EXISTS brand_aliases_operator ON brand_aliases (alias_key) WHERE origin <> 'seed';
CREATE UNIQUE INDEX IF NOT EXISTS category_price_bounds_seed ON category_price_bounds (category) WHERE origin = 'seed';
CREATE UNIQUE INDEX IF NOT EXISTS category_price_bounds_operator ON category_price_bounds (category) WHERE origin <> 'seed';

-- The work rows of a batch (offer_work, offer_checks, product_windows, category_work)
-- live only inside a transform's transaction, so they need no WAL: unlogged (a crash
-- empties the tables, which hold nothing between transforms anyway). offer_checks is
-- only ever read whole, by batch, so it has no index (its first version had a primary
-- key: dropped where it is still there); offer_work's new offers (a few, on most days)
-- by batch.
ALTER TABLE offer_work SET UNLOGGED;
ALTER TABLE offer_checks SET UNLOGGED;
ALTER TABLE offer_checks DROP CONSTRAINT IF EXISTS offer_checks_pkey;
ALTER TABLE product_windows SET UNLOGGED;
ALTER TABLE category_work SET UNLOGGED;
-- (Columns product_windows gained after its first version, where a warehouse lacks them.)
ALTER TABLE product_windows ADD COLUMN IF NOT EXISTS min_30 NUMERIC(18,2);
ALTER TABLE product_windows ADD COLUMN IF NOT EXISTS max_30 NUMERIC(18,2);
-- Matching (041 to 044) sets product_id, match_rule and founds on the new offers' rows,
-- none of them indexed: with room left on each page, each update is a heap-only tuple
-- (HOT) on the same page, and no index gets a new entry. (Each row is updated at most
-- once, so half of each page is enough.) The new offers are found by batch; the rules
-- (041 to 043) join them to the offers mapped so far with a hash, whether they are a few
-- (the index by batch finds them) or a whole first day (a million, whose entries in
-- indexes by GTIN, MPN and name cost more to write, 3 s, than a hash join costs to
-- build). The first versions had those indexes: dropped where a warehouse still has them.
ALTER TABLE offer_work SET (fillfactor = 50);
CREATE INDEX IF NOT EXISTS offer_work_new ON offer_work (batch_id) WHERE is_new;
DROP INDEX IF EXISTS offer_work_new_gtin;
DROP INDEX IF EXISTS offer_work_new_mpn;
DROP INDEX IF EXISTS offer_work_new_name;
-- The transform analyses offer_work after each statement that fills or matches it (its
-- rows change completely from one statement to the next), eleven times a day, and
-- offer_checks, product_windows and category_work once each. A sample of 3,000 rows
-- (statistics target 10 on every column, against the default 100) tells the planner what
-- it needs, the share of new offers and of each key, and each table's size, at a tenth
-- of the cost.
DO $$
DECLARE c RECORD;
BEGIN
    FOR c IN SELECT attrelid::regclass AS work_table, attname FROM pg_attribute
             WHERE attrelid IN ('offer_work'::regclass, 'offer_checks'::regclass,
                                'product_windows'::regclass, 'category_work'::regclass)
               AND attnum > 0 AND NOT attisdropped LOOP
        EXECUTE format('ALTER TABLE %s ALTER COLUMN %I SET STATISTICS 10', c.work_table, c.attname);
    END LOOP;
END $$;

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
