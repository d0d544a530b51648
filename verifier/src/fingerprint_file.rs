//! Fingerprint files: one dataset's bucket digests, computed where the data lives and compared
//! anywhere, so that two clusters can be compared without moving their data across the link.
//!
//! A file holds the header (dataset, key, compared columns with their comparison domains and
//! tolerances, bucket count, duplicate-key buckets, NULL-key digest) and one digest per non-empty
//! bucket: the row count and the wrapping sum of 128-bit row hashes of pass 1. As JSON, the
//! header's fields and `buckets: [[bucket, rows, "sum in hex"], ...]`; as Parquet, columns
//! `bucket`, `rows`, `sum` (16 bytes, big-endian) with the header as JSON in the schema metadata
//! under `dqc.fingerprint`.
//!
//! Hashes are functions of the canonical values with fixed constants (murmur3's finaliser for
//! numbers and values of up to 16 bytes, xxh3 for longer ones), so they are the same on every
//! machine. Version 4 hashes strings of up to 8 bytes with one finaliser and folds with a 64-bit
//! multiplier (version 3 used two finalisers and a 128-bit one; version 2 also hashed numbers
//! with two finalisers and ended rows with three; version 1 hashed the key's encoding, and
//! strings with xxh3 only): the hashes differ, so a file of an earlier version is refused, not
//! compared. Value columns are hashed in the order of their lowercased names, so the two sides'
//! column order does not matter. Bucket counts are powers of two and a bucket is the key hash's low bits, so two
//! files with different counts are compared by folding the larger onto the smaller.

use std::collections::BTreeSet;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use arrow::array::{ArrayRef, AsArray, FixedSizeBinaryArray, RecordBatch, UInt32Array, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema, UInt32Type, UInt64Type};
use serde::{Deserialize, Serialize};

use crate::columns::{ColumnPlan, logical_type};
use crate::error::{Error, Result};
use crate::fingerprint::{Buckets, Digest, Settings, fingerprint};
use crate::progress::{NoProgress, Progress};
use crate::remote::{RemotePasses, SideJob};
use crate::report::Verdict;
use crate::source::{self, Dataset};
use crate::spec::{DiffOptions, ResourceLimits, Side};

const FORMAT: &str = "dqc-fingerprint";
const VERSION: u32 = 4;
const METADATA_KEY: &str = "dqc.fingerprint";

/// What to fingerprint: one dataset, its key and the options that shape its hashes.
#[derive(Debug, Clone)]
pub struct FingerprintSpec {
    /// The dataset's URI.
    pub uri: String,
    /// Which side the dataset is, for messages.
    pub side: Side,
    /// Unique key columns. Empty: whole rows (multiset).
    pub key: Vec<String>,
    /// `ignore`, tolerances, `trim_trailing_spaces` and `filter` apply; `rename` does not.
    pub options: DiffOptions,
    /// Resource limits.
    pub limits: ResourceLimits,
    /// Buckets (a power of two); `None`: chosen from the footer row count, as `dqc diff` does.
    pub buckets: Option<usize>,
    /// The options of the object store the URI names.
    pub stores: crate::Stores,
}

/// The header of a fingerprint file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FingerprintHeader {
    /// Always `dqc-fingerprint`.
    pub format: String,
    /// Version of the canonical encoding and hashes.
    pub version: u32,
    /// The dataset fingerprinted.
    pub uri: String,
    /// Key columns; empty for a multiset fingerprint.
    pub key: Vec<String>,
    /// Key columns then compared columns, in hashing order.
    pub columns: Vec<FingerprintColumn>,
    /// Rows read.
    pub rows: u64,
    /// Rows whose key holds a NULL (not bucketed).
    pub null_key_rows: u64,
    /// Wrapping sum of their row hashes, hex.
    pub null_key_sum: String,
    /// Buckets (a power of two).
    pub bucket_count: usize,
    /// Buckets holding a key hash seen more than once (possible duplicate keys).
    pub duplicate_buckets: Vec<u32>,
    /// Wall time of the fingerprint.
    pub elapsed_ms: u64,
}

