//! The job runner: takes jobs from the store's queue and runs verifier diffs.
//!
//! At most `runner.max_concurrent` diffs run at once in this process, each with
//! `runner.memory_limit`. Automatic jobs start only while the run windows allow; on-demand jobs
//! start at any time and before automatic ones. A running job renews its lease every third of
//! the lease; if the lease is lost (another instance took the job over) the diff is abandoned
//! and its result dropped. A failure that may pass (a location not there yet, an I/O or
//! object-store error) is retried with exponential backoff up to `runner.max_attempts`; any
//! other failure, or the last attempt, is reported with verdict `error` and the reason.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use collector::Role;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::config::{Config, TableConfig, resolve_location};
use crate::metastore::{HiveTable, MetastoreError};
use crate::store::{ClaimedJob, JobOrigin, NewReport, Store, Verdict};
use crate::telemetry::{JobProgress, Telemetry};

/// How long running diffs may finish after shutdown is asked; the rest run again at start.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// The longest time between a running job's heartbeats.
const HEARTBEAT: Duration = Duration::from_secs(2);

/// Runs jobs until `shutdown` turns true.
pub async fn run(store: Store, config: Arc<Config>, telemetry: Arc<Telemetry>, mut shutdown: watch::Receiver<bool>) {
    let settings = &config.runner;
    requeue_orphans(&store, &settings.instance).await;
    let mut running = JoinSet::new();
    while !*shutdown.borrow() {
        while running.len() < settings.max_concurrent {
            let now = Utc::now();
            match store.claim(&settings.instance, now, settings.lease, settings.windows.allows(now)).await {
                Ok(Some(job)) => {
                    running.spawn(run_job(store.clone(), Arc::clone(&config), Arc::clone(&telemetry), job));
                }
                Ok(None) => break,
                Err(error) => {
                    tracing::warn!(%error, "cannot claim a job");
                    break;
                }
            }
        }
        tokio::select! {
            _ = shutdown.changed() => {}
            _ = tokio::time::sleep(settings.poll_interval) => {}
            Some(_) = running.join_next(), if !running.is_empty() => {}
        }
    }
    let drained = tokio::time::timeout(SHUTDOWN_GRACE, async { while running.join_next().await.is_some() {} }).await;
    if drained.is_err() {
        tracing::warn!(jobs = running.len(), "diffs still running at shutdown are abandoned; they run again at start");
        running.abort_all();
    }
}

async fn run_job(store: Store, config: Arc<Config>, telemetry: Arc<Telemetry>, job: ClaimedJob) {
    let progress = telemetry.track(job.id);
    run_tracked(&store, &config, progress, &job).await;
    telemetry.untrack(job.id);
}

/// Re-queues the running jobs of this instance and of earlier processes on this host that are
/// gone (owners named `host:pid` whose process does not exist), so that a restart need not wait
/// for their leases to run out.
async fn requeue_orphans(store: &Store, instance: &str) {
    let owners = match store.running_owners().await {
        Ok(owners) => owners,
        Err(error) => return tracing::warn!(%error, "cannot list running jobs to re-queue"),
    };
    for owner in owners.iter().filter(|owner| *owner == instance || gone_from_this_host(owner)) {
        match store.requeue_running(owner).await {
            Ok(0) => {}
            Ok(count) => tracing::info!(count, %owner, "jobs whose process stopped are queued again"),
            Err(error) => tracing::warn!(%error, %owner, "cannot re-queue running jobs"),
        }
    }
}

/// True when `owner` is `host:pid` of this host and no process `pid` runs.
fn gone_from_this_host(owner: &str) -> bool {
    let Some((host, pid)) = owner.rsplit_once(':') else { return false };
    let Ok(pid) = pid.parse::<u32>() else { return false };
    host == crate::config::host_name() && pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists()
}

