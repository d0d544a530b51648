//! Canonical values: the one definition of "equal" that hashing and comparing share.
//!
//! Every compared value is encoded to bytes such that two values are equal under DESIGN.md's
//! semantics exactly when their encodings are equal: integers of any width and decimals of any
//! scale by value (10.50 = 10.5), float32 widened to float64, NaN = NaN, -0.0 = 0.0,
//! timestamps of any unit and zone as UTC instants, dates as days, strings optionally without
//! trailing spaces, lists in order, structs field by field by name, and maps as unordered
//! multisets of entries. NULL is its own tag, never a sentinel value.
//!
//! Encodings are self-delimiting (so a row's columns can be concatenated unambiguously) and,
//! for integers, floats, dates, timestamps and strings, sort in value order, so that samples
//! ordered by encoded key come out in key order.
//!
//! Hashing follows the encoding: `Encode::hash` is a function of the canonical value alone, so
//! equal values hash equal (a unit test checks it across Arrow types); common types hash the
//! value directly instead of writing its bytes out.
//!
//! The [`Domain`] of a column pair is decided once from both sides' Arrow types; each batch
//! column then gets an [`Encoder`] that downcasts its array once.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray};
use arrow::buffer::ScalarBuffer;
use arrow::compute::cast;
use arrow::datatypes::{ArrowNativeType, DataType, Fields, Float64Type, Int64Type, TimeUnit};

use xxhash_rust::xxh3::xxh3_128;

use crate::error::{Error, Result};

mod hash;
mod nested;
#[cfg(test)]
mod speed;
mod tolerance;

use hash::{NULL_HASH, Sink, combine_seeded, hash_bytes, hash_entry, hash_i128, hash_rows, hash_slice, hash_u64};
pub(crate) use hash::{combine, finish};
pub(crate) use tolerance::{quantized_encoder, within_tolerance};

/// Tag of a NULL value. Sorts before any value.
const NULL: u8 = 0;
/// Tag of a present value.
const VALUE: u8 = 1;
/// Marks another element of a list or map; the sequence ends with [`NULL`].
const MORE: u8 = 1;

/// What a column pair is compared as, after type normalisation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Domain {
    /// Only NULLs on both sides (Arrow's Null type).
    Null,
    Boolean,
    /// Integers of any width and decimals of any scale, by value.
    Exact,
    /// Floats (float32 widened), or a float compared with an exact number.
    Float,
    /// Strings; `trim` drops trailing spaces (CHAR(n) padding).
    String {
        trim: bool,
    },
    Binary,
    /// Days since the epoch.
    Date,
    /// UTC instants in nanoseconds.
    Timestamp,
    /// Time of day in nanoseconds.
    Time,
    /// Durations in nanoseconds.
    Duration,
    /// Elements in order.
    List(Box<Domain>),
    /// Fields by lowercased name, in name order.
    Struct(Vec<(String, Domain)>),
    /// Unordered entries.
    Map(Box<Domain>, Box<Domain>),
}

impl Domain {
    /// The domain two columns are compared in, or `None` when their types cannot be compared.
    pub(crate) fn unify(baseline: &DataType, candidate: &DataType, trim: bool) -> Option<Domain> {
        use DataType as T;
        match (baseline, candidate) {
            (T::Dictionary(_, inner), other) | (other, T::Dictionary(_, inner)) => Self::unify(inner, other, trim),
            (T::Null, T::Null) => Some(Domain::Null),
            (T::Null, other) | (other, T::Null) => Self::unify(other, other, trim),
            (b, c) if is_exact(b) && is_exact(c) => Some(Domain::Exact),
            (b, c) if (is_exact(b) || is_float(b)) && (is_exact(c) || is_float(c)) => Some(Domain::Float),
            (T::Boolean, T::Boolean) => Some(Domain::Boolean),
            (b, c) if is_string(b) && is_string(c) => Some(Domain::String { trim }),
            (b, c) if is_binary(b) && is_binary(c) => Some(Domain::Binary),
            (T::Date32 | T::Date64, T::Date32 | T::Date64) => Some(Domain::Date),
            (T::Timestamp(..), T::Timestamp(..)) => Some(Domain::Timestamp),
            (T::Time32(_) | T::Time64(_), T::Time32(_) | T::Time64(_)) => Some(Domain::Time),
            (T::Duration(_), T::Duration(_)) => Some(Domain::Duration),
            (T::Map(b, _), T::Map(c, _)) => {
                let (bk, bv) = map_fields(b.data_type())?;
                let (ck, cv) = map_fields(c.data_type())?;
                let key = Self::unify(&bk, &ck, trim)?;
                let value = Self::unify(&bv, &cv, trim)?;
                Some(Domain::Map(Box::new(key), Box::new(value)))
            }
            (T::Struct(b), T::Struct(c)) => unify_struct(b, c, trim),
            (b, c) => {
                let inner = Self::unify(list_item(b)?, list_item(c)?, trim)?;
                Some(Domain::List(Box::new(inner)))
            }
        }
    }

