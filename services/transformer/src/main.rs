//! Wiring of the transformer: configuration, clients, then Lambda or worker mode.

use anyhow::Context;
use ppmt_platform::aws::AwsClients;
use ppmt_platform::config::{Needs, ServiceConfig};
use ppmt_platform::wiring::Ports;
use ppmt_transformer::Transformer;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    ppmt_platform::telemetry::init("transformer", "info");
    let config = ServiceConfig::from_env(Needs { warehouse: true, queue: true })?;
    let clients = AwsClients::from_env().await;
    let ports = Ports::build(&config, &clients);
    let transformer = Transformer {
        warehouse: ports.warehouse.context("transformer needs a warehouse")?,
        notifier: ports.notifier,
        ledger: ports.ledger.clone(),
    };
    ppmt_platform::worker::serve(transformer, ports.ledger, clients.sqs, config.mode)
        .await
        .map_err(|e| anyhow::anyhow!(e))
}
