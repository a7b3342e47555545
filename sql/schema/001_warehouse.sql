-- Warehouse tables and views. Portable DDL: runs unchanged on PostgreSQL 15 and
-- Amazon Redshift (keys are declared for documentation; Redshift does not enforce them).
-- Applied by `ppmt provision`; every statement is idempotent. The design is in
-- docs/product-model.md.

-- One row per staged batch; the row of a day is the day's current batch.
CREATE TABLE IF NOT EXISTS batches (
    batch_id        VARCHAR(128)  NOT NULL PRIMARY KEY,
    batch_date      DATE          NOT NULL,
    bucket          VARCHAR(255)  NOT NULL,
    manifest_key    VARCHAR(1024) NOT NULL,
    rows_staged     BIGINT        NOT NULL,
    rows_rejected   BIGINT        NOT NULL,
    loaded_at       TIMESTAMPTZ   NOT NULL,
    -- The manifest's creation time in ms: a larger one is a newer scrape of the day.
    load_seq        BIGINT        NOT NULL,
    manifest_sha256 VARCHAR(64)   NOT NULL
);

-- Validated rows of the day's current batch, as the loader read them. The loader COPYs
-- in this column order. gtin14, mpn_key, brand_key and name_key are computed by the
-- loader (ppmt_domain::identity), so both dialects see the same keys.
CREATE TABLE IF NOT EXISTS staging_prices (
    batch_id        VARCHAR(128)  NOT NULL,
    batch_date      DATE          NOT NULL,
    source_id       VARCHAR(128)  NOT NULL,
    file_key        VARCHAR(1024) NOT NULL,
    line_no         BIGINT        NOT NULL,
    source_sku      VARCHAR(256)  NOT NULL,
    name            VARCHAR(1024),
    brand           VARCHAR(256),
    gtin            VARCHAR(32),
    mpn             VARCHAR(128),
    category        VARCHAR(512),
    price           NUMERIC(18,6) NOT NULL,
    price_kind      VARCHAR(8)    NOT NULL,
    price_max       NUMERIC(18,6),
    regular_price   NUMERIC(18,6),
    sale_starts_at  TIMESTAMPTZ,
    sale_ends_at    TIMESTAMPTZ,
    offer_count     INTEGER,
    currency        CHAR(3)       NOT NULL,
    availability    VARCHAR(64),
    url             VARCHAR(2048),
    observed_at     TIMESTAMPTZ   NOT NULL,
    gtin14          CHAR(14),
    mpn_key         VARCHAR(128),
    brand_key       VARCHAR(256),
    name_key        VARCHAR(1024)
);

-- Rows the loader refused, with a reason code and the row as it was.
CREATE TABLE IF NOT EXISTS rejected_rows (
    batch_id        VARCHAR(128)  NOT NULL,
    batch_date      DATE          NOT NULL,
    source_id       VARCHAR(128)  NOT NULL,
    file_key        VARCHAR(1024) NOT NULL,
    line_no         BIGINT        NOT NULL,
    reason_code     VARCHAR(32)   NOT NULL,
    detail          VARCHAR(1024) NOT NULL,
    raw_row         VARCHAR(65535) NOT NULL
);

-- Reference rates: 1 base_currency = rate quote_currency on rate_date.
CREATE TABLE IF NOT EXISTS fx_rates (
    rate_date       DATE          NOT NULL,
    base_currency   CHAR(3)       NOT NULL,
    quote_currency  CHAR(3)       NOT NULL,
    rate            NUMERIC(18,8) NOT NULL,
    source          VARCHAR(64)   NOT NULL,
    batch_id        VARCHAR(128)  NOT NULL,
    PRIMARY KEY (rate_date, base_currency, quote_currency)
);

-- The USD rate each currency of a batch is converted with, pinned at the batch's first
-- transform that found one: a replay converts with the same rates bit for bit.
CREATE TABLE IF NOT EXISTS batch_fx (
    batch_id        VARCHAR(128)  NOT NULL,
    currency        CHAR(3)       NOT NULL,
    usd_per_unit    NUMERIC(28,12) NOT NULL,
    rate_date       DATE          NOT NULL,
    source          VARCHAR(64)   NOT NULL
);

-- The (product, source) offer keys the batch's day had before this batch's runs
-- replaced it, accumulated over every run of the batch, so the syncer can rewrite or
-- remove the app's items of keys the day no longer has.
CREATE TABLE IF NOT EXISTS batch_keys (
    batch_id        VARCHAR(128)  NOT NULL,
    product_id      VARCHAR(64)   NOT NULL,
    source_id       VARCHAR(128)  NOT NULL
);