/// One hashed column.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FingerprintColumn {
    /// Its name in the dataset.
    pub name: String,
    /// Its type (Hive names).
    #[serde(rename = "type")]
    pub data_type: String,
    /// The domain its values are hashed in: two fingerprints are comparable when these agree.
    pub domain: String,
    /// Its tolerance, if toleranced values are hashed by quantum.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tolerance: Option<String>,
}

/// A dataset's fingerprint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FingerprintFile {
    /// What was fingerprinted, and how.
    #[serde(flatten)]
    pub header: FingerprintHeader,
    /// One digest per non-empty bucket, ascending.
    pub buckets: Vec<BucketDigest>,
}

/// The digest of one bucket; in JSON `[bucket, rows, "sum as 32 hex digits"]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "(u32, u64, String)", try_from = "(u32, u64, String)")]
pub struct BucketDigest {
    /// Bucket number.
    pub bucket: u32,
    /// Rows in it.
    pub rows: u64,
    /// Wrapping sum of their row hashes.
    pub sum: u128,
}

impl From<BucketDigest> for (u32, u64, String) {
    fn from(digest: BucketDigest) -> Self {
        (digest.bucket, digest.rows, format!("{:032x}", digest.sum))
    }
}

impl TryFrom<(u32, u64, String)> for BucketDigest {
    type Error = String;

    fn try_from((bucket, rows, sum): (u32, u64, String)) -> std::result::Result<Self, String> {
        let sum = u128::from_str_radix(&sum, 16).map_err(|_| format!("`{sum}` is not a 128-bit hex sum"))?;
        Ok(Self { bucket, rows, sum })
    }
}

/// Computes the fingerprint of a dataset.
pub async fn fingerprint_dataset(spec: &FingerprintSpec) -> Result<FingerprintFile> {
    fingerprint_dataset_with_progress(spec, Arc::new(NoProgress)).await
}

/// [`fingerprint_dataset`], reporting its rows to `progress`.
pub async fn fingerprint_dataset_with_progress(
    spec: &FingerprintSpec,
    progress: Arc<dyn Progress>,
) -> Result<FingerprintFile> {
    fingerprint_where(spec, progress, None).await
}

/// [`fingerprint_dataset_with_progress`] with the reads run by `passes` (a cluster): the same
/// file, but for `elapsed_ms`.
pub async fn fingerprint_dataset_on(
    spec: &FingerprintSpec,
    progress: Arc<dyn Progress>,
    passes: &dyn RemotePasses,
) -> Result<FingerprintFile> {
    fingerprint_where(spec, progress, Some(passes)).await
}

/// What pass 1 found of one dataset, wherever it ran.
struct Found {
    rows: u64,
    null_keys: Digest,
    /// The non-empty buckets' digests, ascending.
    buckets: Vec<BucketDigest>,
    duplicate_buckets: Vec<u32>,
}

async fn fingerprint_where(
    spec: &FingerprintSpec,
    progress: Arc<dyn Progress>,
    passes: Option<&dyn RemotePasses>,
) -> Result<FingerprintFile> {
    let started = Instant::now();
    if !spec.options.rename.is_empty() {
        return Err(Error::InvalidOption("a fingerprint hashes one dataset: --rename does not apply".to_owned()));
    }
    // `--threads 0` is refused before anything is read.
    crate::run::threads(&spec.limits)?;
    let dataset = Arc::new(Dataset::open(spec.side, &spec.uri, &spec.stores).await?);
    fingerprint_opened(spec, dataset, progress, passes, started).await
}

/// The fingerprint of `dataset`, whose files were listed and inspected already (an inventory's
/// partition): here, or its reads run by `passes`.
pub(crate) async fn fingerprint_files(
    spec: &FingerprintSpec,
    dataset: Arc<Dataset>,
    passes: Option<&dyn RemotePasses>,
) -> Result<FingerprintFile> {
    let started = Instant::now();
    crate::run::threads(&spec.limits)?;
    fingerprint_opened(spec, dataset, Arc::new(NoProgress), passes, started).await
}

