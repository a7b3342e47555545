//! A batch's identity and where its files live in the raw bucket.
//!
//! Layout (see ARCHITECTURE.md): `raw/YYYY-MM-DD/<source>_<HHMMSS>.<ext>`, then
//! `raw/YYYY-MM-DD/metadata.json`, then `raw/YYYY-MM-DD/manifest.json`, written last.

use std::fmt;

use chrono::{NaiveDate, NaiveTime};
use serde::{Deserialize, Serialize};

/// Names one day's batch. It is chosen by the scraper and written into the manifest, so
/// every redelivery or replay of that manifest carries the same id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct BatchId(pub String);

impl BatchId {
    /// A fresh id for a new scrape of `date`: the date keeps ids readable and sortable,
    /// the uuid keeps two scrapes of the same day apart.
    pub fn new_for(date: NaiveDate) -> Self {
        BatchId(format!("{date}-{}", uuid::Uuid::new_v4().simple()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Ids are 1 to 128 ASCII letters, digits, `-` or `_`: safe in keys, logs and SQL.
    pub fn is_valid(&self) -> bool {
        (1..=128).contains(&self.0.len()) && self.0.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    }
}

impl fmt::Display for BatchId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Everything a stage needs to name the batch it works on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchRef {
    /// The manifest's batch id.
    pub batch_id: BatchId,
    /// The day the prices are for.
    pub batch_date: NaiveDate,
    /// Bucket holding the manifest.
    pub bucket: String,
    /// Key of the manifest, `raw/YYYY-MM-DD/manifest.json`.
    pub manifest_key: String,
}

/// Prefix of all raw objects of one day: `raw/2026-11-25/`.
pub fn day_prefix(date: NaiveDate) -> String {
    format!("raw/{}/", date.format("%Y-%m-%d"))
}

/// Key of the day's manifest.
pub fn manifest_key(date: NaiveDate) -> String {
    format!("{}manifest.json", day_prefix(date))
}

/// Key of the day's scrape report.
pub fn metadata_key(date: NaiveDate) -> String {
    format!("{}metadata.json", day_prefix(date))
}

/// Key of one source's raw file written by the scrape `batch` at `at`:
/// `raw/2026-11-25/acme_021503_<the batch id after its date>.csv`. The batch id keeps two
/// scrapes of a day finishing in the same second from writing the same key.
pub fn raw_file_key(date: NaiveDate, source_id: &str, at: NaiveTime, batch: &BatchId, ext: &str) -> String {
    let run = batch.as_str().strip_prefix(&format!("{date}-")).unwrap_or(batch.as_str());
    format!("{}{source_id}_{}_{run}.{ext}", day_prefix(date), at.format("%H%M%S"))
}

/// Key of the `n`th original document a scrape run kept of a source:
/// `raw/<date>/original/<source>/<run>_<n>.json.gz`.
pub fn original_key(date: NaiveDate, source_id: &str, batch: &BatchId, n: usize) -> String {
    let run = batch.as_str().strip_prefix(&format!("{date}-")).unwrap_or(batch.as_str());
    format!("{}original/{source_id}/{run}_{n:04}.json.gz", day_prefix(date))
}

/// The date of a manifest key, or `None` when the key is not a day's manifest.
/// This is how the loader tells a manifest event from the events of other objects.
pub fn parse_manifest_key(key: &str) -> Option<NaiveDate> {
    let rest = key.strip_prefix("raw/")?;
    let (day, file) = rest.split_once('/')?;
    if file != "manifest.json" {
        return None;
    }
    NaiveDate::parse_from_str(day, "%Y-%m-%d").ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 25).unwrap()
    }

    #[test]
    fn keys_follow_the_layout() {
        assert_eq!(manifest_key(day()), "raw/2026-11-25/manifest.json");
        assert_eq!(metadata_key(day()), "raw/2026-11-25/metadata.json");
        let at = NaiveTime::from_hms_opt(2, 5, 9).unwrap();
        let batch = BatchId("2026-11-25-0123abcd".into());
        assert_eq!(raw_file_key(day(), "acme", at, &batch, "csv"), "raw/2026-11-25/acme_020509_0123abcd.csv");
        let other = BatchId::new_for(day());
        assert_ne!(raw_file_key(day(), "acme", at, &other, "csv"), raw_file_key(day(), "acme", at, &batch, "csv"));
    }

    #[test]
    fn recognises_only_manifest_keys() {
        assert_eq!(parse_manifest_key("raw/2026-11-25/manifest.json"), Some(day()));
        assert_eq!(parse_manifest_key("raw/2026-11-25/metadata.json"), None);
        assert_eq!(parse_manifest_key("raw/2026-13-25/manifest.json"), None);
        assert_eq!(parse_manifest_key("raw/2026-11-25/x/manifest.json"), None);
        assert_eq!(parse_manifest_key("other/2026-11-25/manifest.json"), None);
    }

    #[test]
    fn batch_ids_start_with_the_date_and_differ() {
        let a = BatchId::new_for(day());
        let b = BatchId::new_for(day());
        assert!(a.as_str().starts_with("2026-11-25-"));
        assert_ne!(a, b);
        assert!(a.is_valid());
        assert!(!BatchId("x'; DROP TABLE t".into()).is_valid());
        assert!(!BatchId(String::new()).is_valid());
    }
}
