//! Inventories run by the service: a queue of one kind of work, leased like jobs, and the
//! partitions each has finished.
//!
//! An inventory is `queued`, then `running` under a lease its runner renews (with its progress),
//! then `done` (its summary and tables stored, and one report per table that is not
//! consistent, in one transaction), `failed` (it could not run: a warehouse that cannot be
//! listed) or `cancelled`. Each finished partition is a row of `inventory_partitions` as soon
//! as it is written; an inventory whose instance died is claimed again once its lease runs out
//! and takes those rows instead of reading their partitions again.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::Row;
use sqlx::any::AnyRow;
use verifier::inventory::{Level, PartitionInventory};

use super::jobs::lease_millis;
use super::pairs::{ROWS_PER_STATEMENT, placeholders};
use super::reports::{self, NewReport};
use super::{Result, Store, from_json, from_millis, millis, to_json};

/// Where an inventory is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InventoryState {
    /// Waiting for a runner.
    Queued,
    /// Held by a runner.
    Running,
    /// Finished: its report is stored.
    Done,
    /// Could not run; `error` says why.
    Failed,
    /// Cancelled through the API; a running inventory stops at its next heartbeat.
    Cancelled,
}

impl InventoryState {
    /// The state as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Done => "done",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }

    fn parse(text: &str) -> Self {
        match text {
            "running" => Self::Running,
            "done" => Self::Done,
            "failed" => Self::Failed,
            "cancelled" => Self::Cancelled,
            _ => Self::Queued,
        }
    }
}

/// One side of an inventory, as resolved when it was asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InventorySide {
    /// The cluster.
    pub cluster: String,
    /// A directory tree of tables (`file:///w/dw.db/`, `s3://b/w/`) or a metastore's database
    /// or table (`hive://host:port/db[/table]`).
    pub warehouse: String,
    /// The database its tables belong to, when known: registry names are `db.table`.
    pub database: Option<String>,
    /// The directories or URL prefixes every file read must lie under.
    pub roots: Vec<String>,
    /// What those roots are, for messages.
    pub rule: String,
}

/// What an inventory compares, and how deep.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InventoryPlan {
    /// The baseline side.
    pub baseline: InventorySide,
    /// The candidate side.
    pub candidate: InventorySide,
    /// Table patterns; empty: every table.
    pub tables: Vec<String>,
    /// Conditions on partition values, all met.
    pub partitions: Vec<String>,
    /// `listing`, `footers` or `deep`.
    pub level: Level,
    /// Diff the partitions whose footers differ.
    pub diff: bool,
    /// Key columns for `deep` and `diff`.
    pub key: Vec<String>,
}

/// An inventory as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct InventoryStatus {
    /// Its id.
    pub id: i64,
    /// What it compares.
    pub plan: InventoryPlan,
    /// Who asked.
    pub requested_by: String,
    /// Where it is in its life.
    pub state: InventoryState,
    /// Claims so far.
    pub attempts: u32,
    /// Tables and partitions to do, once both warehouses are listed.
    pub listed: Option<(u64, u64)>,
    /// Partitions done (as of the last heartbeat).
    pub partitions_done: u64,
    /// The verdict, once done.
    pub verdict: Option<verifier::Verdict>,
    /// Why it failed.
    pub error: Option<String>,
    /// The report without its partitions (summary and tables), once done.
    pub report: Option<serde_json::Value>,
    /// When it was asked for.
    pub created_at: DateTime<Utc>,
    /// When it ended.
    pub finished_at: Option<DateTime<Utc>>,
}

/// An inventory held by this instance.
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimedInventory {
    /// Its id.
    pub id: i64,
    /// What it compares.
    pub plan: InventoryPlan,
    /// Claims so far, this one included.
    pub attempts: u32,
}

/// How an inventory ended, as its runner stores it.
#[derive(Debug, Clone, PartialEq)]
pub enum InventoryOutcome {
    /// Done: the verdict, the report without partitions, and one report per table that is not
    /// consistent (`(table, report)`), for its owners.
    Done { verdict: verifier::Verdict, report: serde_json::Value, tables: Vec<(String, NewReport)> },
    /// It could not run.
    Failed(String),
}

const STATUS: &str = "SELECT id, spec, requested_by, state, attempts, tables_total, partitions_total, partitions_done, \
     verdict, error, report, created_at, finished_at FROM inventories";

