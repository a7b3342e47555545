//! A fault-injecting HTTP proxy in front of the emulator's DynamoDB: every `every`-th
//! request of the chosen operations is answered with DynamoDB's throttling error
//! instead of being forwarded. Every other such fault is instead what DynamoDB answers
//! under load: for `BatchGetItem` a success that returns every key as
//! `UnprocessedKeys`; for `TransactWriteItems` a `TransactionCanceledException` whose
//! reasons throttle every fifth write (nothing is applied). It counts the requests of
//! each operation, so a test can check both that nothing was lost and what the faults
//! cost. It can also hold the requests of an operation after the first N, to freeze a
//! client mid-batch.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};

/// Requests seen per operation (`X-Amz-Target` without its prefix), and how many of
/// them were refused.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Counts {
    pub requests: BTreeMap<String, u64>,
    pub throttled: BTreeMap<String, u64>,
    /// `BatchGetItem` requests answered with all their keys unprocessed.
    pub unprocessed: u64,
    /// `TransactWriteItems` requests answered as cancelled, some writes throttled.
    pub cancelled: u64,
}

/// Requests of `operation` after the first `after` wait until the hold is lifted.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Hold {
    operation: String,
    after: u64,
}

/// A running proxy.
pub struct FaultProxy {
    pub url: String,
    counts: Arc<Mutex<Counts>>,
    hold: Arc<tokio::sync::watch::Sender<Option<Hold>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FaultProxy {
    /// Proxies to `upstream` (e.g. `http://127.0.0.1:5055`), throttling every `every`-th
    /// request of each operation in `faulty`.
    pub async fn start(upstream: &str, faulty: &[&str], every: u64) -> anyhow::Result<FaultProxy> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let counts = Arc::new(Mutex::new(Counts::default()));
        let faulty: Arc<Vec<String>> = Arc::new(faulty.iter().map(|s| (*s).to_owned()).collect());
        let upstream: Arc<str> = upstream.trim_end_matches('/').into();
        let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
        let hold = Arc::new(tokio::sync::watch::Sender::new(None));
        let (shared, shared_hold) = (counts.clone(), hold.clone());
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (counts, hold, faulty, upstream, client) =
                    (shared.clone(), shared_hold.clone(), faulty.clone(), upstream.clone(), client.clone());
                tokio::spawn(async move {
                    let service = service_fn(move |request: Request<Incoming>| {
                        let (counts, hold, faulty, upstream, client) =
                            (counts.clone(), hold.subscribe(), faulty.clone(), upstream.clone(), client.clone());
                        async move {
                            let faults = Faults { faulty: &faulty, every, hold };
                            Ok::<_, Infallible>(forward(request, &counts, faults, &upstream, &client).await)
                        }
                    });
                    let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
                });
            }
        });
        Ok(FaultProxy { url, counts, hold, task })
    }

    /// From now on, requests of `operation` after its first `after` wait until
    /// [`FaultProxy::release`].
    pub fn hold_after(&self, operation: &str, after: u64) {
        self.hold.send_replace(Some(Hold { operation: operation.to_owned(), after }));
    }

    /// Lets every held request go on.
    pub fn release(&self) {
        self.hold.send_replace(None);
    }

    /// What the proxy has seen so far.
    pub fn counts(&self) -> Counts {
        self.counts.lock().map(|c| c.clone()).unwrap_or_default()
    }
}

fn text_response(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
}

/// What the proxy does to a request besides forwarding it.
struct Faults<'a> {
    faulty: &'a [String],
    every: u64,
    hold: tokio::sync::watch::Receiver<Option<Hold>>,
}