    /// True for numbers (tolerances apply to them).
    pub(crate) fn is_numeric(&self) -> bool {
        matches!(self, Domain::Exact | Domain::Float)
    }
}

fn is_exact(t: &DataType) -> bool {
    t.is_integer()
        || matches!(
            t,
            DataType::Decimal32(..) | DataType::Decimal64(..) | DataType::Decimal128(..) | DataType::Decimal256(..)
        )
}

fn is_float(t: &DataType) -> bool {
    t.is_floating()
}

fn is_string(t: &DataType) -> bool {
    matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)
}

fn is_binary(t: &DataType) -> bool {
    matches!(t, DataType::Binary | DataType::LargeBinary | DataType::BinaryView | DataType::FixedSizeBinary(_))
}

fn list_item(t: &DataType) -> Option<&DataType> {
    match t {
        DataType::List(f)
        | DataType::LargeList(f)
        | DataType::FixedSizeList(f, _)
        | DataType::ListView(f)
        | DataType::LargeListView(f) => Some(f.data_type()),
        _ => None,
    }
}

fn map_fields(entries: &DataType) -> Option<(DataType, DataType)> {
    match entries {
        DataType::Struct(fields) if fields.len() == 2 => {
            Some((fields[0].data_type().clone(), fields[1].data_type().clone()))
        }
        _ => None,
    }
}

fn unify_struct(baseline: &Fields, candidate: &Fields, trim: bool) -> Option<Domain> {
    if baseline.len() != candidate.len() {
        return None;
    }
    let mut fields = baseline
        .iter()
        .map(|b| {
            let c = candidate.iter().find(|c| c.name().eq_ignore_ascii_case(b.name()))?;
            Some((b.name().to_lowercase(), Domain::unify(b.data_type(), c.data_type(), trim)?))
        })
        .collect::<Option<Vec<_>>>()?;
    fields.sort_by(|a, b| a.0.cmp(&b.0));
    Some(Domain::Struct(fields))
}

/// Writes the canonical encoding of one row's value, and hashes it.
pub(crate) trait Encode: Send {
    /// Appends the encoding of the value at `row` to `out`.
    fn encode(&self, row: usize, out: &mut Vec<u8>);

    /// A 128-bit hash of the value at `row`: a function of its canonical encoding alone, so
    /// equal values hash equal. The default hashes the encoding (in `scratch`); encoders of
    /// common types hash the canonical value directly, without writing it out.
    fn hash(&self, row: usize, scratch: &mut Vec<u8>) -> u128 {
        scratch.clear();
        self.encode(row, scratch);
        xxh3_128(scratch)
    }

    /// `hash` of rows `0..len`, into `sink`. One call per column instead of one per value: in
    /// an implementation's copy of this method, `hash` is a static call that inlines. Nested
    /// encoders hash their children a column at a time too.
    fn hash_into(&self, len: usize, sink: Sink<'_>, scratch: &mut Vec<u8>) {
        hash_rows(len, None, sink, |row| self.hash(row, scratch));
    }

    /// `hash` of rows `0..len`, into `out` (cleared first).
    fn hash_all(&self, len: usize, out: &mut Vec<u128>, scratch: &mut Vec<u8>) {
        self.hash_into(len, Sink::Out(out), scratch);
    }

    /// Folds each row's `hash` into its accumulator: `acc[row] = combine(acc[row], hash(row))`.
    fn combine_all(&self, acc: &mut [u128], scratch: &mut Vec<u8>) {
        self.hash_into(acc.len(), Sink::Combine(acc), scratch);
    }

    /// The encodings of rows `0..len`, one after the other into `out`, each ending at the
    /// offset pushed to `ends`.
    fn encode_all(&self, len: usize, out: &mut Vec<u8>, ends: &mut Vec<usize>) {
        for row in 0..len {
            self.encode(row, out);
            ends.push(out.len());
        }
    }
}

/// An [`Encode`] over one array.
pub(crate) type Encoder = Box<dyn Encode>;

