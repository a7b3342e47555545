//! The pipeline's AWS resources, defined once.
//!
//! `ppmt provision` creates exactly this on an emulator; `infra/template.yaml` declares
//! the same resources for AWS and a test checks the two agree.

use crate::app_view::CATEGORY_INDEX;
use crate::event::Stage;

/// Tries before SQS moves a message to its dead-letter queue: with the retry delays
/// doubling from 5 s (5 + 10 + … + 320 s = 635 s), enough to ride out a 10-minute outage.
pub const MAX_RECEIVE_COUNT: u32 = 8;
/// Timeout of the consumer Lambdas: a Redshift transform can take minutes.
pub const LAMBDA_TIMEOUT_SECS: u32 = 900;
/// Queue visibility timeout: six times the Lambda timeout, as AWS advises. Workers ask
/// for a shorter one per receive and keep extending it.
pub const VISIBILITY_TIMEOUT_SECS: u32 = 6 * LAMBDA_TIMEOUT_SECS;
/// Dead-letter queues keep messages for the maximum SQS allows, 14 days.
pub const DLQ_RETENTION_SECS: u32 = 1_209_600;

/// What feeds a queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueFeed {
    /// The raw bucket's `ObjectCreated` notifications for keys ending in `manifest.json`.
    ManifestCreated,
    /// Stage events on the topic whose `stage` attribute is this stage.
    StageEvent(Stage),
    /// Every stage event (an audit trail for operators and tests).
    AllStageEvents,
}

/// One consumer's queue and its dead-letter queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueSpec {
    /// The consumer: `loader`, `transformer`, `syncer` or `audit`.
    pub consumer: &'static str,
    pub name: String,
    pub dlq_name: String,
    pub feed: QueueFeed,
}

/// Key schema of a DynamoDB table: partition key and sort key, both strings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSpec {
    pub name: String,
    pub partition_key: &'static str,
    pub sort_key: &'static str,
    /// Global secondary indexes as (name, partition key, sort key).
    pub indexes: Vec<(&'static str, &'static str, &'static str)>,
    /// The attribute whose epoch seconds expire an item (DynamoDB TTL), if any.
    pub ttl_attribute: Option<&'static str>,
}

/// Every resource of one deployment ("stack").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topology {
    pub stack: String,
    pub raw_bucket: String,
    pub stage_topic: String,
    pub queues: Vec<QueueSpec>,
    /// The app's table ([`crate::app_view`]).
    pub prices_table: TableSpec,
    pub ledger_table: TableSpec,
}

/// Name of the ledger's index by batch date.
pub const LEDGER_BY_DATE_INDEX: &str = "by_date";

impl Topology {
    /// The resources of stack `stack` (e.g. `ppmt-amp-local`).
    pub fn for_stack(stack: &str) -> Topology {
        let queue = |consumer: &'static str, feed| QueueSpec {
            consumer,
            name: format!("{stack}-{consumer}"),
            dlq_name: format!("{stack}-{consumer}-dlq"),
            feed,
        };
        Topology {
            stack: stack.to_owned(),
            raw_bucket: format!("{}-raw", stack.to_ascii_lowercase()),
            stage_topic: format!("{stack}-stage-events"),
            queues: vec![
                queue("loader", QueueFeed::ManifestCreated),
                queue("transformer", QueueFeed::StageEvent(Stage::Loaded)),
                queue("syncer", QueueFeed::StageEvent(Stage::Transformed)),
                queue("audit", QueueFeed::AllStageEvents),
            ],
            prices_table: TableSpec {
                name: format!("{stack}-prices"),
                partition_key: "pk",
                sort_key: "sk",
                indexes: vec![(CATEGORY_INDEX, "gsi1pk", "gsi1sk")],
                ttl_attribute: Some("expires_at"),
            },
            ledger_table: TableSpec {
                name: format!("{stack}-ledger"),
                partition_key: "pk",
                sort_key: "sk",
                indexes: vec![(LEDGER_BY_DATE_INDEX, "batch_date", "sk")],
                ttl_attribute: None,
            },
        }
    }

    /// The queue of `consumer`, if there is one.
    pub fn queue(&self, consumer: &str) -> Option<&QueueSpec> {
        self.queues.iter().find(|q| q.consumer == consumer)
    }
}

/// The SNS filter policy of a queue's subscription, or `None` for no filter.
pub fn filter_policy(feed: QueueFeed) -> Option<String> {
    match feed {
        QueueFeed::StageEvent(stage) => Some(format!(r#"{{"stage":["{}"]}}"#, stage.as_str())),
        QueueFeed::ManifestCreated | QueueFeed::AllStageEvents => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_derive_from_the_stack() {
        let t = Topology::for_stack("PPMT-AMP-prod");
        assert_eq!(t.raw_bucket, "ppmt-amp-prod-raw");
        assert_eq!(t.queue("loader").map(|q| q.dlq_name.as_str()), Some("PPMT-AMP-prod-loader-dlq"));
        assert_eq!(t.prices_table.name, "PPMT-AMP-prod-prices");
    }

    #[test]
    fn each_stage_consumer_filters_on_the_stage_before_it() {
        let t = Topology::for_stack("s");
        let policy = |c: &str| t.queue(c).and_then(|q| filter_policy(q.feed));
        assert_eq!(policy("loader"), None);
        assert_eq!(policy("transformer").as_deref(), Some(r#"{"stage":["loaded"]}"#));
        assert_eq!(policy("syncer").as_deref(), Some(r#"{"stage":["transformed"]}"#));
        assert_eq!(policy("audit"), None);
    }
}
