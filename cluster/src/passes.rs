//! A diff's reads as Ballista jobs: each is planned here with DataFusion (dqc's dataset scan, its
//! row functions, stock aggregates and joins) and submitted as a physical plan, which the
//! scheduler cuts into stages at its hash repartitions.
//!
//! Pass 1 compares both sides' digests in two levels, each a job of the same plan: per side,
//! `dqc_digest` gives each row's bucket and row hash limbs, a partial aggregate sums them per
//! group of buckets, a hash repartition by group and a final aggregate finish the digests; a full
//! join by group compares both sides', and a last aggregate keeps only the differing groups, one
//! row for all equal ones and one for the NULL keys. The first job compares at most
//! [`DEFAULT_BUCKET_GROUPS`] groups (its shuffle: a group and a digest per group per scan task,
//! whatever the table's size); only if some differ, the second compares single buckets, reading
//! only the rows of the differing groups (`dqc_in_buckets`).
//! The baseline's duplicate key hashes are a second job (`GROUP BY key_hash HAVING count > 1`:
//! its shuffle is a key hash per row, which partial aggregation cannot shrink for unique keys).
//!
//! Every job's batches are made compact before each of its shuffles ([`crate::compact`]).
//!
//! Pass 2 is one job: each side's rows in the differing buckets (`dqc_in_buckets`), with their
//! bucket, are hash-repartitioned by bucket into [`ClassifyExec`], whose tasks classify one
//! partition of buckets each; only counters, samples and export rows come back.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Int64Type, UInt32Type, UInt64Type};
use async_trait::async_trait;
use ballista_core::extension::SessionConfigExt;
use datafusion::common::Column;
use datafusion::dataframe::DataFrame;
use datafusion::error::DataFusionError;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::functions::core::expr_fn::get_field;
use datafusion::functions_aggregate::expr_fn::{count, sum};
use datafusion::logical_expr::{Expr, Operator, binary_expr, cast, lit, when};
use datafusion::physical_expr::expressions::Column as PhysicalColumn;
use datafusion::physical_plan::common::collect;
use datafusion::physical_plan::repartition::RepartitionExec;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{ExecutionPlan, Partitioning};
use datafusion::prelude::{JoinType, SessionConfig, SessionContext, coalesce, col};
use futures::StreamExt;
use verifier::remote::{
    BucketSet, Classification, RemoteFingerprint, RemotePasses, Share, SideDigests, SideJob, digest_from_limbs,
};
use verifier::{BucketDigest, DatasetTable, Error, Result, Stores};

use crate::classify::{BUCKET_COLUMN, ClassifyExec};
use crate::codec::DqcCodec;
use crate::udf::{Definition, RowFunction, RowUdf};

/// A Ballista cluster that runs dqc's passes.
#[derive(Debug)]
pub struct Cluster {
    /// The scheduler's gRPC endpoint (`http://host:port`).
    endpoint: String,
    /// As the user wrote it (`df://host:port`), for messages.
    url: String,
    config: SessionConfig,
    codec: Arc<DqcCodec>,
    /// Longest wait for a job's first result, or for its next batch.
    job_timeout: Duration,
    /// Groups of buckets pass 1's first job compares.
    bucket_groups: usize,
    /// The ids of the jobs submitted, oldest first.
    submitted: Mutex<Vec<String>>,
    /// The ids of the jobs submitted that have not ended.
    running: crate::submit::Running,
}

/// The default of [`Cluster::with_job_timeout`].
pub const DEFAULT_JOB_TIMEOUT: Duration = Duration::from_secs(3600);

/// The default of [`Cluster::with_bucket_groups`].
pub const DEFAULT_BUCKET_GROUPS: usize = 1 << 12;

/// The name of the duplicate keys' job.
const DUPLICATE_KEYS: &str = "duplicate keys";

/// Limb columns and their sums, in order.
const LIMBS: [&str; 4] = ["l0", "l1", "l2", "l3"];

static JOBS: AtomicU64 = AtomicU64::new(0);