/// Runs a diff in a task of its own: here, or on the cluster for large tables (`[cluster]`; its
/// URL was checked at load).
fn spawn_diff(
    config: &Config,
    spec: verifier::DiffSpec,
    progress: Arc<JobProgress>,
) -> tokio::task::JoinHandle<verifier::Result<verifier::Report>> {
    let route = config.cluster.clone();
    tokio::spawn(async move {
        let cluster = route.cluster()?;
        verifier::diff_routed(&spec, progress, |rows| route.route(cluster.as_ref(), rows)).await
    })
}

async fn run_tracked(store: &Store, config: &Config, progress: Arc<JobProgress>, job: &ClaimedJob) {
    let settings = &config.runner;
    let instance = settings.instance.as_str();
    tracing::info!(job = job.id, table = %job.spec.table, partition = %job.spec.partition, attempt = job.attempts, "diff started");
    if job.attempts > settings.max_attempts {
        // Claimed again after its last allowed attempt: that attempt never reported (the process
        // died, or its report could not be stored). Running it again could crash again.
        let reason = format!("gave up after {} attempts; the last run did not finish", settings.max_attempts);
        tracing::warn!(job = job.id, table = %job.spec.table, %reason, "diff given up");
        return finish(store, job, instance, error_report(job, None, reason)).await;
    }
    let table = match store.table(&job.spec.table).await {
        Ok(table) => table.unwrap_or_else(|| TableConfig { name: job.spec.table.clone(), ..TableConfig::default() }),
        Err(error) => return retry_later(store, config, job, &error.to_string()).await,
    };
    if let Some(dir) = &settings.export_dir
        && let Err(error) = std::fs::create_dir_all(dir)
    {
        tracing::warn!(dir = %dir.display(), %error, "cannot create runner.export_dir");
    }
    let planned = match diff_spec(config, job, &table).await {
        Ok(planned) => planned,
        Err(error) if error.is_transient() && job.attempts < settings.max_attempts => {
            return retry_later(store, config, job, &error.to_string()).await;
        }
        Err(error) => {
            tracing::warn!(job = job.id, table = %job.spec.table, %error, "diff not started");
            return finish(store, job, instance, error_report(job, None, error.to_string())).await;
        }
    };
    let spec = planned.spec.clone();
    let mut export_path = spec.export.as_ref().map(|path| path.display().to_string());
    let mut diff = spawn_diff(config, spec, progress);
    // Often enough that a cancelled job stops within seconds.
    let mut heartbeat = tokio::time::interval((settings.lease / 3).min(HEARTBEAT));
    heartbeat.tick().await;
    let result = loop {
        tokio::select! {
            result = &mut diff => break result,
            _ = heartbeat.tick() => {
                let renewed = store.heartbeat(job.id, instance, Utc::now(), settings.lease).await;
                if let Err(error) = &renewed {
                    // Not a lost lease: the store did not answer. Keep going; if the lease does
                    // run out meanwhile, `finish` finds out and drops the result.
                    tracing::warn!(job = job.id, %error, "cannot renew the lease; the diff goes on");
                }
                if matches!(renewed, Ok(false)) {
                    tracing::warn!(job = job.id, "the job was cancelled or its lease lost; abandoning the diff");
                    diff.abort();
                    let _ = (&mut diff).await;
                    remove_export(export_path);
                    return;
                }
            }
        }
    };
    let outcome = match result {
        Ok(Ok(report)) if report.verdict != verifier::report::Verdict::Inconsistent => {
            remove_export(export_path.take());
            Ok(report)
        }
        Ok(Ok(report)) => Ok(report),
        Ok(Err(error)) => Err((may_pass(&error), crate::error::chain(&error))),
        Err(panic) => Err((false, format!("the diff panicked: {panic}"))),
    };
    match outcome {
        Ok(report) => {
            let verdict = report.verdict;
            let mut document = document(job, Some(&planned), serde_json::to_value(&report).unwrap_or_default());
            bound_samples(&mut document, MAX_REPORT_BYTES);
            finish(store, job, instance, NewReport { verdict, reason: None, report: document, export_path }).await;
        }
        Err((true, reason)) if job.attempts < settings.max_attempts => {
            remove_export(export_path);
            retry_later(store, config, job, &reason).await;
        }
        Err((_, reason)) => {
            remove_export(export_path);
            tracing::warn!(job = job.id, table = %job.spec.table, %reason, "diff failed");
            finish(store, job, instance, error_report(job, Some(&planned), reason)).await;
        }
    }
}

