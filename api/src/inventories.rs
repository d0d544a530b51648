//! The service's inventories (`POST /api/v1/inventories`): claimed from the store one at a time
//! per instance, run with the verifier's inventory, each finished partition written to the
//! store as it finishes (so that an inventory taken over after its instance died resumes from
//! them), progress and cancellation through the lease's heartbeat, and at the end one report
//! per table that is not consistent, which the notifier sends to the table's owners.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use tokio::sync::{mpsc, oneshot, watch};
use verifier::inventory::{
    EarlierPartitions, InventoryProgress, InventoryReport, InventorySpec, PartitionInventory, TableInventory,
};
use verifier::{Roots, Verdict};

use crate::config::Config;
use crate::metastore::{HiveWarehouse, MetastoreError};
use crate::store::{ClaimedInventory, InventoryOutcome, InventoryPlan, InventorySide, NewReport, Store};

/// The longest time between a running inventory's heartbeats (progress and cancellation).
const HEARTBEAT: Duration = Duration::from_secs(2);

/// Finished partitions written to the store per statement batch, at most.
const BATCH: usize = 500;

/// Partitions not equal named in a table's report to its owners.
const NAMED_PARTITIONS: usize = 10;

/// Runs inventories until `shutdown` turns true.
pub async fn run(store: Store, config: Arc<Config>, mut shutdown: watch::Receiver<bool>) {
    let settings = &config.runner;
    while !*shutdown.borrow() {
        match store.claim_inventory(&settings.instance, Utc::now(), settings.lease).await {
            Ok(Some(claimed)) => {
                tokio::select! {
                    () = run_one(&store, &config, &claimed) => continue,
                    _ = shutdown.changed() => {
                        // Its lease runs out, or this instance takes it back at start: what it
                        // finished is in the store.
                        tracing::info!(inventory = claimed.id, "shutting down: the inventory resumes later");
                        break;
                    }
                }
            }
            Ok(None) => {}
            Err(error) => tracing::warn!(%error, "cannot claim an inventory"),
        }
        tokio::select! {
            _ = shutdown.changed() => {}
            () = tokio::time::sleep(settings.poll_interval) => {}
        }
    }
}

/// Progress kept for the heartbeat, and finished partitions sent to the writer.
struct Tracker {
    listed: Mutex<Option<(u64, u64)>>,
    done: AtomicU64,
    finished: mpsc::UnboundedSender<(String, PartitionInventory)>,
}

impl InventoryProgress for Tracker {
    fn listed(&self, tables: &[(String, usize)]) {
        let partitions = tables.iter().map(|(_, count)| *count as u64).sum();
        if let Ok(mut listed) = self.listed.lock() {
            *listed = Some((tables.len() as u64, partitions));
        }
    }

    fn partition_done(&self, table: &str, partition: &PartitionInventory, resumed: bool) {
        self.done.fetch_add(1, Ordering::Relaxed);
        if !resumed {
            // The writer ends only after the inventory, so the channel is open.
            let _ = self.finished.send((table.to_owned(), partition.clone()));
        }
    }
}

/// How the inventory's own thread ended: `None` when it was cancelled.
type Ended = Option<Result<InventoryReport, String>>;

