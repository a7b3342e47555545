//! Creates a [`Topology`] through the AWS APIs, idempotently: on an emulator (moto,
//! LocalStack) for local runs and tests. Notifications and subscriptions are made
//! through the API because emulators do not wire them from CloudFormation.

use std::collections::BTreeMap;

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection, ProjectionType,
    ScalarAttributeType, TimeToLiveSpecification,
};
use aws_sdk_s3::types::{
    Event, FilterRule, FilterRuleName, NotificationConfiguration, NotificationConfigurationFilter, QueueConfiguration,
    S3KeyFilter,
};
use aws_sdk_sqs::types::QueueAttributeName;
use ppmt_domain::topology::{
    filter_policy, QueueFeed, TableSpec, Topology, DLQ_RETENTION_SECS, MAX_RECEIVE_COUNT, VISIBILITY_TIMEOUT_SECS,
};

use crate::aws::AwsClients;
use crate::config::vars;
use crate::error::{aws_error, PortError};

/// A queue as created: URLs and ARNs of it and its DLQ.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvisionedQueue {
    pub consumer: &'static str,
    pub url: String,
    pub arn: String,
    pub dlq_url: String,
    pub dlq_arn: String,
}

/// What provisioning made, with what the services need to find it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provisioned {
    pub topology: Topology,
    pub topic_arn: String,
    pub queues: Vec<ProvisionedQueue>,
}

impl Provisioned {
    /// The queue of a consumer.
    pub fn queue(&self, consumer: &str) -> Option<&ProvisionedQueue> {
        self.queues.iter().find(|q| q.consumer == consumer)
    }

    /// Environment for services and tools: resources, and each queue's URLs as
    /// `PPMT_<CONSUMER>_QUEUE_URL` / `PPMT_<CONSUMER>_DLQ_URL`.
    pub fn env(&self) -> BTreeMap<String, String> {
        let t = &self.topology;
        let mut env = BTreeMap::from([
            ("PPMT_STACK".to_owned(), t.stack.clone()),
            (vars::RAW_BUCKET.to_owned(), t.raw_bucket.clone()),
            (vars::STAGE_TOPIC_ARN.to_owned(), self.topic_arn.clone()),
            (vars::PRICES_TABLE.to_owned(), t.prices_table.name.clone()),
            (vars::LEDGER_TABLE.to_owned(), t.ledger_table.name.clone()),
        ]);
        for q in &self.queues {
            let upper = q.consumer.to_ascii_uppercase();
            env.insert(format!("PPMT_{upper}_QUEUE_URL"), q.url.clone());
            env.insert(format!("PPMT_{upper}_DLQ_URL"), q.dlq_url.clone());
        }
        env
    }
}

async fn queue_arn(clients: &AwsClients, url: &str) -> Result<String, PortError> {
    let out = clients
        .sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(|e| aws_error(format!("read the ARN of {url}"), e))?;
    out.attributes
        .and_then(|mut a| a.remove(&QueueAttributeName::QueueArn))
        .ok_or_else(|| PortError::permanent(format!("read the ARN of {url}"), "no QueueArn attribute"))
}

async fn create_queue(
    clients: &AwsClients,
    name: &str,
    attributes: Vec<(QueueAttributeName, String)>,
) -> Result<(String, String), PortError> {
    let mut request = clients.sqs.create_queue().queue_name(name);
    for (k, v) in attributes {
        request = request.attributes(k, v);
    }
    let url = request
        .send()
        .await
        .map_err(|e| aws_error(format!("create queue {name}"), e))?
        .queue_url
        .ok_or_else(|| PortError::permanent(format!("create queue {name}"), "no QueueUrl returned"))?;
    let arn = queue_arn(clients, &url).await?;
    Ok((url, arn))
}

/// Allows the bucket and the topic to send to a queue (AWS checks it; emulators do not).
fn queue_policy(queue_arn: &str, bucket: &str, topic_arn: &str) -> String {
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"}, "Action": "sqs:SendMessage",
             "Resource": queue_arn, "Condition": {"ArnLike": {"aws:SourceArn": format!("arn:aws:s3:::{bucket}")}}},
            {"Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"}, "Action": "sqs:SendMessage",
             "Resource": queue_arn, "Condition": {"ArnEquals": {"aws:SourceArn": topic_arn}}}
        ]
    })
    .to_string()
}

