//! The scraper: run daily by the schedule (EventBridge → Lambda) or on demand
//! (`ppmt scrape --date`), it fetches every source in the sources file, writes one raw
//! file per source under `raw/YYYY-MM-DD/`, then `metadata.json` (a per-source report),
//! then `manifest.json` last. The manifest's `ObjectCreated` event wakes the loader.
//!
//! Raw files hold the canonical record (see `ppmt_domain::record`) in the source's
//! family of format: CSV for CSV feeds and FX rates, JSON Lines for JSON APIs, product
//! pages and merchant feeds. Prices are already decimals; the loader validates them.
//! Records the scraper could not use are written too, with their reason, so the loader
//! keeps them as rejected rows and every record a source sent is accounted for. Every
//! document the sources answered is kept under `raw/YYYY-MM-DD/original/`, so
//! [`reparse_from_file`] can parse a past day again from the lake alone.
//!
//! - [`sources`]: the sources file; [`http`]: rate-limited, retrying HTTP;
//! - [`pagination`]: JSON API paging; [`fetch`]: one source of each kind;
//! - [`extract`]: pure parsers (prices, feeds, pages, robots.txt);
//! - [`fixture_server`]: a local HTTP server of recorded responses, for tests and the demo.

pub mod extract;
pub mod fetch;
pub mod fixture_server;
pub mod http;
pub mod pagination;
pub mod secrets;
pub mod sources;

use std::collections::BTreeMap;
use std::time::Instant;

use bytes::Bytes;
use chrono::{DateTime, NaiveDate, Utc};
use ppmt_domain::batch::{manifest_key, metadata_key, original_key, raw_file_key};
use ppmt_domain::event::SourceHealth;
use ppmt_domain::manifest::{FileFormat, FileKind, ManifestFile, SourceNote, MANIFEST_SCHEMA_VERSION};
use ppmt_domain::record::{RawRecord, FX_CSV_HEADER, PRICE_CSV_HEADER};
use ppmt_domain::{BatchId, Manifest, Stage, StageCounts};
use ppmt_platform::error::{capped, MAX_RECORDED_ERROR};
use ppmt_platform::ports::{ObjectStore, RunLedger, RunStatus, StageRun};
use ppmt_platform::PortError;
use serde::Serialize;
use tracing::Instrument;

use crate::extract::record::{RecordReject, RejectReason, ScrapedRecord};
use crate::fetch::{fetch_source, SourceOutput};
use crate::http::{Archive, Fetcher, HttpStats, Original};
use crate::sources::{Source, SourceKind};

/// Rejects listed per source in `metadata.json`; the count is always complete.
const MAX_LISTED_REJECTS: usize = 200;

/// How a source did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceStatus {
    /// Records and no error.
    Ok,
    /// Records, but the source stopped early with an error.
    Partial,
    /// No records and no error: flagged, since a quiet source is usually a broken one.
    Empty,
    /// No records because of an error.
    Failed,
}

/// One source's line in `metadata.json`.
#[derive(Debug, Clone, Serialize)]
pub struct SourceReport {
    pub source_id: String,
    pub kind: &'static str,
    pub status: SourceStatus,
    /// The raw file written, if any.
    pub file: Option<String>,
    /// The source's documents as it sent them, in the lake: what its records came from.
    pub originals: Vec<String>,
    pub records: u64,
    pub rejected: u64,
    /// Reasons of rejected records, by code.
    pub rejected_by_reason: BTreeMap<String, u64>,
    /// The first rejects, with where and why.
    pub rejects: Vec<RecordReject>,
    pub pages: u64,
    pub http: HttpStats,
    pub disallowed_by_robots: Vec<String>,
    pub duration_ms: u64,
    pub error: Option<String>,
}

/// `metadata.json`.
#[derive(Debug, Clone, Serialize)]
pub struct ScrapeMetadata {
    pub batch_id: BatchId,
    pub batch_date: NaiveDate,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub sources: Vec<SourceReport>,
    /// Files of sources not scraped this time, kept from the day's previous manifest.
    pub carried_over: Vec<String>,
}