/// A report with verdict `error` and why.
fn error_report(job: &ClaimedJob, planned: Option<&PlannedDiff>, reason: String) -> NewReport {
    let mut document = document(job, planned, serde_json::json!({}));
    document["verdict"] = serde_json::json!(Verdict::Error);
    document["reason"] = serde_json::json!(reason);
    NewReport { verdict: Verdict::Error, reason: Some(reason), report: document, export_path: None }
}

/// Most samples of each kind a report keeps, whatever a table or a request asks for.
pub const MAX_SAMPLE: usize = 1000;

/// Largest stored report document: samples of wide rows or long values are cut to fit.
pub const MAX_REPORT_BYTES: usize = 4 << 20;

/// Cuts the report's samples (of every kind, and of every column) by halves until the document
/// fits `limit` bytes as JSON, and says so in `samples_trimmed`. Counts are never touched.
pub fn bound_samples(document: &mut serde_json::Value, limit: usize) {
    let size = |document: &serde_json::Value| serde_json::to_vec(document).map_or(0, |bytes| bytes.len());
    let original = size(document);
    if original <= limit {
        return;
    }
    loop {
        let mut lists: Vec<&mut Vec<serde_json::Value>> = Vec::new();
        if let Some(samples) = document.get_mut("samples").and_then(serde_json::Value::as_object_mut) {
            lists.extend(samples.values_mut().filter_map(serde_json::Value::as_array_mut));
        }
        let any = lists.iter().any(|list| !list.is_empty());
        for list in lists {
            list.truncate(list.len() / 2);
        }
        let mut columns_any = false;
        if let Some(columns) = document.get_mut("columns").and_then(serde_json::Value::as_array_mut) {
            for column in columns {
                if let Some(list) = column.get_mut("samples").and_then(serde_json::Value::as_array_mut) {
                    columns_any |= !list.is_empty();
                    list.truncate(list.len() / 2);
                }
            }
        }
        if size(document) <= limit || !(any || columns_any) {
            break;
        }
    }
    document["samples_trimmed"] = serde_json::json!(format!(
        "samples were cut to keep the report under {} MiB (it was {original} bytes); the counts are complete",
        limit >> 20
    ));
}

/// Where a side's location came from, which decides where it may be read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LocationSource {
    /// The cluster's template: under its warehouse root.
    Template,
    /// The cluster's Hive Metastore: under its warehouse root or `event_roots`.
    Metastore,
    /// An event's `outputs[].location`: under the warehouse root or the cluster's `event_roots`.
    Event,
    /// A `POST /diffs` request's explicit location: under `api.allowed_roots`.
    Request,
}

/// One side of a job, resolved: the location it reads, where that came from and the roots it
/// must lie under (the one location policy, whatever the location came from), and the table as
/// the cluster's metastore declares it, if it has one.
#[derive(Debug, Clone)]
pub struct ResolvedSide {
    /// The location read.
    pub location: String,
    /// Where it came from.
    pub source: LocationSource,
    /// The directories or URL prefixes it must lie under.
    pub roots: verifier::Roots,
    /// The table in the cluster's metastore.
    pub table: Option<Arc<HiveTable>>,
    /// Its declared columns (the partition's own, where the metastore has the partition).
    pub declared: Option<verifier::DeclaredSchema>,
}

