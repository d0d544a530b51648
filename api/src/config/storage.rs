//! Where the object stores' options come from: a cluster's `[clusters.storage]` in the
//! configuration (the service), or each store's standard environment variables (the CLI).
//!
//! A cluster's storage options apply to the store of its warehouse root (`oss://bucket`) and to
//! the stores of its `event_roots`. A value is text, or `{ env = "NAME" }`, read from the
//! environment when the configuration is loaded, so that a secret need not be in the file.
//! Option names are object_store's (`access_key_id`, `secret_access_key`, `region`,
//! `endpoint`, `virtual_hosted_style_request`, `allow_http`, ...), or Hadoop's settings for
//! HDFS (`dfs.nameservices`, ...); a name the store does not know is refused at load.

use std::collections::BTreeMap;

pub use verifier::OptionValue;
use verifier::{ClusterStorage, Stores};

use super::ClusterConfig;

/// The stores the clusters read from, with their options resolved from `env`
/// ([`Stores::configured`], as `dqc-executor --dqc-config` builds them too).
pub(super) fn cluster_stores(clusters: &[ClusterConfig], env: &BTreeMap<String, String>) -> Result<Stores, String> {
    Stores::configured(
        clusters.iter().map(|cluster| ClusterStorage {
            cluster: &cluster.name,
            roots: std::iter::once(cluster.warehouse_root()).chain(cluster.event_roots.iter().cloned()).collect(),
            options: &cluster.storage,
        }),
        env,
    )
}

/// The CLI's stores: options from the standard environment variables of each store
/// ([`Stores::from_environment`]).
pub fn environment_stores(env: &BTreeMap<String, String>) -> Stores {
    Stores::from_environment(env)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn the_cli_reads_each_stores_standard_variables_and_nothing_else() {
        let stores = environment_stores(&env(&[
            ("AWS_ACCESS_KEY_ID", "AKIA"),
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:9000"),
            ("OSS_REGION", "cn-hangzhou"),
            ("TIMEOUT", "1s"),
            ("AWS_PROFILE_NOT_AN_OPTION", "x"),
        ]));
        let shown = format!("{stores:?}");
        assert!(shown.contains("\"s3://\", [\"aws_access_key_id\", \"aws_endpoint_url\"]"), "{shown}");
        assert!(shown.contains("\"oss://\", [\"region\"]"), "{shown}");
        assert!(!shown.contains("AKIA") && !shown.contains("timeout"), "{shown}");
    }
}
