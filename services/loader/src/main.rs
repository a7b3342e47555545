//! Wiring of the loader: configuration, clients, then Lambda or worker mode.

use anyhow::Context;
use ppmt_loader::Loader;
use ppmt_platform::aws::AwsClients;
use ppmt_platform::config::{Needs, ServiceConfig};
use ppmt_platform::wiring::Ports;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    ppmt_platform::telemetry::init("loader", "info");
    let config = ServiceConfig::from_env(Needs { warehouse: true, queue: true })?;
    let clients = AwsClients::from_env().await;
    let ports = Ports::build(&config, &clients);
    let loader = Loader {
        store: ports.store,
        warehouse: ports.warehouse.context("loader needs a warehouse")?,
        notifier: ports.notifier,
        ledger: ports.ledger.clone(),
    };
    ppmt_platform::worker::serve(loader, ports.ledger, clients.sqs, config.mode).await.map_err(|e| anyhow::anyhow!(e))
}
