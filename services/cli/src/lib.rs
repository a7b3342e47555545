//! `ppmt`, the operator CLI: provisions a stack on an emulator, shows the run ledger,
//! replays a day or a stage, inspects and redrives dead-letter queues, scrapes on
//! demand, and runs the demo. Nothing here is on the data path; the services are.
//!
//! - [`status`]: the days stage by stage, and the queues;
//! - [`ops`]: replays, rejects and DLQ commands over a provisioned stack;
//! - [`replay`]: day ranges, followed to `synced`;
//! - [`report`]: a day's run as one self-contained HTML page;
//! - [`demo`]: the `make demo` run, and starting service binaries in worker mode.

pub mod demo;
pub mod ops;
pub mod replay;
pub mod report;
pub mod status;