async fn fingerprint_opened(
    spec: &FingerprintSpec,
    dataset: Arc<Dataset>,
    progress: Arc<dyn Progress>,
    passes: Option<&dyn RemotePasses>,
    started: Instant,
) -> Result<FingerprintFile> {
    let schema = dataset.schema();
    let mut plan = ColumnPlan::new(&schema, &schema, &spec.key, &spec.options, [&spec.uri, &spec.uri])?;
    plan.values.sort_by_key(|pair| pair.baseline_name.to_lowercase());
    let buckets = match spec.buckets {
        Some(count) if count.is_power_of_two() && count <= 1 << 30 => Buckets::with_count(count),
        Some(count) => {
            return Err(Error::InvalidOption(format!("--buckets {count}: must be a power of two up to 2^30")));
        }
        None => Buckets::for_rows(dataset.rows()),
    };
    progress.start_pass(crate::Pass::Fingerprint, dataset.rows());
    let mut found = match passes {
        None => fingerprint_here(spec, &dataset, &plan, buckets, &progress).await?,
        Some(passes) => {
            let job = SideJob::for_fingerprint(&dataset, &plan, spec, buckets)?;
            let (digests, duplicates) = tokio::try_join!(passes.bucket_digests(&job), async {
                if plan.multiset { Ok(Vec::new()) } else { passes.duplicate_key_hashes(&job).await }
            })?;
            progress.add_rows(digests.rows);
            crate::remote::check_rows(passes, spec.options.filter.is_some(), [(&dataset, digests.rows)])?;
            Found {
                rows: digests.rows,
                null_keys: Digest { rows: digests.null_keys.0, sum: digests.null_keys.1 },
                buckets: digests.buckets,
                duplicate_buckets: duplicates.into_iter().map(|hash| buckets.of(hash) as u32).collect(),
            }
        }
    };
    found.duplicate_buckets.sort_unstable();
    found.duplicate_buckets.dedup();
    let Found { rows, null_keys, buckets: digests, duplicate_buckets } = found;
    let columns = plan
        .keys
        .iter()
        .chain(&plan.values)
        .map(|pair| FingerprintColumn {
            name: pair.baseline_name.clone(),
            data_type: logical_type(&pair.baseline_type),
            domain: format!("{:?}", pair.domain),
            tolerance: pair.tolerance.map(|t| format!("abs={:?} rel={:?}", t.absolute, t.relative)),
        })
        .collect();
    let header = FingerprintHeader {
        format: FORMAT.to_owned(),
        version: VERSION,
        uri: spec.uri.clone(),
        key: plan.keys.iter().filter(|_| !plan.multiset).map(|k| k.baseline_name.clone()).collect(),
        columns,
        rows,
        null_key_rows: null_keys.rows,
        null_key_sum: format!("{:032x}", null_keys.sum),
        bucket_count: buckets.count(),
        duplicate_buckets,
        elapsed_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
    };
    Ok(FingerprintFile { header, buckets: digests })
}

/// Pass 1 of one dataset in this process.
async fn fingerprint_here(
    spec: &FingerprintSpec,
    dataset: &Arc<Dataset>,
    plan: &ColumnPlan,
    buckets: Buckets,
    progress: &Arc<dyn Progress>,
) -> Result<Found> {
    let context = crate::run::session(&spec.limits)?;
    let settings = Settings {
        sample_limit: 0,
        find_duplicates: true,
        key_hash_budget: crate::run::key_hash_budget(&spec.limits),
        keep: None,
    };
    let streams =
        source::scan(&context, dataset, &plan.scan_columns(Side::Baseline), spec.options.filter.as_deref()).await?;
    let mut fp = fingerprint(streams, plan, buckets, settings, progress).await?;
    let duplicate_buckets =
        fp.duplicate_buckets(buckets, crate::run::threads(&spec.limits)?)?.into_iter().map(|b| b as u32).collect();
    let digests = (0u32..)
        .zip(&fp.buckets)
        .filter(|(_, digest)| digest.rows > 0)
        .map(|(bucket, digest)| BucketDigest { bucket, rows: digest.rows, sum: digest.sum })
        .collect();
    Ok(Found { rows: fp.rows, null_keys: fp.null_keys, buckets: digests, duplicate_buckets })
}

