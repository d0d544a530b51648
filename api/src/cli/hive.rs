//! `hive://HOST:PORT/DB/TABLE[/k=v[/k=v]]` on the command line: each side resolved through its
//! Hive Metastore into the datasets to diff.
//!
//! A partition, or an unpartitioned table, is one dataset: the diff is a plain diff of its
//! location, with the metastore's columns checked against the files. A partitioned table without
//! a partition means every partition: the two sides' partitions are paired by name, each pair
//! diffed and reported on its own, and a partition that one side lacks is `divergent`. A plain
//! location paired with a whole table is read as that table's root: partition `k=v` at
//! `<location>/k=v`. Without `--key`, the primary key a metastore declares is the key.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;
use verifier::{DeclaredSchema, Report, Verdict};

use crate::metastore::{HiveLocation, HivePartition, HiveTable, Metastore, MetastoreError};

/// One side as given: a plain location, or a metastore's table and the partitions meant.
#[derive(Debug)]
pub(super) enum Resolved {
    /// Not a `hive://` location.
    Plain(String),
    /// A table of a metastore.
    Hive {
        /// The table.
        table: Arc<HiveTable>,
        /// The datasets meant: one (a partition, or an unpartitioned table) or every partition.
        datasets: Vec<Dataset>,
        /// True when one dataset was named (a partition, or an unpartitioned table).
        single: bool,
    },
}

/// One dataset of a side: a partition (or an unpartitioned table) and where it is.
#[derive(Debug, Clone)]
pub(super) struct Dataset {
    /// The partition's name (`dt=2024-05-01`), empty for an unpartitioned table.
    pub(super) name: String,
    /// Its location.
    pub(super) location: String,
    /// Its columns as the metastore declares them; `None` for a plain location.
    pub(super) declared: Option<DeclaredSchema>,
}

impl Resolved {
    /// Resolves one side's location.
    pub(super) async fn of(location: &str) -> Result<Self, MetastoreError> {
        let Some(hive) = HiveLocation::parse(location)? else { return Ok(Self::Plain(location.to_owned())) };
        let metastore = Metastore::new(&hive.metastore)?;
        let table = metastore.table(&hive.db, &hive.table).await?;
        let dataset = |name: String, location: String, columns: &[crate::metastore::wire::FieldSchema]| Dataset {
            name,
            location,
            declared: Some(table.declared(Some(columns))),
        };
        let (datasets, single) = match (&hive.partition, table.is_partitioned()) {
            (Some(name), true) => {
                let partition =
                    metastore.partition(&table, name).await?.ok_or_else(|| MetastoreError::UnknownPartition {
                        metastore: table.metastore.clone(),
                        table: table.qualified_name(),
                        partition: name.clone(),
                    })?;
                (vec![dataset(partition.name.clone(), partition.location.clone(), &partition.columns)], true)
            }
            (Some(_), false) => {
                return Err(MetastoreError::BadLocation {
                    location: location.to_owned(),
                    reason: format!("table `{}` is not partitioned", table.qualified_name()),
                });
            }
            (None, false) => (vec![dataset(String::new(), table.location.clone(), &table.columns)], true),
            (None, true) => {
                let partitions = metastore.partitions(&table).await?;
                let datasets = partitions
                    .into_iter()
                    .map(|HivePartition { name, location, columns }| dataset(name, location, &columns))
                    .collect();
                (datasets, false)
            }
        };
        Ok(Self::Hive { table, datasets, single })
    }

    /// The locations it means: a plain location; a partition's, an unpartitioned table's, or every
    /// partition's of a whole table.
    pub(super) async fn locations(location: &str) -> Result<Vec<String>, MetastoreError> {
        Ok(match Self::of(location).await? {
            Self::Plain(location) => vec![location],
            Self::Hive { datasets, .. } => datasets.into_iter().map(|dataset| dataset.location).collect(),
        })
    }

    /// The primary key its metastore declares, if any.
    pub(super) fn primary_key(&self) -> Option<(&[String], String)> {
        match self {
            Self::Hive { table, .. } if !table.primary_key.is_empty() => Some((&table.primary_key, table.uri())),
            _ => None,
        }
    }

    fn is_single(&self) -> bool {
        match self {
            Self::Plain(_) => true,
            Self::Hive { single, .. } => *single,
        }
    }
}

/// What to diff: one pair, or the partitions of a table paired by name.
#[derive(Debug)]
pub(super) enum Plan {
    /// One diff.
    Single { baseline: Box<Dataset>, candidate: Box<Dataset> },
    /// Partition by partition; a side is `None` where it lacks the partition.
    Partitions(Vec<(String, Option<Dataset>, Option<Dataset>)>),
}

