//! The table registry: each table's key, owners, deadline and diff options.
//!
//! Tables come from the configuration at start ([`Store::register`] overwrites the tables the
//! file lists) and can be registered or changed at run time. A job reads its table's entry
//! when it runs, so a change applies to the next diff.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::Row;

use super::{Result, Store, from_json, from_millis, millis, to_json};
use crate::config::TableConfig;

/// One change of a table's registration.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct RegistryChange {
    /// Its id, in order of the changes.
    pub id: i64,
    /// `db.table`.
    pub table: String,
    /// Who changed it (the token's name; `configuration` for the file read at start).
    pub actor: String,
    /// The registration before (none: it was not registered).
    pub before: Option<TableConfig>,
    /// The registration after (none: it was removed).
    pub after: Option<TableConfig>,
    /// When.
    pub at: DateTime<Utc>,
}

impl Store {
    /// Registers a table or replaces its registration, as the configuration file does.
    pub async fn register(&self, table: &TableConfig, now: DateTime<Utc>) -> Result<()> {
        self.register_by(table, "configuration", now).await
    }

    /// Registers a table or replaces its registration, recording the change by `actor` (when
    /// something changed).
    pub async fn register_by(&self, table: &TableConfig, actor: &str, now: DateTime<Utc>) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        let before = sqlx::query("SELECT config FROM registered_tables WHERE name = $1")
            .bind(&table.name)
            .fetch_optional(&mut *tx)
            .await?
            .map(|row| row.try_get::<String, _>(0))
            .transpose()?;
        let after = to_json(table);
        sqlx::query(
            "INSERT INTO registered_tables (name, config, updated_at) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO UPDATE SET config = excluded.config, updated_at = excluded.updated_at",
        )
        .bind(&table.name)
        .bind(&after)
        .bind(millis(now))
        .execute(&mut *tx)
        .await?;
        if before.as_deref() != Some(after.as_str()) {
            record_change(&mut tx, &table.name, actor, before, Some(after), now).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The changes of `name`'s registration, oldest first.
    pub async fn registry_changes(&self, name: &str) -> Result<Vec<RegistryChange>> {
        let rows = sqlx::query(
            "SELECT id, table_name, actor, before, after, created_at FROM registry_changes WHERE table_name = $1 ORDER BY id",
        )
        .bind(name)
        .fetch_all(&self.pool)
        .await?;
        let document = |text: Option<String>| text.map(|text| from_json(&text, "registry change")).transpose();
        rows.iter()
            .map(|row| {
                Ok(RegistryChange {
                    id: row.try_get(0)?,
                    table: row.try_get(1)?,
                    actor: row.try_get(2)?,
                    before: document(row.try_get(3)?)?,
                    after: document(row.try_get(4)?)?,
                    at: from_millis(row.try_get(5)?),
                })
            })
            .collect()
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
        self.unregister_by(name, "configuration", Utc::now()).await
    }

    /// [`Store::unregister`], recording the change by `actor`.
    pub async fn unregister_by(&self, name: &str, actor: &str, now: DateTime<Utc>) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        let before = sqlx::query("DELETE FROM registered_tables WHERE name = $1 RETURNING config")
            .bind(name)
            .fetch_optional(&mut *tx)
            .await?
            .map(|row| row.try_get::<String, _>(0))
            .transpose()?;
        let Some(before) = before else { return Ok(false) };
        record_change(&mut tx, name, actor, Some(before), None, now).await?;
        tx.commit().await?;
        Ok(true)
    }
}

async fn record_change(
    tx: &mut super::pairs::Tx,
    name: &str,
    actor: &str,
    before: Option<String>,
    after: Option<String>,
    now: DateTime<Utc>,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO registry_changes (table_name, actor, before, after, created_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(name)
    .bind(actor)
    .bind(before)
    .bind(after)
    .bind(millis(now))
    .execute(&mut **tx)
    .await?;
    Ok(())
}
