//! [`Notifier`] on Amazon SNS: the envelope as the message, `stage` as an attribute
//! for the subscriptions' filter policies.

use async_trait::async_trait;
use aws_sdk_sns::types::MessageAttributeValue;
use ppmt_domain::StageEvent;

use crate::error::{aws_error, PortError};
use crate::ports::Notifier;

/// The stage-events topic.
#[derive(Debug, Clone)]
pub struct SnsNotifier {
    pub client: aws_sdk_sns::Client,
    pub topic_arn: String,
}

#[async_trait]
impl Notifier for SnsNotifier {
    async fn publish(&self, event: &StageEvent) -> Result<(), PortError> {
        let operation =
            format!("publish {} event of batch {} to {}", event.stage.as_str(), event.batch_id, self.topic_arn);
        let body = serde_json::to_string(event).map_err(|e| PortError::permanent(operation.clone(), e))?;
        let stage = MessageAttributeValue::builder()
            .data_type("String")
            .string_value(event.stage.as_str())
            .build()
            .map_err(|e| PortError::permanent(operation.clone(), e))?;
        self.client
            .publish()
            .topic_arn(&self.topic_arn)
            .message(body)
            .message_attributes("stage", stage)
            .send()
            .await
            .map_err(|e| aws_error(operation, e))?;
        Ok(())
    }
}