impl SourceReport {
    /// The source's line in the ledger.
    pub fn health(&self) -> SourceHealth {
        SourceHealth {
            source_id: self.source_id.clone(),
            status: status_name(self.status).to_owned(),
            requests: self.http.requests,
            records: self.records,
            rejected: self.rejected,
            error: self.error.clone(),
        }
    }
}

fn status_name(status: SourceStatus) -> &'static str {
    match status {
        SourceStatus::Ok => "ok",
        SourceStatus::Partial => "partial",
        SourceStatus::Empty => "empty",
        SourceStatus::Failed => "failed",
    }
}

impl ScrapeMetadata {
    /// The sources that need an operator: failed, stopped early or returned nothing, one
    /// line each with the reason. The day's batch holds the others' data.
    pub fn troubled_sources(&self) -> Vec<String> {
        self.sources
            .iter()
            .filter(|s| s.status != SourceStatus::Ok)
            .map(|s| {
                let why = s.error.as_deref().unwrap_or("returned no records");
                format!("{} ({}): {why}", s.source_id, status_name(s.status))
            })
            .collect()
    }
}

/// Records [`scrape_run`] in the ledger. A ledger that cannot be written is logged and
/// not fatal: the batch is in the lake and the chain runs on, and failing would make a
/// Lambda retry scrape the whole day again.
pub async fn record_scrape(
    ledger: &dyn RunLedger,
    date: NaiveDate,
    started_at: DateTime<Utc>,
    outcome: &Result<(Manifest, ScrapeMetadata), ScrapeError>,
) {
    let Some(run) = scrape_run(date, started_at, outcome) else { return };
    if let Err(e) = ledger.record_run(&run).await {
        tracing::error!(batch_id = %run.batch_id, error = %e, "the scrape is not in the run ledger");
    }
}

/// A scrape as the ledger's `scraped` stage of its batch, so `ppmt status` shows it
/// beside the stages after it: `failed` when a source needs an operator (the other
/// sources' data still goes on) or when no batch could be written; then `error` says
/// why. A scrape that failed before it had a batch gets a batch id of its own, except
/// one whose manifest lost to a concurrent scrape of the day (`None`): the day's batch is
/// the other scrape's, which records itself, and a batch of this one's own would be a
/// phantom in `ppmt status` (the caller still gets the error).
pub fn scrape_run(
    date: NaiveDate,
    started_at: DateTime<Utc>,
    outcome: &Result<(Manifest, ScrapeMetadata), ScrapeError>,
) -> Option<StageRun> {
    let (batch_id, health, troubled, error) = match outcome {
        Ok((manifest, metadata)) => {
            let troubled = metadata.troubled_sources();
            let error = (!troubled.is_empty()).then(|| troubled.join("; "));
            let health: Vec<SourceHealth> = metadata.sources.iter().map(SourceReport::health).collect();
            (manifest.batch_id.clone(), Some(health), !troubled.is_empty(), error)
        }
        Err(e @ ScrapeError::NothingScraped { batch_id, sources, .. }) => {
            let why = |s: &SourceHealth| {
                format!("{} ({}): {}", s.source_id, s.status, s.error.as_deref().unwrap_or("returned no records"))
            };
            let troubled: Vec<String> = sources.iter().map(why).collect();
            (batch_id.clone(), Some(sources.clone()), true, Some(format!("{e}: {}", troubled.join("; "))))
        }
        Err(ScrapeError::ManifestChanged { .. }) => return None,
        Err(e) => (BatchId::new_for(date), None, true, Some(e.to_string())),
    };
    let files = match outcome {
        Ok((manifest, _)) => Some(manifest.files.iter().filter(|f| f.kind != FileKind::Original).count() as u64),
        Err(_) => None,
    };
    // Capped as every recorded error: a ledger item holds at most 400 KB.
    let cap = |text: &str| capped(text, MAX_RECORDED_ERROR);
    let health: Option<Vec<SourceHealth>> = health
        .map(|sources| sources.into_iter().map(|s| SourceHealth { error: s.error.as_deref().map(cap), ..s }).collect());
    let sum = |f: fn(&SourceHealth) -> u64| health.as_ref().map(|h| h.iter().map(f).sum());
    Some(StageRun {
        batch_id,
        batch_date: date,
        stage: Stage::Scraped,
        status: if troubled { RunStatus::Failed } else { RunStatus::Succeeded },
        attempts: 1,
        started_at: Some(started_at),
        finished_at: Some(Utc::now()),
        counts: StageCounts {
            files,
            // Every record the sources sent, as the raw files hold them: the loader's
            // `rows_read`.
            rows_read: sum(|s| s.records + s.rejected),
            rows_rejected: sum(|s| s.rejected),
            sources: health,
            ..StageCounts::default()
        },
        error: error.as_deref().map(cap),
    })
}

