//! `dqc serve`: the REST API, the collector, the deadline sweep, the job runner, the inventory
//! runner and the notifier in one process.
//!
//! [`run`] binds `api.listen`, opens the store (applying migrations), registers the configured
//! tables and imports the gating DAG file, then runs every part as a task of one `JoinSet`
//! until `shutdown` turns true: the API stops accepting and finishes open requests, the
//! consumer drains its batch and commits, the runner lets running diffs finish (for a grace
//! period), the notifier finishes its round, and the sweep stops.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use chrono::Utc;
use collector::consumer::{self, ConsumerSettings};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::config::{Config, ConfigError};
use crate::error::Error;
use crate::gating::Dag;
use crate::rest::AppState;
use crate::store::Store;
use crate::telemetry::{CountingStore, Telemetry};

/// Opens the store, registers the configured tables and imports `gating.dag`.
pub async fn open_store(config: &Config) -> Result<Store, Error> {
    let store = Store::open(&config.store.url, config.clusters()?, config.pairing.deadline).await?;
    for table in &config.tables {
        store.register(table, Utc::now()).await?;
    }
    if let Some(path) = &config.gating.dag {
        let dag = Dag::load(path).map_err(ConfigError::from)?;
        // The configuration file is the operator of the deployment: it may seed states.
        let by = crate::store::Actor { name: "configuration", admin: true };
        let imported = store.import_dag(&dag, &by, Utc::now()).await?.map_err(ConfigError::Invalid)?;
        tracing::info!(path = %path.display(), workflows = imported.workflows, tasks = imported.tasks,
            removed = imported.removed.len(), "gating DAG imported");
    }
    Ok(store)
}

/// Binds `api.listen`.
pub async fn bind(config: &Config) -> Result<TcpListener, Error> {
    let address = config.api.listen.clone();
    TcpListener::bind(&address).await.map_err(|source| Error::Listen { address, source })
}

/// Runs the service until `shutdown` turns true.
pub async fn run(config: Config, shutdown: watch::Receiver<bool>) -> Result<(), Error> {
    let listener = bind(&config).await?;
    run_on(config, listener, shutdown).await
}

/// Runs the service with its API on `listener` until `shutdown` turns true.
pub async fn run_on(mut config: Config, listener: TcpListener, shutdown: watch::Receiver<bool>) -> Result<(), Error> {
    if config.api.public_url.is_none()
        && let Ok(address) = listener.local_addr()
    {
        // Links name the port actually bound (`api.listen` may ask for port 0).
        config.api.public_url = Some(format!("http://{address}"));
    }
    let config = Arc::new(config);
    let store = open_store(&config).await?;
    let telemetry = Arc::new(Telemetry::default());
    let state = AppState::new(store.clone(), Arc::clone(&config), Arc::clone(&telemetry))?;
    let (router, _) = crate::rest::router(state)?;
    let address = listener.local_addr().map_or_else(|_| config.api.listen.clone(), |address| address.to_string());
    tracing::info!(%address, "API listening");
    let mut tasks: JoinSet<Result<(), Error>> = JoinSet::new();
    tasks.spawn({
        let shutdown = shutdown.clone();
        async move {
            crate::rest::serve(listener, router, shutdown).await.map_err(|source| Error::Listen { address, source })
        }
    });
    if let Some(kafka) = &config.kafka {
        let settings = ConsumerSettings {
            brokers: kafka.brokers.clone(),
            topic: kafka.topic.clone(),
            group_id: kafka.group_id.clone(),
            properties: kafka.properties.clone(),
            batch_size: kafka.batch_size,
            batch_wait: kafka.batch_wait,
            clusters: config.clusters()?,
        };
        let counting = Arc::new(CountingStore { store: store.clone(), telemetry: Arc::clone(&telemetry) });
        let (telemetry, shutdown) = (Arc::clone(&telemetry), shutdown.clone());
        tasks.spawn(async move {
            telemetry.consumer_running.store(true, Ordering::Relaxed);
            let result = consumer::run(&settings, counting, shutdown).await;
            telemetry.consumer_running.store(false, Ordering::Relaxed);
            result.map(drop).map_err(Into::into)
        });
    } else {
        telemetry.consumer_running.store(true, Ordering::Relaxed);
        tracing::info!("no [kafka] section: no events are consumed (POST /api/v1/events still takes them)");
    }
    tasks.spawn(notify_task(store.clone(), Arc::clone(&config), Arc::clone(&telemetry), shutdown.clone()));
    tasks.spawn(sweep(store.clone(), Arc::clone(&config), shutdown.clone()));
    tasks.spawn(prune(store.clone(), Arc::clone(&config), shutdown.clone()));
    tasks.spawn({
        let (store, config, shutdown) = (store.clone(), Arc::clone(&config), shutdown.clone());
        async move {
            crate::inventories::run(store, config, shutdown).await;
            Ok(())
        }
    });
    tasks.spawn({
        let (store, config, shutdown) = (store.clone(), Arc::clone(&config), shutdown.clone());
        async move {
            crate::runner::run(store, config, telemetry, shutdown).await;
            Ok(())
        }
    });
    let mut result = Ok(());
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(Ok(())) => {}
            Ok(Err(error)) => {
                tracing::error!(%error, "a part of the service stopped");
                result = Err(error);
            }
            Err(error) => tracing::error!(%error, "a part of the service panicked"),
        }
    }
    store.close().await;
    result
}