impl FingerprintFile {
    /// Writes the file as JSON, or as Parquet when `path` ends in `.parquet`.
    pub fn write(&self, path: &Path) -> Result<()> {
        let failed = |reason: String| Error::Fingerprint { path: path.display().to_string(), reason };
        let is_parquet = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("parquet"));
        let file = std::fs::File::create(path).map_err(|e| failed(format!("cannot create it: {e}")))?;
        if !is_parquet {
            let mut writer = std::io::BufWriter::new(file);
            serde_json::to_writer(&mut writer, self).map_err(|e| failed(e.to_string()))?;
            return std::io::Write::flush(&mut writer).map_err(|e| failed(e.to_string()));
        }
        let header = serde_json::to_string(&self.header).map_err(|e| failed(e.to_string()))?;
        let schema = Arc::new(
            Schema::new(vec![
                Field::new("bucket", DataType::UInt32, false),
                Field::new("rows", DataType::UInt64, false),
                Field::new("sum", DataType::FixedSizeBinary(16), false),
            ])
            .with_metadata([(METADATA_KEY.to_owned(), header)].into()),
        );
        let sums: Vec<[u8; 16]> = self.buckets.iter().map(|b| b.sum.to_be_bytes()).collect();
        let columns: Vec<ArrayRef> = vec![
            Arc::new(UInt32Array::from_iter_values(self.buckets.iter().map(|b| b.bucket))),
            Arc::new(UInt64Array::from_iter_values(self.buckets.iter().map(|b| b.rows))),
            Arc::new(FixedSizeBinaryArray::try_from_iter(sums.iter()).map_err(|e| failed(e.to_string()))?),
        ];
        let batch = RecordBatch::try_new(Arc::clone(&schema), columns)?;
        let mut writer = parquet::arrow::ArrowWriter::try_new(file, schema, None).map_err(|e| failed(e.to_string()))?;
        writer.write(&batch).map_err(|e| failed(e.to_string()))?;
        writer.close().map(drop).map_err(|e| failed(e.to_string()))
    }

    /// Reads a fingerprint file; `Ok(None)` when `uri` is not a local file holding one (a
    /// dataset, for instance).
    pub fn read(uri: &str) -> Result<Option<Self>> {
        let path = Path::new(uri.strip_prefix("file://").unwrap_or(uri));
        if !path.is_file() {
            return Ok(None);
        }
        let failed = |reason: String| Error::Fingerprint { path: uri.to_owned(), reason };
        let mut head = [0u8; 4];
        let mut file = std::fs::File::open(path).map_err(|e| failed(format!("cannot open it: {e}")))?;
        let read = file.read(&mut head).map_err(|e| failed(e.to_string()))?;
        file.seek(SeekFrom::Start(0)).map_err(|e| failed(e.to_string()))?;
        if head[..read].first() == Some(&b'{') {
            let file: Self = serde_json::from_reader(std::io::BufReader::new(file))
                .map_err(|e| failed(format!("not a valid fingerprint file: {e}")))?;
            file.check().map_err(failed)?;
            return Ok(Some(file));
        }
        if &head[..read] != b"PAR1" {
            return Ok(None);
        }
        let builder = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
            .map_err(|e| failed(e.to_string()))?;
        let Some(header) = builder.schema().metadata().get(METADATA_KEY).cloned() else {
            return Ok(None);
        };
        let header: FingerprintHeader =
            serde_json::from_str(&header).map_err(|e| failed(format!("its header is not valid: {e}")))?;
        let mut buckets = Vec::new();
        for batch in builder.build().map_err(|e| failed(e.to_string()))? {
            let batch = batch?;
            let column = |name: &str| batch.column_by_name(name).ok_or_else(|| failed(format!("no column `{name}`")));
            let (bucket, rows, sum) = (column("bucket")?, column("rows")?, column("sum")?);
            let (bucket, rows) = (bucket.as_primitive::<UInt32Type>(), rows.as_primitive::<UInt64Type>());
            let sum = sum.as_fixed_size_binary_opt().ok_or_else(|| failed("`sum` is not 16-byte binary".into()))?;
            for row in 0..batch.num_rows() {
                let bytes: [u8; 16] =
                    sum.value(row).try_into().map_err(|_| failed("a `sum` is not 16 bytes".into()))?;
                buckets.push(BucketDigest {
                    bucket: bucket.value(row),
                    rows: rows.value(row),
                    sum: u128::from_be_bytes(bytes),
                });
            }
        }
        let file = Self { header, buckets };
        file.check().map_err(failed)?;
        Ok(Some(file))
    }

    fn check(&self) -> std::result::Result<(), String> {
        if self.header.format != FORMAT {
            return Err(format!("format is `{}`, not `{FORMAT}`", self.header.format));
        }
        if self.header.version != VERSION {
            return Err(format!("version {} is not supported (this dqc reads version {VERSION})", self.header.version));
        }
        if !self.header.bucket_count.is_power_of_two() {
            return Err(format!("bucket_count {} is not a power of two", self.header.bucket_count));
        }
        if let Some(digest) = self.buckets.iter().find(|b| b.bucket as usize >= self.header.bucket_count) {
            return Err(format!("bucket {} is out of range 0..{}", digest.bucket, self.header.bucket_count));
        }
        Ok(())
    }

    /// Digests folded onto `count` buckets (a power of two, at most this file's count).
    fn digests(&self, count: usize) -> Vec<Digest> {
        let mut digests = vec![Digest::default(); count];
        for digest in &self.buckets {
            digests[digest.bucket as usize & (count - 1)].merge(Digest { rows: digest.rows, sum: digest.sum });
        }
        digests
    }
}

