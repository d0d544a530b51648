//! Which columns are compared with which: the column plan of a diff.
//!
//! Columns match by name, case-insensitively, after the rename map; ignored columns drop out.
//! A column on one side only, or whose types differ, is a schema finding. Each compared pair gets
//! the [`Domain`] its values are compared in and, for numbers, its tolerance.

use std::collections::BTreeSet;

use arrow::datatypes::{DataType, Schema};

use crate::canonical::Domain;
use crate::error::{Error, Result};
use crate::report::{DeclaredMismatch, SchemaReport, TypeChange};
use crate::spec::{DeclaredSchema, DiffOptions, Side, Tolerance};

/// One compared column pair.
#[derive(Debug, Clone)]
pub(crate) struct ColumnPair {
    /// Name in the baseline.
    pub(crate) baseline_name: String,
    /// Name in the candidate.
    pub(crate) candidate_name: String,
    pub(crate) baseline_type: DataType,
    pub(crate) candidate_type: DataType,
    pub(crate) domain: Domain,
    /// Set when values are compared with a tolerance.
    pub(crate) tolerance: Option<Tolerance>,
}

impl ColumnPair {
    /// The pair's Arrow type on one side.
    pub(crate) fn data_type(&self, side: Side) -> &DataType {
        match side {
            Side::Baseline => &self.baseline_type,
            Side::Candidate => &self.candidate_type,
        }
    }

    /// The pair's column name on one side.
    pub(crate) fn name(&self, side: Side) -> &str {
        match side {
            Side::Baseline => &self.baseline_name,
            Side::Candidate => &self.candidate_name,
        }
    }
}

/// The columns of a diff: keys first, then the compared values.
#[derive(Debug, Clone)]
pub(crate) struct ColumnPlan {
    /// Key columns. In multiset mode, every compared column.
    pub(crate) keys: Vec<ColumnPair>,
    /// Compared non-key columns.
    pub(crate) values: Vec<ColumnPair>,
    /// True when no key was given: the whole row is the key.
    pub(crate) multiset: bool,
    /// Columns on one side only, and type differences.
    pub(crate) schema: SchemaReport,
}

impl ColumnPlan {
    /// Pairs the columns of the two schemas.
    pub(crate) fn new(
        baseline: &Schema,
        candidate: &Schema,
        key: &[String],
        options: &DiffOptions,
        locations: [&str; 2],
    ) -> Result<Self> {
        let ignored: BTreeSet<String> = options.ignore.iter().map(|c| c.to_lowercase()).collect();
        validate_renames(baseline, candidate, options)?;
        let mut schema = SchemaReport::default();
        let mut pairs = Vec::new();
        let mut paired_candidates = BTreeSet::new();
        for field in baseline.fields() {
            let lower = field.name().to_lowercase();
            if ignored.contains(&lower) {
                continue;
            }
            let target = renamed(options, &lower).unwrap_or(lower);
            let found =
                candidate.fields().iter().find(|c| c.name().to_lowercase() == target && !ignored.contains(&target));
            let Some(other) = found else {
                schema.only_in_baseline.push(field.name().clone());
                continue;
            };
            paired_candidates.insert(target);
            let domain = Domain::unify(field.data_type(), other.data_type(), options.trim_trailing_spaces);
            let (baseline_type, candidate_type) = (logical_type(field.data_type()), logical_type(other.data_type()));
            if domain.is_none() || baseline_type != candidate_type {
                schema.type_changes.push(TypeChange {
                    name: field.name().clone(),
                    baseline: baseline_type,
                    candidate: candidate_type,
                    comparable: domain.is_some(),
                });
            }
            if let Some(domain) = domain {
                pairs.push(ColumnPair {
                    baseline_name: field.name().clone(),
                    candidate_name: other.name().clone(),
                    baseline_type: field.data_type().clone(),
                    candidate_type: other.data_type().clone(),
                    domain,
                    tolerance: None,
                });
            }
        }
        schema.only_in_candidate = candidate
            .fields()
            .iter()
            .map(|f| f.name())
            .filter(|name| {
                let lower = name.to_lowercase();
                !paired_candidates.contains(&lower) && !ignored.contains(&lower)
            })
            .cloned()
            .collect();
        let (keys, values) = split_keys(pairs, key, &schema, &ignored, locations)?;
        let multiset = key.is_empty();
        let mut plan = Self { keys, values, multiset, schema };
        plan.assign_tolerances(options)?;
        Ok(plan)
    }

    /// Columns to read from one side, keys first, in plan order.
    pub(crate) fn scan_columns(&self, side: Side) -> Vec<String> {
        self.typed_columns(side).into_iter().map(|(name, _)| name).collect()
    }

