//! Typed configuration, read once from the environment at start-up. This is the only
//! module that reads `std::env`.

use std::collections::BTreeMap;
use std::str::FromStr;

/// Names of the environment variables, in one place for the docs and the tools.
pub mod vars {
    pub const RAW_BUCKET: &str = "PPMT_RAW_BUCKET";
    pub const STAGE_TOPIC_ARN: &str = "PPMT_STAGE_TOPIC_ARN";
    pub const PRICES_TABLE: &str = "PPMT_PRICES_TABLE";
    pub const LEDGER_TABLE: &str = "PPMT_LEDGER_TABLE";
    pub const QUEUE_URL: &str = "PPMT_QUEUE_URL";
    pub const DATABASE_URL: &str = "PPMT_DATABASE_URL";
    pub const REDSHIFT_WORKGROUP: &str = "PPMT_REDSHIFT_WORKGROUP";
    pub const REDSHIFT_DATABASE: &str = "PPMT_REDSHIFT_DATABASE";
    pub const REDSHIFT_SECRET_ARN: &str = "PPMT_REDSHIFT_SECRET_ARN";
    pub const REDSHIFT_COPY_ROLE_ARN: &str = "PPMT_REDSHIFT_COPY_ROLE_ARN";
    pub const VISIBILITY_TIMEOUT_SECS: &str = "PPMT_VISIBILITY_TIMEOUT_SECS";
    pub const WAIT_TIME_SECS: &str = "PPMT_WAIT_TIME_SECS";
    pub const RETRY_BASE_DELAY_SECS: &str = "PPMT_RETRY_BASE_DELAY_SECS";
    pub const ENDPOINT_URL: &str = "AWS_ENDPOINT_URL";
    pub const LAMBDA_RUNTIME_API: &str = "AWS_LAMBDA_RUNTIME_API";
    pub const API_ADDR: &str = "PPMT_API_ADDR";
    pub const SYNC_SHARD_ITEMS: &str = "PPMT_SYNC_SHARD_ITEMS";
    pub const SHARD_QUEUE_URL: &str = "PPMT_SHARD_QUEUE_URL";
    pub const LOAD_FANOUT_BYTES: &str = "PPMT_LOAD_FANOUT_BYTES";
}

/// Configuration that cannot be used, listing every problem at once.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid configuration: {}", .problems.join("; "))]
pub struct ConfigError {
    pub problems: Vec<String>,
}

/// Reads variables from a snapshot of the environment, collecting every problem.
pub struct EnvReader {
    vars: BTreeMap<String, String>,
    problems: Vec<String>,
}

impl EnvReader {
    /// A reader over the process environment.
    pub fn from_process() -> Self {
        Self::from_map(std::env::vars().collect())
    }

    /// A reader over given variables (tests).
    pub fn from_map(vars: BTreeMap<String, String>) -> Self {
        EnvReader { vars, problems: Vec::new() }
    }

    /// Every variable, for tools that interpolate them (the scraper's sources file).
    pub fn vars(&self) -> &BTreeMap<String, String> {
        &self.vars
    }

    /// A variable that may be absent; blank counts as absent.
    pub fn optional(&self, name: &str) -> Option<String> {
        self.vars.get(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
    }

    /// A variable that must be set.
    pub fn required(&mut self, name: &str) -> String {
        self.optional(name).unwrap_or_else(|| {
            self.problems.push(format!("{name} is not set"));
            String::new()
        })
    }

    /// An optional variable parsed as `T`, or `default`.
    pub fn parsed<T: FromStr>(&mut self, name: &str, default: T) -> T {
        match self.optional(name) {
            None => default,
            Some(text) => text.parse().unwrap_or_else(|_| {
                self.problems.push(format!("{name}=`{text}` is not a valid {}", std::any::type_name::<T>()));
                default
            }),
        }
    }

    /// Ends reading: every problem seen, or nothing.
    pub fn finish(self) -> Result<(), ConfigError> {
        if self.problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError { problems: self.problems })
        }
    }
}