impl Cluster {
    /// The cluster whose scheduler listens at `url` (`df://host:port`), planning `partitions`
    /// scan tasks a side: about the executors' task slots in all.
    pub fn new(url: &str, partitions: usize) -> Result<Self> {
        let address = url.strip_prefix("df://").ok_or_else(|| {
            Error::InvalidOption(format!("the cluster URL `{url}` is not of the form df://HOST:PORT"))
        })?;
        if address.is_empty() || address.contains('/') || !address.contains(':') {
            return Err(Error::InvalidOption(format!("the cluster URL `{url}` is not of the form df://HOST:PORT")));
        }
        let codec = Arc::new(DqcCodec::new(Stores::default()));
        let mut config = SessionConfig::new_with_ballista()
            .with_ballista_physical_extension_codec(Arc::clone(&codec) as _)
            .with_target_partitions(partitions.max(1))
            .with_batch_size(8192)
            // No broadcast joins: Ballista would run pass 1's FULL join as a broadcast of its
            // smaller side, and every task emits that side's unmatched rows.
            .with_ballista_broadcast_join_threshold_bytes(0)
            .with_ballista_broadcast_join_threshold_rows(0)
            // dqc's plans run as planned here: the adaptive planner (on by default in Ballista
            // 55) re-plans stages from runtime statistics, which dqc's jobs do not need, and
            // pass 2's two inputs must keep the same partitions of buckets.
            .with_ballista_adaptive_query_planner(false)
            // A shuffle task's buffer before it spills (and so writes its rows twice): the
            // duplicate-keys job holds 16 bytes a row, 400 MB for a scan task of 25M rows, above
            // Ballista's 256 MiB. The executor's memory pool still makes it spill when short.
            .set_u64(ballista_core::config::BALLISTA_SHUFFLE_SORT_BASED_MEMORY_LIMIT_PER_TASK_BYTES, 1 << 30);
        let options = config.options_mut();
        // Dynamic filters are not serialised: plans go to the cluster without them.
        options.optimizer.enable_dynamic_filter_pushdown = false;
        // Partial aggregates always aggregate: DataFusion stops a partial aggregate that finds
        // more than 80% of its first 100,000 rows in distinct groups, and then shuffles every row
        // (pass 1 per bucket at 2^22 buckets did: about 85 bytes a row at 2 x 50M rows).
        options.execution.skip_partial_aggregation_probe_ratio_threshold = 1.0;
        // Joins of two aggregated sides are repartitioned, never collected on one task.
        options.optimizer.hash_join_single_partition_threshold = 0;
        options.optimizer.hash_join_single_partition_threshold_rows = 0;
        Ok(Self {
            endpoint: format!("http://{address}"),
            url: url.to_owned(),
            config,
            codec,
            job_timeout: DEFAULT_JOB_TIMEOUT,
            bucket_groups: DEFAULT_BUCKET_GROUPS,
            submitted: Mutex::new(Vec::new()),
            running: crate::submit::Running::default(),
        })
    }

    /// Fails a job that gives no result, or no next batch of its result, for `timeout`: Ballista
    /// 55 can leave a job waiting for ever after losing an executor (seen in
    /// `tests/processes.rs`), and a diff must end with a report or an error.
    pub fn with_job_timeout(self, timeout: Duration) -> Self {
        Self { job_timeout: timeout, ..self }
    }

    /// Pass 1 first compares the digests of `groups` groups of buckets (a power of two; at most
    /// this many rows a scan task shuffles), then only the buckets of the groups that differ.
    /// More groups: a larger first shuffle, fewer rows read by the second job.
    pub fn with_bucket_groups(self, groups: usize) -> Self {
        Self { bucket_groups: groups.max(1).next_power_of_two(), ..self }
    }

    /// The ids of the jobs this cluster client submitted, oldest first (for logs and tests).
    pub fn submitted_jobs(&self) -> Vec<String> {
        self.submitted.lock().map(|jobs| jobs.clone()).unwrap_or_default()
    }

