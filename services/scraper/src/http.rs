//! HTTP for one source: token-bucket rate limit, bounded concurrency, timeouts, and
//! retries with capped exponential backoff and full jitter on timeouts, 429 and 5xx,
//! honouring `Retry-After`. Other 4xx are final. Every response is counted for the
//! source's report.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytes::Bytes;
use ppmt_platform::error::backoff_delay;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, LINK, RETRY_AFTER, USER_AGENT};
use tokio::sync::Semaphore;

/// Identifies us to the sites we fetch, with a contact page, as polite crawlers do.
pub const USER_AGENT_VALUE: &str = "ppmt-amp-scraper/0.1 (+https://github.com/ppmt-amp/ppmt-amp; price tracking)";
/// Our product token for robots.txt groups.
pub const ROBOTS_TOKEN: &str = "ppmt-amp-scraper";

/// First retry delay; doubles per retry up to [`MAX_BACKOFF`].
const BASE_BACKOFF: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// Longest `Retry-After` we wait; a longer one ends the request.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(120);

/// A token bucket: `burst` requests at once, refilled at `rate_per_sec`.
#[derive(Debug)]
pub struct TokenBucket {
    rate_per_sec: f64,
    burst: f64,
    state: Mutex<(f64, Instant)>,
}

impl TokenBucket {
    pub fn new(rate_per_sec: f64, burst: u32) -> Self {
        TokenBucket { rate_per_sec, burst: f64::from(burst), state: Mutex::new((f64::from(burst), Instant::now())) }
    }

    /// Takes a token, waiting for one if the bucket is empty.
    pub async fn acquire(&self) {
        loop {
            let wait = {
                let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
                let now = Instant::now();
                let refill = now.duration_since(state.1).as_secs_f64() * self.rate_per_sec;
                state.0 = (state.0 + refill).min(self.burst);
                state.1 = now;
                if state.0 >= 1.0 {
                    state.0 -= 1.0;
                    return;
                }
                Duration::from_secs_f64((1.0 - state.0) / self.rate_per_sec)
            };
            tokio::time::sleep(wait).await;
        }
    }
}

/// Counts of one source's HTTP traffic, for `metadata.json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct HttpStats {
    pub requests: u64,
    pub retries: u64,
    /// Responses by status code, plus `timeout` and `error` for requests without one.
    pub status_counts: BTreeMap<String, u64>,
}

/// A final failure to fetch a URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    #[error("GET {url}: HTTP {status}")]
    Status { url: String, status: u16 },
    #[error("GET {url}: timed out after {attempts} attempt(s)")]
    Timeout { url: String, attempts: u32 },
    #[error("GET {url}: {message}")]
    Transport { url: String, message: String },
    #[error("GET {url}: Retry-After of {secs} s is longer than we wait ({} s)", MAX_RETRY_AFTER.as_secs())]
    RetryAfterTooLong { url: String, secs: u64 },
}

/// Largest body we read; a bigger one is refused rather than exhausting memory.
const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

enum BodyError {
    TooLarge(FetchError),
    Interrupted(FetchError),
}

/// Reads a body up to [`MAX_BODY_BYTES`].
async fn read_body(mut response: reqwest::Response, url: &str) -> Result<Bytes, BodyError> {
    let mut body = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > MAX_BODY_BYTES {
                    return Err(BodyError::TooLarge(FetchError::Transport {
                        url: url.to_owned(),
                        message: format!("body larger than {MAX_BODY_BYTES} bytes"),
                    }));
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(Bytes::from(body)),
            Err(e) => {
                return Err(BodyError::Interrupted(FetchError::Transport {
                    url: url.to_owned(),
                    message: format!("body cut off: {e}"),
                }))
            }
        }
    }
}

/// A successful response.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub url: url::Url,
    pub status: u16,
    pub link: Option<String>,
    pub body: Bytes,
    /// When it arrived (from the lake, when it arrived then).
    pub fetched_at: chrono::DateTime<chrono::Utc>,
}

/// One document as a source answered it, as the lake keeps it (`raw/<date>/original/`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Original {
    /// The URL asked for, and the one that answered (after redirects).
    pub url: String,
    pub final_url: String,
    pub status: u16,
    pub link: Option<String>,
    pub fetched_at: chrono::DateTime<chrono::Utc>,
    /// The body, base64.
    pub body: String,
}

/// What a fetcher does with what it fetches: nothing, keep it for the lake (a scrape), or
/// answer from it instead of the network (`ppmt reparse`).
#[derive(Debug, Default)]
pub enum Archive {
    #[default]
    Off,
    Keep(Mutex<Vec<Original>>),
    Replay(BTreeMap<String, Original>),
}

