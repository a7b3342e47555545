//! [`Warehouse`] on Amazon Redshift Serverless through the Redshift Data API.
//!
//! The Data API is asynchronous: a statement (or a batch, which runs as one transaction)
//! is submitted, polled with `DescribeStatement` until it finishes, and its rows are read
//! page by page with `GetStatementResult`. Staged rows go to S3 as CSV and are loaded
//! with `COPY`, which is how Redshift ingests in bulk. The transform SQL is the same
//! files PostgreSQL runs.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_redshiftdata::types::{Field, StatusString};
use chrono::{DateTime, NaiveDate, Utc};
use ppmt_domain::record::PriceKind;
use ppmt_domain::{BatchId, BatchRef};
use rust_decimal::Decimal;

use crate::adapters::staging::{rejected_rows_csv, staged_rows_csv, REJECTED_COLUMNS, STAGING_COLUMNS};
use crate::error::{aws_error, PortError};
use crate::ports::{
    CurrentPrice, ObjectStore, PriceKey, SqlStep, StagedBatch, TransformCounts, TransformOutcome, Warehouse,
};
use crate::sql;

/// The Data API takes at most this many statements in one batch.
const MAX_BATCH_STATEMENTS: usize = 40;
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

/// Quotes a text literal for Redshift (`'` doubled).
pub fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// The statements that replace a day's staged data with `staged`, whose CSV files are at
/// `rows_uri` and `rejects_uri`. They run as one transaction.
pub fn staging_statements(staged: &StagedBatch, rows_uri: &str, rejects_uri: &str, role_arn: &str) -> Vec<String> {
    let b = &staged.batch;
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
        "LOCK batches".to_owned(),
        format!("DELETE FROM staging_prices WHERE batch_date = {day}"),
        format!("DELETE FROM rejected_rows WHERE batch_date = {day}"),
        format!("DELETE FROM batches WHERE batch_date = {day}"),
        format!(
            "INSERT INTO batches (batch_id, batch_date, bucket, manifest_key, rows_staged, rows_rejected, loaded_at) \
             VALUES ({id}, {day}, {}, {}, {}, {}, GETDATE())",
            literal(&b.bucket),
            literal(&b.manifest_key),
            staged.rows.len(),
            staged.rejects.len()
        ),
        copy(STAGING_COLUMNS, rows_uri),
        copy(REJECTED_COLUMNS, rejects_uri),
    ];
    if !staged.fx_rates.is_empty() {
        let keys: Vec<String> = staged
            .fx_rates
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
        let values: Vec<String> = staged
            .fx_rates
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

/// Redshift returns `timestamptz` as `2026-11-25 02:00:00+00`.
fn parse_timestamp(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f%#z")
        .or_else(|_| DateTime::parse_from_rfc3339(text))
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// One row of `sql/queries/current_prices.sql`, in its column order.
pub fn parse_current_price(row: &[Field]) -> Result<CurrentPrice, String> {
    let get = |i: usize, name: &str| -> Result<String, String> {
        row.get(i).and_then(text).ok_or_else(|| format!("column {name} is missing or NULL"))
    };
    let decimal = |i: usize, name: &str| -> Result<Decimal, String> {
        get(i, name)?.parse::<Decimal>().map_err(|e| format!("column {name}: {e}"))
    };
    let date = |i: usize, name: &str| -> Result<NaiveDate, String> {
        NaiveDate::parse_from_str(&get(i, name)?, "%Y-%m-%d").map_err(|e| format!("column {name}: {e}"))
    };
    let kind = get(4, "price_kind")?;
    let observed = get(10, "observed_at")?;
    Ok(CurrentPrice {
        product_id: get(0, "product_id")?,
        source_id: get(1, "source_id")?,
        name: row.get(2).and_then(text),
        price: decimal(3, "price")?,
        price_kind: PriceKind::parse(&kind).ok_or_else(|| format!("unknown price_kind `{kind}`"))?,
        currency: get(5, "currency")?.trim().to_owned(),
        price_usd: decimal(6, "price_usd")?,
        market_price_usd: decimal(7, "market_price_usd")?,
        market_sources: get(8, "market_sources")?.parse().map_err(|e| format!("column market_sources: {e}"))?,
        price_date: date(9, "price_date")?,
        observed_at: parse_timestamp(&observed).ok_or_else(|| format!("column observed_at: `{observed}`"))?,
        fx_rate_date: date(11, "fx_rate_date")?,
        batch_id: get(12, "batch_id")?,
    })
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

    /// Runs statements as one transaction.
    async fn run_batch(&self, statements: Vec<String>, what: &str) -> Result<(), PortError> {
        if statements.len() > MAX_BATCH_STATEMENTS {
            return Err(PortError::permanent(
                what.to_owned(),
                format!("{} statements; the Data API takes {MAX_BATCH_STATEMENTS}", statements.len()),
            ));
        }
        let out = self
            .client
            .batch_execute_statement()
            .workgroup_name(&self.workgroup)
            .database(&self.database)
            .set_secret_arn(self.secret_arn.clone())
            .set_sqls(Some(statements))
            .send()
            .await
            .map_err(|e| aws_error(format!("submit {what}"), e))?;
        let id = out.id().ok_or_else(|| PortError::transient(format!("submit {what}"), "no statement id returned"))?;
        self.wait(id, what).await
    }

    /// Runs one query and reads all its rows.
    async fn query(&self, sql: String, what: &str) -> Result<Vec<Vec<Field>>, PortError> {
        let out = self
            .client
            .execute_statement()
            .workgroup_name(&self.workgroup)
            .database(&self.database)
            .set_secret_arn(self.secret_arn.clone())
            .sql(sql)
            .send()
            .await
            .map_err(|e| aws_error(format!("submit {what}"), e))?;
        let id = out
            .id()
            .ok_or_else(|| PortError::transient(format!("submit {what}"), "no statement id returned"))?
            .to_owned();
        self.wait(&id, what).await?;
        let mut rows = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self
                .client
                .get_statement_result()
                .id(&id)
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| aws_error(format!("read {what}"), e))?;
            rows.extend(page.records().iter().cloned());
            match page.next_token() {
                Some(t) if !t.is_empty() => token = Some(t.to_owned()),
                _ => return Ok(rows),
            }
        }
    }

    fn render(step: &SqlStep, batch: &BatchRef) -> Result<String, PortError> {
        sql::render(step, batch).map_err(|e| PortError::permanent(format!("render {}", step.name), e))
    }
}

