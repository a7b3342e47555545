//! Wiring of the read API: configuration, the DynamoDB client, then Lambda (behind API
//! Gateway's HTTP API, payload format 2.0) or HTTP on `PPMT_API_ADDR`.

use std::sync::Arc;

use ppmt_api::{Api, ApiRequest};
use ppmt_platform::adapters::app_table::DynamoAppTable;
use ppmt_platform::aws::AwsClients;
use ppmt_platform::config::ApiConfig;
use serde_json::{json, Value};

/// The API Gateway HTTP API (payload 2.0) event as the API reads it.
fn gateway_request(event: &Value) -> ApiRequest {
    let text = |pointer: &str| event.pointer(pointer).and_then(Value::as_str).unwrap_or_default().to_owned();
    ApiRequest {
        method: text("/requestContext/http/method"),
        path: text("/rawPath"),
        query: text("/rawQueryString"),
        if_none_match: event.pointer("/headers/if-none-match").and_then(Value::as_str).map(str::to_owned),
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    ppmt_platform::telemetry::init("api", "info");
    let config = ApiConfig::from_env()?;
    let clients = AwsClients::from_env().await;
    let table = DynamoAppTable {
        client: clients.dynamodb.clone(),
        table: config.prices_table.clone(),
        retry_deadline: std::time::Duration::from_secs(5),
    };
    let api = Arc::new(Api { reader: Arc::new(table) });
    match config.listen {
        Some(addr) => {
            let listener = tokio::net::TcpListener::bind(addr).await?;
            tracing::info!(%addr, table = %config.prices_table, "serving the read API");
            let shutdown = async {
                let _ = tokio::signal::ctrl_c().await;
            };
            ppmt_api::http::serve(listener, api, shutdown).await?;
        }
        None => {
            let service = lambda_runtime::service_fn(move |event: lambda_runtime::LambdaEvent<Value>| {
                let api = api.clone();
                async move {
                    let answer = api.handle(&gateway_request(&event.payload)).await;
                    let headers: serde_json::Map<String, Value> =
                        answer.headers.into_iter().map(|(k, v)| (k.to_owned(), Value::String(v))).collect();
                    Ok::<_, lambda_runtime::Error>(json!({
                        "statusCode": answer.status,
                        "headers": headers,
                        "body": answer.body,
                        "isBase64Encoded": false,
                    }))
                }
            });
            lambda_runtime::run(service).await.map_err(|e| anyhow::anyhow!(e))?;
        }
    }
    Ok(())
}
