//! What a file's footer says about each top-level column, as an inventory compares it: values
//! that are not NULL, the minimum, the maximum and, where the format keeps one, the sum.
//!
//! Bounds are normalised so that two writers' statistics of the same values are equal: integers
//! and decimals are exact numbers without trailing zeros (`10.50` is `10.5`, an `int` 5 is a
//! `decimal(10,2)` 5.00), floats are widened to `f64`, timestamps are milliseconds since the
//! epoch in UTC (the unit ORC's statistics keep; finer units are floored), dates are days. A
//! statistic a writer did not keep (no statistics at all, a truncated string bound, a float's
//! order-dependent sum) is `None`: not comparable, never different.

use std::cmp::Ordering;
use std::fmt;

use arrow::array::{Array, ArrayRef};
use arrow::datatypes::Schema;
use datafusion::scalar::ScalarValue;
use orc_rust::reader::metadata::FileMetadata;
use orc_rust::statistics::TypeStatistics;
use parquet::arrow::arrow_reader::statistics::StatisticsConverter;
use parquet::file::metadata::ParquetMetaData;

/// An exact number: `unscaled * 10^-scale`, with no trailing zero in `unscaled` when `scale > 0`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Number {
    unscaled: i128,
    scale: u32,
}

impl Number {
    /// `unscaled * 10^-scale`, normalised (a negative scale multiplies).
    pub(crate) fn new(unscaled: i128, scale: i32) -> Option<Self> {
        if scale < 0 {
            let factor = 10i128.checked_pow(scale.unsigned_abs())?;
            return Some(Self { unscaled: unscaled.checked_mul(factor)?, scale: 0 });
        }
        let mut number = Self { unscaled, scale: scale.unsigned_abs() };
        while number.scale > 0 && number.unscaled % 10 == 0 {
            number.unscaled /= 10;
            number.scale -= 1;
        }
        Some(number)
    }

    pub(crate) fn integer(value: i128) -> Self {
        Self { unscaled: value, scale: 0 }
    }

    /// A decimal as ORC's statistics write it: `-12.3400`, `7`, `.5`. `None` for anything else.
    pub(crate) fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        let (negative, digits) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text.strip_prefix('+').unwrap_or(text)),
        };
        let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
        if whole.is_empty() && fraction.is_empty() || !whole.bytes().chain(fraction.bytes()).all(|b| b.is_ascii_digit())
        {
            return None;
        }
        let mut unscaled: i128 = 0;
        for digit in whole.bytes().chain(fraction.bytes()) {
            unscaled = unscaled.checked_mul(10)?.checked_add(i128::from(digit - b'0'))?;
        }
        let scale = i32::try_from(fraction.len()).ok()?;
        Self::new(if negative { -unscaled } else { unscaled }, scale)
    }

    /// Both numbers at the larger scale, or `None` when that overflows.
    fn aligned(self, other: Self) -> Option<(i128, i128, u32)> {
        let scale = self.scale.max(other.scale);
        let at = |n: Self| n.unscaled.checked_mul(10i128.checked_pow(scale - n.scale)?);
        Some((at(self)?, at(other)?, scale))
    }

    fn checked_add(self, other: Self) -> Option<Self> {
        let (a, b, scale) = self.aligned(other)?;
        Self::new(a.checked_add(b)?, i32::try_from(scale).ok()?)
    }

    fn approximate(self) -> f64 {
        // Precision is lost only beyond 2^53, where `aligned` has overflowed anyway.
        #[allow(clippy::cast_precision_loss)]
        let value = self.unscaled as f64 / 10f64.powi(i32::try_from(self.scale).unwrap_or(i32::MAX));
        value
    }
}

impl Ord for Number {
    fn cmp(&self, other: &Self) -> Ordering {
        match self.aligned(*other) {
            Some((a, b, _)) => a.cmp(&b),
            None => self.approximate().total_cmp(&other.approximate()),
        }
    }
}

impl PartialOrd for Number {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let digits = self.unscaled.unsigned_abs().to_string();
        let sign = if self.unscaled < 0 { "-" } else { "" };
        let scale = self.scale as usize;
        if scale == 0 {
            return write!(f, "{sign}{digits}");
        }
        let padded = format!("{digits:0>width$}", width = scale + 1);
        let (whole, fraction) = padded.split_at(padded.len() - scale);
        write!(f, "{sign}{whole}.{fraction}")
    }
}

