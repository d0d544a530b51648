//! The service's configuration: TOML, then `DQC_` environment overrides, validated at start.
//!
//! Layers: built-in defaults, the TOML file, then environment variables named after the path
//! of a setting with `__` between levels (`DQC_STORE__URL`, `DQC_KAFKA__BROKERS`,
//! `DQC_RUNNER__MAX_CONCURRENT`); `DQC_` variables without `__` are not settings. Arrays of
//! tables (`[[clusters]]`, `[[tables]]`) are set in the file only. [`load`] takes the environment as a map so tests never touch
//! the process environment. Secrets (Kafka passwords) are never logged: [`KafkaConfig`]'s
//! `Debug` hides the passthrough properties' values.

mod clock;
mod duration;
mod retention;
mod service;
mod size;
pub mod storage;
mod window;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use collector::{Clusters, Role};
use serde::{Deserialize, Serialize};

pub use clock::{InvalidClock, TimeOfDay, TimeZone};
pub use retention::RetentionConfig;
pub use service::{AccessRole, ApiConfig, NotificationsConfig, NotifyPolicy, SinkConfig, SinkKind, TokenConfig};
pub use size::{ByteSize, InvalidSize};
pub use storage::{OptionValue, environment_stores};
pub use window::{RunWindows, Window};

/// Why the configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("cannot read the configuration file `{path}`: {source}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The TOML (after environment overrides) does not fit the schema.
    #[error("invalid configuration in `{path}`: {message}")]
    Parse {
        /// The file.
        path: String,
        /// What serde and toml said, with the line.
        message: String,
    },
    /// A setting that parses but cannot be used.
    #[error("invalid configuration: {0}")]
    Invalid(String),
    /// The DAG file of `gating.dag` cannot be used.
    #[error("gating.dag: {0}")]
    Dag(#[from] crate::gating::dag::DagError),
}

/// The whole configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The baseline and the candidate cluster.
    pub clusters: Vec<ClusterConfig>,
    /// Kafka; without it, no events are consumed.
    #[serde(default)]
    pub kafka: Option<KafkaConfig>,
    /// Where pairs, jobs and reports live.
    #[serde(default)]
    pub store: StoreConfig,
    /// The job runner.
    #[serde(default)]
    pub runner: RunnerConfig,
    /// Pairing.
    #[serde(default)]
    pub pairing: PairingConfig,
    /// The REST API.
    #[serde(default)]
    pub api: ApiConfig,
    /// Where reports are sent.
    #[serde(default)]
    pub notifications: NotificationsConfig,
    /// Tables registered at start (more can be registered at run time through the store).
    #[serde(default)]
    pub tables: Vec<TableConfig>,
    /// Gating rules for workflow cutover.
    #[serde(default)]
    pub gating: GatingConfig,
    /// How long records are kept.
    #[serde(default)]
    pub retention: RetentionConfig,
    /// The object stores of the clusters, with their `[clusters.storage]` options (resolved at
    /// load); every diff of the service reads through them, so each store is built once.
    #[serde(skip)]
    pub stores: verifier::Stores,
}

/// Gating rules for workflow cutover.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatingConfig {
    /// N of rule 4: how many last runs of each output table must be `consistent` before a
    /// workflow is migrated, unless the table sets its own `evidence_runs`.
    #[serde(default = "default_evidence_runs")]
    pub evidence_runs: usize,
    /// A DAG file (JSON, or TOML by its extension) imported at start, as `dqc gate import`
    /// does: known workflows keep their states.
    #[serde(default)]
    pub dag: Option<PathBuf>,
}

impl Default for GatingConfig {
    fn default() -> Self {
        Self { evidence_runs: default_evidence_runs(), dag: None }
    }
}

fn default_evidence_runs() -> usize {
    3
}

