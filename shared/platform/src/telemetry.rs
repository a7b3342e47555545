//! Tracing set-up. `PPMT_LOG_FORMAT` chooses the format in every mode: `json`, one JSON
//! object per line with the fields of the current span (`span`) and of every span around
//! it (`spans`), which CloudWatch Logs Insights parses; or `text`, readable lines,
//! coloured only when stderr is a terminal (never in a file). Unset, it is `json` under
//! Lambda (`AWS_LAMBDA_RUNTIME_API` set) and `text` elsewhere. `RUST_LOG` filters; the
//! default level is the caller's.
//!
//! The worker's `message` span carries `consumer`, `message_id`, `receive_count` and,
//! once the stage knows them, `batch_id`, `stage` and `trace_id`, so every line of a
//! message's work names its batch.

use std::io::IsTerminal;

use tracing::Subscriber;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

use crate::config::{vars, EnvReader};

/// The variable that chooses the log format.
pub const LOG_FORMAT_VAR: &str = "PPMT_LOG_FORMAT";

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Text,
}

/// The format `value` (of `PPMT_LOG_FORMAT`) names, or the default of the mode, with a
/// warning naming the valid values when `value` is not one of them.
pub fn log_format(value: Option<&str>, in_lambda: bool) -> (LogFormat, Option<String>) {
    let default = if in_lambda { LogFormat::Json } else { LogFormat::Text };
    choose(LOG_FORMAT_VAR, value, &[("json", LogFormat::Json), ("text", LogFormat::Text)], default)
}

/// The option `value` (of variable `var`) names, case-insensitively; `default` when it
/// is unset, or, with a warning naming the valid values, when it names none of them.
pub(crate) fn choose<T: Copy>(
    var: &str,
    value: Option<&str>,
    options: &[(&str, T)],
    default: T,
) -> (T, Option<String>) {
    let Some(value) = value else { return (default, None) };
    match options.iter().find(|(name, _)| name.eq_ignore_ascii_case(value)) {
        Some((_, chosen)) => (*chosen, None),
        None => {
            let valid: Vec<&str> = options.iter().map(|(name, _)| *name).collect();
            (default, Some(format!("{var}=`{value}` is not one of {}; using the default", valid.join(", "))))
        }
    }
}

/// The AWS SDK's crates (by target prefix). Their warnings are the SDK's own retries and
/// fallbacks (a region looked up in instance metadata, a credential provider skipped),
/// each a dump of a whole HTTP response; the failure that matters reaches us as an error.
const AWS_SDK_TARGETS: [&str; 6] =
    ["aws_config", "aws_credential_types", "aws_runtime", "aws_sdk", "aws_sigv4", "aws_smithy"];

/// The filter when `RUST_LOG` is not set: `default_level`, the AWS SDK only at `error`.
fn default_filter(default_level: &str) -> String {
    AWS_SDK_TARGETS.iter().fold(default_level.to_owned(), |filter, target| format!("{filter},{target}=error"))
}

/// Installs the global subscriber once; later calls are no-ops. `default_level` applies
/// when `RUST_LOG` is not set (services log `info`, the CLI only `warn`; the AWS SDK
/// `error`).
pub fn init(service: &str, default_level: &str) {
    let env = EnvReader::from_process();
    let in_lambda = env.optional(vars::LAMBDA_RUNTIME_API).is_some();
    let (format, problem) = log_format(env.optional(LOG_FORMAT_VAR).as_deref(), in_lambda);
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter(default_level)));
    let colour = format == LogFormat::Text && std::io::stderr().is_terminal();
    if tracing::subscriber::set_global_default(subscriber(format, filter, colour, std::io::stderr)).is_ok() {
        if let Some(problem) = problem {
            tracing::warn!("{problem}");
        }
        tracing::debug!(service, ?format, "tracing initialised");
    }
}

