//! Inventories: two whole warehouses compared partition by partition, at metadata speed.
//!
//! Before any task runs dual, a migration copies years of history across; an inventory says,
//! for every table and partition, whether the copy holds the same data:
//!
//! - listing (`layout`): tables and partitions on each side (missing, extra), files and bytes;
//! - footers (`footers`, `compare`; the default): each file's footer read once, per partition
//!   the rows, the schema and each column's statistics compared (`source::summary`);
//! - deep: partitions whose footers agree are fingerprinted on both sides (the bucket digests of
//!   `dqc fingerprint`) and compared; with `diff`, a partition whose footers differ gets a full
//!   diff.
//!
//! Partitions are worked on side by side (`concurrency` at once, and as many footer reads in
//! flight per store); each finished partition goes to the checkpoint, if any (`checkpoint`),
//! so that an interrupted inventory resumes where it stopped.

mod checkpoint;
mod compare;
mod footers;
mod layout;
mod report;

pub use compare::SchemaChanges;
pub use layout::{Catalog, CatalogTable, table_kept};
pub use report::{
    Counts, InventoryReport, InventorySummary, Level, PartitionInventory, PartitionSide, PartitionVerdict, SideTotals,
    TableInventory,
};

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use futures::StreamExt;
use tokio::sync::Semaphore;

use self::checkpoint::{Checkpoint, Finished, Header};
use self::footers::{PartitionFooters, Reader};
use self::layout::{Filters, PartitionFiles, Warehouse};
use crate::error::Result;
use crate::fingerprint_file::{FingerprintFile, FingerprintSpec, compare_fingerprints, fingerprint_files};
use crate::report::Verdict;
use crate::run::{Route, Router};
use crate::source::Dataset;
use crate::source::Stores;
use crate::source::format::DataFile;
use crate::spec::{Confinement, DiffOptions, DiffSpec, ResourceLimits, Side};

/// Partitions finished by an earlier run, by `(table, partition)`.
pub type EarlierPartitions = std::collections::HashMap<(String, String), PartitionInventory>;

/// What to inventory and how deep.
#[derive(Debug, Clone)]
pub struct InventorySpec {
    /// The baseline warehouse: a directory tree of tables in any store, or the name of the
    /// catalog that `catalogs` holds for it (`hive://hms:9083/sales`).
    pub baseline: String,
    /// The candidate warehouse.
    pub candidate: String,
    /// Table patterns (`orders`, `sales.db/*`, `fact_?`); empty: every table.
    pub tables: Vec<String>,
    /// Conditions on partition values, all met (`dt>=2024-01-01`).
    pub partitions: Vec<String>,
    pub level: Level,
    /// Diff the partitions whose footers differ (and that both sides have).
    pub diff: bool,
    /// Key columns for `--deep` and `--diff`, used in tables that have them all; elsewhere
    /// whole rows are compared (a multiset).
    pub key: Vec<String>,
    /// Options of the deep comparison and of diffs.
    pub options: DiffOptions,
    pub limits: ResourceLimits,
    /// Partitions worked on at once, and footer reads in flight per side.
    pub concurrency: usize,
    /// The checkpoint file: finished partitions are recorded there, and taken from there.
    pub checkpoint: Option<PathBuf>,
    /// Partitions an earlier run of this inventory finished, kept by the caller (a service's
    /// store): taken as they are instead of being read again, like a checkpoint's.
    pub earlier: Arc<EarlierPartitions>,
    /// The directories each side may be read from (a service's).
    pub confinement: Option<Confinement>,
    pub stores: Stores,
    /// The sides that a catalog describes (a metastore's database: its tables, their declared
    /// columns and where each partition is), baseline first; a side without one is listed as a
    /// directory tree.
    pub catalogs: [Option<Arc<Catalog>>; 2],
}

impl InventorySpec {
    /// An inventory at the footers' level with default options.
    pub fn new(baseline: impl Into<String>, candidate: impl Into<String>) -> Self {
        Self {
            baseline: baseline.into(),
            candidate: candidate.into(),
            tables: Vec::new(),
            partitions: Vec::new(),
            level: Level::Footers,
            diff: false,
            key: Vec::new(),
            options: DiffOptions::default(),
            limits: ResourceLimits::default(),
            concurrency: 16,
            checkpoint: None,
            earlier: Arc::default(),
            confinement: None,
            stores: Stores::default(),
            catalogs: [None, None],
        }
    }

