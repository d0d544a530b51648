//! Diffs whose reads run elsewhere: on a cluster (the `cluster` crate, on Ballista).
//!
//! This process opens both datasets (listing and footers), plans the columns and assembles the
//! report, exactly as for a local diff; a [`RemotePasses`] runs the reads where the data is.
//! Pass 1 hashes every row there with this module's [`RowHasher`] (the same canonical bytes and
//! hashes as a local diff) and returns only the buckets whose digests differ, with their rows
//! per side, and the NULL-key digests; a second job finds the baseline's duplicate key hashes.
//! Pass 2 classifies the rows of the differing buckets where they are, in shares of whole buckets,
//! with the local diff's own code ([`Classification`]); this process merges the shares. So the
//! report is the local report: only `buckets.read_again` (always true, as nothing is kept
//! between the passes) and the timings differ.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, BinaryBuilder, BooleanArray, RecordBatch, RecordBatchOptions, StructArray, UInt32Builder,
    UInt64Array,
};
use arrow::datatypes::{DataType, Field, Fields, Schema};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::canonical::finish;
use crate::columns::ColumnPlan;
use crate::error::{Error, Result};
use crate::fingerprint::Buckets;
use crate::source::Dataset;
use crate::spec::{DiffOptions, Side};

mod share;
pub(crate) use share::merge;
pub use share::{Classification, Share};

/// How a diff hashes one side's rows, in a form another process can rebuild a [`RowHasher`]
/// from: the inputs of the column plan (both datasets' schemas, the key, the options) and the
/// bucket count.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RowHashing {
    side: Side,
    /// Both datasets' schemas, as Arrow IPC streams.
    schemas: [Vec<u8>; 2],
    key: Vec<String>,
    options: DiffOptions,
    locations: [String; 2],
    buckets: usize,
    /// Value columns in the order of their lowercased names (a fingerprint file's order).
    #[serde(default)]
    sorted_values: bool,
}

impl RowHashing {
    /// The hashing of `side`'s rows by `key` and `options` into `buckets`, before its schemas and
    /// locations are set.
    fn of(side: Side, key: &[String], options: &DiffOptions, buckets: Buckets) -> Self {
        Self {
            side,
            schemas: [Vec::new(), Vec::new()],
            key: key.to_vec(),
            options: options.clone(),
            locations: [String::new(), String::new()],
            buckets: buckets.count(),
            sorted_values: false,
        }
    }

    /// Which side's rows it hashes.
    pub fn side(&self) -> Side {
        self.side
    }

    /// The number of buckets (a power of two).
    pub fn bucket_count(&self) -> usize {
        self.buckets
    }

    /// The column plan, made again from the inputs.
    fn plan(&self) -> Result<ColumnPlan> {
        let [baseline, candidate] = [&self.schemas[0], &self.schemas[1]].map(|s| crate::source::schema_from_ipc(s));
        let (baseline, candidate) = (baseline?, candidate?);
        let locations = [self.locations[0].as_str(), self.locations[1].as_str()];
        let mut plan = ColumnPlan::new(&baseline, &candidate, &self.key, &self.options, locations)?;
        if self.sorted_values {
            plan.values.sort_by_key(|pair| pair.baseline_name.to_lowercase());
        }
        Ok(plan)
    }

    /// The hasher, its column plan made again from the inputs.
    pub fn hasher(&self) -> Result<RowHasher> {
        let plan = self.plan()?;
        if !self.buckets.is_power_of_two() {
            return Err(Error::Internal(format!("{} buckets is not a power of two", self.buckets)));
        }
        Ok(RowHasher { plan, side: self.side, buckets: Buckets::with_count(self.buckets) })
    }
}

/// Hashes batches of one side's scan columns (plan order: [`SideJob::columns`]) as the local
/// fingerprint pass does.
#[derive(Debug)]
pub struct RowHasher {
    plan: ColumnPlan,
    side: Side,
    buckets: Buckets,
}

