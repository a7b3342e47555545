//! [`ObjectStore`] on Amazon S3 (or any S3-compatible endpoint).

use async_trait::async_trait;
use aws_sdk_s3::operation::get_object::GetObjectOutput;
use bytes::Bytes;

use crate::error::{aws_error, PortError};
use crate::ports::{ObjectStore, ObjectStream};

/// S3 through the AWS SDK.
#[derive(Debug, Clone)]
pub struct S3Store {
    pub client: aws_sdk_s3::Client,
}

impl S3Store {
    /// The object's `GetObject` answer, its body not read yet.
    async fn get_object(&self, bucket: &str, key: &str) -> Result<GetObjectOutput, PortError> {
        let operation = format!("get s3://{bucket}/{key}");
        self.client.get_object().bucket(bucket).key(key).send().await.map_err(|err| {
            if err.as_service_error().is_some_and(|e| e.is_no_such_key()) {
                PortError::not_found(operation, "no such key")
            } else {
                aws_error(operation, err)
            }
        })
    }
}

#[async_trait]
impl ObjectStore for S3Store {
    async fn get_stream(&self, bucket: &str, key: &str) -> Result<ObjectStream, PortError> {
        Ok(Box::new(self.get_object(bucket, key).await?.body.into_async_read()))
    }

    async fn get_versioned(&self, bucket: &str, key: &str) -> Result<(Bytes, String), PortError> {
        let output = self.get_object(bucket, key).await?;
        let etag = output.e_tag.clone().unwrap_or_default();
        let body = output
            .body
            .collect()
            .await
            .map_err(|e| PortError::transient(format!("read body of s3://{bucket}/{key}"), e))?;
        Ok((body.into_bytes(), etag))
    }

    async fn put(&self, bucket: &str, key: &str, body: Bytes, content_type: &str) -> Result<(), PortError> {
        self.client
            .put_object()
            .bucket(bucket)
            .key(key)
            .content_type(content_type)
            .body(body.into())
            .send()
            .await
            .map_err(|e| aws_error(format!("put s3://{bucket}/{key}"), e))?;
        Ok(())
    }

    async fn put_if(
        &self,
        bucket: &str,
        key: &str,
        body: Bytes,
        content_type: &str,
        expected: Option<&str>,
    ) -> Result<(), PortError> {
        let request = self.client.put_object().bucket(bucket).key(key).content_type(content_type).body(body.into());
        let (request, condition) = match expected {
            Some(etag) => (request.if_match(etag), format!("if it is still {etag}")),
            None => (request.if_none_match("*"), "if it does not exist".to_owned()),
        };
        let operation = format!("put s3://{bucket}/{key} {condition}");
        match request.send().await {
            Ok(_) => Ok(()),
            // 412 Precondition Failed; 409 when a concurrent conditional write is in flight.
            Err(err) if err.raw_response().is_some_and(|r| matches!(r.status().as_u16(), 409 | 412)) => {
                Err(PortError::conflict(operation, "the object changed"))
            }
            Err(err) => Err(aws_error(operation, err)),
        }
    }
}