    /// What makes a checkpoint this inventory's.
    fn identity(&self) -> serde_json::Value {
        serde_json::json!({
            "baseline": self.baseline,
            "candidate": self.candidate,
            "tables": self.tables,
            "partitions": self.partitions,
            "level": self.level,
            "diff": self.diff,
            "key": self.key,
            "options": self.options,
        })
    }
}

/// An inventory's progress, for a terminal or a service.
pub trait InventoryProgress: Send + Sync {
    /// Both warehouses are listed: the tables to do, each with its number of partitions.
    fn listed(&self, tables: &[(String, usize)]);
    /// A partition is done (`resumed`: taken from the checkpoint or from `earlier`).
    fn partition_done(&self, table: &str, partition: &PartitionInventory, resumed: bool);
}

/// Progress reported nowhere.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoInventoryProgress;

impl InventoryProgress for NoInventoryProgress {
    fn listed(&self, _: &[(String, usize)]) {}
    fn partition_done(&self, _: &str, _: &PartitionInventory, _: bool) {}
}

/// Checks table patterns and partition conditions as an inventory reads them, for a caller that
/// queues an inventory to run later.
pub fn check_filters(tables: &[String], partitions: &[String]) -> Result<()> {
    Filters::new(tables, partitions).map(drop)
}

/// Runs an inventory in this process.
pub async fn inventory(spec: &InventorySpec, progress: Arc<dyn InventoryProgress>) -> Result<InventoryReport> {
    inventory_on(spec, progress, &|_: u64| Route::Local).await
}

/// Runs an inventory whose deep fingerprints and diffs of a partition run where `route` says
/// from the partition's larger side's rows (in its footers): here, or on a cluster.
pub async fn inventory_on<'r>(
    spec: &InventorySpec,
    progress: Arc<dyn InventoryProgress>,
    route: &Router<'r>,
) -> Result<InventoryReport> {
    let started = Instant::now();
    if spec.concurrency == 0 {
        return Err(crate::Error::InvalidOption("--concurrency must be at least 1".to_owned()));
    }
    let threads = crate::run::threads(&spec.limits)?;
    let filters = Filters::new(&spec.tables, &spec.partitions)?;
    let (baseline, candidate) =
        tokio::try_join!(list(spec, Side::Baseline, &filters), list(spec, Side::Candidate, &filters))?;
    let (checkpoint, finished) = match &spec.checkpoint {
        Some(path) => {
            let (checkpoint, finished) = Checkpoint::open(path, &Header::new(spec.identity()))?;
            (Some(checkpoint), finished)
        }
        None => (None, Finished::new()),
    };
    let work = Work::new(&baseline, &candidate);
    progress.listed(&work.tables);
    let reader = |side| Reader { side, permits: Semaphore::new(spec.concurrency) };
    let run = Run {
        spec,
        readers: [reader(Side::Baseline), reader(Side::Candidate)],
        heavy: Semaphore::new(threads),
        route,
        checkpoint: checkpoint.as_ref(),
    };
    let mut resumed = 0u64;
    let mut results: BTreeMap<String, Vec<PartitionInventory>> = BTreeMap::new();
    let mut outcomes = futures::stream::iter(work.items)
        .map(|item| {
            let key = (item.table.clone(), item.partition.clone());
            let earlier = finished.get(&key).or_else(|| spec.earlier.get(&key)).cloned();
            let run = &run;
            async move {
                match earlier {
                    Some(result) => Ok((item.table, result, true)),
                    None => run.partition(&item).await.map(|result| (item.table, result, false)),
                }
            }
        })
        .buffer_unordered(spec.concurrency);
    while let Some(outcome) = outcomes.next().await {
        let (table, result, was_resumed) = outcome?;
        resumed += u64::from(was_resumed);
        progress.partition_done(&table, &result, was_resumed);
        results.entry(table).or_default().push(result);
    }
    drop(outcomes);
    let tables = tables(spec, &work.tables, results);
    let mut report = InventoryReport::new(spec.level, [&spec.baseline, &spec.candidate], tables);
    report.resumed_partitions = resumed;
    report.elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    Ok(report)
}

