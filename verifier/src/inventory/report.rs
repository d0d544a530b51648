//! An inventory's report: a verdict per partition, counts per table and for the warehouse; as
//! JSON (serde), as text that fits a terminal, and as a Parquet file of every partition's row.

use std::path::Path;
use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, StringArray, UInt64Array};
use serde::{Deserialize, Serialize};

use super::compare::SchemaChanges;
use crate::error::{Error, Result};
use crate::report::Verdict;

/// How deep an inventory looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// Tables, partitions, files and bytes; no file is opened.
    Listing,
    /// Also every file's footer: rows, schema, column statistics (the default).
    Footers,
    /// Also the bucket digests of partitions whose footers agree (their data is read).
    Deep,
}

impl Level {
    /// The name in reports and flags.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Listing => "listing",
            Self::Footers => "footers",
            Self::Deep => "deep",
        }
    }
}

/// What an inventory found of one partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PartitionVerdict {
    /// The fingerprints agree: the same rows (`--deep`).
    Equal,
    /// Rows, schema and every comparable footer statistic agree; the data was not read.
    EqualFooters,
    /// Present on both sides; nothing was opened (`--listing-only`).
    Listed,
    /// The footers or the fingerprints differ; `reason` says how.
    Different,
    /// Only the candidate has it.
    MissingInBaseline,
    /// Only the baseline has it.
    MissingInCandidate,
    /// A file could not be read; `reason` names it.
    Unreadable,
}

impl PartitionVerdict {
    /// The name in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Equal => "equal",
            Self::EqualFooters => "equal_footers",
            Self::Listed => "listed",
            Self::Different => "different",
            Self::MissingInBaseline => "missing_in_baseline",
            Self::MissingInCandidate => "missing_in_candidate",
            Self::Unreadable => "unreadable",
        }
    }

    /// Whether it shows a difference between the sides.
    pub fn differs(self) -> bool {
        matches!(self, Self::Different | Self::MissingInBaseline | Self::MissingInCandidate)
    }
}

/// One side of a partition: where it is, its files, bytes and (from the footers) rows.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionSide {
    /// Its location (a catalog's partition may be anywhere, not only under its table's).
    #[serde(default)]
    pub location: String,
    pub files: u64,
    pub bytes: u64,
    /// `None`: the footers were not read (`--listing-only`) or could not be.
    pub rows: Option<u64>,
}

/// One partition (an unpartitioned table is one partition, named `""`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartitionInventory {
    /// `dt=2024-05-01` (`k=v` directories joined by `/`).
    pub partition: String,
    pub verdict: PartitionVerdict,
    /// Why it is not equal: the first difference, or the unreadable file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Every difference the footers (or fingerprints) showed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub differences: Vec<String>,
    /// Columns with a statistic one side's writer did not keep: not compared.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_comparable: Vec<String>,
    /// Columns added, dropped or retyped in this partition.
    #[serde(default, skip_serializing_if = "SchemaChanges::is_empty")]
    pub schema: SchemaChanges,
    pub baseline: Option<PartitionSide>,
    pub candidate: Option<PartitionSide>,
    /// The key its fingerprints or its diff compared by (empty: whole rows, or not read).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub key: Vec<String>,
    /// The report of a full diff of the partition (`--diff`, for a different partition).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diff: Option<serde_json::Value>,
}

/// Partitions counted by verdict, with both sides' totals.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub partitions: u64,
    pub equal: u64,
    pub equal_footers: u64,
    pub listed: u64,
    pub different: u64,
    pub missing_in_baseline: u64,
    pub missing_in_candidate: u64,
    pub unreadable: u64,
    pub baseline: SideTotals,
    pub candidate: SideTotals,
}

/// Files, bytes and rows (of the partitions whose footers were read) of one side.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SideTotals {
    pub files: u64,
    pub bytes: u64,
    pub rows: u64,
}

impl SideTotals {
    fn add(&mut self, side: Option<&PartitionSide>) {
        if let Some(side) = side {
            self.files += side.files;
            self.bytes += side.bytes;
            self.rows += side.rows.unwrap_or(0);
        }
    }
}