/// One cluster of the dual run.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterConfig {
    /// Its name, as events carry it (`idc-hadoop`, `cloud-emr`).
    pub name: String,
    /// Baseline or candidate.
    pub role: Role,
    /// Warehouse location template: `{cluster}`, `{db}`, `{table}` and `{partition_path}` are
    /// replaced, e.g. `file:///data/{cluster}/warehouse/{db}.db/{table}/{partition_path}`. Its
    /// text before the first placeholder other than `{cluster}` is the warehouse root: every
    /// location resolved from it must lie under that root, and does (names are checked and
    /// values escaped).
    pub location: String,
    /// Directories other than the warehouse root that events of this cluster may name as an
    /// output's `location` (a staging area, say). Event locations anywhere else are refused.
    #[serde(default)]
    pub event_roots: Vec<String>,
    /// Options of the object store the location is in (`[clusters.storage]`: endpoint,
    /// region, keys, or a `{ env = "NAME" }` reference; see [`storage`]).
    #[serde(default)]
    pub storage: BTreeMap<String, OptionValue>,
}

impl ClusterConfig {
    /// The warehouse root: the template with `{cluster}` replaced, up to the last `/` before
    /// its first other placeholder.
    pub fn warehouse_root(&self) -> String {
        let template = self.location.replace("{cluster}", &self.name);
        let fixed = template.split('{').next().unwrap_or_default();
        fixed.rfind('/').map_or_else(String::new, |slash| fixed[..=slash].to_owned())
    }
}

/// The Kafka connection.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaConfig {
    /// `bootstrap.servers`.
    pub brokers: String,
    /// The events topic.
    #[serde(default = "default_topic")]
    pub topic: String,
    /// The consumer group shared by every dqc instance.
    #[serde(default = "default_group")]
    pub group_id: String,
    /// librdkafka properties passed through (`security.protocol`, `sasl.*`, `ssl.*`, ...).
    #[serde(default)]
    pub properties: BTreeMap<String, String>,
    /// Most messages per store transaction.
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
    /// Longest wait for a batch to fill.
    #[serde(default = "default_batch_wait", deserialize_with = "duration::deserialize")]
    pub batch_wait: Duration,
}

impl std::fmt::Debug for KafkaConfig {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("KafkaConfig")
            .field("brokers", &self.brokers)
            .field("topic", &self.topic)
            .field("group_id", &self.group_id)
            .field("properties", &self.properties.keys().collect::<Vec<_>>())
            .field("batch_size", &self.batch_size)
            .field("batch_wait", &self.batch_wait)
            .finish()
    }
}

fn default_topic() -> String {
    "dqc.task-finished".to_owned()
}
fn default_group() -> String {
    "dqc".to_owned()
}
fn default_batch_size() -> usize {
    500
}
fn default_batch_wait() -> Duration {
    Duration::from_millis(50)
}

/// The store. Its `Debug` hides the URL's password.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// `sqlite://path/dqc.db` (created if missing) or `postgres://user@host/db`.
    pub url: String,
}

impl std::fmt::Debug for StoreConfig {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("StoreConfig").field("url", &crate::store::redacted(&self.url)).finish()
    }
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self { url: "sqlite://dqc.db".to_owned() }
    }
}

/// The job runner.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunnerConfig {
    /// Most diffs at once in this process.
    #[serde(default = "default_concurrency")]
    pub max_concurrent: usize,
    /// Memory limit of each diff (`4GiB`), typed at load; none: half the machine's memory
    /// shared by `max_concurrent` diffs ([`Config::memory_limit`]).
    #[serde(default)]
    pub memory_limit: Option<ByteSize>,
    /// When automatic jobs may run; on-demand jobs run at any time.
    #[serde(default)]
    pub windows: RunWindows,
    /// Attempts of a job before its report says `error`.
    #[serde(default = "default_attempts")]
    pub max_attempts: u32,
    /// Wait before the first retry; doubled at each further attempt, up to an hour.
    #[serde(default = "default_backoff", deserialize_with = "duration::deserialize")]
    pub retry_backoff: Duration,
    /// How long a claimed job stays this instance's without a heartbeat.
    #[serde(default = "default_lease", deserialize_with = "duration::deserialize")]
    pub lease: Duration,
    /// This instance's name in job leases; its own running jobs are run again at start.
    #[serde(default = "default_instance")]
    pub instance: String,
    /// How often the runner looks for work when nothing wakes it.
    #[serde(default = "default_poll", deserialize_with = "duration::deserialize")]
    pub poll_interval: Duration,
    /// Where each diff writes its differing rows (Parquet, one file per job), which the API
    /// serves page by page; none: rows are not exported, reports keep their samples only.
    #[serde(default)]
    pub export_dir: Option<std::path::PathBuf>,
}

