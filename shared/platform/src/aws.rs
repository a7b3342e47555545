//! AWS clients, built once per process from the standard AWS configuration chain.
//!
//! `AWS_ENDPOINT_URL` (read by `aws-config`) points every client at an emulator; S3 then
//! uses path-style addressing so bucket names do not become host names.

/// The clients every service may use; cloning is cheap (they share one connector).
#[derive(Debug, Clone)]
pub struct AwsClients {
    pub s3: aws_sdk_s3::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub sns: aws_sdk_sns::Client,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub redshift_data: aws_sdk_redshiftdata::Client,
}

impl AwsClients {
    /// Loads region, credentials and endpoint from the environment.
    pub async fn from_env() -> AwsClients {
        let shared = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        let s3_config = aws_sdk_s3::config::Builder::from(&shared)
            .force_path_style(crate::config::endpoint_url().is_some())
            .build();
        // DynamoDB's requests and answers are small JSON documents: an attempt that takes
        // over 30 s is cut and retried, which is what stalled-stream protection (a timer
        // woken through every body, the syncer's requests by the thousand) watches for.
        // The other timeouts stay as loaded (the SDK's connect timeout, say).
        let dynamodb_timeouts = shared
            .timeout_config()
            .map(|t| t.to_builder())
            .unwrap_or_default()
            .operation_attempt_timeout(std::time::Duration::from_secs(30))
            .build();
        let dynamodb_config = aws_sdk_dynamodb::config::Builder::from(&shared)
            .stalled_stream_protection(aws_sdk_dynamodb::config::StalledStreamProtectionConfig::disabled())
            .timeout_config(dynamodb_timeouts)
            .build();
        AwsClients {
            s3: aws_sdk_s3::Client::from_conf(s3_config),
            sqs: aws_sdk_sqs::Client::new(&shared),
            sns: aws_sdk_sns::Client::new(&shared),
            dynamodb: aws_sdk_dynamodb::Client::from_conf(dynamodb_config),
            redshift_data: aws_sdk_redshiftdata::Client::new(&shared),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn dynamodb_cuts_an_attempt_at_30_s_and_keeps_the_loaded_connect_timeout() {
        let clients = AwsClients::from_env().await;
        let timeouts = clients.dynamodb.config().timeout_config().unwrap();
        assert_eq!(timeouts.operation_attempt_timeout(), Some(Duration::from_secs(30)));
        assert_eq!(timeouts.connect_timeout(), Some(Duration::from_millis(3100)));
    }
}