/// One side's warehouse: its catalog's locations listed, or its directory tree.
async fn list(spec: &InventorySpec, side: Side, filters: &Filters) -> Result<Warehouse> {
    let roots = spec.confinement.as_ref().map(|c| c.side(side));
    let (uri, catalog) = match side {
        Side::Baseline => (&spec.baseline, &spec.catalogs[0]),
        Side::Candidate => (&spec.candidate, &spec.catalogs[1]),
    };
    match catalog {
        Some(catalog) => {
            Ok(Warehouse::from_catalog(side, catalog, roots, &spec.stores, filters, spec.concurrency).await)
        }
        None => Warehouse::list(side, uri, roots, &spec.stores, filters).await,
    }
}

/// The tables of the report, from their partitions' results (tables without partitions, a
/// catalog's, included), with their declared schemas compared where both sides declare them.
fn tables(
    spec: &InventorySpec,
    listed: &[(String, usize)],
    mut results: BTreeMap<String, Vec<PartitionInventory>>,
) -> Vec<TableInventory> {
    for (table, _) in listed {
        results.entry(table.clone()).or_default();
    }
    let declared = |side: usize, table: &str| {
        spec.catalogs[side]
            .as_ref()
            .and_then(|catalog| catalog.tables.iter().find(|t| t.name == table))
            .map(|t| t.columns.as_slice())
    };
    results
        .into_iter()
        .map(|(name, mut partitions)| {
            partitions.sort_by(|a, b| a.partition.cmp(&b.partition));
            let declared = match (declared(0, &name), declared(1, &name)) {
                (Some(b), Some(c)) => Some(SchemaChanges::declared(b, c)),
                _ => None,
            };
            TableInventory::new(name, partitions, declared)
        })
        .collect()
}

/// One partition to do: its files on each side (`None`: the side lacks it).
struct Item<'a> {
    table: String,
    partition: String,
    files: [Option<&'a PartitionFiles>; 2],
}

impl Item<'_> {
    /// The partition as listed: where it is, its files and bytes on each side.
    fn listed(&self) -> PartitionInventory {
        let side = |located: Option<&PartitionFiles>| {
            located.map(|located| PartitionSide {
                location: located.uri.clone(),
                files: located.files.len() as u64,
                bytes: located.files.iter().map(|f| f.size).sum(),
                rows: None,
            })
        };
        PartitionInventory {
            partition: self.partition.clone(),
            verdict: PartitionVerdict::Listed,
            reason: None,
            differences: Vec::new(),
            not_comparable: Vec::new(),
            schema: SchemaChanges::default(),
            baseline: side(self.files[0]),
            candidate: side(self.files[1]),
            key: Vec::new(),
            diff: None,
        }
    }
}

/// Every partition of both warehouses, in table and partition order.
struct Work<'a> {
    /// Each table's name and number of partitions.
    tables: Vec<(String, usize)>,
    items: Vec<Item<'a>>,
}

impl<'a> Work<'a> {
    fn new(baseline: &'a Warehouse, candidate: &'a Warehouse) -> Self {
        let names: BTreeSet<&String> = baseline.tables.keys().chain(candidate.tables.keys()).collect();
        let mut items = Vec::new();
        let mut tables = Vec::new();
        for name in &names {
            let b = baseline.tables.get(*name);
            let c = candidate.tables.get(*name);
            let partitions: BTreeSet<&String> = b.into_iter().chain(c).flat_map(|p| p.keys()).collect();
            tables.push(((*name).clone(), partitions.len()));
            for partition in partitions {
                let files = |side: Option<&'a BTreeMap<String, PartitionFiles>>| side.and_then(|p| p.get(partition));
                items.push(Item { table: (*name).clone(), partition: partition.clone(), files: [files(b), files(c)] });
            }
        }
        Self { tables, items }
    }
}

/// What every partition's work shares.
struct Run<'a, 'r> {
    spec: &'a InventorySpec,
    readers: [Reader; 2],
    /// Bounds the fingerprints and diffs running at once (they read data, on every core).
    heavy: Semaphore,
    route: &'a Router<'r>,
    checkpoint: Option<&'a Checkpoint>,
}

