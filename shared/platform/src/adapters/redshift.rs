//! [`Warehouse`] on Amazon Redshift Serverless through the Redshift Data API.
//!
//! The Data API is asynchronous: a statement (or a batch, which runs as one transaction)
//! is submitted, polled with `DescribeStatement` until it finishes, and its rows are read
//! page by page with `GetStatementResult`. Staged rows go to S3 as CSV parts, written
//! as the batch's chunks arrive, and are loaded with one `COPY` of all the batch's parts
//! per table, which is how Redshift ingests in bulk. The transform SQL is the same
//! files PostgreSQL runs, statement by statement in one Data API session, so that its
//! checks (the batch still current, the row accounting) run inside the transaction.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_redshiftdata::operation::execute_statement::builders::ExecuteStatementFluentBuilder;
use aws_sdk_redshiftdata::types::{Field, StatusString};
use bytes::Bytes;
use ppmt_domain::record::FxRateRecord;
use ppmt_domain::{BatchId, BatchRef};

use crate::adapters::staging::{rejected_rows_csv, staged_rows_csv, REJECTED_COLUMNS, STAGING_COLUMNS};
use crate::error::{aws_error, PortError};
use crate::ports::{
    staged_later, ObjectStore, PriceMover, PricePoint, RejectedRow, SetAside, SqlStep, StagedRow, Staging,
    StagingSession, StagingStart, SyncSink, TransformCounts, TransformOutcome, Warehouse, SYNC_PAGE_ROWS,
};
use crate::sql::{self, Param};
use crate::sync_rows::{movers_from, price_points_from, set_aside_from, sync_page, TextRow};

/// How long a Data API session outlives its last statement: the transform runs statement
/// by statement in one.
const SESSION_KEEP_ALIVE_SECS: i32 = 120;
/// How long a statement may run before we stop waiting (it is then cancelled): within
/// the consumer Lambda's 900 s, so the function can still report the failure.
const STATEMENT_TIMEOUT: Duration = Duration::from_secs(840);

/// A Redshift Serverless workgroup.
#[derive(Clone)]
pub struct RedshiftWarehouse {
    pub client: aws_sdk_redshiftdata::Client,
    pub workgroup: String,
    pub database: String,
    /// Secrets Manager secret with the database credentials; IAM auth when absent.
    pub secret_arn: Option<String>,
    /// Role Redshift assumes to read the staged CSV files from S3.
    pub copy_role_arn: String,
    /// Where staged CSV files are written (`staging/<batch_id>/...` in the raw bucket).
    pub store: Arc<dyn ObjectStore>,
    pub staging_bucket: String,
}

/// Quotes a text literal for Redshift as its `QUOTE_LITERAL` does: `\` and `'` doubled
/// (Redshift reads a backslash in a literal as an escape, so `\'` alone would end the
/// string early).
pub fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\\', "\\\\").replace('\'', "''"))
}

/// A batch whose rows are written as CSV parts in S3, as its staging statements need it.
#[derive(Debug, Clone, PartialEq)]
pub struct StagedParts<'a> {
    pub batch: &'a BatchRef,
    pub load_seq: i64,
    pub manifest_sha256: &'a str,
    pub rows_staged: u64,
    pub rows_rejected: u64,
    /// `s3://` prefix of the valid rows' parts (ending in `/`); `None` when there are none.
    pub rows_prefix: Option<String>,
    /// `s3://` prefix of the rejected rows' parts; `None` when there are none.
    pub rejects_prefix: Option<String>,
    pub fx_rates: &'a [FxRateRecord],
}

/// The statements that replace a day's staged data with the batch of `staged`: one `COPY`
/// of all its parts per table. They run in one transaction, under the batches lock.
pub fn staging_statements(staged: &StagedParts<'_>, role_arn: &str) -> Vec<String> {
    let b = staged.batch;
    let day = literal(&b.batch_date.to_string());
    let id = literal(b.batch_id.as_str());
    let copy = |columns: &str, uri: &str| {
        format!(
            "COPY {columns} FROM {} IAM_ROLE {} FORMAT AS CSV EMPTYASNULL TIMEFORMAT 'auto'",
            literal(uri),
            literal(role_arn)
        )
    };
    let mut statements = vec![
        format!("DELETE FROM staging_prices WHERE batch_date = {day}"),
        format!("DELETE FROM rejected_rows WHERE batch_date = {day}"),
        format!("DELETE FROM batches WHERE batch_date = {day}"),
        format!(
            "INSERT INTO batches (batch_id, batch_date, bucket, manifest_key, rows_staged, rows_rejected, loaded_at, \
             load_seq, manifest_sha256) VALUES ({id}, {day}, {}, {}, {}, {}, GETDATE(), {}, {})",
            literal(&b.bucket),
            literal(&b.manifest_key),
            staged.rows_staged,
            staged.rows_rejected,
            staged.load_seq,
            literal(staged.manifest_sha256)
        ),
    ];
    statements.extend(staged.rows_prefix.as_deref().map(|p| copy(STAGING_COLUMNS, p)));
    statements.extend(staged.rejects_prefix.as_deref().map(|p| copy(REJECTED_COLUMNS, p)));
    statements.extend(fx_statements(staged.fx_rates, b));
    statements
}