    /// Cancels the jobs submitted that have not ended, on the cluster, and waits for the
    /// scheduler's answers (a job dropped unfinished is cancelled too, without waiting).
    pub async fn cancel_running(&self) -> Result<()> {
        crate::submit::cancel(&self.endpoint, &self.config.ballista_config(), &self.running)
            .await
            .map_err(|e| self.failed(e))
    }

    /// `work` (this cluster's diff or fingerprint), or on Ctrl-C its jobs cancelled on the
    /// cluster and an error.
    pub async fn interruptible<T>(&self, work: impl Future<Output = Result<T>>) -> Result<T> {
        tokio::select! {
            outcome = work => outcome,
            _ = tokio::signal::ctrl_c() => {
                let cancelled = self.cancel_running().await;
                let reason = match cancelled {
                    Ok(()) => "interrupted: its jobs on the cluster were cancelled".to_owned(),
                    Err(error) => format!("interrupted, and its jobs on the cluster could not be cancelled: {error}"),
                };
                Err(self.failed(reason))
            }
        }
    }

    fn failed(&self, error: impl std::fmt::Display) -> Error {
        Error::Cluster { url: self.url.clone(), reason: error.to_string() }
    }

    /// A context to plan jobs in (nothing runs here).
    fn context(&self) -> SessionContext {
        SessionContext::new_with_config(self.config.clone())
    }

    /// Runs the physical plan `plan` on the cluster.
    async fn run_plan(&self, what: &'static str, plan: Arc<dyn ExecutionPlan>) -> Result<SendableRecordBatchStream> {
        tracing::debug!(what, plan = %datafusion::physical_plan::displayable(plan.as_ref()).indent(false), "cluster job");
        let session = format!("dqc-{}-{}", std::process::id(), JOBS.fetch_add(1, Ordering::Relaxed));
        let mut config = self.config.clone().with_ballista_job_name(&format!("dqc {what}"));
        if what == DUPLICATE_KEYS {
            // Partial counts of unique key hashes shrink nothing: DataFusion's probe (off for
            // dqc's other jobs) stops them after 100,000 rows instead of holding every hash of a
            // scan task in a hash table; the shuffle is the same.
            config.options_mut().execution.skip_partial_aggregation_probe_ratio_threshold = 0.8;
        }
        let plan = crate::compact::before_shuffles(plan).map_err(|e| self.failed(format!("planning {what}: {e}")))?;
        let schema = plan.schema();
        let job =
            crate::submit::Job::submit(&self.endpoint, &config, plan, self.codec.as_ref(), session, &self.running)
                .await
                .map_err(|e| self.failed(format!("{what}: {e}")))?;
        tracing::debug!(what, job = %job.id(), "cluster job submitted");
        if let Ok(mut jobs) = self.submitted.lock() {
            jobs.push(job.id().to_owned());
        }
        // Dropped unfinished (the timeout, or the diff cancelled), the job is cancelled.
        let stream = tokio::time::timeout(self.job_timeout, job.result(schema))
            .await
            .map_err(|_| {
                self.failed(format!("{what}: no answer for {}", humantime::format_duration(self.job_timeout)))
            })?
            .map_err(|e| self.failed(format!("{what}: {e}")))?;
        Ok(self.watched(what, stream))
    }

    /// `stream`, failing with a message naming the cluster when it fails or stalls.
    fn watched(&self, what: &'static str, stream: SendableRecordBatchStream) -> SendableRecordBatchStream {
        let (schema, url, timeout) = (stream.schema(), self.url.clone(), self.job_timeout);
        let failed = move |reason: String| {
            DataFusionError::External(Box::new(Error::Cluster {
                url: url.clone(),
                reason: format!("{what}: {reason}"),
            }))
        };
        let batches = futures::stream::unfold(Some(stream), move |stream| {
            let failed = failed.clone();
            async move {
                let mut stream = stream?;
                match tokio::time::timeout(timeout, stream.next()).await {
                    Ok(None) => None,
                    Ok(Some(Ok(batch))) => Some((Ok(batch), Some(stream))),
                    Ok(Some(Err(error))) => Some((Err(failed(error.to_string())), None)),
                    Err(_) => {
                        let stalled =
                            format!("no result for {} (the job stalled)", humantime::format_duration(timeout));
                        Some((Err(failed(stalled)), None))
                    }
                }
            }
        });
        Box::pin(RecordBatchStreamAdapter::new(schema, batches))
    }