/// A subscriber writing `format` lines to `writer`, ANSI-coloured when `colour`.
fn subscriber<W>(format: LogFormat, filter: EnvFilter, colour: bool, writer: W) -> Box<dyn Subscriber + Send + Sync>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(writer).with_ansi(colour);
    match format {
        LogFormat::Json => Box::new(builder.json().with_current_span(true).with_span_list(true).finish()),
        LogFormat::Text => Box::new(builder.with_target(false).finish()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::PortError;
    use crate::ports::RunLedger;
    use crate::stage::record_stage;
    use crate::testing::MemoryLedger;
    use crate::worker::{handle_batch, Message, MessageHandler};
    use aws_lambda_events::event::sqs::SqsEvent;
    use chrono::NaiveDate;
    use ppmt_domain::{BatchId, BatchRef, Stage};
    use std::sync::{Arc, Mutex};

    /// Log output kept in memory.
    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// Names its batch, logs, then fails (retryably).
    struct Tagging;

    #[async_trait::async_trait]
    impl MessageHandler for Tagging {
        type Error = PortError;

        fn consumer(&self) -> &'static str {
            "loader"
        }

        async fn handle(&self, _message: &Message) -> Result<(), PortError> {
            let batch = BatchRef {
                batch_id: BatchId("2026-11-25-b1".into()),
                batch_date: NaiveDate::from_ymd_opt(2026, 11, 25).unwrap(),
                bucket: "raw".into(),
                manifest_key: "raw/2026-11-25/manifest.json".into(),
            };
            record_stage(&batch, Stage::Loaded, "trace-1");
            tracing::info!("working");
            Err(PortError::transient("stage the batch", "warehouse unreachable"))
        }
    }

    #[tokio::test]
    async fn every_json_line_of_a_message_names_its_message_batch_stage_and_trace() {
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let json = subscriber(LogFormat::Json, EnvFilter::new("info"), false, move || writer.clone());
        let _default = tracing::subscriber::set_default(json);
        let event: SqsEvent = serde_json::from_str(
            r#"{"Records": [{"messageId": "m-1", "body": "x", "attributes": {"ApproximateReceiveCount": "2"}}]}"#,
        )
        .unwrap();
        let ledger: Arc<dyn RunLedger> = Arc::new(MemoryLedger::default());
        handle_batch(&Arc::new(Tagging), &ledger, event).await;

        let output = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<serde_json::Value> = output.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        let messages: Vec<&str> = lines.iter().filter_map(|l| l["fields"]["message"].as_str()).collect();
        assert_eq!(messages, ["working", "message failed; it will be retried"], "{output}");
        for line in &lines {
            let span = &line["span"];
            assert_eq!(span["name"], "message");
            assert_eq!(
                (&span["consumer"], &span["message_id"], &span["receive_count"]),
                (&"loader".into(), &"m-1".into(), &2.into()),
                "{line}"
            );
            assert_eq!(
                (&span["batch_id"], &span["stage"], &span["trace_id"]),
                (&"2026-11-25-b1".into(), &"loaded".into(), &"trace-1".into()),
                "{line}"
            );
            assert_eq!(line["spans"][0], *span, "{line}");
            assert!(!line.to_string().contains('\u{1b}'), "no colour codes: {line}");
        }
    }

    #[test]
    fn by_default_the_aws_sdk_logs_only_errors_and_the_rest_at_the_default_level() {
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let text = subscriber(LogFormat::Text, EnvFilter::new(default_filter("warn")), false, move || writer.clone());
        tracing::subscriber::with_default(text, || {
            tracing::warn!(target: "aws_config::imds::region", "failed to load region from IMDS");
            tracing::error!(target: "aws_smithy_runtime::client", "the SDK failed");
            tracing::warn!(target: "ppmt_cli::ops", "ours");
            tracing::info!(target: "ppmt_cli::ops", "too low");
        });
        let output = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = output.lines().filter_map(|l| Some(l.split_once("Z ")?.1.trim_start())).collect();
        assert_eq!(lines, ["ERROR the SDK failed", "WARN ours"], "{output}");
    }

    #[test]
    fn the_format_is_chosen_by_the_variable_or_the_mode() {
        assert_eq!(log_format(None, true), (LogFormat::Json, None));
        assert_eq!(log_format(None, false), (LogFormat::Text, None));
        assert_eq!(log_format(Some("json"), false), (LogFormat::Json, None));
        assert_eq!(log_format(Some("TEXT"), true), (LogFormat::Text, None));
    }

    #[test]
    fn an_unknown_format_warns_with_the_valid_values_and_keeps_the_default() {
        let (format, problem) = log_format(Some("xml"), true);
        assert_eq!(format, LogFormat::Json);
        assert_eq!(problem.as_deref(), Some("PPMT_LOG_FORMAT=`xml` is not one of json, text; using the default"));
    }
}
