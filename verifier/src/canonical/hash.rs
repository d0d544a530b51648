//! The hash functions behind `Encode::hash`: values that fit 64 bits through a bijective mix,
//! sequences folded by [`combine`] and closed by the non-linear [`finish`].

use arrow::buffer::NullBuffer;
use xxhash_rust::xxh3::xxh3_128;

/// The hash of NULL, whatever the type.
pub(super) const NULL_HASH: u128 = 0x6e75_6c6c_6e75_6c6c_6e75_6c6c_6e75_6c6c;
/// Odd multiplier of [`combine`].
const COMBINE: u128 = 0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835;

/// Folds the next hash of a sequence into `acc` (order matters). Linear, so every sequence ends
/// with [`finish`].
pub(crate) fn combine(acc: u128, hash: u128) -> u128 {
    acc.wrapping_mul(COMBINE).wrapping_add(hash)
}

/// The non-linear end of a sequence of [`combine`]s: values swapped between rows or elements
/// then change the sum of the hashes of a bucket. A bijection of 128 bits (murmur3's finaliser
/// on each half, each half mixed into the other first), so it loses nothing: the low half is
/// recovered from the new low half and the high half, the high half from the new halves.
pub(crate) fn finish(acc: u128) -> u128 {
    let (low, high) = (acc as u64, (acc >> 64) as u64);
    let low = fmix64(low ^ high.wrapping_mul(0x2545_f491_4f6c_dd1d));
    let high = fmix64(high ^ low.wrapping_mul(0x9e37_79b9_7f4a_7c15));
    (u128::from(high) << 64) | u128::from(low)
}

/// murmur3's 64-bit finaliser: a bijection with full avalanche.
fn fmix64(mut k: u64) -> u64 {
    k ^= k >> 33;
    k = k.wrapping_mul(0xff51_afd7_ed55_8ccd);
    k ^= k >> 33;
    k = k.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    k ^ (k >> 33)
}

/// The hash of a value that fits 64 bits, with a tag (a decimal's scale, say): murmur3's
/// finaliser of the value in the low half, the tag in the high half. Distinct `(value, tag)`
/// pairs never collide, and one finaliser is enough: [`combine`] spreads the low half over all
/// 128 bits of a row's hash. (NULL's hash has other high bits than any tag.)
pub(super) fn hash_u64(value: u64, tag: u64) -> u128 {
    (u128::from(tag) << 64) | u128::from(fmix64(value ^ 0xd6e8_feb8_6659_fd93))
}

/// The hash of a 128-bit integer (with a tag): [`hash_u64`] when it fits 64 bits.
pub(super) fn hash_i128(value: i128, tag: u8) -> u128 {
    match i64::try_from(value) {
        Ok(small) => hash_u64(small.cast_unsigned(), u64::from(tag)),
        Err(_) => {
            let mut bytes = [0u8; 17];
            bytes[..16].copy_from_slice(&value.to_le_bytes());
            bytes[16] = tag;
            xxh3_128(&bytes)
        }
    }
}

/// The hash of a string's or byte string's bytes. Up to 16 bytes (most values) are read as one
/// zero-padded little-endian integer and mixed by [`hash_short`]; longer ones go through
/// xxh3-128.
pub(super) fn hash_bytes(bytes: &[u8]) -> u128 {
    if bytes.len() > 16 {
        return xxh3_128(bytes);
    }
    let mut padded = [0u8; 16];
    padded[..bytes.len()].copy_from_slice(bytes);
    hash_short(u128::from_le_bytes(padded), bytes.len())
}

/// [`hash_bytes`] of `data[start..end]`. A short value is read as the 16 bytes from `start`
/// with those past `end` masked off, when `data` holds 16 bytes there: no copy of a variable
/// length and no branch on it. xxh3's short paths branch on the length, and a column of strings
/// of mixed lengths mispredicts them (strings were a quarter of the fingerprint pass's own time).
pub(super) fn hash_slice(data: &[u8], start: usize, end: usize) -> u128 {
    let len = end - start;
    if len <= 16
        && let Some(window) = data.get(start..start + 16)
    {
        let word = u128::from_le_bytes(window.try_into().unwrap_or_default());
        return hash_short(word & SHORT_MASKS[len], len);
    }
    hash_bytes(&data[start..end])
}