impl Run<'_, '_> {
    /// Works out one partition and records it in the checkpoint.
    async fn partition(&self, item: &Item<'_>) -> Result<PartitionInventory> {
        let result = self.judge(item).await;
        if let Some(checkpoint) = self.checkpoint {
            checkpoint.record(&item.table, &result)?;
        }
        Ok(result)
    }

    async fn judge(&self, item: &Item<'_>) -> PartitionInventory {
        let mut result = item.listed();
        let [b_files, c_files] = item.files;
        let missing = match (b_files, c_files) {
            (Some(_), None) => Some(PartitionVerdict::MissingInCandidate),
            (None, Some(_)) => Some(PartitionVerdict::MissingInBaseline),
            _ => None,
        };
        if missing.is_none()
            && let Some(reason) = item.files.iter().flatten().find_map(|files| files.unlisted.clone())
        {
            result.verdict = PartitionVerdict::Unreadable;
            result.reason = Some(reason);
            return result;
        }
        if self.spec.level == Level::Listing && missing.is_none() {
            return result;
        }
        let read = |index: usize| async move {
            match item.files[index] {
                Some(files) if self.spec.level != Level::Listing => Some(self.readers[index].footers(files).await),
                _ => None,
            }
        };
        let (b, c) = tokio::join!(read(0), read(1));
        let rows = |footers: &Option<Result<PartitionFooters, String>>| match footers {
            Some(Ok(footers)) => Some(footers.rows),
            _ => None,
        };
        if let Some(side) = result.baseline.as_mut() {
            side.rows = rows(&b);
        }
        if let Some(side) = result.candidate.as_mut() {
            side.rows = rows(&c);
        }
        if let Some(verdict) = missing {
            result.verdict = verdict;
            return result;
        }
        let (b, c) = match (b, c) {
            (Some(Ok(b)), Some(Ok(c))) => (b, c),
            (Some(Err(reason)), _) | (_, Some(Err(reason))) => {
                result.verdict = PartitionVerdict::Unreadable;
                result.reason = Some(reason);
                return result;
            }
            _ => return result,
        };
        let findings = compare::compare(&b, &c);
        result.schema = findings.schema;
        result.not_comparable = findings.not_comparable;
        result.differences = findings.differences;
        if let Some(first) = result.differences.first() {
            result.verdict = PartitionVerdict::Different;
            result.reason = Some(first.clone());
            if self.spec.diff {
                result.key = self.key(item, &b, &c);
                result.diff = Some(self.diff(item, result.key.clone(), &b, &c).await);
            }
            return result;
        }
        result.verdict = PartitionVerdict::EqualFooters;
        if self.spec.level == Level::Deep {
            self.deep(item, &b, &c, &mut result).await;
        }
        result
    }

    /// The key of a deep comparison or a diff: the spec's, else the primary key the table's
    /// catalog declares (the baseline's first), where both sides have it all; else none (whole
    /// rows are compared).
    fn key(&self, item: &Item<'_>, b: &PartitionFooters, c: &PartitionFooters) -> Vec<String> {
        let has = |footers: &PartitionFooters, column: &String| {
            footers.fields.iter().any(|f| f.name().eq_ignore_ascii_case(column))
        };
        let declared = || {
            self.spec.catalogs.iter().flatten().find_map(|catalog| {
                let table = catalog.tables.iter().find(|t| t.name == item.table)?;
                (!table.primary_key.is_empty()).then(|| table.primary_key.clone())
            })
        };
        let key = if self.spec.key.is_empty() { declared().unwrap_or_default() } else { self.spec.key.clone() };
        if key.iter().all(|k| has(b, k) && has(c, k)) { key } else { Vec::new() }
    }

    /// A side's fingerprint, here or where the route for the partition's `rows` says (both sides
    /// of a partition go the same way).
    async fn fingerprint(&self, spec: &FingerprintSpec, dataset: Arc<Dataset>, rows: u64) -> Result<FingerprintFile> {
        let dataset = &dataset;
        crate::run::on_route((self.route)(rows), "fingerprint", |passes| {
            fingerprint_files(spec, Arc::clone(dataset), passes)
        })
        .await
    }

