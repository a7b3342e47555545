//! Metrics in CloudWatch's Embedded Metric Format (EMF): each [`emit`] writes one JSON
//! object on one line of stdout, and CloudWatch Logs turns it into metrics of namespace
//! `PPMT-AMP` with the one dimension `Service`; the other properties (`batch_id`,
//! `stage`) stay searchable in the log line but are not dimensions. Lambda ships stdout
//! to the function's log group as it is; a worker needs a log shipper that does the same
//! (the CloudWatch agent). `PPMT_METRICS=off` silences them (tests, demos); the default
//! is `emf`.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::OnceLock;
use std::time::Duration;

use serde::Serialize;

use crate::config::EnvReader;

/// The variable that turns metrics off.
pub const METRICS_VAR: &str = "PPMT_METRICS";

/// The CloudWatch namespace of every metric.
pub const NAMESPACE: &str = "PPMT-AMP";

/// A metric's unit, as CloudWatch names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Unit {
    Count,
    Milliseconds,
}

/// One value of one metric.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Metric {
    pub name: &'static str,
    pub value: f64,
    pub unit: Unit,
}

impl Metric {
    /// A count.
    pub fn count(name: &'static str, value: u64) -> Metric {
        Metric { name, value: value as f64, unit: Unit::Count }
    }

    /// A duration, in milliseconds.
    pub fn duration(name: &'static str, value: Duration) -> Metric {
        Metric { name, value: value.as_micros() as f64 / 1000.0, unit: Unit::Milliseconds }
    }
}

/// Writes `values` as one EMF line for `service`, with `properties` (names other than
/// `Service`, `_aws` and the metrics' names) alongside. Nothing when metrics are off or
/// there is no finite value; a failed write is ignored (metrics never fail the work).
pub fn emit(service: &str, properties: &[(&str, &str)], values: &[Metric]) {
    if !enabled() {
        return;
    }
    if let Some(line) = line(chrono::Utc::now().timestamp_millis(), service, properties, values) {
        let _ = writeln!(std::io::stdout().lock(), "{line}");
    }
}

/// Whether `PPMT_METRICS` lets metrics out; read once, warning once about a bad value.
fn enabled() -> bool {
    static ENABLED: OnceLock<bool> = OnceLock::new();
    *ENABLED.get_or_init(|| {
        let value = EnvReader::from_process().optional(METRICS_VAR);
        let (on, problem) =
            crate::telemetry::choose(METRICS_VAR, value.as_deref(), &[("emf", true), ("off", false)], true);
        if let Some(problem) = problem {
            tracing::warn!("{problem}");
        }
        on
    })
}

/// The EMF document: the `_aws` directive, then the `Service` dimension, then the
/// properties and the values by name.
#[derive(Serialize)]
struct Line<'a> {
    #[serde(rename = "_aws")]
    aws: Directive<'a>,
    #[serde(rename = "Service")]
    service: &'a str,
    #[serde(flatten)]
    fields: BTreeMap<&'a str, serde_json::Value>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Directive<'a> {
    timestamp: i64,
    cloud_watch_metrics: [MetricSet<'a>; 1],
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct MetricSet<'a> {
    namespace: &'static str,
    dimensions: [[&'static str; 1]; 1],
    metrics: Vec<Definition<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Definition<'a> {
    name: &'a str,
    unit: Unit,
}

/// The EMF line of `values` at `timestamp_ms` (epoch milliseconds); `None` when no value
/// is finite (CloudWatch rejects the others).
fn line(timestamp_ms: i64, service: &str, properties: &[(&str, &str)], values: &[Metric]) -> Option<String> {
    let values: Vec<&Metric> = values.iter().filter(|m| m.value.is_finite()).collect();
    if values.is_empty() {
        return None;
    }
    let mut fields: BTreeMap<&str, serde_json::Value> =
        properties.iter().map(|(name, value)| (*name, serde_json::Value::from(*value))).collect();
    fields.extend(values.iter().map(|m| (m.name, number(m.value))));
    let metrics = values.iter().map(|m| Definition { name: m.name, unit: m.unit }).collect();
    let aws = Directive {
        timestamp: timestamp_ms,
        cloud_watch_metrics: [MetricSet { namespace: NAMESPACE, dimensions: [["Service"]], metrics }],
    };
    serde_json::to_string(&Line { aws, service, fields }).ok()
}

/// `value` as a JSON number, without a fraction when it is a whole number (`123`, not
/// `123.0`).
fn number(value: f64) -> serde_json::Value {
    const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53: every whole f64 below is exact
    if value.fract() == 0.0 && value.abs() < EXACT {
        serde_json::Value::from(value as i64)
    } else {
        serde_json::Value::from(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_is_an_emf_document() {
        let values = [
            Metric::count("RowsStaged", 123),
            Metric::duration("StageDurationMs", Duration::from_micros(1_500_250)),
            Metric { name: "Broken", value: f64::NAN, unit: Unit::Count },
        ];
        let line = line(1_764_036_000_000, "loader", &[("batch_id", "2026-11-25-b1"), ("stage", "loaded")], &values);
        assert_eq!(
            line.unwrap(),
            concat!(
                r#"{"_aws":{"Timestamp":1764036000000,"CloudWatchMetrics":[{"Namespace":"PPMT-AMP","#,
                r#""Dimensions":[["Service"]],"Metrics":[{"Name":"RowsStaged","Unit":"Count"},"#,
                r#"{"Name":"StageDurationMs","Unit":"Milliseconds"}]}]},"Service":"loader","#,
                r#""RowsStaged":123,"StageDurationMs":1500.25,"batch_id":"2026-11-25-b1","stage":"loaded"}"#
            )
        );
    }

    #[test]
    fn nothing_is_written_without_a_finite_value() {
        assert_eq!(line(0, "loader", &[], &[]), None);
        assert_eq!(line(0, "loader", &[], &[Metric { name: "X", value: f64::INFINITY, unit: Unit::Count }]), None);
    }
}