/// `SHORT_MASKS[len]` keeps the low `len` bytes of a 16-byte word (a load, not a 128-bit shift).
const SHORT_MASKS: [u128; 17] = {
    let mut masks = [0u128; 17];
    let mut len = 1;
    while len <= 16 {
        masks[len] = u128::MAX >> (128 - 8 * len);
        len += 1;
    }
    masks
};

/// The hash of up to 16 bytes as a zero-padded integer and their count: for one length, a
/// bijection of the bytes (each step is one), so distinct short values never collide.
fn hash_short(word: u128, len: usize) -> u128 {
    let tag = (len as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0x7374_7269_6e67;
    let low = fmix64(word as u64 ^ tag);
    let high = fmix64((word >> 64) as u64 ^ low.wrapping_mul(0xc2b2_ae3d_27d4_eb4f));
    (u128::from(high) << 64) | u128::from(low.wrapping_add(high.rotate_left(23)))
}

/// The hash of one map entry from its key's and value's hashes, cheaper than a `finish` per
/// entry: a linear part (`key ^ value` rotated) XORed with one exact 64 x 64 -> 128-bit product
/// of their low halves, each XORed with a constant (`a`, `b`). The product makes it non-linear:
/// values swapped between two keys change the products by `(a1 - a2)(b1 - b2)`, which is not
/// zero when the keys differ and the values differ, so the map's sum of entries changes too
/// (unless the linear parts cancel that exactly, a 2^-128 chance for random hashes).
pub(super) fn hash_entry(key: u128, value: u128) -> u128 {
    let product = u128::from(key as u64 ^ 0x243f_6a88_85a3_08d3) * u128::from(value as u64 ^ 0x1319_8a2e_0370_7344);
    product ^ key ^ value.rotate_left(64)
}

/// Where the hashes of a column's values go.
pub(crate) enum Sink<'a> {
    /// Into a vector of their own (cleared first).
    Out(&'a mut Vec<u128>),
    /// Folded into each row's accumulator with [`combine`] (one accumulator per row): no vector
    /// of the column's hashes is written and read back.
    Combine(&'a mut [u128]),
}

/// `hash(row)` for rows `0..len` into `sink`, [`NULL_HASH`] where `nulls` says NULL: the null
/// check leaves the loop when there are no NULLs.
pub(super) fn hash_rows(len: usize, nulls: Option<&NullBuffer>, sink: Sink<'_>, mut hash: impl FnMut(usize) -> u128) {
    let nulls = nulls.filter(|n| n.null_count() > 0);
    let mut value = |row| if nulls.is_some_and(|n| n.is_null(row)) { NULL_HASH } else { hash(row) };
    match (sink, nulls.is_some()) {
        (Sink::Out(out), false) => {
            out.clear();
            out.extend((0..len).map(hash));
        }
        (Sink::Out(out), true) => {
            out.clear();
            out.extend((0..len).map(value));
        }
        (Sink::Combine(acc), false) => {
            for (row, acc) in acc[..len].iter_mut().enumerate() {
                *acc = combine(*acc, hash(row));
            }
        }
        (Sink::Combine(acc), true) => {
            for (row, acc) in acc[..len].iter_mut().enumerate() {
                *acc = combine(*acc, value(row));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_hash_as_their_bytes_wherever_they_lie() {
        let data: Vec<u8> = (0u8..64).map(|b| b.wrapping_mul(37) | 1).collect();
        for start in 0..data.len() {
            for end in start..data.len().min(start + 40) {
                assert_eq!(hash_slice(&data, start, end), hash_bytes(&data[start..end]), "{start}..{end}");
            }
        }
    }

    #[test]
    fn short_values_of_other_lengths_or_bytes_differ() {
        let values: [&[u8]; 8] =
            [b"", b"\0", b"\0\0", b"a", b"a\0", b"abcdefghijklmnop", b"abcdefghijklmnoq", b"abcdefghijklmnopq"];
        let mut hashes: Vec<u128> = values.iter().map(|v| hash_bytes(v)).collect();
        hashes.sort_unstable();
        hashes.dedup();
        assert_eq!(hashes.len(), values.len());
    }

    #[test]
    fn map_entries_are_not_linear_in_key_and_value() {
        let (k1, k2, v1, v2) = (hash_bytes(b"color"), hash_bytes(b"size"), hash_bytes(b"red"), hash_bytes(b"XL"));
        let swapped = hash_entry(k1, v2).wrapping_add(hash_entry(k2, v1));
        assert_ne!(hash_entry(k1, v1).wrapping_add(hash_entry(k2, v2)), swapped);
    }
}
