//! `--export`: every differing row as Parquet, for analysts.
//!
//! One row per finding: `kind` (`only_in_baseline`, `only_in_candidate`, `changed`),
//! `changed_columns` (baseline names), then every compared column of each side with its own
//! type, prefixed `baseline_` and `candidate_`, NULL where that side has no row. Typed columns,
//! not JSON strings, so that any Parquet tool can filter and aggregate them.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, ListBuilder, RecordBatch, StringArray, StringBuilder, new_null_array};
use arrow::compute::interleave;
use arrow::datatypes::{DataType, Field, Schema};
use parquet::arrow::ArrowWriter;

use crate::diff::{DifferingRow, Retained};
use crate::error::{Error, Result};

/// Writes the differing rows to a Parquet file at `path`.
pub(crate) fn write(
    path: &std::path::Path,
    rows: &[DifferingRow],
    baseline: &Retained,
    candidate: &Retained,
    columns: [&[(String, DataType)]; 2],
) -> Result<()> {
    let failed = |reason: String| Error::Export { path: path.display().to_string(), reason };
    let batch = build(rows, baseline, candidate, columns)?;
    let file = std::fs::File::create(path).map_err(|e| failed(e.to_string()))?;
    let mut writer = ArrowWriter::try_new(file, batch.schema(), None).map_err(|e| failed(e.to_string()))?;
    writer.write(&batch).map_err(|e| failed(e.to_string()))?;
    writer.close().map_err(|e| failed(e.to_string()))?;
    Ok(())
}

fn build(
    rows: &[DifferingRow],
    baseline: &Retained,
    candidate: &Retained,
    [baseline_names, candidate_names]: [&[(String, DataType)]; 2],
) -> Result<RecordBatch> {
    let kinds: ArrayRef = Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.kind)));
    let mut changed = ListBuilder::new(StringBuilder::new());
    for row in rows {
        changed.append_value(row.columns.iter().map(Some));
    }
    let mut fields = vec![
        Field::new("kind", DataType::Utf8, false),
        Field::new("changed_columns", DataType::List(Arc::new(Field::new_list_field(DataType::Utf8, true))), false),
    ];
    let mut arrays: Vec<ArrayRef> = vec![kinds, Arc::new(changed.finish())];
    let sides = [
        ("baseline", baseline, baseline_names, rows.iter().map(|r| r.baseline).collect::<Vec<_>>()),
        ("candidate", candidate, candidate_names, rows.iter().map(|r| r.candidate).collect::<Vec<_>>()),
    ];
    for (prefix, retained, names, picks) in sides {
        for (column, (name, data_type)) in names.iter().enumerate() {
            fields.push(Field::new(format!("{prefix}_{name}"), data_type.clone(), true));
            arrays.push(side_column(retained, column, data_type, &picks)?);
        }
    }
    Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)?)
}

/// The `column` of each picked retained row, NULL where none is picked.
fn side_column(retained: &Retained, column: usize, data_type: &DataType, picks: &[Option<usize>]) -> Result<ArrayRef> {
    let null = new_null_array(data_type, 1);
    let mut sources: Vec<&dyn Array> = retained.batches.iter().map(|b| b.column(column).as_ref()).collect();
    sources.push(null.as_ref());
    let null_source = sources.len() - 1;
    let indices: Vec<(usize, usize)> =
        picks.iter().map(|p| p.map_or((null_source, 0), |i| retained.location(i))).collect();
    Ok(interleave(&sources, &indices)?)
}
