-- Warehouse tables and views. Portable DDL: runs unchanged on PostgreSQL 15 and
-- Amazon Redshift (keys are declared for documentation; Redshift does not enforce them).
-- Applied by `ppmt provision`; every statement is idempotent.

-- One row per staged batch; the row of a day is the day's current batch.
CREATE TABLE IF NOT EXISTS batches (
    batch_id        VARCHAR(128)  NOT NULL PRIMARY KEY,
    batch_date      DATE          NOT NULL,
    bucket          VARCHAR(255)  NOT NULL,
    manifest_key    VARCHAR(1024) NOT NULL,
    rows_staged     BIGINT        NOT NULL,
    rows_rejected   BIGINT        NOT NULL,
    loaded_at       TIMESTAMPTZ   NOT NULL
);

-- Validated rows of the day's current batch, as the loader read them.
CREATE TABLE IF NOT EXISTS staging_prices (
    batch_id        VARCHAR(128)  NOT NULL,
    batch_date      DATE          NOT NULL,
    source_id       VARCHAR(128)  NOT NULL,
    file_key        VARCHAR(1024) NOT NULL,
    line_no         BIGINT        NOT NULL,
    product_id      VARCHAR(256)  NOT NULL,
    name            VARCHAR(1024),
    brand           VARCHAR(256),
    gtin            VARCHAR(32),
    price           NUMERIC(18,6) NOT NULL,
    price_kind      VARCHAR(8)    NOT NULL,
    price_max       NUMERIC(18,6),
    currency        CHAR(3)       NOT NULL,
    availability    VARCHAR(64),
    url             VARCHAR(2048),
    observed_at     TIMESTAMPTZ   NOT NULL
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

-- The (product, source) keys the batch's day had before the batch replaced it, so the
-- syncer can update or remove the app's items of keys the new batch no longer has.
CREATE TABLE IF NOT EXISTS batch_keys (
    batch_id        VARCHAR(128)  NOT NULL,
    product_id      VARCHAR(256)  NOT NULL,
    source_id       VARCHAR(128)  NOT NULL
);

-- The USD rate each currency of a batch was converted with (an audit of the conversion).
CREATE TABLE IF NOT EXISTS batch_fx (
    batch_id        VARCHAR(128)  NOT NULL,
    currency        CHAR(3)       NOT NULL,
    usd_per_unit    NUMERIC(28,12) NOT NULL,
    rate_date       DATE          NOT NULL,
    source          VARCHAR(64)   NOT NULL
);

-- One price per product, source and day.
CREATE TABLE IF NOT EXISTS fact_prices (
    product_id      VARCHAR(256)  NOT NULL,
    source_id       VARCHAR(128)  NOT NULL,
    price_date      DATE          NOT NULL,
    name            VARCHAR(1024),
    brand           VARCHAR(256),
    gtin            VARCHAR(32),
    price           NUMERIC(18,6) NOT NULL,
    price_kind      VARCHAR(8)    NOT NULL,
    price_max       NUMERIC(18,6),
    currency        CHAR(3)       NOT NULL,
    usd_per_unit    NUMERIC(28,12) NOT NULL,
    fx_rate_date    DATE          NOT NULL,
    price_usd       NUMERIC(18,2) NOT NULL,
    market_price_usd NUMERIC(18,2),
    market_sources  INTEGER,
    is_current      BOOLEAN       NOT NULL,
    observed_at     TIMESTAMPTZ   NOT NULL,
    batch_id        VARCHAR(128)  NOT NULL,
    file_key        VARCHAR(1024) NOT NULL,
    line_no         BIGINT        NOT NULL,
    PRIMARY KEY (product_id, source_id, price_date)
);

-- Staged rows held back by the transform, with a reason code.
CREATE TABLE IF NOT EXISTS quarantined_rows (
    batch_id        VARCHAR(128)  NOT NULL,
    batch_date      DATE          NOT NULL,
    source_id       VARCHAR(128)  NOT NULL,
    file_key        VARCHAR(1024) NOT NULL,
    line_no         BIGINT        NOT NULL,
    product_id      VARCHAR(256)  NOT NULL,
    reason_code     VARCHAR(32)   NOT NULL,
    detail          VARCHAR(1024) NOT NULL
);

-- Staged rows removed as duplicates, and the row that was kept instead.
CREATE TABLE IF NOT EXISTS duplicate_rows (
    batch_id        VARCHAR(128)  NOT NULL,
    batch_date      DATE          NOT NULL,
    source_id       VARCHAR(128)  NOT NULL,
    file_key        VARCHAR(1024) NOT NULL,
    line_no         BIGINT        NOT NULL,
    product_id      VARCHAR(256)  NOT NULL,
    kept_file_key   VARCHAR(1024) NOT NULL,
    kept_line_no    BIGINT        NOT NULL
);

-- Staged rows ranked within (batch, product, source): rank 1 is the latest observation.
CREATE OR REPLACE VIEW staged_ranked AS
SELECT s.*,
       ROW_NUMBER() OVER (
           PARTITION BY s.batch_id, s.product_id, s.source_id
           ORDER BY s.observed_at DESC, s.file_key, s.line_no
       ) AS rank_in_key
FROM staging_prices s;

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
