//! The gating DAG: `GET|PUT /gating/dag` (the whole DAG), `GET|PUT|DELETE
//! /gating/workflows/{id}` and `GET|PUT|DELETE /gating/tasks/{id}` (one item at a time).
//! Transitions, the overview and re-run warnings are in [`super::gates`].

use axum::extract::State;
use axum::http::StatusCode;
use chrono::Utc;
use serde::{Deserialize, Serialize};

use super::auth::{Admin, Caller, Operator, Viewer};
use super::error::{Body, ErrorBody, Path};
use super::gates::snapshot;
use super::{ApiError, AppState};
use crate::config::AccessRole;
use crate::gating::{Dag, RunMode, Task, TaskKind, WorkflowState, rerun_warning};
use crate::store::{Actor, DagChange, Imported};

/// The largest DAG `PUT /gating/dag` takes (a DAG of 100,000 tasks is about 20 MB of JSON).
pub(super) const MAX_DAG_BODY: usize = 256 << 20;

#[utoipa::path(get, path = "/gating/dag", operation_id = "get_dag", tag = "gating", security(("bearer" = [])),
    responses(
        (status = 200, description = "The whole DAG, with every workflow's state", body = Dag),
        (status = 401, description = "No valid token", body = ErrorBody)
    ))]
pub(crate) async fn get_dag(
    State(state): State<AppState>,
    _caller: Caller<Viewer>,
) -> Result<axum::response::Response, ApiError> {
    let json = super::gates::dag_document(&state).await?;
    Ok(axum::response::IntoResponse::into_response(([(axum::http::header::CONTENT_TYPE, "application/json")], json)))
}

#[utoipa::path(put, path = "/gating/dag", operation_id = "put_dag", tag = "gating", security(("bearer" = [])),
    request_body(content = Dag, description = "The whole DAG (at most 256 MiB): it replaces the stored one. \
        Workflows left out are removed; new ones take the state given (default not_migrated); known ones keep theirs"),
    responses(
        (status = 200, description = "Imported", body = Imported),
        (status = 400, description = "Malformed body", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Role too low, or the import removes workflows or seeds states (admin only)", body = ErrorBody),
        (status = 422, description = "The DAG is broken (every problem named)", body = ErrorBody)
    ))]
pub(crate) async fn put_dag(
    State(state): State<AppState>,
    caller: Caller<Operator>,
    Body(dag): Body<Dag>,
) -> Result<axum::Json<Imported>, ApiError> {
    dag.check().map_err(|problems| ApiError::invalid(format!("the DAG is not valid: {problems}")))?;
    let by = Actor { name: &caller.name, admin: caller.granted == AccessRole::Admin };
    let imported = state.store().import_dag(&dag, &by, Utc::now()).await?.map_err(ApiError::forbidden)?;
    tracing::info!(by = %caller.name, workflows = imported.workflows, tasks = imported.tasks, "DAG imported");
    Ok(axum::Json(imported))
}

/// A workflow, its tasks and where it stands.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct WorkflowDetail {
    /// Its id.
    id: String,
    /// Its state.
    state: WorkflowState,
    /// The other workflows of its cycle, which move with it.
    moves_with: Vec<String>,
    /// Workflows it reads from.
    upstream: Vec<String>,
    /// Workflows that read from it.
    downstream: Vec<String>,
    /// Its tasks, with where each runs.
    tasks: Vec<TaskDetail>,
}

/// A task and where it runs.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct TaskDetail {
    /// Its id.
    id: String,
    /// Its workflow.
    workflow: String,
    /// What kind of job it is.
    kind: TaskKind,
    /// Tasks it reads from.
    upstream: Vec<String>,
    /// Tables it writes.
    outputs: Vec<String>,
    /// Where it runs, from its workflow's state.
    mode: RunMode,
    /// Tasks downstream of it that run on the candidate only: a re-run of this task on the
    /// baseline would not recompute their data there.
    rerun_would_leave_stale: Vec<String>,
}