/// A scrape that could not produce a batch.
#[derive(Debug, thiserror::Error)]
pub enum ScrapeError {
    #[error("read sources file {path}: {message}")]
    SourcesFile { path: String, message: String },
    #[error(transparent)]
    Sources(#[from] sources::SourcesError),
    #[error("the day's manifest {key} cannot be read, so the other sources' files cannot be kept: {message}")]
    PreviousManifest { key: String, message: String },
    #[error("no source `{id}` in {path}")]
    UnknownSource { id: String, path: String },
    #[error(transparent)]
    Store(#[from] PortError),
    #[error("no source returned data for {date}; metadata.json says why and no manifest was written")]
    NothingScraped { date: NaiveDate, batch_id: BatchId, sources: Vec<SourceHealth> },
    #[error(
        "the day's manifest {key} changed while this scrape ran (another scrape of the day wrote it first); \
         this scrape's manifest was not written, so nothing was replaced: scrape again"
    )]
    ManifestChanged { key: String },
    #[error("encode {what}: {message}")]
    Encode { what: String, message: String },
    #[error("original document {key} cannot be read: {message}")]
    Original { key: String, message: String },
    #[error("the manifest of {date} lists no original documents{}: nothing to parse again", .source_id.as_deref().map(|s| format!(" of source {s}")).unwrap_or_default())]
    NoOriginals { date: NaiveDate, source_id: Option<String> },
}

/// Where a scrape's documents come from.
pub enum Documents<'a> {
    /// The sources, over the network; every answer is kept in the lake.
    Fetch,
    /// The lake's originals of the day (`ppmt reparse`), by source and URL, and their
    /// manifest entries, listed again in the new manifest.
    Replay { documents: &'a BTreeMap<String, BTreeMap<String, (String, Original)>>, listed: &'a [ManifestFile] },
}

/// A document as the lake keeps it: gzip-compressed JSON.
fn pack_original(original: &Original) -> Result<Vec<u8>, ScrapeError> {
    use std::io::Write;
    let json = serde_json::to_vec(original).map_err(|e| encode_error("original", e))?;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&json).map_err(|e| encode_error("original", e))?;
    gz.finish().map_err(|e| encode_error("original", e))
}

/// The document a manifest entry lists, checked against its size and sha256.
async fn unpack_original(store: &dyn ObjectStore, bucket: &str, file: &ManifestFile) -> Result<Original, ScrapeError> {
    let unreadable = |message: String| ScrapeError::Original { key: file.key.clone(), message };
    let packed = store.get(bucket, &file.key).await?;
    file.verify(&packed).map_err(|e| unreadable(e.to_string()))?;
    serde_json::from_reader(flate2::read::GzDecoder::new(&packed[..])).map_err(|e| unreadable(e.to_string()))
}