/// The fields of [`RowHasher::digest`]'s struct: `bucket` (NULL for a row whose key holds a
/// NULL), `key_hash`, the 128-bit row hash as four 32-bit limbs `l0` (lowest) to `l3` in
/// 64-bit columns, so that summing them is exact below 2^32 rows a bucket, and `null_order`
/// (rows whose key holds a NULL only: the bytes their samples are ordered by).
pub fn digest_fields() -> Fields {
    let limb = |name: &str| Field::new(name, DataType::UInt64, false);
    Fields::from(vec![
        Field::new("bucket", DataType::UInt32, true),
        Field::new("key_hash", DataType::UInt64, false),
        limb("l0"),
        limb("l1"),
        limb("l2"),
        limb("l3"),
        Field::new("null_order", DataType::Binary, true),
    ])
}

/// Rebuilds a wrapping 128-bit sum from the sums of its four 32-bit limbs.
pub fn digest_from_limbs(sums: [u64; 4]) -> u128 {
    sums.iter().enumerate().fold(0u128, |total, (i, &sum)| total.wrapping_add(u128::from(sum) << (32 * i)))
}

impl RowHasher {
    /// The columns a batch must hold, in order: the side's scan columns.
    pub fn columns(&self) -> Vec<String> {
        self.plan.scan_columns(self.side)
    }

    fn batch(&self, columns: &[ArrayRef]) -> Result<RecordBatch> {
        let expected = self.plan.keys.len() + self.plan.values.len();
        if columns.len() != expected {
            return Err(Error::Internal(format!("{} columns to hash where the plan has {expected}", columns.len())));
        }
        let fields: Vec<Field> =
            columns.iter().enumerate().map(|(i, c)| Field::new(format!("c{i}"), c.data_type().clone(), true)).collect();
        let rows = columns.first().map_or(0, |c| c.len());
        let options = RecordBatchOptions::new().with_row_count(Some(rows));
        Ok(RecordBatch::try_new_with_options(Arc::new(Schema::new(fields)), columns.to_vec(), &options)?)
    }

    /// Each row's bucket, key hash, row hash limbs and (NULL keys) sample order, as a struct of
    /// [`digest_fields`].
    pub fn digest(&self, columns: &[ArrayRef]) -> Result<StructArray> {
        let batch = self.batch(columns)?;
        let rows = crate::rows::BatchRows::new(&batch, &self.plan)?;
        let (mut hashes, mut scratch, mut encoded) = (Vec::new(), Vec::new(), Vec::new());
        rows.hash_keys(&mut hashes, &mut scratch);
        let key_hashes: Vec<u64> = hashes.iter().map(|&hash| hash as u64).collect();
        rows.combine_values(&mut hashes, &mut scratch);
        let mut buckets = UInt32Builder::with_capacity(rows.len());
        let mut limbs: [Vec<u64>; 4] = std::array::from_fn(|_| Vec::with_capacity(rows.len()));
        let mut null_order = BinaryBuilder::new();
        for (row, (&key_hash, &acc)) in key_hashes.iter().zip(&hashes).enumerate() {
            let hash = finish(acc);
            for (i, limb) in limbs.iter_mut().enumerate() {
                limb.push(u64::from((hash >> (32 * i)) as u32));
            }
            if rows.has_null_key(row) {
                buckets.append_null();
                encoded.clear();
                rows.encode_key(row, &mut encoded);
                rows.encode_values(row, &mut encoded);
                null_order.append_value(&encoded);
            } else {
                buckets.append_value(self.buckets.of(key_hash) as u32);
                null_order.append_null();
            }
        }
        let [l0, l1, l2, l3] = limbs.map(|limb| Arc::new(UInt64Array::from(limb)) as ArrayRef);
        let arrays: Vec<ArrayRef> = vec![
            Arc::new(buckets.finish()),
            Arc::new(UInt64Array::from(key_hashes)),
            l0,
            l1,
            l2,
            l3,
            Arc::new(null_order.finish()),
        ];
        Ok(StructArray::try_new(digest_fields(), arrays, None)?)
    }

    /// Whether each row's key falls in one of `buckets` (false for a key holding a NULL).
    pub fn in_buckets(&self, columns: &[ArrayRef], buckets: &BucketSet) -> Result<BooleanArray> {
        let batch = self.batch(columns)?;
        let rows = crate::rows::BatchRows::keys_only(&batch, &self.plan)?;
        let (mut hashes, mut scratch) = (Vec::new(), Vec::new());
        rows.hash_keys(&mut hashes, &mut scratch);
        Ok(hashes
            .iter()
            .enumerate()
            .map(|(row, &hash)| Some(!rows.has_null_key(row) && buckets.contains(self.buckets.of(hash as u64))))
            .collect())
    }
}

