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

use serde::Deserialize;
use verifier::Stores;

use super::ClusterConfig;

/// One storage option's value.
#[derive(Clone, Deserialize)]
#[serde(untagged)]
pub enum OptionValue {
    /// The value itself.
    Text(String),
    /// The value of an environment variable, read at load.
    Env {
        /// The variable.
        env: String,
    },
}

impl std::fmt::Debug for OptionValue {
    /// Values can be secrets: only a variable's name is shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Text(_) => f.write_str("\"***\""),
            Self::Env { env } => write!(f, "{{ env = {env:?} }}"),
        }
    }
}

/// The stores the clusters read from, with their options resolved from `env`.
pub(super) fn cluster_stores(clusters: &[ClusterConfig], env: &BTreeMap<String, String>) -> Result<Stores, String> {
    let mut stores = Stores::default();
    for cluster in clusters {
        let mut options = BTreeMap::new();
        for (key, value) in &cluster.storage {
            let value = match value {
                OptionValue::Text(text) => text.clone(),
                OptionValue::Env { env: name } => env.get(name).cloned().ok_or_else(|| {
                    format!(
                        "clusters `{}`: storage.{key} names the environment variable `{name}`, which is not set",
                        cluster.name
                    )
                })?,
            };
            options.insert(key.clone(), value);
        }
        let roots = std::iter::once(cluster.warehouse_root()).chain(cluster.event_roots.iter().cloned());
        let remote: Vec<String> = roots
            .filter_map(|root| {
                let (scheme, rest) = root.split_once("://")?;
                (scheme != "file").then(|| format!("{scheme}://{}", rest.split('/').next().unwrap_or_default()))
            })
            .collect();
        if remote.is_empty() && !options.is_empty() {
            return Err(format!("clusters `{}`: storage options need a location in an object store", cluster.name));
        }
        for store in remote {
            stores = stores
                .with(&store, options.clone())
                .map_err(|error| format!("clusters `{}`: {error}", cluster.name))?;
        }
    }
    Ok(stores)
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