impl Store {
    /// Queues an inventory; its id.
    pub async fn create_inventory(&self, plan: &InventoryPlan, by: &str, now: DateTime<Utc>) -> Result<i64> {
        let row = sqlx::query(
            "INSERT INTO inventories (spec, requested_by, state, attempts, partitions_done, created_at, updated_at) \
             VALUES ($1, $2, 'queued', 0, 0, $3, $3) RETURNING id",
        )
        .bind(to_json(plan))
        .bind(by)
        .bind(millis(now))
        .fetch_one(&self.pool)
        .await?;
        Ok(row.try_get(0)?)
    }

    /// Claims the oldest queued inventory, or a running one whose lease ran out.
    pub async fn claim_inventory(
        &self,
        instance: &str,
        now: DateTime<Utc>,
        lease: Duration,
    ) -> Result<Option<ClaimedInventory>> {
        let claimable = "(state = 'queued' OR (state = 'running' AND lease_until < $3))";
        let sql = format!(
            "UPDATE inventories SET state = 'running', lease_owner = $1, lease_until = $2, attempts = attempts + 1, \
             updated_at = $3 WHERE id = (SELECT id FROM inventories WHERE {claimable} ORDER BY id LIMIT 1) AND {claimable} \
             RETURNING id, spec, attempts"
        );
        let row = sqlx::query(&sql)
            .bind(instance)
            .bind(millis(now) + lease_millis(lease))
            .bind(millis(now))
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let spec: String = row.try_get(1)?;
        let attempts: i64 = row.try_get(2)?;
        Ok(Some(ClaimedInventory {
            id: row.try_get(0)?,
            plan: from_json(&spec, "inventory spec")?,
            attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
        }))
    }

    /// Renews an inventory's lease and records its progress; false when it is no longer this
    /// instance's (cancelled, or taken over).
    pub async fn inventory_heartbeat(
        &self,
        id: i64,
        instance: &str,
        now: DateTime<Utc>,
        lease: Duration,
        listed: Option<(u64, u64)>,
        done: u64,
    ) -> Result<bool> {
        let number = |value: u64| i64::try_from(value).unwrap_or(i64::MAX);
        let updated = sqlx::query(
            "UPDATE inventories SET lease_until = $1, updated_at = $2, tables_total = COALESCE($3, tables_total), \
             partitions_total = COALESCE($4, partitions_total), partitions_done = $5 \
             WHERE id = $6 AND lease_owner = $7 AND state = 'running'",
        )
        .bind(millis(now) + lease_millis(lease))
        .bind(millis(now))
        .bind(listed.map(|(tables, _)| number(tables)))
        .bind(listed.map(|(_, partitions)| number(partitions)))
        .bind(number(done))
        .bind(id)
        .bind(instance)
        .execute(&self.pool)
        .await?;
        Ok(updated.rows_affected() > 0)
    }

