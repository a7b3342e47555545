//! [`Warehouse`] on PostgreSQL: the local and CI stand-in for Redshift. Staging is one
//! transaction that streams the batch's valid rows chunk after chunk into one
//! `COPY ... FROM STDIN`, its rejected rows into another after it; the transform runs the
//! same SQL files Redshift runs.

use std::pin::Pin;

use async_trait::async_trait;
use bytes::Bytes;
use futures::SinkExt;
use ppmt_domain::record::FxRateRecord;
use ppmt_domain::{BatchId, BatchRef};
use tokio_postgres::{Client, CopyInSink, GenericClient, NoTls, SimpleQueryMessage};

use crate::adapters::staging::{rejected_rows_csv, staged_rows_csv, REJECTED_COLUMNS, STAGING_COLUMNS};
use crate::error::PortError;
use crate::ports::{
    staged_later, PriceMover, PricePoint, RejectedRow, SetAside, SqlStep, StagedRow, Staging, StagingSession,
    StagingStart, SyncSink, TransformCounts, TransformOutcome, Warehouse, SYNC_PAGE_ROWS,
};
use crate::sql::{self, Param};
use crate::sync_rows::{movers_from, price_points_from, set_aside_from, sync_page, TextRow};

/// A PostgreSQL database reached by URL. Each operation opens its own connection, so a
/// dropped connection costs one retry and never leaks into the next message.
#[derive(Debug, Clone)]
pub struct PostgresWarehouse {
    pub url: String,
}

/// Maps a database error: lost connections, exhausted resources, shutdowns,
/// serialization failures and deadlocks are retryable; errors in the statement or the
/// data are not.
pub fn pg_error(operation: impl Into<String>, err: tokio_postgres::Error) -> PortError {
    let retryable = match err.code() {
        // Connection exceptions (08), insufficient resources (53), operator intervention
        // such as a shutdown (57), serialization failures, deadlocks, lock timeouts.
        Some(code) => {
            let c = code.code();
            c.starts_with("08")
                || c.starts_with("53")
                || c.starts_with("57")
                || ["40001", "40P01", "55P03"].contains(&c)
        }
        // No SQLSTATE: the connection itself failed, or a row could not be decoded.
        None => err.is_closed() || std::error::Error::source(&err).is_some_and(|s| s.is::<std::io::Error>()),
    };
    let detail = match (err.as_db_error(), std::error::Error::source(&err)) {
        (Some(db), _) => format!("{}: {}", db.code().code(), db.message()),
        (None, Some(cause)) => format!("{err}: {cause}"),
        (None, None) => err.to_string(),
    };
    let operation = operation.into();
    if retryable {
        PortError::transient(operation, detail)
    } else {
        PortError::permanent(operation, detail)
    }
}

/// The rows of a simple-protocol answer, every column as text.
fn text_rows(messages: &[SimpleQueryMessage]) -> Vec<TextRow> {
    messages
        .iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(row) => Some((0..row.len()).map(|i| row.get(i).map(str::to_owned)).collect()),
            _ => None,
        })
        .collect()
}

fn render(step: &SqlStep, batch: &BatchRef) -> Result<String, PortError> {
    render_with(step, batch, &[])
}

fn render_with(step: &SqlStep, batch: &BatchRef, params: &[(&str, Param)]) -> Result<String, PortError> {
    sql::render_with(step, batch, params).map_err(|e| PortError::permanent(format!("render {}", step.name), e))
}

/// A `COPY ... FROM STDIN` in progress, its CSV sent as it comes.
type CopyStream = Pin<Box<CopyInSink<Bytes>>>;

async fn open_copy(client: &Client, table_and_columns: &str) -> Result<CopyStream, PortError> {
    let statement = format!("COPY {table_and_columns} FROM STDIN WITH (FORMAT csv)");
    let sink =
        client.copy_in(statement.as_str()).await.map_err(|e| pg_error(format!("copy into {table_and_columns}"), e))?;
    Ok(Box::pin(sink))
}

async fn copy_in(client: &Client, table_and_columns: &str, data: Bytes) -> Result<u64, PortError> {
    let operation = format!("copy into {table_and_columns}");
    let mut sink = open_copy(client, table_and_columns).await?;
    sink.send(data).await.map_err(|e| pg_error(operation.clone(), e))?;
    sink.as_mut().finish().await.map_err(|e| pg_error(operation, e))
}