async fn notify_task(
    store: Store,
    config: Arc<Config>,
    telemetry: Arc<Telemetry>,
    shutdown: watch::Receiver<bool>,
) -> Result<(), Error> {
    crate::notify::run(store, config, telemetry, shutdown).await;
    Ok(())
}

/// Prunes by age every `retention.interval` (see [`crate::config::RetentionConfig`]).
async fn prune(store: Store, config: Arc<Config>, mut shutdown: watch::Receiver<bool>) -> Result<(), Error> {
    let retention = &config.retention;
    if [retention.events, retention.reports, retention.jobs, retention.dead_letters].iter().all(Option::is_none) {
        return Ok(());
    }
    while !*shutdown.borrow() {
        let tables = store.tables().await.unwrap_or_default();
        let needed = |table: &str| {
            let registered = tables.iter().find(|t| t.name == table).and_then(|t| t.evidence_runs);
            registered.unwrap_or(config.gating.evidence_runs)
        };
        match store.prune(retention, &needed, Utc::now()).await {
            Ok(pruned) => {
                for export in &pruned.exports {
                    let _ = std::fs::remove_file(export);
                }
                if pruned != crate::store::Pruned::default() {
                    tracing::info!(
                        events = pruned.events,
                        reports = pruned.reports,
                        jobs = pruned.jobs,
                        inventories = pruned.inventories,
                        dead_letters = pruned.dead_letters,
                        exports = pruned.exports.len(),
                        "pruned by retention"
                    );
                }
            }
            Err(error) => tracing::warn!(%error, "pruning failed; retrying at the next interval"),
        }
        tokio::select! {
            _ = shutdown.changed() => {}
            _ = tokio::time::sleep(retention.interval) => {}
        }
    }
    Ok(())
}

async fn sweep(store: Store, config: Arc<Config>, mut shutdown: watch::Receiver<bool>) -> Result<(), Error> {
    while !*shutdown.borrow() {
        match store.expire_due(Utc::now()).await {
            Ok(0) => {}
            Ok(count) => tracing::info!(count, "pairs past their deadline reported divergent"),
            Err(error) => tracing::warn!(%error, "deadline sweep failed; retrying"),
        }
        tokio::select! {
            _ = shutdown.changed() => {}
            _ = tokio::time::sleep(config.pairing.sweep_interval) => {}
        }
    }
    Ok(())
}