/// Pairs the two sides' datasets.
pub(super) fn plan(baseline: &Resolved, candidate: &Resolved) -> Plan {
    if baseline.is_single() && candidate.is_single() {
        let one = |side: &Resolved| match side {
            Resolved::Plain(location) => Dataset { name: String::new(), location: location.clone(), declared: None },
            Resolved::Hive { datasets, .. } => datasets[0].clone(),
        };
        return Plan::Single { baseline: Box::new(one(baseline)), candidate: Box::new(one(candidate)) };
    }
    let mut pairs: BTreeMap<String, (Option<Dataset>, Option<Dataset>)> = BTreeMap::new();
    let names: Vec<String> = [baseline, candidate]
        .into_iter()
        .filter_map(|side| match side {
            Resolved::Hive { datasets, .. } => Some(datasets.iter().map(|d| d.name.clone())),
            Resolved::Plain(_) => None,
        })
        .flatten()
        .collect();
    for (index, side) in [baseline, candidate].into_iter().enumerate() {
        let datasets: Vec<Dataset> = match side {
            Resolved::Hive { datasets, .. } => datasets.clone(),
            // A table's root: its partitions are its `k=v` directories.
            Resolved::Plain(root) => names
                .iter()
                .map(|name| Dataset {
                    name: name.clone(),
                    location: format!("{}/{name}", root.trim_end_matches('/')),
                    declared: None,
                })
                .collect(),
        };
        for dataset in datasets {
            let entry = pairs.entry(dataset.name.clone()).or_default();
            if index == 0 {
                entry.0 = Some(dataset);
            } else {
                entry.1 = Some(dataset);
            }
        }
    }
    Plan::Partitions(pairs.into_iter().map(|(name, (b, c))| (name, b, c)).collect())
}

/// The outcome of one partition of a table diff.
#[derive(Debug, Serialize)]
pub(super) struct PartitionOutcome {
    /// `dt=2024-05-01`.
    pub(super) partition: String,
    /// Its verdict.
    pub(super) verdict: Verdict,
    /// Why it is `divergent` or `error`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) reason: Option<String>,
    /// The diff's report.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) report: Option<Value>,
    #[serde(skip)]
    pub(super) text: Option<String>,
}

/// The whole table's outcome: every partition's, and the worst verdict.
#[derive(Debug, Serialize)]
pub(super) struct TableOutcome {
    /// The worst verdict of the partitions: error, divergent, inconsistent, consistent.
    pub(super) verdict: Verdict,
    /// The baseline as given.
    pub(super) baseline: String,
    /// The candidate as given.
    pub(super) candidate: String,
    /// How many partitions had each verdict.
    pub(super) summary: BTreeMap<&'static str, usize>,
    /// Each partition's outcome, in name order.
    pub(super) partitions: Vec<PartitionOutcome>,
}

impl PartitionOutcome {
    /// A partition that was diffed.
    pub(super) fn diffed(partition: String, report: &Report) -> Self {
        Self {
            partition,
            verdict: report.verdict,
            reason: None,
            report: Some(serde_json::to_value(report).unwrap_or_default()),
            text: (report.verdict != Verdict::Consistent).then(|| report.to_text()),
        }
    }

    /// A partition that could not be diffed: `divergent` (one side lacks it) or `error`.
    pub(super) fn failed(partition: String, verdict: Verdict, reason: String) -> Self {
        Self { partition, verdict, reason: Some(reason), report: None, text: None }
    }
}

impl TableOutcome {
    /// The outcome of `partitions`.
    pub(super) fn new(baseline: &str, candidate: &str, partitions: Vec<PartitionOutcome>) -> Self {
        let rank = |verdict: Verdict| match verdict {
            Verdict::Consistent => 0,
            Verdict::Inconsistent => 1,
            Verdict::Divergent => 2,
            Verdict::Error => 3,
        };
        let verdict = partitions.iter().map(|p| p.verdict).max_by_key(|v| rank(*v)).unwrap_or(Verdict::Error);
        let mut summary = BTreeMap::from([("partitions", partitions.len())]);
        for partition in &partitions {
            *summary.entry(partition.verdict.as_str()).or_default() += 1;
        }
        Self { verdict, baseline: baseline.to_owned(), candidate: candidate.to_owned(), summary, partitions }
    }

    /// For people: one line per consistent partition, the report of every other.
    pub(super) fn to_text(&self) -> String {
        let mut out = String::new();
        for partition in &self.partitions {
            out.push_str(&format!("== {}: {}\n", partition.partition, partition.verdict));
            if let Some(reason) = &partition.reason {
                out.push_str(&format!("   {reason}\n"));
            }
            if let Some(text) = &partition.text {
                out.push_str(text);
                out.push('\n');
            }
        }
        let counts: Vec<String> =
            self.summary.iter().filter(|(k, _)| **k != "partitions").map(|(k, n)| format!("{n} {k}")).collect();
        out.push_str(&format!(
            "{}: {} partitions ({})\n",
            self.verdict,
            self.summary.get("partitions").copied().unwrap_or(0),
            counts.join(", ")
        ));
        out
    }
}
