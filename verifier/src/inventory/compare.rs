//! Two sides' footers of one partition compared, with the semantics of a diff: columns match by
//! name case-insensitively; a column on one side only, or retyped so that its values cannot be
//! compared (an integer become a string), is a difference; a type change whose values compare
//! (integer widths, decimal precision and scale, timestamp units) is listed in the schema but
//! is not one. Statistics compare after normalisation ([`Bound`]); a statistic one side's writer
//! did not keep is "not comparable", never "different".

use arrow::datatypes::Schema;
use serde::{Deserialize, Serialize};

use super::footers::PartitionFooters;
use crate::columns::ColumnPlan;
use crate::report::TypeChange;
use crate::source::summary::{Bound, ColumnSummary};
use crate::spec::DiffOptions;

/// Schema findings of a partition (or, merged, of a table).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SchemaChanges {
    /// Columns only the baseline's files have.
    pub only_in_baseline: Vec<String>,
    /// Columns only the candidate's files have.
    pub only_in_candidate: Vec<String>,
    /// Columns whose types differ (`comparable`: whether the values still compare).
    pub type_changes: Vec<TypeChange>,
}

impl SchemaChanges {
    /// Whether the schemas agree.
    pub fn is_empty(&self) -> bool {
        self.only_in_baseline.is_empty() && self.only_in_candidate.is_empty() && self.type_changes.is_empty()
    }

    /// The changes that are differences, in words: columns on one side only, and columns
    /// retyped so that their values cannot be compared.
    pub fn differences(&self) -> Vec<String> {
        let mut differences = Vec::new();
        if !self.only_in_baseline.is_empty() {
            differences.push(format!("columns only in the baseline: {}", self.only_in_baseline.join(", ")));
        }
        if !self.only_in_candidate.is_empty() {
            differences.push(format!("columns only in the candidate: {}", self.only_in_candidate.join(", ")));
        }
        for change in self.type_changes.iter().filter(|change| !change.comparable) {
            differences.push(format!(
                "column `{}` retyped: {} in the baseline, {} in the candidate",
                change.name, change.baseline, change.candidate
            ));
        }
        differences
    }

    /// Two tables' declared columns (a metastore's: names and Hive types), compared by name
    /// case-insensitively. A type change is comparable within one family of types: integers of
    /// any width, floating point, decimals of any precision and scale, strings, `varchar` and
    /// `char`.
    pub(crate) fn declared(baseline: &[(String, String)], candidate: &[(String, String)]) -> Self {
        let find = |columns: &[(String, String)], name: &str| {
            columns.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, t)| t.clone())
        };
        let only = |from: &[(String, String)], other: &[(String, String)]| {
            from.iter().filter(|(name, _)| find(other, name).is_none()).map(|(name, _)| name.clone()).collect()
        };
        let type_changes = baseline
            .iter()
            .filter_map(|(name, b)| {
                let c = find(candidate, name)?;
                let (b_type, c_type) = (b.to_lowercase().replace(' ', ""), c.to_lowercase().replace(' ', ""));
                (b_type != c_type).then(|| TypeChange {
                    name: name.clone(),
                    comparable: hive_family(&b_type).is_some() && hive_family(&b_type) == hive_family(&c_type),
                    baseline: b.clone(),
                    candidate: c,
                })
            })
            .collect();
        Self { only_in_baseline: only(baseline, candidate), only_in_candidate: only(candidate, baseline), type_changes }
    }

    /// Adds `other`'s findings not already here (by column name).
    pub(crate) fn absorb(&mut self, other: &Self) {
        let add = |into: &mut Vec<String>, from: &[String]| {
            for name in from {
                if !into.iter().any(|n| n.eq_ignore_ascii_case(name)) {
                    into.push(name.clone());
                }
            }
        };
        add(&mut self.only_in_baseline, &other.only_in_baseline);
        add(&mut self.only_in_candidate, &other.only_in_candidate);
        for change in &other.type_changes {
            if !self.type_changes.iter().any(|c| c.name.eq_ignore_ascii_case(&change.name)) {
                self.type_changes.push(change.clone());
            }
        }
    }
}