    async fn collect(&self, what: &'static str, frame: DataFrame) -> Result<Vec<RecordBatch>> {
        let plan = frame.create_physical_plan().await.map_err(|e| self.failed(format!("planning {what}: {e}")))?;
        self.collect_plan(what, plan).await
    }

    async fn collect_plan(&self, what: &'static str, plan: Arc<dyn ExecutionPlan>) -> Result<Vec<RecordBatch>> {
        let stream = self.run_plan(what, plan).await?;
        collect(stream).await.map_err(|e| match e {
            DataFusionError::External(inner) => match inner.downcast::<Error>() {
                Ok(error) => *error,
                Err(other) => self.failed(format!("{what}: {other}")),
            },
            other => self.failed(format!("{what}: {other}")),
        })
    }

    /// A side's rows (after the diff's filter) with the side's columns.
    fn side(&self, context: &SessionContext, job: &SideJob) -> Result<DataFrame> {
        // Inexact row counts: see `DatasetTable::with_inexact_rows`.
        let table = Arc::new(DatasetTable::new(Arc::clone(&job.dataset)).with_inexact_rows());
        let mut frame = context.read_table(table).map_err(|e| self.failed(e))?;
        if let Some(filter) = &job.filter {
            let invalid = |e| Error::InvalidOption(format!("the filter `{filter}` is not a valid SQL predicate: {e}"));
            let predicate = frame.parse_sql_expr(filter).map_err(invalid)?;
            frame = frame.filter(predicate).map_err(invalid)?;
        }
        let names: Vec<&str> = job.columns.iter().map(String::as_str).collect();
        frame.select_columns(&names).map_err(|e| self.failed(e))
    }

    fn call(job: &SideJob, function: RowFunction) -> Result<Expr> {
        let definition = Definition { function, hashing: job.hashing.clone() };
        let udf = RowUdf::udf(definition).map_err(|e| Error::Internal(e.to_string()))?;
        Ok(udf.call(columns(job)))
    }

    /// A side's rows (only those in `only`, if given) as `bucket`, `key_hash`, the limbs and
    /// `null_order`.
    fn digested(&self, context: &SessionContext, job: &SideJob, only: Option<&BucketSet>) -> Result<DataFrame> {
        let digest = Self::call(job, RowFunction::Digest)?;
        let fields = verifier::remote::digest_fields();
        let mut frame = self.side(context, job)?;
        if let Some(buckets) = only {
            frame =
                frame.filter(Self::call(job, RowFunction::InBuckets(buckets.clone()))?).map_err(|e| self.failed(e))?;
        }
        let frame = frame.select(vec![digest.alias("d")]).map_err(|e| self.failed(e))?;
        let parts = fields.iter().map(|f| get_field(col("d"), f.name().as_str()).alias(f.name()));
        frame.select(parts.collect::<Vec<_>>()).map_err(|e| self.failed(e))
    }

