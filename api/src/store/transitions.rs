//! Recorded gating history: transitions (who moved which workflows, from and to which state, on
//! what evidence; seeded states too) and re-run warnings.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::Row;

use super::gating::Actor;
use super::pairs::Tx;
use super::{Result, Store, from_json, from_millis, millis, to_json};
use crate::gating::WorkflowState;

/// A transition: what moved, who moved it, why, and on what evidence.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct NewTransition {
    /// The workflow asked for.
    pub workflow: String,
    /// The workflows that move (its cycle).
    pub unit: Vec<String>,
    /// Their state before.
    pub from: WorkflowState,
    /// Their state after.
    pub to: WorkflowState,
    /// Who moved them (the token's name).
    pub actor: String,
    /// Why, as given.
    pub reason: String,
    /// The evidence checked (`tables`) and, for a forced transition, the rules overridden
    /// (`overridden`).
    #[schema(value_type = Object)]
    pub evidence: serde_json::Value,
}

/// A recorded transition.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Transition {
    /// Its id.
    pub id: i64,
    /// The transition.
    #[serde(flatten)]
    pub moved: NewTransition,
    /// When.
    pub at: DateTime<Utc>,
}

/// A task that re-ran on the baseline while tasks downstream of it run on the candidate only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct RerunWarning {
    /// Its id.
    pub id: i64,
    /// The event of the re-run.
    pub event_id: String,
    /// The task that re-ran.
    pub task: String,
    /// The run.
    pub run_id: String,
    /// The attempt.
    pub attempt: i64,
    /// The downstream tasks that run on the candidate only: their data is not recomputed there.
    pub stale: Vec<String>,
    /// When it was noticed.
    pub at: DateTime<Utc>,
}