impl Counts {
    pub(crate) fn add(&mut self, partition: &PartitionInventory) {
        self.partitions += 1;
        *match partition.verdict {
            PartitionVerdict::Equal => &mut self.equal,
            PartitionVerdict::EqualFooters => &mut self.equal_footers,
            PartitionVerdict::Listed => &mut self.listed,
            PartitionVerdict::Different => &mut self.different,
            PartitionVerdict::MissingInBaseline => &mut self.missing_in_baseline,
            PartitionVerdict::MissingInCandidate => &mut self.missing_in_candidate,
            PartitionVerdict::Unreadable => &mut self.unreadable,
        } += 1;
        self.baseline.add(partition.baseline.as_ref());
        self.candidate.add(partition.candidate.as_ref());
    }

    fn merge(&mut self, other: &Self) {
        self.partitions += other.partitions;
        self.equal += other.equal;
        self.equal_footers += other.equal_footers;
        self.listed += other.listed;
        self.different += other.different;
        self.missing_in_baseline += other.missing_in_baseline;
        self.missing_in_candidate += other.missing_in_candidate;
        self.unreadable += other.unreadable;
        for (into, from) in [(&mut self.baseline, &other.baseline), (&mut self.candidate, &other.candidate)] {
            into.files += from.files;
            into.bytes += from.bytes;
            into.rows += from.rows;
        }
    }

    /// Inconsistent when a partition differs or is missing; else an error when one could not be
    /// read (dqc could not tell); else consistent.
    pub fn verdict(&self) -> Verdict {
        if self.different + self.missing_in_baseline + self.missing_in_candidate > 0 {
            Verdict::Inconsistent
        } else if self.unreadable > 0 {
            Verdict::Error
        } else {
            Verdict::Consistent
        }
    }
}

/// One table: its partitions and their counts.
#[derive(Debug, Clone, Serialize)]
pub struct TableInventory {
    /// Its path under the warehouse (`orders`, `sales.db/orders`; `.`: the warehouse itself).
    pub name: String,
    pub verdict: Verdict,
    pub counts: Counts,
    /// Schema findings over all its partitions' files.
    pub schema: SchemaChanges,
    /// The columns both sides' catalogs declare, compared (when both sides are catalogs): a
    /// column on one side only, or retyped beyond its family, makes the table inconsistent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub declared_schema: Option<SchemaChanges>,
    /// In partition order.
    pub partitions: Vec<PartitionInventory>,
}

impl TableInventory {
    pub(crate) fn new(name: String, partitions: Vec<PartitionInventory>, declared: Option<SchemaChanges>) -> Self {
        let mut counts = Counts::default();
        let mut schema = SchemaChanges::default();
        for partition in &partitions {
            counts.add(partition);
            schema.absorb(&partition.schema);
        }
        let declared_differs = declared.as_ref().is_some_and(|d| !d.differences().is_empty());
        let verdict = if declared_differs { Verdict::Inconsistent } else { counts.verdict() };
        Self { name, verdict, counts, schema, declared_schema: declared, partitions }
    }
}

/// The warehouse's counts.
#[derive(Debug, Clone, Default, Serialize)]
pub struct InventorySummary {
    pub tables: u64,
    /// Tables whose every partition is missing on one side.
    pub tables_missing_in_baseline: u64,
    pub tables_missing_in_candidate: u64,
    #[serde(flatten)]
    pub counts: Counts,
}

/// The report of `dqc inventory`.
#[derive(Debug, Clone, Serialize)]
pub struct InventoryReport {
    /// `consistent`, `inconsistent` (a partition differs or is missing) or `error` (nothing
    /// differs, but a partition could not be read).
    pub verdict: Verdict,
    pub level: Level,
    pub baseline: String,
    pub candidate: String,
    pub summary: InventorySummary,
    /// In name order.
    pub tables: Vec<TableInventory>,
    /// Partitions taken from the checkpoint of an earlier, interrupted run (not read again).
    pub resumed_partitions: u64,
    pub elapsed_ms: u64,
}