impl Archive {
    /// A fetcher's archive that keeps every answer.
    pub fn keep() -> Archive {
        Archive::Keep(Mutex::new(Vec::new()))
    }

    fn keep_answer(&self, url: &str, answer: &Fetched) {
        use base64::Engine;
        if let Archive::Keep(kept) = self {
            kept.lock().unwrap_or_else(|p| p.into_inner()).push(Original {
                url: url.to_owned(),
                final_url: answer.url.to_string(),
                status: answer.status,
                link: answer.link.clone(),
                fetched_at: answer.fetched_at,
                body: base64::engine::general_purpose::STANDARD.encode(&answer.body),
            });
        }
    }

    /// The kept answer to `url`, as the network gave it.
    fn replay(docs: &BTreeMap<String, Original>, url: &str) -> Result<Fetched, FetchError> {
        use base64::Engine;
        let missing = |message: &str| FetchError::Transport { url: url.to_owned(), message: message.to_owned() };
        let doc = docs.get(url).ok_or_else(|| missing("not among the day's original documents"))?;
        if !(200..300).contains(&doc.status) {
            return Err(FetchError::Status { url: url.to_owned(), status: doc.status });
        }
        let body = base64::engine::general_purpose::STANDARD
            .decode(&doc.body)
            .map_err(|e| missing(&format!("the original's body is not base64: {e}")))?;
        Ok(Fetched {
            url: url::Url::parse(&doc.final_url).map_err(|e| missing(&e.to_string()))?,
            status: doc.status,
            link: doc.link.clone(),
            body: Bytes::from(body),
            fetched_at: doc.fetched_at,
        })
    }
}

/// Parses `Retry-After`: delay-seconds or an HTTP date.
pub fn parse_retry_after(value: &str, now: chrono::DateTime<chrono::Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    Some((at.with_timezone(&chrono::Utc) - now).to_std().unwrap_or(Duration::ZERO))
}

/// Full-jitter backoff for retry `retry` (1-based): random in `[0, min(cap, base * 2^(retry-1))]`.
pub fn backoff(retry: u32) -> Duration {
    backoff_delay(retry.saturating_sub(1), BASE_BACKOFF, MAX_BACKOFF)
}

/// Whether a response status is worth retrying: 429 and 5xx are; other codes are final.
pub fn is_retryable_status(status: u16) -> bool {
    status == 429 || (500..600).contains(&status)
}

/// One source's HTTP client.
#[derive(Debug)]
pub struct Fetcher {
    client: reqwest::Client,
    bucket: TokenBucket,
    slots: Semaphore,
    max_retries: u32,
    stats: Mutex<HttpStats>,
    archive: Archive,
}

impl Fetcher {
    /// A client for one source. `auth` is an extra header, already resolved.
    pub fn new(
        timeout: Duration,
        rate_per_sec: f64,
        burst: u32,
        concurrency: usize,
        max_retries: u32,
        auth: Option<(String, String)>,
    ) -> Result<Fetcher, String> {
        let mut headers = HeaderMap::new();
        headers.insert(USER_AGENT, HeaderValue::from_static(USER_AGENT_VALUE));
        if let Some((name, value)) = auth {
            let name = HeaderName::from_bytes(name.as_bytes()).map_err(|e| format!("auth header name: {e}"))?;
            let mut value =
                HeaderValue::from_str(&value).map_err(|_| "auth header value is not valid header text".to_string())?;
            value.set_sensitive(true);
            headers.insert(name, value);
        }
        let client = reqwest::Client::builder()
            .default_headers(headers)
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .build()
            .map_err(|e| format!("HTTP client: {e}"))?;
        Ok(Fetcher {
            client,
            bucket: TokenBucket::new(rate_per_sec, burst),
            slots: Semaphore::new(concurrency),
            max_retries,
            stats: Mutex::new(HttpStats::default()),
            archive: Archive::Off,
        })
    }

    /// The same fetcher, keeping or replaying documents.
    pub fn with_archive(self, archive: Archive) -> Fetcher {
        Fetcher { archive, ..self }
    }

    /// The documents kept so far, in the order they arrived.
    pub fn kept(&self) -> Vec<Original> {
        match &self.archive {
            Archive::Keep(kept) => kept.lock().unwrap_or_else(|p| p.into_inner()).clone(),
            _ => Vec::new(),
        }
    }

