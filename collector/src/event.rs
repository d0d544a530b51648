//! The task-finished event (DESIGN.md, "Event contract") and its validation.
//!
//! [`parse`] turns a Kafka payload into an [`Event`] or an [`Error::InvalidEvent`] whose message says
//! exactly what is wrong; the consumer keeps invalid payloads as dead letters. Validation that
//! needs configuration (is the cluster known?) is done by [`Clusters::role_of`].

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::ident::{self, ClusterName, EventId, RunId, TableName, TaskId, WorkflowId};

/// A task-finished message from one cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Event {
    /// Unique per cluster and producer event; a redelivery of the same id changes nothing.
    pub event_id: EventId,
    /// The cluster that ran the task (a name from the configuration).
    pub cluster: ClusterName,
    /// The scheduled task.
    pub task_id: TaskId,
    /// The workflow the task belongs to.
    #[serde(default)]
    pub workflow_id: Option<WorkflowId>,
    /// The logical run, usually the schedule date.
    pub run_id: RunId,
    /// The attempt of this run on this cluster; a later attempt supersedes an earlier one.
    pub attempt: u32,
    /// How the task ended.
    pub status: Status,
    /// When the task finished.
    pub finished_at: DateTime<Utc>,
    /// The tables the task wrote.
    pub outputs: Vec<Output>,
}

/// How a task ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// The task finished and its outputs are complete.
    Succeeded,
    /// The task failed; its outputs are not to be compared.
    Failed,
}

/// One table partition a task wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Output {
    /// `db.table` (a bare name means Hive's `default` database).
    pub table: TableName,
    /// Partition columns and values, in the table's partition order (empty: unpartitioned).
    #[serde(default)]
    pub partition: serde_json::Map<String, serde_json::Value>,
    /// Where the data is; when absent, resolved from the cluster's warehouse template.
    #[serde(default)]
    pub location: Option<String>,
}

impl Output {
    /// The partition as `(column, value)` pairs in the event's order; numbers and booleans are
    /// written as JSON writes them, strings without quotes.
    pub fn partition_values(&self) -> Vec<(String, String)> {
        self.partition
            .iter()
            .map(|(column, value)| {
                let value = match value {
                    serde_json::Value::String(text) => text.clone(),
                    other => other.to_string(),
                };
                (column.clone(), value)
            })
            .collect()
    }

    /// The Hive partition path, `dt=2024-05-01/hour=03` (empty for an unpartitioned table), with
    /// values escaped as Hive writes them (`ts=10%3A00`).
    pub fn partition_path(&self) -> String {
        let parts: Vec<String> = self
            .partition_values()
            .into_iter()
            .map(|(column, value)| format!("{column}={}", ident::hive_escape(&value)))
            .collect();
        parts.join("/")
    }

    /// The partition as it names a pair: columns sorted, so that two clusters that list the
    /// partition columns in different orders still pair.
    pub fn partition_name(&self) -> String {
        let mut values = self.partition_values();
        values.sort();
        let parts: Vec<String> = values.into_iter().map(|(column, value)| format!("{column}={value}")).collect();
        parts.join("/")
    }
}

/// Parses and validates one payload.
pub fn parse(payload: &[u8]) -> Result<Event> {
    let text = std::str::from_utf8(payload)
        .map_err(|error| Error::invalid_event(format!("the payload is not UTF-8: {error}")))?;
    let event: Event = serde_json::from_str(text)
        .map_err(|error| Error::invalid_event(format!("the payload is not a valid event: {error}")))?;
    validate(&event)?;
    Ok(event)
}

fn validate(event: &Event) -> Result<()> {
    if event.outputs.is_empty() && event.status == Status::Succeeded {
        return Err(Error::invalid_event("a succeeded event lists no `outputs`"));
    }
    for (index, output) in event.outputs.iter().enumerate() {
        validate_output(index, output)?;
    }
    Ok(())
}

/// Most bytes of an output's `location`.
pub const MAX_LOCATION_BYTES: usize = 4096;

fn validate_output(index: usize, output: &Output) -> Result<()> {
    if let Some(location) = &output.location {
        ident::check(
            &format!("outputs[{index}].location"),
            location,
            ident::Rules { max_bytes: MAX_LOCATION_BYTES, path: false },
        )
        .map_err(|error| Error::invalid_event(error.to_string()))?;
    }
    check_partition(&output.partition).map_err(|message| Error::invalid_event(format!("outputs[{index}].{message}")))
}

/// Most partition columns of one output.
pub const MAX_PARTITION_COLUMNS: usize = 16;

/// Checks that partition columns and values can name a Hive partition path: names and values
/// by [`ident::check_partition`], values that are strings, numbers or booleans. The message
/// starts with `partition`. (On-demand diffs check their partitions with it too.)
pub fn check_partition(partition: &serde_json::Map<String, serde_json::Value>) -> Result<(), String> {
    if partition.len() > MAX_PARTITION_COLUMNS {
        return Err(format!(
            "partition has {} columns, more than the {MAX_PARTITION_COLUMNS} allowed",
            partition.len()
        ));
    }
    for (column, value) in partition {
        if value.is_null() || value.is_object() || value.is_array() {
            return Err(format!("partition.{column} must be a string, number or boolean, not {value}"));
        }
        let text = value.as_str().map_or_else(|| value.to_string(), str::to_owned);
        ident::check_partition(column, &text).map_err(|error| error.to_string())?;
    }
    Ok(())
}

