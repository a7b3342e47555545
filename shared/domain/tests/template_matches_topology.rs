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

/// The entries of a top-level section of the template (`Parameters`, `Resources`): each
/// name with its block of text, up to the next entry.
fn entries<'t>(text: &'t str, section: &str) -> Vec<(&'t str, &'t str)> {
    let line_starts = |body: &str| body.match_indices('\n').map(|(i, _)| i + 1).collect::<Vec<_>>();
    let rest = &text[text.find(&format!("\n{section}:\n")).unwrap() + 1..];
    let end = line_starts(rest).into_iter().find(|&i| rest[i..].starts_with(|c: char| c.is_ascii_alphabetic()));
    let body = &rest[..end.unwrap_or(rest.len())];
    let starts: Vec<usize> = line_starts(body)
        .into_iter()
        .filter(|&i| body[i..].strip_prefix("  ").is_some_and(|r| r.starts_with(char::is_alphabetic)))
        .collect();
    let ends = starts.iter().skip(1).copied().chain([body.len()]);
    starts
        .iter()
        .zip(ends)
        .map(|(&start, end)| (body[start + 2..].split(':').next().unwrap(), &body[start..end]))
        .collect()
}

fn entry<'t>(text: &'t str, section: &str, name: &str) -> &'t str {
    let found = entries(text, section).into_iter().find(|(n, _)| *n == name);
    found.unwrap_or_else(|| panic!("no {name} in {section}")).1
}

fn resource<'t>(text: &'t str, id: &str) -> &'t str {
    entry(text, "Resources", id)
}

fn parameter<'t>(text: &'t str, name: &str) -> &'t str {
    entry(text, "Parameters", name)
}

fn of_type<'t>(text: &'t str, kind: &str) -> Vec<(&'t str, &'t str)> {
    let typed = format!("\n    Type: {kind}\n");
    entries(text, "Resources").into_iter().filter(|(_, block)| block.contains(&typed)).collect()
}

#[test]
fn every_alarm_notifies_the_alarm_topic_and_an_optional_email() {
    let text = template();
    let alarms = of_type(&text, "AWS::CloudWatch::Alarm");
    for (id, block) in &alarms {
        assert!(block.contains("AlarmActions: [!Ref AlarmTopic]"), "{id} does not notify the alarm topic");
        assert!(block.contains("OKActions: [!Ref AlarmTopic]"), "{id} does not say when it clears");
    }
    // Encrypted with a key CloudWatch may use: it cannot use the AWS-managed SNS key.
    assert!(resource(&text, "AlarmTopic").contains("KmsMasterKeyId: !Ref AlarmKey"));
    let key = resource(&text, "AlarmKey");
    assert!(key.contains("Service: cloudwatch.amazonaws.com") && key.contains("- kms:GenerateDataKey*"), "{key}");
    assert!(key.contains("EnableKeyRotation: true"));
    assert!(resource(&text, "AlarmTopicPolicy").contains(":alarm:${StackName}-*"), "only the stack's alarms publish");
    // The email subscription exists only when an address is given.
    assert!(parameter(&text, "AlarmEmail").contains("Default: \"\""));
    assert!(text.contains("HasAlarmEmail: !Not [!Equals [!Ref AlarmEmail, \"\"]]"));
    let subscription = resource(&text, "AlarmEmailSubscription");
    assert!(subscription.contains("Condition: HasAlarmEmail") && subscription.contains("Endpoint: !Ref AlarmEmail"));
    assert!(!text.contains("AlarmActionArn"), "one way to be notified: the alarm topic");

    // One alarm per dead-letter queue, as soon as it holds a message.
    let t = Topology::for_stack("${StackName}");
    let dlqs: Vec<&str> = of_type(&text, "AWS::SQS::Queue")
        .into_iter()
        .filter(|(_, block)| t.queues.iter().any(|q| block.contains(&format!("QueueName: !Sub \"{}\"", q.dlq_name))))
        .map(|(id, _)| id)
        .collect();
    assert_eq!(dlqs.len(), t.queues.len());
    for dlq in dlqs {
        let watched = format!("Value: !GetAtt {dlq}.QueueName");
        let (_, alarm) =
            alarms.iter().find(|(_, b)| b.contains(&watched)).unwrap_or_else(|| panic!("no alarm on {dlq}"));
        for setting in [
            "Namespace: AWS/SQS",
            "MetricName: ApproximateNumberOfMessagesVisible",
            "Threshold: 1\n",
            "ComparisonOperator: GreaterThanOrEqualToThreshold",
        ] {
            assert!(alarm.contains(setting), "{dlq}: {setting}");
        }
    }
    assert_eq!(alarms.len(), t.queues.len() + 2, "the DLQ alarms, freshness and failed source");
}