-- Our products. Ids are functions of the matching key (G<gtin14>, M.., N.., S..) or an
-- operator's choice (product_overrides).
CREATE TABLE IF NOT EXISTS dim_products (
    product_id       VARCHAR(64)   NOT NULL PRIMARY KEY,
    gtin14           CHAR(14),
    brand_key        VARCHAR(256),
    name             VARCHAR(1024),
    brand            VARCHAR(256),
    created_batch_id VARCHAR(128)  NOT NULL,
    created_date     DATE          NOT NULL
);

-- Every offer (a source's SKU) ever seen, mapped to its product once and for good
-- (overrides excepted), with the keys it was matched on.
CREATE TABLE IF NOT EXISTS product_offers (
    source_id       VARCHAR(128)  NOT NULL,
    source_sku      VARCHAR(256)  NOT NULL,
    product_id      VARCHAR(64)   NOT NULL,
    -- gtin, mpn_brand, name_brand, new or override
    match_rule      VARCHAR(16)   NOT NULL,
    gtin14          CHAR(14),
    mpn_key         VARCHAR(128),
    -- after brand_aliases
    brand_key       VARCHAR(256),
    name_key        VARCHAR(1024),
    first_batch_id  VARCHAR(128)  NOT NULL,
    first_date      DATE          NOT NULL,
    PRIMARY KEY (source_id, source_sku)
);

-- An operator's mapping of an offer to a product; re-applied on every transform.
CREATE TABLE IF NOT EXISTS product_overrides (
    source_id       VARCHAR(128)  NOT NULL,
    source_sku      VARCHAR(256)  NOT NULL,
    product_id      VARCHAR(64)   NOT NULL,
    note            VARCHAR(1024),
    created_at      TIMESTAMPTZ,
    PRIMARY KEY (source_id, source_sku)
);

-- An operator's release of a quarantined offer: that check is skipped for the offer on
-- that day at the next transform (a replay) of the day.
CREATE TABLE IF NOT EXISTS quarantine_releases (
    price_date      DATE          NOT NULL,
    source_id       VARCHAR(128)  NOT NULL,
    source_sku      VARCHAR(256)  NOT NULL,
    reason_code     VARCHAR(32)   NOT NULL,
    note            VARCHAR(1024),
    released_at     TIMESTAMPTZ
);

-- Rules as data. Rows with origin = 'seed' are replaced by sql/seed at provision; other
-- origins (an operator's) are kept, and win over a seed row of the same key. A key has
-- at most one seed row and one operator row (unique indexes on PostgreSQL; on Redshift a
-- second row would duplicate offers, which the transform's row accounting refuses).
CREATE TABLE IF NOT EXISTS brand_aliases (
    alias_key       VARCHAR(256)  NOT NULL,
    brand_key       VARCHAR(256)  NOT NULL,
    origin          VARCHAR(32)   NOT NULL
);

-- source_path: LOWER(offer category) LIKE pattern; keyword: name_key LIKE pattern (the
-- loader's name_key is the name in lower case, NFKC, whitespace collapsed).
-- The best rule is the lowest priority, then source_path before keyword, then category.
CREATE TABLE IF NOT EXISTS category_rules (
    rule_kind       VARCHAR(16)   NOT NULL,
    pattern         VARCHAR(256)  NOT NULL,
    category        VARCHAR(64)   NOT NULL,
    priority        INTEGER       NOT NULL,
    origin          VARCHAR(32)   NOT NULL
);

CREATE TABLE IF NOT EXISTS category_price_bounds (
    category        VARCHAR(64)   NOT NULL,
    min_usd         NUMERIC(18,2) NOT NULL,
    max_usd         NUMERIC(18,2) NOT NULL,
    origin          VARCHAR(32)   NOT NULL
);

-- Work rows of one transform (040): one per offer (source, sku) of the batch, the staged
-- row as staged_offers gives it (brand_key resolved), read from staging once. Matching
-- fills product_id here: from the offer's mapping or override when it has one (is_new
-- false for a mapped offer), else rule by rule; founds marks the offers whose new product
-- dim_products does not have yet. product_offers and dim_products are then written once
-- each from these rows, so no statement reads the table it writes. Emptied for the batch
-- at reset (010) and cleanup (110).
CREATE TABLE IF NOT EXISTS offer_work (
    batch_id          VARCHAR(128)  NOT NULL,
    source_id         VARCHAR(128)  NOT NULL,
    source_sku        VARCHAR(256)  NOT NULL,
    file_key          VARCHAR(1024) NOT NULL,
    line_no           BIGINT        NOT NULL,
    name              VARCHAR(1024),
    brand             VARCHAR(256),
    category          VARCHAR(512),
    price             NUMERIC(18,6) NOT NULL,
    price_kind        VARCHAR(8)    NOT NULL,
    price_max         NUMERIC(18,6),
    regular_price     NUMERIC(18,6),
    currency          CHAR(3)       NOT NULL,
    availability      VARCHAR(64),
    url               VARCHAR(2048),
    observed_at       TIMESTAMPTZ   NOT NULL,
    gtin14            CHAR(14),
    mpn_key           VARCHAR(128),
    brand_key         VARCHAR(256),
    name_key          VARCHAR(1024),
    product_id        VARCHAR(64),
    match_rule        VARCHAR(16),
    is_new            BOOLEAN       NOT NULL,
    founds            BOOLEAN       NOT NULL,
    PRIMARY KEY (batch_id, source_id, source_sku)
);

-- Work rows of one transform (050): the best category rule of each (source category,
-- name_key) of the batch's offers, found once per key rather than per offer (a NULL key
-- is told apart from an empty one by the no_ flags), with the bounds of the rule's
-- category; no rule: rule_category NULL and the bounds of 'uncategorized'. Written before
-- the checks and analysed, so the checks join their offers to it knowing its size. Emptied
-- for the batch at reset (010) and cleanup (110).
CREATE TABLE IF NOT EXISTS category_work (
    batch_id          VARCHAR(128)  NOT NULL,
    category_key      VARCHAR(512)  NOT NULL,
    no_category       BOOLEAN       NOT NULL,
    name_key          VARCHAR(1024) NOT NULL,
    no_name           BOOLEAN       NOT NULL,
    rule_category     VARCHAR(64),
    priority          INTEGER,
    kind              INTEGER,
    min_usd           NUMERIC(18,2),
    max_usd           NUMERIC(18,2)
);

-- Work rows of one transform (050): one per offer (source, sku) of the batch, with the
-- staged row, everything the checks used and the verdict. Emptied for the batch at reset
-- (010) and cleanup (110); written once, never updated. Later steps read it alone (never
-- joined to another table of the batch), because the planner cannot know its size: its
-- rows live only inside the transform's transaction. Each step reads all of the batch's
-- rows, so it has no key to maintain (one row per offer follows from offer_work's key).
CREATE TABLE IF NOT EXISTS offer_checks (
    batch_id          VARCHAR(128)  NOT NULL,
    batch_date        DATE          NOT NULL,
    source_id         VARCHAR(128)  NOT NULL,
    source_sku        VARCHAR(256)  NOT NULL,
    file_key          VARCHAR(1024) NOT NULL,
    line_no           BIGINT        NOT NULL,
    product_id        VARCHAR(64)   NOT NULL,
    -- the staged row, as the offer fact (070) needs it
    name              VARCHAR(1024),
    brand             VARCHAR(256),
    source_category   VARCHAR(512),
    price             NUMERIC(18,6) NOT NULL,
    price_kind        VARCHAR(8)    NOT NULL,
    price_max         NUMERIC(18,6),
    regular_price     NUMERIC(18,6),
    currency          CHAR(3)       NOT NULL,
    availability      VARCHAR(64),
    url               VARCHAR(2048),
    observed_at       TIMESTAMPTZ   NOT NULL,
    -- conversion (NULL: no rate)
    usd_per_unit      NUMERIC(28,12),
    fx_rate_date      DATE,
    fx_source         VARCHAR(64),
    price_usd         NUMERIC(18,2),
    regular_price_usd NUMERIC(18,2),
    -- the offer's best category rule, and the product's category and its bounds
    offer_category    VARCHAR(64),
    category_priority INTEGER,
    category_kind     INTEGER,
    product_category  VARCHAR(64)   NOT NULL,
    min_usd           NUMERIC(18,2),
    max_usd           NUMERIC(18,2),
    -- the same source's latest earlier price of the product (30 days)
    prev_price_usd    NUMERIC(18,2),
    prev_price_date   DATE,
    -- the product's daily market prices of the 30 days before
    hist_days         INTEGER       NOT NULL,
    hist_median       NUMERIC(20,4),
    hist_mad          NUMERIC(22,6),
    -- operator releases of this offer on this day
    released_scale    BOOLEAN       NOT NULL,
    released_bounds   BOOLEAN       NOT NULL,
    released_outlier  BOOLEAN       NOT NULL,
    -- the verdict (NULL = passes) and, among passing offers of one product and source,
    -- the rank (1 = kept: lowest USD price, then smallest sku) and the row kept
    reason_code       VARCHAR(32),
    detail            VARCHAR(1024),
    offer_rank        INTEGER,
    kept_file_key     VARCHAR(1024),
    kept_line_no      BIGINT
);

-- Work rows of one transform (050): one per product of the batch, its market prices of
-- the 30 days before the batch date summarised, read from the facts once: for the
-- median/MAD check (050) and for the earlier day, 7- and 30-day figures (090). Emptied
-- for the batch at reset (010) and cleanup (110); written once, read whole per batch.
CREATE TABLE IF NOT EXISTS product_windows (
    batch_id          VARCHAR(128)  NOT NULL,
    product_id        VARCHAR(64)   NOT NULL,
    -- days with a market price, their median and MAD (only where an offer could be an
    -- outlier, else NULL), and the lowest and highest of them
    hist_days         INTEGER       NOT NULL,
    hist_median       NUMERIC(20,4),
    hist_mad          NUMERIC(22,6),
    min_30            NUMERIC(18,2),
    max_30            NUMERIC(18,2),
    -- the latest of those days and its market price
    prev_date         DATE,
    prev_market       NUMERIC(18,2),
    -- sum, count, min and max of the market prices of the 6 and the 29 days before
    sum_6             NUMERIC(28,2),
    n_6               INTEGER       NOT NULL,
    min_6             NUMERIC(18,2),
    max_6             NUMERIC(18,2),
    sum_29            NUMERIC(28,2),
    n_29              INTEGER       NOT NULL,
    min_29            NUMERIC(18,2),
    max_29            NUMERIC(18,2)
);

-- One price per product, source and day: the offer facts.
CREATE TABLE IF NOT EXISTS fact_offer_prices (
    product_id        VARCHAR(64)   NOT NULL,
    source_id         VARCHAR(128)  NOT NULL,
    price_date        DATE          NOT NULL,
    source_sku        VARCHAR(256)  NOT NULL,
    name              VARCHAR(1024),
    brand             VARCHAR(256),
    source_category   VARCHAR(512),
    price             NUMERIC(18,6) NOT NULL,
    price_kind        VARCHAR(8)    NOT NULL,
    price_max         NUMERIC(18,6),
    regular_price     NUMERIC(18,6),
    currency          CHAR(3)       NOT NULL,
    fx_rate           NUMERIC(28,12) NOT NULL,
    fx_rate_date      DATE          NOT NULL,
    fx_source         VARCHAR(64)   NOT NULL,
    price_usd         NUMERIC(18,2) NOT NULL,
    regular_price_usd NUMERIC(18,2),
    availability      VARCHAR(64),
    url               VARCHAR(2048),
    observed_at       TIMESTAMPTZ   NOT NULL,
    batch_id          VARCHAR(128)  NOT NULL,
    file_key          VARCHAR(1024) NOT NULL,
    line_no           BIGINT        NOT NULL,
    manifest_sha256   VARCHAR(64)   NOT NULL,
    PRIMARY KEY (product_id, source_id, price_date)
);

-- One row per product and day: the enriched product facts. is_current marks each
-- product's newest day.
CREATE TABLE IF NOT EXISTS fact_product_prices (
    product_id           VARCHAR(64)   NOT NULL,
    price_date           DATE          NOT NULL,
    name                 VARCHAR(1024),
    brand                VARCHAR(256),
    gtin14               CHAR(14),
    category             VARCHAR(64)   NOT NULL,
    market_price_usd     NUMERIC(18,2) NOT NULL,
    retail_price_usd     NUMERIC(18,2) NOT NULL,
    lowest_price_usd     NUMERIC(18,2) NOT NULL,
    sources              INTEGER       NOT NULL,
    dispersion           NUMERIC(10,4) NOT NULL,
    prev_price_date      DATE,
    price_change_pct     NUMERIC(12,2),
    trend                VARCHAR(8),
    avg_7d               NUMERIC(18,2),
    min_7d               NUMERIC(18,2),
    max_7d               NUMERIC(18,2),
    avg_30d              NUMERIC(18,2),
    min_30d              NUMERIC(18,2),
    max_30d              NUMERIC(18,2),
    category_avg_usd     NUMERIC(18,2),
    confidence           NUMERIC(4,3)  NOT NULL,
    availability_summary VARCHAR(64),
    is_current           BOOLEAN       NOT NULL,
    batch_id             VARCHAR(128)  NOT NULL,
    manifest_sha256      VARCHAR(64)   NOT NULL,
    PRIMARY KEY (product_id, price_date)
);

-- Rows per source and day: staged, refused by the loader, held back by the transform.
CREATE TABLE IF NOT EXISTS source_day_stats (
    source_id        VARCHAR(128)  NOT NULL,
    price_date       DATE          NOT NULL,
    rows_staged      BIGINT        NOT NULL,
    rows_rejected    BIGINT        NOT NULL,
    rows_quarantined BIGINT        NOT NULL,
    PRIMARY KEY (source_id, price_date)
);

-- Staged rows held back by the transform, with a reason code (flagged, never deleted).
CREATE TABLE IF NOT EXISTS quarantined_rows (
    batch_id        VARCHAR(128)  NOT NULL,
    batch_date      DATE          NOT NULL,
    source_id       VARCHAR(128)  NOT NULL,
    file_key        VARCHAR(1024) NOT NULL,
    line_no         BIGINT        NOT NULL,
    source_sku      VARCHAR(256)  NOT NULL,
    -- our product, when known
    product_id      VARCHAR(64),
    -- the converted price, when there was a rate
    price_usd       NUMERIC(18,2),
    reason_code     VARCHAR(32)   NOT NULL,
    detail          VARCHAR(1024) NOT NULL
);

-- Staged rows removed as duplicates, and the row that was kept instead: a repeated
-- observation of one SKU (the latest is kept), or a second offer of one product from
-- one source (the lowest USD price is kept).
CREATE TABLE IF NOT EXISTS duplicate_rows (
    batch_id        VARCHAR(128)  NOT NULL,
    batch_date      DATE          NOT NULL,
    source_id       VARCHAR(128)  NOT NULL,
    file_key        VARCHAR(1024) NOT NULL,
    line_no         BIGINT        NOT NULL,
    source_sku      VARCHAR(256)  NOT NULL,
    kept_file_key   VARCHAR(1024) NOT NULL,
    kept_line_no    BIGINT        NOT NULL
);

-- USD per one unit of each currency, per rate date, from rates of any single base.
CREATE OR REPLACE VIEW fx_usd_per_unit AS
SELECT q.rate_date, q.quote_currency AS currency, u.rate / q.rate AS usd_per_unit, q.source
FROM fx_rates q
JOIN fx_rates u
  ON u.rate_date = q.rate_date AND u.base_currency = q.base_currency AND u.quote_currency = 'USD'
UNION ALL
SELECT rate_date, base_currency AS currency, rate AS usd_per_unit, source
FROM fx_rates
WHERE quote_currency = 'USD';

-- The batch's offers: one staged row per (source, source_sku), the latest observation
-- (then the first file and line; 020 records the others in duplicate_rows), with
-- brand_key resolved through brand_aliases (an operator's alias wins over the seed's).
-- Always read with WHERE batch_id = the batch, which reaches the staging rows through
-- the window's partition.
CREATE OR REPLACE VIEW staged_offers AS
SELECT s.batch_id, s.batch_date, s.source_id, s.file_key, s.line_no, s.source_sku, s.name,
       s.brand, s.category, s.price, s.price_kind, s.price_max, s.regular_price, s.currency,
       s.availability, s.url, s.observed_at, s.gtin14, s.mpn_key, s.brand_key, s.name_key
FROM (
    SELECT r.batch_id, r.batch_date, r.source_id, r.file_key, r.line_no, r.source_sku, r.name,
           r.brand, r.category, r.price, r.price_kind, r.price_max, r.regular_price,
           r.currency, r.availability, r.url, r.observed_at, r.gtin14, r.mpn_key,
           COALESCE(ao.brand_key, sa.brand_key, r.brand_key) AS brand_key, r.name_key,
           ROW_NUMBER() OVER (
               PARTITION BY r.batch_id, r.source_id, r.source_sku
               ORDER BY r.observed_at DESC, r.file_key, r.line_no
           ) AS rank_in_offer
    FROM staging_prices r
    -- (joined before the ranking, whose filter the planner cannot estimate: a join after
    -- it was planned for a few thousand rows, as a loop over the aliases per row)
    LEFT JOIN brand_aliases ao ON ao.alias_key = r.brand_key AND ao.origin <> 'seed'
    LEFT JOIN brand_aliases sa ON sa.alias_key = r.brand_key AND sa.origin = 'seed'
) s
WHERE s.rank_in_offer = 1;

-- The offers matching compares a new offer with (041 to 043): every mapped offer, and the
-- offers the running transform has matched so far (their mappings are written at 048).
-- Another transform's work rows are never visible: they live only inside its transaction.
CREATE OR REPLACE VIEW mapped_offers AS
SELECT product_id, gtin14, mpn_key, brand_key, name_key
FROM product_offers
UNION ALL
SELECT product_id, gtin14, mpn_key, brand_key, name_key
FROM offer_work
WHERE is_new AND product_id IS NOT NULL;
