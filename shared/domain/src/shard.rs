//! Splits of a stage's work into messages, so Lambda runs them in parallel; the messages
//! of one split share its `split_id`, under which the ledger tallies them.
//!
//! - Shards of a large sync: the syncer splits a batch whose app view has more writes
//!   than one invocation should carry into `count` shards. A write belongs to the shard
//!   its item's partition key hashes to, so a product's items (all under
//!   `PRODUCT#<id>`) stay together and every item is in exactly one shard; a GTIN pointer
//!   hashes by its own key.
//! - Parts of a large load: the loader splits a day whose files are larger than one
//!   invocation should read into one part per file of the manifest.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::batch::BatchRef;
use crate::event::StageEvent;

/// One shard's message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncShard {
    /// The `transformed` event the split came from.
    pub event: StageEvent,
    /// Shared by every shard of one split.
    pub split_id: String,
    /// This shard, from 0.
    pub index: u32,
    /// How many shards the split has.
    pub count: u32,
}

/// The message body `{"<tag>": {...}}`, the value's fields in declaration order.
fn wrapped<T: Serialize>(tag: &str, value: &T) -> String {
    serde_json::to_string(&std::collections::BTreeMap::from([(tag, value)])).unwrap_or_default()
}

/// `None` when `text` is not a message wrapped under `tag`; otherwise its value, or why
/// its body is broken.
fn unwrapped<T: DeserializeOwned>(tag: &str, text: &str) -> Option<Result<T, serde_json::Error>> {
    let mut value: serde_json::Value = serde_json::from_str(text).ok()?;
    let inner = value.get_mut(tag)?.take();
    Some(serde_json::from_value(inner))
}

impl SyncShard {
    /// The message body: `{"sync_shard": {...}}`.
    pub fn to_body(&self) -> String {
        wrapped("sync_shard", self)
    }

    /// `None` when `text` is not a shard message (a stage event, say); otherwise the
    /// shard, or why its body is broken.
    pub fn parse(text: &str) -> Option<Result<SyncShard, serde_json::Error>> {
        unwrapped("sync_shard", text)
    }

    /// Whether the item with partition key `pk` is this shard's.
    pub fn owns(&self, pk: &str) -> bool {
        shard_of(pk, self.count) == self.index
    }
}

/// One part of a day loaded in parts: one file of its manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoadPart {
    pub batch: BatchRef,
    /// sha256 of the manifest the split was made from, hex: a part whose day's manifest
    /// hashes otherwise now belongs to a replaced scrape.
    pub manifest_sha256: String,
    /// The trace id of the manifest's event, carried on to `loaded`.
    pub trace_id: String,
    /// Shared by every part of one split.
    pub split_id: String,
    /// This part, from 0.
    pub index: u32,
    /// How many parts the split has.
    pub count: u32,
    /// The part's file: its key, and its place in the manifest's list of files.
    pub file_key: String,
    pub file_index: u32,
}

impl LoadPart {
    /// The message body: `{"load_part": {...}}`.
    pub fn to_body(&self) -> String {
        wrapped("load_part", self)
    }

    /// `None` when `text` is not a load part's message; otherwise the part, or why its
    /// body is broken.
    pub fn parse(text: &str) -> Option<Result<LoadPart, serde_json::Error>> {
        unwrapped("load_part", text)
    }
}

/// Most shards of one split: their tally stays one ledger item well under DynamoDB's
/// 400 KB; beyond it the shards grow instead.
pub const MAX_SHARDS: u32 = 500;

/// How many shards `writes` writes need at about `per_shard` each (the split is by
/// hash, so sizes vary a little): from 1 to [`MAX_SHARDS`].
pub fn shard_count(writes: usize, per_shard: usize) -> u32 {
    u32::try_from(writes.div_ceil(per_shard.max(1))).unwrap_or(u32::MAX).clamp(1, MAX_SHARDS)
}

/// The shard of a partition key: FNV-1a of its bytes, modulo `count`. Stable across
/// processes and versions, unlike the standard library's hasher.
pub fn shard_of(pk: &str, count: u32) -> u32 {
    let hash = pk.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
    u32::try_from(hash % u64::from(count.max(1))).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{BatchId, BatchRef, Stage, StageCounts};

    #[test]
    fn every_key_is_in_exactly_one_shard_and_shards_are_even() {
        let keys: Vec<String> = (0..4000).map(|i| format!("PRODUCT#G{i:014}")).collect();
        let mut sizes = [0usize; 4];
        for k in &keys {
            sizes[shard_of(k, 4) as usize] += 1;
        }
        assert_eq!(sizes.iter().sum::<usize>(), 4000);
        assert!(sizes.iter().all(|s| (800..1200).contains(s)), "{sizes:?}");
        // Fixed for good: a change would split one product's items across shards of
        // two syncer versions.
        assert_eq!(shard_of("PRODUCT#p1", 7), shard_of("PRODUCT#p1", 7));
        assert_eq!(shard_of("", 3), u32::try_from(0xcbf2_9ce4_8422_2325_u64 % 3).unwrap());
        assert_eq!((shard_count(0, 100), shard_count(100, 100), shard_count(101, 100)), (1, 1, 2));
        assert_eq!(shard_count(10_000_000, 1), MAX_SHARDS);
    }

    #[test]
    fn shards_and_parts_round_trip_and_other_bodies_are_neither() {
        let batch = BatchRef {
            batch_id: BatchId("2026-11-24-ab".into()),
            batch_date: chrono::NaiveDate::from_ymd_opt(2026, 11, 24).unwrap(),
            bucket: "raw".into(),
            manifest_key: "raw/2026-11-24/manifest.json".into(),
        };
        let event = StageEvent::new(&batch, Stage::Transformed, StageCounts::default(), "t".into());
        let shard = SyncShard { event: event.clone(), split_id: "s1".into(), index: 2, count: 3 };
        assert_eq!(SyncShard::parse(&shard.to_body()).unwrap().unwrap(), shard);
        assert!(SyncShard::parse(&serde_json::to_string(&event).unwrap()).is_none());
        assert!(SyncShard::parse("not json").is_none());
        assert!(SyncShard::parse(r#"{"sync_shard": {"index": 1}}"#).unwrap().is_err());
        let part = LoadPart {
            batch,
            manifest_sha256: "ab".into(),
            trace_id: "t".into(),
            split_id: "s1".into(),
            index: 1,
            count: 2,
            file_key: "raw/2026-11-24/shop_020000.csv".into(),
            file_index: 3,
        };
        assert!(
            part.to_body().starts_with(r#"{"load_part":{"batch":{"batch_id":"2026-11-24-ab","#),
            "{}",
            part.to_body()
        );
        assert_eq!(LoadPart::parse(&part.to_body()).unwrap().unwrap(), part);
        assert!(LoadPart::parse(&shard.to_body()).is_none());
        assert!(SyncShard::parse(&part.to_body()).is_none());
        assert!(LoadPart::parse(r#"{"load_part": {"index": 1}}"#).unwrap().is_err());
    }
}