#[test]
fn the_scrapers_metrics_raise_the_freshness_and_failed_source_alarms() {
    let text = template();
    let alarm = |metric: &str| {
        let alarms = of_type(&text, "AWS::CloudWatch::Alarm");
        let (_, block) = alarms.into_iter().find(|(_, b)| b.contains(&format!("MetricName: {metric}\n"))).unwrap();
        assert!(
            block.contains("Namespace: PPMT-AMP\n") && block.contains("- Name: Service\n          Value: scraper\n")
        );
        block
    };
    let freshness = alarm("DaySynced");
    // No data between two daily checks: the alarm keeps the last check's verdict.
    assert!(freshness.contains("TreatMissingData: ignore"));
    for setting in ["Statistic: Minimum", "Threshold: 1\n", "ComparisonOperator: LessThanThreshold"] {
        assert!(freshness.contains(setting), "freshness: {setting}");
    }
    let failed_source = alarm("SourceFailures");
    for setting in [
        "Statistic: Sum",
        "Period: 3600",
        "Threshold: 1\n",
        "ComparisonOperator: GreaterThanOrEqualToThreshold",
        "TreatMissingData: notBreaching",
    ] {
        assert!(failed_source.contains(setting), "failed source: {setting}");
    }
    // The freshness check: the scraper, invoked daily at a configurable hour.
    assert!(parameter(&text, "FreshnessCheckHourUtc").contains("Default: 9\n"));
    let scraper = resource(&text, "ScraperFunction");
    assert!(scraper.contains(concat!(
        "          Type: Schedule\n          Properties:\n",
        "            Schedule: !Sub \"cron(0 ${FreshnessCheckHourUtc} * * ? *)\"\n",
        "            Input: '{\"check\": \"freshness\"}'\n"
    )));
}

#[test]
fn every_function_logs_json_to_its_own_group_kept_for_the_retention() {
    let text = template();
    let functions = of_type(&text, "AWS::Serverless::Function");
    assert_eq!(functions.len(), 5);
    for (id, block) in &functions {
        let group = id.replace("Function", "LogGroup");
        assert!(
            block.contains(&format!("      LoggingConfig:\n        LogFormat: JSON\n        LogGroup: !Ref {group}\n")),
            "{id} does not log JSON to {group}"
        );
        let log_group = resource(&text, &group);
        assert!(
            log_group.contains("Type: AWS::Logs::LogGroup")
                && log_group.contains("RetentionInDays: !Ref LogRetentionDays")
        );
    }
    assert_eq!(of_type(&text, "AWS::Logs::LogGroup").len(), functions.len());
    assert!(parameter(&text, "LogRetentionDays").contains("Default: 30\n"));
    assert!(text.contains("Globals:") && text.contains("        PPMT_LOG_FORMAT: json\n"));
}

#[test]
fn the_scraper_records_runs_and_reads_them_by_date_and_nothing_more() {
    let text = template();
    let scraper = resource(&text, "ScraperFunction");
    assert!(scraper.contains("Action: dynamodb:PutItem\n              Resource: !GetAtt LedgerTable.Arn\n"));
    assert!(scraper.contains(&format!(
        "Action: dynamodb:Query\n              Resource: !Sub \"${{LedgerTable.Arn}}/index/{LEDGER_BY_DATE_INDEX}\"\n"
    )));
    assert_eq!(scraper.matches("dynamodb:").count(), 2, "only PutItem on the table and Query on the index");
    assert!(!scraper.contains("PricesTable"), "the scraper never touches the app's table");
}