    fn uris(&self, item: &Item<'_>) -> [String; 2] {
        item.files.map(|located| located.map(|l| l.uri.clone()).unwrap_or_default())
    }

    /// Fingerprints both sides of a partition whose footers agree and compares them.
    async fn deep(&self, item: &Item<'_>, b: &PartitionFooters, c: &PartitionFooters, result: &mut PartitionInventory) {
        let Ok(_permit) = self.heavy.acquire().await else { return };
        let key = self.key(item, b, c);
        result.key.clone_from(&key);
        let rows = b.rows.max(c.rows);
        let fingerprint = |side, footers: &PartitionFooters| {
            let dataset = dataset(item, side, footers);
            let key = key.clone();
            async move {
                let dataset = dataset?;
                let spec = FingerprintSpec {
                    uri: dataset.uri().to_owned(),
                    side,
                    key,
                    options: self.spec.options.clone(),
                    limits: self.spec.limits.clone(),
                    buckets: None,
                    stores: self.spec.stores.clone(),
                };
                self.fingerprint(&spec, dataset, rows).await
            }
        };
        let both = tokio::try_join!(fingerprint(Side::Baseline, b), fingerprint(Side::Candidate, c));
        let compared = match both {
            Ok((bf, cf)) => compare_fingerprints(&bf, &cf, ["baseline", "candidate"]),
            Err(error) => Err(error),
        };
        match compared {
            Ok(comparison) if comparison.verdict == Verdict::Consistent => result.verdict = PartitionVerdict::Equal,
            Ok(comparison) => {
                let reason = format!(
                    "the fingerprints differ in {} of {} buckets{} (rows and footer statistics agree)",
                    comparison.differing_buckets.len(),
                    comparison.bucket_count,
                    if comparison.null_key_rows_match { "" } else { " and in the rows with a NULL key" }
                );
                result.verdict = PartitionVerdict::Different;
                result.differences.push(reason.clone());
                result.reason = Some(reason);
            }
            Err(error) => {
                result.verdict = PartitionVerdict::Unreadable;
                result.reason = Some(format!("the fingerprints could not be computed: {error}"));
            }
        }
    }

    /// A full diff of a partition whose footers differ, as its JSON report (or the error).
    async fn diff(
        &self,
        item: &Item<'_>,
        key: Vec<String>,
        b: &PartitionFooters,
        c: &PartitionFooters,
    ) -> serde_json::Value {
        let Ok(_permit) = self.heavy.acquire().await else { return serde_json::Value::Null };
        let [baseline, candidate] = self.uris(item);
        let spec = DiffSpec {
            baseline,
            candidate,
            key,
            options: self.spec.options.clone(),
            limits: self.spec.limits.clone(),
            export: None,
            confinement: self.spec.confinement.clone(),
            stores: self.spec.stores.clone(),
            declared: crate::spec::Declared::default(),
        };
        let (progress, started) = (Arc::new(crate::progress::NoProgress), Instant::now());
        let outcome = match (dataset(item, Side::Baseline, b), dataset(item, Side::Candidate, c)) {
            (Ok(b), Ok(c)) => crate::run::diff_datasets_routed(&spec, progress, (b, c), self.route, started).await,
            (Err(error), _) | (_, Err(error)) => Err(error),
        };
        match outcome {
            Ok(report) => serde_json::to_value(&report).unwrap_or_default(),
            Err(error) => serde_json::json!({ "verdict": "error", "error": error.to_string() }),
        }
    }
}

/// A side of a partition as the dataset at its location: the files as the footers' read
/// inspected them (not listed or read again), their partition values dropped.
fn dataset(item: &Item<'_>, side: Side, footers: &PartitionFooters) -> Result<Arc<Dataset>> {
    let index = match side {
        Side::Baseline => 0,
        Side::Candidate => 1,
    };
    let located =
        item.files[index].ok_or_else(|| crate::Error::Internal(format!("the {side} of a partition without files")))?;
    let files: Vec<DataFile> = footers
        .files
        .iter()
        .map(|file| {
            let mut file = file.clone();
            file.listed.partition.clear();
            file
        })
        .collect();
    Ok(Arc::new(Dataset::from_files(side, &located.uri, Arc::clone(&located.store), files)?))
}