/// A minimum, maximum or sum, normalised across writers.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Bound {
    /// Integers and decimals.
    Number(Number),
    /// Floats, widened to `f64`; never NaN.
    Float(f64),
    Text(String),
    Bool(bool),
    /// Days since 1970-01-01.
    Date(i32),
    /// Milliseconds since 1970-01-01T00:00:00 UTC.
    Timestamp(i64),
}

impl Bound {
    /// The order of two bounds of the same kind; `None` for different kinds (an integer column
    /// retyped as a double), which cannot be compared.
    pub(crate) fn compare(&self, other: &Self) -> Option<Ordering> {
        match (self, other) {
            (Self::Number(a), Self::Number(b)) => Some(a.cmp(b)),
            (Self::Float(a), Self::Float(b)) => a.partial_cmp(b),
            (Self::Text(a), Self::Text(b)) => Some(a.cmp(b)),
            (Self::Bool(a), Self::Bool(b)) => Some(a.cmp(b)),
            (Self::Date(a), Self::Date(b)) => Some(a.cmp(b)),
            (Self::Timestamp(a), Self::Timestamp(b)) => Some(a.cmp(b)),
            _ => None,
        }
    }

    fn float(value: f64) -> Option<Self> {
        (!value.is_nan()).then_some(Self::Float(value))
    }

    fn timestamp(value: i64, per_milli: i64) -> Self {
        Self::Timestamp(value.div_euclid(per_milli))
    }

    /// The bound of an Arrow statistics value (a Parquet row group's minimum or maximum).
    fn from_scalar(value: ScalarValue) -> Option<Self> {
        use ScalarValue as S;
        let number = |value: i128| Some(Self::Number(Number::integer(value)));
        match value {
            S::Int8(Some(v)) => number(v.into()),
            S::Int16(Some(v)) => number(v.into()),
            S::Int32(Some(v)) => number(v.into()),
            S::Int64(Some(v)) => number(v.into()),
            S::UInt8(Some(v)) => number(v.into()),
            S::UInt16(Some(v)) => number(v.into()),
            S::UInt32(Some(v)) => number(v.into()),
            S::UInt64(Some(v)) => number(v.into()),
            S::Decimal32(Some(v), _, scale) => Number::new(v.into(), scale.into()).map(Self::Number),
            S::Decimal64(Some(v), _, scale) => Number::new(v.into(), scale.into()).map(Self::Number),
            S::Decimal128(Some(v), _, scale) => Number::new(v, scale.into()).map(Self::Number),
            S::Float32(Some(v)) => Self::float(v.into()),
            S::Float64(Some(v)) => Self::float(v),
            S::Utf8(Some(v)) | S::LargeUtf8(Some(v)) | S::Utf8View(Some(v)) => Some(Self::Text(v)),
            S::Boolean(Some(v)) => Some(Self::Bool(v)),
            S::Date32(Some(v)) => Some(Self::Date(v)),
            S::TimestampSecond(Some(v), _) => v.checked_mul(1000).map(Self::Timestamp),
            S::TimestampMillisecond(Some(v), _) => Some(Self::Timestamp(v)),
            S::TimestampMicrosecond(Some(v), _) => Some(Self::timestamp(v, 1000)),
            S::TimestampNanosecond(Some(v), _) => Some(Self::timestamp(v, 1_000_000)),
            _ => None,
        }
    }
}

impl fmt::Display for Bound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Number(n) => n.fmt(f),
            Self::Float(v) => v.fmt(f),
            Self::Text(s) => write!(f, "{s:?}"),
            Self::Bool(b) => b.fmt(f),
            Self::Date(days) => match chrono::NaiveDate::from_num_days_from_ce_opt(days.saturating_add(719_163)) {
                Some(date) => date.fmt(f),
                None => write!(f, "day {days}"),
            },
            Self::Timestamp(ms) => match chrono::DateTime::from_timestamp_millis(*ms) {
                Some(at) => write!(f, "{}", at.format("%Y-%m-%d %H:%M:%S%.3f")),
                None => write!(f, "{ms} ms"),
            },
        }
    }
}