/// Builds the encoder of `array` in `domain`.
pub(crate) fn encoder(array: &ArrayRef, domain: &Domain) -> Result<Encoder> {
    let array = match array.data_type() {
        DataType::Dictionary(_, value) => cast(array, value)?,
        DataType::Utf8View | DataType::LargeUtf8 => cast(array, &DataType::Utf8)?,
        DataType::BinaryView | DataType::LargeBinary | DataType::FixedSizeBinary(_) => cast(array, &DataType::Binary)?,
        _ => Arc::clone(array),
    };
    let unsupported = || Error::Internal(format!("no {domain:?} encoder for {}", array.data_type()));
    Ok(match domain {
        Domain::Null => Box::new(NullEncoder),
        Domain::Boolean => Box::new(BooleanEncoder(array.as_boolean().clone())),
        Domain::Exact => exact_encoder(&array).ok_or_else(unsupported)?,
        Domain::Float => {
            Box::new(FloatEncoder(cast(&array, &DataType::Float64)?.as_primitive::<Float64Type>().clone()))
        }
        Domain::String { trim } => Box::new(StringEncoder { array: array.as_string::<i32>().clone(), trim: *trim }),
        Domain::Binary => Box::new(BinaryEncoder(array.as_binary::<i32>().clone())),
        Domain::Date => Box::new(IntegerEncoder::new(&array, date_days(&array)?)),
        Domain::Timestamp | Domain::Time | Domain::Duration => {
            Box::new(IntegerEncoder::new(&array, nanoseconds(&array).ok_or_else(unsupported)?))
        }
        Domain::List(item) => nested::list_encoder(&array, item).ok_or_else(unsupported)??,
        Domain::Struct(fields) => nested::struct_encoder(array.as_struct(), fields)?,
        Domain::Map(key, value) => nested::map_encoder(&array, key, value)?,
    })
}

struct NullEncoder;

impl Encode for NullEncoder {
    fn encode(&self, _row: usize, out: &mut Vec<u8>) {
        out.push(NULL);
    }
}

struct BooleanEncoder(BooleanArray);

impl Encode for BooleanEncoder {
    fn encode(&self, row: usize, out: &mut Vec<u8>) {
        if self.0.is_null(row) {
            out.push(NULL);
        } else {
            out.extend([VALUE, u8::from(self.0.value(row))]);
        }
    }

    fn hash(&self, row: usize, _: &mut Vec<u8>) -> u128 {
        if self.0.is_null(row) { NULL_HASH } else { hash_u64(u64::from(self.0.value(row)), 0) }
    }
}

/// Integers and decimals as `(mantissa, scale)` with trailing zeros of the fraction removed.
struct ExactEncoder {
    nulls: Option<arrow::buffer::NullBuffer>,
    mantissas: Mantissas,
    scale: i8,
}

/// Mantissas as read: integers stay 64-bit (no copy for Int64), decimals widen to 128 bits.
enum Mantissas {
    Int(arrow::array::Int64Array),
    Wide(ScalarBuffer<i128>),
}

impl Mantissas {
    fn get(&self, row: usize) -> i128 {
        match self {
            Mantissas::Int(values) => i128::from(values.value(row)),
            Mantissas::Wide(values) => values[row],
        }
    }
}

fn exact_encoder(array: &ArrayRef) -> Option<Encoder> {
    use DataType as T;
    let (mantissas, scale) = match array.data_type() {
        T::Decimal128(_, s) => {
            (Mantissas::Wide(array.as_primitive::<arrow::datatypes::Decimal128Type>().values().clone()), *s)
        }
        T::Decimal32(_, s) | T::Decimal64(_, s) => {
            let widened = cast(array, &T::Decimal128(38, *s)).ok()?;
            (Mantissas::Wide(widened.as_primitive::<arrow::datatypes::Decimal128Type>().values().clone()), *s)
        }
        T::Decimal256(_, s) => {
            let values = array.as_primitive::<arrow::datatypes::Decimal256Type>();
            // Values beyond 128 bits map to the extreme; 38-digit decimals (ORC's maximum) fit.
            let mantissas: Vec<i128> = values
                .values()
                .iter()
                .map(|v| v.to_i128().unwrap_or(if v.is_negative() { i128::MIN } else { i128::MAX }))
                .collect();
            (Mantissas::Wide(ScalarBuffer::from(mantissas)), *s)
        }
        T::UInt64 => {
            let values = array.as_primitive::<arrow::datatypes::UInt64Type>().values();
            (Mantissas::Wide(values.iter().map(|&v| i128::from(v)).collect()), 0)
        }
        t if t.is_integer() => {
            let widened = cast(array, &T::Int64).ok()?;
            (Mantissas::Int(widened.as_primitive::<Int64Type>().clone()), 0)
        }
        _ => return None,
    };
    Some(Box::new(ExactEncoder { nulls: array.logical_nulls(), mantissas, scale }))
}

