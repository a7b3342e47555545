//! The stage-event envelope: what one stage tells the next through SNS.
//!
//! Versioned JSON. `stage` is also sent as the SNS message attribute `stage`, which the
//! subscription filter policies match on.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::batch::{BatchId, BatchRef};

/// The envelope version this code writes; readers accept it and nothing newer.
pub const EVENT_SCHEMA_VERSION: u32 = 1;

/// A pipeline stage, named after what is true when it finishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Raw files and manifest are in S3 (announced by S3 itself, not by SNS).
    Scraped,
    /// Rows are validated and staged in the warehouse.
    Loaded,
    /// `fact_prices` holds the batch's facts.
    Transformed,
    /// DynamoDB holds the current prices.
    Synced,
}

impl Stage {
    /// Every stage in pipeline order.
    pub const ALL: [Stage; 4] = [Stage::Scraped, Stage::Loaded, Stage::Transformed, Stage::Synced];

    /// The wire name, also the SNS `stage` attribute value.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Scraped => "scraped",
            Stage::Loaded => "loaded",
            Stage::Transformed => "transformed",
            Stage::Synced => "synced",
        }
    }

    /// The service whose work the stage records: the scraper, or the consumer (queue)
    /// of the same name.
    pub fn service(self) -> &'static str {
        match self {
            Stage::Scraped => "scraper",
            Stage::Loaded => "loader",
            Stage::Transformed => "transformer",
            Stage::Synced => "syncer",
        }
    }

    /// Parses a wire name.
    pub fn parse(text: &str) -> Option<Stage> {
        Stage::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

/// Row figures of a stage. Only the ones the stage knows are set, and together they
/// prove that no row was lost: read = staged + rejected, and
/// staged = facts + quarantined + duplicates.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageCounts {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub files: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows_read: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows_staged: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows_rejected: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fx_rates: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub facts: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quarantined: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duplicates: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub items_written: Option<u64>,
    /// Items removed because their product and source no longer have a price.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub items_deleted: Option<u64>,
    /// Items whose content had not changed, so nothing was written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub items_unchanged: Option<u64>,
    /// Writes refused because the item already holds a newer day or a newer load.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stale_skipped: Option<u64>,
    /// The scrape's sources, each with how it did (the `scraped` stage only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sources: Option<Vec<SourceHealth>>,
}

/// How one source did in a scrape, as the ledger and `ppmt status` show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceHealth {
    pub source_id: String,
    /// `ok`, `partial` (stopped early), `empty` (no records, no error) or `failed`.
    pub status: String,
    pub requests: u64,
    pub records: u64,
    pub rejected: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl SourceHealth {
    /// Whether the source needs an operator: anything but `ok`.
    pub fn troubled(&self) -> bool {
        self.status != "ok"
    }
}

impl StageCounts {
    /// The figures of two parts of one stage added up; a figure neither part knows
    /// stays unknown.
    pub fn plus(&self, other: &StageCounts) -> StageCounts {
        let add = |a: Option<u64>, b: Option<u64>| match (a, b) {
            (None, None) => None,
            (a, b) => Some(a.unwrap_or(0) + b.unwrap_or(0)),
        };
        StageCounts {
            files: add(self.files, other.files),
            rows_read: add(self.rows_read, other.rows_read),
            rows_staged: add(self.rows_staged, other.rows_staged),
            rows_rejected: add(self.rows_rejected, other.rows_rejected),
            fx_rates: add(self.fx_rates, other.fx_rates),
            facts: add(self.facts, other.facts),
            quarantined: add(self.quarantined, other.quarantined),
            duplicates: add(self.duplicates, other.duplicates),
            items_written: add(self.items_written, other.items_written),
            items_deleted: add(self.items_deleted, other.items_deleted),
            items_unchanged: add(self.items_unchanged, other.items_unchanged),
            stale_skipped: add(self.stale_skipped, other.stale_skipped),
            sources: match (&self.sources, &other.sources) {
                (None, None) => None,
                (a, b) => Some(a.iter().chain(b).flatten().cloned().collect()),
            },
        }
    }
}

