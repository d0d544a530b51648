//! Toleranced numbers: a coarse encoding for the row hash, and the comparison itself.

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Float64Type};

use super::{Encode, Encoder, NULL, VALUE, sortable_f64};
use crate::error::Result;
use crate::spec::Tolerance;

/// Encodes a toleranced float column coarsely, for the row hash only: two values that are *not*
/// within the tolerance always land in different quanta, so a bucket holding such a difference
/// always has a different digest. Values within the tolerance may still straddle a quantum
/// boundary; their bucket is then compared exactly, with the tolerance, in the diff pass.
struct QuantizedEncoder {
    values: arrow::array::Float64Array,
    tolerance: Tolerance,
}

/// The coarse encoder of a toleranced column (see [`QuantizedEncoder`]).
pub(crate) fn quantized_encoder(array: &ArrayRef, tolerance: Tolerance) -> Result<Encoder> {
    let values = cast(array, &DataType::Float64)?.as_primitive::<Float64Type>().clone();
    Ok(Box::new(QuantizedEncoder { values, tolerance }))
}

impl Encode for QuantizedEncoder {
    fn encode(&self, row: usize, out: &mut Vec<u8>) {
        if self.values.is_null(row) {
            out.push(NULL);
            return;
        }
        out.push(VALUE);
        out.extend(quantum(self.values.value(row), self.tolerance).to_be_bytes());
    }
}

/// The quantum of `value`. With an absolute tolerance `a`, quanta are `a` wide, so values more
/// than `a` apart never share one. With only a relative tolerance `r`, quanta are
/// `-ln(1 - r)` wide on a log scale of the magnitude, so values more than `r` apart relatively
/// never share one. Either bound alone is safe when both are given (a value pair must break
/// both to differ). NaN, infinities and zero get quanta of their own.
pub(super) fn quantum(value: f64, tolerance: Tolerance) -> i128 {
    const NAN: i128 = i128::MAX;
    const POSITIVE_INFINITY: i128 = i128::MAX - 1;
    const NEGATIVE_INFINITY: i128 = i128::MIN;
    if value.is_nan() {
        return NAN;
    }
    if value.is_infinite() {
        return if value > 0.0 { POSITIVE_INFINITY } else { NEGATIVE_INFINITY };
    }
    match (tolerance.absolute, tolerance.relative) {
        (Some(absolute), _) if absolute > 0.0 => (value / absolute).floor() as i128,
        (_, Some(relative)) if relative > 0.0 => {
            if value == 0.0 {
                return 0;
            }
            let width = if relative < 1.0 { -(1.0 - relative).ln() } else { f64::INFINITY };
            let magnitude = (value.abs().ln() / width).floor() as i128;
            // Keep the sign apart; magnitudes are offset so that no quantum is 0 (zero's).
            let offset = magnitude.saturating_add(1 << 64);
            if value > 0.0 { offset } else { -offset }
        }
        _ => i128::from(u64::from_be_bytes(sortable_f64(value))),
    }
}

/// Whether two floats are equal under `tolerance` (Python's `math.isclose`, plus NaN = NaN).
pub(crate) fn within_tolerance(baseline: f64, candidate: f64, tolerance: Tolerance) -> bool {
    if baseline.is_nan() || candidate.is_nan() {
        return baseline.is_nan() && candidate.is_nan();
    }
    if baseline == candidate {
        return true;
    }
    if baseline.is_infinite() || candidate.is_infinite() {
        return false;
    }
    let difference = (baseline - candidate).abs();
    let absolute = tolerance.absolute.unwrap_or(0.0);
    let relative = tolerance.relative.unwrap_or(0.0) * baseline.abs().max(candidate.abs());
    difference <= absolute.max(relative)
}