/// The statements that store FX rates read by `batch`, replacing those of the same date
/// and pair; none for none.
fn fx_statements(rates: &[FxRateRecord], batch: &BatchRef) -> Vec<String> {
    let id = literal(batch.batch_id.as_str());
    let mut statements = Vec::new();
    if !rates.is_empty() {
        let keys: Vec<String> = rates
            .iter()
            .map(|r| {
                format!(
                    "(rate_date = {} AND base_currency = {} AND quote_currency = {})",
                    literal(&r.rate_date.to_string()),
                    literal(r.base_currency.as_str()),
                    literal(r.quote_currency.as_str())
                )
            })
            .collect();
        statements.push(format!("DELETE FROM fx_rates WHERE {}", keys.join(" OR ")));
        let values: Vec<String> = rates
            .iter()
            .map(|r| {
                format!(
                    "({}, {}, {}, {}, {}, {id})",
                    literal(&r.rate_date.to_string()),
                    literal(r.base_currency.as_str()),
                    literal(r.quote_currency.as_str()),
                    r.rate,
                    literal(&r.source)
                )
            })
            .collect();
        statements.push(format!(
            "INSERT INTO fx_rates (rate_date, base_currency, quote_currency, rate, source, batch_id) VALUES {}",
            values.join(", ")
        ));
    }
    statements
}

fn text(field: &Field) -> Option<String> {
    match field {
        Field::StringValue(s) => Some(s.clone()),
        Field::LongValue(n) => Some(n.to_string()),
        Field::DoubleValue(d) => Some(d.to_string()),
        Field::BooleanValue(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The Data API's records, every column as text.
fn text_rows(rows: &[Vec<Field>]) -> Vec<TextRow> {
    rows.iter().map(|r| r.iter().map(text).collect()).collect()
}

impl RedshiftWarehouse {
    /// Waits for a submitted statement; a failure names `what`.
    async fn wait(&self, id: &str, what: &str) -> Result<(), PortError> {
        let started = std::time::Instant::now();
        let mut delay = Duration::from_millis(100);
        loop {
            let d = self
                .client
                .describe_statement()
                .id(id)
                .send()
                .await
                .map_err(|e| aws_error(format!("poll {what}"), e))?;
            match d.status() {
                Some(StatusString::Finished) => return Ok(()),
                Some(StatusString::Failed) | Some(StatusString::Aborted) => {
                    let message = d.error().unwrap_or("no error message").to_owned();
                    // Concurrent transactions that conflict fail with this; the retry succeeds.
                    return Err(if message.contains("Serializable isolation violation") {
                        PortError::transient(what.to_owned(), message)
                    } else {
                        PortError::permanent(what.to_owned(), message)
                    });
                }
                _ => {}
            }
            if started.elapsed() > STATEMENT_TIMEOUT {
                let _ = self.client.cancel_statement().id(id).send().await;
                return Err(PortError::transient(
                    what.to_owned(),
                    format!("still running after {STATEMENT_TIMEOUT:?}; cancelled"),
                ));
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(2));
        }
    }

    /// An `ExecuteStatement` request of `sql` on the workgroup's database.
    fn statement(&self, sql: String) -> ExecuteStatementFluentBuilder {
        self.client
            .execute_statement()
            .workgroup_name(&self.workgroup)
            .database(&self.database)
            .set_secret_arn(self.secret_arn.clone())
            .sql(sql)
    }

    /// Runs one query and reads all its rows.
    async fn query(&self, sql: String, what: &str) -> Result<Vec<Vec<Field>>, PortError> {
        let id = self.run_statement(sql, what).await?;
        self.result_rows(&id, what).await
    }

    /// Submits one statement outside a session and waits for it; returns its id.
    async fn run_statement(&self, sql: String, what: &str) -> Result<String, PortError> {
        let out = self.statement(sql).send().await.map_err(|e| aws_error(format!("submit {what}"), e))?;
        let id = out
            .id()
            .ok_or_else(|| PortError::transient(format!("submit {what}"), "no statement id returned"))?
            .to_owned();
        self.wait(&id, what).await?;
        Ok(id)
    }

    /// Every row of a finished statement's result, page by page.
    async fn result_rows(&self, id: &str, what: &str) -> Result<Vec<Vec<Field>>, PortError> {
        let mut rows = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let (page, next) = self.result_page(id, token.take(), what).await?;
            rows.extend(page);
            match next {
                Some(t) => token = Some(t),
                None => return Ok(rows),
            }
        }
    }

    /// One page of a finished statement's result, and the token of the next, if any.
    async fn result_page(
        &self,
        id: &str,
        token: Option<String>,
        what: &str,
    ) -> Result<(Vec<Vec<Field>>, Option<String>), PortError> {
        let page = self
            .client
            .get_statement_result()
            .id(id)
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| aws_error(format!("read {what}"), e))?;
        let next = page.next_token.filter(|t| !t.is_empty());
        Ok((page.records, next))
    }

    fn render(step: &SqlStep, batch: &BatchRef) -> Result<String, PortError> {
        Self::render_with(step, batch, &[])
    }

    fn render_with(step: &SqlStep, batch: &BatchRef, params: &[(&str, Param)]) -> Result<String, PortError> {
        sql::render_with(step, batch, params).map_err(|e| PortError::permanent(format!("render {}", step.name), e))
    }

    /// Runs one query and reads its rows as text.
    async fn text_query(&self, sql: String, what: &str) -> Result<Vec<TextRow>, PortError> {
        Ok(text_rows(&self.query(sql, what).await?))
    }
}

/// Statements of one open transaction.
#[async_trait]
trait Transaction {
    /// Runs a statement.
    async fn run(&mut self, sql: String, what: &str) -> Result<(), PortError>;
    /// Runs a query and reads its rows.
    async fn rows(&mut self, sql: String, what: &str) -> Result<Vec<Vec<Field>>, PortError>;
}

/// A Data API session: its statements share one connection, so a transaction opened with
/// `BEGIN` spans them, and a query inside it sees what the statements before it wrote.
struct Session<'a> {
    warehouse: &'a RedshiftWarehouse,
    id: Option<String>,
}

