//! The fingerprint pass: one streaming read of a side into per-bucket digests.
//!
//! Each row with a non-NULL key is hashed twice: its key (the low half of the 128-bit hash of
//! its canonical values, `BatchRows::hash_keys`) picks a bucket, and a 128-bit row hash is added
//! to that bucket's digest. The row hash starts from the key's 128-bit hash and folds in each
//! value's hash, column by column (`Encode::hash`, a function of the canonical value), then ends
//! non-linearly. A digest is the row count and the *wrapping sum* of row hashes: independent of
//! row order, file split and batch size, and, unlike XOR, it does not cancel duplicate rows.
//! Equal buckets need no further work, so memory does not grow with the size of equal data: it
//! is one digest per bucket, plus (keyed mode, one side of a diff) the key hashes for finding
//! duplicate keys, which spill to disk beyond a budget (`key_hashes`).
//!
//! Rows whose key holds a NULL are not bucketed: they are counted, digested as whole rows and
//! sampled per side.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use arrow::array::RecordBatch;
use serde_json::{Map, Value};

use crate::canonical::finish;
use crate::columns::ColumnPlan;
use crate::error::Result;
use crate::key_hashes::KeyHashes;
use crate::progress::Progress;
use crate::rows::BatchRows;
use crate::{sample, source};

/// Row count and wrapping sum of row hashes of a set of rows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Digest {
    pub(crate) rows: u64,
    pub(crate) sum: u128,
}

impl Digest {
    fn add(&mut self, hash: u128) {
        self.rows += 1;
        self.sum = self.sum.wrapping_add(hash);
    }

    pub(crate) fn merge(&mut self, other: Digest) {
        self.rows += other.rows;
        self.sum = self.sum.wrapping_add(other.sum);
    }
}

/// How keys map to buckets. A power of two, so the bucket is the key hash's low bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Buckets {
    count: usize,
}

impl Buckets {
    /// About sixteen rows per bucket, between 2^10 and 2^22 buckets: a bucket that differs then
    /// sends few equal rows to the diff pass, and the digests stay bounded (at most 128 MiB of
    /// 32-byte digests per scan partition, whatever the size of the data). Fewer, larger
    /// buckets keep the digest array closer to the CPU caches: adding a row to a random bucket
    /// is a cache miss, which cost a tenth of the fingerprint pass at four rows per bucket. The
    /// cap is 2^22 and not 2^20 because at 2^20, 2 x 50M rows with 0.2% of keys differing sent
    /// 9% of all rows to the diff pass (67 s); at 2^22, 2.4% (57 s).
    pub(crate) fn for_rows(rows: u64) -> Self {
        let wanted = usize::try_from(rows / 16).unwrap_or(usize::MAX);
        Self { count: wanted.clamp(1 << 10, 1 << 22).next_power_of_two() }
    }

    /// Exactly `count` buckets (a power of two).
    pub(crate) fn with_count(count: usize) -> Self {
        debug_assert!(count.is_power_of_two());
        Self { count }
    }

    /// Number of buckets.
    pub(crate) fn count(self) -> usize {
        self.count
    }

    /// The bucket of a key hash.
    pub(crate) fn of(self, key_hash: u64) -> usize {
        (key_hash as usize) & (self.count - 1)
    }
}

/// Row hashes gathered before they are added to their buckets in bucket order (1.25 MiB).
const PENDING: usize = 1 << 16;

/// Row hashes waiting to be added to their buckets, and room to order them, as columns: 20 bytes a
/// row where `(u32, u128)` pairs take 32.
#[derive(Debug, Default)]
struct Pending {
    buckets: Vec<u32>,
    hashes: Vec<u128>,
    sorted_buckets: Vec<u32>,
    sorted_hashes: Vec<u128>,
}

/// What the fingerprint pass learned about one side.
#[derive(Debug)]
pub(crate) struct Fingerprint {
    /// Rows read.
    pub(crate) rows: u64,
    /// Arrow bytes of those rows (to estimate the memory a retained row takes).
    pub(crate) arrow_bytes: u64,
    /// Digest per bucket.
    pub(crate) buckets: Vec<Digest>,
    /// Key hash of every row with a non-NULL key (keyed mode), for finding duplicate keys.
    key_hashes: KeyHashes,
    /// Digest of the rows whose key holds a NULL.
    pub(crate) null_keys: Digest,
    /// The first of those rows in canonical order, at most `sample_limit`.
    pub(crate) null_key_samples: BTreeMap<Vec<u8>, Map<String, Value>>,
    sample_limit: usize,
    /// Whether key hashes are kept to find duplicate keys (keyed mode, if the settings ask).
    find_duplicates: bool,
    /// Row hashes not yet added to `buckets`.
    pending: Pending,
    /// Key hashes and row hash accumulators of the batch being added (kept to reuse them).
    key_hashes_of_batch: Vec<u64>,
    row_hashes: Vec<u128>,
    /// The batches read, per scan partition, while they fit `keep`'s budget.
    kept: Vec<Vec<RecordBatch>>,
    keep: Option<Arc<KeepBudget>>,
}

