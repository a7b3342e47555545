//! Wiring of the syncer: configuration, clients, then Lambda or worker mode.

use anyhow::Context;
use ppmt_platform::aws::AwsClients;
use ppmt_platform::config::{Needs, ServiceConfig};
use ppmt_platform::wiring::Ports;
use ppmt_syncer::Syncer;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    ppmt_platform::telemetry::init("syncer", "info");
    let config = ServiceConfig::from_env(Needs { warehouse: true, queue: true })?;
    let clients = AwsClients::from_env().await;
    let ports = Ports::build(&config, &clients);
    let syncer = Syncer {
        warehouse: ports.warehouse.context("syncer needs a warehouse")?,
        app: ports.app,
        notifier: ports.notifier,
        ledger: ports.ledger.clone(),
    };
    ppmt_platform::worker::serve(syncer, ports.ledger, clients.sqs, config.mode).await.map_err(|e| anyhow::anyhow!(e))
}
