//! [`MessageQueue`] on Amazon SQS: `SendMessageBatch`, ten bodies a request, with the
//! entries SQS refuses named in the error.

use async_trait::async_trait;
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;

use crate::error::{aws_error, PortError};
use crate::ports::MessageQueue;

/// Entries of one `SendMessageBatch` request (SQS's limit).
const MAX_BATCH: usize = 10;

/// A queue, by URL.
#[derive(Debug, Clone)]
pub struct SqsQueue {
    pub client: aws_sdk_sqs::Client,
    pub url: String,
}

#[async_trait]
impl MessageQueue for SqsQueue {
    async fn send_all(&self, bodies: &[String]) -> Result<(), PortError> {
        let operation = format!("send {} messages to {}", bodies.len(), self.url);
        for (n, chunk) in bodies.chunks(MAX_BATCH).enumerate() {
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(i, body)| {
                    SendMessageBatchRequestEntry::builder()
                        .id(format!("m{}", n * MAX_BATCH + i))
                        .message_body(body)
                        .build()
                        .map_err(|e| PortError::permanent(operation.clone(), e))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let out = self
                .client
                .send_message_batch()
                .queue_url(&self.url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| aws_error(operation.clone(), e))?;
            if let Some(failed) = out.failed.first() {
                let detail = format!("{} of them refused, first {}: {}", out.failed.len(), failed.id, failed.code);
                return Err(if failed.sender_fault {
                    PortError::permanent(operation, detail)
                } else {
                    PortError::transient(operation, detail)
                });
            }
        }
        Ok(())
    }
}
