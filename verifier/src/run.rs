//! One diff from spec to report: open both datasets, plan the columns, fingerprint both sides,
//! diff the differing buckets, assemble the report and, if asked, the export.

use std::sync::Arc;
use std::time::Instant;

use datafusion::execution::memory_pool::FairSpillPool;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::prelude::{SessionConfig, SessionContext};
use serde_json::{Map, Value};

use crate::columns;
use crate::columns::ColumnPlan;
use crate::diff::{Classified, Classifier, Rounds, SideRounds, retain};
use crate::error::{Error, Result};
use crate::export::Export;
use crate::fingerprint::{Buckets, Digest, Fingerprint, KeepBudget, Settings, fingerprint};
use crate::progress::{NoProgress, Pass, Progress};
use crate::remote::{self, RemotePasses, SideJob};
use crate::report::{BucketSummary, ColumnReport, DatasetSummary, Report, Samples, Verdict};
use crate::source::{self, Dataset};
use crate::spec::{DiffSpec, ResourceLimits, Side};

/// The column plan of the two datasets, with each side's files checked against its declared
/// schema.
fn plan_columns(spec: &DiffSpec, baseline: &Dataset, candidate: &Dataset) -> Result<ColumnPlan> {
    let mut plan = ColumnPlan::new(
        &baseline.schema(),
        &candidate.schema(),
        &spec.key,
        &spec.options,
        [&spec.baseline, &spec.candidate],
    )?;
    for dataset in [baseline, candidate] {
        if let Some(declared) = spec.declared.side(dataset.side()) {
            let found = columns::declared_mismatches(dataset.side(), declared, &dataset.schema(), &spec.options);
            plan.schema.declared.extend(found);
        }
    }
    Ok(plan)
}

/// Runs the diff `spec` describes. Differences are `Ok(report)`; `Err` means dqc could not tell.
pub async fn diff(spec: &DiffSpec) -> Result<Report> {
    diff_with_progress(spec, Arc::new(NoProgress)).await
}

/// [`diff`], reporting its passes and rows to `progress`.
pub async fn diff_with_progress(spec: &DiffSpec, progress: Arc<dyn Progress>) -> Result<Report> {
    diff_routed(spec, progress, |_| Route::Local).await
}

/// Where a diff's reads run, chosen once both datasets are open (from their footers' rows).
#[derive(Debug)]
pub enum Route<'a> {
    /// In this process.
    Local,
    /// On a cluster; if it fails to run the diff and `fall_back` is set, in this process.
    Remote { passes: &'a dyn RemotePasses, fall_back: bool },
    /// Nowhere: the diff fails with this reason (a table too large for one node, no cluster).
    Refused(String),
}

/// Where the reads of a table of so many rows (its larger side's) run.
pub type Router<'a> = dyn Fn(u64) -> Route<'a> + Send + Sync + 'a;

/// [`diff_with_progress`], its reads run where `route` says from the larger side's rows (in its
/// footers: nothing else has been read yet).
pub async fn diff_routed<'a>(
    spec: &DiffSpec,
    progress: Arc<dyn Progress>,
    route: impl FnOnce(u64) -> Route<'a>,
) -> Result<Report> {
    let started = Instant::now();
    let roots = |side| spec.confinement.as_ref().map(|confinement| confinement.side(side));
    let (baseline, candidate) = tokio::try_join!(
        Dataset::open_within(Side::Baseline, &spec.baseline, roots(Side::Baseline), &spec.stores),
        Dataset::open_within(Side::Candidate, &spec.candidate, roots(Side::Candidate), &spec.stores)
    )?;
    diff_datasets_routed(spec, progress, (Arc::new(baseline), Arc::new(candidate)), route, started).await
}

/// [`diff_routed`] of two open datasets (an inventory's partition: files listed and inspected
/// already), its time counted from `started`.
pub(crate) async fn diff_datasets_routed<'a>(
    spec: &DiffSpec,
    progress: Arc<dyn Progress>,
    sides: (Arc<Dataset>, Arc<Dataset>),
    route: impl FnOnce(u64) -> Route<'a>,
    started: Instant,
) -> Result<Report> {
    let rows = sides.0.rows().max(sides.1.rows());
    let (progress, sides) = (&progress, &sides);
    on_route(route(rows), "diff", |passes| async move {
        match passes {
            None => diff_opened(spec, progress, sides.clone(), started).await,
            Some(passes) => diff_remotely(spec, progress, passes, sides.clone(), started).await,
        }
    })
    .await
}