impl Session<'_> {
    /// Submits `sql` in the session (opening it on the first call) and waits for it;
    /// returns the statement id.
    async fn submit(&mut self, sql: String, what: &str) -> Result<String, PortError> {
        let request = self.warehouse.statement(sql);
        let request = match &self.id {
            None => request.session_keep_alive_seconds(SESSION_KEEP_ALIVE_SECS),
            Some(id) => request.session_id(id),
        };
        let out = request.send().await.map_err(|e| aws_error(format!("submit {what}"), e))?;
        let id = out.id().ok_or_else(|| PortError::transient(format!("submit {what}"), "no statement id returned"))?;
        if self.id.is_none() {
            let session = out
                .session_id()
                .ok_or_else(|| PortError::transient(format!("submit {what}"), "no session id returned"))?;
            self.id = Some(session.to_owned());
        }
        self.warehouse.wait(id, what).await?;
        Ok(id.to_owned())
    }
}

impl Session<'_> {
    /// Ends the transaction: `COMMIT` when `commit` and the work succeeded, else
    /// `ROLLBACK` (an uncommitted transaction also ends with its session). The work's
    /// error comes first.
    async fn end<T>(mut self, outcome: Result<T, PortError>, commit: bool, what: &str) -> Result<T, PortError> {
        let end = if commit && outcome.is_ok() { "COMMIT" } else { "ROLLBACK" };
        let ended = self.run(end.into(), &format!("{end} {what}")).await;
        match (outcome, ended) {
            (Ok(value), Ok(())) => Ok(value),
            (Ok(_), Err(e)) | (Err(e), _) => Err(e),
        }
    }
}

#[async_trait]
impl Transaction for Session<'_> {
    async fn run(&mut self, sql: String, what: &str) -> Result<(), PortError> {
        self.submit(sql, what).await.map(|_| ())
    }

    async fn rows(&mut self, sql: String, what: &str) -> Result<Vec<Vec<Field>>, PortError> {
        let id = self.submit(sql, what).await?;
        self.warehouse.result_rows(&id, what).await
    }
}

/// The day's staged batch and its load sequence, read inside `tx`.
async fn staged_batch_in(
    tx: &mut (dyn Transaction + Send),
    batch: &BatchRef,
) -> Result<Option<(BatchId, Option<i64>)>, PortError> {
    let what = format!("staged batch of {}", batch.batch_date);
    let rows = tx.rows(RedshiftWarehouse::render(&sql::CURRENT_BATCH, batch)?, &what).await?;
    Ok(rows.first().and_then(|row| {
        let seq = row.get(1).and_then(text).and_then(|t| t.parse().ok());
        row.first().and_then(text).map(|id| (BatchId(id), seq))
    }))
}

/// Staging inside an open transaction: under the batches lock, a batch from an earlier
/// scrape than the day's staged one changes nothing.
async fn stage_in(
    tx: &mut (dyn Transaction + Send),
    batch: &BatchRef,
    load_seq: i64,
    statements: Vec<String>,
) -> Result<Staging, PortError> {
    let id = &batch.batch_id;
    tx.run("LOCK batches".into(), &format!("lock batches for batch {id}")).await?;
    if let Some((current, Some(seq))) = staged_batch_in(tx, batch).await? {
        if staged_later(&current, seq, id, load_seq) {
            return Ok(Staging::Older { current });
        }
    }
    for (i, statement) in statements.into_iter().enumerate() {
        tx.run(statement, &format!("staging statement {} for batch {id}", i + 1)).await?;
    }
    Ok(Staging::Staged)
}