/// What comparing a partition's footers found.
#[derive(Debug, Clone, Default)]
pub(crate) struct Findings {
    /// Each difference in words, the first the most telling (schema, rows, then columns).
    pub(crate) differences: Vec<String>,
    /// Columns with a statistic (values, minimum, maximum) that could not be compared.
    pub(crate) not_comparable: Vec<String>,
    pub(crate) schema: SchemaChanges,
}

/// Compares a partition's footers on both sides.
pub(crate) fn compare(baseline: &PartitionFooters, candidate: &PartitionFooters) -> Findings {
    let mut findings = Findings::default();
    let schemas = [Schema::new(baseline.fields.clone()), Schema::new(candidate.fields.clone())];
    let plan = match ColumnPlan::new(&schemas[0], &schemas[1], &[], &DiffOptions::default(), ["baseline", "candidate"])
    {
        Ok(plan) => plan,
        Err(error) => {
            findings.differences.push(format!("the schemas cannot be paired: {error}"));
            return findings;
        }
    };
    let schema = SchemaChanges {
        only_in_baseline: plan.schema.only_in_baseline.clone(),
        only_in_candidate: plan.schema.only_in_candidate.clone(),
        type_changes: plan.schema.type_changes.clone(),
    };
    let differences = &mut findings.differences;
    differences.extend(schema.differences());
    if baseline.rows != candidate.rows {
        differences.push(format!("rows: {} in the baseline, {} in the candidate", baseline.rows, candidate.rows));
    }
    findings.schema = schema;
    for pair in plan.keys.iter().chain(&plan.values) {
        let stats = |footers: &PartitionFooters, name: &str| {
            footers.columns.get(&name.to_lowercase()).cloned().unwrap_or_default()
        };
        let (b, c) = (stats(baseline, &pair.baseline_name), stats(candidate, &pair.candidate_name));
        let column = Column { name: &pair.baseline_name, baseline_rows: baseline.rows, candidate_rows: candidate.rows };
        if !column.compare(&b, &c, &mut findings.differences) {
            findings.not_comparable.push(pair.baseline_name.clone());
        }
    }
    findings
}

/// The family of a Hive type whose values compare across its members; `None` for the others.
fn hive_family(hive_type: &str) -> Option<&'static str> {
    let base = hive_type.split('(').next().unwrap_or(hive_type);
    match base {
        "tinyint" | "smallint" | "int" | "integer" | "bigint" => Some("integer"),
        "float" | "double" => Some("floating point"),
        "decimal" | "numeric" => Some("decimal"),
        "string" | "varchar" | "char" => Some("text"),
        _ => None,
    }
}

struct Column<'a> {
    name: &'a str,
    baseline_rows: u64,
    candidate_rows: u64,
}

impl Column<'_> {
    /// Adds the column's differences; false when its values, minimum or maximum could not be
    /// compared.
    fn compare(&self, b: &ColumnSummary, c: &ColumnSummary, differences: &mut Vec<String>) -> bool {
        let name = self.name;
        let mut comparable = true;
        match (b.values, c.values) {
            (Some(x), Some(y)) if x != y => {
                let (bn, cn) = (self.baseline_rows.saturating_sub(x), self.candidate_rows.saturating_sub(y));
                differences.push(format!(
                    "column `{name}`: {x} values and {bn} NULLs in the baseline, {y} values and {cn} NULLs in the \
                     candidate"
                ));
            }
            (Some(_), Some(_)) => {}
            _ => comparable = false,
        }
        // A side without values has no bounds: nothing to compare, and nothing missing.
        let empty = b.values == Some(0) || c.values == Some(0);
        for (what, x, y, counts) in
            [("minimum", &b.min, &c.min, true), ("maximum", &b.max, &c.max, true), ("sum", &b.sum, &c.sum, false)]
        {
            match compare_bounds(x.as_ref(), y.as_ref()) {
                Some(true) => {}
                Some(false) => differences.push(format!(
                    "column `{name}`: {what} {} in the baseline, {} in the candidate",
                    show(x.as_ref()),
                    show(y.as_ref())
                )),
                None if counts && !empty => comparable = false,
                None => {}
            }
        }
        comparable
    }
}

/// `Some(equal)` when both bounds are known and of one kind, else `None`.
fn compare_bounds(a: Option<&Bound>, b: Option<&Bound>) -> Option<bool> {
    Some(a?.compare(b?)?.is_eq())
}