impl Encode for ExactEncoder {
    fn encode(&self, row: usize, out: &mut Vec<u8>) {
        if write_null(self.nulls.as_ref(), row, out) {
            return;
        }
        let (mantissa, scale) = normalize_decimal(self.mantissas.get(row), self.scale);
        out.push(VALUE);
        out.extend(sortable_i128(mantissa));
        out.push(scale.cast_unsigned() ^ 0x80);
    }

    fn hash(&self, row: usize, _: &mut Vec<u8>) -> u128 {
        if self.nulls.as_ref().is_some_and(|n| n.is_null(row)) {
            return NULL_HASH;
        }
        let (mantissa, scale) = match &self.mantissas {
            Mantissas::Int(values) => (i128::from(values.value(row)), 0),
            Mantissas::Wide(values) => normalize_decimal(values[row], self.scale),
        };
        hash_i128(mantissa, scale.cast_unsigned())
    }

    fn hash_into(&self, len: usize, sink: Sink<'_>, _: &mut Vec<u8>) {
        let nulls = self.nulls.as_ref();
        match &self.mantissas {
            Mantissas::Int(values) => {
                let values = values.values();
                hash_rows(len, nulls, sink, |row| hash_u64(values[row].cast_unsigned(), 0));
            }
            Mantissas::Wide(values) => hash_rows(len, nulls, sink, |row| {
                let (mantissa, scale) = normalize_decimal(values[row], self.scale);
                hash_i128(mantissa, scale.cast_unsigned())
            }),
        }
    }
}

/// Writes the NULL tag when `row` is NULL in `nulls`; true when it did.
pub(crate) fn write_null(nulls: Option<&arrow::buffer::NullBuffer>, row: usize, out: &mut Vec<u8>) -> bool {
    let null = nulls.is_some_and(|n| n.is_null(row));
    if null {
        out.push(NULL);
    }
    null
}

/// Removes trailing zeros of the fraction (and expands negative scales) so that each number has
/// exactly one representation: 10.50 (1050, 2) -> (105, 1); 100 (100, 0) stays.
pub(crate) fn normalize_decimal(mut mantissa: i128, mut scale: i8) -> (i128, i8) {
    while scale < 0 {
        match mantissa.checked_mul(10) {
            Some(m) => {
                mantissa = m;
                scale += 1;
            }
            None => break,
        }
    }
    // In 64 bits when the mantissa fits: 128-bit division is a slow library call.
    if let Ok(mut small) = i64::try_from(mantissa) {
        while scale > 0 && small % 10 == 0 {
            small /= 10;
            scale -= 1;
        }
        return (i128::from(small), if small == 0 { 0 } else { scale });
    }
    while scale > 0 && mantissa % 10 == 0 {
        mantissa /= 10;
        scale -= 1;
    }
    if mantissa == 0 {
        scale = 0;
    }
    (mantissa, scale)
}

fn sortable_i128(value: i128) -> [u8; 16] {
    (value.cast_unsigned() ^ (1u128 << 127)).to_be_bytes()
}

struct FloatEncoder(arrow::array::Float64Array);

impl Encode for FloatEncoder {
    fn encode(&self, row: usize, out: &mut Vec<u8>) {
        if self.0.is_null(row) {
            out.push(NULL);
        } else {
            out.push(VALUE);
            out.extend(sortable_f64(self.0.value(row)));
        }
    }

    fn hash(&self, row: usize, _: &mut Vec<u8>) -> u128 {
        if self.0.is_null(row) { NULL_HASH } else { hash_u64(u64::from_be_bytes(sortable_f64(self.0.value(row))), 0) }
    }

    fn hash_into(&self, len: usize, sink: Sink<'_>, _: &mut Vec<u8>) {
        let values = self.0.values();
        hash_rows(len, self.0.nulls(), sink, |row| hash_u64(u64::from_be_bytes(sortable_f64(values[row])), 0));
    }
}

/// Order-preserving bits of a float, with every NaN the same and -0.0 equal to 0.0.
pub(crate) fn sortable_f64(value: f64) -> [u8; 8] {
    let value = if value.is_nan() {
        f64::NAN
    } else if value == 0.0 {
        0.0
    } else {
        value
    };
    let bits = value.to_bits();
    let bits = if bits >> 63 == 1 { !bits } else { bits | (1 << 63) };
    bits.to_be_bytes()
}

struct StringEncoder {
    array: arrow::array::StringArray,
    trim: bool,
}

impl Encode for StringEncoder {
    fn encode(&self, row: usize, out: &mut Vec<u8>) {
        if self.array.is_null(row) {
            out.push(NULL);
            return;
        }
        let value = self.array.value(row);
        let value = if self.trim { value.trim_end_matches(' ') } else { value };
        out.push(VALUE);
        escape_bytes(value.as_bytes(), out);
    }