/// Resolves one side of a job: an explicit location (an event's or a request's) as given;
/// otherwise the partition's location in the cluster's metastore, if it has one and knows the
/// partition, else the cluster's template. A metastore that does not answer fails the job for a
/// later attempt; one that does not know the table fails it with that error. Where the location
/// is explicit, the metastore only adds the declared columns, and its failures are logged.
pub async fn resolve_side(config: &Config, job: &ClaimedJob, role: Role) -> Result<ResolvedSide, MetastoreError> {
    let side = match role {
        Role::Baseline => &job.spec.baseline,
        Role::Candidate => &job.spec.candidate,
    };
    let cluster = config.cluster(role);
    let mut table = None;
    let mut partition = None;
    if let Some(metastore) = config.metastores.get(&cluster.name) {
        let (db, name) = job.spec.table.split_once('.').unwrap_or(("default", &job.spec.table));
        let found = async {
            let found = metastore.table(db, name).await?;
            let partition = match hive_partition_name(&found, &side.partition_path) {
                Some(partition) if side.location.is_none() => metastore.partition(&found, &partition).await?,
                _ => None,
            };
            Ok::<_, MetastoreError>((found, partition))
        };
        match found.await {
            Ok((found, found_partition)) => {
                table = Some(found);
                partition = found_partition;
            }
            Err(error) if side.location.is_some() => {
                tracing::warn!(job = job.id, %error, "the metastore cannot tell the declared columns; not checked");
            }
            Err(error) => return Err(error),
        }
    }
    let source = match (&side.location, job.origin) {
        (Some(_), JobOrigin::Automatic) => LocationSource::Event,
        (Some(_), JobOrigin::OnDemand) => LocationSource::Request,
        (None, _) if partition.is_some() => LocationSource::Metastore,
        (None, _) if table.as_ref().is_some_and(|t| !t.is_partitioned()) && side.partition_path.is_empty() => {
            LocationSource::Metastore
        }
        (None, _) => LocationSource::Template,
    };
    let location = match (&side.location, &partition, &table) {
        (Some(location), _, _) => location.clone(),
        (None, Some(partition), _) => partition.location.clone(),
        (None, None, Some(table)) if source == LocationSource::Metastore => table.location.clone(),
        (None, _, _) => resolve_location(&cluster.location, &side.cluster, &job.spec.table, &side.partition_path),
    };
    let warehouse = cluster.warehouse_root();
    let (directories, rule) = match source {
        LocationSource::Template => (vec![warehouse], format!("the warehouse root of cluster `{}`", cluster.name)),
        LocationSource::Event | LocationSource::Metastore => (
            std::iter::once(warehouse).chain(cluster.event_roots.iter().cloned()).collect(),
            format!("the warehouse root or the event_roots of cluster `{}`", cluster.name),
        ),
        LocationSource::Request => (config.api.allowed_roots.clone(), "api.allowed_roots".to_owned()),
    };
    let declared = table.as_ref().map(|table| table.declared(partition.as_ref().map(|p| p.columns.as_slice())));
    Ok(ResolvedSide { location, source, roots: verifier::Roots { directories, rule }, table, declared })
}

/// An event's partition path (`dt=2024-05-01/hour=03`, in the event's order) as the metastore
/// names the partition: the table's partition keys in its order. `None` when the keys are not
/// exactly the table's.
fn hive_partition_name(table: &HiveTable, partition_path: &str) -> Option<String> {
    if partition_path.is_empty() || !table.is_partitioned() {
        return None;
    }
    let given: Vec<(String, &str)> = partition_path
        .split('/')
        .map(|part| part.split_once('=').map(|(key, value)| (key.to_lowercase(), value)))
        .collect::<Option<_>>()?;
    if given.len() != table.partition_keys.len() {
        return None;
    }
    let ordered: Option<Vec<String>> = table
        .partition_keys
        .iter()
        .map(|key| given.iter().find(|(k, _)| k == key).map(|(k, value)| format!("{k}={value}")))
        .collect();
    ordered.map(|parts| parts.join("/"))
}