impl TaskDetail {
    fn of(model: &crate::gating::Model, graph: &crate::gating::WorkflowGraph, task: &Task) -> Self {
        Self {
            id: task.id.clone(),
            workflow: task.workflow.clone(),
            kind: task.kind,
            upstream: task.upstream.clone(),
            outputs: task.outputs.clone(),
            mode: model.mode(task),
            rerun_would_leave_stale: rerun_warning(model, graph, &task.id),
        }
    }
}

#[utoipa::path(get, path = "/gating/workflows/{id}", operation_id = "get_workflow", tag = "gating", security(("bearer" = [])),
    params(("id" = String, Path, description = "The workflow")),
    responses(
        (status = 200, description = "The workflow", body = WorkflowDetail),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "Not in the DAG", body = ErrorBody)
    ))]
pub(crate) async fn get_workflow(
    State(state): State<AppState>,
    _caller: Caller<Viewer>,
    Path(id): Path<String>,
) -> Result<axum::Json<WorkflowDetail>, ApiError> {
    let current = snapshot(&state).await?;
    let (model, graph) = (&current.model, &current.graph);
    let Some(workflow_state) = model.workflows.get(&id).copied() else {
        return Err(ApiError::not_found(format!("workflow `{id}` is not in the DAG")));
    };
    let tasks = graph
        .tasks_of(&id)
        .iter()
        .filter_map(|task| model.tasks.get(task))
        .map(|task| TaskDetail::of(model, graph, task))
        .collect();
    let listed = |map: &std::collections::BTreeMap<String, std::collections::BTreeSet<String>>| {
        map.get(&id).into_iter().flatten().cloned().collect()
    };
    Ok(axum::Json(WorkflowDetail {
        moves_with: graph.unit(&id).unwrap_or_default().iter().filter(|m| **m != id).cloned().collect(),
        upstream: listed(&graph.upstream),
        downstream: listed(&graph.downstream),
        id,
        state: workflow_state,
        tasks,
    }))
}

/// A workflow to add.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewWorkflow {
    /// Its state, when it is new (default not_migrated); a known workflow's state changes only
    /// through transitions.
    state: Option<WorkflowState>,
}

#[utoipa::path(put, path = "/gating/workflows/{id}", operation_id = "put_workflow", tag = "gating", security(("bearer" = [])),
    params(("id" = String, Path, description = "The workflow")),
    request_body(content = NewWorkflow, description = "Its state if new"),
    responses(
        (status = 200, description = "Known already; unchanged"),
        (status = 201, description = "Added"),
        (status = 400, description = "Malformed body", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Role too low, or a new workflow in a state other than not_migrated (admin only)", body = ErrorBody),
        (status = 409, description = "Known in another state: states change through transitions", body = ErrorBody),
        (status = 422, description = "Invalid body", body = ErrorBody)
    ))]
pub(crate) async fn put_workflow(
    State(state): State<AppState>,
    caller: Caller<Operator>,
    Path(id): Path<String>,
    Body(body): Body<NewWorkflow>,
) -> Result<StatusCode, ApiError> {
    if id.trim().is_empty() {
        return Err(ApiError::invalid("a workflow id must not be empty"));
    }
    let store = state.store();
    let wanted = body.state.unwrap_or(WorkflowState::NotMigrated);
    if let (Some(given), Some(known)) = (body.state, store.workflow_state(&id).await?)
        && given != known
    {
        return Err(ApiError::conflict(format!(
            "workflow `{id}` is {}; its state changes through POST /gating/workflows/{id}/transitions",
            known.as_str()
        )));
    }
    let by = Actor { name: &caller.name, admin: caller.granted == AccessRole::Admin };
    let change = store.put_workflow(&id, wanted, &by, Utc::now()).await?;
    tracing::info!(workflow = %id, by = %caller.name, "workflow put");
    match change {
        DagChange::Created => Ok(StatusCode::CREATED),
        DagChange::Refused(why) => Err(ApiError::forbidden(why)),
        _ => Ok(StatusCode::OK),
    }
}