/// The transform inside an open transaction, with its checks inside it too: the batch
/// must still be its day's batch once the batches lock is held, and its row accounting
/// must balance before the caller commits.
async fn transform_in(
    tx: &mut (dyn Transaction + Send),
    batch: &BatchRef,
    steps: &[SqlStep],
) -> Result<TransformOutcome, PortError> {
    let id = &batch.batch_id;
    tx.run("LOCK batches".into(), &format!("lock batches for batch {id}")).await?;
    let current = staged_batch_in(tx, batch).await?.map(|(current, _)| current);
    if current.as_ref() != Some(id) {
        return Ok(TransformOutcome::Superseded { current });
    }
    for step in steps {
        for (i, statement) in sql::split_statements(&RedshiftWarehouse::render(step, batch)?).into_iter().enumerate() {
            tx.run(statement, &format!("{} statement {} for batch {id}", step.name, i + 1)).await?;
        }
    }
    let what = format!("row counts of batch {id}");
    let rows = tx.rows(RedshiftWarehouse::render(&sql::BATCH_COUNTS, batch)?, &what).await?;
    let row = rows.first().ok_or_else(|| PortError::permanent(what.clone(), "no row"))?;
    let count = |i: usize| row.get(i).and_then(text).and_then(|t| t.parse::<u64>().ok()).unwrap_or(0);
    let counts = TransformCounts { staged: count(0), facts: count(1), quarantined: count(2), duplicates: count(3) };
    counts.check().map_err(|e| PortError::permanent(format!("transform of batch {id}"), e))?;
    Ok(TransformOutcome::Done(counts))
}

/// Bytes of CSV gathered before they are written as one part: parts of a few MB load
/// well, and two of them (rows and rejects) stay within the loader's memory.
const PART_BYTES: usize = 8 << 20;

/// One table's parts of a batch being staged.
#[derive(Debug, Default)]
struct TableParts {
    /// Encoded rows not written to S3 yet.
    pending: Vec<u8>,
    /// Parts written so far.
    parts: u32,
    /// Rows encoded so far, written or pending.
    rows: u64,
}

/// A batch being staged on Redshift: its chunks become CSV parts under a prefix of this
/// attempt's own (a part left by an earlier, failed attempt is never loaded), and
/// [`StagingSession::finish`] loads them in one transaction. Dropped without finishing,
/// it has written only parts that nothing loads.
///
/// One file of a batch loaded in parts ([`Warehouse::begin_part`]) is written under the
/// batch's `files` prefix instead, its objects named by the file's place in the manifest:
/// a second delivery of the part writes the same objects again, and
/// [`Warehouse::complete_parts`] loads every file's with one `COPY` of the prefix.
struct RedshiftStaging {
    warehouse: RedshiftWarehouse,
    batch: BatchRef,
    load_seq: i64,
    manifest_sha256: String,
    /// `staging/<batch_id>/<attempt>`, or `staging/<batch_id>/files` for a part.
    prefix: String,
    /// The part's file: its place in the manifest.
    file_index: Option<u32>,
    rows: TableParts,
    rejects: TableParts,
}

/// The prefix of the objects of a batch's files staged in parts.
fn files_prefix(batch: &BatchRef) -> String {
    format!("staging/{}/files", batch.batch_id)
}

impl RedshiftStaging {
    /// A session writing under `prefix`: the file's objects, for a part (`file_index`).
    fn open(
        warehouse: &RedshiftWarehouse,
        batch: &BatchRef,
        load_seq: i64,
        manifest_sha256: &str,
        prefix: String,
        file_index: Option<u32>,
    ) -> Self {
        RedshiftStaging {
            warehouse: warehouse.clone(),
            batch: batch.clone(),
            load_seq,
            manifest_sha256: manifest_sha256.to_owned(),
            prefix,
            file_index,
            rows: TableParts::default(),
            rejects: TableParts::default(),
        }
    }

    /// The key prefix of `table`'s parts, ending in `/` so that no other table's match.
    fn table_prefix(&self, table: &str) -> String {
        format!("{}/{table}/", self.prefix)
    }

    /// Writes `table`'s pending rows as its next part when they are `at_least` bytes
    /// (and not empty).
    async fn flush(&mut self, table: &str, at_least: usize) -> Result<(), PortError> {
        let key_prefix = self.table_prefix(table);
        let parts = if table == "staging_prices" { &mut self.rows } else { &mut self.rejects };
        if parts.pending.is_empty() || parts.pending.len() < at_least {
            return Ok(());
        }
        let key = match self.file_index {
            None => format!("{key_prefix}part-{:05}.csv", parts.parts),
            Some(file) => format!("{key_prefix}f{file:05}-{:05}.csv", parts.parts),
        };
        let body = Bytes::from(std::mem::take(&mut parts.pending));
        self.warehouse.store.put(&self.warehouse.staging_bucket, &key, body, "text/csv").await?;
        parts.parts += 1;
        Ok(())
    }