fn show(bound: Option<&Bound>) -> String {
    bound.map_or_else(|| "unknown".to_owned(), ToString::to_string)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use arrow::datatypes::{DataType, Field};

    use super::*;
    use crate::source::summary::Number;

    #[test]
    fn declared_columns_compare_by_family() {
        let columns = |list: &[(&str, &str)]| -> Vec<(String, String)> {
            list.iter().map(|(n, t)| ((*n).to_owned(), (*t).to_owned())).collect()
        };
        let b = columns(&[("id", "bigint"), ("amount", "decimal(10,2)"), ("code", "int"), ("note", "string")]);
        let c = columns(&[("ID", "int"), ("amount", "decimal(12, 4)"), ("code", "string"), ("extra", "date")]);
        let changes = SchemaChanges::declared(&b, &c);
        assert_eq!(changes.only_in_baseline, ["note"]);
        assert_eq!(changes.only_in_candidate, ["extra"]);
        let retyped: Vec<(&str, bool)> = changes.type_changes.iter().map(|t| (t.name.as_str(), t.comparable)).collect();
        assert_eq!(retyped, [("id", true), ("amount", true), ("code", false)]);
        assert_eq!(
            changes.differences(),
            [
                "columns only in the baseline: note",
                "columns only in the candidate: extra",
                "column `code` retyped: int in the baseline, string in the candidate"
            ]
        );
        assert!(SchemaChanges::declared(&b, &b).is_empty());
    }

    fn side(rows: u64, columns: &[(&str, DataType, ColumnSummary)]) -> PartitionFooters {
        PartitionFooters {
            rows,
            fields: columns.iter().map(|(name, t, _)| Arc::new(Field::new(*name, t.clone(), true))).collect(),
            columns: columns.iter().map(|(name, _, s)| (name.to_lowercase(), s.clone())).collect::<BTreeMap<_, _>>(),
            files: Vec::new(),
        }
    }

    fn numbers(values: u64, min: &str, max: &str) -> ColumnSummary {
        let n = |t: &str| Some(Bound::Number(Number::parse(t).unwrap()));
        ColumnSummary { values: Some(values), min: n(min), max: n(max), sum: None }
    }

    #[test]
    fn a_decimal_of_another_scale_is_equal_and_listed_in_the_schema() {
        let b = side(3, &[("amount", DataType::Decimal128(10, 2), numbers(3, "1.50", "10.50"))]);
        let c = side(3, &[("AMOUNT", DataType::Decimal128(12, 4), numbers(3, "1.5", "10.5000"))]);
        let findings = compare(&b, &c);
        assert!(findings.differences.is_empty(), "{:?}", findings.differences);
        assert!(findings.not_comparable.is_empty());
        assert_eq!(findings.schema.type_changes.len(), 1);
        assert!(findings.schema.type_changes[0].comparable);
    }

    #[test]
    fn counts_bounds_and_columns_differ_and_unknown_statistics_do_not() {
        let b = side(
            4,
            &[
                ("id", DataType::Int64, numbers(4, "1", "4")),
                ("qty", DataType::Int32, numbers(3, "0", "9")),
                ("note", DataType::Utf8, ColumnSummary::default()),
                ("gone", DataType::Int32, numbers(4, "1", "1")),
            ],
        );
        let c = side(
            4,
            &[
                ("id", DataType::Int64, numbers(4, "1", "5")),
                ("qty", DataType::Int32, numbers(4, "0", "9")),
                ("note", DataType::Utf8, ColumnSummary { values: Some(4), ..ColumnSummary::default() }),
            ],
        );
        let findings = compare(&b, &c);
        assert_eq!(
            findings.differences,
            [
                "columns only in the baseline: gone",
                "column `id`: maximum 4 in the baseline, 5 in the candidate",
                "column `qty`: 3 values and 1 NULLs in the baseline, 4 values and 0 NULLs in the candidate",
            ]
        );
        assert_eq!(findings.not_comparable, ["note"]);
    }

    #[test]
    fn a_column_retyped_beyond_comparison_is_a_difference() {
        let b = side(1, &[("code", DataType::Int32, numbers(1, "7", "7"))]);
        let c = side(1, &[("code", DataType::Utf8, ColumnSummary { values: Some(1), ..ColumnSummary::default() })]);
        let findings = compare(&b, &c);
        assert_eq!(findings.differences, ["column `code` retyped: int in the baseline, string in the candidate"]);
    }
}
