//! Loading: the TOML file, then the `DQC_SECTION__SETTING` environment overrides, then the
//! checks, then the object stores with their options resolved from the environment.

use std::collections::BTreeMap;
use std::path::Path;

use super::{Config, ConfigError, storage};

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
    for cluster in &config.clusters {
        if let Some(address) = &cluster.metastore {
            let metastore = crate::metastore::Metastore::new(address)
                .map_err(|error| ConfigError::Invalid(format!("clusters `{}`: metastore: {error}", cluster.name)))?;
            config.metastores.insert(cluster.name.clone(), metastore);
        }
    }
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