    /// The counts so far.
    pub fn stats(&self) -> HttpStats {
        self.stats.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn count(&self, key: String, retry: bool) {
        let mut stats = self.stats.lock().unwrap_or_else(|p| p.into_inner());
        stats.requests += 1;
        if retry {
            stats.retries += 1;
        }
        *stats.status_counts.entry(key).or_default() += 1;
    }

    /// GETs `url`, retrying what is worth retrying.
    pub async fn get(&self, url: &url::Url) -> Result<Fetched, FetchError> {
        let text = url.to_string();
        if let Archive::Replay(docs) = &self.archive {
            return Archive::replay(docs, &text);
        }
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let outcome = {
                let _slot = self
                    .slots
                    .acquire()
                    .await
                    .map_err(|e| FetchError::Transport { url: text.clone(), message: e.to_string() })?;
                self.bucket.acquire().await;
                self.client.get(url.clone()).send().await
            };
            let retries_left = attempt <= self.max_retries;
            let error = match outcome {
                Ok(response) => {
                    let status = response.status().as_u16();
                    self.count(status.to_string(), attempt > 1);
                    if (200..300).contains(&status) {
                        let link = response.headers().get(LINK).and_then(|v| v.to_str().ok()).map(str::to_owned);
                        let final_url = response.url().clone();
                        match read_body(response, &text).await {
                            Ok(body) => {
                                let answer =
                                    Fetched { url: final_url, status, link, body, fetched_at: chrono::Utc::now() };
                                self.archive.keep_answer(&text, &answer);
                                return Ok(answer);
                            }
                            Err(BodyError::TooLarge(e)) => return Err(e),
                            // A body cut off mid-way is retried like a failed request.
                            Err(BodyError::Interrupted(e)) => e,
                        }
                    } else {
                        let error = FetchError::Status { url: text.clone(), status };
                        if !is_retryable_status(status) || !retries_left {
                            // A final refusal is an answer too (a robots.txt 404 allows all).
                            let refusal = Fetched {
                                url: response.url().clone(),
                                status,
                                link: None,
                                body: Bytes::new(),
                                fetched_at: chrono::Utc::now(),
                            };
                            self.archive.keep_answer(&text, &refusal);
                            return Err(error);
                        }
                        if let Some(wait) = response
                            .headers()
                            .get(RETRY_AFTER)
                            .and_then(|v| v.to_str().ok())
                            .and_then(|v| parse_retry_after(v, chrono::Utc::now()))
                        {
                            if wait > MAX_RETRY_AFTER {
                                return Err(FetchError::RetryAfterTooLong { url: text, secs: wait.as_secs() });
                            }
                            tracing::info!(url = %text, status, wait_ms = wait.as_millis() as u64, "honouring Retry-After");
                            tokio::time::sleep(wait).await;
                            continue;
                        }
                        error
                    }
                }
                Err(e) if e.is_timeout() => {
                    self.count("timeout".into(), attempt > 1);
                    FetchError::Timeout { url: text.clone(), attempts: attempt }
                }
                Err(e) => {
                    self.count("error".into(), attempt > 1);
                    let message = std::iter::successors(Some(&e as &dyn std::error::Error), |e| e.source())
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(": ");
                    FetchError::Transport { url: text.clone(), message }
                }
            };
            if !retries_left {
                return Err(error);
            }
            let delay = backoff(attempt);
            tracing::info!(url = %text, attempt, delay_ms = delay.as_millis() as u64, %error, "retrying");
            tokio::time::sleep(delay).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let now = chrono::Utc.with_ymd_and_hms(2026, 11, 25, 2, 0, 0).unwrap();
        assert_eq!(parse_retry_after("3", now), Some(Duration::from_secs(3)));
        assert_eq!(parse_retry_after("Wed, 25 Nov 2026 02:00:05 GMT", now), Some(Duration::from_secs(5)));
        assert_eq!(parse_retry_after("Wed, 25 Nov 2026 01:00:00 GMT", now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn only_429_and_5xx_are_retried() {
        assert!(is_retryable_status(429));
        assert!(is_retryable_status(503));
        assert!(!is_retryable_status(404));
        assert!(!is_retryable_status(400));
    }

    #[test]
    fn backoff_is_capped_and_jittered() {
        assert!(backoff(1) <= BASE_BACKOFF);
        assert!((1..50).all(|r| backoff(r) <= MAX_BACKOFF));
    }

    #[tokio::test]
    async fn the_bucket_spaces_requests_beyond_the_burst() {
        let bucket = TokenBucket::new(20.0, 2);
        let start = Instant::now();
        for _ in 0..4 {
            bucket.acquire().await;
        }
        // Two tokens were there; two more take 1/20 s each to refill.
        assert!(start.elapsed() >= Duration::from_millis(90), "{:?}", start.elapsed());
    }
}
