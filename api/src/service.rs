//! `dqc serve`: the collector, the deadline sweep and the job runner in one process.
//!
//! [`run`] opens the store (applying migrations), registers the configured tables, then runs
//! every part as a task of one `JoinSet` until `shutdown` turns true: the consumer drains its
//! batch and commits, the runner lets running diffs finish (for a grace period), and the
//! sweep stops.

use std::sync::Arc;

use chrono::Utc;
use collector::consumer::{self, ConsumerSettings};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::config::{Config, ConfigError};
use crate::store::{Store, StoreError};

/// Why the service could not run.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The configuration is not usable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The store cannot be opened or migrated.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The Kafka consumer cannot start.
    #[error(transparent)]
    Consumer(#[from] consumer::ConsumerError),
}

/// Opens the store and registers the configured tables.
pub async fn open_store(config: &Config) -> Result<Store, ServiceError> {
    let store = Store::open(&config.store.url, config.clusters()?, config.pairing.deadline).await?;
    for table in &config.tables {
        store.register(table, Utc::now()).await?;
    }
    Ok(store)
}

/// Runs the service until `shutdown` turns true.
pub async fn run(config: Config, shutdown: watch::Receiver<bool>) -> Result<(), ServiceError> {
    let config = Arc::new(config);
    let store = open_store(&config).await?;
    let mut tasks: JoinSet<Result<(), ServiceError>> = JoinSet::new();
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
        let (store, shutdown) = (Arc::new(store.clone()), shutdown.clone());
        tasks.spawn(async move { consumer::run(&settings, store, shutdown).await.map(drop).map_err(Into::into) });
    } else {
        tracing::info!("no [kafka] section: no events are consumed");
    }
    tasks.spawn(sweep(store.clone(), Arc::clone(&config), shutdown.clone()));
    tasks.spawn({
        let (store, config, shutdown) = (store.clone(), Arc::clone(&config), shutdown.clone());
        async move {
            crate::runner::run(store, config, shutdown).await;
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

async fn sweep(store: Store, config: Arc<Config>, mut shutdown: watch::Receiver<bool>) -> Result<(), ServiceError> {
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