#[utoipa::path(delete, path = "/gating/workflows/{id}", operation_id = "delete_workflow", tag = "gating", security(("bearer" = [])),
    params(("id" = String, Path, description = "The workflow")),
    responses(
        (status = 204, description = "Removed with its tasks; its recorded transitions stay"),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Role too low (admin only)", body = ErrorBody),
        (status = 404, description = "Not in the DAG", body = ErrorBody),
        (status = 409, description = "Tasks of other workflows read from its tasks", body = ErrorBody)
    ))]
pub(crate) async fn delete_workflow(
    State(state): State<AppState>,
    caller: Caller<Admin>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let change = state.store().delete_workflow(&id).await?;
    answer_deletion(change, || format!("workflow `{id}` is not in the DAG"))?;
    tracing::info!(workflow = %id, by = %caller.name, "workflow removed");
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/gating/tasks/{id}", operation_id = "get_task", tag = "gating", security(("bearer" = [])),
    params(("id" = String, Path, description = "The task")),
    responses(
        (status = 200, description = "The task, where it runs, and what a baseline re-run would leave stale", body = TaskDetail),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "Not in the DAG", body = ErrorBody)
    ))]
pub(crate) async fn get_task(
    State(state): State<AppState>,
    _caller: Caller<Viewer>,
    Path(id): Path<String>,
) -> Result<axum::Json<TaskDetail>, ApiError> {
    let current = snapshot(&state).await?;
    let model = &current.model;
    let task = model.tasks.get(&id).ok_or_else(|| ApiError::not_found(format!("task `{id}` is not in the DAG")))?;
    Ok(axum::Json(TaskDetail::of(model, &current.graph, task)))
}

#[utoipa::path(put, path = "/gating/tasks/{id}", operation_id = "put_task", tag = "gating", security(("bearer" = [])),
    params(("id" = String, Path, description = "The task")),
    request_body(content = Task, description = "The task; `id` may be left out. Its workflow is added (not_migrated) if new"),
    responses(
        (status = 200, description = "Replaced", body = Task),
        (status = 201, description = "Added", body = Task),
        (status = 400, description = "Malformed body", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Role too low", body = ErrorBody),
        (status = 422, description = "Invalid task (unknown upstream task, ...)", body = ErrorBody)
    ))]
pub(crate) async fn put_task(
    State(state): State<AppState>,
    caller: Caller<Operator>,
    Path(id): Path<String>,
    Body(mut task): Body<Task>,
) -> Result<(StatusCode, axum::Json<Task>), ApiError> {
    if task.id.is_empty() {
        task.id.clone_from(&id);
    } else if task.id != id {
        return Err(ApiError::invalid(format!("the body names task `{}`, the path `{id}`", task.id)));
    }
    let status = match state.store().put_task(&task, Utc::now()).await? {
        DagChange::Created => StatusCode::CREATED,
        DagChange::Refused(why) => return Err(ApiError::invalid(why)),
        DagChange::Done | DagChange::NotFound => StatusCode::OK,
    };
    tracing::info!(task = %id, by = %caller.name, "task put");
    Ok((status, axum::Json(crate::gating::dag::normalised(&task))))
}

#[utoipa::path(delete, path = "/gating/tasks/{id}", operation_id = "delete_task", tag = "gating", security(("bearer" = [])),
    params(("id" = String, Path, description = "The task")),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Role too low (admin only)", body = ErrorBody),
        (status = 404, description = "Not in the DAG", body = ErrorBody),
        (status = 409, description = "Other tasks read from it", body = ErrorBody)
    ))]
pub(crate) async fn delete_task(
    State(state): State<AppState>,
    caller: Caller<Admin>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let change = state.store().delete_task(&id).await?;
    answer_deletion(change, || format!("task `{id}` is not in the DAG"))?;
    tracing::info!(task = %id, by = %caller.name, "task removed");
    Ok(StatusCode::NO_CONTENT)
}

fn answer_deletion(change: DagChange, missing: impl FnOnce() -> String) -> Result<(), ApiError> {
    match change {
        DagChange::NotFound => Err(ApiError::not_found(missing())),
        DagChange::Refused(why) => Err(ApiError::conflict(why)),
        DagChange::Created | DagChange::Done => Ok(()),
    }
}