/// Where the pipeline's AWS resources are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resources {
    /// The raw bucket (files, metadata, manifests).
    pub raw_bucket: String,
    /// The topic every stage publishes its "done" event to.
    pub stage_topic_arn: String,
    /// DynamoDB table the app reads current prices from.
    pub prices_table: String,
    /// DynamoDB table of the run ledger and message failures.
    pub ledger_table: String,
}

impl Resources {
    fn read(env: &mut EnvReader) -> Resources {
        Resources {
            raw_bucket: env.required(vars::RAW_BUCKET),
            stage_topic_arn: env.required(vars::STAGE_TOPIC_ARN),
            prices_table: env.required(vars::PRICES_TABLE),
            ledger_table: env.required(vars::LEDGER_TABLE),
        }
    }
}

/// The warehouse to use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WarehouseSettings {
    /// PostgreSQL (local and CI stand-in for Redshift): a `postgres://` URL.
    Postgres { url: String },
    /// Amazon Redshift Serverless through the Data API.
    Redshift { workgroup: String, database: String, secret_arn: Option<String>, copy_role_arn: String },
}

impl WarehouseSettings {
    fn read(env: &mut EnvReader) -> WarehouseSettings {
        if let Some(url) = env.optional(vars::DATABASE_URL) {
            return WarehouseSettings::Postgres { url };
        }
        if env.optional(vars::REDSHIFT_WORKGROUP).is_some() {
            return WarehouseSettings::Redshift {
                workgroup: env.required(vars::REDSHIFT_WORKGROUP),
                database: env.required(vars::REDSHIFT_DATABASE),
                secret_arn: env.optional(vars::REDSHIFT_SECRET_ARN),
                copy_role_arn: env.required(vars::REDSHIFT_COPY_ROLE_ARN),
            };
        }
        env.problems.push(format!(
            "no warehouse: set {} (PostgreSQL) or {} and {} (Redshift)",
            vars::DATABASE_URL,
            vars::REDSHIFT_WORKGROUP,
            vars::REDSHIFT_DATABASE
        ));
        WarehouseSettings::Postgres { url: String::new() }
    }
}

/// How a consumer receives its messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunMode {
    /// Under the Lambda runtime; the SQS event source mapping polls. A failed message's
    /// visibility is still set to its retry delay (see [`crate::worker`]).
    Lambda { retry_base_delay_secs: i32 },
    /// Long-polling the queue ourselves, with the same batch semantics.
    Worker(WorkerSettings),
}

/// Visibility timeout a worker asks for when not told otherwise.
pub const DEFAULT_WORKER_VISIBILITY_SECS: i32 = 60;

/// Worker-mode polling settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerSettings {
    /// The queue to poll.
    pub queue_url: String,
    /// Visibility timeout asked for on each receive, and extended every half of it
    /// while a message is in work: short, so a crashed worker's messages come back soon,
    /// yet never expiring under a slow batch.
    pub visibility_timeout_secs: i32,
    /// Long-poll wait per receive.
    pub wait_time_secs: i32,
    /// First retry delay of a message that failed retryably; doubles per receive.
    pub retry_base_delay_secs: i32,
}

/// First retry delay of a retryable failure when not told otherwise: with
/// [`ppmt_domain::topology::MAX_RECEIVE_COUNT`] receives, the delays 5, 10, … 320 s add
/// up to 635 s, so a 10-minute warehouse outage is ridden out with no operator.
pub const DEFAULT_RETRY_BASE_DELAY_SECS: i32 = 5;

fn retry_base_delay_secs(env: &mut EnvReader) -> i32 {
    env.parsed(vars::RETRY_BASE_DELAY_SECS, DEFAULT_RETRY_BASE_DELAY_SECS)
}

/// Everything a consumer service needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceConfig {
    pub resources: Resources,
    pub warehouse: Option<WarehouseSettings>,
    pub mode: RunMode,
}

/// Which optional parts a service needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Needs {
    pub warehouse: bool,
    pub queue: bool,
}

