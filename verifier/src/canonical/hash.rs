//! The hash functions behind `Encode::hash`: values that fit 64 bits through a bijective mix,
//! sequences folded by [`combine`] and closed by the non-linear [`finish`].

use arrow::buffer::NullBuffer;
use xxhash_rust::xxh3::xxh3_128;

/// The hash of NULL, whatever the type.
pub(super) const NULL_HASH: u128 = 0x6e75_6c6c_6e75_6c6c_6e75_6c6c_6e75_6c6c;
/// Odd multiplier of [`combine`]. It fits 64 bits, so the product takes two multiplications
/// (the low half's full product and the high half's low product), not three.
const COMBINE: u128 = 0x9e37_79b9_7f4a_7c15;

/// Folds the next hash of a sequence into `acc` (order matters). Linear, so every sequence ends
/// with [`finish`]. A bijection of `acc` (the multiplier is odd), and the product carries the
/// low half into the high half.
pub(crate) fn combine(acc: u128, hash: u128) -> u128 {
    acc.wrapping_mul(COMBINE).wrapping_add(hash)
}

/// `combine(combine(seed, a), b)` with the seed's part folded at compile time (`seed * COMBINE^2`
/// is a constant): one product fewer for each list and map.
pub(super) const fn combine_seeded(seed: u128, a: u128, b: u128) -> u128 {
    seed.wrapping_mul(COMBINE).wrapping_mul(COMBINE).wrapping_add(a.wrapping_mul(COMBINE)).wrapping_add(b)
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
#[inline]
pub(super) fn hash_i128(value: i128, tag: u8) -> u128 {
    match i64::try_from(value) {
        Ok(small) => hash_u64(small.cast_unsigned(), u64::from(tag)),
        Err(_) => hash_wide(value, tag),
    }
}

/// [`hash_i128`] of a value beyond 64 bits (rare: kept out of the column loops).
#[cold]
fn hash_wide(value: i128, tag: u8) -> u128 {
    let mut bytes = [0u8; 17];
    bytes[..16].copy_from_slice(&value.to_le_bytes());
    bytes[16] = tag;
    xxh3_128(&bytes)
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

/// `SHORT_TAGS[len]`: what marks a short value's length in its hash. Up to 8 bytes, the first is
/// the hash's whole high half (above every tag of [`hash_u64`], and unlike NULL's). From 9 to
/// 16 bytes, both are XORed into the halves of the bytes: odd multiples of the length, so the
/// values of two lengths collide only when their bytes differ by these (random-looking) masks.
const SHORT_TAGS: [[u64; 2]; 17] = {
    let mut tags = [[0u64; 2]; 17];
    let mut len = 0;
    while len <= 16 {
        let n = len as u64;
        tags[len] = if len <= 8 {
            [0x7374_7269_6e67_0000 | n, 0]
        } else {
            [n.wrapping_mul(0x9e37_79b9_7f4a_7c15), n.wrapping_mul(0xc2b2_ae3d_27d4_eb4f) ^ 0x7374_7269_6e67]
        };
        len += 1;
    }
    tags
};

/// The hash of up to 16 bytes as a zero-padded integer and their count, a bijection of the
/// bytes for each length, so distinct short values of one length never collide:
/// - up to 8 bytes (most values): [`hash_u64`] of the bytes, the length's tag in the high half;
/// - 9 to 16 bytes: murmur3's finaliser of each 8-byte half XORed with the length's masks. The
///   two finalisers are independent, so they run side by side.
fn hash_short(word: u128, len: usize) -> u128 {
    let [first, second] = SHORT_TAGS[len];
    let (low, high) = (word as u64, (word >> 64) as u64);
    if len <= 8 {
        return hash_u64(low, first);
    }
    (u128::from(fmix64(high ^ first)) << 64) | u128::from(fmix64(low ^ second))
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
        // Every length has its own tag, on both sides of the 8-byte boundary and with the same
        // bytes padded by zeros.
        let mut values: Vec<Vec<u8>> = (0..=16).flat_map(|len| [vec![0u8; len], vec![b'x'; len]]).collect();
        values.extend([&b"abcdefgh"[..], b"abcdefgh\0", b"abcdefghi", b"abcdefghi\0"].map(<[u8]>::to_vec));
        let mut hashes: Vec<u128> = values.iter().map(|v| hash_bytes(v)).collect();
        hashes.sort_unstable();
        hashes.dedup();
        assert_eq!(hashes.len(), values.len() - 1, "the empty value is listed twice");
    }

    #[test]
    fn map_entries_are_not_linear_in_key_and_value() {
        let (k1, k2, v1, v2) = (hash_bytes(b"color"), hash_bytes(b"size"), hash_bytes(b"red"), hash_bytes(b"XL"));
        let swapped = hash_entry(k1, v2).wrapping_add(hash_entry(k2, v1));
        assert_ne!(hash_entry(k1, v1).wrapping_add(hash_entry(k2, v2)), swapped);
    }
}