/// A job made ready to run: the verifier's spec, and where its key came from when the registry
/// has none.
#[derive(Debug, Clone)]
pub struct PlannedDiff {
    /// The spec.
    pub spec: verifier::DiffSpec,
    /// Both sides as resolved.
    pub sides: [ResolvedSide; 2],
    /// The metastore table whose declared primary key is the key, when the registry has none.
    pub key_from: Option<String>,
}

/// The verifier's spec of a job: both locations and their roots, the table's key (or the
/// primary key its baseline metastore declares) and options, the declared columns, the limits.
pub async fn diff_spec(config: &Config, job: &ClaimedJob, table: &TableConfig) -> Result<PlannedDiff, MetastoreError> {
    let (baseline, candidate) =
        tokio::try_join!(resolve_side(config, job, Role::Baseline), resolve_side(config, job, Role::Candidate))?;
    let options = &table.options;
    let mut spec = verifier::DiffSpec::new(baseline.location.clone(), candidate.location.clone(), &[]);
    spec.confinement =
        Some(verifier::Confinement { baseline: baseline.roots.clone(), candidate: candidate.roots.clone() });
    spec.declared = verifier::Declared { baseline: baseline.declared.clone(), candidate: candidate.declared.clone() };
    spec.stores = config.stores.clone();
    spec.key.clone_from(&table.key);
    let mut key_from = None;
    if spec.key.is_empty()
        && let Some(declaring) = [&baseline, &candidate]
            .into_iter()
            .filter_map(|side| side.table.as_ref())
            .find(|t| !t.primary_key.is_empty())
    {
        spec.key.clone_from(&declaring.primary_key);
        key_from = Some(declaring.uri());
    }
    spec.options.ignore.clone_from(&options.ignore);
    spec.options.rename = options.rename.clone();
    spec.options.tolerance = verifier::Tolerance { absolute: options.abs_tol, relative: options.rel_tol };
    spec.options.trim_trailing_spaces = options.trim_trailing_spaces;
    if let Some(sample) = options.sample {
        spec.options.sample_limit = sample.min(MAX_SAMPLE);
    }
    spec.limits.memory_limit = Some(config.memory_limit());
    spec.export =
        config.runner.export_dir.as_ref().map(|dir| dir.join(format!("job-{}-{}.parquet", job.id, job.attempts)));
    Ok(PlannedDiff { spec, sides: [baseline, candidate], key_from })
}

/// The stored report: the verifier's JSON report with the pair and both sides' clusters.
fn document(job: &ClaimedJob, planned: Option<&PlannedDiff>, mut report: serde_json::Value) -> serde_json::Value {
    let Some(object) = report.as_object_mut() else { return report };
    object.insert("table".into(), job.spec.table.clone().into());
    object.insert("partition".into(), job.spec.partition.clone().into());
    object.insert("run_id".into(), job.spec.run_id.clone().into());
    object.insert("job_id".into(), job.id.into());
    object.insert("attempts".into(), job.attempts.into());
    object.insert("origin".into(), job.origin.as_str().into());
    match planned {
        Some(PlannedDiff { key_from: Some(source), .. }) => {
            let note = format!("no key is registered for this table: the primary key that {source} declares was used");
            object.insert("note".into(), note.into());
        }
        Some(planned) if planned.spec.key.is_empty() => {
            let note = "no key is registered for this table: its rows were compared as a multiset";
            object.insert("note".into(), note.into());
        }
        _ => {}
    }
    for (index, (name, side)) in
        [("baseline", &job.spec.baseline), ("candidate", &job.spec.candidate)].into_iter().enumerate()
    {
        let entry = object.entry(name).or_insert_with(|| serde_json::json!({}));
        if let Some(entry) = entry.as_object_mut() {
            entry.insert("cluster".into(), side.cluster.clone().into());
            entry.insert("event_id".into(), side.event_id.clone().into());
            entry.insert("attempt".into(), side.attempt.into());
            if let Some(resolved) = planned.map(|planned| &planned.sides[index]) {
                entry.insert("location_source".into(), serde_json::json!(resolved.source));
            }
        }
    }
    report
}

