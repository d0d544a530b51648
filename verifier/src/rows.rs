//! Rows of a scanned batch as canonical values: the key's bytes, the row hash (values hashed
//! column by column), and the values compared by the diff pass.
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
use crate::spec::Tolerance;

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

    /// Rows where a key column is NULL (none in multiset mode).
    pub(crate) fn null_key_count(&self) -> usize {
        self.key_nulls.as_ref().map_or(0, NullBuffer::null_count)
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

    /// The 128-bit hash of each row's key into `out`: the key columns' value hashes
    /// (`Encode::combine_all`, a column at a time), folded in key order and finished. Its low half
    /// is the key hash that picks the row's bucket in both passes; the whole seeds the row hash.
    /// NULL keys hash too (as NULL), but callers set those rows apart.
    pub(crate) fn hash_keys(&self, out: &mut Vec<u128>, scratch: &mut Vec<u8>) {
        out.clear();
        out.resize(self.rows, KEY_SEED);
        for key in &self.keys {
            key.combine_all(out, scratch);
        }
        for hash in out.iter_mut() {
            *hash = canonical::finish(*hash);
        }
    }

    /// Folds each value column's hashes into the rows' accumulators, column by column (one
    /// downcast array at a time, no row encoding). `acc` starts as each row's key hash.
    pub(crate) fn combine_values(&self, acc: &mut [u128], scratch: &mut Vec<u8>) {
        for value in &self.hashed_values {
            value.combine_all(acc, scratch);
        }
    }

    /// Appends each row's finished 128-bit row hash to `out`: the fingerprint pass's row hash.
    pub(crate) fn extend_row_hashes(&self, out: &mut Vec<u128>) {
        let (mut acc, mut scratch) = (Vec::new(), Vec::new());
        self.hash_keys(&mut acc, &mut scratch);
        self.combine_values(&mut acc, &mut scratch);
        out.extend(acc.into_iter().map(canonical::finish));
    }

    /// The encoded keys of all rows, one after the other into `out`, each ending at the offset
    /// pushed to `ends` (a column at a time when the key has one column).
    pub(crate) fn encode_keys(&self, out: &mut Vec<u8>, ends: &mut Vec<usize>) {
        out.clear();
        ends.clear();
        if let [key] = self.keys.as_slice() {
            key.encode_all(self.rows, out, ends);
            return;
        }
        for row in 0..self.rows {
            self.encode_key(row, out);
            ends.push(out.len());
        }
    }
}

/// Seed of every key's hash.
const KEY_SEED: u128 = 0x006b_6579;

/// The compared values of one batch, encoded when asked: the diff pass keeps batches, not cells,
/// so that a retained row costs its Arrow bytes and no more.
pub(crate) struct BatchValues {
    columns: Vec<ValueColumn>,
}

enum ValueColumn {
    /// Canonical bytes on demand.
    Exact(Encoder),
    /// A toleranced number as f64.
    Float(Float64Array),
}

impl BatchValues {
    /// The value columns of a scanned batch (keys first, then values, as planned).
    pub(crate) fn new(batch: &RecordBatch, plan: &ColumnPlan) -> Result<Self> {
        let key_count = plan.keys.len();
        let columns = plan
            .values
            .iter()
            .enumerate()
            .map(|(i, pair)| {
                let column = batch.column(key_count + i);
                Ok(match pair.tolerance {
                    Some(_) => {
                        ValueColumn::Float(cast(column, &DataType::Float64)?.as_primitive::<Float64Type>().clone())
                    }
                    None => ValueColumn::Exact(canonical::encoder(column, &pair.domain)?),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self { columns })
    }

    /// A byte string that orders rows by their canonical values (toleranced numbers by value).
    pub(crate) fn sort_key(&self, row: usize) -> Vec<u8> {
        let mut key = Vec::new();
        for column in &self.columns {
            match column {
                ValueColumn::Exact(encoder) => encoder.encode(row, &mut key),
                ValueColumn::Float(floats) if floats.is_null(row) => key.push(0),
                ValueColumn::Float(floats) => {
                    key.push(1);
                    key.extend(canonical::sortable_f64(floats.value(row)));
                }
            }
        }
        key
    }

    /// Whether value column `column` of `row` equals that of `other_row` in `other`, with the
    /// column's tolerance; `scratch` holds the two encodings.
    pub(crate) fn equal(
        &self,
        column: usize,
        row: usize,
        other: &BatchValues,
        other_row: usize,
        tolerance: Option<Tolerance>,
        scratch: &mut [Vec<u8>; 2],
    ) -> bool {
        match (&self.columns[column], &other.columns[column]) {
            (ValueColumn::Exact(mine), ValueColumn::Exact(theirs)) => {
                let [a, b] = scratch;
                a.clear();
                b.clear();
                mine.encode(row, a);
                theirs.encode(other_row, b);
                a == b
            }
            (ValueColumn::Float(mine), ValueColumn::Float(theirs)) => {
                match (mine.is_valid(row), theirs.is_valid(other_row)) {
                    (true, true) => canonical::within_tolerance(
                        mine.value(row),
                        theirs.value(other_row),
                        tolerance.unwrap_or_default(),
                    ),
                    (valid, other_valid) => valid == other_valid,
                }
            }
            _ => false,
        }
    }
}
