//! Wiring of the loader: configuration, clients, then Lambda or worker mode.

use anyhow::Context;
use ppmt_loader::Loader;
use std::sync::Arc;

use ppmt_platform::adapters::sqs::SqsQueue;
use ppmt_platform::aws::AwsClients;
use ppmt_platform::config::{LoadSettings, Needs, ServiceConfig};
use ppmt_platform::wiring::Ports;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    ppmt_platform::telemetry::init("loader", "info");
    let config = ServiceConfig::from_env(Needs { warehouse: true, queue: true })?;
    let settings = LoadSettings::from_env()?;
    let clients = AwsClients::from_env().await;
    let ports = Ports::build(&config, &clients);
    let loader = Loader {
        store: ports.store,
        warehouse: ports.warehouse.context("loader needs a warehouse")?,
        notifier: ports.notifier,
        ledger: ports.ledger.clone(),
        parts: Arc::new(SqsQueue { client: clients.sqs.clone(), url: settings.part_queue_url }),
        fanout_bytes: settings.fanout_bytes,
    };
    ppmt_platform::worker::serve(loader, ports.ledger, clients.sqs, config.mode).await.map_err(|e| anyhow::anyhow!(e))
}