impl Store {
    /// Moves the unit and records the transition, if the model is still at `version` (the one
    /// the transition was checked on); `None` when it changed meanwhile (check again).
    pub async fn record_transition(
        &self,
        version: i64,
        transition: &NewTransition,
        now: DateTime<Utc>,
    ) -> Result<Option<i64>> {
        let mut tx = self.pool.begin().await?;
        let moved = sqlx::query("UPDATE gating_version SET version = version + 1 WHERE id = 1 AND version = $1")
            .bind(version)
            .execute(&mut *tx)
            .await?;
        if moved.rows_affected() == 0 {
            return Ok(None);
        }
        for member in &transition.unit {
            sqlx::query(
                "INSERT INTO workflows (id, state, updated_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (id) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at",
            )
            .bind(member)
            .bind(transition.to.as_str())
            .bind(millis(now))
            .execute(&mut *tx)
            .await?;
        }
        let id = insert_transition(&mut tx, transition, now).await?;
        for member in &transition.unit {
            sqlx::query("INSERT INTO transition_members (transition_id, workflow) VALUES ($1, $2)")
                .bind(id)
                .bind(member)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(Some(id))
    }

    /// Recorded transitions, newest first, of one workflow (asked for, or moved with its unit)
    /// or of all; and how many there are.
    pub async fn transitions(&self, workflow: Option<&str>, limit: i64, offset: i64) -> Result<(Vec<Transition>, i64)> {
        let filter = "($1 = '' OR id IN (SELECT transition_id FROM transition_members WHERE workflow = $1))";
        let name = workflow.unwrap_or_default();
        let sql = format!(
            "SELECT id, workflow, unit, from_state, to_state, actor, reason, evidence, created_at FROM transitions \
             WHERE {filter} ORDER BY id DESC LIMIT $2 OFFSET $3"
        );
        let rows = sqlx::query(&sql).bind(name).bind(limit).bind(offset).fetch_all(&self.pool).await?;
        let transitions = rows.iter().map(transition).collect::<Result<_>>()?;
        let total = sqlx::query(&format!("SELECT COUNT(*) FROM transitions WHERE {filter}"))
            .bind(name)
            .fetch_one(&self.pool)
            .await?
            .try_get(0)?;
        Ok((transitions, total))
    }

    /// Records a re-run warning once per event; false when that event's was recorded already.
    pub async fn record_rerun_warning(&self, warning: &RerunWarning, now: DateTime<Utc>) -> Result<bool> {
        let done = sqlx::query(
            "INSERT INTO rerun_warnings (event_id, task, run_id, attempt, stale, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (event_id) DO NOTHING",
        )
        .bind(&warning.event_id)
        .bind(&warning.task)
        .bind(&warning.run_id)
        .bind(warning.attempt)
        .bind(to_json(&warning.stale))
        .bind(millis(now))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Re-run warnings, newest first, and how many there are.
    pub async fn rerun_warnings(&self, limit: i64, offset: i64) -> Result<(Vec<RerunWarning>, i64)> {
        let rows = sqlx::query(
            "SELECT id, event_id, task, run_id, attempt, stale, created_at FROM rerun_warnings \
             ORDER BY id DESC LIMIT $1 OFFSET $2",
        )
        .bind(limit)
        .bind(offset)
        .fetch_all(&self.pool)
        .await?;
        let warnings = rows
            .iter()
            .map(|row| {
                Ok(RerunWarning {
                    id: row.try_get(0)?,
                    event_id: row.try_get(1)?,
                    task: row.try_get(2)?,
                    run_id: row.try_get(3)?,
                    attempt: row.try_get(4)?,
                    stale: from_json(&row.try_get::<String, _>(5)?, "re-run warning")?,
                    at: from_millis(row.try_get(6)?),
                })
            })
            .collect::<Result<_>>()?;
        let total = sqlx::query("SELECT COUNT(*) FROM rerun_warnings").fetch_one(&self.pool).await?.try_get(0)?;
        Ok((warnings, total))
    }
}

impl Store {
    /// Records a warning for each baseline re-run (a later attempt) of a task in the DAG that
    /// has downstream tasks running on the candidate only, and logs it. Re-runs are rare, so
    /// the model is read only when one of the tasks is in the DAG.
    pub async fn note_reruns(&self, reruns: &[&collector::Event], now: DateTime<Utc>) -> Result<Vec<RerunWarning>> {
        let mut known = Vec::new();
        for event in reruns {
            if sqlx::query("SELECT 1 FROM tasks WHERE id = $1")
                .bind(event.task_id.as_str())
                .fetch_optional(&self.pool)
                .await?
                .is_some()
            {
                known.push(*event);
            }
        }
        if known.is_empty() {
            return Ok(Vec::new());
        }
        let (_, model) = self.gating_model().await?;
        let graph = model.graph();
        let mut warnings = Vec::new();
        for event in known {
            let stale = crate::gating::rerun_warning(&model, &graph, &event.task_id);
            if stale.is_empty() {
                continue;
            }
            tracing::warn!(task = %event.task_id, run = %event.run_id, attempt = event.attempt, stale = ?stale,
                "task re-ran on the baseline; downstream tasks run on the candidate only and are not recomputed there");
            let warning = RerunWarning {
                id: 0,
                event_id: event.event_id.to_string(),
                task: event.task_id.to_string(),
                run_id: event.run_id.to_string(),
                attempt: i64::from(event.attempt),
                stale,
                at: now,
            };
            self.record_rerun_warning(&warning, now).await?;
            warnings.push(warning);
        }
        Ok(warnings)
    }
}

/// Records that `workflow` entered `state` without the rules (seeded by an admin or the
/// configuration), as a transition from `not_migrated`.
pub(super) async fn seed(
    tx: &mut Tx,
    workflow: &str,
    state: WorkflowState,
    by: &Actor<'_>,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    let seed = NewTransition {
        workflow: workflow.to_owned(),
        unit: vec![workflow.to_owned()],
        from: WorkflowState::NotMigrated,
        to: state,
        actor: by.name.to_owned(),
        reason: reason.to_owned(),
        evidence: serde_json::json!({ "seeded": true }),
    };
    let id = insert_transition(tx, &seed, now).await?;
    sqlx::query("INSERT INTO transition_members (transition_id, workflow) VALUES ($1, $2)")
        .bind(id)
        .bind(workflow)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Records a transition row; its members are the caller's to add.
async fn insert_transition(tx: &mut Tx, transition: &NewTransition, now: DateTime<Utc>) -> Result<i64> {
    Ok(sqlx::query(
        "INSERT INTO transitions (workflow, unit, from_state, to_state, actor, reason, evidence, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
    )
    .bind(&transition.workflow)
    .bind(to_json(&transition.unit))
    .bind(transition.from.as_str())
    .bind(transition.to.as_str())
    .bind(&transition.actor)
    .bind(&transition.reason)
    .bind(to_json(&transition.evidence))
    .bind(millis(now))
    .fetch_one(&mut **tx)
    .await?
    .try_get(0)?)
}

fn transition(row: &sqlx::any::AnyRow) -> Result<Transition> {
    let state = |index| -> Result<WorkflowState> {
        Ok(WorkflowState::parse(&row.try_get::<String, _>(index)?).unwrap_or(WorkflowState::NotMigrated))
    };
    Ok(Transition {
        id: row.try_get(0)?,
        moved: NewTransition {
            workflow: row.try_get(1)?,
            unit: from_json(&row.try_get::<String, _>(2)?, "transition unit")?,
            from: state(3)?,
            to: state(4)?,
            actor: row.try_get(5)?,
            reason: row.try_get(6)?,
            evidence: from_json(&row.try_get::<String, _>(7)?, "transition evidence")?,
        },
        at: from_millis(row.try_get(8)?),
    })
}
