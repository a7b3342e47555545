//! One error type for every port: it says what was being done to which object, keeps
//! its source, and knows whether trying again can help.

use aws_sdk_s3::config::http::HttpResponse;

/// Boxed source error.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Errors whose handling depends on whether a retry can succeed.
pub trait Retryable {
    /// True when the same input may succeed later (throttling, timeouts, 5xx, a
    /// connection drop); false when it never will (bad data, missing object, 4xx).
    fn is_retryable(&self) -> bool;
}

/// A port operation that failed.
#[derive(Debug, thiserror::Error)]
#[error("failed to {operation}: {source}")]
pub struct PortError {
    /// What was being done, naming the object: `get s3://bucket/key`.
    pub operation: String,
    /// Whether trying again may help.
    pub retryable: bool,
    /// Set when the object does not exist (a missing key, an unknown queue).
    pub not_found: bool,
    /// Set when a conditional write lost: the object is no longer the version expected.
    pub conflict: bool,
    #[source]
    pub source: BoxError,
}

impl PortError {
    /// A failure that may pass on retry.
    pub fn transient(operation: impl Into<String>, source: impl Into<BoxError>) -> Self {
        PortError {
            operation: operation.into(),
            retryable: true,
            not_found: false,
            conflict: false,
            source: source.into(),
        }
    }

    /// A failure that will not pass on retry.
    pub fn permanent(operation: impl Into<String>, source: impl Into<BoxError>) -> Self {
        PortError {
            operation: operation.into(),
            retryable: false,
            not_found: false,
            conflict: false,
            source: source.into(),
        }
    }

    /// The object does not exist.
    pub fn not_found(operation: impl Into<String>, source: impl Into<BoxError>) -> Self {
        PortError {
            operation: operation.into(),
            retryable: false,
            not_found: true,
            conflict: false,
            source: source.into(),
        }
    }

    /// A conditional write found the object changed (or present, or gone).
    pub fn conflict(operation: impl Into<String>, source: impl Into<BoxError>) -> Self {
        PortError {
            operation: operation.into(),
            retryable: false,
            not_found: false,
            conflict: true,
            source: source.into(),
        }
    }
}

impl Retryable for PortError {
    fn is_retryable(&self) -> bool {
        self.retryable
    }
}

/// Full-jitter exponential backoff: a random delay up to `base * 2^attempt`, capped.
/// Retries of many clients then spread out instead of arriving together.
pub fn backoff_delay(attempt: u32, base: std::time::Duration, cap: std::time::Duration) -> std::time::Duration {
    let ceiling = base.saturating_mul(2u32.saturating_pow(attempt)).min(cap);
    ceiling.mul_f64(fastrand::f64())
}

/// Classifies an AWS SDK error: throttling, timeouts, dispatch failures and 5xx are
/// retryable; everything else (validation, access denied, 4xx) is not.
pub fn aws_error<E>(operation: impl Into<String>, err: aws_sdk_s3::error::SdkError<E, HttpResponse>) -> PortError
where
    E: std::error::Error + aws_sdk_s3::error::ProvideErrorMetadata + Send + Sync + 'static,
{
    use aws_sdk_s3::error::SdkError;
    let operation = operation.into();
    let retryable = match &err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => true,
        SdkError::ServiceError(service) => {
            let code = service.err().code().unwrap_or_default();
            service.raw().status().as_u16() >= 500
                || code.contains("Throttl")
                || code == "RequestLimitExceeded"
                || code == "ProvisionedThroughputExceededException"
        }
        _ => false,
    };
    PortError { operation, retryable, not_found: false, conflict: false, source: sdk_summary(&err).into() }
}

/// An SDK error on one line: the service's code and message, or why the endpoint could
/// not be reached with the root cause (the SDK's own text is a multi-line debug dump).
pub fn sdk_summary<E>(err: &aws_sdk_s3::error::SdkError<E, HttpResponse>) -> String
where
    E: std::error::Error + aws_sdk_s3::error::ProvideErrorMetadata + Send + Sync + 'static,
{
    use aws_sdk_s3::error::SdkError;
    if let SdkError::ServiceError(service) = err {
        let e = service.err();
        let code = e.code().unwrap_or("error");
        let message = e.message().map(|m| format!(": {m}")).unwrap_or_default();
        return format!("{code}{message} (HTTP {})", service.raw().status().as_u16());
    }
    let what = match err {
        SdkError::TimeoutError(_) => "timed out",
        SdkError::DispatchFailure(_) => "could not reach the endpoint",
        SdkError::ResponseError(_) => "the response could not be read",
        SdkError::ConstructionFailure(_) => "the request could not be built",
        _ => "failed",
    };
    let mut root: &dyn std::error::Error = err;
    while let Some(next) = root.source() {
        root = next;
    }
    format!("{what}: {root}")
}

/// Bytes of an error text kept in the ledger and in the failure log.
pub const MAX_RECORDED_ERROR: usize = 4 * 1024;
/// Bytes of an error text in one log line.
pub const MAX_LOGGED_ERROR: usize = 16 * 1024;

/// `text` cut to at most `max` bytes on a character boundary, saying how much was cut.
/// A failure's reason is then always recorded (DynamoDB refuses items over 400 KB).
pub fn capped(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let kept = ppmt_domain::record::head(text, max.saturating_sub(48));
    format!("{kept} [... {} of {} bytes cut]", text.len() - kept.len(), text.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn backoff_stays_under_its_cap_and_grows() {
        for attempt in 0..40 {
            assert!(
                backoff_delay(attempt, Duration::from_millis(50), Duration::from_secs(5)) <= Duration::from_secs(5)
            );
        }
        assert!(backoff_delay(0, Duration::from_millis(50), Duration::from_secs(5)) <= Duration::from_millis(50));
    }

    #[test]
    fn capped_keeps_short_text_and_says_how_much_it_cut() {
        assert_eq!(capped("short", 10), "short");
        let long = "é".repeat(3000); // 6,000 bytes
        let cut = capped(&long, MAX_RECORDED_ERROR);
        assert!(cut.len() <= MAX_RECORDED_ERROR, "{}", cut.len());
        assert!(cut.ends_with(" [... 1952 of 6000 bytes cut]"), "{}", &cut[cut.len() - 40..]);
    }
}