/// The canonical record of a scraped one, seen at `observed_at`.
/// A scraped record as a raw record; `originals` maps a document's URL to its key in
/// the lake, for the record's link to what it was read from.
pub fn to_raw(record: &ScrapedRecord, observed_at: DateTime<Utc>, originals: &BTreeMap<String, String>) -> RawRecord {
    RawRecord {
        product_id: Some(record.product_id.clone()),
        name: record.name.clone(),
        brand: record.brand.clone(),
        gtin: record.gtin.clone(),
        mpn: record.mpn.clone(),
        category: record.category.clone(),
        price: Some(record.price.amount.to_string()),
        price_kind: Some(record.price.kind.as_str().to_owned()),
        price_max: record.price.max_amount.map(|m| m.to_string()),
        regular_price: record.regular_price.map(|r| r.to_string()),
        sale_starts_at: record.sale_starts_at.map(|t| t.to_rfc3339()),
        sale_ends_at: record.sale_ends_at.map(|t| t.to_rfc3339()),
        offer_count: record.offer_count.map(|n| n.to_string()),
        currency: Some(record.currency.clone()),
        availability: record.availability.clone(),
        url: record.url.clone(),
        observed_at: Some(record.observed_at.unwrap_or(observed_at).to_rfc3339()),
        reject_reason: None,
        reject_detail: None,
        original: record.document.as_ref().and_then(|url| originals.get(url)).cloned(),
    }
}

/// Whether a reject stands for one record the source sent (kept in the raw file and so
/// in the warehouse), rather than for a whole document that could not be fetched or read
/// (reported in `metadata.json`).
pub fn is_record_reject(reject: &RecordReject) -> bool {
    !matches!(reject.reason, RejectReason::MalformedDocument | RejectReason::FetchFailed)
}

/// A rejected record as a raw record that carries its reason and every field that could
/// be read.
pub fn reject_to_raw(
    reject: &RecordReject,
    observed_at: DateTime<Utc>,
    originals: &BTreeMap<String, String>,
) -> RawRecord {
    RawRecord {
        observed_at: reject.readable.observed_at.clone().or_else(|| Some(observed_at.to_rfc3339())),
        reject_reason: Some(reject.reason.code().to_owned()),
        reject_detail: Some(format!("{}: {}", reject.locator, reject.detail)),
        original: reject.document.as_ref().and_then(|url| originals.get(url)).cloned(),
        ..(*reject.readable).clone()
    }
}

fn encode_error(what: &str, e: impl ToString) -> ScrapeError {
    ScrapeError::Encode { what: what.to_owned(), message: e.to_string() }
}

/// A source's raw file, ready to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedFile {
    pub format: FileFormat,
    pub kind: FileKind,
    pub bytes: Vec<u8>,
    pub records: u64,
}

/// The raw file of a source, or `None` if it has no records.
pub fn render_file(
    kind: SourceKind,
    output: &SourceOutput,
    observed_at: DateTime<Utc>,
    originals: &BTreeMap<String, String>,
) -> Result<Option<RenderedFile>, ScrapeError> {
    if kind == SourceKind::EcbFx {
        if output.fx_rates.is_empty() {
            return Ok(None);
        }
        let mut w = csv::Writer::from_writer(Vec::new());
        w.write_record(FX_CSV_HEADER).map_err(|e| encode_error("fx csv", e))?;
        for rate in &output.fx_rates {
            w.write_record(rate.csv_fields()).map_err(|e| encode_error("fx csv", e))?;
        }
        let bytes = w.into_inner().map_err(|e| encode_error("fx csv", e))?;
        return Ok(Some(RenderedFile {
            format: FileFormat::Csv,
            kind: FileKind::FxRates,
            bytes,
            records: output.fx_rates.len() as u64,
        }));
    }
    // Records first, then the record-level rejects, so the loader keeps every record the
    // source sent: as a staged row, or as a rejected row with the scraper's reason.
    let rows: Vec<RawRecord> = output
        .records
        .iter()
        .map(|r| to_raw(r, observed_at, originals))
        .chain(output.rejects.iter().filter(|r| is_record_reject(r)).map(|r| reject_to_raw(r, observed_at, originals)))
        .collect();
    if rows.is_empty() {
        return Ok(None);
    }
    let bytes = if kind == SourceKind::CsvFeed {
        let mut w = csv::Writer::from_writer(Vec::new());
        w.write_record(PRICE_CSV_HEADER).map_err(|e| encode_error("price csv", e))?;
        for r in &rows {
            w.write_record(r.csv_fields()).map_err(|e| encode_error("price csv", e))?;
        }
        w.into_inner().map_err(|e| encode_error("price csv", e))?
    } else {
        let mut lines = Vec::new();
        for r in &rows {
            serde_json::to_writer(&mut lines, r).map_err(|e| encode_error("json lines", e))?;
            lines.push(b'\n');
        }
        lines
    };
    let count = rows.len() as u64;
    let format = if kind == SourceKind::CsvFeed { FileFormat::Csv } else { FileFormat::Json };
    Ok(Some(RenderedFile { format, kind: FileKind::Prices, bytes, records: count }))
}