    /// One side's digest per bucket (the NULL keys' rows in the NULL bucket), its columns named
    /// with `prefix`: `{prefix}bucket`, `{prefix}n`, `{prefix}s0` to `{prefix}s3`. With `level`,
    /// per group of `level.per_group` buckets (`bucket` is then the group) and only the rows in
    /// `level.only`.
    fn digests_per_bucket(
        &self,
        context: &SessionContext,
        job: &SideJob,
        prefix: &str,
        level: Level<'_>,
    ) -> Result<DataFrame> {
        let mut aggregates = vec![count(lit(1)).alias("n")];
        aggregates.extend(LIMBS.iter().enumerate().map(|(i, limb)| sum(col(*limb)).alias(format!("s{i}"))));
        let names = ["bucket", "n", "s0", "s1", "s2", "s3"];
        // The NULL keys' rows go to a bucket past the last: no join key is NULL.
        let beyond = null_keys_bucket(job);
        let mut bucket = coalesce(vec![col("bucket"), lit(beyond)]);
        if level.per_group > 1 {
            bucket = bucket / lit(level.per_group);
        }
        let bucket = bucket.alias("bucket");
        self.digested(context, job, level.only)?
            .aggregate(vec![bucket], aggregates)
            .and_then(|frame| {
                frame.select(names.iter().map(|n| col(*n).alias(format!("{prefix}{n}"))).collect::<Vec<_>>())
            })
            .map_err(|e| self.failed(e))
    }

    /// Pass 1's plan: per group `g` (a differing bucket; -1 all equal buckets; -2 the NULL
    /// keys) each side's rows, and each side's limb sums of the NULL keys.
    fn pass1(
        &self,
        context: &SessionContext,
        [baseline, candidate]: [&SideJob; 2],
        level: Level<'_>,
    ) -> Result<DataFrame> {
        let b = self.digests_per_bucket(context, baseline, "b_", level)?;
        let c = self.digests_per_bucket(context, candidate, "c_", level)?;
        let joined = b.join(c, JoinType::Full, &["b_bucket"], &["c_bucket"], None).map_err(|e| self.failed(e))?;
        let distinct =
            |name: &str| binary_expr(col(format!("b_{name}")), Operator::IsDistinctFrom, col(format!("c_{name}")));
        let differing = ["n", "s0", "s1", "s2", "s3"].into_iter().map(distinct).reduce(Expr::or).unwrap_or(lit(false));
        let beyond = lit(null_keys_bucket(baseline) / level.per_group);
        let null_keys = col("b_bucket").eq(beyond.clone()).or(col("c_bucket").eq(beyond.clone()));
        let group = when(null_keys, lit(-2i64))
            .when(differing, cast(coalesce(vec![col("b_bucket"), col("c_bucket")]), DataType::Int64))
            .otherwise(lit(-1i64))
            .map_err(|e| self.failed(e))?;
        let mut columns = vec![group.alias("g"), col("b_n"), col("c_n")];
        for side in ["b", "c"] {
            for i in 0..4 {
                // Limb sums of the NULL keys only: other groups' would overflow and are not needed.
                let limb = when(col("g_null"), col(format!("{side}_s{i}"))).end().map_err(|e| self.failed(e))?;
                columns.push(limb.alias(format!("{side}_null_s{i}")));
            }
        }
        let mut sums = vec![sum(col("b_n")).alias("b_n"), sum(col("c_n")).alias("c_n")];
        for side in ["b", "c"] {
            sums.extend((0..4).map(|i| sum(col(format!("{side}_null_s{i}"))).alias(format!("{side}_s{i}"))));
        }
        let either_null_keys = col("b_bucket").eq(beyond.clone()).or(col("c_bucket").eq(beyond));
        joined
            .with_column("g_null", either_null_keys.is_true())
            .and_then(|frame| frame.select(columns))
            .and_then(|frame| frame.aggregate(vec![col("g")], sums))
            .map_err(|e| self.failed(e))
    }
}

/// What pass 1 reads: per bucket, or per group of buckets and only some rows.
#[derive(Debug, Clone, Copy)]
struct Level<'a> {
    /// Buckets per group (a power of two; 1: per bucket).
    per_group: u32,
    /// Only the rows of these buckets (keys without NULLs).
    only: Option<&'a BucketSet>,
}