    fn hash(&self, row: usize, _: &mut Vec<u8>) -> u128 {
        if self.array.is_null(row) {
            return NULL_HASH;
        }
        let value = self.array.value(row);
        hash_bytes(if self.trim { value.trim_end_matches(' ') } else { value }.as_bytes())
    }

    fn hash_into(&self, len: usize, sink: Sink<'_>, _: &mut Vec<u8>) {
        let (offsets, bytes) = (self.array.value_offsets(), self.array.value_data());
        let bounds = |row: usize| (offsets[row].as_usize(), offsets[row + 1].as_usize());
        if self.trim {
            hash_rows(len, self.array.nulls(), sink, |row| {
                let (start, end) = bounds(row);
                hash_slice(bytes, start, start + trim_spaces(&bytes[start..end]).len())
            });
        } else {
            hash_rows(len, self.array.nulls(), sink, |row| {
                let (start, end) = bounds(row);
                hash_slice(bytes, start, end)
            });
        }
    }
}

struct BinaryEncoder(arrow::array::BinaryArray);

impl Encode for BinaryEncoder {
    fn encode(&self, row: usize, out: &mut Vec<u8>) {
        if self.0.is_null(row) {
            out.push(NULL);
        } else {
            out.push(VALUE);
            escape_bytes(self.0.value(row), out);
        }
    }

    fn hash(&self, row: usize, _: &mut Vec<u8>) -> u128 {
        if self.0.is_null(row) { NULL_HASH } else { hash_bytes(self.0.value(row)) }
    }
}

/// `bytes` without trailing spaces (as `str::trim_end_matches(' ')`).
fn trim_spaces(bytes: &[u8]) -> &[u8] {
    &bytes[..bytes.iter().rposition(|&byte| byte != b' ').map_or(0, |last| last + 1)]
}

/// Self-delimiting and order-preserving: 0x00 becomes 0x00 0xFF, the end is 0x00 0x00.
fn escape_bytes(bytes: &[u8], out: &mut Vec<u8>) {
    // Zero bytes are rare in real strings: copy in one piece unless one is there (memchr).
    if bytes.contains(&0) {
        for &byte in bytes {
            out.push(byte);
            if byte == 0 {
                out.push(0xFF);
            }
        }
    } else {
        out.extend_from_slice(bytes);
    }
    out.extend([0, 0]);
}

/// Dates, timestamps, times and durations, as integers in a common unit: `values[row] * factor`
/// (nanoseconds from seconds, say). The values stay 64-bit as read (no copy for nanoseconds), and
/// in the common unit already (`factor` 1) they hash as 64-bit integers with no 128-bit product.
struct IntegerEncoder {
    nulls: Option<arrow::buffer::NullBuffer>,
    values: ScalarBuffer<i64>,
    factor: i64,
}

impl IntegerEncoder {
    fn new(array: &ArrayRef, (values, factor): (ScalarBuffer<i64>, i64)) -> Self {
        Self { nulls: array.logical_nulls(), values, factor }
    }

    fn value(&self, row: usize) -> i128 {
        i128::from(self.values[row]) * i128::from(self.factor)
    }
}

impl Encode for IntegerEncoder {
    fn encode(&self, row: usize, out: &mut Vec<u8>) {
        if !write_null(self.nulls.as_ref(), row, out) {
            out.push(VALUE);
            out.extend(sortable_i128(self.value(row)));
        }
    }

    fn hash(&self, row: usize, _: &mut Vec<u8>) -> u128 {
        if self.nulls.as_ref().is_some_and(|n| n.is_null(row)) { NULL_HASH } else { hash_i128(self.value(row), 0) }
    }

    fn hash_into(&self, len: usize, sink: Sink<'_>, _: &mut Vec<u8>) {
        let values = &self.values;
        if self.factor == 1 {
            // `hash_i128` of a value that fits 64 bits.
            hash_rows(len, self.nulls.as_ref(), sink, |row| hash_u64(values[row].cast_unsigned(), 0));
        } else {
            hash_rows(len, self.nulls.as_ref(), sink, |row| hash_i128(self.value(row), 0));
        }
    }
}

/// Days since the epoch.
fn date_days(array: &ArrayRef) -> Result<(ScalarBuffer<i64>, i64)> {
    let days: ScalarBuffer<i64> = match array.data_type() {
        DataType::Date64 => {
            let millis = array.as_primitive::<arrow::datatypes::Date64Type>();
            millis.values().iter().map(|&ms| ms.div_euclid(86_400_000)).collect()
        }
        _ => {
            let days = cast(array, &DataType::Date32)?;
            days.as_primitive::<arrow::datatypes::Date32Type>().values().iter().map(|&d| i64::from(d)).collect()
        }
    };
    Ok((days, 1))
}

