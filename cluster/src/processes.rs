//! The setup of the `dqc-scheduler` and `dqc-executor` binaries: Ballista's own processes and
//! command-line flags, with dqc's codec (which also carries dqc's row functions) on both, and
//! dqc's own flag `--dqc-config`: the service's configuration file, whose clusters' storage
//! options the processes read their stores with.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use ballista_scheduler::config::SchedulerConfig;
use datafusion_proto::physical_plan::PhysicalExtensionCodec;
use serde::Deserialize;
use verifier::{ClusterStorage, OptionValue, Stores};

use crate::codec::DqcCodec;

/// The codec both processes decode dqc's plans with, reading datasets through `stores`.
pub fn codec(stores: Stores) -> Arc<dyn PhysicalExtensionCodec> {
    Arc::new(DqcCodec::new(stores))
}

/// dqc's flags of both processes, besides Ballista's.
#[derive(Debug, Clone, clap::Args)]
pub struct DqcFlags {
    /// The service's configuration file (`dqc serve --config`): the stores of its
    /// `[[clusters]]` are read with their `[clusters.storage]` options, as the service reads
    /// them. Without it, the stores' options come from the environment, as the CLI's do.
    #[arg(long = "dqc-config", env = "DQC_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
}

impl DqcFlags {
    /// The stores these flags and the environment `env` give.
    pub fn stores(&self, env: &BTreeMap<String, String>) -> anyhow::Result<Stores> {
        match &self.config {
            Some(path) => configured_stores(path, env),
            None => Ok(Stores::from_environment(env)),
        }
    }
}

/// The part of the service's configuration the processes read: its clusters' storage. The
/// rest of the file is not read (nor checked: `dqc serve` does that).
#[derive(Deserialize)]
struct ServiceConfig {
    #[serde(default)]
    clusters: Vec<ConfiguredCluster>,
}

#[derive(Deserialize)]
struct ConfiguredCluster {
    name: String,
    location: String,
    #[serde(default)]
    event_roots: Vec<String>,
    #[serde(default)]
    storage: BTreeMap<String, OptionValue>,
}

/// The stores of the clusters of the service's configuration file at `path`, their options'
/// `{ env = "NAME" }` values read from `env`.
pub fn configured_stores(path: &Path, env: &BTreeMap<String, String>) -> anyhow::Result<Stores> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the configuration file `{}`", path.display()))?;
    let config: ServiceConfig =
        toml::from_str(&text).with_context(|| format!("invalid configuration in `{}`", path.display()))?;
    let clusters = config.clusters.iter().map(|cluster| ClusterStorage {
        cluster: &cluster.name,
        roots: std::iter::once(verifier::warehouse_root(&cluster.location, &cluster.name))
            .chain(cluster.event_roots.iter().cloned())
            .collect(),
        options: &cluster.storage,
    });
    Stores::configured(clusters, env)
        .map_err(|error| anyhow::anyhow!("invalid configuration in `{}`: {error}", path.display()))
}

/// A scheduler configuration (from Ballista's flags) that plans dqc's jobs, reading through
/// `stores`.
pub fn scheduler_config(mut config: SchedulerConfig, stores: Stores) -> SchedulerConfig {
    config.override_physical_codec = Some(codec(stores));
    config
}

/// Logs to standard output, filtered by `RUST_LOG` or else `default`.
pub fn init_logging(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt().with_ansi(false).with_env_filter(filter).init();
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = r#"
        [[clusters]]
        name = "idc"
        role = "baseline"
        location = "s3://old-dw/{cluster}/{db}.db/{table}/{partition_path}"
        event_roots = ["oss://staging/tmp/"]
        [clusters.storage]
        endpoint = "http://127.0.0.1:9000"
        secret_access_key = { env = "IDC_SECRET" }

        [[clusters]]
        name = "cloud"
        role = "candidate"
        location = "file:///data/{cluster}/{table}"

        [kafka]
        brokers = "not read here"
    "#;

    fn written(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path().join("dqc.toml");
        std::fs::write(&path, text).expect("write dqc.toml");
        (dir, path)
    }

    #[test]
    fn the_service_configuration_gives_each_clusters_stores_its_options() {
        let (_dir, path) = written(CONFIG);
        let env = BTreeMap::from([("IDC_SECRET".to_owned(), "s3cr3t".to_owned())]);
        let flags = DqcFlags { config: Some(path) };
        let shown = format!("{:?}", flags.stores(&env).expect("stores"));
        assert!(shown.contains(r#"("s3://old-dw", ["endpoint", "secret_access_key"])"#), "{shown}");
        assert!(shown.contains(r#"("oss://staging", ["endpoint", "secret_access_key"])"#), "{shown}");
        assert!(!shown.contains("s3cr3t"), "{shown}");
    }

    #[test]
    fn a_configuration_that_cannot_be_used_is_refused_naming_the_file_and_the_setting() {
        let (_dir, path) = written(CONFIG);
        let error = configured_stores(&path, &BTreeMap::new()).expect_err("the secret's variable is not set");
        let message = format!("{error:#}");
        assert!(message.contains(&path.display().to_string()) && message.contains("`IDC_SECRET`"), "{message}");

        let missing = path.with_file_name("missing.toml");
        let message = format!("{:#}", configured_stores(&missing, &BTreeMap::new()).expect_err("no such file"));
        assert!(
            message.contains("cannot read the configuration file") && message.contains("missing.toml"),
            "{message}"
        );

        let (_dir, path) = written("[[clusters]]\nname = \"x\"\n");
        let message = format!("{:#}", configured_stores(&path, &BTreeMap::new()).expect_err("no location"));
        assert!(message.contains("invalid configuration") && message.contains("location"), "{message}");
    }
}