    /// Records finished partitions (a partition recorded already keeps its first row).
    pub async fn record_inventory_partitions(
        &self,
        id: i64,
        partitions: &[(String, PartitionInventory)],
    ) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        for chunk in partitions.chunks(ROWS_PER_STATEMENT) {
            let sql = format!(
                "INSERT INTO inventory_partitions (inventory_id, table_name, partition_name, verdict, result) VALUES {} \
                 ON CONFLICT DO NOTHING",
                placeholders(chunk.len(), 5)
            );
            let mut query = sqlx::query(&sql);
            for (table, partition) in chunk {
                query = query
                    .bind(id)
                    .bind(table)
                    .bind(&partition.partition)
                    .bind(partition.verdict.as_str())
                    .bind(to_json(partition));
            }
            query.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Every partition an inventory has finished, with its table.
    pub async fn inventory_partitions(&self, id: i64) -> Result<Vec<(String, PartitionInventory)>> {
        let rows = sqlx::query("SELECT table_name, result FROM inventory_partitions WHERE inventory_id = $1")
            .bind(id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| {
                let result: String = row.try_get(1)?;
                Ok((row.try_get(0)?, from_json(&result, "inventory partition")?))
            })
            .collect()
    }

    /// One table's partitions of an inventory in partition order, only those with `verdict`
    /// when given: a page of them, and how many there are.
    pub async fn inventory_table_partitions(
        &self,
        id: i64,
        table: &str,
        verdict: Option<&str>,
        limit: i64,
        offset: i64,
    ) -> Result<(i64, Vec<PartitionInventory>)> {
        let filter = "inventory_id = $1 AND table_name = $2 AND ($3 IS NULL OR verdict = $3)";
        let total: i64 = sqlx::query(&format!("SELECT COUNT(*) FROM inventory_partitions WHERE {filter}"))
            .bind(id)
            .bind(table)
            .bind(verdict.map(str::to_owned))
            .fetch_one(&self.pool)
            .await?
            .try_get(0)?;
        let rows = sqlx::query(&format!(
            "SELECT result FROM inventory_partitions WHERE {filter} ORDER BY partition_name LIMIT $4 OFFSET $5"
        ))
        .bind(id)
        .bind(table)
        .bind(verdict.map(str::to_owned))
        .bind(limit)
        .bind(offset)
        .fetch_all(&self.pool)
        .await?;
        let partitions = rows
            .iter()
            .map(|row| {
                let result: String = row.try_get(0)?;
                from_json(&result, "inventory partition")
            })
            .collect::<Result<_>>()?;
        Ok((total, partitions))
    }

    /// Ends an inventory this instance holds: its report, and the reports of its tables that
    /// are not consistent, in one transaction; false (nothing written) when the lease was lost.
    pub async fn finish_inventory(
        &self,
        id: i64,
        instance: &str,
        outcome: &InventoryOutcome,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        let (state, verdict, report, error) = match outcome {
            InventoryOutcome::Done { verdict, report, .. } => {
                ("done", Some(verdict.as_str()), Some(to_json(report)), None)
            }
            InventoryOutcome::Failed(reason) => ("failed", None, None, Some(reason.clone())),
        };
        let updated = sqlx::query(
            "UPDATE inventories SET state = $1, verdict = $2, report = $3, error = $4, lease_owner = NULL, \
             lease_until = NULL, updated_at = $5, finished_at = $5 WHERE id = $6 AND lease_owner = $7 AND state = 'running'",
        )
        .bind(state)
        .bind(verdict)
        .bind(report)
        .bind(error)
        .bind(millis(now))
        .bind(id)
        .bind(instance)
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() == 0 {
            return Ok(false);
        }
        if let InventoryOutcome::Done { tables, .. } = outcome {
            for (table, report) in tables {
                let key = collector::PairKey {
                    table: table.clone(),
                    partition: String::new(),
                    run_id: format!("inventory-{id}"),
                };
                reports::insert(&mut tx, None, None, &key, report, now).await?;
            }
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Cancels a queued or running inventory; false when it had already ended (or does not
    /// exist).
    pub async fn cancel_inventory(&self, id: i64, now: DateTime<Utc>) -> Result<bool> {
        let updated = sqlx::query(
            "UPDATE inventories SET state = 'cancelled', lease_owner = NULL, lease_until = NULL, updated_at = $1, \
             finished_at = $1 WHERE id = $2 AND state IN ('queued', 'running')",
        )
        .bind(millis(now))
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(updated.rows_affected() > 0)
    }

    /// One inventory.
    pub async fn inventory(&self, id: i64) -> Result<Option<InventoryStatus>> {
        let row = sqlx::query(&format!("{STATUS} WHERE id = $1")).bind(id).fetch_optional(&self.pool).await?;
        row.as_ref().map(inventory_status).transpose()
    }

    /// Inventories, newest first: a page of them, and how many there are.
    pub async fn inventories(&self, limit: i64, offset: i64) -> Result<(i64, Vec<InventoryStatus>)> {
        let total: i64 = sqlx::query("SELECT COUNT(*) FROM inventories").fetch_one(&self.pool).await?.try_get(0)?;
        let rows = sqlx::query(&format!("{STATUS} ORDER BY id DESC LIMIT $1 OFFSET $2"))
            .bind(limit)
            .bind(offset)
            .fetch_all(&self.pool)
            .await?;
        Ok((total, rows.iter().map(inventory_status).collect::<Result<_>>()?))
    }
}

fn inventory_status(row: &AnyRow) -> Result<InventoryStatus> {
    let spec: String = row.try_get(1)?;
    let state: String = row.try_get(3)?;
    let attempts: i64 = row.try_get(4)?;
    let tables: Option<i64> = row.try_get(5)?;
    let partitions: Option<i64> = row.try_get(6)?;
    let done: i64 = row.try_get(7)?;
    let verdict: Option<String> = row.try_get(8)?;
    let report: Option<String> = row.try_get(10)?;
    let finished_at: Option<i64> = row.try_get(12)?;
    let count = |value: i64| u64::try_from(value).unwrap_or(0);
    Ok(InventoryStatus {
        id: row.try_get(0)?,
        plan: from_json(&spec, "inventory spec")?,
        requested_by: row.try_get(2)?,
        state: InventoryState::parse(&state),
        attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
        listed: tables.zip(partitions).map(|(t, p)| (count(t), count(p))),
        partitions_done: count(done),
        verdict: verdict.as_deref().map(reports::stored_verdict),
        error: row.try_get(9)?,
        report: report.as_deref().map(|text| from_json(text, "inventory report")).transpose()?,
        created_at: from_millis(row.try_get(11)?),
        finished_at: finished_at.map(from_millis),
    })
}
