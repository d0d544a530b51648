//! A registered table: its key, owners, notification policy, deadline, evidence and diff
//! options, and the checks a registration passes (from the configuration or the API).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{NotifyPolicy, duration};

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