fn status_of(output: &SourceOutput) -> SourceStatus {
    let has_data = !output.records.is_empty() || !output.fx_rates.is_empty();
    match (has_data, output.error.is_some()) {
        (true, false) => SourceStatus::Ok,
        (true, true) => SourceStatus::Partial,
        (false, false) => SourceStatus::Empty,
        (false, true) => SourceStatus::Failed,
    }
}

/// Scrapes `sources` for `date` into `bucket`: raw files, `metadata.json`, then
/// `manifest.json`. `env` resolves secrets locally.
///
/// `previous` is the day's current manifest when only some sources are scraped again:
/// the files of the other sources are carried into the new manifest, so the day's batch
/// stays complete (the loader replaces the whole day).
#[allow(clippy::too_many_arguments)] // the one path of a scrape and of a reparse
pub async fn scrape_day(
    store: &dyn ObjectStore,
    bucket: &str,
    sources: &[Source],
    date: NaiveDate,
    env: &BTreeMap<String, String>,
    previous: Option<&Manifest>,
    replaces: Option<&str>,
    documents: Documents<'_>,
) -> Result<(Manifest, ScrapeMetadata), ScrapeError> {
    let started_at = Utc::now();
    let batch_id = BatchId::new_for(date);
    let archive = |source: &Source| match &documents {
        Documents::Fetch => Archive::keep(),
        Documents::Replay { documents, .. } => Archive::Replay(
            documents
                .get(source.id())
                .into_iter()
                .flatten()
                .map(|(url, (_, doc))| (url.clone(), doc.clone()))
                .collect(),
        ),
    };
    let outputs =
        futures::future::join_all(sources.iter().map(|source| run_source(source, env, archive(source)))).await;

    let mut files = Vec::new();
    let mut reports = Vec::new();
    let mut quiet = Vec::new();
    for (source, (output, stats, duration_ms, kept)) in sources.iter().zip(outputs) {
        // The records were observed when the last document arrived: the same time when the
        // day is parsed again from the lake.
        let answered = |docs: &mut dyn Iterator<Item = DateTime<Utc>>| docs.max();
        let finished = match &documents {
            Documents::Fetch => answered(&mut kept.iter().map(|d| d.fetched_at)),
            Documents::Replay { documents, .. } => {
                answered(&mut documents.get(source.id()).into_iter().flatten().map(|(_, (_, d))| d.fetched_at))
            }
        }
        .unwrap_or_else(Utc::now);
        let (mut originals, mut listed_originals, mut links) = (Vec::new(), Vec::new(), BTreeMap::new());
        match &documents {
            Documents::Fetch => {
                for (n, original) in kept.iter().enumerate() {
                    let key = original_key(date, source.id(), &batch_id, n);
                    links.insert(original.url.clone(), key.clone());
                    let packed = pack_original(original)?;
                    let listed = ManifestFile::describe(
                        key.clone(),
                        source.id().to_owned(),
                        FileKind::Original,
                        FileFormat::Json,
                        &packed,
                        0,
                    );
                    store.put(bucket, &key, Bytes::from(packed), "application/gzip").await?;
                    listed_originals.push(listed);
                    originals.push(key);
                }
            }
            Documents::Replay { documents, listed } => {
                for file in listed.iter().filter(|f| f.kind == FileKind::Original && f.source_id == source.id()) {
                    listed_originals.push(file.clone());
                    originals.push(file.key.clone());
                }
                for (url, (key, _)) in documents.get(source.id()).into_iter().flatten() {
                    links.insert(url.clone(), key.clone());
                }
            }
        }
        let rendered = render_file(source.config.kind, &output, finished, &links)?;
        let mut file_key = None;
        if let Some(file) = rendered {
            let key = raw_file_key(date, source.id(), finished.time(), &batch_id, file.format.extension());
            let content_type = if file.format == FileFormat::Csv { "text/csv" } else { "application/x-ndjson" };
            files.push(ManifestFile::describe(
                key.clone(),
                source.id().to_owned(),
                file.kind,
                file.format,
                &file.bytes,
                file.records,
            ));
            store.put(bucket, &key, Bytes::from(file.bytes), content_type).await?;
            file_key = Some(key);
        }
        files.extend(listed_originals);
        let status = status_of(&output);
        if matches!(status, SourceStatus::Empty | SourceStatus::Failed) {
            quiet.push(SourceNote {
                source_id: source.id().to_owned(),
                reason: output.error.clone().unwrap_or_else(|| "returned no records".into()),
            });
        }
        let mut by_reason = BTreeMap::new();
        for r in &output.rejects {
            *by_reason.entry(r.reason.code().to_owned()).or_insert(0u64) += 1;
        }
        let records = output.records.len().max(output.fx_rates.len()) as u64;
        tracing::info!(source = source.id(), ?status, records, rejected = output.rejects.len(), error = ?output.error, "source scraped");
        reports.push(SourceReport {
            source_id: source.id().to_owned(),
            kind: source.config.kind.as_str(),
            status,
            file: file_key,
            originals,
            records,
            rejected: output.rejects.len() as u64,
            rejected_by_reason: by_reason,
            rejects: output.rejects.into_iter().take(MAX_LISTED_REJECTS).collect(),
            pages: output.pages,
            http: stats,
            disallowed_by_robots: output.disallowed_by_robots,
            duration_ms,
            error: output.error,
        });
    }
    let mut metadata = ScrapeMetadata {
        batch_id: batch_id.clone(),
        batch_date: date,
        started_at,
        finished_at: Utc::now(),
        sources: reports,
        carried_over: Vec::new(),
    };
    let scraped_anything = files.iter().any(|f| f.kind != FileKind::Original);
    let carried: Vec<ManifestFile> = previous
        .filter(|_| scraped_anything)
        .map(|p| p.files.iter().filter(|f| !sources.iter().any(|s| s.id() == f.source_id)).cloned().collect())
        .unwrap_or_default();
    metadata.carried_over = carried.iter().map(|f| f.key.clone()).collect();
    let body = serde_json::to_vec_pretty(&metadata).map_err(|e| encode_error("metadata.json", e))?;
    store.put(bucket, &metadata_key(date), Bytes::from(body), "application/json").await?;
    if !scraped_anything {
        let sources = metadata.sources.iter().map(SourceReport::health).collect();
        return Err(ScrapeError::NothingScraped { date, batch_id: metadata.batch_id, sources });
    }
    files.extend(carried);
    let manifest = Manifest {
        schema_version: MANIFEST_SCHEMA_VERSION,
        batch_id,
        batch_date: date,
        created_at: Utc::now(),
        files,
        sources_without_data: quiet,
    };
    let body = serde_json::to_vec_pretty(&manifest).map_err(|e| encode_error("manifest.json", e))?;
    // Only over the manifest this scrape started from: a concurrent scrape's is never
    // replaced silently.
    let key = manifest_key(date);
    match store.put_if(bucket, &key, Bytes::from(body), "application/json", replaces).await {
        Err(e) if e.conflict => return Err(ScrapeError::ManifestChanged { key }),
        written => written?,
    }
    Ok((manifest, metadata))
}

