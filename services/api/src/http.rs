//! The API over plain HTTP/1.1 (anywhere but Lambda): one task per connection, each
//! request answered by [`Api::handle`]. The listener and the shutdown signal are handed
//! in, so tests serve on port 0.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use crate::{Api, ApiRequest, ApiResponse};

/// The request as the API reads it.
pub fn api_request(request: &Request<Incoming>) -> ApiRequest {
    ApiRequest {
        method: request.method().as_str().to_owned(),
        path: request.uri().path().to_owned(),
        query: request.uri().query().unwrap_or_default().to_owned(),
        if_none_match: request.headers().get("if-none-match").and_then(|v| v.to_str().ok()).map(str::to_owned),
    }
}

fn http_response(answer: ApiResponse) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(answer.body)));
    *response.status_mut() = hyper::StatusCode::from_u16(answer.status).unwrap_or(hyper::StatusCode::OK);
    for (name, value) in answer.headers {
        if let Ok(value) = hyper::header::HeaderValue::from_str(&value) {
            response.headers_mut().insert(name, value);
        }
    }
    response
}

/// Serves until `shutdown` completes; connections in progress finish on their own.
pub async fn serve(listener: TcpListener, api: Arc<Api>, shutdown: impl Future<Output = ()>) -> std::io::Result<()> {
    tokio::pin!(shutdown);
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => accepted?,
            () = &mut shutdown => return Ok(()),
        };
        let api = api.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request: Request<Incoming>| {
                let api = api.clone();
                async move { Ok::<_, Infallible>(http_response(api.handle(&api_request(&request)).await)) }
            });
            if let Err(e) = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
}
