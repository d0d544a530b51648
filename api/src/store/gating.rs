//! The gating model in the store: workflows and their states, tasks and task edges; the
//! recorded history (transitions, re-run warnings) is in `transitions.rs`.
//!
//! Every change bumps `gating_version` first, in its transaction: on PostgreSQL that row lock
//! serialises the changes, so a check made inside one (an upstream task exists, a task has no
//! readers) holds when it commits. A transition is checked on a model read at some version and
//! commits only if the version is still that one ([`Store::record_transition`]), so no
//! transition is ever decided on a stale model.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::Row;

use super::pairs::{ROWS_PER_STATEMENT, Tx, placeholders};
use super::transitions::seed;
use super::{Result, Store, from_json, millis, to_json};
use crate::gating::dag::{Dag, normalised, task_problems};
use crate::gating::{Model, Task, TaskKind, WorkflowState};

/// What a change to the DAG did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DagChange {
    /// The item is new.
    Created,
    /// The item existed and was replaced (or deleted).
    Done,
    /// There is no such item.
    NotFound,
    /// The change would leave the DAG broken; why, naming the items.
    Refused(String),
}

/// What a whole import did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Imported {
    /// Workflows in the DAG now.
    pub workflows: usize,
    /// Tasks in the DAG now.
    pub tasks: usize,
    /// Task edges in the DAG now.
    pub edges: usize,
    /// Workflows new to dqc.
    pub added: Vec<String>,
    /// Workflows dqc knew that the import left out (removed, with their tasks).
    pub removed: Vec<String>,
    /// Known workflows whose state in the import differs from dqc's: their state is kept
    /// (only transitions change it).
    pub states_kept: Vec<String>,
}

impl Store {
    /// The model (DAG and states) and the version it was read at.
    pub async fn gating_model(&self) -> Result<(i64, Model)> {
        let mut tx = self.pool.begin().await?;
        let version: i64 =
            sqlx::query("SELECT version FROM gating_version WHERE id = 1").fetch_one(&mut *tx).await?.try_get(0)?;
        let mut model = Model::default();
        for row in sqlx::query("SELECT id, state FROM workflows").fetch_all(&mut *tx).await? {
            let state: String = row.try_get(1)?;
            model.workflows.insert(row.try_get(0)?, WorkflowState::parse(&state).unwrap_or(WorkflowState::NotMigrated));
        }
        for row in sqlx::query("SELECT id, workflow, kind, outputs FROM tasks").fetch_all(&mut *tx).await? {
            let id: String = row.try_get(0)?;
            let kind: String = row.try_get(2)?;
            let task = Task {
                id: id.clone(),
                workflow: row.try_get(1)?,
                kind: TaskKind::parse(&kind).unwrap_or(TaskKind::Script),
                upstream: Vec::new(),
                outputs: from_json(&row.try_get::<String, _>(3)?, "task outputs")?,
            };
            model.tasks.insert(id, task);
        }
        for row in
            sqlx::query("SELECT task, upstream FROM task_edges ORDER BY task, upstream").fetch_all(&mut *tx).await?
        {
            let task: String = row.try_get(0)?;
            if let Some(task) = model.tasks.get_mut(&task) {
                task.upstream.push(row.try_get(1)?);
            }
        }
        tx.commit().await?;
        Ok((version, model))
    }

    /// The version of the gating model: it changes with every change to the DAG or a state.
    pub async fn gating_version(&self) -> Result<i64> {
        Ok(sqlx::query("SELECT version FROM gating_version WHERE id = 1").fetch_one(&self.pool).await?.try_get(0)?)
    }

    /// A workflow's state; none when it is not in the DAG.
    pub async fn workflow_state(&self, id: &str) -> Result<Option<WorkflowState>> {
        let row = sqlx::query("SELECT state FROM workflows WHERE id = $1").bind(id).fetch_optional(&self.pool).await?;
        Ok(row
            .map(|row| row.try_get::<String, _>(0))
            .transpose()?
            .map(|state| WorkflowState::parse(&state).unwrap_or(WorkflowState::NotMigrated)))
    }