/// A set of bucket numbers, as a bitmap.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketSet {
    words: Vec<u64>,
}

impl BucketSet {
    /// The set of `members` among `count` buckets.
    pub fn new(count: usize, members: impl IntoIterator<Item = usize>) -> Self {
        let mut words = vec![0u64; count.div_ceil(64)];
        for bucket in members {
            words[bucket / 64] |= 1 << (bucket % 64);
        }
        Self { words }
    }

    /// Whether `bucket` is in the set.
    pub fn contains(&self, bucket: usize) -> bool {
        self.words.get(bucket / 64).is_some_and(|word| word & (1 << (bucket % 64)) != 0)
    }
}

/// One side of a remote diff: what to read and how to hash it.
#[derive(Debug)]
pub struct SideJob {
    /// The dataset, opened (listed, footers read) by this process.
    pub dataset: Arc<Dataset>,
    /// The columns to read, in plan order (names as in the dataset).
    pub columns: Vec<String>,
    /// The diff's SQL filter, applied to the rows before anything else.
    pub filter: Option<String>,
    /// How its rows are hashed.
    pub hashing: RowHashing,
}

/// One dataset's digest per non-empty bucket (a fingerprint file's buckets).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SideDigests {
    /// Rows read.
    pub rows: u64,
    /// Rows whose key holds a NULL: count and wrapping sum of row hashes.
    pub null_keys: (u64, u128),
    /// The non-empty buckets' digests, ascending.
    pub buckets: Vec<crate::BucketDigest>,
}

/// What pass 1 found, both sides.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RemoteFingerprint {
    /// Rows read, per side (baseline, candidate).
    pub rows: [u64; 2],
    /// Rows whose key holds a NULL, per side: count and wrapping sum of row hashes.
    pub null_keys: [(u64, u128); 2],
    /// Buckets whose digests differ (count or sum), with each side's rows in them.
    pub differing: Vec<(u32, [u64; 2])>,
}

/// Where the reads of a remote diff run.
#[async_trait]
pub trait RemotePasses: Send + Sync + std::fmt::Debug {
    /// Where the reads run, for messages (`df://host:port`).
    fn url(&self) -> &str;

    /// Pass 1 of both sides.
    async fn fingerprint(&self, sides: [&SideJob; 2]) -> Result<RemoteFingerprint>;

    /// Pass 1 of one dataset, every non-empty bucket's digest (for a fingerprint file).
    async fn bucket_digests(&self, side: &SideJob) -> Result<SideDigests>;

    /// The key hashes found on more than one row of a side.
    async fn duplicate_key_hashes(&self, side: &SideJob) -> Result<Vec<u64>>;

    /// Rows of a side whose key holds a NULL: at least the first `limit` in sample order
    /// ([`digest_fields`]'s `null_order`), with the side's columns.
    async fn null_key_rows(&self, side: &SideJob, limit: usize) -> Result<Vec<RecordBatch>>;

    /// Pass 2: the rows of both sides in `buckets` (keys without NULLs), classified by
    /// `classification` in shares, each share every row of some buckets.
    async fn classify(
        &self,
        sides: [&SideJob; 2],
        buckets: &BucketSet,
        classification: &Classification,
    ) -> Result<Vec<Share>>;
}

impl SideJob {
    pub(crate) fn new(
        dataset: &Arc<Dataset>,
        plan: &ColumnPlan,
        spec: &crate::DiffSpec,
        buckets: Buckets,
    ) -> Result<Self> {
        let hashing = RowHashing {
            locations: [spec.baseline.clone(), spec.candidate.clone()],
            ..RowHashing::of(dataset.side(), &spec.key, &spec.options, buckets)
        };
        Ok(Self::reading(dataset, plan, spec.options.filter.clone(), hashing))
    }