/// Runs `work` where `route` says: here (`None`), or with the cluster's passes and, when the
/// cluster fails and the route falls back, here again.
pub(crate) async fn on_route<'a, T, Fut>(
    route: Route<'a>,
    what: &str,
    work: impl Fn(Option<&'a dyn RemotePasses>) -> Fut,
) -> Result<T>
where
    Fut: Future<Output = Result<T>>,
{
    match route {
        Route::Local => work(None).await,
        Route::Refused(reason) => Err(Error::InvalidOption(reason)),
        Route::Remote { passes, fall_back } => match work(Some(passes)).await {
            Err(error @ Error::Cluster { .. }) if fall_back => {
                tracing::warn!(%error, "the cluster did not run the {what}: running it here");
                work(None).await
            }
            outcome => outcome,
        },
    }
}

/// The local diff of two open datasets.
async fn diff_opened(
    spec: &DiffSpec,
    progress: &Arc<dyn Progress>,
    (baseline, candidate): (Arc<Dataset>, Arc<Dataset>),
    started: Instant,
) -> Result<Report> {
    let context = session(&spec.limits)?;
    let plan = plan_columns(spec, &baseline, &candidate)?;
    let buckets = Buckets::for_rows(baseline.rows().max(candidate.rows()));
    let filter = spec.options.filter.as_deref();
    let sample_limit = spec.options.sample_limit;
    let differ = filter.is_none() && footers_differ(&plan, &baseline, &candidate);
    let total_rows = baseline.rows() + candidate.rows();
    let settings = fingerprint_settings(spec, differ, total_rows);
    let candidate_settings = Settings { find_duplicates: false, ..settings.clone() };

    let scan = |dataset: &Arc<Dataset>| {
        let columns = plan.scan_columns(dataset.side());
        let context = &context;
        let dataset = Arc::clone(dataset);
        async move { source::scan(context, &dataset, &columns, filter).await }
    };
    let (baseline_streams, candidate_streams) = tokio::try_join!(scan(&baseline), scan(&candidate))?;
    progress.start_pass(Pass::Fingerprint, total_rows);
    let (mut baseline_fp, mut candidate_fp) = tokio::try_join!(
        fingerprint(baseline_streams, &plan, buckets, settings, progress),
        fingerprint(candidate_streams, &plan, buckets, candidate_settings, progress)
    )?;
    let kept = baseline_fp.take_kept().zip(candidate_fp.take_kept());
    tracing::debug!(elapsed = ?started.elapsed(), footers_differ = differ, kept = kept.is_some(), "fingerprint pass done");
    let differing = differing_buckets(&mut baseline_fp, &candidate_fp, buckets, threads(&spec.limits)?)?;
    tracing::debug!(elapsed = ?started.elapsed(), "differing buckets found");
    let matched_in_equal_buckets: u64 =
        baseline_fp.buckets.iter().zip(&differing).filter(|(_, d)| !**d).map(|(digest, _)| digest.rows).sum();

    let per_bucket = baseline_fp.buckets.iter().zip(&candidate_fp.buckets).zip(&differing);
    let rounds = Arc::new(Rounds::plan(
        per_bucket.map(|((b, c), d)| (*d, b.rows + c.rows)),
        retained_row_bytes(&baseline_fp, &candidate_fp),
        spec.limits.memory_limit.map(|bytes| bytes / 4),
    ));
    let read_again = rounds.count() > 0 && kept.is_none();
    let (mut baseline_rounds, mut candidate_rounds) = if rounds.count() > 0 {
        let (b, c) = match kept {
            Some((b, c)) => (source::replay(b), source::replay(c)),
            None => tokio::try_join!(scan(&baseline), scan(&candidate))?,
        };
        progress.start_pass(Pass::Diff, total_rows);
        tokio::try_join!(
            retain(b, &plan, buckets, Arc::clone(&rounds), progress),
            retain(c, &plan, buckets, Arc::clone(&rounds), progress)
        )?
    } else {
        (SideRounds::empty(), SideRounds::empty())
    };
    tracing::debug!(elapsed = ?started.elapsed(), rounds = rounds.count(), "diff pass read");
    let mut classified =
        classify(&plan, &rounds, [&mut baseline_rounds, &mut candidate_rounds], sample_limit, spec.export.as_deref())?;
    classified.summary.matched += matched_in_equal_buckets;
    tracing::debug!(elapsed = ?started.elapsed(), "classified");
    let sides = [(&baseline, SideTotals::of(&baseline_fp)), (&candidate, SideTotals::of(&candidate_fp))];
    let mut report = assemble(&plan, sides, classified);
    report.buckets = bucket_summary(&differing, &rounds, differ, read_again);
    report.elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    Ok(report)
}