async fn run_one(store: &Store, config: &Arc<Config>, claimed: &ClaimedInventory) {
    let settings = &config.runner;
    let id = claimed.id;
    tracing::info!(inventory = id, attempt = claimed.attempts, "inventory started");
    let earlier: EarlierPartitions = match store.inventory_partitions(id).await {
        Ok(earlier) => earlier.into_iter().map(|(table, p)| ((table, p.partition.clone()), p)).collect(),
        Err(error) => {
            // Its lease runs out and it is claimed again.
            return tracing::warn!(inventory = id, %error, "cannot read the partitions an earlier attempt finished");
        }
    };
    if !earlier.is_empty() {
        tracing::info!(inventory = id, partitions = earlier.len(), "resuming: finished partitions are not read again");
    }
    let (sender, receiver) = mpsc::unbounded_channel();
    let tracker = Arc::new(Tracker { listed: Mutex::default(), done: AtomicU64::new(0), finished: sender });
    let writer = tokio::spawn(write_partitions(store.clone(), id, receiver));
    let (cancel, mut ending) = match spawn(config, claimed, earlier, Arc::clone(&tracker) as _) {
        Ok(handles) => handles,
        Err(reason) => {
            drop(tracker);
            return finish(store, config, id, InventoryOutcome::Failed(reason)).await;
        }
    };
    let mut heartbeat = tokio::time::interval((settings.lease / 3).min(HEARTBEAT));
    heartbeat.tick().await;
    let beat = |tracker: &Tracker| {
        let listed = tracker.listed.lock().ok().and_then(|listed| *listed);
        let done = tracker.done.load(Ordering::Relaxed);
        store.inventory_heartbeat(id, &settings.instance, Utc::now(), settings.lease, listed, done)
    };
    let outcome = loop {
        tokio::select! {
            outcome = &mut ending => break outcome,
            _ = heartbeat.tick() => match beat(&tracker).await {
                Ok(true) => {}
                Ok(false) => {
                    tracing::warn!(inventory = id, "the inventory was cancelled or its lease lost; stopping it");
                    // Its thread drops the inventory; the writer records what was finished.
                    let _ = cancel.send(());
                    return;
                }
                Err(error) => tracing::warn!(inventory = id, %error, "cannot renew the inventory's lease; it goes on"),
            },
        }
    };
    // The final counts, and every finished partition written before the inventory is: its
    // rows are the report's.
    if let Err(error) = beat(&tracker).await {
        tracing::warn!(inventory = id, %error, "cannot record the inventory's last progress");
    }
    drop(tracker);
    let written =
        writer.await.map_err(|error| error.to_string()).and_then(|written| written.map_err(|e| e.to_string()));
    let Some(outcome) = stored_outcome(store, config, claimed, outcome, written).await else { return };
    finish(store, config, id, outcome).await;
}

/// Starts the inventory on a thread and a runtime of its own: a long batch of footer reads and
/// fingerprints never slows the API's requests, and it stops when cancelled even while a
/// metastore or a store keeps it waiting. The sender cancels it; the receiver gets its end.
fn spawn(
    config: &Arc<Config>,
    claimed: &ClaimedInventory,
    earlier: EarlierPartitions,
    progress: Arc<dyn InventoryProgress>,
) -> Result<(oneshot::Sender<()>, oneshot::Receiver<Ended>), String> {
    let (cancel, cancelled) = oneshot::channel::<()>();
    let (ended, ending) = oneshot::channel::<Ended>();
    let (config, claimed) = (Arc::clone(config), claimed.clone());
    std::thread::Builder::new()
        .name(format!("dqc-inventory-{}", claimed.id))
        .spawn(move || {
            let outcome = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
                Ok(runtime) => runtime.block_on(async move {
                    // Deep fingerprints and diffs of large partitions go to the cluster, as
                    // diffs do (`[cluster]`; its URL was checked at load).
                    let cluster = match config.cluster.cluster() {
                        Ok(cluster) => cluster,
                        Err(error) => return Some(Err(error.to_string())),
                    };
                    tokio::select! {
                        outcome = inventory(&config, &claimed, earlier, progress, cluster.as_ref()) => Some(outcome),
                        _ = cancelled => {
                            if let Some(cluster) = &cluster
                                && let Err(error) = cluster.cancel_running().await
                            {
                                tracing::warn!(inventory = claimed.id, %error, "the inventory's jobs on the cluster could not be cancelled");
                            }
                            None
                        }
                    }
                }),
                Err(error) => Some(Err(format!("cannot start the inventory's runtime: {error}"))),
            };
            let _ = ended.send(outcome);
        })
        .map_err(|error| format!("cannot start the inventory's thread: {error}"))?;
    Ok((cancel, ending))
}

/// What to store of an inventory's end (`written`: whether the writer recorded every finished
/// partition); `None` when it cannot be stored now (it runs again).
async fn stored_outcome(
    store: &Store,
    config: &Config,
    claimed: &ClaimedInventory,
    outcome: Result<Ended, oneshot::error::RecvError>,
    written: Result<(), String>,
) -> Option<InventoryOutcome> {
    let id = claimed.id;
    Some(match outcome {
        Ok(Some(Ok(report))) => {
            if let Err(error) = written {
                // The pages read a table's partitions from their rows: write them all now.
                tracing::warn!(inventory = id, %error, "finished partitions were not all recorded; recording them again");
                let all: Vec<(String, PartitionInventory)> = report
                    .tables
                    .iter()
                    .flat_map(|table| table.partitions.iter().map(|p| (table.name.clone(), p.clone())))
                    .collect();
                if let Err(error) = store.record_inventory_partitions(id, &all).await {
                    tracing::warn!(inventory = id, %error, "cannot record the partitions; the inventory runs again");
                    return None;
                }
            }
            done(config, claimed, report)
        }
        Ok(Some(Err(reason))) => InventoryOutcome::Failed(reason),
        // Not cancelled from here: its thread panicked.
        Ok(None) | Err(_) => InventoryOutcome::Failed("the inventory stopped unexpectedly (a bug: see the log)".into()),
    })
}