impl PostgresWarehouse {
    /// "connect to the warehouse at host:port/database", never the password.
    fn describe(&self) -> String {
        let Ok(config) = self.url.parse::<tokio_postgres::Config>() else {
            return "connect to the warehouse (PPMT_DATABASE_URL cannot be read as a PostgreSQL URL)".to_owned();
        };
        let hosts: Vec<String> = config
            .get_hosts()
            .iter()
            .zip(config.get_ports().iter().chain(std::iter::repeat(&5432)))
            .map(|(host, port)| match host {
                tokio_postgres::config::Host::Tcp(h) => format!("{h}:{port}"),
                #[cfg(unix)]
                tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
            })
            .collect();
        format!("connect to the warehouse at {}/{}", hosts.join(","), config.get_dbname().unwrap_or("postgres"))
    }

    /// Opens a connection; its driver task ends with the client.
    pub async fn connect(&self) -> Result<Client, PortError> {
        let (client, connection) =
            tokio_postgres::connect(&self.url, NoTls).await.map_err(|e| pg_error(self.describe(), e))?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::warn!(error = %e, "warehouse connection ended with an error");
            }
        });
        Ok(client)
    }

    /// Runs one query outside a transaction and reads its rows as text; errors name `what`.
    async fn text_query(&self, sql: &str, what: &str) -> Result<Vec<TextRow>, PortError> {
        let messages = self.connect().await?.simple_query(sql).await.map_err(|e| pg_error(what, e))?;
        Ok(text_rows(&messages))
    }

    /// Opens a staging transaction on a connection of its own, under the batches lock:
    /// the connection, or the day's staged batch when it comes from a later scrape than
    /// `batch` (a slow load of an earlier scrape must not replace it).
    async fn lock_staging(&self, batch: &BatchRef, load_seq: i64) -> Result<Result<Client, BatchId>, PortError> {
        let ctx = |what: &str| format!("{what} for batch {}", batch.batch_id);
        let client = self.connect().await?;
        client.batch_execute("BEGIN").await.map_err(|e| pg_error(ctx("begin staging"), e))?;
        // One loader at a time per warehouse: two deliveries of the same manifest must not
        // interleave their delete-and-insert. The lock is held until the commit, so while
        // the batch's files stream in too: a transform, or a load of another day, waits
        // for the whole load (as long as it took to COPY a whole day before streaming).
        client
            .batch_execute("LOCK TABLE batches IN EXCLUSIVE MODE")
            .await
            .map_err(|e| pg_error(ctx("lock batches"), e))?;
        if let Some((current, seq)) = current_batch(&client, batch).await? {
            if staged_later(&current, seq, &batch.batch_id, load_seq) {
                return Ok(Err(current));
            }
        }
        Ok(Ok(client))
    }

    /// Applies the schema (portable DDL, then PostgreSQL's indexes) and the seeded rules;
    /// idempotent.
    pub async fn apply_schema(&self) -> Result<(), PortError> {
        let client = self.connect().await?;
        for step in sql::SCHEMA.iter().chain(sql::POSTGRES_SCHEMA).chain(sql::SEEDS) {
            client.batch_execute(step.sql).await.map_err(|e| pg_error(format!("apply {}", step.name), e))?;
        }
        Ok(())
    }
}

/// Analyses `table` after a statement wrote `written` of its rows, unless its statistics
/// still hold: as autovacuum judges it, once the rows changed since its last analysis
/// (this write included) reach a tenth of the rows it counted then. A work table, emptied
/// at each transform's start, is analysed at each fill; a fact table that holds 30 days
/// is not re-analysed for one more day (sampling it costs more the more days it holds).
/// Returns whether it analysed.
async fn analyze_if_stale(tx: &impl GenericClient, table: &str, written: u64) -> Result<bool, tokio_postgres::Error> {
    let row = tx
        .query_one(
            "SELECT c.reltuples::float8, COALESCE(s.n_mod_since_analyze, 0)::float8 \
             FROM pg_class c LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid \
             WHERE c.oid = $1::text::regclass",
            &[&table],
        )
        .await?;
    let (counted, changed): (f64, f64) = (row.get(0), row.get(1));
    // reltuples is -1 for a table never analysed since it was created or truncated.
    let stale = counted < 0.0 || changed + written as f64 >= 0.1 * counted;
    if stale {
        tx.batch_execute(&format!("ANALYZE {table}")).await?;
    }
    Ok(stale)
}