/// One stage's "done" message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageEvent {
    pub schema_version: u32,
    /// Same for every repetition of the same stage of the same batch, so consumers and
    /// observers can recognise a repeat.
    pub event_id: Uuid,
    pub batch_id: BatchId,
    pub batch_date: NaiveDate,
    pub stage: Stage,
    pub produced_at: DateTime<Utc>,
    /// Follows the batch through every stage's logs.
    pub trace_id: String,
    /// Bucket of the batch's manifest.
    pub bucket: String,
    /// Key of the batch's manifest.
    pub manifest_key: String,
    pub counts: StageCounts,
}

/// Why a message body is not a stage event we can use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    #[error("body is not a stage event: {0}")]
    Malformed(String),
    #[error("stage event schema_version {0} is newer than this service understands ({EVENT_SCHEMA_VERSION})")]
    UnsupportedVersion(u32),
}

impl StageEvent {
    /// The event announcing that `stage` finished for `batch`.
    pub fn new(batch: &BatchRef, stage: Stage, counts: StageCounts, trace_id: String) -> Self {
        StageEvent {
            schema_version: EVENT_SCHEMA_VERSION,
            event_id: Uuid::new_v5(&Uuid::NAMESPACE_OID, format!("{}/{}", batch.batch_id, stage.as_str()).as_bytes()),
            batch_id: batch.batch_id.clone(),
            batch_date: batch.batch_date,
            stage,
            produced_at: Utc::now(),
            trace_id,
            bucket: batch.bucket.clone(),
            manifest_key: batch.manifest_key.clone(),
            counts,
        }
    }

    /// Decodes and checks a body.
    pub fn parse(body: &str) -> Result<StageEvent, EventError> {
        #[derive(Deserialize)]
        struct Version {
            schema_version: u32,
        }
        let version: Version = serde_json::from_str(body).map_err(|e| EventError::Malformed(e.to_string()))?;
        if version.schema_version > EVENT_SCHEMA_VERSION {
            return Err(EventError::UnsupportedVersion(version.schema_version));
        }
        serde_json::from_str(body).map_err(|e| EventError::Malformed(e.to_string()))
    }

    /// The batch this event is about.
    pub fn batch(&self) -> BatchRef {
        BatchRef {
            batch_id: self.batch_id.clone(),
            batch_date: self.batch_date,
            bucket: self.bucket.clone(),
            manifest_key: self.manifest_key.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch() -> BatchRef {
        BatchRef {
            batch_id: BatchId("2026-11-25-abc".into()),
            batch_date: NaiveDate::from_ymd_opt(2026, 11, 25).unwrap(),
            bucket: "raw".into(),
            manifest_key: "raw/2026-11-25/manifest.json".into(),
        }
    }

    #[test]
    fn round_trips_and_keeps_only_known_counts() {
        let counts =
            StageCounts { rows_read: Some(5), rows_staged: Some(4), rows_rejected: Some(1), ..Default::default() };
        let e = StageEvent::new(&batch(), Stage::Loaded, counts, "t1".into());
        let json = serde_json::to_string(&e).unwrap();
        assert!(json.contains(r#""stage":"loaded""#));
        assert!(!json.contains("facts"));
        assert_eq!(StageEvent::parse(&json).unwrap(), e);
    }

    #[test]
    fn repeats_of_a_stage_share_an_event_id() {
        let a = StageEvent::new(&batch(), Stage::Loaded, StageCounts::default(), "t".into());
        let b = StageEvent::new(&batch(), Stage::Loaded, StageCounts::default(), "u".into());
        let c = StageEvent::new(&batch(), Stage::Transformed, StageCounts::default(), "t".into());
        assert_eq!(a.event_id, b.event_id);
        assert_ne!(a.event_id, c.event_id);
    }

    #[test]
    fn refuses_newer_versions_and_garbage() {
        let body = r#"{"schema_version":2,"anything":true}"#;
        assert_eq!(StageEvent::parse(body), Err(EventError::UnsupportedVersion(2)));
        assert!(matches!(StageEvent::parse("not json"), Err(EventError::Malformed(_))));
        assert!(matches!(StageEvent::parse(r#"{"schema_version":1}"#), Err(EventError::Malformed(_))));
    }

    #[test]
    fn stage_names_round_trip() {
        for s in Stage::ALL {
            assert_eq!(Stage::parse(s.as_str()), Some(s));
        }
        assert_eq!(Stage::parse("done"), None);
    }
}