impl Cluster {
    /// Pass 1's rows: totals, NULL keys and the differing buckets (or groups), ascending.
    fn read_pass1(&self, batches: &[RecordBatch]) -> Result<RemoteFingerprint> {
        let mut found = RemoteFingerprint::default();
        for batch in batches {
            let groups = batch.column_by_name("g").ok_or_else(|| self.failed("pass 1 returned no groups"))?;
            let groups = groups.as_primitive::<Int64Type>();
            for row in 0..batch.num_rows() {
                let rows = [int(batch, "b_n", row), int(batch, "c_n", row)];
                found.rows[0] += rows[0];
                found.rows[1] += rows[1];
                match groups.value(row) {
                    -1 => {}
                    -2 => {
                        let limbs = |side: &str| std::array::from_fn(|i| int(batch, &format!("{side}_s{i}"), row));
                        found.null_keys =
                            [(rows[0], digest_from_limbs(limbs("b"))), (rows[1], digest_from_limbs(limbs("c")))];
                    }
                    bucket => {
                        let bucket = u32::try_from(bucket).map_err(|_| self.failed("pass 1 returned a bad bucket"))?;
                        found.differing.push((bucket, rows));
                    }
                }
            }
        }
        found.differing.sort_unstable();
        Ok(found)
    }
}

/// The bucket the NULL keys' rows are counted in: one past the last.
fn null_keys_bucket(job: &SideJob) -> u32 {
    u32::try_from(job.hashing.bucket_count()).unwrap_or(u32::MAX)
}

/// The side's columns, as expressions (names as they are, not folded to lower case).
fn columns(job: &SideJob) -> Vec<Expr> {
    job.columns.iter().map(|name| Expr::Column(Column::new_unqualified(name))).collect()
}

/// The value of an aggregate's integer column at `row` (NULL: 0).
fn int(batch: &RecordBatch, name: &str, row: usize) -> u64 {
    let Some(column) = batch.column_by_name(name) else { return 0 };
    if column.is_null(row) {
        return 0;
    }
    match column.data_type() {
        DataType::Int64 => u64::try_from(column.as_primitive::<Int64Type>().value(row)).unwrap_or(0),
        DataType::UInt64 => column.as_primitive::<UInt64Type>().value(row),
        _ => 0,
    }
}

#[async_trait]
impl RemotePasses for Cluster {
    fn url(&self) -> &str {
        &self.url
    }

    async fn fingerprint(&self, sides: [&SideJob; 2]) -> Result<RemoteFingerprint> {
        let context = self.context();
        let count = sides[0].hashing.bucket_count();
        let per_group = u32::try_from((count / self.bucket_groups).max(1)).unwrap_or(u32::MAX);
        let coarse = Level { per_group, only: None };
        let batches = self.collect("pass 1 (digests)", self.pass1(&context, sides, coarse)?).await?;
        let mut found = self.read_pass1(&batches)?;
        if per_group == 1 || found.differing.is_empty() {
            return Ok(found);
        }
        // The buckets of the differing groups, each with its own digest.
        let groups = std::mem::take(&mut found.differing);
        let per_group = per_group as usize;
        let members =
            groups.iter().flat_map(|&(group, _)| (group as usize * per_group)..((group as usize + 1) * per_group));
        let only = BucketSet::new(count, members);
        let fine = Level { per_group: 1, only: Some(&only) };
        let what = "pass 1 (digests of the differing groups' buckets)";
        let batches = self.collect(what, self.pass1(&context, sides, fine)?).await?;
        found.differing = self.read_pass1(&batches)?.differing;
        Ok(found)
    }

    async fn bucket_digests(&self, side: &SideJob) -> Result<SideDigests> {
        let context = self.context();
        let frame = self.digests_per_bucket(&context, side, "", Level { per_group: 1, only: None })?;
        let mut found = SideDigests::default();
        for batch in &self.collect("fingerprint (digests)", frame).await? {
            let buckets = batch.column_by_name("bucket").ok_or_else(|| self.failed("the digests have no buckets"))?;
            let buckets = buckets.as_primitive::<UInt32Type>();
            for row in 0..batch.num_rows() {
                let rows = int(batch, "n", row);
                let sum = digest_from_limbs(std::array::from_fn(|i| int(batch, &format!("s{i}"), row)));
                found.rows += rows;
                if buckets.is_null(row) || buckets.value(row) == null_keys_bucket(side) {
                    found.null_keys = (rows, sum);
                } else {
                    found.buckets.push(BucketDigest { bucket: buckets.value(row), rows, sum });
                }
            }
        }
        found.buckets.sort_unstable_by_key(|digest| digest.bucket);
        Ok(found)
    }

