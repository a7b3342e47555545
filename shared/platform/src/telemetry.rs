//! Tracing set-up: JSON lines under Lambda (CloudWatch parses them), readable text
//! elsewhere. `RUST_LOG` filters; the default is the caller's.

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber once; later calls are no-ops. `default_level` applies
/// when `RUST_LOG` is not set (services log `info`, the CLI only `warn`).
pub fn init(service: &str, default_level: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level));
    let in_lambda =
        crate::config::EnvReader::from_process().optional(crate::config::vars::LAMBDA_RUNTIME_API).is_some();
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let result = if in_lambda {
        builder.json().with_current_span(true).without_time().try_init()
    } else {
        builder.with_target(false).try_init()
    };
    if result.is_ok() {
        tracing::debug!(service, "tracing initialised");
    }
}