/// Writes finished partitions to the store in batches until the inventory drops its sender.
async fn write_partitions(
    store: Store,
    id: i64,
    mut receiver: mpsc::UnboundedReceiver<(String, PartitionInventory)>,
) -> Result<(), crate::store::StoreError> {
    let mut batch = Vec::with_capacity(BATCH);
    while receiver.recv_many(&mut batch, BATCH).await > 0 {
        let written = store.record_inventory_partitions(id, &batch).await;
        batch.clear();
        written?;
    }
    Ok(())
}

async fn finish(store: &Store, config: &Config, id: i64, outcome: InventoryOutcome) {
    let state = match &outcome {
        InventoryOutcome::Done { verdict, .. } => verdict.as_str(),
        InventoryOutcome::Failed(_) => "failed",
    };
    match store.finish_inventory(id, &config.runner.instance, &outcome, Utc::now()).await {
        Ok(true) => tracing::info!(inventory = id, verdict = state, "inventory reported"),
        Ok(false) => {
            tracing::warn!(inventory = id, "the inventory was cancelled or its lease lost before it was stored")
        }
        Err(error) => tracing::warn!(inventory = id, %error, "cannot store the inventory; it runs again"),
    }
}

/// Runs a claimed inventory: both sides (a metastore side's catalog asked for now), confined to
/// the roots resolved when it was asked for, taking the partitions an earlier attempt finished;
/// a partition's fingerprints or diff run on `cluster` where `[cluster]` routes its rows.
async fn inventory(
    config: &Config,
    claimed: &ClaimedInventory,
    earlier: EarlierPartitions,
    progress: Arc<dyn InventoryProgress>,
    cluster: Option<&::cluster::Cluster>,
) -> Result<InventoryReport, String> {
    let plan = &claimed.plan;
    let catalog = |side: &InventorySide| {
        let side = side.clone();
        let tables = plan.tables.clone();
        async move {
            match HiveWarehouse::parse(&side.warehouse)? {
                Some(warehouse) => warehouse
                    .catalog(&tables, config.runner.inventory_concurrency)
                    .await
                    .map(|catalog| Some(Arc::new(catalog))),
                None => Ok::<_, MetastoreError>(None),
            }
        }
    };
    let (baseline, candidate) =
        tokio::try_join!(catalog(&plan.baseline), catalog(&plan.candidate)).map_err(|error| error.to_string())?;
    let roots = |side: &InventorySide| Roots { directories: side.roots.clone(), rule: side.rule.clone() };
    let mut spec = InventorySpec::new(&plan.baseline.warehouse, &plan.candidate.warehouse);
    spec.tables.clone_from(&plan.tables);
    spec.partitions.clone_from(&plan.partitions);
    spec.level = plan.level;
    spec.diff = plan.diff;
    spec.key.clone_from(&plan.key);
    spec.options.sample_limit = 20;
    spec.limits.memory_limit = Some(config.memory_limit());
    spec.concurrency = config.runner.inventory_concurrency;
    spec.earlier = Arc::new(earlier);
    spec.confinement =
        Some(verifier::Confinement { baseline: roots(&plan.baseline), candidate: roots(&plan.candidate) });
    spec.stores = config.stores.clone();
    spec.catalogs = [baseline, candidate];
    let route = |rows: u64| config.cluster.route(cluster, rows);
    verifier::inventory::inventory_on(&spec, progress, &route).await.map_err(|error| crate::error::chain(&error))
}

/// A finished inventory as stored: its report without partitions (they are rows of their own),
/// and a report for the owners of each table that is not consistent.
fn done(config: &Config, claimed: &ClaimedInventory, mut report: InventoryReport) -> InventoryOutcome {
    let plan = &claimed.plan;
    let link = format!("{}/inventories/{}", config.public_url(), claimed.id);
    let tables = report
        .tables
        .iter()
        .filter(|table| table.verdict != Verdict::Consistent)
        .map(|table| {
            let name = registry_name(&plan.baseline, &plan.candidate, &table.name);
            (name, table_report(claimed.id, plan, table, &link))
        })
        .collect();
    let verdict = report.verdict;
    // The partitions are stored already: only the rest is serialised.
    for table in &mut report.tables {
        table.partitions = Vec::new();
    }
    let mut document = serde_json::to_value(&report).unwrap_or_default();
    if let Some(tables) = document.get_mut("tables").and_then(serde_json::Value::as_array_mut) {
        for table in tables {
            if let Some(table) = table.as_object_mut() {
                table.remove("partitions");
            }
        }
    }
    InventoryOutcome::Done { verdict, report: document, tables }
}