/// [`diff_with_progress`] with the reads run by `passes` (a cluster): the same report, but for
/// `buckets.read_again` (always true: nothing is kept between the passes) and the timings.
/// The datasets are opened, their columns planned and the differing rows classified here.
pub async fn diff_on(spec: &DiffSpec, progress: Arc<dyn Progress>, passes: &dyn RemotePasses) -> Result<Report> {
    diff_routed(spec, progress, |_| Route::Remote { passes, fall_back: false }).await
}

/// The remote diff of two open datasets.
async fn diff_remotely(
    spec: &DiffSpec,
    progress: &Arc<dyn Progress>,
    passes: &dyn RemotePasses,
    (baseline, candidate): (Arc<Dataset>, Arc<Dataset>),
    started: Instant,
) -> Result<Report> {
    let plan = plan_columns(spec, &baseline, &candidate)?;
    let buckets = Buckets::for_rows(baseline.rows().max(candidate.rows()));
    let differ = spec.options.filter.is_none() && footers_differ(&plan, &baseline, &candidate);
    let total_rows = baseline.rows() + candidate.rows();
    let job = |dataset: &Arc<Dataset>| SideJob::new(dataset, &plan, spec, buckets)?.with_schemas(&baseline, &candidate);
    let jobs = [job(&baseline)?, job(&candidate)?];

    progress.start_pass(Pass::Fingerprint, total_rows);
    let duplicates = async { if plan.multiset { Ok(Vec::new()) } else { passes.duplicate_key_hashes(&jobs[0]).await } };
    let (found, duplicates) = tokio::try_join!(passes.fingerprint([&jobs[0], &jobs[1]]), duplicates)?;
    progress.add_rows(found.rows[0] + found.rows[1]);
    remote::check_rows(
        passes,
        spec.options.filter.is_some(),
        [(&baseline, found.rows[0]), (&candidate, found.rows[1])],
    )?;
    let (mut differing, mut rows_in) = (vec![false; buckets.count()], vec![0u64; buckets.count()]);
    for &(bucket, [b, c]) in &found.differing {
        let bucket = bucket as usize;
        if bucket >= buckets.count() {
            return Err(Error::Internal(format!("the cluster returned bucket {bucket} of {}", buckets.count())));
        }
        differing[bucket] = true;
        rows_in[bucket] = b + c;
    }
    for hash in duplicates {
        differing[buckets.of(hash)] = true;
    }
    let sample_limit = spec.options.sample_limit;
    let mut null_key_samples = [Vec::new(), Vec::new()];
    for (side, samples) in null_key_samples.iter_mut().enumerate() {
        if found.null_keys[side].0 > 0 && sample_limit > 0 {
            let rows = passes.null_key_rows(&jobs[side], sample_limit).await?;
            *samples = remote::null_key_samples(&rows, &plan, sample_limit)?;
        }
    }

    // One round: each share of the differing buckets is classified at once where it is read.
    let rounds = Rounds::plan(differing.iter().map(|&d| (d, 0)), 0, None);
    let shares = if rounds.count() > 0 {
        let classification = remote::Classification::new(&jobs[0], sample_limit, spec.export.is_some());
        // Only the differing buckets' rows are counted by pass 1 (not those of buckets read for
        // a possible duplicate key alone).
        progress.start_pass(Pass::Diff, rows_in.iter().sum());
        let set = remote::bucket_set(&differing);
        let shares = passes.classify([&jobs[0], &jobs[1]], &set, &classification).await?;
        progress.add_rows(rows_in.iter().sum());
        shares
    } else {
        Vec::new()
    };
    let (mut classified, classified_baseline) = remote::merge(shares, &plan, sample_limit, spec.export.as_deref())?;
    // The baseline's rows with a non-NULL key outside the buckets classified matched.
    let keyed_baseline = found.rows[0].saturating_sub(found.null_keys[0].0);
    classified.summary.matched += keyed_baseline.saturating_sub(classified_baseline);
    let [baseline_samples, candidate_samples] = null_key_samples;
    let totals = |side: usize, null_key_samples| SideTotals {
        rows: found.rows[side],
        null_keys: Digest { rows: found.null_keys[side].0, sum: found.null_keys[side].1 },
        null_key_samples,
    };
    let sides = [(&baseline, totals(0, baseline_samples)), (&candidate, totals(1, candidate_samples))];
    let mut report = assemble(&plan, sides, classified);
    report.buckets = bucket_summary(&differing, &rounds, differ, rounds.count() > 0);
    report.elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    Ok(report)
}

