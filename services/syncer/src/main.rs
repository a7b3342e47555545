//! Wiring of the syncer: configuration, clients, then Lambda or worker mode.

use std::sync::Arc;

use anyhow::Context;
use ppmt_platform::adapters::sqs::SqsQueue;
use ppmt_platform::aws::AwsClients;
use ppmt_platform::config::{Needs, ServiceConfig, SyncSettings};
use ppmt_platform::wiring::Ports;
use ppmt_syncer::Syncer;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    ppmt_platform::telemetry::init("syncer", "info");
    let config = ServiceConfig::from_env(Needs { warehouse: true, queue: true })?;
    let clients = AwsClients::from_env().await;
    let settings = SyncSettings::from_env()?;
    let ports = Ports::build(&config, &clients);
    let syncer = Syncer {
        warehouse: ports.warehouse.context("syncer needs a warehouse")?,
        app: ports.app,
        notifier: ports.notifier,
        ledger: ports.ledger.clone(),
        shards: Arc::new(SqsQueue { client: clients.sqs.clone(), url: settings.shard_queue_url }),
        shard_items: settings.shard_items,
    };
    ppmt_platform::worker::serve(syncer, ports.ledger, clients.sqs, config.mode).await.map_err(|e| anyhow::anyhow!(e))
}
