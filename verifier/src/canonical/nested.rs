//! Encoders of nested values: lists in order, structs by field name, maps as multisets.

use arrow::array::{
    Array, ArrayRef, AsArray, FixedSizeListArray, GenericListArray, MapArray, OffsetSizeTrait, StructArray,
};
use arrow::datatypes::DataType;

use super::{
    Domain, Encode, Encoder, MORE, NULL, NULL_HASH, Sink, VALUE, combine, combine_seeded, encoder, finish, hash_entry,
    hash_rows, write_null,
};
use crate::error::{Error, Result};

/// Lists in order: each element is preceded by [`MORE`], the list ends with [`NULL`].
struct ListEncoder {
    nulls: Option<arrow::buffer::NullBuffer>,
    ranges: Vec<(usize, usize)>,
    item: Encoder,
}

pub(super) fn list_encoder(array: &ArrayRef, item: &Domain) -> Option<Result<Encoder>> {
    fn ranges<O: OffsetSizeTrait>(list: &GenericListArray<O>) -> Vec<(usize, usize)> {
        list.value_offsets().windows(2).map(|w| (w[0].as_usize(), w[1].as_usize())).collect()
    }
    let (ranges, values) = match array.data_type() {
        DataType::List(_) => (ranges(array.as_list::<i32>()), array.as_list::<i32>().values().clone()),
        DataType::LargeList(_) => (ranges(array.as_list::<i64>()), array.as_list::<i64>().values().clone()),
        DataType::FixedSizeList(_, size) => {
            let list: &FixedSizeListArray = array.as_fixed_size_list();
            let size = usize::try_from(*size).ok()?;
            ((0..list.len()).map(|i| (i * size, (i + 1) * size)).collect(), list.values().clone())
        }
        _ => return None,
    };
    Some(
        encoder(&values, item)
            .map(|item| Box::new(ListEncoder { nulls: array.logical_nulls(), ranges, item }) as Encoder),
    )
}

impl Encode for ListEncoder {
    fn encode(&self, row: usize, out: &mut Vec<u8>) {
        if write_null(self.nulls.as_ref(), row, out) {
            return;
        }
        out.push(VALUE);
        let (start, end) = self.ranges[row];
        for index in start..end {
            out.push(MORE);
            self.item.encode(index, out);
        }
        out.push(NULL);
    }

    fn hash(&self, row: usize, scratch: &mut Vec<u8>) -> u128 {
        if self.nulls.as_ref().is_some_and(|n| n.is_null(row)) {
            return NULL_HASH;
        }
        let (start, end) = self.ranges[row];
        let acc = (start..end).fold(LIST_SEED, |acc, index| combine(acc, self.item.hash(index, scratch)));
        finish(combine(acc, (end - start) as u128))
    }

    fn hash_into(&self, len: usize, sink: Sink<'_>, scratch: &mut Vec<u8>) {
        let items = self.ranges[..len].last().map_or(0, |&(_, end)| end);
        let mut item_hashes = Vec::new();
        self.item.hash_all(items, &mut item_hashes, scratch);
        hash_rows(len, self.nulls.as_ref(), sink, |row| {
            let (start, end) = self.ranges[row];
            let acc = item_hashes[start..end].iter().fold(LIST_SEED, |acc, &hash| combine(acc, hash));
            finish(combine(acc, (end - start) as u128))
        });
    }
}

/// Seeds of nested hashes, so that an empty list, an empty map and an empty struct differ.
const LIST_SEED: u128 = 0x6c69_7374;
const STRUCT_SEED: u128 = 0x7374_7275_6374;
const MAP_SEED: u128 = 0x006d_6170;

/// Structs field by field, in lowercased field-name order.
struct StructEncoder {
    nulls: Option<arrow::buffer::NullBuffer>,
    fields: Vec<Encoder>,
}