/// Classifies the retained rows round by round, writing each round's differing rows to the
/// export if one is asked for.
fn classify(
    plan: &ColumnPlan,
    rounds: &Rounds,
    [baseline, candidate]: [&mut SideRounds; 2],
    sample_limit: usize,
    export: Option<&std::path::Path>,
) -> Result<Classified> {
    let columns = || [plan.typed_columns(Side::Baseline), plan.typed_columns(Side::Candidate)];
    let mut export = export.map(|path| Export::create(path, columns())).transpose()?;
    let mut classified = Classified::new(plan);
    for round in 0..rounds.count() {
        let sides = [baseline.round(round, plan)?, candidate.round(round, plan)?];
        Classifier::new(plan, [&sides[0], &sides[1]], sample_limit, export.is_some(), &mut classified).run()?;
        if let Some(export) = &mut export {
            export.write(&classified.differing, &sides[0], &sides[1])?;
        }
        classified.differing.clear();
    }
    if let Some(export) = export {
        export.finish()?;
    }
    Ok(classified)
}

/// A DataFusion session within the limits: `threads` partitions, a spillable memory pool.
pub(crate) fn session(limits: &ResourceLimits) -> Result<SessionContext> {
    let threads = threads(limits)?;
    let config = SessionConfig::new().with_target_partitions(threads).with_batch_size(crate::BATCH_SIZE);
    let mut runtime = RuntimeEnvBuilder::new();
    if let Some(bytes) = limits.memory_limit {
        runtime = runtime.with_memory_pool(Arc::new(FairSpillPool::new(bytes)));
    }
    Ok(SessionContext::new_with_config_rt(config, runtime.build_arc()?))
}

/// The threads a run may use: `--threads`, or one per core.
pub(crate) fn threads(limits: &ResourceLimits) -> Result<usize> {
    match limits.threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get())) {
        0 => Err(Error::InvalidOption("--threads must be at least 1".to_owned())),
        threads => Ok(threads),
    }
}

/// Buckets to read again: digests that differ, and buckets where the baseline may hold a
/// duplicate key (only the baseline keeps its key hashes: see [`Settings::find_duplicates`]).
fn differing_buckets(
    baseline: &mut Fingerprint,
    candidate: &Fingerprint,
    buckets: Buckets,
    threads: usize,
) -> Result<Vec<bool>> {
    let mut differing: Vec<bool> = baseline.buckets.iter().zip(&candidate.buckets).map(|(b, c)| b != c).collect();
    for bucket in baseline.duplicate_buckets(buckets, threads)? {
        differing[bucket] = true;
    }
    Ok(differing)
}

/// Memory one row held by the diff pass is expected to take: its Arrow bytes (measured in pass
/// 1), as much again for the values decoded for comparing, its encoded key and bookkeeping.
fn retained_row_bytes(baseline: &Fingerprint, candidate: &Fingerprint) -> u64 {
    let rows = (baseline.rows + candidate.rows).max(1);
    2 * (baseline.arrow_bytes + candidate.arrow_bytes) / rows + 96
}

/// Whether the footers prove that the datasets differ: other row counts, or a compared column
/// with another count of non-NULL values or (ORC integers) another sum.
fn footers_differ(plan: &ColumnPlan, baseline: &Dataset, candidate: &Dataset) -> bool {
    baseline.rows() != candidate.rows()
        || plan
            .keys
            .iter()
            .chain(&plan.values)
            .any(|pair| baseline.column_stats(&pair.baseline_name).differ(candidate.column_stats(&pair.candidate_name)))
}

/// The fingerprint pass's settings. Footers that prove the datasets differ mean a diff pass:
/// the fingerprint pass then keeps what it reads (within a budget, which `rows` of both sides
/// let [`KeepBudget`] project) so that the diff pass need not read it again. Otherwise nothing
/// is kept: keeping costs equal datasets, the common case, 20-50% more time (measured on
/// 2 x 2M rows: fresh memory for every batch).
fn fingerprint_settings(spec: &DiffSpec, footers_differ: bool, rows: u64) -> Settings {
    Settings {
        sample_limit: spec.options.sample_limit,
        find_duplicates: true,
        key_hash_budget: key_hash_budget(&spec.limits),
        keep: footers_differ.then(|| KeepBudget::new(keep_budget(&spec.limits), rows)),
    }
}

