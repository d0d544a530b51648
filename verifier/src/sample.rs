//! Rows as JSON objects, for samples.
//!
//! Values are rendered by arrow-json: numbers as numbers (decimals keep their digits),
//! timestamps as ISO 8601, lists as arrays, maps and structs as objects, NULL as `null`.

use arrow::array::RecordBatch;
use arrow::json::WriterBuilder;
use arrow::json::writer::JsonArray;
use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// The row `row` of `batch` as a JSON object, column name -> value.
pub(crate) fn row_json(batch: &RecordBatch, row: usize) -> Result<Map<String, Value>> {
    let mut buffer = Vec::new();
    let mut writer = WriterBuilder::new().with_explicit_nulls(true).build::<_, JsonArray>(&mut buffer);
    writer.write(&batch.slice(row, 1))?;
    writer.finish()?;
    let mut rows: Vec<Map<String, Value>> =
        serde_json::from_slice(&buffer).map_err(|e| Error::Internal(format!("arrow-json wrote invalid JSON: {e}")))?;
    rows.pop().ok_or_else(|| Error::Internal("arrow-json wrote no row".to_owned()))
}

/// The first `count` entries of a row: its key columns, which the scan puts first.
pub(crate) fn key_of(row: &Map<String, Value>, count: usize) -> Map<String, Value> {
    row.iter().take(count).map(|(k, v)| (k.clone(), v.clone())).collect()
}