impl Fingerprint {
    fn new(buckets: Buckets, settings: Settings, multiset: bool) -> Self {
        Self {
            rows: 0,
            arrow_bytes: 0,
            buckets: vec![Digest::default(); buckets.count()],
            key_hashes: KeyHashes::new(settings.key_hash_budget),
            null_keys: Digest::default(),
            null_key_samples: BTreeMap::new(),
            sample_limit: settings.sample_limit,
            find_duplicates: settings.find_duplicates && !multiset,
            pending: Pending::default(),
            key_hashes_of_batch: Vec::new(),
            row_hashes: Vec::new(),
            kept: vec![Vec::new()],
            keep: settings.keep.clone(),
        }
    }

    fn add_batch(&mut self, batch: &RecordBatch, plan: &ColumnPlan, buckets: Buckets) -> Result<()> {
        let rows = BatchRows::new(batch, plan)?;
        let mut encoded = Vec::with_capacity(64);
        // Keys are hashed (the low half picks the bucket, in both passes) and seed each row's
        // accumulator; values are hashed column by column into it.
        rows.hash_keys(&mut self.row_hashes, &mut encoded);
        self.key_hashes_of_batch.clear();
        self.key_hashes_of_batch.extend(self.row_hashes.iter().map(|&hash| hash as u64));
        rows.combine_values(&mut self.row_hashes, &mut encoded);
        // Then queue the rows for their buckets (`add_pending` adds them in bucket order), in
        // one tight loop when no key is NULL.
        if rows.null_key_count() == 0 {
            self.pending.buckets.extend(self.key_hashes_of_batch.iter().map(|&key_hash| buckets.of(key_hash) as u32));
            self.pending.hashes.extend(self.row_hashes.iter().map(|&acc| finish(acc)));
            if self.find_duplicates {
                self.key_hashes.extend(&self.key_hashes_of_batch)?;
            }
        } else {
            for row in 0..rows.len() {
                self.add_row(batch, &rows, row, buckets, &mut encoded)?;
            }
        }
        if self.pending.buckets.len() >= PENDING {
            self.add_pending();
        }
        self.arrow_bytes +=
            batch.columns().iter().map(|c| c.to_data().get_slice_memory_size().unwrap_or(0) as u64).sum::<u64>();
        self.rows += rows.len() as u64;
        self.keep_batch(batch);
        Ok(())
    }

    /// Adds one row of a batch where some keys are NULL.
    fn add_row(
        &mut self,
        batch: &RecordBatch,
        rows: &BatchRows,
        row: usize,
        buckets: Buckets,
        encoded: &mut Vec<u8>,
    ) -> Result<()> {
        let row_hash = finish(self.row_hashes[row]);
        if rows.has_null_key(row) {
            self.null_keys.add(row_hash);
            encoded.clear();
            rows.encode_key(row, encoded);
            rows.encode_values(row, encoded);
            return self.sample_null_key(batch, row, encoded);
        }
        let key_hash = self.key_hashes_of_batch[row];
        self.pending.buckets.push(buckets.of(key_hash) as u32);
        self.pending.hashes.push(row_hash);
        if self.find_duplicates {
            self.key_hashes.extend(&[key_hash])?;
        }
        Ok(())
    }

    /// Keeps `batch` for the diff pass if it fits the budget; else drops every batch kept.
    fn keep_batch(&mut self, batch: &RecordBatch) {
        let Some(keep) = &self.keep else { return };
        if keep.reserve(batch.get_array_memory_size() as u64, batch.num_rows() as u64) {
            if let Some(partition) = self.kept.last_mut() {
                partition.push(batch.clone());
            }
        } else {
            self.keep = None;
            self.kept = Vec::new();
        }
    }

    /// The batches this side read, per scan partition, if all of them were kept.
    pub(crate) fn take_kept(&mut self) -> Option<Vec<Vec<RecordBatch>>> {
        let keep = self.keep.take()?;
        let kept = std::mem::take(&mut self.kept);
        (!keep.exceeded()).then_some(kept)
    }