    /// The job of a fingerprint: one dataset hashed as a fingerprint file hashes it (`plan` has
    /// its value columns sorted by name).
    pub(crate) fn for_fingerprint(
        dataset: &Arc<Dataset>,
        plan: &ColumnPlan,
        spec: &crate::FingerprintSpec,
        buckets: Buckets,
    ) -> Result<Self> {
        let schema = crate::source::schema_to_ipc(&dataset.schema())?;
        let hashing = RowHashing {
            schemas: [schema.clone(), schema],
            locations: [spec.uri.clone(), spec.uri.clone()],
            sorted_values: true,
            ..RowHashing::of(dataset.side(), &spec.key, &spec.options, buckets)
        };
        Ok(Self::reading(dataset, plan, spec.options.filter.clone(), hashing))
    }

    /// The job reading `dataset`'s columns of `plan`, after `filter`, hashed by `hashing`.
    fn reading(dataset: &Arc<Dataset>, plan: &ColumnPlan, filter: Option<String>, hashing: RowHashing) -> Self {
        Self { dataset: Arc::clone(dataset), columns: plan.scan_columns(dataset.side()), filter, hashing }
    }

    pub(crate) fn with_schemas(mut self, baseline: &Dataset, candidate: &Dataset) -> Result<Self> {
        self.hashing.schemas =
            [crate::source::schema_to_ipc(&baseline.schema())?, crate::source::schema_to_ipc(&candidate.schema())?];
        Ok(self)
    }
}

/// The first `limit` rows whose key holds a NULL among `batches` (a side's columns), in sample
/// order, as the local fingerprint pass samples them.
pub(crate) fn null_key_samples(
    batches: &[RecordBatch],
    plan: &ColumnPlan,
    limit: usize,
) -> Result<Vec<Map<String, Value>>> {
    let mut samples = BTreeMap::new();
    let mut encoded = Vec::new();
    for batch in batches {
        let rows = crate::rows::BatchRows::new(batch, plan)?;
        for row in (0..rows.len()).filter(|&row| rows.has_null_key(row)) {
            encoded.clear();
            rows.encode_key(row, &mut encoded);
            rows.encode_values(row, &mut encoded);
            if samples.len() >= limit && samples.last_key_value().is_none_or(|(last, _)| encoded >= *last) {
                continue;
            }
            samples.insert(encoded.clone(), crate::sample::row_json(batch, row)?);
            if samples.len() > limit {
                samples.pop_last();
            }
        }
    }
    Ok(samples.into_values().collect())
}

/// Refuses a remote pass 1 that read other row counts than the footers hold (without a filter,
/// they must agree): a cluster that counted rows twice would otherwise make a wrong report or
/// fingerprint. Seen with Ballista 55 on a one-row table, whose row it counted 14 to 16 times
/// while the scan's row count was exact (see `DatasetTable::with_inexact_rows`).
pub(crate) fn check_rows<'a>(
    passes: &dyn RemotePasses,
    filtered: bool,
    counted: impl IntoIterator<Item = (&'a Arc<Dataset>, u64)>,
) -> Result<()> {
    if filtered {
        return Ok(());
    }
    for (dataset, read) in counted {
        if dataset.rows() != read {
            return Err(Error::Cluster {
                url: passes.url().to_owned(),
                reason: format!(
                    "pass 1 counted {read} rows of the {} dataset, whose footers hold {}: its result is not used",
                    dataset.side(),
                    dataset.rows()
                ),
            });
        }
    }
    Ok(())
}

/// The bucket set of `differing` (one flag per bucket).
pub(crate) fn bucket_set(differing: &[bool]) -> BucketSet {
    BucketSet::new(differing.len(), differing.iter().enumerate().filter(|(_, d)| **d).map(|(b, _)| b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limb_sums_rebuild_the_wrapping_sum() {
        let hashes = [u128::MAX, u128::MAX - 5, 1 << 100, 12345];
        let mut sums = [0u64; 4];
        for hash in hashes {
            for (i, sum) in sums.iter_mut().enumerate() {
                *sum += u64::from((hash >> (32 * i)) as u32);
            }
        }
        let wrapping = hashes.iter().fold(0u128, |total, &hash| total.wrapping_add(hash));
        assert_eq!(digest_from_limbs(sums), wrapping);
    }

    #[test]
    fn a_bucket_set_holds_its_members_only() {
        let set = BucketSet::new(200, [0, 63, 64, 199]);
        assert!([0, 63, 64, 199].iter().all(|&b| set.contains(b)));
        assert!(![1, 62, 65, 198, 200, 10_000].iter().any(|&b| set.contains(b)));
    }
}
