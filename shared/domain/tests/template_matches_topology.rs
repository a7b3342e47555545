//! `infra/template.yaml` deploys the topology `ppmt provision` creates locally. This
//! keeps the two from drifting: every name and setting that `Topology` defines must
//! appear in the template, spelled with the template's `${StackName}`.
#![allow(clippy::unwrap_used)] // test code: a panic is a failed test

use ppmt_domain::app_view::CATEGORY_INDEX;
use ppmt_domain::topology::{
    filter_policy, QueueFeed, Topology, DLQ_RETENTION_SECS, LEDGER_BY_DATE_INDEX, MAX_RECEIVE_COUNT,
    VISIBILITY_TIMEOUT_SECS,
};

fn template() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../infra/template.yaml")).unwrap()
}

#[test]
fn every_resource_name_of_the_topology_is_in_the_template() {
    let text = template();
    let t = Topology::for_stack("${StackName}");
    let mut names = vec![t.stage_topic.clone(), t.prices_table.name.clone(), t.ledger_table.name.clone()];
    for q in &t.queues {
        names.push(q.name.clone());
        names.push(q.dlq_name.clone());
    }
    for name in names {
        assert!(text.contains(&format!("!Sub \"{name}\"")), "{name} is not declared in infra/template.yaml");
    }
    assert!(text.contains(&format!("IndexName: {LEDGER_BY_DATE_INDEX}")));
    assert!(text.contains(&format!("IndexName: {CATEGORY_INDEX}")));
    assert!(text.contains(&format!("AttributeName: {}", t.prices_table.ttl_attribute.unwrap())));
}

#[test]
fn queue_settings_and_filters_match() {
    let text = template();
    let t = Topology::for_stack("${StackName}");
    let consumers = t.queues.len();
    assert_eq!(text.matches(&format!("maxReceiveCount: {MAX_RECEIVE_COUNT}")).count(), consumers);
    assert_eq!(text.matches(&format!("VisibilityTimeout: {VISIBILITY_TIMEOUT_SECS}")).count(), consumers);
    assert_eq!(text.matches(&format!("MessageRetentionPeriod: {DLQ_RETENTION_SECS}")).count(), consumers);
    for q in &t.queues {
        if let (QueueFeed::StageEvent(stage), Some(_)) = (q.feed, filter_policy(q.feed)) {
            assert!(
                text.contains(&format!("stage: [{}]", stage.as_str())),
                "no filter on {} for {}",
                stage.as_str(),
                q.consumer
            );
        }
    }
    assert_eq!(text.matches("RawMessageDelivery: true").count(), consumers - 1, "every SNS subscription is raw");
    assert!(text.contains("Value: manifest.json") && text.contains("Value: raw/"), "the manifest notification filter");
    assert_eq!(text.matches("FunctionResponseTypes: [ReportBatchItemFailures]").count(), 3);
}

#[test]
fn data_is_encrypted_recoverable_and_reached_with_least_privilege() {
    let text = template();
    let t = Topology::for_stack("${StackName}");
    // Every queue and DLQ (SSE-SQS), the topic, and PITR on both tables.
    assert_eq!(text.matches("SqsManagedSseEnabled: true").count(), 2 * t.queues.len());
    assert!(text.contains("KmsMasterKeyId: alias/aws/sns"));
    assert_eq!(text.matches("PointInTimeRecoveryEnabled: true").count(), 2);
    // The raw bucket: versioned, TLS only.
    assert!(text.contains("VersioningConfiguration:\n        Status: Enabled"));
    assert!(text.contains("aws:SecureTransport: \"false\""));
    // No broad managed policies; Data API results only for the caller's own statements.
    assert!(!text.contains("CrudPolicy"), "a CRUD managed policy is back");
    assert!(!text.contains("workgroup/*"), "Data API statements on every workgroup");
    assert_eq!(text.matches("redshift-data:statement-owner-iam-userid: \"${aws:userid}\"").count(), 3);
}