    fn sample_null_key(&mut self, batch: &RecordBatch, row: usize, encoded: &[u8]) -> Result<()> {
        let full = self.null_key_samples.len() >= self.sample_limit;
        if full && self.null_key_samples.last_key_value().is_none_or(|(last, _)| encoded >= last.as_slice()) {
            return Ok(());
        }
        self.null_key_samples.insert(encoded.to_vec(), sample::row_json(batch, row)?);
        if self.null_key_samples.len() > self.sample_limit {
            self.null_key_samples.pop_last();
        }
        Ok(())
    }

    /// Adds the pending row hashes to their buckets, in bucket order: the bucket array is larger
    /// than the caches and a row's bucket is random, so adding rows as they come costs a cache
    /// miss each. Sorted by the buckets' top bits (a counting sort into 256 windows), the array is
    /// swept nearly in order instead. That cut the 2 x 50M-row diff (2^22 buckets, 128 MiB per
    /// scan partition) from 57 s to 54 s; at 2^17 buckets (2 x 2M rows) it measured the same as
    /// adding rows directly (`benches/interleave.sh`, 2026-11-22): 64k queued rows still touch
    /// half of those buckets, about a miss a row.
    fn add_pending(&mut self) {
        let Pending { buckets, hashes, sorted_buckets, sorted_hashes } = &mut self.pending;
        let shift = self.buckets.len().trailing_zeros().saturating_sub(8);
        let windows = (self.buckets.len() >> shift).max(1);
        let mut starts = vec![0usize; windows + 1];
        for &bucket in buckets.iter() {
            starts[(bucket as usize >> shift) + 1] += 1;
        }
        for window in 1..=windows {
            starts[window] += starts[window - 1];
        }
        let count = buckets.len();
        if sorted_buckets.len() < count {
            sorted_buckets.resize(count, 0);
            sorted_hashes.resize(count, 0);
        }
        for (&bucket, &hash) in buckets.iter().zip(hashes.iter()) {
            let slot = &mut starts[bucket as usize >> shift];
            sorted_buckets[*slot] = bucket;
            sorted_hashes[*slot] = hash;
            *slot += 1;
        }
        for (&bucket, &hash) in sorted_buckets[..count].iter().zip(&sorted_hashes[..count]) {
            self.buckets[bucket as usize].add(hash);
        }
        buckets.clear();
        hashes.clear();
    }

    fn merge(&mut self, mut other: Fingerprint) -> Result<()> {
        self.add_pending();
        other.add_pending();
        self.rows += other.rows;
        self.arrow_bytes += other.arrow_bytes;
        for (mine, theirs) in self.buckets.iter_mut().zip(other.buckets) {
            mine.merge(theirs);
        }
        self.key_hashes.merge(other.key_hashes)?;
        self.null_keys.merge(other.null_keys);
        self.null_key_samples.extend(other.null_key_samples);
        while self.null_key_samples.len() > self.sample_limit {
            self.null_key_samples.pop_last();
        }
        if self.keep.is_some() && other.keep.is_some() {
            self.kept.extend(other.kept);
        } else {
            self.keep = None;
            self.kept = Vec::new();
        }
        Ok(())
    }

    /// Buckets holding a key hash seen more than once: candidates for duplicate keys (or, rarely,
    /// two keys with the same 64-bit hash). The diff pass looks at the actual keys.
    pub(crate) fn duplicate_buckets(&mut self, buckets: Buckets, threads: usize) -> Result<Vec<usize>> {
        Ok(self.key_hashes.duplicates(threads)?.into_iter().map(|hash| buckets.of(hash)).collect())
    }
}

/// Settings of the fingerprint pass.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    /// Samples kept of NULL-key rows.
    pub(crate) sample_limit: usize,
    /// Whether to keep key hashes for [`Fingerprint::duplicate_buckets`]. A diff needs them from
    /// one side only: where both sides' digests agree, they hold the same rows, so a duplicate key
    /// on one side is on the other too; where they differ, the diff pass reads the actual keys.
    pub(crate) find_duplicates: bool,
    /// Key hashes held in memory per scan partition before spilling.
    pub(crate) key_hash_budget: usize,
    /// Memory for keeping the batches read, shared by both sides (`None`: none are kept).
    pub(crate) keep: Option<Arc<KeepBudget>>,
}

