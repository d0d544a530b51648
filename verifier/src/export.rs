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

/// The export file, written one round of the diff pass at a time.
pub(crate) struct Export {
    path: String,
    schema: Arc<Schema>,
    columns: [Vec<(String, DataType)>; 2],
    writer: ArrowWriter<std::fs::File>,
}

impl Export {
    /// Creates the Parquet file at `path` for the typed columns of each side.
    pub(crate) fn create(path: &std::path::Path, columns: [Vec<(String, DataType)>; 2]) -> Result<Self> {
        let path = path.display().to_string();
        let schema = schema(&columns);
        let file = std::fs::File::create(&path).map_err(|e| failed(&path, e))?;
        let writer = ArrowWriter::try_new(file, Arc::clone(&schema), None).map_err(|e| failed(&path, e))?;
        Ok(Self { path, schema, columns, writer })
    }

    /// Appends the differing rows of one round.
    pub(crate) fn write(&mut self, rows: &[DifferingRow], baseline: &Retained, candidate: &Retained) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let batch = rows_batch(&self.schema, &self.columns, rows, [baseline, candidate])?;
        self.write_batch(&batch)
    }

    /// Appends rows already in the export's schema.
    pub(crate) fn write_batch(&mut self, batch: &RecordBatch) -> Result<()> {
        self.writer.write(batch).map_err(|e| failed(&self.path, e))
    }

    /// Closes the file.
    pub(crate) fn finish(self) -> Result<()> {
        self.writer.close().map(drop).map_err(|e| failed(&self.path, e))
    }
}

/// The export's schema for the typed columns of each side.
pub(crate) fn schema(columns: &[Vec<(String, DataType)>; 2]) -> Arc<Schema> {
    let mut fields = vec![
        Field::new("kind", DataType::Utf8, false),
        Field::new("changed_columns", DataType::List(Arc::new(Field::new_list_field(DataType::Utf8, true))), false),
    ];
    for (prefix, names) in [("baseline", &columns[0]), ("candidate", &columns[1])] {
        fields.extend(names.iter().map(|(name, t)| Field::new(format!("{prefix}_{name}"), t.clone(), true)));
    }
    Arc::new(Schema::new(fields))
}

/// The export's rows for differing `rows` of one round.
pub(crate) fn rows_batch(
    schema: &Arc<Schema>,
    columns: &[Vec<(String, DataType)>; 2],
    rows: &[DifferingRow],
    [baseline, candidate]: [&Retained; 2],
) -> Result<RecordBatch> {
    let kinds: ArrayRef = Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.kind)));
    let mut changed = ListBuilder::new(StringBuilder::new());
    for row in rows {
        changed.append_value(row.columns.iter().map(Some));
    }
    let mut arrays: Vec<ArrayRef> = vec![kinds, Arc::new(changed.finish())];
    let sides = [
        (baseline, &columns[0], rows.iter().map(|r| r.baseline).collect::<Vec<_>>()),
        (candidate, &columns[1], rows.iter().map(|r| r.candidate).collect::<Vec<_>>()),
    ];
    for (retained, names, picks) in sides {
        for (column, (_, data_type)) in names.iter().enumerate() {
            arrays.push(side_column(retained, column, data_type, &picks)?);
        }
    }
    Ok(RecordBatch::try_new(Arc::clone(schema), arrays)?)
}

fn failed(path: &str, error: impl std::error::Error + Send + Sync + 'static) -> Error {
    Error::Export { path: path.to_owned(), source: Box::new(error) }
}

/// The `column` of each picked retained row, NULL where none is picked.
fn side_column(retained: &Retained, column: usize, data_type: &DataType, picks: &[Option<usize>]) -> Result<ArrayRef> {
    let null = new_null_array(data_type, 1);
    let mut sources: Vec<&dyn Array> = retained.batches.iter().map(|b| b.batch.column(column).as_ref()).collect();
    sources.push(null.as_ref());
    let null_source = sources.len() - 1;
    let indices: Vec<(usize, usize)> =
        picks.iter().map(|p| p.map_or((null_source, 0), |i| retained.location(i))).collect();
    Ok(interleave(&sources, &indices)?)
}