impl InventoryReport {
    pub(crate) fn new(level: Level, sides: [&str; 2], tables: Vec<TableInventory>) -> Self {
        let mut summary = InventorySummary { tables: tables.len() as u64, ..InventorySummary::default() };
        for table in &tables {
            summary.counts.merge(&table.counts);
            let all = table.counts.partitions;
            summary.tables_missing_in_baseline += u64::from(all > 0 && table.counts.missing_in_baseline == all);
            summary.tables_missing_in_candidate += u64::from(all > 0 && table.counts.missing_in_candidate == all);
        }
        let verdict = if tables.iter().any(|t| t.verdict == Verdict::Inconsistent) {
            Verdict::Inconsistent
        } else {
            summary.counts.verdict()
        };
        Self {
            verdict,
            level,
            baseline: sides[0].to_owned(),
            candidate: sides[1].to_owned(),
            summary,
            tables,
            resumed_partitions: 0,
            elapsed_ms: 0,
        }
    }

    /// The text rendering: the verdict, both sides' totals, a line of counts per table, then
    /// each table's schema findings and its first partitions that are not equal.
    pub fn to_text(&self, partitions_shown: usize) -> String {
        let counts = &self.summary.counts;
        let mut out = format!(
            "verdict: {} ({} level: {} tables, {} partitions, {:.1} s)\n",
            self.verdict.as_str().to_ascii_uppercase(),
            self.level.as_str(),
            self.summary.tables,
            counts.partitions,
            self.elapsed_ms as f64 / 1000.0
        );
        for (name, uri, totals) in
            [("baseline", &self.baseline, &counts.baseline), ("candidate", &self.candidate, &counts.candidate)]
        {
            out.push_str(&format!(
                "{name:<9}: {uri}  {} files, {}, {} rows\n",
                totals.files,
                human_bytes(totals.bytes),
                totals.rows
            ));
        }
        if self.resumed_partitions > 0 {
            out.push_str(&format!("resumed: {} partitions from the checkpoint\n", self.resumed_partitions));
        }
        out.push('\n');
        out.push_str(&self.table_lines());
        fn declared(table: &TableInventory) -> Option<&SchemaChanges> {
            table.declared_schema.as_ref().filter(|d| !d.is_empty())
        }
        for table in self
            .tables
            .iter()
            .filter(|t| !t.schema.is_empty() || declared(t).is_some() || t.verdict != Verdict::Consistent)
        {
            out.push_str(&format!("\n{}\n", table.name));
            if let Some(schema) = declared(table).and_then(schema_text) {
                out.push_str(&format!("  declared schema: {schema}\n"));
            }
            if let Some(schema) = schema_text(&table.schema) {
                out.push_str(&format!("  schema: {schema}\n"));
            }
            let unequal: Vec<&PartitionInventory> = table
                .partitions
                .iter()
                .filter(|p| p.verdict.differs() || p.verdict == PartitionVerdict::Unreadable)
                .collect();
            for partition in unequal.iter().take(partitions_shown) {
                let name = if partition.partition.is_empty() { "(table)" } else { &partition.partition };
                let verdict = partition.verdict.as_str().replace('_', " ");
                match &partition.reason {
                    Some(reason) => out.push_str(&format!("  {name}  {verdict}: {reason}\n")),
                    None => out.push_str(&format!("  {name}  {verdict}\n")),
                }
            }
            if unequal.len() > partitions_shown {
                out.push_str(&format!(
                    "  ... and {} more (the JSON report lists all)\n",
                    unequal.len() - partitions_shown
                ));
            }
        }
        out
    }

    fn table_lines(&self) -> String {
        const HEADERS: [&str; 7] = ["equal", "footers", "differ", "missing", "extra", "unread", "listed"];
        let width = self.tables.iter().map(|t| t.name.chars().count()).max().unwrap_or(0).clamp(5, 32);
        let mut out = format!("{:<width$}", "table");
        for header in HEADERS {
            out.push_str(&format!(" {header:>7}"));
        }
        out.push('\n');
        let line = |name: &str, c: &Counts| {
            let name: String = if name.chars().count() > width {
                name.chars().take(width - 1).chain(['…']).collect()
            } else {
                name.to_owned()
            };
            let mut text = format!("{name:<width$}");
            for value in [
                c.equal,
                c.equal_footers,
                c.different,
                c.missing_in_candidate,
                c.missing_in_baseline,
                c.unreadable,
                c.listed,
            ] {
                text.push_str(&format!(" {value:>7}"));
            }
            text.push('\n');
            text
        };
        for table in &self.tables {
            out.push_str(&line(&table.name, &table.counts));
        }
        if self.tables.len() > 1 {
            out.push_str(&line("(all)", &self.summary.counts));
        }
        out
    }