/// Timestamps (their stored values are UTC whatever the zone), times and durations, with the
/// factor to nanoseconds.
fn nanoseconds(array: &ArrayRef) -> Option<(ScalarBuffer<i64>, i64)> {
    let unit = match array.data_type() {
        DataType::Timestamp(unit, _) | DataType::Time32(unit) | DataType::Time64(unit) | DataType::Duration(unit) => {
            *unit
        }
        _ => return None,
    };
    let factor = match unit {
        TimeUnit::Second => 1_000_000_000,
        TimeUnit::Millisecond => 1_000_000,
        TimeUnit::Microsecond => 1_000,
        TimeUnit::Nanosecond => 1,
    };
    // A reinterpretation of the buffer for 64-bit types (no copy).
    let as_int64 = match array.data_type() {
        DataType::Time32(_) => cast(&cast(array, &DataType::Int32).ok()?, &DataType::Int64).ok()?,
        _ => cast(array, &DataType::Int64).ok()?,
    };
    Some((as_int64.as_primitive::<Int64Type>().values().clone(), factor))
}

#[cfg(test)]
mod tests {
    use super::tolerance::quantum;
    use super::*;
    use crate::spec::Tolerance;
    use arrow::array::{Decimal128Array, Int8Array, Int64Array, StringArray};
    use proptest::prelude::*;

    fn encode_all(array: ArrayRef, domain: &Domain) -> Vec<Vec<u8>> {
        let encoder = encoder(&array, domain).unwrap();
        (0..array.len())
            .map(|row| {
                let mut out = Vec::new();
                encoder.encode(row, &mut out);
                out
            })
            .collect()
    }

    /// Every pair of values across `a` and `b` (same domain, any Arrow types): equal encodings
    /// exactly when equal hashes.
    fn assert_hashes_follow_encodings(a: ArrayRef, b: ArrayRef, domain: &Domain) {
        let (ea, eb) = (encoder(&a, domain).unwrap(), encoder(&b, domain).unwrap());
        let mut scratch = Vec::new();
        for (array, encoder) in [(&a, &ea), (&b, &eb)] {
            let mut all = Vec::new();
            encoder.hash_all(array.len(), &mut all, &mut scratch);
            let each: Vec<u128> = (0..array.len()).map(|row| encoder.hash(row, &mut scratch)).collect();
            assert_eq!(all, each, "{domain:?}: hash_all of {:?}", array.data_type());
            let mut folded = vec![7u128; array.len()];
            encoder.combine_all(&mut folded, &mut scratch);
            let expected: Vec<u128> = each.iter().map(|&hash| combine(7, hash)).collect();
            assert_eq!(folded, expected, "{domain:?}: combine_all of {:?}", array.data_type());
        }
        for i in 0..a.len() {
            for j in 0..b.len() {
                let (mut x, mut y) = (Vec::new(), Vec::new());
                ea.encode(i, &mut x);
                eb.encode(j, &mut y);
                let (hx, hy) = (ea.hash(i, &mut scratch), eb.hash(j, &mut scratch));
                assert_eq!(
                    x == y,
                    hx == hy,
                    "{domain:?}: row {i} of {:?} and row {j} of {:?}",
                    a.data_type(),
                    b.data_type()
                );
            }
        }
    }

