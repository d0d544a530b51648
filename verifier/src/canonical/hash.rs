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
/// then change the sum of the hashes of a bucket. A bijection of 128 bits (two rounds of
/// murmur3's finaliser, each half feeding the other), so it loses nothing.
pub(crate) fn finish(acc: u128) -> u128 {
    let (low, high) = (acc as u64, (acc >> 64) as u64);
    let low = fmix64(low ^ fmix64(high ^ 0x2545_f491_4f6c_dd1d));
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

/// The hash of a value that fits 64 bits, with a tag (a decimal's scale, say). For one tag the
/// low half is a bijection of the value: distinct values of a column never collide.
pub(super) fn hash_u64(value: u64, tag: u64) -> u128 {
    let low = fmix64(value ^ tag.wrapping_mul(0x9e37_79b9_7f4a_7c15));
    let high = fmix64(value.rotate_left(29).wrapping_add(tag) ^ 0xd6e8_feb8_6659_fd93);
    (u128::from(high) << 64) | u128::from(low)
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

/// `out` = `hash(row)` for rows `0..len`, [`NULL_HASH`] where `nulls` says NULL: the null
/// check leaves the loop when there are no NULLs.
pub(super) fn hash_rows(len: usize, nulls: Option<&NullBuffer>, out: &mut Vec<u128>, hash: impl Fn(usize) -> u128) {
    out.clear();
    match nulls.filter(|n| n.null_count() > 0) {
        None => out.extend((0..len).map(hash)),
        Some(nulls) => out.extend((0..len).map(|row| if nulls.is_null(row) { NULL_HASH } else { hash(row) })),
    }
}