    /// Replaces the DAG with `dag` (checked with [`Dag::check`] first): workflows it leaves out
    /// are removed, new ones take the state it gives (default `not_migrated`), known ones keep
    /// theirs. Removing workflows, and seeding a state other than `not_migrated` into a model
    /// that is not empty, need `by.admin`: else nothing changes and the refusal says why. Every
    /// seeded state is recorded as a transition by `by.name`.
    pub async fn import_dag(&self, dag: &Dag, by: &Actor<'_>, now: DateTime<Utc>) -> Result<Result<Imported, String>> {
        let mut tx = self.pool.begin().await?;
        bump(&mut tx).await?;
        let mut known = BTreeMap::new();
        for row in sqlx::query("SELECT id, state FROM workflows").fetch_all(&mut *tx).await? {
            let state: String = row.try_get(1)?;
            known.insert(
                row.try_get::<String, _>(0)?,
                WorkflowState::parse(&state).unwrap_or(WorkflowState::NotMigrated),
            );
        }
        let model = dag.model(&known);
        let given: BTreeMap<&str, WorkflowState> =
            dag.workflows.iter().filter_map(|w| Some((w.id.as_str(), w.state?))).collect();
        let imported = Imported {
            workflows: model.workflows.len(),
            tasks: model.tasks.len(),
            edges: model.tasks.values().map(|task| task.upstream.len()).sum(),
            added: model.workflows.keys().filter(|id| !known.contains_key(*id)).cloned().collect(),
            removed: known.keys().filter(|id| !model.workflows.contains_key(*id)).cloned().collect(),
            states_kept: given
                .iter()
                .filter(|(id, state)| known.get(**id).is_some_and(|kept| kept != *state))
                .map(|(id, _)| (*id).to_owned())
                .collect(),
        };
        let seeded: Vec<(&String, WorkflowState)> = model
            .workflows
            .iter()
            .filter(|(id, state)| !known.contains_key(*id) && **state != WorkflowState::NotMigrated)
            .map(|(id, state)| (id, *state))
            .collect();
        if !by.admin {
            if !imported.removed.is_empty() {
                return Ok(Err(format!(
                    "the import removes workflows {}; removing workflows needs the admin role",
                    quoted(&imported.removed)
                )));
            }
            if !known.is_empty() && !seeded.is_empty() {
                let named: Vec<String> =
                    seeded.iter().map(|(id, state)| format!("`{id}` ({})", state.as_str())).collect();
                return Ok(Err(format!(
                    "the import adds workflows in a state other than not_migrated ({}); states change through \
                     transitions, or an admin may seed them",
                    named.join(", ")
                )));
            }
        }
        for table in ["task_edges", "tasks", "workflows"] {
            sqlx::query(&format!("DELETE FROM {table}")).execute(&mut *tx).await?;
        }
        let workflows: Vec<(&String, &WorkflowState)> = model.workflows.iter().collect();
        for chunk in workflows.chunks(ROWS_PER_STATEMENT) {
            let sql = format!("INSERT INTO workflows (id, state, updated_at) VALUES {}", placeholders(chunk.len(), 3));
            let mut query = sqlx::query(&sql);
            for (id, state) in chunk {
                query = query.bind(*id).bind(state.as_str()).bind(millis(now));
            }
            query.execute(&mut *tx).await?;
        }
        let tasks: Vec<&Task> = model.tasks.values().collect();
        insert_tasks(&mut tx, &tasks, now).await?;
        for (id, state) in seeded {
            seed(&mut tx, id, state, by, "seeded by a DAG import", now).await?;
        }
        tx.commit().await?;
        Ok(Ok(imported))
    }