pub(super) fn struct_encoder(array: &StructArray, domains: &[(String, Domain)]) -> Result<Encoder> {
    let fields = domains
        .iter()
        .map(|(name, domain)| {
            let index = array
                .fields()
                .iter()
                .position(|f| f.name().eq_ignore_ascii_case(name))
                .ok_or_else(|| Error::Internal(format!("struct field `{name}` vanished")))?;
            encoder(array.column(index), domain)
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Box::new(StructEncoder { nulls: array.logical_nulls(), fields }))
}

impl Encode for StructEncoder {
    fn encode(&self, row: usize, out: &mut Vec<u8>) {
        if write_null(self.nulls.as_ref(), row, out) {
            return;
        }
        out.push(VALUE);
        for field in &self.fields {
            field.encode(row, out);
        }
    }

    fn hash(&self, row: usize, scratch: &mut Vec<u8>) -> u128 {
        if self.nulls.as_ref().is_some_and(|n| n.is_null(row)) {
            return NULL_HASH;
        }
        finish(self.fields.iter().fold(STRUCT_SEED, |acc, field| combine(acc, field.hash(row, scratch))))
    }

    fn hash_into(&self, len: usize, sink: Sink<'_>, scratch: &mut Vec<u8>) {
        let mut fields = vec![STRUCT_SEED; len];
        for field in &self.fields {
            field.combine_all(&mut fields, scratch);
        }
        hash_rows(len, self.nulls.as_ref(), sink, |row| finish(fields[row]));
    }
}

/// Maps as multisets: entries are encoded one by one, sorted, then written as a list.
pub(super) struct MapEncoder {
    nulls: Option<arrow::buffer::NullBuffer>,
    offsets: Vec<i32>,
    key: Encoder,
    value: Encoder,
}

impl Encode for MapEncoder {
    fn encode(&self, row: usize, out: &mut Vec<u8>) {
        if write_null(self.nulls.as_ref(), row, out) {
            return;
        }
        let start = usize::try_from(self.offsets[row]).unwrap_or(0);
        let end = usize::try_from(self.offsets[row + 1]).unwrap_or(0);
        let mut entries: Vec<Vec<u8>> = (start..end)
            .map(|index| {
                let mut entry = Vec::new();
                self.key.encode(index, &mut entry);
                self.value.encode(index, &mut entry);
                entry
            })
            .collect();
        entries.sort_unstable();
        out.push(VALUE);
        for entry in entries {
            out.push(MORE);
            out.extend(entry);
        }
        out.push(NULL);
    }

    /// The wrapping sum of the entries' hashes: independent of entry order without sorting.
    fn hash(&self, row: usize, scratch: &mut Vec<u8>) -> u128 {
        if self.nulls.as_ref().is_some_and(|n| n.is_null(row)) {
            return NULL_HASH;
        }
        let start = usize::try_from(self.offsets[row]).unwrap_or(0);
        let end = usize::try_from(self.offsets[row + 1]).unwrap_or(0);
        let sum = (start..end).fold(0u128, |sum, index| {
            sum.wrapping_add(hash_entry(self.key.hash(index, scratch), self.value.hash(index, scratch)))
        });
        finish(combine_seeded(MAP_SEED, sum, (end - start) as u128))
    }

    fn hash_into(&self, len: usize, sink: Sink<'_>, scratch: &mut Vec<u8>) {
        let entries = usize::try_from(self.offsets[len]).unwrap_or(0);
        let (mut keys, mut values) = (Vec::new(), Vec::new());
        self.key.hash_all(entries, &mut keys, scratch);
        self.value.hash_all(entries, &mut values, scratch);
        hash_rows(len, self.nulls.as_ref(), sink, |row| {
            let start = usize::try_from(self.offsets[row]).unwrap_or(0);
            let end = usize::try_from(self.offsets[row + 1]).unwrap_or(0);
            let sum = keys[start..end]
                .iter()
                .zip(&values[start..end])
                .fold(0u128, |sum, (&key, &value)| sum.wrapping_add(hash_entry(key, value)));
            finish(combine_seeded(MAP_SEED, sum, (end - start) as u128))
        });
    }
}

/// The encoder of a map array.
pub(super) fn map_encoder(array: &ArrayRef, key: &Domain, value: &Domain) -> Result<Encoder> {
    let map: &MapArray = array.as_map();
    let entries = map.entries();
    Ok(Box::new(MapEncoder {
        nulls: array.logical_nulls(),
        offsets: map.value_offsets().to_vec(),
        key: encoder(entries.column(0), key)?,
        value: encoder(entries.column(1), value)?,
    }))
}
