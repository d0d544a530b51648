//! The report of a diff: DESIGN.md's JSON contract, and its text rendering for people.
//!
//! Field names are a promise to users and to tests outside this repo: fields may be added,
//! never renamed or dropped.

mod text;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The verdict of a report: the outcome of a diff, and in the service the outcome of a pair.
///
/// Defined once for the engine, the store, gating and the API. A diff gives `consistent`,
/// `inconsistent` or `error`; `divergent` is the service's verdict for a pair one of whose sides
/// failed or never came, which no diff gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Every row matches and the schemas agree (after options).
    Consistent,
    /// Some row or the schema differs.
    Inconsistent,
    /// The pair could not be diffed: a side failed or never came (the service's verdict).
    Divergent,
    /// dqc could not tell; the report carries the reason.
    Error,
}

impl Verdict {
    /// The process exit code of `dqc diff`, as `diff(1)`: 0, 1 or 2.
    pub fn exit_code(self) -> i32 {
        match self {
            Verdict::Consistent => 0,
            Verdict::Inconsistent => 1,
            Verdict::Divergent | Verdict::Error => 2,
        }
    }

    /// The verdict as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Consistent => "consistent",
            Self::Inconsistent => "inconsistent",
            Self::Divergent => "divergent",
            Self::Error => "error",
        }
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A verdict name that is none of the four.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown verdict `{0}` (consistent, inconsistent, divergent or error)")]
pub struct UnknownVerdict(pub String);

impl std::str::FromStr for Verdict {
    type Err = UnknownVerdict;

    fn from_str(text: &str) -> Result<Self, UnknownVerdict> {
        match text {
            "consistent" => Ok(Self::Consistent),
            "inconsistent" => Ok(Self::Inconsistent),
            "divergent" => Ok(Self::Divergent),
            "error" => Ok(Self::Error),
            other => Err(UnknownVerdict(other.to_owned())),
        }
    }
}

/// One side's dataset.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DatasetSummary {
    /// The URI it was read from.
    pub uri: String,
    /// Rows read (after the filter, if any).
    pub rows: u64,
    /// Data files.
    pub files: usize,
}

/// Row counts of the comparison.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// Keys on both sides with equal values (rows matched within duplicate-key groups count too).
    pub matched: u64,
    /// Rows only in the baseline.
    pub only_in_baseline: u64,
    /// Rows only in the candidate.
    pub only_in_candidate: u64,
    /// Keys on both sides whose values differ.
    pub changed: u64,
    /// Keys with several rows in the baseline.
    pub duplicate_keys_baseline: u64,
    /// Keys with several rows in the candidate.
    pub duplicate_keys_candidate: u64,
    /// Baseline rows whose key holds a NULL (not matched by key).
    pub null_keys_baseline: u64,
    /// Candidate rows whose key holds a NULL.
    pub null_keys_candidate: u64,
    /// Whether the NULL-key rows of both sides are equal as multisets of whole rows.
    pub null_key_rows_match: bool,
}

/// Findings for one compared column.
#[derive(Debug, Clone, Serialize)]
pub struct ColumnReport {
    /// Baseline name.
    pub name: String,
    /// Candidate name, when renamed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub candidate_name: Option<String>,
    /// Baseline type (Hive-style name).
    pub baseline_type: String,
    /// Candidate type.
    pub candidate_type: String,
    /// True for key columns.
    pub key: bool,
    /// Changed keys where this column differs.
    pub mismatches: u64,
    /// Some of those keys, with both values.
    pub samples: Vec<ColumnSample>,
}

/// One differing value of a column.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ColumnSample {
    /// The row's key, column -> value.
    pub key: Map<String, Value>,
    /// The baseline value.
    pub baseline: Value,
    /// The candidate value.
    pub candidate: Value,
}

/// A type difference of a column present on both sides.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TypeChange {
    /// Baseline name.
    pub name: String,
    /// Baseline type.
    pub baseline: String,
    /// Candidate type.
    pub candidate: String,
    /// Whether the values could still be compared (integers of other widths can; a string
    /// and an integer cannot, and such a column is left out of the comparison).
    pub comparable: bool,
}

/// Schema findings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SchemaReport {
    /// Columns only the baseline has.
    pub only_in_baseline: Vec<String>,
    /// Columns only the candidate has.
    pub only_in_candidate: Vec<String>,
    /// Columns whose types differ.
    pub type_changes: Vec<TypeChange>,
    /// Where a side's files disagree with the schema its catalog declares (a Hive Metastore).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub declared: Vec<DeclaredMismatch>,
}

