//! The stores of a service's configuration: each cluster's `[clusters.storage]` options, applied
//! to the stores of its warehouse root and of its `event_roots`. The service (`dqc serve`) and
//! the cluster's processes (`dqc-executor --dqc-config`) both build their stores here, so that a
//! location is read with the same options wherever it is read.
//!
//! A value is text, or `{ env = "NAME" }`, read from the environment when the configuration is
//! loaded, so that a secret need not be in the file. Option names are object_store's
//! (`access_key_id`, `secret_access_key`, `region`, `endpoint`, `allow_http`, ...), or Hadoop's
//! settings for HDFS (`dfs.nameservices`, ...); a name the store does not know is refused.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::storage::Stores;

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

/// What one configured cluster's stores come from.
#[derive(Debug)]
pub struct ClusterStorage<'a> {
    /// The cluster's name, for messages.
    pub cluster: &'a str,
    /// Its warehouse root and `event_roots`: the stores its options apply to.
    pub roots: Vec<String>,
    /// Its `[clusters.storage]` options.
    pub options: &'a BTreeMap<String, OptionValue>,
}

/// The warehouse root of a location template (`s3://dw/{cluster}/{db}.db/{table}`): the
/// template with `{cluster}` replaced by `cluster`, up to the last `/` before its first other
/// placeholder.
pub fn warehouse_root(template: &str, cluster: &str) -> String {
    let template = template.replace("{cluster}", cluster);
    let fixed = template.split('{').next().unwrap_or_default();
    fixed.rfind('/').map_or_else(String::new, |slash| fixed[..=slash].to_owned())
}

impl Stores {
    /// The stores of the configured `clusters`, their options resolved from `env`. Refuses a
    /// variable that is not set, options for a cluster whose data is on local disk only, and an
    /// option a store does not know, naming the cluster.
    pub fn configured<'a>(
        clusters: impl IntoIterator<Item = ClusterStorage<'a>>,
        env: &BTreeMap<String, String>,
    ) -> std::result::Result<Stores, String> {
        let mut stores = Stores::default();
        for cluster in clusters {
            let name = cluster.cluster;
            let mut options = BTreeMap::new();
            for (key, value) in cluster.options {
                let value = match value {
                    OptionValue::Text(text) => text.clone(),
                    OptionValue::Env { env: variable } => env.get(variable).cloned().ok_or_else(|| {
                        format!(
                            "clusters `{name}`: storage.{key} names the environment variable `{variable}`, which is \
                             not set"
                        )
                    })?,
                };
                options.insert(key.clone(), value);
            }
            let remote: Vec<String> = cluster
                .roots
                .iter()
                .filter_map(|root| {
                    let (scheme, rest) = root.split_once("://")?;
                    (scheme != "file").then(|| format!("{scheme}://{}", rest.split('/').next().unwrap_or_default()))
                })
                .collect();
            if remote.is_empty() && !options.is_empty() {
                return Err(format!("clusters `{name}`: storage options need a location in an object store"));
            }
            for store in remote {
                stores = stores.with(&store, options.clone()).map_err(|error| format!("clusters `{name}`: {error}"))?;
            }
        }
        Ok(stores)
    }
}