#[async_trait]
impl Warehouse for RedshiftWarehouse {
    async fn stage_batch(&self, staged: &StagedBatch) -> Result<(), PortError> {
        let id = &staged.batch.batch_id;
        let encode = |e: csv::Error| PortError::permanent(format!("encode staged rows of batch {id}"), e);
        let prefix = format!("staging/{id}");
        let rows_key = format!("{prefix}/staging_prices.csv");
        let rejects_key = format!("{prefix}/rejected_rows.csv");
        self.store.put(&self.staging_bucket, &rows_key, staged_rows_csv(staged).map_err(encode)?, "text/csv").await?;
        self.store
            .put(&self.staging_bucket, &rejects_key, rejected_rows_csv(staged).map_err(encode)?, "text/csv")
            .await?;
        let uri = |key: &str| format!("s3://{}/{key}", self.staging_bucket);
        let statements = staging_statements(staged, &uri(&rows_key), &uri(&rejects_key), &self.copy_role_arn);
        self.run_batch(statements, &format!("staging of batch {id}")).await
    }

    async fn current_batch(&self, batch: &BatchRef) -> Result<Option<BatchId>, PortError> {
        let what = format!("staged batch of {}", batch.batch_date);
        let rows = self.query(Self::render(&sql::CURRENT_BATCH, batch)?, &what).await?;
        Ok(rows.first().and_then(|row| row.first()).and_then(text).map(BatchId))
    }

    async fn run_transform(&self, batch: &BatchRef, steps: &[SqlStep]) -> Result<TransformOutcome, PortError> {
        let id = &batch.batch_id;
        // Checked before the transaction; if a newer load lands in between, the guarded
        // day reset (010) deletes nothing and this batch has no staged rows to insert.
        let current = self.current_batch(batch).await?;
        if current.as_ref() != Some(id) {
            return Ok(TransformOutcome::Superseded { current });
        }
        let mut statements = vec!["LOCK batches".to_owned()];
        for step in steps {
            statements.extend(sql::split_statements(&Self::render(step, batch)?));
        }
        self.run_batch(statements, &format!("transform of batch {id}")).await?;
        let rows = self.query(Self::render(&sql::BATCH_COUNTS, batch)?, &format!("row counts of batch {id}")).await?;
        let row = rows.first().ok_or_else(|| PortError::permanent(format!("row counts of batch {id}"), "no row"))?;
        let count = |i: usize| row.get(i).and_then(text).and_then(|t| t.parse::<u64>().ok()).unwrap_or(0);
        // The Data API commits the batch before it can be counted; the transformer still
        // refuses to announce a batch whose accounting is broken.
        Ok(TransformOutcome::Done(TransformCounts {
            staged: count(0),
            facts: count(1),
            quarantined: count(2),
            duplicates: count(3),
        }))
    }