/// A column where a side's files and its declared schema disagree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeclaredMismatch {
    /// The side.
    pub side: crate::spec::Side,
    /// Where the declaration comes from (`hive://hms:9083/dw/orders`).
    pub source: String,
    /// The column.
    pub column: String,
    /// Its declared type; `None` when the catalog does not declare the column.
    pub declared: Option<String>,
    /// Its type in the files; `None` when the files lack the column.
    pub files: Option<String>,
}

impl SchemaReport {
    /// True when the schemas agree.
    pub fn is_empty(&self) -> bool {
        self.only_in_baseline.is_empty()
            && self.only_in_candidate.is_empty()
            && self.type_changes.is_empty()
            && self.declared.is_empty()
    }
}

/// A key whose values differ.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChangedSample {
    /// The key, column -> value.
    pub key: Map<String, Value>,
    /// Names (baseline) of the columns that differ.
    pub columns: Vec<String>,
    /// The baseline row.
    pub baseline: Map<String, Value>,
    /// The candidate row.
    pub candidate: Map<String, Value>,
}

/// A key with several rows on at least one side.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DuplicateKeySample {
    /// The key, column -> value.
    pub key: Map<String, Value>,
    /// Rows with this key in the baseline.
    pub baseline_rows: u64,
    /// Rows with this key in the candidate.
    pub candidate_rows: u64,
}

/// Samples of each kind of finding, at most `sample_limit` each, in key order.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Samples {
    /// Rows only in the baseline.
    pub only_in_baseline: Vec<Map<String, Value>>,
    /// Rows only in the candidate.
    pub only_in_candidate: Vec<Map<String, Value>>,
    /// Changed keys with both rows.
    pub changed: Vec<ChangedSample>,
    /// Duplicate-key groups with their counts per side.
    pub duplicate_keys: Vec<DuplicateKeySample>,
    /// Baseline rows whose key holds a NULL.
    pub null_keys_baseline: Vec<Map<String, Value>>,
    /// Candidate rows whose key holds a NULL.
    pub null_keys_candidate: Vec<Map<String, Value>>,
}

/// How the fingerprint pass split the keys, and how much the diff pass read again.
#[derive(Debug, Clone, Default, Serialize)]
pub struct BucketSummary {
    /// Key-hash buckets of the fingerprint pass (a power of two).
    pub count: usize,
    /// Buckets whose digests differ or that may hold a duplicate key: the ones read again.
    pub differing: usize,
    /// Rounds the diff pass classified them in: more than one when their rows did not fit the
    /// memory limit and were spilled to disk.
    pub rounds: usize,
    /// Whether the files' footers proved, before a row was read, that the datasets differ
    /// (other row counts, non-NULL counts or ORC integer sums). The fingerprint pass then keeps
    /// the batches it reads, within a quarter of the memory limit (2 GiB without one).
    pub footers_differ: bool,
    /// Whether the diff pass read both datasets again: false when no bucket differs or when it
    /// took its rows from the batches the fingerprint pass kept.
    pub read_again: bool,
    /// The differing buckets in ascending order. Not in the JSON report; `dqc diff` of two
    /// fingerprint files names them.
    #[serde(skip)]
    pub differing_buckets: Vec<u32>,
}

/// The report of one diff.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// consistent or inconsistent.
    pub verdict: Verdict,
    /// `keyed`, or `multiset` when no key was given and whole rows are compared.
    pub mode: &'static str,
    /// Key columns (baseline names); empty in multiset mode.
    pub key: Vec<String>,
    /// The baseline dataset.
    pub baseline: DatasetSummary,
    /// The candidate dataset.
    pub candidate: DatasetSummary,
    /// Row counts.
    pub summary: Summary,
    /// Per compared column.
    pub columns: Vec<ColumnReport>,
    /// Schema findings.
    pub schema: SchemaReport,
    /// Samples per kind.
    pub samples: Samples,
    /// How the fingerprint pass split the keys and what the diff pass read again.
    pub buckets: BucketSummary,
    /// Wall time of the diff.
    pub elapsed_ms: u64,
}

impl Report {
    /// The text rendering for people: summary, columns with mismatches, samples side by side.
    pub fn to_text(&self) -> String {
        text::render(self)
    }

    /// The verdict the counts and findings call for.
    pub(crate) fn decide(&mut self) {
        let s = &self.summary;
        let equal = s.only_in_baseline == 0 && s.only_in_candidate == 0 && s.changed == 0 && s.null_key_rows_match;
        self.verdict = if equal && self.schema.is_empty() { Verdict::Consistent } else { Verdict::Inconsistent };
    }
}