/// What comparing two fingerprint files found.
#[derive(Debug, Clone, Serialize)]
pub struct FingerprintComparison {
    /// consistent when every bucket and the NULL-key rows agree.
    pub verdict: Verdict,
    /// The baseline fingerprint's dataset and rows.
    pub baseline: FingerprintSide,
    /// The candidate's.
    pub candidate: FingerprintSide,
    /// Buckets compared (the smaller count of the two files).
    pub bucket_count: usize,
    /// Whether the NULL-key rows of both sides have the same digest.
    pub null_key_rows_match: bool,
    /// Buckets whose digests differ or that may hold a duplicate key on either side: the ones a
    /// full diff reads again.
    pub differing_buckets: Vec<DifferingBucket>,
}

/// One side of a fingerprint comparison.
#[derive(Debug, Clone, Serialize)]
pub struct FingerprintSide {
    /// The fingerprint file.
    pub fingerprint: String,
    /// The dataset it was computed from.
    pub uri: String,
    /// Its rows.
    pub rows: u64,
    /// Its rows in the differing buckets.
    pub rows_in_differing_buckets: u64,
}

/// A bucket whose digests differ.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct DifferingBucket {
    /// Bucket number.
    pub bucket: u32,
    /// Rows in it on the baseline.
    pub baseline_rows: u64,
    /// Rows in it on the candidate.
    pub candidate_rows: u64,
}

