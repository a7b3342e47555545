//! Wiring of the syncer: configuration, clients, then Lambda or worker mode.

use std::sync::Arc;

use anyhow::Context;
use ppmt_platform::adapters::sqs::SqsQueue;
use ppmt_platform::aws::AwsClients;
use ppmt_platform::config::{Needs, ServiceConfig, SyncSettings};
use ppmt_platform::wiring::Ports;
use ppmt_syncer::Syncer;

// One thread: the syncer waits on PostgreSQL and DynamoDB nearly all the time, and its own
// work between two awaits is bounded by a shard (planning at most `shard_items` items).
// A second worker thread costs more in cross-thread wake-ups than it would run (the
// client CPU per item of `bench_app`: see the README's benchmarks).
#[tokio::main(flavor = "current_thread")]
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