impl ServiceConfig {
    /// Reads the configuration of a service from the process environment.
    pub fn from_env(needs: Needs) -> Result<ServiceConfig, ConfigError> {
        Self::read(EnvReader::from_process(), needs)
    }

    /// Reads the configuration from `env`, naming every missing or bad variable.
    pub fn read(mut env: EnvReader, needs: Needs) -> Result<ServiceConfig, ConfigError> {
        let resources = Resources::read(&mut env);
        let warehouse = needs.warehouse.then(|| WarehouseSettings::read(&mut env));
        let mode = if !needs.queue || env.optional(vars::LAMBDA_RUNTIME_API).is_some() {
            RunMode::Lambda { retry_base_delay_secs: retry_base_delay_secs(&mut env) }
        } else {
            let visibility: i32 = env.parsed(vars::VISIBILITY_TIMEOUT_SECS, DEFAULT_WORKER_VISIBILITY_SECS);
            if !(2..=43_200).contains(&visibility) {
                env.problems
                    .push(format!("{}={visibility} must be from 2 to 43200 seconds", vars::VISIBILITY_TIMEOUT_SECS));
            }
            RunMode::Worker(WorkerSettings {
                queue_url: env.required(vars::QUEUE_URL),
                visibility_timeout_secs: visibility,
                wait_time_secs: env.parsed(vars::WAIT_TIME_SECS, 10),
                retry_base_delay_secs: retry_base_delay_secs(&mut env),
            })
        };
        env.finish()?;
        Ok(ServiceConfig { resources, warehouse, mode })
    }
}

/// Writes one sync shard carries when not told otherwise: at the syncer's pace on
/// DynamoDB, well inside one invocation.
pub const DEFAULT_SYNC_SHARD_ITEMS: usize = 10_000;

/// The syncer's own settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncSettings {
    /// A batch with more writes than this is split into shards of at most this many.
    pub shard_items: usize,
    /// Where the shards go: the syncer's own queue (`PPMT_SHARD_QUEUE_URL`, else the
    /// worker's `PPMT_QUEUE_URL`).
    pub shard_queue_url: String,
}

impl SyncSettings {
    /// Reads the syncer's settings from the process environment.
    pub fn from_env() -> Result<SyncSettings, ConfigError> {
        Self::read(EnvReader::from_process())
    }

    /// Reads them from `env`, naming every missing or bad variable.
    pub fn read(mut env: EnvReader) -> Result<SyncSettings, ConfigError> {
        let shard_items: usize = env.parsed(vars::SYNC_SHARD_ITEMS, DEFAULT_SYNC_SHARD_ITEMS);
        if shard_items == 0 {
            env.problems.push(format!("{}=0: a shard needs at least one write", vars::SYNC_SHARD_ITEMS));
        }
        let shard_queue_url = own_queue_url(&mut env);
        env.finish()?;
        Ok(SyncSettings { shard_items, shard_queue_url })
    }
}

/// A service's own queue, where it sends the messages of a split: `PPMT_SHARD_QUEUE_URL`,
/// else the worker's `PPMT_QUEUE_URL`.
fn own_queue_url(env: &mut EnvReader) -> String {
    match env.optional(vars::SHARD_QUEUE_URL).or_else(|| env.optional(vars::QUEUE_URL)) {
        Some(url) => url,
        None => env.required(vars::SHARD_QUEUE_URL),
    }
}

/// Bytes of raw files one loader invocation reads when not told otherwise: a larger day
/// is loaded in parts, a file each (the scraper rotates its files at 128 MB), so that
/// no invocation reads much more than a file, whatever the day's size.
pub const DEFAULT_LOAD_FANOUT_BYTES: u64 = 256 << 20;

/// The loader's own settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadSettings {
    /// A day whose files total more than this is loaded in parts, one file each.
    pub fanout_bytes: u64,
    /// Where the parts go: the loader's own queue (`PPMT_SHARD_QUEUE_URL`, else the
    /// worker's `PPMT_QUEUE_URL`).
    pub part_queue_url: String,
}