    async fn duplicate_key_hashes(&self, side: &SideJob) -> Result<Vec<u64>> {
        let context = self.context();
        let frame = self
            .digested(&context, side, None)?
            .filter(col("bucket").is_not_null())
            .and_then(|frame| frame.select(vec![col("key_hash")]))
            .and_then(|frame| frame.aggregate(vec![col("key_hash")], vec![count(lit(1)).alias("n")]))
            .and_then(|frame| frame.filter(col("n").gt(lit(1i64))))
            .and_then(|frame| frame.select(vec![col("key_hash")]))
            .map_err(|e| self.failed(e))?;
        let batches = self.collect(DUPLICATE_KEYS, frame).await?;
        Ok(batches.iter().flat_map(|batch| batch.column(0).as_primitive::<UInt64Type>().values().to_vec()).collect())
    }

    async fn null_key_rows(&self, side: &SideJob, limit: usize) -> Result<Vec<RecordBatch>> {
        let context = self.context();
        let order = get_field(Self::call(side, RowFunction::Digest)?, "null_order");
        let mut projection = columns(side);
        projection.push(order.alias("__dqc_order"));
        let frame = self
            .side(&context, side)?
            .select(projection)
            .and_then(|frame| frame.filter(col("__dqc_order").is_not_null()))
            .and_then(|frame| frame.sort(vec![col("__dqc_order").sort(true, false)]))
            .and_then(|frame| frame.limit(0, Some(limit)))
            .and_then(|frame| frame.select(columns(side)))
            .map_err(|e| self.failed(e))?;
        self.collect("NULL-key samples", frame).await
    }

    async fn classify(
        &self,
        [baseline, candidate]: [&SideJob; 2],
        buckets: &BucketSet,
        classification: &Classification,
    ) -> Result<Vec<Share>> {
        let context = self.context();
        let partitions = self.config.target_partitions();
        let (b, c) = tokio::try_join!(
            self.rows_by_bucket(&context, baseline, buckets, partitions),
            self.rows_by_bucket(&context, candidate, buckets, partitions)
        )?;
        let plan = ClassifyExec::try_new(classification.clone(), b, c).map_err(|e| self.failed(e))?;
        let batches = self.collect_plan("pass 2 (classifying the differing buckets)", Arc::new(plan)).await?;
        crate::classify::shares(&batches)
    }
}

impl Cluster {
    /// A side's rows in `buckets` with their bucket last, hash-partitioned by bucket.
    async fn rows_by_bucket(
        &self,
        context: &SessionContext,
        side: &SideJob,
        buckets: &BucketSet,
        partitions: usize,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let wanted = Self::call(side, RowFunction::InBuckets(buckets.clone()))?;
        let bucket = get_field(Self::call(side, RowFunction::Digest)?, "bucket").alias(BUCKET_COLUMN);
        let mut projection = columns(side);
        projection.push(bucket);
        let frame =
            self.side(context, side)?.filter(wanted).and_then(|f| f.select(projection)).map_err(|e| self.failed(e))?;
        let plan = frame.create_physical_plan().await.map_err(|e| self.failed(format!("planning pass 2: {e}")))?;
        let index = plan.schema().index_of(BUCKET_COLUMN).map_err(|e| self.failed(e))?;
        let by_bucket = Partitioning::Hash(vec![Arc::new(PhysicalColumn::new(BUCKET_COLUMN, index))], partitions);
        Ok(Arc::new(RepartitionExec::try_new(plan, by_bucket).map_err(|e| self.failed(e))?))
    }
}