async fn create_table(clients: &AwsClients, spec: &TableSpec) -> Result<(), PortError> {
    let key = |name: &str, kind: KeyType| KeySchemaElement::builder().attribute_name(name).key_type(kind).build();
    let attr =
        |name: &str| AttributeDefinition::builder().attribute_name(name).attribute_type(ScalarAttributeType::S).build();
    let op = format!("create table {}", spec.name);
    let built = |e: aws_sdk_dynamodb::error::BuildError| PortError::permanent(op.clone(), e);
    let mut names = vec![spec.partition_key, spec.sort_key];
    let mut request = clients
        .dynamodb
        .create_table()
        .table_name(&spec.name)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key(spec.partition_key, KeyType::Hash).map_err(built)?)
        .key_schema(key(spec.sort_key, KeyType::Range).map_err(built)?);
    for (index, pk, sk) in &spec.indexes {
        names.extend([*pk, *sk]);
        request = request.global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(*index)
                .key_schema(key(pk, KeyType::Hash).map_err(built)?)
                .key_schema(key(sk, KeyType::Range).map_err(built)?)
                .projection(Projection::builder().projection_type(ProjectionType::All).build())
                .build()
                .map_err(built)?,
        );
    }
    names.sort_unstable();
    names.dedup();
    for name in names {
        request = request.attribute_definitions(attr(name).map_err(built)?);
    }
    match request.send().await {
        Ok(_) => {}
        Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_in_use_exception()) => return Ok(()),
        Err(e) => return Err(aws_error(op, e)),
    }
    if let Some(attribute) = spec.ttl_attribute {
        let ttl = TimeToLiveSpecification::builder().attribute_name(attribute).enabled(true).build().map_err(built)?;
        clients
            .dynamodb
            .update_time_to_live()
            .table_name(&spec.name)
            .time_to_live_specification(ttl)
            .send()
            .await
            .map_err(|e| aws_error(format!("enable TTL on {}", spec.name), e))?;
    }
    Ok(())
}

/// Creates (or finds) every resource of `topology`.
pub async fn provision(clients: &AwsClients, topology: &Topology) -> Result<Provisioned, PortError> {
    let bucket = &topology.raw_bucket;
    match clients.s3.create_bucket().bucket(bucket).send().await {
        Ok(_) => {}
        Err(e) if e.as_service_error().is_some_and(|s| s.is_bucket_already_owned_by_you()) => {}
        Err(e) => return Err(aws_error(format!("create bucket {bucket}"), e)),
    }
    let topic_arn = clients
        .sns
        .create_topic()
        .name(&topology.stage_topic)
        .send()
        .await
        .map_err(|e| aws_error(format!("create topic {}", topology.stage_topic), e))?
        .topic_arn
        .ok_or_else(|| PortError::permanent("create topic", "no TopicArn returned"))?;

    let mut queues = Vec::new();
    let mut bucket_queues = Vec::new();
    for spec in &topology.queues {
        let (dlq_url, dlq_arn) = create_queue(
            clients,
            &spec.dlq_name,
            vec![(QueueAttributeName::MessageRetentionPeriod, DLQ_RETENTION_SECS.to_string())],
        )
        .await?;
        let redrive =
            serde_json::json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": MAX_RECEIVE_COUNT.to_string()})
                .to_string();
        let (url, arn) = create_queue(
            clients,
            &spec.name,
            vec![
                (QueueAttributeName::RedrivePolicy, redrive),
                (QueueAttributeName::VisibilityTimeout, VISIBILITY_TIMEOUT_SECS.to_string()),
            ],
        )
        .await?;
        clients
            .sqs
            .set_queue_attributes()
            .queue_url(&url)
            .attributes(QueueAttributeName::Policy, queue_policy(&arn, bucket, &topic_arn))
            .send()
            .await
            .map_err(|e| aws_error(format!("set the policy of {}", spec.name), e))?;
        match spec.feed {
            QueueFeed::ManifestCreated => bucket_queues.push(arn.clone()),
            QueueFeed::StageEvent(_) | QueueFeed::AllStageEvents => {
                let mut subscribe = clients
                    .sns
                    .subscribe()
                    .topic_arn(&topic_arn)
                    .protocol("sqs")
                    .endpoint(&arn)
                    .attributes("RawMessageDelivery", "true");
                if let Some(policy) = filter_policy(spec.feed) {
                    subscribe = subscribe.attributes("FilterPolicy", policy);
                }
                subscribe.send().await.map_err(|e| aws_error(format!("subscribe {} to {topic_arn}", spec.name), e))?;
            }
        }
        queues.push(ProvisionedQueue { consumer: spec.consumer, url, arn, dlq_url, dlq_arn });
    }

    let op = format!("configure notifications of bucket {bucket}");
    let mut notifications = NotificationConfiguration::builder();
    for arn in bucket_queues {
        let filter = NotificationConfigurationFilter::builder()
            .key(
                S3KeyFilter::builder()
                    .filter_rules(FilterRule::builder().name(FilterRuleName::Prefix).value("raw/").build())
                    .filter_rules(FilterRule::builder().name(FilterRuleName::Suffix).value("manifest.json").build())
                    .build(),
            )
            .build();
        notifications = notifications.queue_configurations(
            QueueConfiguration::builder()
                .id("manifest-to-loader")
                .queue_arn(arn)
                .events(Event::S3ObjectCreated)
                .filter(filter)
                .build()
                .map_err(|e| PortError::permanent(op.clone(), e))?,
        );
    }
    clients
        .s3
        .put_bucket_notification_configuration()
        .bucket(bucket)
        .notification_configuration(notifications.build())
        .send()
        .await
        .map_err(|e| aws_error(op, e))?;

    create_table(clients, &topology.prices_table).await?;
    create_table(clients, &topology.ledger_table).await?;
    Ok(Provisioned { topology: topology.clone(), topic_arn, queues })
}