    #[test]
    fn hashes_are_equal_exactly_when_encodings_are() {
        use arrow::array::{
            Float32Array, Float64Array, MapBuilder, StringBuilder, TimestampMicrosecondArray, TimestampNanosecondArray,
        };
        let ints: ArrayRef = Arc::new(Int8Array::from(vec![Some(10), None, Some(-3), Some(0)]));
        let decimals: ArrayRef = Arc::new(
            Decimal128Array::from(vec![
                Some(1000),
                Some(1050),
                None,
                Some(-300),
                Some(0),
                Some(i128::from(i64::MAX) * 1000),
            ])
            .with_precision_and_scale(38, 2)
            .unwrap(),
        );
        assert_hashes_follow_encodings(ints, decimals, &Domain::Exact);
        let f32s: ArrayRef = Arc::new(Float32Array::from(vec![Some(0.5), Some(-0.0), Some(f32::NAN), None]));
        let f64s: ArrayRef =
            Arc::new(Float64Array::from(vec![Some(0.5), Some(0.0), Some(-f64::NAN), None, Some(0.25)]));
        assert_hashes_follow_encodings(f32s, f64s, &Domain::Float);
        let strings: ArrayRef = Arc::new(StringArray::from(vec![Some("a "), Some("a"), Some(""), None, Some("NULL")]));
        assert_hashes_follow_encodings(Arc::clone(&strings), Arc::clone(&strings), &Domain::String { trim: true });
        assert_hashes_follow_encodings(Arc::clone(&strings), strings, &Domain::String { trim: false });
        let micros: ArrayRef = Arc::new(TimestampMicrosecondArray::from(vec![Some(1_000), None, Some(2)]));
        let nanos: ArrayRef = Arc::new(TimestampNanosecondArray::from(vec![Some(1_000_000), Some(2_000), None]));
        assert_hashes_follow_encodings(micros, nanos, &Domain::Timestamp);
        // Maps: entries in any order; an empty map is not NULL.
        let map = |rows: &[Option<&[(&str, &str)]>]| -> ArrayRef {
            let mut builder = MapBuilder::new(None, StringBuilder::new(), StringBuilder::new());
            for row in rows {
                if let Some(entries) = row {
                    for (k, v) in *entries {
                        builder.keys().append_value(k);
                        builder.values().append_value(v);
                    }
                }
                builder.append(row.is_some()).unwrap();
            }
            Arc::new(builder.finish())
        };
        let string = Domain::String { trim: false };
        let domain = Domain::Map(Box::new(string.clone()), Box::new(string));
        let b = map(&[Some(&[("a", "1"), ("b", "2")]), Some(&[]), None, Some(&[("a", "2"), ("b", "1")])]);
        let c = map(&[Some(&[("b", "2"), ("a", "1")]), None, Some(&[]), Some(&[("a", "1")])]);
        assert_hashes_follow_encodings(b.slice(1, 3), Arc::clone(&c), &domain);
        assert_hashes_follow_encodings(b, c, &domain);
        // Lists in order, structs by field, and slices (offsets that do not start at zero).
        let lists: ArrayRef =
            Arc::new(arrow::array::ListArray::from_iter_primitive::<arrow::datatypes::Int32Type, _, _>(vec![
                Some(vec![Some(1), None]),
                None,
                Some(vec![]),
                Some(vec![Some(1), None]),
                Some(vec![None, Some(1)]),
            ]));
        assert_hashes_follow_encodings(Arc::clone(&lists), lists.slice(1, 4), &Domain::List(Box::new(Domain::Exact)));
        // Long lists, and a NULL list over a range that is not empty, as Arrow allows.
        let long: ArrayRef = Arc::new(arrow::array::ListArray::new(
            Arc::new(arrow::datatypes::Field::new_list_field(DataType::Int64, true)),
            arrow::buffer::OffsetBuffer::new(ScalarBuffer::from(vec![0i32, 40, 41, 81, 100, 140])),
            Arc::new(Int64Array::from_iter_values((0..100).chain(0..40))),
            Some(arrow::buffer::NullBuffer::from(vec![true, true, false, true, true])),
        ));
        assert_hashes_follow_encodings(Arc::clone(&long), long.slice(1, 4), &Domain::List(Box::new(Domain::Exact)));
        let field = |name: &str, data_type| Arc::new(arrow::datatypes::Field::new(name, data_type, true));
        let structs: ArrayRef = Arc::new(arrow::array::StructArray::from(vec![
            (
                field("a", DataType::Int32),
                Arc::new(arrow::array::Int32Array::from(vec![Some(1), Some(1), None])) as ArrayRef,
            ),
            (
                field("B", DataType::Utf8),
                Arc::new(StringArray::from(vec![Some("x"), Some("y"), Some("x")])) as ArrayRef,
            ),
        ]));
        let domain =
            Domain::Struct(vec![("a".to_owned(), Domain::Exact), ("b".to_owned(), Domain::String { trim: false })]);
        assert_hashes_follow_encodings(Arc::clone(&structs), structs.slice(1, 2), &domain);
    }

    #[test]
    fn decimals_normalise_to_one_representation() {
        assert_eq!(normalize_decimal(1050, 2), (105, 1));
        assert_eq!(normalize_decimal(10500, 3), (105, 1));
        assert_eq!(normalize_decimal(100, 0), (100, 0));
        assert_eq!(normalize_decimal(0, 5), (0, 0));
        assert_eq!(normalize_decimal(-110, 2), (-11, 1));
        assert_eq!(normalize_decimal(7, -2), (700, 0));
    }

    #[test]
    fn integers_and_decimals_encode_equal_by_value() {
        let ints = encode_all(Arc::new(Int8Array::from(vec![Some(10), None, Some(-3)])), &Domain::Exact);
        let longs = encode_all(Arc::new(Int64Array::from(vec![Some(10), None, Some(-3)])), &Domain::Exact);
        let decimals =
            Decimal128Array::from(vec![Some(1000), None, Some(-300)]).with_precision_and_scale(10, 2).unwrap();
        let decimals = encode_all(Arc::new(decimals), &Domain::Exact);
        assert_eq!(ints, longs);
        assert_eq!(ints, decimals);
        assert_eq!(ints[1], [NULL], "NULL is a tag, not a value");
        assert!(ints[2] < ints[0], "integers sort by value");
    }