    /// Names and Arrow types of the columns read from one side, in [`Self::scan_columns`] order.
    pub(crate) fn typed_columns(&self, side: Side) -> Vec<(String, DataType)> {
        self.keys.iter().chain(&self.values).map(|p| (p.name(side).to_owned(), p.data_type(side).clone())).collect()
    }

    fn assign_tolerances(&mut self, options: &DiffOptions) -> Result<()> {
        for (column, tolerance) in &options.column_tolerances {
            if self.multiset {
                return Err(Error::InvalidOption(format!(
                    "a tolerance on `{column}` needs a key: rows without a key are compared exactly"
                )));
            }
            if self.keys.iter().any(|k| k.baseline_name.eq_ignore_ascii_case(column)) {
                return Err(Error::InvalidOption(format!("`{column}` is a key column: keys are compared exactly")));
            }
            let pair =
                self.values.iter_mut().find(|p| p.baseline_name.eq_ignore_ascii_case(column)).ok_or_else(|| {
                    Error::InvalidOption(format!("tolerance for `{column}`: no such compared column in the baseline"))
                })?;
            if !pair.domain.is_numeric() {
                return Err(Error::InvalidOption(format!(
                    "tolerance for `{column}`: it is {}, not a number",
                    logical_type(&pair.baseline_type)
                )));
            }
            pair.tolerance = Some(tolerance.or(options.tolerance));
        }
        if options.tolerance.is_set() {
            if self.multiset {
                return Err(Error::InvalidOption(
                    "a float tolerance needs a key: rows without a key are compared exactly".to_owned(),
                ));
            }
            for pair in self.values.iter_mut().filter(|p| p.domain == Domain::Float && p.tolerance.is_none()) {
                pair.tolerance = Some(options.tolerance);
            }
        }
        Ok(())
    }
}

fn renamed(options: &DiffOptions, lower: &str) -> Option<String> {
    options.rename.iter().find(|(from, _)| from.to_lowercase() == lower).map(|(_, to)| to.to_lowercase())
}

fn validate_renames(baseline: &Schema, candidate: &Schema, options: &DiffOptions) -> Result<()> {
    let has = |schema: &Schema, name: &str| schema.fields().iter().any(|f| f.name().eq_ignore_ascii_case(name));
    for (from, to) in &options.rename {
        if !has(baseline, from) {
            return Err(Error::InvalidOption(format!("rename `{from}={to}`: the baseline has no column `{from}`")));
        }
        if !has(candidate, to) {
            return Err(Error::InvalidOption(format!("rename `{from}={to}`: the candidate has no column `{to}`")));
        }
    }
    Ok(())
}

fn split_keys(
    pairs: Vec<ColumnPair>,
    key: &[String],
    schema: &SchemaReport,
    ignored: &BTreeSet<String>,
    [baseline_location, candidate_location]: [&str; 2],
) -> Result<(Vec<ColumnPair>, Vec<ColumnPair>)> {
    if key.is_empty() {
        return Ok((pairs, Vec::new()));
    }
    let mut keys = Vec::new();
    for column in key {
        if ignored.contains(&column.to_lowercase()) {
            return Err(Error::InvalidOption(format!("key column `{column}` is also ignored")));
        }
        if keys.iter().any(|k: &ColumnPair| k.baseline_name.eq_ignore_ascii_case(column)) {
            return Err(Error::InvalidOption(format!("key column `{column}` is named twice")));
        }
        let found = pairs.iter().find(|p| p.baseline_name.eq_ignore_ascii_case(column));
        match found {
            Some(pair) => keys.push(pair.clone()),
            None => return Err(missing_key(column, schema, baseline_location, candidate_location)),
        }
    }
    let values = pairs.into_iter().filter(|p| !keys.iter().any(|k| k.baseline_name == p.baseline_name)).collect();
    Ok((keys, values))
}

fn missing_key(column: &str, schema: &SchemaReport, baseline_location: &str, candidate_location: &str) -> Error {
    if let Some(change) = schema.type_changes.iter().find(|c| c.name.eq_ignore_ascii_case(column)) {
        return Error::IncomparableKey {
            column: column.to_owned(),
            baseline_type: change.baseline.clone(),
            candidate_type: change.candidate.clone(),
        };
    }
    let only_in_baseline = schema.only_in_baseline.iter().any(|c| c.eq_ignore_ascii_case(column));
    let (side, location) =
        if only_in_baseline { (Side::Candidate, candidate_location) } else { (Side::Baseline, baseline_location) };
    Error::MissingKeyColumn { column: column.to_owned(), side, location: location.to_owned() }
}

