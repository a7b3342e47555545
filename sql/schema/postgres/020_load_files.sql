-- PostgreSQL only: the files a batch loaded in parts has staged (the loader's fan-out).
-- Each part commits its file's rows on its own, under the batch's id but not yet the
-- day's: a row here says the file's rows are in staging_prices and rejected_rows, so
-- that a second delivery of the part replaces them instead of adding them again. The
-- part that completes the batch makes it the day's (a batches row); the rows of the
-- day's other batches go then: those staged whole, and those staged in parts from an
-- earlier scrape (a later scrape's parts stay: it replaces this batch when it completes). (Redshift stages a part as
-- CSV objects in S3 under names of the file's own, which a second delivery overwrites,
-- and loads them all with one COPY when the batch completes: it needs no such table.)
CREATE TABLE IF NOT EXISTS load_files (
    batch_id      VARCHAR(128)  NOT NULL,
    file_key      VARCHAR(1024) NOT NULL,
    batch_date    DATE          NOT NULL,
    -- The batch's load sequence, as in batches: a whole load of an earlier scrape of
    -- the day leaves the parts of a later one alone.
    load_seq      BIGINT        NOT NULL,
    rows_staged   BIGINT        NOT NULL,
    rows_rejected BIGINT        NOT NULL,
    staged_at     TIMESTAMPTZ   NOT NULL,
    PRIMARY KEY (batch_id, file_key)
);
CREATE INDEX IF NOT EXISTS load_files_date ON load_files (batch_date);
