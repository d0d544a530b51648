//! The store: pairs, jobs, reports, dead letters, the table registry and the gating model, in
//! SQL.
//!
//! One schema, two engines through sqlx's `Any` driver: a SQLite file is the embedded default,
//! PostgreSQL the production store that several dqc instances in one consumer group share.
//! Migrations are embedded (`api/migrations/{sqlite,postgres}`) and applied by [`Store::open`].
//! Queries use `$1` placeholders, which both engines read. Times are Unix milliseconds; JSON
//! documents (a pair's state, a job's spec, a report) are TEXT.
//!
//! SQLite gets a single connection: writes are serialised in the process instead of failing
//! with `SQLITE_BUSY`, and the file is put in WAL mode. PostgreSQL gets a pool; job claims are
//! compare-and-set updates, so two instances never run the same job at once.

mod gating;
mod history;
mod inventories;
mod jobs;
mod outbox;
mod pairing;
mod pairs;
mod registry;
mod reports;
mod retention;
mod sessions;
mod transitions;

use std::time::Duration;

use chrono::{DateTime, Utc};
use collector::Clusters;
use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{AnyPool, Executor};

pub use gating::{Actor, DagChange, Imported};
pub use inventories::{
    ClaimedInventory, InventoryOutcome, InventoryPlan, InventorySide, InventoryState, InventoryStatus,
};
pub use jobs::{ClaimedJob, JobOrigin, JobSpec, JobState, JobStatus, SideSpec};
pub use outbox::{ClaimedNotification, NewNotification, NotificationStatus, Stats, UnroutedReport};
pub use registry::RegistryChange;
pub use reports::{Activity, ListedReport, NewReport, ReportFilter, StoredDeadLetter, StoredReport, Verdict};
pub use retention::Pruned;
pub use sessions::Session;
pub use transitions::{NewTransition, RerunWarning, Transition};

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store URL is not SQLite or PostgreSQL.
    #[error("unsupported store URL `{0}` (use sqlite://path or postgres://...)")]
    UnsupportedUrl(String),
    /// The database failed.
    #[error("store query failed: {0}")]
    Database(#[from] sqlx::Error),
    /// The embedded migrations could not be applied.
    #[error("cannot migrate the store schema: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A stored JSON document that does not parse (a bug or a hand-edited row).
    #[error("stored {what} does not parse: {source}")]
    Corrupt {
        /// What was being read.
        what: &'static str,
        /// serde's error.
        #[source]
        source: serde_json::Error,
    },
}

/// Result with the store's error.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// `url` with its password (if any) written `***`, for messages and logs.
pub fn redacted(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        Ok(_) => url.to_owned(),
        // Not a URL: nothing can be told apart from a secret.
        Err(_) => "(a store URL that does not parse)".to_owned(),
    }
}

impl StoreError {
    /// True when the database refused the data itself (SQLSTATE class 22, data exception,
    /// such as a NUL in a text; class 54, program limit exceeded, such as an index row too
    /// large): the same statement with the same data fails again.
    pub fn is_data_refusal(&self) -> bool {
        let Self::Database(sqlx::Error::Database(error)) = self else { return false };
        error.code().is_some_and(|code| code.starts_with("22") || code.starts_with("54"))
    }

    /// For the consumer: a data refusal marked as such ([`collector::Error::DataRefused`]).
    pub fn into_intake(self) -> collector::Error {
        if self.is_data_refusal() {
            collector::Error::DataRefused(Box::new(self))
        } else {
            collector::Error::Store(Box::new(self))
        }
    }
}

/// Which engine the store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// An embedded SQLite file.
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

/// The store: a connection pool and the pairing defaults.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    engine: Engine,
    clusters: Clusters,
    default_deadline: Duration,
}

impl Store {
    /// Connects (creating a SQLite file if missing) and applies the migrations. `clusters`
    /// name the sides in reports; `default_deadline` applies to tables without their own.
    pub async fn open(url: &str, clusters: Clusters, default_deadline: Duration) -> Result<Self> {
        install_default_drivers();
        let (engine, url) = if let Some(path) = url.strip_prefix("sqlite://") {
            let separator = if path.contains('?') { '&' } else { '?' };
            (Engine::Sqlite, format!("sqlite://{path}{separator}mode=rwc"))
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            (Engine::Postgres, url.to_owned())
        } else {
            return Err(StoreError::UnsupportedUrl(redacted(url)));
        };
        let connections = if engine == Engine::Sqlite { 1 } else { 8 };
        let pool = AnyPoolOptions::new()
            .max_connections(connections)
            .acquire_timeout(Duration::from_secs(30))
            .connect(&url)
            .await?;
        if engine == Engine::Sqlite {
            pool.execute("PRAGMA journal_mode = WAL").await?;
        }
        let store = Self { pool, engine, clusters, default_deadline };
        store.migrate().await?;
        Ok(store)
    }

    async fn migrate(&self) -> Result<()> {
        let migrator = match self.engine {
            Engine::Sqlite => sqlx::migrate!("./migrations/sqlite"),
            Engine::Postgres => sqlx::migrate!("./migrations/postgres"),
        };
        migrator.run(&self.pool).await?;
        Ok(())
    }

    /// Closes the pool.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

fn millis(time: DateTime<Utc>) -> i64 {
    time.timestamp_millis()
}

fn from_millis(value: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(value).unwrap_or(DateTime::<Utc>::MIN_UTC)
}

fn to_json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|error| format!("{{\"unserialisable\": \"{error}\"}}"))
}

fn from_json<T: serde::de::DeserializeOwned>(text: &str, what: &'static str) -> Result<T> {
    serde_json::from_str(text).map_err(|source| StoreError::Corrupt { what, source })
}