/// Removes an export that no report refers to.
fn remove_export(path: Option<String>) {
    if let Some(path) = path {
        let _ = std::fs::remove_file(path);
    }
}

/// True for failures that may pass on a later attempt: a failure at run time (the store, the
/// disk, memory), or an input whose data is not visible yet. A bug, or any other input error,
/// would fail the same way again.
fn may_pass(error: &verifier::Error) -> bool {
    match error.fault() {
        verifier::Fault::Runtime => true,
        verifier::Fault::Input => {
            matches!(error, verifier::Error::LocationNotFound { .. } | verifier::Error::EmptyDataset { .. })
        }
        verifier::Fault::Bug => false,
    }
}

async fn finish(store: &Store, job: &ClaimedJob, instance: &str, report: NewReport) {
    let verdict = report.verdict;
    match store.finish(job, instance, &report, Utc::now()).await {
        Ok(true) => tracing::info!(job = job.id, table = %job.spec.table, verdict = verdict.as_str(), "diff reported"),
        Ok(false) => tracing::warn!(job = job.id, "lease lost before the report was written; the new holder reports"),
        // The lease runs out and the job runs again: nothing is lost.
        Err(error) => tracing::warn!(job = job.id, %error, "cannot store the report; the job will run again"),
    }
}

async fn retry_later(store: &Store, config: &Config, job: &ClaimedJob, reason: &str) {
    let settings = &config.runner;
    let backoff = crate::config::backoff(settings.retry_backoff, job.attempts);
    let not_before = Utc::now() + chrono::Duration::from_std(backoff).unwrap_or(chrono::Duration::hours(1));
    tracing::warn!(job = job.id, attempt = job.attempts, retry_in = ?backoff, %reason, "diff failed; retrying later");
    if let Err(error) = store.retry(job, &settings.instance, reason, not_before).await {
        tracing::warn!(job = job.id, %error, "cannot re-queue the job; its lease will run out and it runs again");
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::config::TableOptions;
    use crate::store::{JobSpec, SideSpec};

    const CONFIG: &str = r#"
[[clusters]]
name = "idc"
role = "baseline"
location = "file:///data/{cluster}/{db}.db/{table}/{partition_path}"

[[clusters]]
name = "emr"
role = "candidate"
location = "s3://emr-warehouse/{db}/{table}/{partition_path}"

[runner]
memory_limit = "64MiB"
"#;

    fn side(cluster: &str, location: Option<&str>) -> SideSpec {
        SideSpec {
            cluster: cluster.into(),
            location: location.map(str::to_owned),
            partition_path: "dt=2024-05-01".into(),
            event_id: None,
            attempt: None,
        }
    }

    #[test]
    fn samples_are_cut_to_bound_the_report_and_counts_stay() {
        let wide = "x".repeat(10_000);
        let row = serde_json::json!({"id": 1, "value": wide});
        let mut document = serde_json::json!({
            "summary": {"changed": 1000},
            "samples": {"changed": vec![row.clone(); 1000], "only_in_baseline": vec![row.clone(); 10]},
            "columns": [{"name": "value", "mismatches": 1000, "samples": vec![row; 1000]}],
        });
        bound_samples(&mut document, 1 << 20);
        assert!(serde_json::to_vec(&document).unwrap().len() <= 1 << 20);
        assert_eq!(document["summary"]["changed"], 1000);
        assert!(!document["samples"]["changed"].as_array().unwrap().is_empty(), "some samples stay");
        assert!(document["samples_trimmed"].as_str().unwrap().contains("the counts are complete"));
        let mut small = serde_json::json!({"samples": {"changed": [1, 2]}});
        bound_samples(&mut small, 1 << 20);
        assert_eq!(small, serde_json::json!({"samples": {"changed": [1, 2]}}), "a small report is left alone");
    }

    #[tokio::test]
    async fn a_job_becomes_a_diff_spec_with_the_tables_key_options_and_memory_limit() {
        let config = crate::config::parse(CONFIG, "test", &BTreeMap::new()).unwrap();
        let job = ClaimedJob {
            id: 1,
            pair: None,
            origin: JobOrigin::Automatic,
            spec: JobSpec {
                table: "dw.orders".into(),
                partition: "dt=2024-05-01".into(),
                run_id: None,
                baseline: side("idc", None),
                candidate: side("emr", Some("file:///elsewhere/orders")),
            },
            attempts: 1,
        };
        let table = TableConfig {
            name: "dw.orders".into(),
            key: vec!["order_id".into()],
            options: TableOptions {
                ignore: vec!["etl_time".into()],
                abs_tol: Some(0.01),
                sample: Some(3),
                ..TableOptions::default()
            },
            ..TableConfig::default()
        };
        let spec = diff_spec(&config, &job, &table).await.unwrap().spec;
        assert_eq!(spec.baseline, "file:///data/idc/dw.db/orders/dt=2024-05-01");
        assert_eq!(spec.candidate, "file:///elsewhere/orders", "the event's own location wins");
        assert_eq!(spec.key, vec!["order_id".to_owned()]);
        assert_eq!(spec.options.ignore, vec!["etl_time".to_owned()]);
        assert_eq!(spec.options.tolerance.absolute, Some(0.01));
        assert_eq!(spec.options.sample_limit, 3);
        assert_eq!(spec.limits.memory_limit, Some(64 << 20));

        // A metastore that does not answer: a failure for a later attempt, unless the event
        // names the location itself (the metastore then only adds the declared columns).
        let unreachable =
            CONFIG.replacen("role = \"baseline\"\n", "role = \"baseline\"\nmetastore = \"thrift://127.0.0.1:1\"\n", 1);
        let config = crate::config::parse(&unreachable, "test", &BTreeMap::new()).unwrap();
        let error = diff_spec(&config, &job, &table).await.unwrap_err();
        assert!(error.is_transient(), "{error}");
        assert!(error.to_string().contains("the Hive Metastore thrift://127.0.0.1:1 does not answer"), "{error}");
        let mut named = job.clone();
        named.spec.baseline.location = Some("file:///data/idc/dw.db/orders/dt=2024-05-01".into());
        let planned = diff_spec(&config, &named, &table).await.unwrap();
        assert_eq!(planned.spec.declared, verifier::Declared::default());
    }

    #[test]
    fn a_retry_follows_the_fault() {
        use verifier::{Error, Side};
        let disk_full = Error::Spill {
            what: "rows of the diff pass",
            source: Box::new(std::io::Error::from(std::io::ErrorKind::StorageFull)),
        };
        assert_eq!(disk_full.fault(), verifier::Fault::Runtime);
        assert!(may_pass(&disk_full), "a full disk may pass");
        let not_yet = Error::LocationNotFound { side: Side::Candidate, uri: "file:///w/t".into() };
        assert!(may_pass(&not_yet), "the data may not be visible yet");
        let wrong_key = Error::MissingKeyColumn { column: "id".into(), side: Side::Baseline, location: "/w".into() };
        assert_eq!(wrong_key.fault(), verifier::Fault::Input);
        assert!(!may_pass(&wrong_key), "a missing key column stays missing");
        let bug = Error::Internal("no encoder".into());
        assert_eq!(bug.fault(), verifier::Fault::Bug);
        assert!(!may_pass(&bug));
    }
}