impl LoadSettings {
    /// Reads the loader's settings from the process environment.
    pub fn from_env() -> Result<LoadSettings, ConfigError> {
        Self::read(EnvReader::from_process())
    }

    /// Reads them from `env`, naming every missing or bad variable.
    pub fn read(mut env: EnvReader) -> Result<LoadSettings, ConfigError> {
        let fanout_bytes: u64 = env.parsed(vars::LOAD_FANOUT_BYTES, DEFAULT_LOAD_FANOUT_BYTES);
        let part_queue_url = own_queue_url(&mut env);
        env.finish()?;
        Ok(LoadSettings { fanout_bytes, part_queue_url })
    }
}

/// Where the read API listens when it is not under Lambda: 127.0.0.1:8080.
pub const DEFAULT_API_ADDR: std::net::SocketAddr =
    std::net::SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 8080);

/// The read API's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiConfig {
    /// The app's table.
    pub prices_table: String,
    /// `None` under Lambda (behind API Gateway); otherwise the address to serve HTTP on.
    pub listen: Option<std::net::SocketAddr>,
}

impl ApiConfig {
    /// Reads the API's configuration from the process environment.
    pub fn from_env() -> Result<ApiConfig, ConfigError> {
        Self::read(EnvReader::from_process())
    }

    /// Reads the API's configuration from `env`, naming every missing or bad variable.
    pub fn read(mut env: EnvReader) -> Result<ApiConfig, ConfigError> {
        let prices_table = env.required(vars::PRICES_TABLE);
        let listen = match env.optional(vars::LAMBDA_RUNTIME_API) {
            Some(_) => None,
            None => Some(env.parsed(vars::API_ADDR, DEFAULT_API_ADDR)),
        };
        env.finish()?;
        Ok(ApiConfig { prices_table, listen })
    }
}

