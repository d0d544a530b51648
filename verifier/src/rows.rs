//! Rows of a scanned batch as canonical bytes: the key, the row for hashing, and the cells for
//! comparing.
//!
//! Batches come from the scan with the plan's columns in plan order: keys first, then the
//! compared values ([`ColumnPlan::scan_columns`]).

use arrow::array::{Array, AsArray, Float64Array, RecordBatch};
use arrow::buffer::NullBuffer;
use arrow::compute::cast;
use arrow::datatypes::{DataType, Float64Type};

use crate::canonical::{self, Encoder};
use crate::columns::ColumnPlan;
use crate::error::Result;

/// Encoders over one batch.
pub(crate) struct BatchRows {
    keys: Vec<Encoder>,
    /// Values, toleranced columns quantized (for the row hash).
    hashed_values: Vec<Encoder>,
    /// Rows where some key column is NULL (keyed mode only).
    key_nulls: Option<NullBuffer>,
    rows: usize,
}

impl BatchRows {
    /// Encoders for hashing: keys exact, toleranced values quantized.
    pub(crate) fn new(batch: &RecordBatch, plan: &ColumnPlan) -> Result<Self> {
        let key_count = plan.keys.len();
        let hashed_values = plan
            .values
            .iter()
            .enumerate()
            .map(|(i, pair)| {
                let column = batch.column(key_count + i);
                match pair.tolerance {
                    Some(tolerance) => canonical::quantized_encoder(column, tolerance),
                    None => canonical::encoder(column, &pair.domain),
                }
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self { hashed_values, ..Self::keys_only(batch, plan)? })
    }

    /// Encoders for the keys only (the diff pass needs no row hash).
    pub(crate) fn keys_only(batch: &RecordBatch, plan: &ColumnPlan) -> Result<Self> {
        let key_count = plan.keys.len();
        let keys = plan
            .keys
            .iter()
            .enumerate()
            .map(|(i, pair)| canonical::encoder(batch.column(i), &pair.domain))
            .collect::<Result<Vec<_>>>()?;
        let key_nulls = if plan.multiset {
            None
        } else {
            (0..key_count).fold(None, |acc: Option<NullBuffer>, i| {
                NullBuffer::union(acc.as_ref(), batch.column(i).logical_nulls().as_ref())
            })
        };
        Ok(Self { keys, hashed_values: Vec::new(), key_nulls, rows: batch.num_rows() })
    }

    /// Rows in the batch.
    pub(crate) fn len(&self) -> usize {
        self.rows
    }

    /// True when a key column of `row` is NULL (never in multiset mode).
    pub(crate) fn has_null_key(&self, row: usize) -> bool {
        self.key_nulls.as_ref().is_some_and(|n| n.is_null(row))
    }

    /// Appends the key's encoding.
    pub(crate) fn encode_key(&self, row: usize, out: &mut Vec<u8>) {
        for key in &self.keys {
            key.encode(row, out);
        }
    }

    /// Appends the values' encoding for hashing (after the key).
    pub(crate) fn encode_values(&self, row: usize, out: &mut Vec<u8>) {
        for value in &self.hashed_values {
            value.encode(row, out);
        }
    }
}

/// One compared value of a row, as the diff pass compares it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Cell {
    /// Canonical bytes: equal exactly when the values are equal.
    Exact(Vec<u8>),
    /// A toleranced number; `None` is NULL.
    Float(Option<f64>),
}

/// Builds the cells of chosen rows of a batch (value columns only).
pub(crate) fn cells(batch: &RecordBatch, plan: &ColumnPlan, rows: &[usize]) -> Result<Vec<Vec<Cell>>> {
    let key_count = plan.keys.len();
    let mut out: Vec<Vec<Cell>> = rows.iter().map(|_| Vec::with_capacity(plan.values.len())).collect();
    for (i, pair) in plan.values.iter().enumerate() {
        let column = batch.column(key_count + i);
        if pair.tolerance.is_some() {
            let floats = cast(column, &DataType::Float64)?;
            let floats: &Float64Array = floats.as_primitive::<Float64Type>();
            for (cells, &row) in out.iter_mut().zip(rows) {
                cells.push(Cell::Float(floats.is_valid(row).then(|| floats.value(row))));
            }
        } else {
            let encoder = canonical::encoder(column, &pair.domain)?;
            for (cells, &row) in out.iter_mut().zip(rows) {
                let mut bytes = Vec::new();
                encoder.encode(row, &mut bytes);
                cells.push(Cell::Exact(bytes));
            }
        }
    }
    Ok(out)
}

/// Whether two cells of the same column are equal.
pub(crate) fn cells_equal(baseline: &Cell, candidate: &Cell, plan: &ColumnPlan, column: usize) -> bool {
    match (baseline, candidate) {
        (Cell::Exact(b), Cell::Exact(c)) => b == c,
        (Cell::Float(Some(b)), Cell::Float(Some(c))) => {
            let tolerance = plan.values[column].tolerance.unwrap_or_default();
            canonical::within_tolerance(*b, *c, tolerance)
        }
        (Cell::Float(None), Cell::Float(None)) => true,
        _ => false,
    }
}