/// The sources of the file at `path`, `${NAME}`s taken from `env`; with `only`, just
/// that one. Public so that `ppmt` can refuse a file it cannot use before recording a
/// scrape: an operator's typo is not a failed batch.
pub fn read_sources(
    path: &str,
    only: Option<&str>,
    env: &BTreeMap<String, String>,
) -> Result<Vec<Source>, ScrapeError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ScrapeError::SourcesFile { path: path.to_owned(), message: e.to_string() })?;
    let mut sources = sources::parse_sources(path, &text, env)?;
    if let Some(only) = only {
        sources.retain(|s| s.id() == only);
        if sources.is_empty() {
            return Err(ScrapeError::UnknownSource { id: only.to_owned(), path: path.to_owned() });
        }
    }
    Ok(sources)
}

/// Reads the sources file at `path` and scrapes `date`. With `only`, just that source is
/// scraped and the other sources' files are kept from the day's manifest.
pub async fn scrape_from_file(
    store: &dyn ObjectStore,
    bucket: &str,
    path: &str,
    date: NaiveDate,
    only: Option<&str>,
    env: &BTreeMap<String, String>,
) -> Result<(Manifest, ScrapeMetadata), ScrapeError> {
    let sources = read_sources(path, only, env)?;
    scrape_sources(store, bucket, &sources, date, only.is_some(), env).await
}

