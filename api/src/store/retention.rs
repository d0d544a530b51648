//! Pruning by age ([`crate::config::RetentionConfig`]): nothing that an open pair, a queued or
//! running job or gating evidence still needs is removed.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::{Result, Store, millis};
use crate::config::RetentionConfig;

/// What one pruning removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pruned {
    /// Events.
    pub events: u64,
    /// Reports (with their notifications).
    pub reports: u64,
    /// Finished jobs.
    pub jobs: u64,
    /// Finished inventories (with their partitions).
    pub inventories: u64,
    /// Dead letters.
    pub dead_letters: u64,
    /// The export files of the removed reports, for the caller to delete.
    pub exports: Vec<String>,
}

impl Store {
    /// Removes what is older than `retention` allows at `now`. `evidence_runs` gives, per
    /// table, how many of its newest runs gating reads: their reports are kept.
    pub async fn prune(
        &self,
        retention: &RetentionConfig,
        evidence_runs: &(dyn Fn(&str) -> usize + Sync),
        now: DateTime<Utc>,
    ) -> Result<Pruned> {
        let cutoff = |age: std::time::Duration| millis(now) - i64::try_from(age.as_millis()).unwrap_or(i64::MAX / 2);
        let mut pruned = Pruned::default();
        if let Some(age) = retention.events {
            let done =
                sqlx::query("DELETE FROM events WHERE received_at < $1").bind(cutoff(age)).execute(&self.pool).await?;
            pruned.events = done.rows_affected();
        }
        if let Some(age) = retention.dead_letters {
            let done = sqlx::query("DELETE FROM dead_letters WHERE received_at < $1")
                .bind(cutoff(age))
                .execute(&self.pool)
                .await?;
            pruned.dead_letters = done.rows_affected();
        }
        if let Some(age) = retention.jobs {
            let done =
                sqlx::query("DELETE FROM jobs WHERE state IN ('done', 'superseded', 'cancelled') AND updated_at < $1")
                    .bind(cutoff(age))
                    .execute(&self.pool)
                    .await?;
            pruned.jobs = done.rows_affected();
            let mut tx = self.pool.begin().await?;
            let finished =
                "SELECT id FROM inventories WHERE state IN ('done', 'failed', 'cancelled') AND updated_at < $1";
            sqlx::query(&format!("DELETE FROM inventory_partitions WHERE inventory_id IN ({finished})"))
                .bind(cutoff(age))
                .execute(&mut *tx)
                .await?;
            let done = sqlx::query(&format!("DELETE FROM inventories WHERE id IN ({finished})"))
                .bind(cutoff(age))
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            pruned.inventories = done.rows_affected();
        }
        if let Some(age) = retention.reports {
            self.prune_reports(cutoff(age), evidence_runs, &mut pruned).await?;
        }
        Ok(pruned)
    }

    async fn prune_reports(
        &self,
        cutoff: i64,
        evidence_runs: &(dyn Fn(&str) -> usize + Sync),
        pruned: &mut Pruned,
    ) -> Result<()> {
        let histories = self.verdict_histories().await?;
        let kept: BTreeSet<(String, String)> = histories
            .iter()
            .flat_map(|(table, runs)| {
                runs.iter().take(evidence_runs(table)).map(move |(run, _)| (table.clone(), run.clone()))
            })
            .collect();
        let rows = sqlx::query("SELECT id, table_name, run_id, export_path FROM reports WHERE created_at < $1")
            .bind(cutoff)
            .fetch_all(&self.pool)
            .await?;
        let mut old = BTreeMap::new();
        for row in &rows {
            let key = (row.try_get::<String, _>(1)?, row.try_get::<String, _>(2)?);
            if !kept.contains(&key) {
                old.insert(row.try_get::<i64, _>(0)?, row.try_get::<Option<String>, _>(3)?);
            }
        }
        let ids: Vec<i64> = old.keys().copied().collect();
        for chunk in ids.chunks(super::pairs::ROWS_PER_STATEMENT) {
            let list: Vec<String> = (1..=chunk.len()).map(|index| format!("${index}")).collect();
            let list = list.join(", ");
            let mut tx = self.pool.begin().await?;
            for table in ["notifications WHERE report_id", "reports WHERE id"] {
                let sql = format!("DELETE FROM {table} IN ({list})");
                let mut query = sqlx::query(&sql);
                for id in chunk {
                    query = query.bind(*id);
                }
                let done = query.execute(&mut *tx).await?;
                if table.starts_with("reports") {
                    pruned.reports += done.rows_affected();
                }
            }
            tx.commit().await?;
        }
        pruned.exports = old.into_values().flatten().collect();
        Ok(())
    }
}
