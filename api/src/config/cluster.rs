//! The clusters of the dual run: each one's name, role and location template, the warehouse
//! root the template implies, and how a table partition's location is resolved from it (names
//! checked, values escaped, so the location stays under the root).

use std::collections::BTreeMap;

use collector::Role;
use serde::Deserialize;

use super::OptionValue;

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
    /// Directories other than the warehouse root where this cluster's data may be: the
    /// `location` an event names for an output (a staging area, say), and the location its
    /// metastore gives for a table or partition (an external table, a partition added by hand).
    /// Locations anywhere else are refused.
    #[serde(default)]
    pub event_roots: Vec<String>,
    /// The cluster's Hive Metastore, `thrift://host:9083`: where each table and partition really
    /// is, their declared columns (checked against the files), owner and primary key. Event
    /// outputs are resolved through it first, the template being the fallback for a partition it
    /// does not have.
    #[serde(default)]
    pub metastore: Option<String>,
    /// Options of the object store the location is in (`[clusters.storage]`: endpoint,
    /// region, keys, or a `{ env = "NAME" }` reference; see [`storage`]).
    #[serde(default)]
    pub storage: BTreeMap<String, OptionValue>,
}

impl ClusterConfig {
    /// The warehouse root: the template with `{cluster}` replaced, up to the last `/` before
    /// its first other placeholder.
    pub fn warehouse_root(&self) -> String {
        verifier::warehouse_root(&self.location, &self.name)
    }
}

const PLACEHOLDERS: [&str; 4] = ["{cluster}", "{db}", "{table}", "{partition_path}"];

/// Checks a location template's placeholders.
pub(super) fn validate_template(template: &str) -> Result<(), String> {
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