/// The registry's name of an inventory's table (`db.table`): a directory tree's `dw.db/orders`
/// is `dw.orders`; a table of a side whose database is known gets it; else the name as listed.
pub fn registry_name(baseline: &InventorySide, candidate: &InventorySide, table: &str) -> String {
    if let Some((db, name)) = table.split_once(".db/")
        && !name.contains('/')
    {
        return format!("{db}.{name}");
    }
    match baseline.database.as_ref().or(candidate.database.as_ref()) {
        Some(db) if !table.contains(['/', '.']) => format!("{db}.{table}"),
        _ => table.to_owned(),
    }
}

/// The report of one table that is not consistent, for its owners: its counts, why, the first
/// partitions not equal, and where the inventory's page is.
fn table_report(id: i64, plan: &InventoryPlan, table: &TableInventory, link: &str) -> NewReport {
    let counts = &table.counts;
    let mut parts = Vec::new();
    for (count, label) in [
        (counts.different, "differ"),
        (counts.missing_in_candidate, "missing in the candidate"),
        (counts.missing_in_baseline, "missing in the baseline"),
        (counts.unreadable, "unreadable"),
    ] {
        if count > 0 {
            parts.push(format!("{count} {label}"));
        }
    }
    let declared = table.declared_schema.as_ref().map(|d| d.differences()).unwrap_or_default();
    let mut reason = format!("inventory {id}: {} of {} partitions: {}", parts_count(counts), counts.partitions, {
        if parts.is_empty() { "none differ".to_owned() } else { parts.join(", ") }
    });
    if let Some(first) = declared.first() {
        reason.push_str(&format!("; declared columns: {first}"));
    }
    let named: Vec<serde_json::Value> = table
        .partitions
        .iter()
        .filter(|p| p.verdict.differs() || p.verdict == verifier::inventory::PartitionVerdict::Unreadable)
        .take(NAMED_PARTITIONS)
        .map(|p| serde_json::json!({ "partition": p.partition, "verdict": p.verdict, "reason": p.reason }))
        .collect();
    let document = serde_json::json!({
        "kind": "inventory",
        "inventory_id": id,
        "inventory_url": format!("{link}/tables?name={}", percent_encoding::utf8_percent_encode(&table.name, percent_encoding::NON_ALPHANUMERIC)),
        "inventory_table": table.name,
        "verdict": table.verdict,
        "reason": reason,
        "level": plan.level,
        "counts": counts,
        "partitions": named,
        "baseline": { "cluster": plan.baseline.cluster, "uri": plan.baseline.warehouse, "files": counts.baseline.files, "rows": counts.baseline.rows },
        "candidate": { "cluster": plan.candidate.cluster, "uri": plan.candidate.warehouse, "files": counts.candidate.files, "rows": counts.candidate.rows },
    });
    NewReport { verdict: table.verdict, reason: Some(reason), report: document, export_path: None }
}

/// Partitions that are not equal (differ, are missing or cannot be read).
fn parts_count(counts: &verifier::inventory::Counts) -> u64 {
    counts.different + counts.missing_in_baseline + counts.missing_in_candidate + counts.unreadable
}

#[cfg(test)]
mod tests {
    use super::*;

    fn side(warehouse: &str, database: Option<&str>) -> InventorySide {
        InventorySide {
            cluster: "c".into(),
            warehouse: warehouse.into(),
            database: database.map(str::to_owned),
            roots: Vec::new(),
            rule: String::new(),
        }
    }

    #[test]
    fn an_inventorys_table_is_named_as_the_registry_names_it() {
        let tree = side("file:///w/", None);
        assert_eq!(registry_name(&tree, &tree, "dw.db/orders"), "dw.orders");
        assert_eq!(registry_name(&tree, &tree, "orders"), "orders");
        let database = side("file:///w/dw.db/", Some("dw"));
        assert_eq!(registry_name(&database, &tree, "orders"), "dw.orders");
        assert_eq!(registry_name(&tree, &database, "orders"), "dw.orders", "either side's database");
        assert_eq!(registry_name(&database, &database, "a/b"), "a/b", "a nested path is left as it is");
    }
}