    /// Adds a workflow in `state`, or leaves a known one as it is (its state changes only by
    /// transitions): `Created`, or `Done` when it was known. A state other than `not_migrated`
    /// needs `by.admin` and is recorded as a transition.
    pub async fn put_workflow(
        &self,
        id: &str,
        state: WorkflowState,
        by: &Actor<'_>,
        now: DateTime<Utc>,
    ) -> Result<DagChange> {
        if state != WorkflowState::NotMigrated && !by.admin {
            return Ok(DagChange::Refused(format!(
                "adding workflow `{id}` as {} needs the admin role; states change through transitions",
                state.as_str()
            )));
        }
        let mut tx = self.pool.begin().await?;
        bump(&mut tx).await?;
        let done = sqlx::query(
            "INSERT INTO workflows (id, state, updated_at) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING",
        )
        .bind(id)
        .bind(state.as_str())
        .bind(millis(now))
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() > 0 && state != WorkflowState::NotMigrated {
            seed(&mut tx, id, state, by, "seeded when the workflow was added", now).await?;
        }
        tx.commit().await?;
        Ok(if done.rows_affected() > 0 { DagChange::Created } else { DagChange::Done })
    }

    /// Removes a workflow and its tasks; refused while tasks of other workflows read from them.
    pub async fn delete_workflow(&self, id: &str) -> Result<DagChange> {
        let mut tx = self.pool.begin().await?;
        bump(&mut tx).await?;
        if sqlx::query("SELECT 1 FROM workflows WHERE id = $1").bind(id).fetch_optional(&mut *tx).await?.is_none() {
            return Ok(DagChange::NotFound);
        }
        let readers = sqlx::query(
            "SELECT e.task, e.upstream FROM task_edges e JOIN tasks t ON t.id = e.upstream JOIN tasks r ON r.id = e.task \
             WHERE t.workflow = $1 AND r.workflow <> $1 ORDER BY e.task, e.upstream",
        )
        .bind(id)
        .fetch_all(&mut *tx)
        .await?;
        if !readers.is_empty() {
            let edges: Vec<String> = readers
                .iter()
                .map(|row| Ok(format!("`{}` reads `{}`", row.try_get::<String, _>(0)?, row.try_get::<String, _>(1)?)))
                .collect::<Result<_>>()?;
            return Ok(DagChange::Refused(format!(
                "workflow `{id}` has tasks that other workflows read from: {}",
                edges.join(", ")
            )));
        }
        sqlx::query("DELETE FROM task_edges WHERE task IN (SELECT id FROM tasks WHERE workflow = $1)")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM tasks WHERE workflow = $1").bind(id).execute(&mut *tx).await?;
        sqlx::query("DELETE FROM workflows WHERE id = $1").bind(id).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(DagChange::Done)
    }

    /// Adds or replaces a task (its workflow is added, `not_migrated`, if new); refused when it
    /// reads from itself or from unknown tasks.
    pub async fn put_task(&self, task: &Task, now: DateTime<Utc>) -> Result<DagChange> {
        let task = normalised(task);
        let mut tx = self.pool.begin().await?;
        bump(&mut tx).await?;
        let mut known = BTreeSet::new();
        for upstream in &task.upstream {
            if sqlx::query("SELECT 1 FROM tasks WHERE id = $1").bind(upstream).fetch_optional(&mut *tx).await?.is_some()
            {
                known.insert(upstream.as_str());
            }
        }
        let problems = task_problems(&task, &|id| known.contains(id));
        if let Err(problems) = crate::gating::dag::Problems::check(problems) {
            return Ok(DagChange::Refused(problems.to_string()));
        }
        // A task moved between workflows of different states would change where it runs
        // without a transition (into a migrated workflow: candidate only).
        let state_of = |row: Option<sqlx::any::AnyRow>| -> Result<Option<WorkflowState>> {
            Ok(match row {
                Some(row) => WorkflowState::parse(&row.try_get::<String, _>(0)?),
                None => None,
            })
        };
        let from = state_of(
            sqlx::query("SELECT w.state FROM tasks t JOIN workflows w ON w.id = t.workflow WHERE t.id = $1")
                .bind(&task.id)
                .fetch_optional(&mut *tx)
                .await?,
        )?;
        let to = state_of(
            sqlx::query("SELECT state FROM workflows WHERE id = $1")
                .bind(&task.workflow)
                .fetch_optional(&mut *tx)
                .await?,
        )?
        .unwrap_or(WorkflowState::NotMigrated);
        if let Some(from) = from.filter(|from| *from != to) {
            return Ok(DagChange::Refused(format!(
                "task `{}` would move from a {} workflow to the {} workflow `{}`, which changes where it runs; \
                 move workflows through transitions first, so that both are in the same state",
                task.id,
                from.as_str(),
                to.as_str(),
                task.workflow
            )));
        }
        sqlx::query("INSERT INTO workflows (id, state, updated_at) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING")
            .bind(&task.workflow)
            .bind(WorkflowState::NotMigrated.as_str())
            .bind(millis(now))
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM task_edges WHERE task = $1").bind(&task.id).execute(&mut *tx).await?;
        let existed = sqlx::query("DELETE FROM tasks WHERE id = $1").bind(&task.id).execute(&mut *tx).await?;
        insert_tasks(&mut tx, &[&task], now).await?;
        tx.commit().await?;
        Ok(if existed.rows_affected() > 0 { DagChange::Done } else { DagChange::Created })
    }

