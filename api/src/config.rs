//! The service's configuration: TOML, then `DQC_` environment overrides, validated at start.
//!
//! Layers: built-in defaults, the TOML file, then environment variables named after the path
//! of a setting with `__` between levels (`DQC_STORE__URL`, `DQC_KAFKA__BROKERS`,
//! `DQC_RUNNER__MAX_CONCURRENT`); `DQC_` variables without `__` are not settings. Arrays of
//! tables (`[[clusters]]`, `[[tables]]`) are set in the file only. [`load`] takes the environment as a map so tests never touch
//! the process environment. Secrets (Kafka passwords) are never logged: [`KafkaConfig`]'s
//! `Debug` hides the passthrough properties' values.
//!
//! Here: the whole [`Config`], its errors and its cross-field checks. Apart: [`load`] (the file
//! and the overrides), `cluster` (clusters and their location templates), `intake` (Kafka and
//! pairing), `runner`, `table` (registered tables), `service` (the API and notifications),
//! `retention`, [`storage`] (object-store options), and the typed values (`clock`, `duration`,
//! `size`, `window`).

mod clock;
mod cluster;
mod duration;
mod intake;
mod load;
mod retention;
mod runner;
mod service;
mod size;
pub mod storage;
mod table;
mod window;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use collector::{Clusters, Role};
use serde::Deserialize;

pub use clock::{InvalidClock, TimeOfDay, TimeZone};
use cluster::validate_template;
pub use cluster::{ClusterConfig, resolve_location};
pub use intake::{KafkaConfig, PairingConfig};
pub use load::{load, parse};
pub use retention::RetentionConfig;
pub use runner::{DiffClusterConfig, Fallback, RunnerConfig, host_name};
pub use service::{AccessRole, ApiConfig, NotificationsConfig, NotifyPolicy, SinkConfig, SinkKind, TokenConfig};
pub use size::{ByteSize, InvalidSize};
pub use storage::{OptionValue, environment_stores};
pub use table::{TableConfig, TableOptions, validate_table};
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
    /// The Ballista cluster that runs the diffs of large tables, if any.
    #[serde(default)]
    pub cluster: DiffClusterConfig,
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
    /// The clusters' Hive Metastores by cluster name (built at load from `clusters.metastore`),
    /// each with its cache, shared by every diff of the service.
    #[serde(skip)]
    pub metastores: BTreeMap<String, crate::metastore::Metastore>,
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

/// The wait before retry number `attempt` (1-based) of something that failed: `base`, doubled
/// at each further attempt, at most an hour. Shared by diff jobs and notifications.
pub fn backoff(base: Duration, attempt: u32) -> Duration {
    base.saturating_mul(1 << attempt.saturating_sub(1).min(16)).min(Duration::from_secs(3600))
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
        if self.runner.max_concurrent == 0 || self.runner.max_attempts == 0 || self.runner.inventory_concurrency == 0 {
            return invalid("runner: max_concurrent, max_attempts and inventory_concurrency must be at least 1".into());
        }
        if let Some(url) = &self.cluster.url
            && let Err(error) = ::cluster::Cluster::new(url, self.cluster.partitions)
        {
            return invalid(format!("cluster.url: {error}"));
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
}

#[cfg(test)]
mod tests;