/// Scrapes `date` from `sources` (as [`read_sources`] gave them). With `one_source`
/// (`sources` is the one source of an `only`), the other sources' files are kept from
/// the day's manifest.
pub async fn scrape_sources(
    store: &dyn ObjectStore,
    bucket: &str,
    sources: &[Source],
    date: NaiveDate,
    one_source: bool,
    env: &BTreeMap<String, String>,
) -> Result<(Manifest, ScrapeMetadata), ScrapeError> {
    // The day's manifest as this scrape starts: its version is the one the new manifest
    // may replace; a one-source scrape also keeps the other sources' files from it.
    let (current, version) = match store.get_versioned(bucket, &manifest_key(date)).await {
        Ok((bytes, version)) => (Some(bytes), Some(version)),
        Err(e) if e.not_found => (None, None),
        Err(e) => return Err(e.into()),
    };
    let previous = match (one_source, current) {
        (true, Some(bytes)) => Some(
            Manifest::parse(&bytes, date)
                .map_err(|e| ScrapeError::PreviousManifest { key: manifest_key(date), message: e.to_string() })?,
        ),
        _ => None,
    };
    scrape_day(store, bucket, sources, date, env, previous.as_ref(), version.as_deref(), Documents::Fetch).await
}

/// Parses `date` again from the lake alone: each source of the sources file at `path`
/// (or only `only`) whose original documents the day's manifest lists is run against
/// those documents instead of the network, and a new batch (canonical files and
/// manifest, written over the version read) replaces the day's. Other sources' files are
/// kept. The same documents give the same canonical records.
pub async fn reparse_from_file(
    store: &dyn ObjectStore,
    bucket: &str,
    path: &str,
    date: NaiveDate,
    only: Option<&str>,
    env: &BTreeMap<String, String>,
) -> Result<(Manifest, ScrapeMetadata), ScrapeError> {
    let sources = read_sources(path, None, env)?;
    reparse_sources(store, bucket, sources, date, only, env).await
}