/// A type as Hive would name it, so that findings read the same whatever the file format:
/// `bigint`, `decimal(18,2)`, `timestamp`, `timestamp with local time zone`, `map<string,int>`.
/// Where one side's files disagree with the schema its catalog declares: a declared column the
/// files lack, a file column not declared, a type that differs (compared as Hive writes types:
/// `varchar(n)` and `char(n)` are strings, `decimal` is `decimal(10,0)`). Ignored columns and
/// partition columns are left out. Files whose columns are all named `_col0`, `_col1`, ... (as
/// Hive before 2.0 wrote ORC) are matched by position, as Hive reads them.
pub(crate) fn declared_mismatches(
    side: Side,
    declared: &DeclaredSchema,
    files: &Schema,
    options: &DiffOptions,
) -> Vec<DeclaredMismatch> {
    let skipped: BTreeSet<String> =
        options.ignore.iter().chain(&declared.partition_keys).map(|c| c.to_lowercase()).collect();
    let mismatch = |column: &str, declared_type: Option<&str>, files_type: Option<String>| DeclaredMismatch {
        side,
        source: declared.source.clone(),
        column: column.to_owned(),
        declared: declared_type.map(str::to_owned),
        files: files_type,
    };
    let positional = !files.fields().is_empty()
        && files.fields().iter().all(|f| f.name().strip_prefix("_col").is_some_and(|n| n.parse::<usize>().is_ok()));
    let file_field = |index: usize, name: &str| {
        if positional {
            files.fields().get(index).map(|f| f.as_ref())
        } else {
            files.fields().iter().map(|f| f.as_ref()).find(|f| f.name().eq_ignore_ascii_case(name))
        }
    };
    let mut found = Vec::new();
    for (index, (name, declared_type)) in declared.columns.iter().enumerate() {
        if skipped.contains(&name.to_lowercase()) {
            continue;
        }
        match file_field(index, name) {
            None => found.push(mismatch(name, Some(declared_type), None)),
            Some(field) => {
                let files_type = logical_type(field.data_type());
                if hive_type(declared_type) != hive_type(&files_type) {
                    found.push(mismatch(name, Some(declared_type), Some(files_type)));
                }
            }
        }
    }
    let declared_names: BTreeSet<String> = declared.columns.iter().map(|(name, _)| name.to_lowercase()).collect();
    for (index, field) in files.fields().iter().enumerate() {
        let undeclared = if positional {
            index >= declared.columns.len()
        } else {
            !declared_names.contains(&field.name().to_lowercase())
        };
        if undeclared && !skipped.contains(&field.name().to_lowercase()) {
            found.push(mismatch(field.name(), None, Some(logical_type(field.data_type()))));
        }
    }
    found
}

/// A Hive type name in the form [`logical_type`] gives: lower case, no spaces, `char(n)` and
/// `varchar(n)` as `string`, `decimal` as `decimal(10,0)`, `integer` as `int`, `real` as `float`.
fn hive_type(name: &str) -> String {
    let text: String = name.chars().filter(|c| !c.is_whitespace()).collect::<String>().to_lowercase();
    let mut out = String::with_capacity(text.len());
    let mut rest = text.as_str();
    while !rest.is_empty() {
        let word_end = rest.find(|c: char| !c.is_ascii_alphanumeric() && c != '_').unwrap_or(rest.len());
        let (word, after) = rest.split_at(word_end);
        if word.is_empty() {
            let mut chars = after.chars();
            out.extend(chars.next());
            rest = chars.as_str();
            continue;
        }
        let arguments = after.strip_prefix('(').and_then(|a| a.find(')').map(|end| (&a[..end], &a[end + 1..])));
        match (word, arguments) {
            ("char" | "varchar", Some((_, after))) => {
                out.push_str("string");
                rest = after;
            }
            ("decimal" | "numeric", Some((arguments, after))) => {
                let (precision, scale) = arguments.split_once(',').unwrap_or((arguments, "0"));
                out.push_str(&format!("decimal({precision},{scale})"));
                rest = after;
            }
            ("decimal" | "numeric", None) if !after.starts_with(':') => {
                out.push_str("decimal(10,0)");
                rest = after;
            }
            _ => {
                out.push_str(match word {
                    "integer" => "int",
                    "real" => "float",
                    other => other,
                });
                rest = after;
            }
        }
    }
    out
}