async fn forward(
    request: Request<Incoming>,
    counts: &Mutex<Counts>,
    mut faults: Faults<'_>,
    upstream: &str,
    client: &Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>,
) -> Response<Full<Bytes>> {
    let operation = request
        .headers()
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .and_then(|t| t.rsplit('.').next())
        .unwrap_or("other")
        .to_owned();
    let (throttle, partial, seen) = {
        let mut c = counts.lock().unwrap_or_else(|p| p.into_inner());
        let seen = c.requests.entry(operation.clone()).or_default();
        *seen += 1;
        let seen = *seen;
        let hit = faults.faulty.contains(&operation) && seen % faults.every == 0;
        let partial = hit && (seen / faults.every) % 2 == 0;
        match operation.as_str() {
            "BatchGetItem" if partial => c.unprocessed += 1,
            "TransactWriteItems" if partial => c.cancelled += 1,
            _ if hit => *c.throttled.entry(operation.clone()).or_default() += 1,
            _ => {}
        }
        let partial = partial && matches!(operation.as_str(), "BatchGetItem" | "TransactWriteItems");
        (hit && !partial, partial, seen)
    };
    let held = |hold: &Option<Hold>| hold.as_ref().is_some_and(|h| h.operation == operation && seen > h.after);
    let _ = faults.hold.wait_for(|hold| !held(hold)).await;
    if throttle {
        let mut response = text_response(
            StatusCode::BAD_REQUEST,
            r#"{"__type":"com.amazonaws.dynamodb.v20120810#ThrottlingException","message":"Rate of requests exceeds the allowed throughput."}"#.into(),
        );
        response
            .headers_mut()
            .insert("content-type", hyper::header::HeaderValue::from_static("application/x-amz-json-1.0"));
        return response;
    }
    let (parts, body) = request.into_parts();
    let Ok(body) = body.collect().await.map(|b| b.to_bytes()) else {
        return text_response(StatusCode::BAD_GATEWAY, "could not read the request".into());
    };
    if partial {
        let asked: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        let (status, answer) = if operation == "BatchGetItem" {
            // Nothing read: every requested key comes back as unprocessed.
            let tables = asked["RequestItems"].as_object().cloned().unwrap_or_default();
            let responses: serde_json::Map<String, serde_json::Value> =
                tables.keys().map(|t| (t.clone(), serde_json::json!([]))).collect();
            (StatusCode::OK, serde_json::json!({ "Responses": responses, "UnprocessedKeys": tables }))
        } else {
            // Nothing written: every fifth write throttled, the others rolled back.
            let writes = asked["TransactItems"].as_array().map_or(0, Vec::len);
            let reasons: Vec<serde_json::Value> = (0..writes)
                .map(|i| match i % 5 {
                    4 => serde_json::json!({ "Code": "ThrottlingError", "Message": "Throughput exceeds the current capacity of your table." }),
                    _ => serde_json::json!({ "Code": "None" }),
                })
                .collect();
            (
                StatusCode::BAD_REQUEST,
                serde_json::json!({
                    "__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
                    "Message": "Transaction cancelled, please refer cancellation reasons for specific reasons",
                    "CancellationReasons": reasons,
                }),
            )
        };
        let mut response = text_response(status, answer.to_string());
        response
            .headers_mut()
            .insert("content-type", hyper::header::HeaderValue::from_static("application/x-amz-json-1.0"));
        return response;
    }
    let path = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let mut upstream_request = Request::new(Full::new(body));
    *upstream_request.method_mut() = parts.method;
    *upstream_request.headers_mut() = parts.headers;
    match format!("{upstream}{path}").parse() {
        Ok(uri) => *upstream_request.uri_mut() = uri,
        Err(e) => return text_response(StatusCode::BAD_GATEWAY, e.to_string()),
    }
    match client.request(upstream_request).await {
        Ok(response) => {
            let (parts, body) = response.into_parts();
            match body.collect().await {
                Ok(bytes) => Response::from_parts(parts, Full::new(bytes.to_bytes())),
                Err(e) => text_response(StatusCode::BAD_GATEWAY, e.to_string()),
            }
        }
        Err(e) => text_response(StatusCode::BAD_GATEWAY, e.to_string()),
    }
}