/// [`reparse_from_file`] with the sources as [`read_sources`] gave them.
pub async fn reparse_sources(
    store: &dyn ObjectStore,
    bucket: &str,
    mut sources: Vec<Source>,
    date: NaiveDate,
    only: Option<&str>,
    env: &BTreeMap<String, String>,
) -> Result<(Manifest, ScrapeMetadata), ScrapeError> {
    let (bytes, version) = store.get_versioned(bucket, &manifest_key(date)).await?;
    let manifest = Manifest::parse(&bytes, date)
        .map_err(|e| ScrapeError::PreviousManifest { key: manifest_key(date), message: e.to_string() })?;
    let mut documents: BTreeMap<String, BTreeMap<String, (String, Original)>> = BTreeMap::new();
    for file in manifest.files.iter().filter(|f| f.kind == FileKind::Original) {
        if only.is_none_or(|o| o == file.source_id) {
            let original = unpack_original(store, bucket, file).await?;
            let url = original.url.clone();
            documents.entry(file.source_id.clone()).or_default().insert(url, (file.key.clone(), original));
        }
    }
    sources.retain(|s| documents.contains_key(s.id()));
    if sources.is_empty() {
        return Err(ScrapeError::NoOriginals { date, source_id: only.map(str::to_owned) });
    }
    let replay = Documents::Replay { documents: &documents, listed: &manifest.files };
    scrape_day(store, bucket, &sources, date, env, Some(&manifest), Some(&version), replay).await
}

async fn run_source(
    source: &Source,
    env: &BTreeMap<String, String>,
    archive: Archive,
) -> (SourceOutput, HttpStats, u64, Vec<Original>) {
    let span = tracing::info_span!("source", source = source.id(), kind = source.config.kind.as_str());
    async move {
        let started = Instant::now();
        if let Some(why) = &source.unusable {
            tracing::error!(error = %why, "source cannot be scraped");
            let output = SourceOutput { error: Some(why.clone()), ..SourceOutput::default() };
            return (output, HttpStats::default(), 0, Vec::new());
        }
        let auth = match &source.config.auth {
            None => Ok(None),
            Some(a) => secrets::resolve_secret(&a.secret, env)
                .await
                .map(|s| Some((a.header.clone(), format!("{}{s}", a.prefix)))),
        };
        let c = &source.config;
        let fetcher = auth.and_then(|auth| {
            Fetcher::new(source.timeout(), c.rate_limit_per_sec, c.burst, c.concurrency, c.max_retries, auth)
        });
        let fetcher = fetcher.map(|f| f.with_archive(archive));
        let (output, stats, kept) = match fetcher {
            Ok(fetcher) => {
                let mut output = fetch_source(source, &fetcher).await;
                for record in &mut output.records {
                    record.availability = record.availability.take().map(|a| source.map_availability(a));
                }
                (output, fetcher.stats(), fetcher.kept())
            }
            Err(e) => (SourceOutput { error: Some(e), ..SourceOutput::default() }, HttpStats::default(), Vec::new()),
        };
        (output, stats, started.elapsed().as_millis() as u64, kept)
    }
    .instrument(span)
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scrape_that_lost_its_manifest_to_another_records_no_batch_of_its_own() {
        let date = NaiveDate::from_ymd_opt(2026, 11, 25).unwrap_or_default();
        let lost = Err(ScrapeError::ManifestChanged { key: manifest_key(date) });
        assert_eq!(scrape_run(date, Utc::now(), &lost), None);
        let unreadable = Err(ScrapeError::SourcesFile { path: "sources.toml".into(), message: "missing".into() });
        let run = scrape_run(date, Utc::now(), &unreadable).unwrap();
        assert_eq!((run.stage, run.status), (Stage::Scraped, RunStatus::Failed));
    }

    #[test]
    fn each_recorded_scrape_error_is_capped() {
        let date = NaiveDate::from_ymd_opt(2026, 11, 25).unwrap();
        let huge = "x".repeat(100_000);
        let source = |id: &str| SourceHealth {
            source_id: id.into(),
            status: "failed".into(),
            requests: 1,
            records: 0,
            rejected: 0,
            error: Some(huge.clone()),
        };
        let nothing = Err(ScrapeError::NothingScraped {
            date,
            batch_id: BatchId::new_for(date),
            sources: vec![source("a"), source("b")],
        });
        let run = scrape_run(date, Utc::now(), &nothing).unwrap();
        assert!(run.error.unwrap().len() <= MAX_RECORDED_ERROR);
        for s in run.counts.sources.unwrap() {
            assert!(s.error.unwrap().len() <= MAX_RECORDED_ERROR, "{}", s.source_id);
        }
    }
}