/// One column's footer statistics, in one file or merged over a partition's files.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct ColumnSummary {
    /// Values that are not NULL; `None`: the writer kept no statistics.
    pub(crate) values: Option<u64>,
    pub(crate) min: Option<Bound>,
    pub(crate) max: Option<Bound>,
    /// Integers, decimals: the sum; strings and binaries: their total length (ORC); booleans:
    /// how many are true (ORC).
    pub(crate) sum: Option<Bound>,
}

impl ColumnSummary {
    /// A column a file does not have: its rows read as NULLs.
    pub(crate) const ABSENT: Self = Self { values: Some(0), min: None, max: None, sum: None };

    /// The statistics of two sets of rows together: a set without values adds nothing; a bound
    /// unknown on either side is unknown.
    pub(crate) fn merge(self, other: Self) -> Self {
        if self.values == Some(0) {
            return other;
        }
        if other.values == Some(0) {
            return self;
        }
        let pick = |a: Option<Bound>, b: Option<Bound>, keep: Ordering| {
            let (a, b) = (a?, b?);
            match a.compare(&b)? {
                order if order == keep.reverse() => Some(b),
                _ => Some(a),
            }
        };
        let sum = match (self.sum, other.sum) {
            (Some(Bound::Number(a)), Some(Bound::Number(b))) => a.checked_add(b).map(Bound::Number),
            _ => None,
        };
        Self {
            values: self.values.zip(other.values).map(|(a, b)| a + b),
            min: pick(self.min, other.min, Ordering::Less),
            max: pick(self.max, other.max, Ordering::Greater),
            sum,
        }
    }
}

/// The statistics of an ORC file's top-level columns, by name. A column missing from the map
/// has no statistics (orc-rust's own writer keeps none).
pub(crate) fn orc(metadata: &FileMetadata) -> Vec<(String, ColumnSummary)> {
    super::footer::orc_columns(metadata)
        .map(|(name, found)| {
            let values = found.number_of_values();
            let number = |n: i64| Some(Bound::Number(Number::integer(n.into())));
            let decimal = |text: &str| Number::parse(text).map(Bound::Number);
            let (min, max, sum) = match found.type_statistics() {
                Some(TypeStatistics::Integer { min, max, sum }) => (number(*min), number(*max), sum.and_then(number)),
                // A float sum depends on the order of addition: not comparable across writers.
                Some(TypeStatistics::Double { min, max, .. }) => (Bound::float(*min), Bound::float(*max), None),
                Some(TypeStatistics::String { lower_bound, upper_bound, sum, is_exact_min, is_exact_max }) => (
                    is_exact_min.then(|| Bound::Text(lower_bound.clone())),
                    is_exact_max.then(|| Bound::Text(upper_bound.clone())),
                    number(*sum),
                ),
                Some(TypeStatistics::Decimal { min, max, sum }) => (decimal(min), decimal(max), decimal(sum)),
                Some(TypeStatistics::Date { min, max }) => (Some(Bound::Date(*min)), Some(Bound::Date(*max)), None),
                Some(TypeStatistics::Timestamp { min_utc, max_utc, .. }) => {
                    (Some(Bound::Timestamp(*min_utc)), Some(Bound::Timestamp(*max_utc)), None)
                }
                Some(TypeStatistics::Bucket { true_count }) => {
                    (None, None, i64::try_from(*true_count).ok().and_then(number))
                }
                Some(TypeStatistics::Binary { sum }) => (None, None, number(*sum)),
                Some(TypeStatistics::Collection { .. }) | None => (None, None, None),
            };
            (name.to_owned(), ColumnSummary { values: Some(values), min, max, sum })
        })
        .collect()
}