/// Whether an emulator endpoint is configured (S3 then needs path-style addressing).
pub fn endpoint_url() -> Option<String> {
    EnvReader::from_process().optional(vars::ENDPOINT_URL)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> EnvReader {
        EnvReader::from_map(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect())
    }

    const ALL: [(&str, &str); 6] = [
        (vars::RAW_BUCKET, "raw"),
        (vars::STAGE_TOPIC_ARN, "arn:aws:sns:us-east-1:123456789012:t"),
        (vars::PRICES_TABLE, "prices"),
        (vars::LEDGER_TABLE, "ledger"),
        (vars::QUEUE_URL, "http://q"),
        (vars::DATABASE_URL, "postgres://localhost/db"),
    ];

    #[test]
    fn the_api_listens_on_its_default_address_unless_told_or_under_lambda() {
        let table = (vars::PRICES_TABLE, "prices");
        let local = ApiConfig::read(env(&[table])).unwrap();
        assert_eq!((local.prices_table.as_str(), local.listen), ("prices", Some(DEFAULT_API_ADDR)));
        let told = ApiConfig::read(env(&[table, (vars::API_ADDR, "0.0.0.0:9000")])).unwrap();
        assert_eq!(told.listen.map(|a| a.port()), Some(9000));
        let lambda = ApiConfig::read(env(&[table, (vars::LAMBDA_RUNTIME_API, "127.0.0.1:9001")])).unwrap();
        assert_eq!(lambda.listen, None);
        let err = ApiConfig::read(env(&[(vars::API_ADDR, "nowhere")])).unwrap_err();
        assert_eq!(err.problems.len(), 2, "{err}");
    }

    #[test]
    fn names_every_missing_variable() {
        let err = ServiceConfig::read(env(&[]), Needs { warehouse: true, queue: true }).unwrap_err();
        let text = err.to_string();
        for name in [
            vars::RAW_BUCKET,
            vars::STAGE_TOPIC_ARN,
            vars::PRICES_TABLE,
            vars::LEDGER_TABLE,
            vars::QUEUE_URL,
            vars::DATABASE_URL,
        ] {
            assert!(text.contains(name), "{text} should name {name}");
        }
    }

    #[test]
    fn reads_worker_mode_with_defaults() {
        let cfg = ServiceConfig::read(env(&ALL), Needs { warehouse: true, queue: true }).unwrap();
        let RunMode::Worker(w) = cfg.mode else { panic!("worker expected") };
        assert_eq!(w.queue_url, "http://q");
        assert_eq!(w.visibility_timeout_secs, DEFAULT_WORKER_VISIBILITY_SECS);
        assert_eq!(w.wait_time_secs, 10);
        assert_eq!(cfg.warehouse, Some(WarehouseSettings::Postgres { url: "postgres://localhost/db".into() }));
    }

    #[test]
    fn the_syncer_shards_to_its_own_queue() {
        let read = |pairs: &[(&str, &str)]| {
            SyncSettings::read(EnvReader::from_map(
                pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
            ))
        };
        let worker = read(&[(vars::QUEUE_URL, "http://q")]).unwrap();
        assert_eq!((worker.shard_items, worker.shard_queue_url.as_str()), (DEFAULT_SYNC_SHARD_ITEMS, "http://q"));
        let lambda = read(&[(vars::SHARD_QUEUE_URL, "http://s"), (vars::SYNC_SHARD_ITEMS, "500")]).unwrap();
        assert_eq!((lambda.shard_items, lambda.shard_queue_url.as_str()), (500, "http://s"));
        let err = read(&[(vars::SYNC_SHARD_ITEMS, "0")]).unwrap_err();
        assert_eq!(
            err.problems,
            vec!["PPMT_SYNC_SHARD_ITEMS=0: a shard needs at least one write", "PPMT_SHARD_QUEUE_URL is not set"]
        );
    }

    #[test]
    fn the_loader_sends_its_parts_to_its_own_queue() {
        let read = |pairs: &[(&str, &str)]| {
            LoadSettings::read(EnvReader::from_map(
                pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
            ))
        };
        let worker = read(&[(vars::QUEUE_URL, "http://q")]).unwrap();
        assert_eq!(worker, LoadSettings { fanout_bytes: DEFAULT_LOAD_FANOUT_BYTES, part_queue_url: "http://q".into() });
        let lambda = read(&[(vars::SHARD_QUEUE_URL, "http://l"), (vars::LOAD_FANOUT_BYTES, "1000")]).unwrap();
        assert_eq!(lambda, LoadSettings { fanout_bytes: 1000, part_queue_url: "http://l".into() });
        let err = read(&[(vars::LOAD_FANOUT_BYTES, "lots")]).unwrap_err();
        assert_eq!(err.problems.len(), 2, "{err}");
        assert!(err.problems[0].contains("PPMT_LOAD_FANOUT_BYTES"), "{err}");
    }

    #[test]
    fn lambda_mode_needs_no_queue_url_and_bad_numbers_are_named() {
        let mut pairs = ALL[..4].to_vec();
        pairs.push((vars::LAMBDA_RUNTIME_API, "127.0.0.1:9001"));
        pairs.push((vars::REDSHIFT_WORKGROUP, "wg"));
        pairs.push((vars::REDSHIFT_DATABASE, "dev"));
        pairs.push((vars::REDSHIFT_COPY_ROLE_ARN, "arn:aws:iam::123456789012:role/copy"));
        let cfg = ServiceConfig::read(env(&pairs), Needs { warehouse: true, queue: true }).unwrap();
        assert_eq!(cfg.mode, RunMode::Lambda { retry_base_delay_secs: DEFAULT_RETRY_BASE_DELAY_SECS });
        assert!(matches!(cfg.warehouse, Some(WarehouseSettings::Redshift { .. })));

        let mut pairs = ALL.to_vec();
        pairs.push((vars::WAIT_TIME_SECS, "soon"));
        let err = ServiceConfig::read(env(&pairs), Needs { warehouse: true, queue: true }).unwrap_err();
        assert!(err.to_string().contains("PPMT_WAIT_TIME_SECS=`soon`"));
    }
}
