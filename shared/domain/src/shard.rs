//! Shards of a large sync: the syncer splits a batch whose app view has more writes than
//! one invocation should carry into `count` parts, one SQS message each, so Lambda syncs
//! them in parallel. A write belongs to the shard its item's partition key hashes to,
//! so a product's items (all under `PRODUCT#<id>`) stay together and every item is in
//! exactly one shard; a GTIN pointer hashes by its own key. The
//! shards of one split share its `split_id`, under which the ledger tallies them.

use serde::{Deserialize, Serialize};

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

#[derive(Serialize, Deserialize)]
struct Envelope {
    sync_shard: SyncShard,
}

impl SyncShard {
    /// The message body: `{"sync_shard": {...}}`, fields in declaration order.
    pub fn to_body(&self) -> String {
        #[derive(Serialize)]
        struct Wrapped<'a> {
            sync_shard: &'a SyncShard,
        }
        serde_json::to_string(&Wrapped { sync_shard: self }).unwrap_or_default()
    }

    /// `None` when `text` is not a shard message (a stage event, say); otherwise the
    /// shard, or why its body is broken.
    pub fn parse(text: &str) -> Option<Result<SyncShard, serde_json::Error>> {
        let value: serde_json::Value = serde_json::from_str(text).ok()?;
        value.get("sync_shard")?;
        Some(serde_json::from_value::<Envelope>(value).map(|e| e.sync_shard))
    }

    /// Whether the item with partition key `pk` is this shard's.
    pub fn owns(&self, pk: &str) -> bool {
        shard_of(pk, self.count) == self.index
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
    fn a_shard_round_trips_and_other_bodies_are_not_shards() {
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
    }
}