impl Default for RunnerConfig {
    fn default() -> Self {
        Self {
            max_concurrent: default_concurrency(),
            memory_limit: None,
            windows: RunWindows::default(),
            max_attempts: default_attempts(),
            retry_backoff: default_backoff(),
            lease: default_lease(),
            instance: default_instance(),
            poll_interval: default_poll(),
            export_dir: None,
        }
    }
}

fn default_concurrency() -> usize {
    2
}
fn default_attempts() -> u32 {
    5
}
fn default_backoff() -> Duration {
    Duration::from_secs(30)
}
fn default_lease() -> Duration {
    Duration::from_secs(300)
}
/// `host:pid`: unique among running instances, and recognisable on this host after a crash.
fn default_instance() -> String {
    format!("{}:{}", host_name(), std::process::id())
}

/// This machine's host name (Linux's `/proc/sys/kernel/hostname`, else `$HOSTNAME`, else `dqc`).
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "dqc".to_owned())
}

/// The machine's memory in bytes (`MemTotal` of `/proc/meminfo`), if known.
fn machine_memory() -> Option<usize> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|line| line.starts_with("MemTotal:"))?;
    let kib: usize = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}
fn default_poll() -> Duration {
    Duration::from_secs(1)
}

/// Pairing.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PairingConfig {
    /// How long after one side finished the other side may still come, unless the table sets
    /// its own.
    #[serde(default = "default_deadline", deserialize_with = "duration::deserialize")]
    pub deadline: Duration,
    /// How often deadlines are checked.
    #[serde(default = "default_sweep", deserialize_with = "duration::deserialize")]
    pub sweep_interval: Duration,
}

impl Default for PairingConfig {
    fn default() -> Self {
        Self { deadline: default_deadline(), sweep_interval: default_sweep() }
    }
}

fn default_deadline() -> Duration {
    Duration::from_secs(6 * 3600)
}
fn default_sweep() -> Duration {
    Duration::from_secs(30)
}

/// A registered table.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TableConfig {
    /// `db.table` (required in the configuration; in `PUT /tables/{name}` the path gives it).
    #[serde(default)]
    pub name: String,
    /// Unique key columns; empty: the table is diffed as a multiset of rows.
    #[serde(default)]
    pub key: Vec<String>,
    /// Who receives the table's reports.
    #[serde(default)]
    pub owners: Vec<String>,
    /// How long the other side may lag (`2h`); default: `pairing.deadline`.
    #[serde(default, with = "duration::option", skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub deadline: Option<Duration>,
    /// Diff options.
    #[serde(default)]
    pub options: TableOptions,
    /// When its reports are sent to its owners.
    #[serde(default, skip_serializing_if = "NotifyPolicy::is_default")]
    pub notify: NotifyPolicy,
    /// The sinks its reports go to; empty: every configured sink.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sinks: Vec<String>,
    /// How many last runs must be `consistent` before the workflow writing it is migrated;
    /// default: `gating.evidence_runs`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence_runs: Option<usize>,
}

/// Diff options of a table (DESIGN.md, "Diff semantics").
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TableOptions {
    /// Columns not compared.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignore: Vec<String>,
    /// Baseline name -> candidate name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub rename: BTreeMap<String, String>,
    /// Absolute float tolerance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub abs_tol: Option<f64>,
    /// Relative float tolerance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rel_tol: Option<f64>,
    /// Compare strings without trailing spaces.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub trim_trailing_spaces: bool,
    /// Samples kept per kind of finding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample: Option<usize>,
}

/// The wait before retry number `attempt` (1-based) of something that failed: `base`, doubled
/// at each further attempt, at most an hour. Shared by diff jobs and notifications.
pub fn backoff(base: Duration, attempt: u32) -> Duration {
    base.saturating_mul(1 << attempt.saturating_sub(1).min(16)).min(Duration::from_secs(3600))
}

/// Reads `path`, applies `env` overrides, and validates.
pub fn load(path: &Path, env: &BTreeMap<String, String>) -> Result<Config, ConfigError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: shown.clone(), source })?;
    parse(&text, &shown, env)
}