/// The day's staged batch and its load sequence.
async fn current_batch(tx: &impl GenericClient, batch: &BatchRef) -> Result<Option<(BatchId, i64)>, PortError> {
    let sql = render(&sql::CURRENT_BATCH, batch)?;
    let rows = tx
        .query(sql.as_str(), &[])
        .await
        .map_err(|e| pg_error(format!("find the staged batch of {}", batch.batch_date), e))?;
    Ok(rows.first().map(|r| (BatchId(r.get(0)), r.get(1))))
}

/// The batches of `batch`'s day that staging it replaces, itself included (the ids of a
/// few rows): every staged one (a later scrape's would have stopped it), and those with
/// files staged in parts that come from an earlier scrape.
async fn replaced_batches(client: &Client, batch: &BatchRef, load_seq: i64) -> Result<Vec<String>, PortError> {
    let rows = client
        .query(
            "SELECT batch_id FROM batches WHERE batch_date = $1 \
             UNION SELECT batch_id FROM load_files WHERE batch_date = $1 \
             AND (load_seq < $2 OR (load_seq = $2 AND batch_id <= $3))",
            &[&batch.batch_date, &load_seq, &batch.batch_id.as_str()],
        )
        .await
        .map_err(|e| pg_error(format!("find the batches of {} for batch {}", batch.batch_date, batch.batch_id), e))?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// Deletes the rows of the batches `ids` from each of `tables`.
async fn delete_batches_rows(
    client: &Client,
    batch: &BatchRef,
    ids: &[String],
    tables: &[&str],
) -> Result<(), PortError> {
    for table in tables {
        client
            .execute(format!("DELETE FROM {table} WHERE batch_id = ANY($1)").as_str(), &[&ids])
            .await
            .map_err(|e| pg_error(format!("clear {table} of replaced batches for batch {}", batch.batch_id), e))?;
    }
    Ok(())
}

/// Makes `batch` (its rows staged in this transaction or before it) the day's staged
/// batch: its batches row, and fresh statistics for the transform.
async fn record_batch(
    client: &Client,
    batch: &BatchRef,
    load_seq: i64,
    manifest_sha256: &str,
    rows: u64,
    rejects: u64,
) -> Result<(), PortError> {
    let ctx = |what: &str| format!("{what} for batch {}", batch.batch_id);
    client
        .execute(
            "INSERT INTO batches (batch_id, batch_date, bucket, manifest_key, rows_staged, rows_rejected, \
             loaded_at, load_seq, manifest_sha256) VALUES ($1, $2, $3, $4, $5, $6, now(), $7, $8)",
            &[
                &batch.batch_id.as_str(),
                &batch.batch_date,
                &batch.bucket,
                &batch.manifest_key,
                &(rows as i64),
                &(rejects as i64),
                &load_seq,
                &manifest_sha256,
            ],
        )
        .await
        .map_err(|e| pg_error(ctx("record batch"), e))?;
    // The transform's plans read these; a new day brings values the statistics have
    // never seen. Only the columns its statements filter, join, group or rank by: half
    // the time of all of them (0.19 s against 0.47 s at 444,000 staged rows).
    client
        .batch_execute(
            "ANALYZE staging_prices (batch_id, batch_date, source_id, source_sku, brand_key, file_key, line_no), \
             rejected_rows (batch_id, batch_date, source_id)",
        )
        .await
        .map_err(|e| pg_error(ctx("analyze staging"), e))
}

/// A batch, or one file of a batch loaded in parts, being staged: one transaction on a
/// connection of its own, from the batches lock to the commit. Dropped without
/// [`StagingSession::finish`], its connection closes and PostgreSQL rolls the transaction
/// back: nothing staged, nothing replaced.
struct PostgresStaging {
    client: Client,
    batch: BatchRef,
    /// What is staged: the whole batch, or one file of it.
    scope: StagingScope,
    /// Valid rows written so far.
    rows: u64,
    /// Rejected rows written so far.
    rejects: u64,
    /// The `COPY` into staging_prices in progress: the chunks of valid rows go into one
    /// statement, one after another, so that the server reads a chunk while the next is
    /// parsed and encoded (a `COPY` a chunk would wait for each one's end).
    copy: Option<CopyStream>,
    /// Rejected rows encoded and not written yet: a connection runs one `COPY` at a
    /// time, so they wait for the rows' to end, until they are [`REJECTS_HELD_BYTES`].
    held_rejects: Vec<u8>,
}

/// Bytes of encoded rejected rows a staging session holds before it writes them.
const REJECTS_HELD_BYTES: usize = 4 << 20;

enum StagingScope {
    /// The whole batch, which becomes the day's staged batch when it finishes.
    Whole { load_seq: i64, manifest_sha256: String },
    /// One file of a batch loaded in parts ([`Warehouse::begin_part`]).
    Part { load_seq: i64, file_key: String },
}

impl PostgresStaging {
    fn open(client: Client, batch: &BatchRef, scope: StagingScope) -> Box<Self> {
        Box::new(PostgresStaging {
            client,
            batch: batch.clone(),
            scope,
            rows: 0,
            rejects: 0,
            copy: None,
            held_rejects: Vec::new(),
        })
    }

    fn ctx(&self, what: &str) -> String {
        format!("{what} for batch {}", self.batch.batch_id)
    }

    /// Ends the rows' `COPY`, if one is open, and counts what it wrote.
    async fn end_copy(&mut self) -> Result<(), PortError> {
        if let Some(mut copy) = self.copy.take() {
            self.rows += copy.as_mut().finish().await.map_err(|e| pg_error(self.ctx("copy staged rows"), e))?;
        }
        Ok(())
    }

    /// Writes the rejected rows held.
    async fn write_rejects(&mut self) -> Result<(), PortError> {
        if !self.held_rejects.is_empty() {
            self.end_copy().await?;
            let csv = Bytes::from(std::mem::take(&mut self.held_rejects));
            self.rejects += copy_in(&self.client, REJECTED_COLUMNS, csv).await?;
        }
        Ok(())
    }
}

#[async_trait]
impl StagingSession for PostgresStaging {
    async fn write(&mut self, rows: &[StagedRow], rejects: &[RejectedRow]) -> Result<(), PortError> {
        if !rows.is_empty() {
            let csv = staged_rows_csv(&self.batch, rows)
                .map_err(|e| PortError::permanent(self.ctx("encode staged rows"), e))?;
            let copy = match &mut self.copy {
                Some(copy) => copy,
                None => self.copy.insert(open_copy(&self.client, STAGING_COLUMNS).await?),
            };
            if let Err(e) = copy.send(csv).await {
                return Err(pg_error(self.ctx("copy staged rows"), e));
            }
        }
        if !rejects.is_empty() {
            let csv = rejected_rows_csv(&self.batch, rejects)
                .map_err(|e| PortError::permanent(self.ctx("encode rejected rows"), e))?;
            self.held_rejects.extend_from_slice(&csv);
            if self.held_rejects.len() >= REJECTS_HELD_BYTES {
                self.write_rejects().await?;
            }
        }
        Ok(())
    }

    async fn finish(mut self: Box<Self>, fx_rates: &[FxRateRecord]) -> Result<Staging, PortError> {
        self.write_rejects().await?;
        self.end_copy().await?;
        let batch = &self.batch;
        match &self.scope {
            StagingScope::Whole { load_seq, manifest_sha256 } => {
                record_batch(&self.client, batch, *load_seq, manifest_sha256, self.rows, self.rejects).await?;
            }
            StagingScope::Part { load_seq, file_key } => {
                self.client
                    .execute(
                        "INSERT INTO load_files (batch_id, file_key, batch_date, load_seq, rows_staged, rows_rejected, \
                         staged_at) VALUES ($1, $2, $3, $4, $5, $6, now())",
                        &[
                            &batch.batch_id.as_str(),
                            file_key,
                            &batch.batch_date,
                            load_seq,
                            &(self.rows as i64),
                            &(self.rejects as i64),
                        ],
                    )
                    .await
                    .map_err(|e| pg_error(self.ctx(&format!("record staged file {file_key}")), e))?;
            }
        }
        for rate in fx_rates {
            self.client
                .execute(
                    "INSERT INTO fx_rates (rate_date, base_currency, quote_currency, rate, source, batch_id) \
                     VALUES ($1, $2, $3, $4, $5, $6) \
                     ON CONFLICT (rate_date, base_currency, quote_currency) \
                     DO UPDATE SET rate = EXCLUDED.rate, source = EXCLUDED.source, batch_id = EXCLUDED.batch_id",
                    &[
                        &rate.rate_date,
                        &rate.base_currency.as_str(),
                        &rate.quote_currency.as_str(),
                        &rate.rate,
                        &rate.source,
                        &batch.batch_id.as_str(),
                    ],
                )
                .await
                .map_err(|e| pg_error(self.ctx("store fx rates"), e))?;
        }
        self.client.batch_execute("COMMIT").await.map_err(|e| pg_error(self.ctx("commit staging"), e))?;
        Ok(Staging::Staged)
    }
}

#[async_trait]
impl Warehouse for PostgresWarehouse {
    async fn begin_staging(
        &self,
        batch: &BatchRef,
        load_seq: i64,
        manifest_sha256: &str,
    ) -> Result<StagingStart, PortError> {
        let client = match self.lock_staging(batch, load_seq).await? {
            Ok(client) => client,
            Err(current) => return Ok(StagingStart::Older { current }),
        };
        let replaced = replaced_batches(&client, batch, load_seq).await?;
        delete_batches_rows(&client, batch, &replaced, &["staging_prices", "rejected_rows", "load_files", "batches"])
            .await?;
        let scope = StagingScope::Whole { load_seq, manifest_sha256: manifest_sha256.to_owned() };
        Ok(StagingStart::Open(PostgresStaging::open(client, batch, scope)))
    }

    /// Parts are staged one at a time, under the batches lock like a whole load. The
    /// file's rows are replaced when the batch has them already: a second delivery of
    /// the part, or a part of a batch already staged whole (found by the index on the
    /// batch, a scan of its rows: only then).
    async fn begin_part(
        &self,
        batch: &BatchRef,
        load_seq: i64,
        file_key: &str,
        _file_index: u32,
    ) -> Result<StagingStart, PortError> {
        let client = match self.lock_staging(batch, load_seq).await? {
            Ok(client) => client,
            Err(current) => return Ok(StagingStart::Older { current }),
        };
        let ctx = |what: &str| format!("{what} {file_key} for batch {}", batch.batch_id);
        let id = batch.batch_id.as_str();
        let staged: bool = client
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM load_files WHERE batch_id = $1 AND file_key = $2) \
                 OR (EXISTS (SELECT 1 FROM batches WHERE batch_id = $1) \
                     AND NOT EXISTS (SELECT 1 FROM load_files WHERE batch_id = $1))",
                &[&id, &file_key],
            )
            .await
            .map_err(|e| pg_error(ctx("look for the staged rows of"), e))?
            .get(0);
        if staged {
            for table in ["staging_prices", "rejected_rows", "load_files"] {
                client
                    .execute(
                        format!("DELETE FROM {table} WHERE batch_id = $1 AND file_key = $2").as_str(),
                        &[&id, &file_key],
                    )
                    .await
                    .map_err(|e| pg_error(ctx(&format!("clear {table} of")), e))?;
            }
        }
        let scope = StagingScope::Part { load_seq, file_key: file_key.to_owned() };
        Ok(StagingStart::Open(PostgresStaging::open(client, batch, scope)))
    }

    /// The day's batches it replaces are found in `batches` and `load_files` (a few ids),
    /// and their rows deleted by id, so that the batch's own rows are not read.
    async fn complete_parts(
        &self,
        batch: &BatchRef,
        load_seq: i64,
        manifest_sha256: &str,
        rows_staged: u64,
        rows_rejected: u64,
    ) -> Result<Staging, PortError> {
        let client = match self.lock_staging(batch, load_seq).await? {
            Ok(client) => client,
            Err(current) => return Ok(Staging::Older { current }),
        };
        let mut replaced = replaced_batches(&client, batch, load_seq).await?;
        delete_batches_rows(&client, batch, &replaced, &["batches"]).await?;
        replaced.retain(|id| id != batch.batch_id.as_str());
        delete_batches_rows(&client, batch, &replaced, &["staging_prices", "rejected_rows", "load_files"]).await?;
        record_batch(&client, batch, load_seq, manifest_sha256, rows_staged, rows_rejected).await?;
        client
            .batch_execute("COMMIT")
            .await
            .map_err(|e| pg_error(format!("commit staging for batch {}", batch.batch_id), e))?;
        Ok(Staging::Staged)
    }

    async fn current_batch(&self, batch: &BatchRef) -> Result<Option<BatchId>, PortError> {
        let mut client = self.connect().await?;
        let tx = client.transaction().await.map_err(|e| pg_error("begin a read", e))?;
        Ok(current_batch(&tx, batch).await?.map(|(id, _)| id))
    }

    async fn run_transform(&self, batch: &BatchRef, steps: &[SqlStep]) -> Result<TransformOutcome, PortError> {
        let mut client = self.connect().await?;
        let tx = client
            .transaction()
            .await
            .map_err(|e| pg_error(format!("begin transform of batch {}", batch.batch_id), e))?;
        // The loader holds this lock while it replaces a day, and a second delivery of the
        // same event waits here instead of interleaving its deletes and inserts.
        tx.batch_execute("LOCK TABLE batches IN EXCLUSIVE MODE")
            .await
            .map_err(|e| pg_error(format!("lock batches for batch {}", batch.batch_id), e))?;
        let current = current_batch(&tx, batch).await?.map(|(id, _)| id);
        if current.as_ref() != Some(&batch.batch_id) {
            return Ok(TransformOutcome::Superseded { current });
        }
        // For this transaction only: the transform's statements are few and large, and JIT
        // compiling one costs seconds (more than it saves on a day's rows), and a sort or
        // hash of a day's rows should not spill to disk at the 4 MB default. The work tables
        // hold no rows between transforms (each empties them before it commits, and the
        // lock above serialises transforms), but their dead rows stay until a vacuum: every
        // transform would scan the dead rows of the days before. Truncated instead (on
        // PostgreSQL, inside the transaction), here and in place of the cleanup step, whose
        // deletes of a million rows cost a second.
        let truncate = format!("TRUNCATE {}", sql::WORK_TABLES.join(", "));
        tx.batch_execute(&format!("SET LOCAL jit = off; SET LOCAL work_mem = '64MB'; {truncate}"))
            .await
            .map_err(|e| pg_error(format!("prepare the transform of batch {}", batch.batch_id), e))?;
        for step in steps {
            if step.name == sql::CLEANUP_STEP {
                tx.batch_execute(&truncate)
                    .await
                    .map_err(|e| pg_error(format!("empty the work tables of batch {}", batch.batch_id), e))?;
                continue;
            }
            let sql = render(step, batch)?;

            for (i, statement) in sql::split_statements(&sql).iter().enumerate() {
                let what =
                    |doing: &str| format!("{doing} {} statement {} for batch {}", step.name, i + 1, batch.batch_id);
                let started = std::time::Instant::now();
                let written = tx.execute(statement.as_str(), &[]).await.map_err(|e| pg_error(what("run"), e))?;
                tracing::debug!(
                    batch_id = %batch.batch_id,
                    step = step.name,
                    statement = i + 1,
                    rows = written,
                    ms = started.elapsed().as_millis() as u64,
                    "transform statement"
                );
                // Later statements read what this one wrote: plan them on its real size. (A
                // statement that wrote nothing leaves the statistics alone: an analysed
                // empty table is planned as empty, even while a statement fills it.)
                let analyze = sql::written_table(statement).filter(|t| written > 0 && step.analyze.contains(t));
                if let Some(table) = analyze {
                    let started = std::time::Instant::now();
                    let analysed =
                        analyze_if_stale(&tx, table, written).await.map_err(|e| pg_error(what("analyze after"), e))?;
                    tracing::debug!(
                        batch_id = %batch.batch_id,
                        table,
                        analysed,
                        ms = started.elapsed().as_millis() as u64,
                        "transform statistics"
                    );
                }
            }
        }
        let sql = render(&sql::BATCH_COUNTS, batch)?;
        let row = tx
            .query_one(sql.as_str(), &[])
            .await
            .map_err(|e| pg_error(format!("count rows of batch {}", batch.batch_id), e))?;
        let count = |i: usize| row.get::<_, i64>(i) as u64;
        let counts = TransformCounts { staged: count(0), facts: count(1), quarantined: count(2), duplicates: count(3) };
        // Checked before committing: a broken transform changes nothing.
        counts.check().map_err(|e| PortError::permanent(format!("transform of batch {}", batch.batch_id), e))?;
        tx.commit().await.map_err(|e| pg_error(format!("commit transform of batch {}", batch.batch_id), e))?;
        Ok(TransformOutcome::Done(counts))
    }

    /// The six queries are declared as cursors `WITH HOLD` in one REPEATABLE READ
    /// snapshot, so products, offers and retirements agree. Committing materialises
    /// their results on the server and ends the transaction, so that no lock is held
    /// while the pages are written to the app's table (the loader's and the transform's
    /// `LOCK TABLE batches` would wait for it); the pages are fetched after.
    async fn sync_view(&self, batch: &BatchRef, sink: &mut dyn SyncSink) -> Result<(), PortError> {
        let what = format!("read the app view of batch {}", batch.batch_id);
        let mut client = self.connect().await?;
        let tx = client
            .build_transaction()
            .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await
            .map_err(|e| pg_error(what.clone(), e))?;
        // A cursor is planned for its first tenth by default; these are read to the end.
        let mut declare = String::from("SET LOCAL cursor_tuple_fraction = 1.0;\n");
        for (query, step) in sql::SYNC_QUERIES.iter().enumerate() {
            declare.push_str(&format!(
                "DECLARE sync_view_{query} NO SCROLL CURSOR WITH HOLD FOR\n{};\n",
                render(step, batch)?
            ));
        }
        tx.batch_execute(&declare).await.map_err(|e| pg_error(what.clone(), e))?;
        tx.commit().await.map_err(|e| pg_error(what.clone(), e))?;
        for (query, step) in sql::SYNC_QUERIES.iter().enumerate() {
            let what = format!("{what} ({})", step.name);
            loop {
                let messages = client
                    .simple_query(&format!("FETCH FORWARD {SYNC_PAGE_ROWS} FROM sync_view_{query}"))
                    .await
                    .map_err(|e| pg_error(what.clone(), e))?;
                let rows = text_rows(&messages);
                let last = rows.len() < SYNC_PAGE_ROWS;
                if !rows.is_empty() {
                    sink.page(sync_page(query, rows).map_err(|e| PortError::permanent(what.clone(), e))?).await?;
                }
                if last {
                    break;
                }
            }
            client.batch_execute(&format!("CLOSE sync_view_{query}")).await.map_err(|e| pg_error(what, e))?;
        }
        Ok(())
    }

    async fn set_aside(&self, date: chrono::NaiveDate) -> Result<Vec<SetAside>, PortError> {
        let what = format!("read the set-aside rows of {date}");
        let rows = self.text_query(&render(&sql::SET_ASIDE_ROWS, &sql::day(date))?, &what).await?;
        set_aside_from(&rows).map_err(|e| PortError::permanent(what, e))
    }

    async fn top_movers(&self, date: chrono::NaiveDate, limit: u32) -> Result<Vec<PriceMover>, PortError> {
        let what = format!("read the top movers of {date}");
        let sql = render_with(&sql::TOP_MOVERS, &sql::day(date), &[("limit", Param::Count(limit))])?;
        movers_from(&self.text_query(&sql, &what).await?).map_err(|e| PortError::permanent(what, e))
    }

    async fn mover_history(
        &self,
        date: chrono::NaiveDate,
        product_ids: &[String],
        days: u32,
    ) -> Result<Vec<PricePoint>, PortError> {
        let what = format!("read the price history up to {date}");
        let params = [("product_ids", Param::Texts(product_ids)), ("days", Param::Count(days))];
        let sql = render_with(&sql::MOVER_HISTORY, &sql::day(date), &params)?;
        price_points_from(&self.text_query(&sql, &what).await?).map_err(|e| PortError::permanent(what, e))
    }
}