    /// The `s3://` prefix of `table`'s parts, if it has any.
    fn parts_uri(&self, table: &str, parts: &TableParts) -> Option<String> {
        (parts.parts > 0).then(|| format!("s3://{}/{}", self.warehouse.staging_bucket, self.table_prefix(table)))
    }
}

#[async_trait]
impl StagingSession for RedshiftStaging {
    async fn write(&mut self, rows: &[StagedRow], rejects: &[RejectedRow]) -> Result<(), PortError> {
        let id = &self.batch.batch_id;
        let encode = |e: csv::Error| PortError::permanent(format!("encode staged rows of batch {id}"), e);
        self.rows.pending.extend_from_slice(&staged_rows_csv(&self.batch, rows).map_err(encode)?);
        self.rejects.pending.extend_from_slice(&rejected_rows_csv(&self.batch, rejects).map_err(encode)?);
        self.rows.rows += rows.len() as u64;
        self.rejects.rows += rejects.len() as u64;
        self.flush("staging_prices", PART_BYTES).await?;
        self.flush("rejected_rows", PART_BYTES).await
    }

    async fn finish(mut self: Box<Self>, fx_rates: &[FxRateRecord]) -> Result<Staging, PortError> {
        self.flush("staging_prices", 0).await?;
        self.flush("rejected_rows", 0).await?;
        if self.file_index.is_some() {
            // A part's rows wait in S3 for the batch's completion; its FX rates are stored.
            let statements = fx_statements(fx_rates, &self.batch);
            if !statements.is_empty() {
                let what = format!("FX rates of batch {}", self.batch.batch_id);
                let mut session = Session { warehouse: &self.warehouse, id: None };
                session.run("BEGIN".into(), &format!("begin {what}")).await?;
                let outcome = async {
                    for statement in statements {
                        session.run(statement, &what).await?;
                    }
                    Ok(())
                }
                .await;
                session.end(outcome, true, &what).await?;
            }
            return Ok(Staging::Staged);
        }
        let staged = StagedParts {
            batch: &self.batch,
            load_seq: self.load_seq,
            manifest_sha256: &self.manifest_sha256,
            rows_staged: self.rows.rows,
            rows_rejected: self.rejects.rows,
            rows_prefix: self.parts_uri("staging_prices", &self.rows),
            rejects_prefix: self.parts_uri("rejected_rows", &self.rejects),
            fx_rates,
        };
        self.warehouse.stage(&staged).await
    }
}

impl RedshiftWarehouse {
    /// A batch loaded in parts, as its staging statements need it: its files' objects
    /// (none for a table the parts wrote no row to).
    fn files_staged<'a>(
        &self,
        batch: &'a BatchRef,
        load_seq: i64,
        manifest_sha256: &'a str,
        rows_staged: u64,
        rows_rejected: u64,
    ) -> StagedParts<'a> {
        let uri = |table: &str| format!("s3://{}/{}/{table}/", self.staging_bucket, files_prefix(batch));
        StagedParts {
            batch,
            load_seq,
            manifest_sha256,
            rows_staged,
            rows_rejected,
            rows_prefix: (rows_staged > 0).then(|| uri("staging_prices")),
            rejects_prefix: (rows_rejected > 0).then(|| uri("rejected_rows")),
            fx_rates: &[],
        }
    }

    /// Replaces the day's staged data with `staged` in one transaction, under the batches
    /// lock, unless a later scrape of the day is staged.
    async fn stage(&self, staged: &StagedParts<'_>) -> Result<Staging, PortError> {
        let statements = staging_statements(staged, &self.copy_role_arn);
        let what = format!("staging of batch {}", staged.batch.batch_id);
        let mut session = Session { warehouse: self, id: None };
        session.run("BEGIN".into(), &format!("begin {what}")).await?;
        let outcome = stage_in(&mut session, staged.batch, staged.load_seq, statements).await;
        let commit = matches!(outcome, Ok(Staging::Staged));
        session.end(outcome, commit, &what).await
    }
}

#[async_trait]
impl Warehouse for RedshiftWarehouse {
    /// Always open: whether a later scrape is staged is decided under the batches lock,
    /// which is taken only when the parts are all written ([`StagingSession::finish`]), so
    /// that no Data API session sits idle in a transaction while the files stream.
    async fn begin_staging(
        &self,
        batch: &BatchRef,
        load_seq: i64,
        manifest_sha256: &str,
    ) -> Result<StagingStart, PortError> {
        let attempt = uuid::Uuid::new_v4().simple().to_string();
        let prefix = format!("staging/{}/{attempt}", batch.batch_id);
        Ok(StagingStart::Open(Box::new(RedshiftStaging::open(self, batch, load_seq, manifest_sha256, prefix, None))))
    }

