//! `manifest.json`: the list of a batch's files, written after all of them.
//!
//! The loader trusts nothing it cannot check against the manifest: a file that is
//! missing, of another size, or with another sha256 fails the whole batch.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::batch::{day_prefix, BatchId};

/// The manifest format version this code writes and reads.
pub const MANIFEST_SCHEMA_VERSION: u32 = 1;

/// One day's batch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Format version; a reader refuses versions it does not know.
    pub schema_version: u32,
    /// The batch's identity, carried by every stage event after this.
    pub batch_id: BatchId,
    /// The day the prices are for.
    pub batch_date: NaiveDate,
    /// When the scraper finished writing the files.
    pub created_at: DateTime<Utc>,
    /// Every file of the batch.
    pub files: Vec<ManifestFile>,
    /// Sources that produced no file this time, and why, so a quiet source is noticed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources_without_data: Vec<SourceNote>,
}

/// A source the manifest has no file of.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceNote {
    pub source_id: String,
    /// `returned no records`, or the source's error.
    pub reason: String,
}

/// One raw file as the scraper wrote it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestFile {
    /// Object key in the raw bucket.
    pub key: String,
    /// The source that produced it (from the sources file).
    pub source_id: String,
    /// What the records are.
    pub kind: FileKind,
    /// How the records are encoded.
    pub format: FileFormat,
    /// Size in bytes, checked before parsing.
    pub size_bytes: u64,
    /// Lower-case hex sha256 of the content, checked before parsing.
    pub sha256: String,
    /// Records in the file; rows read must equal it.
    pub record_count: u64,
}

/// What a raw file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileKind {
    /// Price observations ([`crate::record::RawRecord`]).
    Prices,
    /// Foreign exchange reference rates ([`crate::record::FxRateRecord`]).
    FxRates,
    /// A document as the source sent it, gzip-compressed JSON with its URL and fetch time
    /// (`raw/<date>/original/<source>/`): kept so a past day can be parsed again, never
    /// loaded.
    Original,
}

/// How a raw file is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileFormat {
    /// RFC 4180 CSV with a header row naming the fields.
    Csv,
    /// JSON Lines: one JSON object per line.
    Json,
}

impl FileFormat {
    /// The file name extension.
    pub fn extension(self) -> &'static str {
        match self {
            FileFormat::Csv => "csv",
            FileFormat::Json => "json",
        }
    }
}

/// Why a manifest or a file listed in it cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    #[error("manifest is not valid JSON of the expected shape: {0}")]
    Malformed(String),
    #[error("manifest schema_version {found} is not supported (expected {MANIFEST_SCHEMA_VERSION})")]
    UnsupportedVersion { found: u32 },
    #[error("manifest for {manifest_date} sits under the key of {key_date}")]
    DateMismatch { manifest_date: NaiveDate, key_date: NaiveDate },
    #[error("manifest batch_id `{0}` must be 1-128 letters, digits, `-` or `_`")]
    BadBatchId(String),
    #[error("manifest lists no files")]
    Empty,
    #[error("manifest lists {key} twice")]
    DuplicateFile { key: String },
    #[error("manifest lists {key}, outside its own day's folder {prefix}")]
    OutsideDay { key: String, prefix: String },
    #[error(
        "batch date {batch_date} is later than tomorrow ({latest}, UTC): refused, since no real day could replace it"
    )]
    FutureDate { batch_date: NaiveDate, latest: NaiveDate },
    #[error("{key}: size is {actual} bytes, manifest says {expected}")]
    SizeMismatch { key: String, expected: u64, actual: u64 },
    #[error("{key}: sha256 is {actual}, manifest says {expected}")]
    ChecksumMismatch { key: String, expected: String, actual: String },
    #[error("{key}: {actual} records read, manifest says {expected}")]
    RecordCountMismatch { key: String, expected: u64, actual: u64 },
}