/// Memory for the batches the fingerprint pass keeps, so that the diff pass need not read both
/// datasets again: a quarter of the memory limit, or 2 GiB without one.
fn keep_budget(limits: &ResourceLimits) -> u64 {
    limits.memory_limit.map_or(2 << 30, |bytes| bytes as u64 / 4)
}

/// Key hashes (8 bytes each) held in memory per scan partition: 4M (32 MiB) by default, or a
/// 64th of the memory limit, whichever is smaller.
pub(crate) fn key_hash_budget(limits: &ResourceLimits) -> usize {
    const DEFAULT: usize = 4 << 20;
    limits.memory_limit.map_or(DEFAULT, |bytes| (bytes / 64 / 8).clamp(1024, DEFAULT))
}

/// The report's account of the buckets: `differing` has one flag per bucket.
fn bucket_summary(differing: &[bool], rounds: &Rounds, footers_differ: bool, read_again: bool) -> BucketSummary {
    BucketSummary {
        count: differing.len(),
        differing: differing.iter().filter(|d| **d).count(),
        rounds: rounds.count(),
        footers_differ,
        read_again,
        differing_buckets: (0u32..).zip(differing).filter(|(_, d)| **d).map(|(b, _)| b).collect(),
    }
}

/// What the report takes from one side's fingerprint pass.
struct SideTotals {
    rows: u64,
    null_keys: Digest,
    /// The first NULL-key rows in sample order.
    null_key_samples: Vec<Map<String, Value>>,
}

impl SideTotals {
    fn of(fingerprint: &Fingerprint) -> Self {
        Self {
            rows: fingerprint.rows,
            null_keys: fingerprint.null_keys,
            null_key_samples: fingerprint.null_key_samples.values().cloned().collect(),
        }
    }
}

fn assemble(plan: &ColumnPlan, sides: [(&Arc<Dataset>, SideTotals); 2], classified: Classified) -> Report {
    let [(baseline, baseline_fp), (candidate, candidate_fp)] = sides;
    let mut summary = classified.summary;
    summary.null_keys_baseline = baseline_fp.null_keys.rows;
    summary.null_keys_candidate = candidate_fp.null_keys.rows;
    summary.null_key_rows_match = baseline_fp.null_keys == candidate_fp.null_keys;
    let samples = Samples {
        null_keys_baseline: baseline_fp.null_key_samples.clone(),
        null_keys_candidate: candidate_fp.null_key_samples.clone(),
        ..classified.samples
    };
    let key_columns = plan.keys.iter().filter(|_| !plan.multiset).map(|pair| (pair, true, 0, Vec::new()));
    let value_columns = plan
        .values
        .iter()
        .zip(classified.mismatches)
        .zip(classified.column_samples)
        .map(|((pair, m), s)| (pair, false, m, s));
    let columns = key_columns
        .chain(value_columns)
        .map(|(pair, key, mismatches, samples)| ColumnReport {
            name: pair.baseline_name.clone(),
            candidate_name: (!pair.candidate_name.eq_ignore_ascii_case(&pair.baseline_name))
                .then(|| pair.candidate_name.clone()),
            baseline_type: columns::logical_type(&pair.baseline_type),
            candidate_type: columns::logical_type(&pair.candidate_type),
            key,
            mismatches,
            samples,
        })
        .collect();
    let dataset = |d: &Arc<Dataset>, f: &SideTotals| DatasetSummary {
        uri: d.uri().to_owned(),
        rows: f.rows,
        files: d.file_count(),
    };
    let mut report = Report {
        verdict: Verdict::Inconsistent,
        mode: if plan.multiset { "multiset" } else { "keyed" },
        key: if plan.multiset { Vec::new() } else { plan.keys.iter().map(|k| k.baseline_name.clone()).collect() },
        baseline: dataset(baseline, &baseline_fp),
        candidate: dataset(candidate, &candidate_fp),
        summary,
        columns,
        schema: plan.schema.clone(),
        samples,
        buckets: BucketSummary::default(),
        elapsed_ms: 0,
    };
    report.decide();
    report
}