    /// Always open, as a whole batch: whether a later scrape is staged is decided when the
    /// batch completes.
    async fn begin_part(
        &self,
        batch: &BatchRef,
        load_seq: i64,
        _file_key: &str,
        file_index: u32,
    ) -> Result<StagingStart, PortError> {
        // (No manifest checksum: a part never records the batch; its completion does.)
        let staging = RedshiftStaging::open(self, batch, load_seq, "", files_prefix(batch), Some(file_index));
        Ok(StagingStart::Open(Box::new(staging)))
    }

    /// One `COPY` of all the batch's files per table (none for a table the parts wrote
    /// no row to), in the transaction that replaces the day.
    async fn complete_parts(
        &self,
        batch: &BatchRef,
        load_seq: i64,
        manifest_sha256: &str,
        rows_staged: u64,
        rows_rejected: u64,
    ) -> Result<Staging, PortError> {
        self.stage(&self.files_staged(batch, load_seq, manifest_sha256, rows_staged, rows_rejected)).await
    }

    async fn current_batch(&self, batch: &BatchRef) -> Result<Option<BatchId>, PortError> {
        let what = format!("staged batch of {}", batch.batch_date);
        let rows = self.query(Self::render(&sql::CURRENT_BATCH, batch)?, &what).await?;
        Ok(rows.first().and_then(|row| row.first()).and_then(text).map(BatchId))
    }

    async fn run_transform(&self, batch: &BatchRef, steps: &[SqlStep]) -> Result<TransformOutcome, PortError> {
        let what = format!("transform of batch {}", batch.batch_id);
        let mut session = Session { warehouse: self, id: None };
        session.run("BEGIN".into(), &format!("begin {what}")).await?;
        let outcome = transform_in(&mut session, batch, steps).await;
        // Only a transform that passed its checks commits.
        let commit = matches!(outcome, Ok(TransformOutcome::Done(_)));
        session.end(outcome, commit, &what).await
    }

    /// Each query's result is read a Data API page at a time, and handed on in pages of
    /// at most [`SYNC_PAGE_ROWS`] rows. The queries run one by one, not in one
    /// snapshot: each one is a consistent picture of the batch's products, and
    /// DynamoDB's version conditions order what they write.
    async fn sync_view(&self, batch: &BatchRef, sink: &mut dyn SyncSink) -> Result<(), PortError> {
        let what = format!("app view of batch {}", batch.batch_id);
        for (query, step) in sql::SYNC_QUERIES.iter().enumerate() {
            let what = format!("{what} ({})", step.name);
            let id = self.run_statement(Self::render(step, batch)?, &what).await?;
            let mut token = None;
            loop {
                let (records, next) = self.result_page(&id, token.take(), &what).await?;
                for rows in records.chunks(SYNC_PAGE_ROWS) {
                    let page = sync_page(query, text_rows(rows)).map_err(|e| PortError::permanent(what.clone(), e))?;
                    sink.page(page).await?;
                }
                match next {
                    Some(t) => token = Some(t),
                    None => break,
                }
            }
        }
        Ok(())
    }

    async fn set_aside(&self, date: chrono::NaiveDate) -> Result<Vec<SetAside>, PortError> {
        let what = format!("set-aside rows of {date}");
        let rows = self.text_query(Self::render(&sql::SET_ASIDE_ROWS, &sql::day(date))?, &what).await?;
        set_aside_from(&rows).map_err(|e| PortError::permanent(what, e))
    }

    async fn top_movers(&self, date: chrono::NaiveDate, limit: u32) -> Result<Vec<PriceMover>, PortError> {
        let what = format!("top movers of {date}");
        let sql = Self::render_with(&sql::TOP_MOVERS, &sql::day(date), &[("limit", Param::Count(limit))])?;
        movers_from(&self.text_query(sql, &what).await?).map_err(|e| PortError::permanent(what, e))
    }