pub(crate) fn logical_type(data_type: &DataType) -> String {
    use DataType as T;
    match data_type {
        T::Null => "void".to_owned(),
        T::Boolean => "boolean".to_owned(),
        T::Int8 => "tinyint".to_owned(),
        T::Int16 => "smallint".to_owned(),
        T::Int32 => "int".to_owned(),
        T::Int64 => "bigint".to_owned(),
        T::UInt8 | T::UInt16 | T::UInt32 | T::UInt64 => data_type.to_string().to_lowercase(),
        T::Float16 | T::Float32 => "float".to_owned(),
        T::Float64 => "double".to_owned(),
        T::Decimal32(p, s) | T::Decimal64(p, s) | T::Decimal128(p, s) | T::Decimal256(p, s) => {
            format!("decimal({p},{s})")
        }
        T::Utf8 | T::LargeUtf8 | T::Utf8View => "string".to_owned(),
        T::Binary | T::LargeBinary | T::BinaryView | T::FixedSizeBinary(_) => "binary".to_owned(),
        T::Date32 | T::Date64 => "date".to_owned(),
        T::Timestamp(_, None) => "timestamp".to_owned(),
        T::Timestamp(_, Some(_)) => "timestamp with local time zone".to_owned(),
        T::Dictionary(_, value) => logical_type(value),
        T::List(f) | T::LargeList(f) | T::FixedSizeList(f, _) | T::ListView(f) | T::LargeListView(f) => {
            format!("array<{}>", logical_type(f.data_type()))
        }
        T::Map(entries, _) => match entries.data_type() {
            T::Struct(fields) if fields.len() == 2 => {
                format!("map<{},{}>", logical_type(fields[0].data_type()), logical_type(fields[1].data_type()))
            }
            other => format!("map<{other}>"),
        },
        T::Struct(fields) => {
            let inner: Vec<String> =
                fields.iter().map(|f| format!("{}:{}", f.name().to_lowercase(), logical_type(f.data_type()))).collect();
            format!("struct<{}>", inner.join(","))
        }
        other => other.to_string().to_lowercase(),
    }
}

#[cfg(test)]
mod tests {
    use arrow::datatypes::{Field, Fields};

    use super::*;

    fn declared(columns: &[(&str, &str)]) -> DeclaredSchema {
        DeclaredSchema {
            source: "hive://hms:9083/dw/t".to_owned(),
            columns: columns.iter().map(|(n, t)| ((*n).to_owned(), (*t).to_owned())).collect(),
            partition_keys: vec!["dt".to_owned()],
        }
    }

    #[test]
    fn hive_type_names_compare_as_hive_writes_them() {
        assert_eq!(hive_type("DECIMAL(10, 2)"), "decimal(10,2)");
        assert_eq!(hive_type("decimal"), "decimal(10,0)");
        assert_eq!(hive_type("varchar(20)"), "string");
        assert_eq!(hive_type("map<string, array<char(3)>>"), "map<string,array<string>>");
        assert_eq!(hive_type("struct<decimal:int,b:varchar(2)>"), "struct<decimal:int,b:string>");
        assert_eq!(
            hive_type("timestamp with local time zone"),
            hive_type(&logical_type(&DataType::Timestamp(arrow::datatypes::TimeUnit::Nanosecond, Some("UTC".into()))))
        );
    }

    #[test]
    fn files_that_disagree_with_the_declared_schema_are_findings() {
        let files = Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("amount", DataType::Float64, true),
            Field::new("note", DataType::Utf8, true),
            Field::new("tags", DataType::Struct(Fields::from(vec![Field::new("a", DataType::Int32, true)])), true),
            Field::new("dt", DataType::Utf8, true),
        ]);
        let schema = declared(&[
            ("ID", "bigint"),
            ("amount", "decimal(10,2)"),
            ("note", "varchar(10)"),
            ("tags", "struct<a:int>"),
            ("missing", "int"),
        ]);
        let found = declared_mismatches(Side::Candidate, &schema, &files, &DiffOptions::default());
        let summary: Vec<(&str, Option<&str>, Option<&str>)> =
            found.iter().map(|m| (m.column.as_str(), m.declared.as_deref(), m.files.as_deref())).collect();
        assert_eq!(summary, [("amount", Some("decimal(10,2)"), Some("double")), ("missing", Some("int"), None)]);
        assert!(found.iter().all(|m| m.side == Side::Candidate && m.source == "hive://hms:9083/dw/t"));

        let ignoring =
            DiffOptions { ignore: vec!["AMOUNT".to_owned(), "missing".to_owned()], ..DiffOptions::default() };
        assert!(declared_mismatches(Side::Candidate, &schema, &files, &ignoring).is_empty());
    }

    #[test]
    fn positional_orc_columns_are_matched_by_position() {
        let files = Schema::new(vec![
            Field::new("_col0", DataType::Int64, false),
            Field::new("_col1", DataType::Int32, true),
            Field::new("_col2", DataType::Utf8, true),
        ]);
        let found = declared_mismatches(
            Side::Baseline,
            &declared(&[("id", "bigint"), ("qty", "bigint")]),
            &files,
            &DiffOptions::default(),
        );
        let summary: Vec<(&str, Option<&str>, Option<&str>)> =
            found.iter().map(|m| (m.column.as_str(), m.declared.as_deref(), m.files.as_deref())).collect();
        assert_eq!(summary, [("qty", Some("bigint"), Some("int")), ("_col2", None, Some("string"))]);
    }
}
