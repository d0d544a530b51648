//! The table registry: each table's key, owners, deadline and diff options.
//!
//! Tables come from the configuration at start ([`Store::register`] overwrites the tables the
//! file lists) and can be registered or changed at run time. A job reads its table's entry
//! when it runs, so a change applies to the next diff.

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::{Result, Store, from_json, millis, to_json};
use crate::config::TableConfig;

impl Store {
    /// Registers a table or replaces its registration.
    pub async fn register(&self, table: &TableConfig, now: DateTime<Utc>) -> Result<()> {
        sqlx::query(
            "INSERT INTO registered_tables (name, config, updated_at) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO UPDATE SET config = excluded.config, updated_at = excluded.updated_at",
        )
        .bind(&table.name)
        .bind(to_json(table))
        .bind(millis(now))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// A table's registration.
    pub async fn table(&self, name: &str) -> Result<Option<TableConfig>> {
        let row = sqlx::query("SELECT config FROM registered_tables WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|row| from_json(&row.try_get::<String, _>(0)?, "table registration")).transpose()
    }

    /// Every registered table, by name.
    pub async fn tables(&self) -> Result<Vec<TableConfig>> {
        let rows = sqlx::query("SELECT config FROM registered_tables ORDER BY name").fetch_all(&self.pool).await?;
        rows.iter().map(|row| from_json(&row.try_get::<String, _>(0)?, "table registration")).collect()
    }

    /// Removes a table's registration; false when it had none. Its reports stay.
    pub async fn unregister(&self, name: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM registered_tables WHERE name = $1").bind(name).execute(&self.pool).await?;
        Ok(done.rows_affected() > 0)
    }
}