    async fn mover_history(
        &self,
        date: chrono::NaiveDate,
        product_ids: &[String],
        days: u32,
    ) -> Result<Vec<PricePoint>, PortError> {
        let what = format!("price history up to {date}");
        let params = [("product_ids", Param::Texts(product_ids)), ("days", Param::Count(days))];
        let sql = Self::render_with(&sql::MOVER_HISTORY, &sql::day(date), &params)?;
        price_points_from(&self.text_query(sql, &what).await?).map_err(|e| PortError::permanent(what, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;
    use ppmt_domain::record::FxRateRecord;
    use ppmt_domain::Currency;
    use rust_decimal::Decimal;

    fn batch() -> BatchRef {
        BatchRef {
            batch_id: BatchId("2026-11-25-b1".into()),
            batch_date: NaiveDate::from_ymd_opt(2026, 11, 25).unwrap(),
            bucket: "raw".into(),
            manifest_key: "raw/2026-11-25/manifest.json".into(),
        }
    }

    fn rates() -> Vec<FxRateRecord> {
        vec![FxRateRecord {
            rate_date: NaiveDate::from_ymd_opt(2026, 11, 25).unwrap(),
            base_currency: Currency::EUR,
            quote_currency: Currency::USD,
            rate: Decimal::new(105, 2),
            source: "ECB's".into(),
        }]
    }

    #[tokio::test]
    async fn a_part_writes_objects_named_by_its_file_which_a_second_delivery_overwrites() {
        use aws_sdk_redshiftdata::config::{BehaviorVersion, Region};
        let store = Arc::new(crate::testing::MemoryStore::default());
        let config = aws_sdk_redshiftdata::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"));
        let w = RedshiftWarehouse {
            client: aws_sdk_redshiftdata::Client::from_conf(config.build()),
            workgroup: "wg".into(),
            database: "dev".into(),
            secret_arn: None,
            copy_role_arn: "arn:aws:iam::1:role/copy".into(),
            store: store.clone(),
            staging_bucket: "raw".into(),
        };
        let reject = RejectedRow {
            file_key: "raw/2026-11-25/a.csv".into(),
            source_id: "a".into(),
            line_no: 2,
            reason: ppmt_domain::RejectReason::ZeroPrice,
            detail: "price is 0".into(),
            raw: "p1,Widget,0".into(),
        };
        for _ in 0..2 {
            let StagingStart::Open(mut part) = w.begin_part(&batch(), 1, "raw/2026-11-25/a.csv", 3).await.unwrap()
            else {
                panic!("a part always opens on Redshift");
            };
            part.write(&[], std::slice::from_ref(&reject)).await.unwrap();
            // Without FX rates, a part's end is its objects: no statement is sent.
            assert_eq!(part.finish(&[]).await.unwrap(), Staging::Staged);
        }
        let keys: Vec<(String, String)> = store.objects.lock().unwrap().keys().cloned().collect();
        let key = "staging/2026-11-25-b1/files/rejected_rows/f00003-00000.csv".to_owned();
        assert_eq!(keys, vec![("raw".to_owned(), key)], "one object, written twice");
        // The batch completes with one COPY of every file's objects per table that has rows.
        let b = batch();
        let statements = staging_statements(&w.files_staged(&b, 1, "ab", 0, 1), &w.copy_role_arn);
        let copies: Vec<&String> = statements.iter().filter(|s| s.starts_with("COPY")).collect();
        assert_eq!(copies.len(), 1, "{statements:?}");
        assert!(copies[0].starts_with("COPY rejected_rows (batch_id,"));
        assert!(copies[0].contains("FROM 's3://raw/staging/2026-11-25-b1/files/rejected_rows/' IAM_ROLE"));
        assert!(statements[0].starts_with("DELETE FROM staging_prices WHERE batch_date = '2026-11-25'"));
    }

    /// A transaction that records its statements and answers the two queries.
    struct Scripted {
        statements: Vec<String>,
        current: &'static str,
        counts: [i64; 4],
    }

    #[async_trait]
    impl Transaction for Scripted {
        async fn run(&mut self, sql: String, _what: &str) -> Result<(), PortError> {
            self.statements.push(sql);
            Ok(())
        }

        async fn rows(&mut self, sql: String, _what: &str) -> Result<Vec<Vec<Field>>, PortError> {
            let row = if sql.contains("AS staged") {
                self.counts.iter().map(|n| Field::LongValue(*n)).collect()
            } else {
                vec![Field::StringValue(self.current.into()), Field::LongValue(CURRENT_SEQ)]
            };
            self.statements.push(sql);
            Ok(vec![row])
        }
    }

    /// The load sequence of the day's staged batch in [`Scripted`].
    const CURRENT_SEQ: i64 = 1_764_000_000_000;

    fn scripted(current: &'static str, counts: [i64; 4]) -> Scripted {
        Scripted { statements: Vec::new(), current, counts }
    }

    #[tokio::test]
    async fn the_checks_run_inside_the_transaction_before_any_commit() {
        let b = batch();
        let steps = sql::TRANSFORM_STEPS;
        let statements: usize = steps.iter().map(|s| sql::split_statements(&sql::render(s, &b).unwrap()).len()).sum();

        // Replaced by a newer load: nothing after the lock and the check runs.
        let mut tx = scripted("2026-11-25-b2", [0; 4]);
        let outcome = transform_in(&mut tx, &b, steps).await.unwrap();
        assert!(
            matches!(outcome, TransformOutcome::Superseded { current: Some(ref c) } if c.as_str() == "2026-11-25-b2")
        );
        assert_eq!(tx.statements.len(), 2);
        assert_eq!(tx.statements[0], "LOCK batches");

        // Still current and balanced: every statement, then the counts.
        let mut tx = scripted("2026-11-25-b1", [10, 7, 2, 1]);
        let outcome = transform_in(&mut tx, &b, steps).await.unwrap();
        assert!(matches!(outcome, TransformOutcome::Done(TransformCounts { staged: 10, facts: 7, .. })));
        assert_eq!(tx.statements.len(), 2 + statements + 1);

        // Broken accounting is an error before the caller could commit.
        let mut tx = scripted("2026-11-25-b1", [10, 7, 2, 0]);
        let error = transform_in(&mut tx, &b, steps).await.unwrap_err();
        assert!(error.to_string().contains("transform of batch 2026-11-25-b1"), "{error}");
    }

    #[tokio::test]
    async fn staging_an_earlier_scrape_than_the_staged_one_changes_nothing() {
        let b = batch();
        let statements = || vec!["DELETE a".to_owned(), "COPY b".to_owned()];
        // b2 of the day was scraped later than b1: b1 is refused under the lock.
        let mut tx = scripted("2026-11-25-b2", [0; 4]);
        let outcome = stage_in(&mut tx, &b, CURRENT_SEQ - 1, statements()).await.unwrap();
        assert_eq!(outcome, Staging::Older { current: BatchId("2026-11-25-b2".into()) });
        assert_eq!(tx.statements.len(), 2, "only the lock and the check: {:?}", tx.statements);
        // b1 scraped after b2 replaces it; b1 staged again (a replay) replaces itself.
        for (current, seq) in [("2026-11-25-b2", CURRENT_SEQ + 1), ("2026-11-25-b1", CURRENT_SEQ - 1)] {
            let mut tx = scripted(current, [0; 4]);
            assert_eq!(stage_in(&mut tx, &b, seq, statements()).await.unwrap(), Staging::Staged);
            assert_eq!(&tx.statements[2..], ["DELETE a", "COPY b"]);
        }
    }

    #[test]
    fn literals_double_backslashes_and_quotes_as_quote_literal_does() {
        assert_eq!(literal("ECB's"), "'ECB''s'");
        // An FX source ending in `\'` stays inside its string.
        assert_eq!(literal(r"evil\'); DROP TABLE batches; --"), r"'evil\\''); DROP TABLE batches; --'");
        assert_eq!(literal(r"C:\rates"), r"'C:\\rates'");
    }

    #[test]
    fn staging_replaces_the_day_and_quotes_literals() {
        let (b, fx) = (batch(), rates());
        let mut staged = StagedParts {
            batch: &b,
            load_seq: 1,
            manifest_sha256: "ab",
            rows_staged: 7,
            rows_rejected: 0,
            rows_prefix: Some("s3://raw/staging/b1/x/staging_prices/".into()),
            rejects_prefix: None,
            fx_rates: &fx,
        };
        let statements = staging_statements(&staged, "arn:aws:iam::1:role/copy");
        assert_eq!(statements[0], "DELETE FROM staging_prices WHERE batch_date = '2026-11-25'");
        assert!(statements[3].contains(", 7, 0, GETDATE(), 1, 'ab')"), "{}", statements[3]);
        // One COPY of all the parts of a table; none for a table without parts.
        assert!(statements[4].starts_with("COPY staging_prices (batch_id,"));
        assert!(statements[4].ends_with("FROM 's3://raw/staging/b1/x/staging_prices/' IAM_ROLE 'arn:aws:iam::1:role/copy' FORMAT AS CSV EMPTYASNULL TIMEFORMAT 'auto'"));
        assert!(statements[6].contains("('2026-11-25', 'EUR', 'USD', 1.05, 'ECB''s', '2026-11-25-b1')"));
        assert_eq!(statements.iter().filter(|s| s.starts_with("COPY")).count(), 1);
        staged.rejects_prefix = Some("s3://raw/staging/b1/x/rejected_rows/".into());
        let statements = staging_statements(&staged, "arn:aws:iam::1:role/copy");
        assert!(statements[5].starts_with("COPY rejected_rows (batch_id,"));
    }

    #[test]
    fn every_transform_statement_splits_into_one_data_api_statement() {
        let b = batch();
        for step in sql::TRANSFORM_STEPS {
            for statement in sql::split_statements(&sql::render(step, &b).unwrap()) {
                assert!(!statement.trim_end().ends_with(';'), "{}: {statement}", step.name);
                assert!(!statement.contains(";\n"), "{}: two statements in one: {statement}", step.name);
            }
        }
    }

    #[test]
    fn reads_sync_rows_as_the_data_api_returns_them() {
        let s = |v: &str| Field::StringValue(v.into());
        let retired = vec![s("p1"), s("shop"), s("2026-11-25"), Field::LongValue(17)];
        let product = vec![s("p1"), Field::IsNull(true)];
        let as_text = |row: &[Field]| row.iter().map(text).collect::<TextRow>();
        assert_eq!(as_text(&product), vec![Some("p1".to_owned()), None]);
        let set = sync_page(3, vec![as_text(&retired)]).unwrap();
        let (product_id, source_id, version) = &set.retired_offers[0];
        assert_eq!((product_id.as_str(), source_id.as_str(), version.load_seq), ("p1", "shop", 17));
        assert_eq!(version.price_date, NaiveDate::from_ymd_opt(2026, 11, 25).unwrap());
    }
}