/// Parses TOML text with `env` overrides, and validates.
pub fn parse(text: &str, origin: &str, env: &BTreeMap<String, String>) -> Result<Config, ConfigError> {
    let parse_error = |message: String| ConfigError::Parse { path: origin.to_owned(), message };
    let mut table: toml::Table = toml::from_str(text).map_err(|error| parse_error(error.to_string()))?;
    for (name, value) in env {
        // Only `DQC_SECTION__SETTING` names are settings; other `DQC_` variables (the tests'
        // `DQC_TEST_POSTGRES_URL`, say) are not.
        if let Some(path) = name.strip_prefix("DQC_").filter(|path| path.contains("__")) {
            override_setting(&mut table, path, value).map_err(|message| parse_error(format!("{name}: {message}")))?;
        }
    }
    let mut config: Config = table.try_into().map_err(|error: toml::de::Error| parse_error(error.to_string()))?;
    config.validate()?;
    config.stores = storage::cluster_stores(&config.clusters, env).map_err(ConfigError::Invalid)?;
    Ok(config)
}

/// Sets `a.b.c` from `A__B__C`; the value is read as TOML when it parses, else as a string.
fn override_setting(table: &mut toml::Table, path: &str, raw: &str) -> Result<(), String> {
    let keys: Vec<String> = path.split("__").map(str::to_ascii_lowercase).collect();
    let Some((last, parents)) = keys.split_last() else { return Ok(()) };
    let mut current = table;
    for key in parents {
        let entry = current.entry(key.clone()).or_insert_with(|| toml::Value::Table(toml::Table::new()));
        current = entry.as_table_mut().ok_or_else(|| format!("`{key}` is not a table"))?;
    }
    let value = toml::from_str::<toml::Table>(&format!("value = {raw}"))
        .ok()
        .and_then(|mut parsed| parsed.remove("value"))
        .unwrap_or_else(|| toml::Value::String(raw.to_owned()));
    current.insert(last.clone(), value);
    Ok(())
}

impl Config {
    fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |message: String| Err(ConfigError::Invalid(message));
        self.clusters()?;
        for cluster in &self.clusters {
            collector::ClusterName::parse_as("clusters.name", cluster.name.as_str())
                .map_err(|error| ConfigError::Invalid(error.to_string()))?;
            if let Err(message) = validate_template(&cluster.location) {
                return invalid(format!("clusters `{}`: location: {message}", cluster.name));
            }
            let root = cluster.warehouse_root();
            if verifier::local_file(&root).is_ok_and(|path| path.parent().is_none()) {
                return invalid(format!(
                    "clusters `{}`: location: the warehouse root `{root}` (the template's text before its \
                     first placeholder) is the whole filesystem; start the template with the warehouse directory",
                    cluster.name
                ));
            }
        }
        if let Some(kafka) = &self.kafka
            && (kafka.brokers.trim().is_empty() || kafka.topic.trim().is_empty() || kafka.batch_size == 0)
        {
            return invalid("kafka: brokers and topic must not be empty, batch_size must be at least 1".into());
        }
        if self.runner.max_concurrent == 0 || self.runner.max_attempts == 0 {
            return invalid("runner: max_concurrent and max_attempts must be at least 1".into());
        }
        self.validate_service()?;
        let deadline = self.tables.iter().filter_map(|table| table.deadline).chain([self.pairing.deadline]).max();
        if let (Some(events), Some(deadline)) = (self.retention.events, deadline)
            && events <= deadline
        {
            return invalid(format!(
                "retention.events ({}) must be longer than the longest pairing deadline ({}), so that an open pair's \
                 events stay",
                humantime::format_duration(events),
                humantime::format_duration(deadline)
            ));
        }
        if self.retention.interval.is_zero() {
            return invalid("retention.interval must be above 0".into());
        }
        if self.gating.evidence_runs == 0 {
            return invalid("gating.evidence_runs must be at least 1".into());
        }
        let mut names = std::collections::BTreeSet::new();
        for table in &self.tables {
            validate_table(table).map_err(ConfigError::Invalid)?;
            if let Some(sink) =
                table.sinks.iter().find(|sink| !self.notifications.sinks.iter().any(|s| &s.name == *sink))
            {
                return invalid(format!("tables `{}`: no sink is named `{sink}`", table.name));
            }
            if !names.insert(table.name.as_str()) {
                return invalid(format!("tables: `{}` is registered twice", table.name));
            }
        }
        Ok(())
    }

    /// The two clusters by role; exactly one of each.
    pub fn clusters(&self) -> Result<Clusters, ConfigError> {
        let named = |role: Role| -> Vec<&ClusterConfig> { self.clusters.iter().filter(|c| c.role == role).collect() };
        match (named(Role::Baseline).as_slice(), named(Role::Candidate).as_slice()) {
            ([baseline], [candidate]) if baseline.name != candidate.name && !baseline.name.trim().is_empty() => {
                Ok(Clusters { baseline: baseline.name.clone(), candidate: candidate.name.clone() })
            }
            _ => Err(ConfigError::Invalid(
                "clusters: exactly one baseline and one candidate cluster, with distinct non-empty names".into(),
            )),
        }
    }

    /// The configuration of the cluster that plays `role`.
    pub fn cluster(&self, role: Role) -> &ClusterConfig {
        self.clusters.iter().find(|cluster| cluster.role == role).unwrap_or(&self.clusters[0])
    }

    /// Each diff's memory limit in bytes: `runner.memory_limit`, else half the machine's memory
    /// (4 GiB when unknown) shared by `runner.max_concurrent` diffs.
    pub fn memory_limit(&self) -> usize {
        self.runner.memory_limit.map(ByteSize::bytes).unwrap_or_else(|| {
            let machine = machine_memory().unwrap_or(8 << 30);
            (machine / 2 / self.runner.max_concurrent.max(1)).max(64 << 20)
        })
    }
}