    /// Removes a task; refused while other tasks read from it.
    pub async fn delete_task(&self, id: &str) -> Result<DagChange> {
        let mut tx = self.pool.begin().await?;
        bump(&mut tx).await?;
        let readers: Vec<String> = sqlx::query("SELECT task FROM task_edges WHERE upstream = $1 ORDER BY task")
            .bind(id)
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(|row| row.try_get(0))
            .collect::<Result<_, _>>()?;
        if !readers.is_empty() {
            return Ok(DagChange::Refused(format!("task `{id}` is read by {}", quoted(&readers))));
        }
        sqlx::query("DELETE FROM task_edges WHERE task = $1").bind(id).execute(&mut *tx).await?;
        let done = sqlx::query("DELETE FROM tasks WHERE id = $1").bind(id).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(if done.rows_affected() > 0 { DagChange::Done } else { DagChange::NotFound })
    }
}
/// Marks a change to the gating model (and, on PostgreSQL, serialises it with the others).
async fn bump(tx: &mut Tx) -> Result<()> {
    sqlx::query("UPDATE gating_version SET version = version + 1 WHERE id = 1").execute(&mut **tx).await?;
    Ok(())
}

/// Who changes the gating model.
#[derive(Debug, Clone, Copy)]
pub struct Actor<'a> {
    /// The token's name (`configuration` for the DAG file read at start).
    pub name: &'a str,
    /// Holds the admin role (the configuration file does).
    pub admin: bool,
}

/// Inserts tasks and their edges, many rows per statement.
async fn insert_tasks(tx: &mut Tx, tasks: &[&Task], now: DateTime<Utc>) -> Result<()> {
    for chunk in tasks.chunks(ROWS_PER_STATEMENT) {
        let sql = format!(
            "INSERT INTO tasks (id, workflow, kind, outputs, updated_at) VALUES {}",
            placeholders(chunk.len(), 5)
        );
        let mut query = sqlx::query(&sql);
        for task in chunk {
            query = query
                .bind(&task.id)
                .bind(&task.workflow)
                .bind(task.kind.as_str())
                .bind(to_json(&task.outputs))
                .bind(millis(now));
        }
        query.execute(&mut **tx).await?;
    }
    let edges: Vec<(&String, &String)> =
        tasks.iter().flat_map(|task| task.upstream.iter().map(move |upstream| (&task.id, upstream))).collect();
    for chunk in edges.chunks(ROWS_PER_STATEMENT) {
        let sql = format!("INSERT INTO task_edges (task, upstream) VALUES {}", placeholders(chunk.len(), 2));
        let mut query = sqlx::query(&sql);
        for (task, upstream) in chunk {
            query = query.bind(*task).bind(*upstream);
        }
        query.execute(&mut **tx).await?;
    }
    Ok(())
}

fn quoted(items: &[String]) -> String {
    items.iter().map(|item| format!("`{item}`")).collect::<Vec<_>>().join(", ")
}
