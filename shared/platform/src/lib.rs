//! What every PPMT-AMP service shares beyond pure domain types: configuration, AWS
//! clients, the ports (traits) services do I/O through and their adapters, the SQL the
//! warehouse runs, and the worker runtime every SQS consumer runs in.
//!
//! - [`config`]: typed configuration read once from the environment;
//! - [`aws`]: SDK clients honouring `AWS_ENDPOINT_URL` (path-style S3 on emulators);
//! - [`ports`]: `ObjectStore`, `Notifier`, `Warehouse`, `AppStore`, `AppReader`, `RunLedger`;
//! - [`adapters`]: S3, SNS, DynamoDB and PostgreSQL implementations of the ports;
//! - [`provision`]: creates the topology on an emulator;
//! - [`testing`]: in-memory fakes of the ports for unit tests;
//! - [`sql`]: the `sql/` files compiled in, and parameter rendering;
//! - [`sync_rows`]: the syncer's query results read into the app's view;
//! - [`stage`]: ledger bookkeeping and the announcement around a stage's work;
//! - [`worker`]: Lambda mode and worker mode with the same partial-batch semantics;
//! - [`wiring`]: builds the adapters a configuration asks for;
//! - [`error`]: the port error that knows whether it is retryable;
//! - [`telemetry`]: tracing set-up (JSON or text);
//! - [`metrics`]: CloudWatch embedded-metric-format lines.

pub mod adapters;
pub mod aws;
pub mod config;
pub mod error;
pub mod metrics;
pub mod ports;
pub mod provision;
pub mod sql;
pub mod stage;
pub mod sync_rows;
pub mod telemetry;
pub mod testing;
pub mod wiring;
pub mod worker;

pub use error::{PortError, Retryable};