/// Checks a `db.table` name, its key and options.
pub fn validate_table(table: &TableConfig) -> Result<(), String> {
    collector::ident::check_table("table name", &table.name)
        .map_err(|error| format!("table `{}`: {error}", table.name.escape_debug()))?;
    if table.key.iter().any(|column| column.trim().is_empty()) {
        return Err(format!("table `{}`: a key column name is empty", table.name));
    }
    if table.evidence_runs == Some(0) {
        return Err(format!("table `{}`: evidence_runs must be at least 1", table.name));
    }
    for tolerance in [table.options.abs_tol, table.options.rel_tol].into_iter().flatten() {
        if !(tolerance.is_finite() && tolerance >= 0.0) {
            return Err(format!("table `{}`: a tolerance must be a finite number >= 0", table.name));
        }
    }
    Ok(())
}

const PLACEHOLDERS: [&str; 4] = ["{cluster}", "{db}", "{table}", "{partition_path}"];

fn validate_template(template: &str) -> Result<(), String> {
    let mut rest = template.to_owned();
    for placeholder in PLACEHOLDERS {
        rest = rest.replace(placeholder, "");
    }
    if rest.contains(['{', '}']) {
        return Err(format!("`{template}` has an unknown placeholder (known: {})", PLACEHOLDERS.join(", ")));
    }
    if !template.contains("{table}") {
        return Err(format!("`{template}` does not use {{table}}"));
    }
    Ok(())
}

/// Characters percent-encoded in a value substituted into a URL template: everything a URL
/// parser would read as structure or decode (`%`), besides `/` between partition directories.
const URL_SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}')
    .add(b'\\')
    .add(b'[')
    .add(b']')
    .add(b'^')
    .add(b'|');

/// The location of a table partition on a cluster, from its template. `table` and the
/// partition path's values are checked identifiers (no `/`, `%`, `\`, leading `.`), the
/// partition values are Hive-escaped; in a URL template (`file://...`) each substituted text
/// is also percent-encoded, so that URL decoding gives back exactly the path Hive writes.
pub fn resolve_location(template: &str, cluster: &str, table: &str, partition_path: &str) -> String {
    let (db, name) = table.split_once('.').unwrap_or(("default", table));
    let url = template.contains("://");
    let encode = |text: &str| {
        if url { percent_encoding::utf8_percent_encode(text, URL_SEGMENT).to_string() } else { text.to_owned() }
    };
    let location = template
        .replace("{cluster}", &encode(cluster))
        .replace("{db}", &encode(db))
        .replace("{table}", &encode(name))
        .replace("{partition_path}", &encode(partition_path));
    if partition_path.is_empty() { location.trim_end_matches('/').to_owned() } else { location }
}

#[cfg(test)]
mod tests;