    /// Writes every partition's row as Parquet: table, partition, verdict, reason, both sides'
    /// files, bytes and rows, the differences and the columns not comparable.
    pub fn write_parquet(&self, path: &Path) -> Result<()> {
        let rows: Vec<(&str, &PartitionInventory)> =
            self.tables.iter().flat_map(|t| t.partitions.iter().map(move |p| (t.name.as_str(), p))).collect();
        let text = |f: &dyn Fn(&(&str, &PartitionInventory)) -> Option<String>| -> ArrayRef {
            Arc::new(rows.iter().map(f).collect::<StringArray>())
        };
        let number = |f: &dyn Fn(&PartitionInventory) -> Option<u64>| -> ArrayRef {
            Arc::new(rows.iter().map(|(_, p)| f(p)).collect::<UInt64Array>())
        };
        let joined = |items: &[String], separator: &str| (!items.is_empty()).then(|| items.join(separator));
        let batch = RecordBatch::try_from_iter([
            ("table", text(&|(t, _)| Some((*t).to_owned()))),
            ("partition", text(&|(_, p)| Some(p.partition.clone()))),
            ("verdict", text(&|(_, p)| Some(p.verdict.as_str().to_owned()))),
            ("reason", text(&|(_, p)| p.reason.clone())),
            ("baseline_location", text(&|(_, p)| p.baseline.as_ref().map(|s| s.location.clone()))),
            ("baseline_files", number(&|p| p.baseline.as_ref().map(|s| s.files))),
            ("baseline_bytes", number(&|p| p.baseline.as_ref().map(|s| s.bytes))),
            ("baseline_rows", number(&|p| p.baseline.as_ref().and_then(|s| s.rows))),
            ("candidate_location", text(&|(_, p)| p.candidate.as_ref().map(|s| s.location.clone()))),
            ("candidate_files", number(&|p| p.candidate.as_ref().map(|s| s.files))),
            ("candidate_bytes", number(&|p| p.candidate.as_ref().map(|s| s.bytes))),
            ("candidate_rows", number(&|p| p.candidate.as_ref().and_then(|s| s.rows))),
            ("differences", text(&|(_, p)| joined(&p.differences, "; "))),
            ("not_comparable", text(&|(_, p)| joined(&p.not_comparable, ", "))),
        ])?;
        let failed =
            |e: &dyn std::fmt::Display| Error::InvalidOption(format!("cannot write `{}`: {e}", path.display()));
        let file = std::fs::File::create(path).map_err(|e| failed(&e))?;
        let mut writer = parquet::arrow::ArrowWriter::try_new(file, batch.schema(), None).map_err(|e| failed(&e))?;
        writer.write(&batch).map_err(|e| failed(&e))?;
        writer.close().map_err(|e| failed(&e))?;
        Ok(())
    }
}

/// The schema findings in one line, or `None` when there are none.
fn schema_text(schema: &SchemaChanges) -> Option<String> {
    let mut parts = Vec::new();
    if !schema.only_in_baseline.is_empty() {
        parts.push(format!("only in the baseline: {}", schema.only_in_baseline.join(", ")));
    }
    if !schema.only_in_candidate.is_empty() {
        parts.push(format!("only in the candidate: {}", schema.only_in_candidate.join(", ")));
    }
    for change in &schema.type_changes {
        let note = if change.comparable { "" } else { " (not comparable)" };
        parts.push(format!("{} {} -> {}{note}", change.name, change.baseline, change.candidate));
    }
    (!parts.is_empty()).then(|| parts.join("; "))
}

/// `1.2 MiB`.
fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 { format!("{bytes} B") } else { format!("{value:.1} {}", UNITS[unit]) }
}