/// Compares two fingerprints. `Err` when they were not computed the same way (key, columns,
/// domains or tolerances differ), so that their buckets cannot be compared.
pub fn compare_fingerprints(
    baseline: &FingerprintFile,
    candidate: &FingerprintFile,
    [baseline_path, candidate_path]: [&str; 2],
) -> Result<FingerprintComparison> {
    let (b, c) = (&baseline.header, &candidate.header);
    let incomparable = |reason: String| Error::Fingerprint {
        path: candidate_path.to_owned(),
        reason: format!("cannot be compared with `{baseline_path}`: {reason}; run a full diff instead"),
    };
    let lower = |names: &[String]| names.iter().map(|n| n.to_lowercase()).collect::<Vec<_>>();
    if lower(&b.key) != lower(&c.key) {
        return Err(incomparable(format!("keys differ ({:?} and {:?})", b.key, c.key)));
    }
    let names = |h: &FingerprintHeader| h.columns.iter().map(|c| c.name.to_lowercase()).collect::<BTreeSet<_>>();
    if names(b) != names(c) {
        let only_b: Vec<_> = names(b).difference(&names(c)).cloned().collect();
        let only_c: Vec<_> = names(c).difference(&names(b)).cloned().collect();
        return Err(incomparable(format!("columns differ: only baseline {only_b:?}, only candidate {only_c:?}")));
    }
    for (bc, cc) in b.columns.iter().zip(&c.columns) {
        if bc.domain != cc.domain || bc.tolerance != cc.tolerance {
            return Err(incomparable(format!(
                "column `{}` is hashed as {} ({}) on one side and {} ({}) on the other",
                bc.name, bc.domain, bc.data_type, cc.domain, cc.data_type
            )));
        }
    }
    let count = b.bucket_count.min(c.bucket_count);
    let (b_digests, c_digests) = (baseline.digests(count), candidate.digests(count));
    let mut differing: Vec<bool> = b_digests.iter().zip(&c_digests).map(|(x, y)| x != y).collect();
    for bucket in b.duplicate_buckets.iter().chain(&c.duplicate_buckets) {
        differing[*bucket as usize & (count - 1)] = true;
    }
    let differing_buckets: Vec<DifferingBucket> = (0u32..)
        .zip(&differing)
        .filter(|(_, d)| **d)
        .map(|(bucket, _)| DifferingBucket {
            bucket,
            baseline_rows: b_digests[bucket as usize].rows,
            candidate_rows: c_digests[bucket as usize].rows,
        })
        .collect();
    let null_key_rows_match = b.null_key_rows == c.null_key_rows && b.null_key_sum == c.null_key_sum;
    let side = |path: &str, h: &FingerprintHeader, rows: u64| FingerprintSide {
        fingerprint: path.to_owned(),
        uri: h.uri.clone(),
        rows: h.rows,
        rows_in_differing_buckets: rows,
    };
    let verdict =
        if differing_buckets.is_empty() && null_key_rows_match { Verdict::Consistent } else { Verdict::Inconsistent };
    Ok(FingerprintComparison {
        verdict,
        baseline: side(baseline_path, b, differing_buckets.iter().map(|d| d.baseline_rows).sum()),
        candidate: side(candidate_path, c, differing_buckets.iter().map(|d| d.candidate_rows).sum()),
        bucket_count: count,
        null_key_rows_match,
        differing_buckets,
    })
}

impl FingerprintComparison {
    /// The text rendering: verdict, sides, and the first differing buckets.
    pub fn to_text(&self) -> String {
        let verdict = self.verdict.as_str().to_ascii_uppercase();
        let mut out = format!("verdict: {verdict} (fingerprints; run a full diff for rows and columns)\n");
        for (name, side) in [("baseline", &self.baseline), ("candidate", &self.candidate)] {
            out.push_str(&format!("{name:<9}: {} rows  {}  ({})\n", side.rows, side.uri, side.fingerprint));
        }
        out.push_str(&format!(
            "\nbuckets: {}, differing: {} (holding {} baseline and {} candidate rows)\n",
            self.bucket_count,
            self.differing_buckets.len(),
            self.baseline.rows_in_differing_buckets,
            self.candidate.rows_in_differing_buckets
        ));
        if !self.null_key_rows_match {
            out.push_str("rows with a NULL key differ\n");
        }
        let shown: Vec<String> = self.differing_buckets.iter().take(20).map(|d| d.bucket.to_string()).collect();
        if !shown.is_empty() {
            let more = if self.differing_buckets.len() > shown.len() { ", ..." } else { "" };
            out.push_str(&format!("differing buckets: {}{more}\n", shown.join(", ")));
        }
        out
    }
}
