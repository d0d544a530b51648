//! What to compare and how: the input of a diff.
//!
//! A [`DiffSpec`] names the two datasets, the unique key and the options of DESIGN.md's diff
//! semantics. The engine reads no configuration or environment of its own: callers (the CLI, the
//! service) build a spec and hand it over.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::source::Stores;

/// Which copy of a dataset: the old cluster's (baseline) or the new one's (candidate).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// The old cluster's copy.
    Baseline,
    /// The new cluster's copy.
    Candidate,
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Side::Baseline => "baseline",
            Side::Candidate => "candidate",
        })
    }
}

/// A float tolerance: two values are equal when they differ by at most `absolute`, or by at
/// most `relative` times the larger magnitude (Python's `math.isclose`). `None` means exact.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Tolerance {
    /// Largest absolute difference accepted.
    pub absolute: Option<f64>,
    /// Largest difference accepted, relative to the larger magnitude of the two values.
    pub relative: Option<f64>,
}

impl Tolerance {
    /// True when the tolerance accepts any difference at all.
    pub fn is_set(&self) -> bool {
        self.absolute.is_some() || self.relative.is_some()
    }

    /// This tolerance, with the bounds it leaves unset taken from `fallback` (a column's own
    /// tolerance over the global one).
    pub fn or(self, fallback: Tolerance) -> Tolerance {
        Tolerance { absolute: self.absolute.or(fallback.absolute), relative: self.relative.or(fallback.relative) }
    }
}

/// Options of the comparison (DESIGN.md, "Diff semantics").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DiffOptions {
    /// Columns left out of the comparison, by name on either side (case-insensitive).
    pub ignore: Vec<String>,
    /// Baseline column name -> candidate column name, for columns renamed by the migration.
    pub rename: BTreeMap<String, String>,
    /// Tolerance for every float column (float32/float64), unless a column has its own.
    pub tolerance: Tolerance,
    /// Tolerance per column (baseline name); applies to any numeric column.
    pub column_tolerances: BTreeMap<String, Tolerance>,
    /// Compare strings with trailing spaces removed (CHAR(n) padding against STRING).
    pub trim_trailing_spaces: bool,
    /// How many samples to keep per kind of finding.
    pub sample_limit: usize,
    /// A SQL predicate applied to both sides before comparing (for example `dt = '2024-05-01'`).
    pub filter: Option<String>,
}

impl Default for DiffOptions {
    fn default() -> Self {
        Self {
            ignore: Vec::new(),
            rename: BTreeMap::new(),
            tolerance: Tolerance::default(),
            column_tolerances: BTreeMap::new(),
            trim_trailing_spaces: false,
            sample_limit: 20,
            filter: None,
        }
    }
}

/// How the diff may use the machine.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResourceLimits {
    /// Bytes of memory the query engine may hold; `None`: unbounded.
    pub memory_limit: Option<usize>,
    /// Worker threads for scanning; `None`: one per core.
    pub threads: Option<usize>,
}

/// One comparison: two datasets, the key and the options.
#[derive(Debug, Clone, PartialEq)]
pub struct DiffSpec {
    /// URI of the baseline dataset: a file, a directory tree or an object-store URL.
    pub baseline: String,
    /// URI of the candidate dataset.
    pub candidate: String,
    /// Unique key columns (baseline names). Empty: the whole row is the key (multiset diff).
    pub key: Vec<String>,
    /// The comparison options.
    pub options: DiffOptions,
    /// Resource limits.
    pub limits: ResourceLimits,
    /// Where to write every differing row as Parquet, if anywhere (a local path).
    pub export: Option<std::path::PathBuf>,
    /// The directories each side may be read from; `None`: anywhere (the CLI, run by the
    /// person who owns the files).
    pub confinement: Option<Confinement>,
    /// The options of the object stores the locations name (endpoints, credentials).
    pub stores: Stores,
    /// Each side's schema as its catalog declares it, checked against its files.
    pub declared: Declared,
}

/// A dataset's schema as a catalog declares it (a Hive Metastore's columns), which its files'
/// schema should match: a column or type that differs is a schema finding.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeclaredSchema {
    /// Where the declaration comes from, for the report (`hive://hms:9083/dw/orders`).
    pub source: String,
    /// Columns and their types in Hive's (and ORC's) syntax: `bigint`, `decimal(10,2)`,
    /// `map<string,int>`, `varchar(20)`.
    pub columns: Vec<(String, String)>,
    /// Partition columns: in the directory names, not in the files, and not checked.
    pub partition_keys: Vec<String>,
}

/// The declared schemas of both sides, where a catalog declares one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Declared {
    /// The baseline's.
    pub baseline: Option<DeclaredSchema>,
    /// The candidate's.
    pub candidate: Option<DeclaredSchema>,
}

impl Declared {
    /// One side's.
    pub fn side(&self, side: Side) -> Option<&DeclaredSchema> {
        match side {
            Side::Baseline => self.baseline.as_ref(),
            Side::Candidate => self.candidate.as_ref(),
        }
    }
}

/// The directories a service may read each side from. A location outside its side's roots, or
/// a file under it whose real path (symbolic links resolved) is outside, is refused while the
/// dataset is listed, before any byte of it is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Confinement {
    /// The baseline's roots.
    pub baseline: Roots,
    /// The candidate's roots.
    pub candidate: Roots,
}

impl Confinement {
    /// The roots of one side.
    pub fn side(&self, side: Side) -> &Roots {
        match side {
            Side::Baseline => &self.baseline,
            Side::Candidate => &self.candidate,
        }
    }
}

/// Local directories (plain paths or `file://` URLs) and the rule that allows them, which a
/// refusal names (`the warehouse root of cluster idc`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Roots {
    /// The directories.
    pub directories: Vec<String>,
    /// The rule, for messages.
    pub rule: String,
}

impl DiffSpec {
    /// A spec with default options.
    pub fn new(baseline: impl Into<String>, candidate: impl Into<String>, key: &[&str]) -> Self {
        Self {
            baseline: baseline.into(),
            candidate: candidate.into(),
            key: key.iter().map(|k| (*k).to_owned()).collect(),
            options: DiffOptions::default(),
            limits: ResourceLimits::default(),
            export: None,
            confinement: None,
            stores: Stores::default(),
            declared: Declared::default(),
        }
    }
}