/// The statistics of a Parquet file's top-level primitive columns, by name, from its row groups'
/// statistics (`schema`: the file's Arrow schema). Nested columns keep their statistics per leaf,
/// which say nothing comparable about the column: they are left out (not comparable).
pub(crate) fn parquet(metadata: &ParquetMetaData, schema: &Schema) -> Vec<(String, ColumnSummary)> {
    let groups = metadata.row_groups();
    let descriptor = metadata.file_metadata().schema_descr();
    schema
        .fields()
        .iter()
        .filter(|field| !field.data_type().is_nested())
        .filter_map(|field| {
            let converter = StatisticsConverter::try_new(field.name(), schema, descriptor).ok()?;
            let nulls = converter.row_group_null_counts(groups).ok()?;
            let mins = converter.row_group_mins(groups).ok()?;
            let maxes = converter.row_group_maxes(groups).ok()?;
            let min_exact = converter.row_group_is_min_value_exact(groups).ok()?;
            let max_exact = converter.row_group_is_max_value_exact(groups).ok()?;
            let bound = |array: &ArrayRef, exact: &arrow::array::BooleanArray, index: usize| {
                if array.is_null(index) || !exact.is_valid(index) || !exact.value(index) {
                    return None;
                }
                Bound::from_scalar(ScalarValue::try_from_array(array, index).ok()?)
            };
            let summary = groups.iter().enumerate().fold(ColumnSummary::ABSENT, |total, (index, group)| {
                let rows = u64::try_from(group.num_rows()).unwrap_or(0);
                let values = nulls.is_valid(index).then(|| rows.saturating_sub(nulls.value(index)));
                let this = ColumnSummary {
                    values,
                    min: bound(&mins, &min_exact, index),
                    max: bound(&maxes, &max_exact, index),
                    sum: None,
                };
                total.merge(this)
            });
            Some((field.name().clone(), summary))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_normalised_compared_and_added_exactly() {
        let n = |text: &str| Number::parse(text).unwrap();
        assert_eq!(n("10.50"), n("10.5"));
        assert_eq!(n("10.50").to_string(), "10.5");
        assert_eq!(n("-0.0500").to_string(), "-0.05");
        assert_eq!(n(".5").to_string(), "0.5");
        assert_eq!(n("7").to_string(), "7");
        assert_eq!(Number::new(1050, 2), Number::new(105, 1));
        assert_eq!(Number::new(5, -2).unwrap().to_string(), "500");
        assert!(n("9.99") < n("10"));
        assert!(n("-1.5") < n("-1.25"));
        assert_eq!(n("0.25").checked_add(n("0.75")), Some(n("1")));
        for bad in ["", "-", "1e5", "1.2.3", "abc", "."] {
            assert_eq!(Number::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn merging_keeps_the_extremes_and_unknown_stays_unknown() {
        let number = |v: i128| Some(Bound::Number(Number::integer(v)));
        let a = ColumnSummary { values: Some(2), min: number(1), max: number(5), sum: number(6) };
        let b = ColumnSummary { values: Some(1), min: number(-3), max: number(-3), sum: number(-3) };
        let merged = a.clone().merge(b);
        assert_eq!(merged, ColumnSummary { values: Some(3), min: number(-3), max: number(5), sum: number(3) });
        assert_eq!(a.clone().merge(ColumnSummary::ABSENT), a);
        assert_eq!(ColumnSummary::ABSENT.merge(a.clone()), a);
        let unknown = a.clone().merge(ColumnSummary::default());
        assert_eq!(unknown, ColumnSummary::default());
        let other_kind = ColumnSummary { values: Some(1), min: Bound::float(1.0), max: Bound::float(1.0), sum: None };
        assert_eq!(a.merge(other_kind).min, None);
    }

    #[test]
    fn timestamps_are_floored_to_milliseconds() {
        let at = |value| Bound::from_scalar(value).unwrap();
        assert_eq!(at(ScalarValue::TimestampMicrosecond(Some(1_500), None)), Bound::Timestamp(1));
        assert_eq!(at(ScalarValue::TimestampMicrosecond(Some(-1), None)), Bound::Timestamp(-1));
        assert_eq!(at(ScalarValue::TimestampNanosecond(Some(2_999_999), Some("UTC".into()))), Bound::Timestamp(2));
        assert_eq!(at(ScalarValue::TimestampSecond(Some(3), None)), Bound::Timestamp(3000));
        assert_eq!(Bound::Timestamp(0).to_string(), "1970-01-01 00:00:00.000");
        assert_eq!(Bound::Date(19_844).to_string(), "2024-05-01");
        assert_eq!(Bound::from_scalar(ScalarValue::Float64(Some(f64::NAN))), None);
    }
}