impl Manifest {
    /// `N files, M original documents`: the canonical files the loader reads, and the
    /// documents kept beside them.
    pub fn file_summary(&self) -> String {
        let originals = self.files.iter().filter(|f| f.kind == FileKind::Original).count();
        format!("{} files, {originals} original documents", self.files.len() - originals)
    }

    /// Parses and checks a manifest found at a key of `key_date`.
    pub fn parse(bytes: &[u8], key_date: NaiveDate) -> Result<Manifest, ManifestError> {
        let manifest: Manifest = serde_json::from_slice(bytes).map_err(|e| ManifestError::Malformed(e.to_string()))?;
        if manifest.schema_version != MANIFEST_SCHEMA_VERSION {
            return Err(ManifestError::UnsupportedVersion { found: manifest.schema_version });
        }
        if manifest.batch_date != key_date {
            return Err(ManifestError::DateMismatch { manifest_date: manifest.batch_date, key_date });
        }
        if !manifest.batch_id.is_valid() {
            return Err(ManifestError::BadBatchId(manifest.batch_id.0));
        }
        if manifest.files.is_empty() {
            return Err(ManifestError::Empty);
        }
        let mut keys: Vec<&str> = manifest.files.iter().map(|f| f.key.as_str()).collect();
        keys.sort_unstable();
        if let Some(w) = keys.windows(2).find(|w| w[0] == w[1]) {
            return Err(ManifestError::DuplicateFile { key: w[0].to_owned() });
        }
        let prefix = day_prefix(manifest.batch_date);
        if let Some(key) = keys.iter().find(|k| !k.starts_with(&prefix) || k.split('/').any(|part| part == "..")) {
            return Err(ManifestError::OutsideDay { key: (*key).to_owned(), prefix });
        }
        Ok(manifest)
    }

    /// Refuses a batch dated later than the day after `today` (UTC): such a day would stay
    /// the newest, and so current, over every real day after it.
    pub fn check_date(&self, today: NaiveDate) -> Result<(), ManifestError> {
        let latest = today.succ_opt().unwrap_or(today);
        if self.batch_date > latest {
            return Err(ManifestError::FutureDate { batch_date: self.batch_date, latest });
        }
        Ok(())
    }
}

impl ManifestFile {
    /// Describes `content` for the manifest.
    pub fn describe(
        key: String,
        source_id: String,
        kind: FileKind,
        format: FileFormat,
        content: &[u8],
        record_count: u64,
    ) -> ManifestFile {
        ManifestFile {
            key,
            source_id,
            kind,
            format,
            size_bytes: content.len() as u64,
            sha256: sha256_hex(content),
            record_count,
        }
    }

    /// Checks size and checksum of the bytes read back from the store.
    pub fn verify(&self, content: &[u8]) -> Result<(), ManifestError> {
        self.verify_digest(content.len() as u64, sha256_hex(content))
    }

    /// Checks the size and the lower-case hex sha256 of a file read as a stream, which
    /// the reader counted and hashed as the bytes went by.
    pub fn verify_digest(&self, actual: u64, digest: String) -> Result<(), ManifestError> {
        if actual != self.size_bytes {
            return Err(ManifestError::SizeMismatch { key: self.key.clone(), expected: self.size_bytes, actual });
        }
        if !digest.eq_ignore_ascii_case(&self.sha256) {
            return Err(ManifestError::ChecksumMismatch {
                key: self.key.clone(),
                expected: self.sha256.clone(),
                actual: digest,
            });
        }
        Ok(())
    }

    /// Checks the number of records parsed out of the file.
    pub fn verify_record_count(&self, actual: u64) -> Result<(), ManifestError> {
        if actual == self.record_count {
            Ok(())
        } else {
            Err(ManifestError::RecordCountMismatch { key: self.key.clone(), expected: self.record_count, actual })
        }
    }
}