    #[test]
    fn floats_encode_nan_once_and_negative_zero_as_zero_in_order() {
        assert_eq!(sortable_f64(-0.0), sortable_f64(0.0));
        assert_eq!(sortable_f64(f64::NAN), sortable_f64(-f64::NAN));
        let ordered = [f64::NEG_INFINITY, -2.5, -1e-300, 0.0, 1e-300, 3.0, f64::INFINITY];
        for pair in ordered.windows(2) {
            assert!(sortable_f64(pair[0]) < sortable_f64(pair[1]), "{pair:?}");
        }
    }

    #[test]
    fn strings_are_self_delimiting_and_trim_only_on_request() {
        let array: ArrayRef = Arc::new(StringArray::from(vec!["a\0b", "a", "ab  "]));
        let plain = encode_all(Arc::clone(&array), &Domain::String { trim: false });
        assert_eq!(plain[0], [VALUE, b'a', 0, 0xFF, b'b', 0, 0]);
        assert!(plain[1] < plain[0], "prefixes sort first");
        let trimmed = encode_all(array, &Domain::String { trim: true });
        assert_eq!(trimmed[2], [VALUE, b'a', b'b', 0, 0]);
    }

    #[test]
    fn domains_unify_by_kind_not_width() {
        use DataType as T;
        assert_eq!(Domain::unify(&T::Int32, &T::Decimal128(10, 2), false), Some(Domain::Exact));
        assert_eq!(Domain::unify(&T::Float32, &T::Decimal128(10, 2), false), Some(Domain::Float));
        assert_eq!(Domain::unify(&T::Utf8, &T::LargeUtf8, true), Some(Domain::String { trim: true }));
        assert_eq!(
            Domain::unify(
                &T::Timestamp(TimeUnit::Millisecond, None),
                &T::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())),
                false
            ),
            Some(Domain::Timestamp)
        );
        assert_eq!(Domain::unify(&T::Utf8, &T::Int64, false), None);
        assert_eq!(Domain::unify(&T::Date32, &T::Timestamp(TimeUnit::Second, None), false), None);
    }

    #[test]
    fn tolerance_matches_math_isclose() {
        let absolute = Tolerance { absolute: Some(0.01), relative: None };
        let relative = Tolerance { absolute: None, relative: Some(0.001) };
        assert!(within_tolerance(1.0, 1.005, absolute));
        assert!(!within_tolerance(1.0, 1.02, absolute));
        assert!(within_tolerance(1000.0, 1000.9, relative));
        assert!(!within_tolerance(1.0, 1.01, relative));
        assert!(within_tolerance(f64::NAN, f64::NAN, absolute));
        assert!(!within_tolerance(f64::NAN, 0.0, absolute));
        assert!(within_tolerance(f64::INFINITY, f64::INFINITY, absolute));
        assert!(!within_tolerance(f64::INFINITY, 1e308, relative));
    }

    fn tolerance() -> impl Strategy<Value = Tolerance> {
        prop_oneof![
            (1e-6f64..10.0).prop_map(|a| Tolerance { absolute: Some(a), relative: None }),
            (1e-6f64..0.5).prop_map(|r| Tolerance { absolute: None, relative: Some(r) }),
            (1e-6f64..10.0, 1e-6f64..0.5).prop_map(|(a, r)| Tolerance { absolute: Some(a), relative: Some(r) }),
        ]
    }

    fn value() -> impl Strategy<Value = f64> {
        prop_oneof![
            -1e6f64..1e6,
            -2.0f64..2.0,
            Just(0.0),
            Just(-0.0),
            Just(f64::NAN),
            Just(f64::INFINITY),
            Just(f64::NEG_INFINITY)
        ]
    }

    proptest! {
        /// The fingerprint pass relies on this: values outside the tolerance never share a
        /// quantum, so a real difference always changes the bucket digest.
        #[test]
        fn values_outside_the_tolerance_never_share_a_quantum(a in value(), b in value(), offset in -20.0f64..20.0, tolerance in tolerance()) {
            for (x, y) in [(a, b), (a, a + offset), (a, a * (1.0 + offset / 100.0))] {
                if !within_tolerance(x, y, tolerance) {
                    prop_assert_ne!(quantum(x, tolerance), quantum(y, tolerance), "{} and {} under {:?}", x, y, tolerance);
                }
            }
        }
    }
}