/// Memory for the batches the fingerprint pass keeps for the diff pass, shared by both sides'
/// scan partitions. Once a batch does not fit, or all rows are projected not to
/// ([`KeepBudget::reserve`]), no side keeps any: the diff pass then reads both datasets again.
#[derive(Debug)]
pub(crate) struct KeepBudget {
    budget: u64,
    left: AtomicU64,
    exceeded: AtomicBool,
    /// Rows of both sides (from the footers), and the rows and bytes kept so far: what keeping
    /// every row would take, projected.
    rows: u64,
    kept_rows: AtomicU64,
    kept_bytes: AtomicU64,
}

impl KeepBudget {
    /// `bytes` for keeping the batches of both sides, which hold `rows` rows in all.
    pub(crate) fn new(bytes: u64, rows: u64) -> Arc<Self> {
        Arc::new(Self {
            budget: bytes,
            left: AtomicU64::new(bytes),
            exceeded: AtomicBool::new(false),
            rows,
            kept_rows: AtomicU64::new(0),
            kept_bytes: AtomicU64::new(0),
        })
    }

    /// Takes `bytes`, holding `rows` rows, from the budget; false, now and from then on, when
    /// they do not fit, or when the bytes kept so far, per row, project to more than twice the
    /// budget for all rows. Keeping then stops at the first batches instead of filling the
    /// budget only to drop it: a 2 x 50M-row diff under `--memory-limit 2GiB` (about 13 GB of
    /// batches, 512 MiB to keep them) kept 512 MiB first, and its peak RSS fell from 1422 to
    /// 1226 MiB (`benches/per-row.sh`; its time did not change beyond noise). The margin of twice
    /// is there because the first batches need not be typical, and giving up on data that would
    /// have fit costs a whole second read.
    fn reserve(&self, bytes: u64, rows: u64) -> bool {
        if self.exceeded.load(Ordering::Relaxed) {
            return false;
        }
        let kept_rows = self.kept_rows.fetch_add(rows, Ordering::Relaxed) + rows;
        let kept_bytes = self.kept_bytes.fetch_add(bytes, Ordering::Relaxed) + bytes;
        let projected = u128::from(kept_bytes) * u128::from(self.rows.max(kept_rows)) / u128::from(kept_rows.max(1));
        let fits = projected <= 2 * u128::from(self.budget)
            && self.left.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| left.checked_sub(bytes)).is_ok();
        if !fits {
            self.exceeded.store(true, Ordering::Relaxed);
        }
        fits
    }

    pub(crate) fn exceeded(&self) -> bool {
        self.exceeded.load(Ordering::Relaxed)
    }
}

/// Fingerprints one side from its scan partitions, one task per partition.
pub(crate) async fn fingerprint(
    streams: Vec<datafusion::execution::SendableRecordBatchStream>,
    plan: &ColumnPlan,
    buckets: Buckets,
    settings: Settings,
    progress: &Arc<dyn Progress>,
) -> Result<Fingerprint> {
    let (plan, progress) = (Arc::new(plan.clone()), Arc::clone(progress));
    let multiset = plan.multiset;
    let partials = source::fold_partitions(
        streams,
        || Fingerprint::new(buckets, settings.clone(), multiset),
        move |fingerprint, batch| {
            fingerprint.add_batch(batch, &plan, buckets)?;
            progress.add_rows(batch.num_rows() as u64);
            Ok(())
        },
    )
    .await?;
    // The first partial result becomes the total: no extra bucket array.
    let mut partials = partials.into_iter();
    let mut total = partials.next().unwrap_or_else(|| Fingerprint::new(buckets, settings, multiset));
    for partial in partials {
        total.merge(partial)?;
    }
    total.add_pending();
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::KeepBudget;

    #[test]
    fn keeping_stops_at_once_when_all_rows_would_take_twice_the_budget() {
        // 1 KiB a row: 1,000 rows take 1,000 KiB.
        let fits = KeepBudget::new(1 << 20, 1000);
        assert!((0..10).all(|_| fits.reserve(100 << 10, 100)));
        assert!(!fits.reserve(100 << 10, 100), "the budget is spent");
        assert!(fits.exceeded() && !fits.reserve(0, 0));
        // Twice the budget at most: kept until it runs out, as a projection may be off.
        let close = KeepBudget::new(1 << 20, 2000);
        assert!(close.reserve(100 << 10, 100) && !close.exceeded());
        // 4,000 rows would take four times the budget: the first batch is not kept.
        let far = KeepBudget::new(1 << 20, 4000);
        assert!(!far.reserve(100 << 10, 100) && far.exceeded());
        // Footers that undercount rows project from the rows seen.
        let undercounted = KeepBudget::new(1 << 20, 0);
        assert!(undercounted.reserve(100 << 10, 100));
    }
}