/// Lower-case hex sha256.
pub fn sha256_hex(content: &[u8]) -> String {
    hex::encode(Sha256::digest(content))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 25).unwrap()
    }

    fn manifest_json(date: &str, files: &str) -> String {
        format!(
            r#"{{"schema_version":1,"batch_id":"b1","batch_date":"{date}","created_at":"2026-11-25T02:10:00Z","files":{files}}}"#
        )
    }

    const ONE_FILE: &str = r#"[{"key":"raw/2026-11-25/a_020000.csv","source_id":"a","kind":"prices","format":"csv","size_bytes":3,"sha256":"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad","record_count":1}]"#;

    #[test]
    fn parses_a_valid_manifest_and_verifies_content() {
        let m = Manifest::parse(manifest_json("2026-11-25", ONE_FILE).as_bytes(), day()).unwrap();
        assert_eq!(m.batch_id.as_str(), "b1");
        assert_eq!(m.files[0].verify(b"abc"), Ok(()));
        assert!(matches!(m.files[0].verify(b"abd"), Err(ManifestError::ChecksumMismatch { .. })));
        assert!(matches!(m.files[0].verify(b"abcd"), Err(ManifestError::SizeMismatch { .. })));
        assert!(m.files[0].verify_record_count(1).is_ok());
        assert!(m.files[0].verify_record_count(2).is_err());
    }

    #[test]
    fn refuses_bad_manifests_with_reasons() {
        let wrong_day = Manifest::parse(manifest_json("2026-11-24", ONE_FILE).as_bytes(), day());
        assert!(matches!(wrong_day, Err(ManifestError::DateMismatch { .. })));
        let empty = Manifest::parse(manifest_json("2026-11-25", "[]").as_bytes(), day());
        assert_eq!(empty, Err(ManifestError::Empty));
        let two = format!("[{0},{0}]", &ONE_FILE[1..ONE_FILE.len() - 1]);
        let dup = Manifest::parse(manifest_json("2026-11-25", &two).as_bytes(), day());
        assert!(matches!(dup, Err(ManifestError::DuplicateFile { .. })));
        assert!(matches!(Manifest::parse(b"{", day()), Err(ManifestError::Malformed(_))));
        let elsewhere = ONE_FILE.replace("raw/2026-11-25/a_", "raw/2026-11-24/a_");
        let outside = Manifest::parse(manifest_json("2026-11-25", &elsewhere).as_bytes(), day());
        assert!(
            matches!(outside, Err(ManifestError::OutsideDay { ref key, .. }) if key == "raw/2026-11-24/a_020000.csv")
        );
        let climbing = ONE_FILE.replace("raw/2026-11-25/a_", "raw/2026-11-25/../../etc/a_");
        let up = Manifest::parse(manifest_json("2026-11-25", &climbing).as_bytes(), day());
        assert!(matches!(up, Err(ManifestError::OutsideDay { .. })));
        let v2 = manifest_json("2026-11-25", ONE_FILE).replace("\"schema_version\":1", "\"schema_version\":2");
        assert_eq!(Manifest::parse(v2.as_bytes(), day()), Err(ManifestError::UnsupportedVersion { found: 2 }));
    }

    #[test]
    fn refuses_a_batch_date_later_than_tomorrow() {
        let m = Manifest::parse(manifest_json("2026-11-25", ONE_FILE).as_bytes(), day()).unwrap();
        let d = |s: &str| s.parse::<NaiveDate>().unwrap();
        assert_eq!(m.check_date(d("2026-11-24")), Ok(()));
        assert_eq!(m.check_date(d("2026-11-25")), Ok(()));
        assert_eq!(
            m.check_date(d("2026-11-23")),
            Err(ManifestError::FutureDate { batch_date: d("2026-11-25"), latest: d("2026-11-24") })
        );
    }

    #[test]
    fn describe_round_trips_through_verify() {
        let f = ManifestFile::describe("k".into(), "s".into(), FileKind::Prices, FileFormat::Json, b"{}\n", 1);
        assert_eq!(f.size_bytes, 3);
        assert!(f.verify(b"{}\n").is_ok());
    }
}
