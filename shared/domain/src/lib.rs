//! Pure domain types and contracts of the PPMT-AMP price pipeline.
//!
//! Nothing here does I/O. Every service depends on this crate for the shapes that cross
//! a boundary between them:
//!
//! - [`money`]: ISO 4217 currencies and decimal amounts (money is never a float);
//! - [`app_view`]: the items of the app's DynamoDB table, for the syncer and the API;
//! - [`batch`]: a batch's identity and the raw S3 layout (`raw/YYYY-MM-DD/...`);
//! - [`manifest`]: `manifest.json`, the batch's commit marker, and how to verify a file
//!   against it;
//! - [`record`]: the canonical raw record the scraper writes and the loader validates,
//!   with the reason codes of rejected rows;
//! - [`identity`]: the keys products are matched by across sources (GTIN-14, MPN,
//!   brand, name);
//! - [`event`]: the versioned stage-event envelope published on SNS;
//! - [`topology`]: the queues, topic, bucket and tables, defined once for every
//!   environment;
//! - [`s3_event`]: decoding S3 notifications and SNS envelopes found in SQS bodies;
//! - [`shard`]: the parts a large sync is split into.

pub mod app_view;
pub mod batch;
pub mod event;
pub mod identity;
pub mod manifest;
pub mod money;
pub mod record;
pub mod s3_event;
pub mod shard;
pub mod topology;

pub use batch::{BatchId, BatchRef};
pub use event::{Stage, StageCounts, StageEvent};
pub use manifest::{FileKind, Manifest, ManifestFile};
pub use money::{Currency, CurrencyError};
pub use record::{RawRecord, RejectReason, RowReject, ValidRecord};