/// Which copy of the data a cluster holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The old cluster.
    Baseline,
    /// The new cluster.
    Candidate,
}

impl std::fmt::Display for Role {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(match self {
            Self::Baseline => "baseline",
            Self::Candidate => "candidate",
        })
    }
}

/// The two clusters of a dual run, by name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Clusters {
    /// The baseline cluster's name.
    pub baseline: String,
    /// The candidate cluster's name.
    pub candidate: String,
}

impl Clusters {
    /// The role of a named cluster, or why the name is not accepted.
    pub fn role_of(&self, cluster: &str) -> Result<Role> {
        if cluster == self.baseline {
            Ok(Role::Baseline)
        } else if cluster == self.candidate {
            Ok(Role::Candidate)
        } else {
            Err(Error::invalid_event(format!(
                "unknown cluster `{cluster}` (configured: `{}` baseline, `{}` candidate)",
                self.baseline, self.candidate
            )))
        }
    }

    /// The name of the cluster that plays `role`.
    pub fn name(&self, role: Role) -> &str {
        match role {
            Role::Baseline => &self.baseline,
            Role::Candidate => &self.candidate,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EVENT: &str = r#"{"event_id": "e1", "cluster": "cloud-emr", "task_id": "dw.orders_daily",
        "workflow_id": "dw_orders", "run_id": "2024-05-01", "attempt": 1, "status": "succeeded",
        "finished_at": "2024-05-02T01:23:45Z",
        "outputs": [{"table": "dw.orders", "partition": {"hour": 3, "dt": "2024-05-01"}}]}"#;

    #[test]
    fn the_contract_example_parses() {
        let event = parse(EVENT.as_bytes()).unwrap();
        assert_eq!(event.status, Status::Succeeded);
        assert_eq!(event.outputs[0].partition_path(), "hour=3/dt=2024-05-01");
        assert_eq!(event.outputs[0].partition_name(), "dt=2024-05-01/hour=3");
    }

    #[test]
    fn invalid_payloads_say_what_is_wrong() {
        let cases: [(Vec<u8>, &str); 10] = [
            (b"\xff\xfe".to_vec(), "not UTF-8"),
            (b"{".to_vec(), "not a valid event"),
            (br#"{"event_id": "e"}"#.to_vec(), "missing field `cluster`"),
            (EVENT.replace("succeeded", "done").into_bytes(), "unknown variant `done`"),
            (EVENT.replace("\"e1\"", "\" \"").into_bytes(), "event_id is empty"),
            (EVENT.replace("dw.orders\"", "a.b.c\"").into_bytes(), "is not `db.table`"),
            (EVENT.replace("\"2024-05-01\"}", "\"../x\"}").into_bytes(), "partition.dt contains `/`"),
            (EVENT.replace("\"e1\"", "\"e\\u0000\"").into_bytes(), "event_id contains the control character U+0000"),
            (EVENT.replace("\"hour\": 3", "\"hour\": null").into_bytes(), "must be a string"),
            (EVENT.replace("2024-05-02T01", "yesterday").into_bytes(), "input contains invalid characters"),
        ];
        for (payload, expected) in cases {
            let error = parse(&payload).unwrap_err().to_string();
            assert!(error.contains(expected), "{error:?} should contain {expected:?}");
        }
    }

    proptest::proptest! {
        /// Any payload, and the contract example with any field replaced by any text: parsing
        /// never panics; what parses has a partition path whose segments stay inside the
        /// table's directory.
        #[test]
        fn any_payload_parses_or_is_refused_with_a_message(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200),
            field in proptest::sample::select(vec!["e1", "cloud-emr", "dw.orders", "2024-05-01", "dw_orders", "dw.orders_daily"]),
            text in "\\PC{0,16}|[./%\\\\=\\x00-\\x1f]{0,8}",
        ) {
            proptest::prop_assert!(parse(&bytes).is_ok() || !parse(&bytes).unwrap_err().to_string().is_empty());
            let payload = EVENT.replacen(&format!("\"{field}\""), &serde_json::to_string(&text).unwrap(), 1);
            match parse(payload.as_bytes()) {
                Ok(event) => {
                    for output in &event.outputs {
                        for segment in output.partition_path().split('/') {
                            proptest::prop_assert!(segment != ".." && segment != "." && !segment.contains('\\'));
                        }
                        proptest::prop_assert!(!output.table.contains(['/', '%', '\\']));
                    }
                }
                Err(invalid) => proptest::prop_assert!(!invalid.to_string().is_empty()),
            }
        }
    }

    #[test]
    fn unknown_clusters_are_named() {
        let clusters = Clusters { baseline: "idc".into(), candidate: "emr".into() };
        assert_eq!(clusters.role_of("emr").unwrap(), Role::Candidate);
        let error = clusters.role_of("gcp").unwrap_err().to_string();
        assert_eq!(error, "unknown cluster `gcp` (configured: `idc` baseline, `emr` candidate)");
    }
}