    async fn current_prices(&self, batch: &BatchRef) -> Result<Vec<CurrentPrice>, PortError> {
        let what = format!("current prices of batch {}", batch.batch_id);
        let rows = self.query(Self::render(&sql::CURRENT_PRICES, batch)?, &what).await?;
        rows.iter().map(|r| parse_current_price(r).map_err(|e| PortError::permanent(what.clone(), e))).collect()
    }

    async fn retired_keys(&self, batch: &BatchRef) -> Result<Vec<PriceKey>, PortError> {
        let what = format!("retired keys of batch {}", batch.batch_id);
        let rows = self.query(Self::render(&sql::RETIRED_KEYS, batch)?, &what).await?;
        rows.iter()
            .map(|r| match (r.first().and_then(text), r.get(1).and_then(text)) {
                (Some(product_id), Some(source_id)) => Ok(PriceKey { product_id, source_id }),
                _ => Err(PortError::permanent(what.clone(), "a row without product_id and source_id")),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ppmt_domain::record::FxRateRecord;
    use ppmt_domain::Currency;

    fn staged() -> StagedBatch {
        StagedBatch {
            batch: BatchRef {
                batch_id: BatchId("2026-11-25-b1".into()),
                batch_date: NaiveDate::from_ymd_opt(2026, 11, 25).unwrap(),
                bucket: "raw".into(),
                manifest_key: "raw/2026-11-25/manifest.json".into(),
            },
            rows: vec![],
            rejects: vec![],
            fx_rates: vec![FxRateRecord {
                rate_date: NaiveDate::from_ymd_opt(2026, 11, 25).unwrap(),
                base_currency: Currency::EUR,
                quote_currency: Currency::USD,
                rate: Decimal::new(105, 2),
                source: "ECB's".into(),
            }],
        }
    }

    #[test]
    fn staging_replaces_the_day_in_one_batch_and_quotes_literals() {
        let statements = staging_statements(
            &staged(),
            "s3://raw/staging/a.csv",
            "s3://raw/staging/b.csv",
            "arn:aws:iam::1:role/copy",
        );
        assert_eq!(statements[0], "LOCK batches");
        assert_eq!(statements[1], "DELETE FROM staging_prices WHERE batch_date = '2026-11-25'");
        assert!(statements[5].starts_with("COPY staging_prices (batch_id,"));
        assert!(statements[5].ends_with("FROM 's3://raw/staging/a.csv' IAM_ROLE 'arn:aws:iam::1:role/copy' FORMAT AS CSV EMPTYASNULL TIMEFORMAT 'auto'"));
        assert!(statements[8].contains("('2026-11-25', 'EUR', 'USD', 1.05, 'ECB''s', '2026-11-25-b1')"));
        assert!(statements.len() <= MAX_BATCH_STATEMENTS);
    }

    #[test]
    fn the_transform_fits_in_one_data_api_batch() {
        let b = staged().batch;
        let count: usize =
            sql::TRANSFORM_STEPS.iter().map(|s| sql::split_statements(&sql::render(s, &b).unwrap()).len()).sum();
        assert!(count < MAX_BATCH_STATEMENTS, "{count} statements");
    }

    #[test]
    fn reads_current_price_rows_as_the_data_api_returns_them() {
        let s = |v: &str| Field::StringValue(v.into());
        let row = vec![
            s("p1"),
            s("shop"),
            Field::IsNull(true),
            s("12.500000"),
            s("exact"),
            s("EUR"),
            s("13.13"),
            s("13.13"),
            Field::LongValue(1),
            s("2026-11-25"),
            s("2026-11-25 02:00:00+00"),
            s("2026-11-25"),
            s("b1"),
        ];
        let p = parse_current_price(&row).unwrap();
        assert_eq!((p.price, p.name, p.market_sources), (Decimal::new(125, 1), None, 1));
        assert_eq!(p.observed_at.to_rfc3339(), "2026-11-25T02:00:00+00:00");
        let short = parse_current_price(&row[..3]).unwrap_err();
        assert!(short.contains("column price"), "{short}");
    }
}
