//! Transitions (`POST /gating/workflows/{id}/transitions`, a dry run or for real), their record
//! (`GET /gating/transitions`), the migration overview (`GET /gating/overview`) and re-run
//! warnings (`GET /gating/rerun-warnings`).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use chrono::Utc;
use serde::{Deserialize, Serialize};

use super::auth::{Caller, Operator, Viewer};
use super::error::{Body, ErrorBody, Path, Query};
use super::{ApiError, AppState, Page};
use crate::config::AccessRole;
use crate::gating::{
    Decision, History, Model, Overview, Step, Violation, WorkflowGraph, WorkflowState, check, evidence_tables, overview,
};
use crate::store::{NewTransition, RerunWarning, Transition, Verdict};

/// How often a transition is checked again when the DAG changed between its check and its
/// commit.
const ATTEMPTS: usize = 5;

/// The gating model and its graph at a version.
#[derive(Debug)]
pub(crate) struct Snapshot {
    /// The version read.
    pub(crate) version: i64,
    /// The DAG and the states.
    pub(crate) model: Model,
    /// Its workflow graph (states do not change it: a transition's snapshot shares it).
    pub(crate) graph: Arc<WorkflowGraph>,
}

/// The current model: the cached one while the store's version is unchanged, else read anew
/// (with 100,000 tasks, reading and building the graph take most of a second; a check on a
/// cached model takes milliseconds).
pub(crate) async fn snapshot(state: &AppState) -> Result<Arc<Snapshot>, ApiError> {
    let version = state.store().gating_version().await?;
    let cached = state.inner.gating.lock().map(|cached| cached.clone()).unwrap_or_default();
    if let Some(cached) = cached.filter(|cached| cached.version == version) {
        return Ok(cached);
    }
    let (version, model) = state.store().gating_model().await?;
    let snapshot = tokio::task::spawn_blocking(move || {
        let graph = Arc::new(model.graph());
        Arc::new(Snapshot { version, model, graph })
    })
    .await
    .map_err(|error| ApiError::internal(&error))?;
    if let Ok(mut cached) = state.inner.gating.lock() {
        *cached = Some(Arc::clone(&snapshot));
    }
    Ok(snapshot)
}

/// How long a computed overview stands at most even when its inputs seem unchanged (reports
/// pruned by retention, or written by another instance, do not move the newest id).
const OVERVIEW_TTL: std::time::Duration = std::time::Duration::from_secs(60);

/// The overview and the DAG document last computed, each with what it was computed from.
#[derive(Debug, Default)]
pub(crate) struct Computed {
    /// The overview last computed.
    overview: std::sync::Mutex<Option<ComputedOverview>>,
    /// The model version and the DAG as JSON.
    dag: std::sync::Mutex<Option<(i64, axum::body::Bytes)>>,
    /// The model version and, per workflow, the workflows downstream of it.
    waiting: std::sync::Mutex<Option<(i64, Arc<Waiting>)>>,
}

/// An overview with what it was computed from and when.
#[derive(Debug, Clone)]
struct ComputedOverview {
    /// The model's version, the newest report's id, the newest registry change's id.
    inputs: (i64, i64, i64),
    /// When.
    at: std::time::Instant,
    /// The overview.
    overview: Arc<Overview>,
}

/// The whole overview: the cached one while the model's version, the newest report and the
/// newest registry change are the same (and for at most [`OVERVIEW_TTL`]), else computed anew
/// on a blocking thread (at 100,000 tasks it takes about a second of CPU, which must not hold
/// up the runtime's workers that answer every other request).
pub(crate) async fn whole_overview(state: &AppState) -> Result<Arc<Overview>, ApiError> {
    let current = snapshot(state).await?;
    let (report, change) = state.store().overview_inputs().await?;
    let key = (current.version, report, change);
    let cached = state.inner.computed.overview.lock().map(|cached| cached.clone()).unwrap_or_default();
    if let Some(cached) = cached.filter(|cached| cached.inputs == key && cached.at.elapsed() < OVERVIEW_TTL) {
        return Ok(cached.overview);
    }
    let histories = state.store().verdict_histories().await?;
    let needed = evidence_runs(state, None).await?;
    let computed = tokio::task::spawn_blocking(move || {
        let history = |table: &str| histories.get(table).cloned().unwrap_or_default();
        Arc::new(overview(&current.model, &current.graph, &history, &needed))
    })
    .await
    .map_err(|error| ApiError::internal(&error))?;
    if let Ok(mut cached) = state.inner.computed.overview.lock() {
        *cached =
            Some(ComputedOverview { inputs: key, at: std::time::Instant::now(), overview: Arc::clone(&computed) });
    }
    Ok(computed)
}

/// The whole DAG with every state as JSON: cached per model version, written on a blocking
/// thread (about 20 MB at 100,000 tasks).
pub(crate) async fn dag_document(state: &AppState) -> Result<axum::body::Bytes, ApiError> {
    let current = snapshot(state).await?;
    let cached = state.inner.computed.dag.lock().map(|cached| cached.clone()).unwrap_or_default();
    if let Some((_, json)) = cached.filter(|(version, _)| *version == current.version) {
        return Ok(json);
    }
    let version = current.version;
    let json = tokio::task::spawn_blocking(move || serde_json::to_vec(&crate::gating::Dag::of(&current.model)))
        .await
        .map_err(|error| ApiError::internal(&error))?
        .map_err(|error| ApiError::internal(&error))?;
    let json = axum::body::Bytes::from(json);
    if let Ok(mut cached) = state.inner.computed.dag.lock() {
        *cached = Some((version, json.clone()));
    }
    Ok(json)
}

/// Per workflow, how many workflows are downstream of it.
pub(crate) type Waiting = BTreeMap<String, usize>;

/// [`Waiting`] (the pages sort by it): cached per model version, counted on a blocking thread.
pub(crate) async fn waiting_downstream(state: &AppState) -> Result<Arc<Waiting>, ApiError> {
    let current = snapshot(state).await?;
    let cached = state.inner.computed.waiting.lock().map(|cached| cached.clone()).unwrap_or_default();
    if let Some((_, counts)) = cached.filter(|(version, _)| *version == current.version) {
        return Ok(counts);
    }
    let version = current.version;
    let counts = tokio::task::spawn_blocking(move || Arc::new(current.graph.waiting_downstream()))
        .await
        .map_err(|error| ApiError::internal(&error))?;
    if let Ok(mut cached) = state.inner.computed.waiting.lock() {
        *cached = Some((version, Arc::clone(&counts)));
    }
    Ok(counts)
}

/// Caches the model a transition made (the same DAG, the unit in its new state) at the version
/// the transition committed, so that the next check need not read the whole model again. The
/// answer waits for it (a copy of the model: tens of milliseconds at 100,000 tasks), so the
/// next request from the same caller is answered from it.
async fn remember_move(state: &AppState, current: Arc<Snapshot>, unit: Vec<String>, to: WorkflowState) {
    let moved = tokio::task::spawn_blocking(move || {
        let mut model = current.model.clone();
        for member in unit {
            model.workflows.insert(member, to);
        }
        Arc::new(Snapshot { version: current.version + 1, model, graph: Arc::clone(&current.graph) })
    })
    .await;
    if let (Ok(moved), Ok(mut cached)) = (moved, state.inner.gating.lock()) {
        *cached = Some(moved);
    }
}

/// A transition asked for.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TransitionRequest {
    /// The state to move to, one step from the workflow's: not_migrated <-> dual_run <-> migrated.
    pub(crate) to: WorkflowState,
    /// Only check: the answer is the same, nothing changes.
    #[serde(default)]
    pub(crate) dry_run: bool,
    /// Why (recorded with the transition).
    #[serde(default)]
    pub(crate) reason: String,
    /// Move although rules are broken (admin only; one step at a time still). The rules
    /// overridden are recorded with the transition.
    #[serde(default)]
    pub(crate) force: bool,
}

/// The answer to a transition.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct TransitionAnswer {
    /// The workflow asked for.
    pub(crate) workflow: String,
    /// The workflows that move with it (its cycle), itself included.
    pub(crate) unit: Vec<String>,
    /// Their state.
    pub(crate) from: WorkflowState,
    /// The state asked for.
    pub(crate) to: WorkflowState,
    /// True when no rule stands in the way.
    pub(crate) allowed: bool,
    /// True when nothing was changed because only a check was asked for.
    pub(crate) dry_run: bool,
    /// True when the transition was made although rules were broken.
    pub(crate) forced: bool,
    /// Every broken rule, with the tasks, workflows and tables behind it.
    pub(crate) violations: Vec<Violation>,
    /// The verdicts rule 4 looked at (moves to migrated only).
    pub(crate) evidence: Vec<Evidence>,
    /// The recorded transition, when one was made.
    pub(crate) transition: Option<i64>,
}

/// The runs of one table that rule 4 looked at.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub(crate) struct Evidence {
    /// The table.
    pub(crate) table: String,
    /// The dual task that writes it.
    pub(crate) task: String,
    /// How many last runs must be consistent.
    pub(crate) needed: usize,
    /// Its newest runs (at most `needed`), newest first.
    pub(crate) runs: Vec<RunVerdict>,
}

/// A run and its verdict.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub(crate) struct RunVerdict {
    /// The run.
    pub(crate) run_id: String,
    /// Its verdict.
    #[schema(value_type = String)]
    pub(crate) verdict: Verdict,
}

#[utoipa::path(post, path = "/gating/workflows/{id}/transitions", operation_id = "transition_workflow", tag = "gating",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The workflow (its whole cycle moves with it)")),
    request_body(content = TransitionRequest),
    responses(
        (status = 200, description = "Dry run: the decision, nothing changed", body = TransitionAnswer),
        (status = 201, description = "Moved and recorded", body = TransitionAnswer),
        (status = 400, description = "Malformed body", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Role too low (operator; force: admin)", body = ErrorBody),
        (status = 404, description = "Not in the DAG", body = ErrorBody),
        (status = 409, description = "Refused: every broken rule is listed", body = TransitionAnswer),
        (status = 422, description = "Invalid body", body = ErrorBody)
    ))]
pub(crate) async fn transition(
    State(state): State<AppState>,
    caller: Caller<Operator>,
    Path(id): Path<String>,
    Body(request): Body<TransitionRequest>,
) -> Result<(StatusCode, axum::Json<TransitionAnswer>), ApiError> {
    let (status, answer) = move_workflow(&state, &caller.name, caller.granted, &id, &request).await?;
    Ok((status, axum::Json(answer)))
}

/// A transition asked for by `name` with `role` (the API's and the pages'): a dry run answers
/// 200, a refusal 409 with every broken rule, a move 201.
pub(crate) async fn move_workflow(
    state: &AppState,
    name: &str,
    role: AccessRole,
    id: &str,
    request: &TransitionRequest,
) -> Result<(StatusCode, TransitionAnswer), ApiError> {
    if request.force && role < AccessRole::Admin {
        return Err(ApiError::forbidden(format!("`{name}` may not force a transition; that needs admin")));
    }
    let store = state.store();
    for _ in 0..ATTEMPTS {
        let current = snapshot(state).await?;
        let (decision, evidence) = decide(state, &current.model, &current.graph, id, request.to).await?;
        let allowed = decision.allowed();
        let one_step = !decision.violations.iter().any(|v| matches!(v, Violation::NotOneStep { .. }));
        let forced = !allowed && request.force && one_step && !request.dry_run;
        let mut answer = TransitionAnswer {
            workflow: id.to_owned(),
            unit: decision.unit.clone(),
            from: decision.from,
            to: decision.to,
            allowed,
            dry_run: request.dry_run,
            forced,
            violations: decision.violations.clone(),
            evidence,
            transition: None,
        };
        if request.dry_run {
            return Ok((StatusCode::OK, answer));
        }
        if !allowed && !forced {
            return Ok((StatusCode::CONFLICT, answer));
        }
        let record = NewTransition {
            workflow: id.to_owned(),
            unit: decision.unit,
            from: decision.from,
            to: decision.to,
            actor: name.to_owned(),
            reason: request.reason.clone(),
            evidence: serde_json::json!({ "tables": answer.evidence, "overridden": answer.violations }),
        };
        if let Some(recorded) = store.record_transition(current.version, &record, Utc::now()).await? {
            tracing::info!(workflow = %id, unit = ?record.unit, from = record.from.as_str(), to = record.to.as_str(),
                by = %name, forced, "workflow moved");
            answer.transition = Some(recorded);
            remember_move(state, current, record.unit, record.to).await;
            return Ok((StatusCode::CREATED, answer));
        }
    }
    Err(ApiError::conflict(format!("the DAG changed while each of {ATTEMPTS} checks of `{id}` ran; ask again")))
}

/// The decision on moving `id` to `to`, with the evidence it used.
async fn decide(
    state: &AppState,
    model: &Model,
    graph: &WorkflowGraph,
    id: &str,
    to: WorkflowState,
) -> Result<(Decision, Vec<Evidence>), ApiError> {
    let missing = || ApiError::not_found(format!("workflow `{id}` is not in the DAG"));
    let unit = graph.unit(id).ok_or_else(missing)?;
    let tables = if to == WorkflowState::Migrated { evidence_tables(model, graph, unit) } else { Vec::new() };
    let names: Vec<&str> = tables.iter().map(|(_, table)| *table).collect();
    let needed = evidence_runs(state, Some(&names)).await?;
    let mut histories: BTreeMap<&str, History> = BTreeMap::new();
    for (_, table) in &tables {
        histories.insert(table, state.store().verdict_history(table).await?);
    }
    let history = |table: &str| histories.get(table).cloned().unwrap_or_default();
    let decision = check(model, graph, id, to, &history, &needed).ok_or_else(missing)?;
    let evidence = tables
        .iter()
        .map(|(task, table)| Evidence {
            table: (*table).to_owned(),
            task: task.id.clone(),
            needed: needed(table),
            runs: history(table)
                .into_iter()
                .take(needed(table))
                .map(|(run_id, verdict)| RunVerdict { run_id, verdict })
                .collect(),
        })
        .collect();
    Ok((decision, evidence))
}

/// N of rule 4 for a table: its own `evidence_runs`, else `gating.evidence_runs`. Reads the
/// registrations of `tables` only (a transition's few), or of every table with `None` (the
/// overview).
pub(crate) async fn evidence_runs(
    state: &AppState,
    tables: Option<&[&str]>,
) -> Result<impl Fn(&str) -> usize + use<>, ApiError> {
    let registered = match tables {
        Some(names) => {
            let mut found = Vec::with_capacity(names.len());
            for name in names {
                found.extend(state.store().table(name).await?);
            }
            found
        }
        None => state.store().tables().await?,
    };
    let own: BTreeMap<String, usize> =
        registered.into_iter().filter_map(|table| Some((table.name, table.evidence_runs?))).collect();
    let default = state.config().gating.evidence_runs;
    Ok(move |table: &str| own.get(table).copied().unwrap_or(default))
}

/// Which transitions to list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct TransitionQuery {
    /// Only those that moved this workflow.
    workflow: Option<String>,
    /// At most this many (1-1000, default 50).
    limit: Option<i64>,
    /// Skip this many, newest first.
    offset: Option<i64>,
}

/// A page of recorded transitions, newest first.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct TransitionPage {
    /// Transitions the filter selects.
    total: i64,
    /// This page's size limit.
    limit: i64,
    /// Transitions skipped.
    offset: i64,
    /// This page.
    transitions: Vec<Transition>,
}

#[utoipa::path(get, path = "/gating/transitions", operation_id = "list_transitions", tag = "gating", security(("bearer" = [])),
    params(TransitionQuery),
    responses(
        (status = 200, description = "Recorded transitions: who, when, from, to, and the evidence", body = TransitionPage),
        (status = 400, description = "Bad query", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody)
    ))]
pub(crate) async fn transitions(
    State(state): State<AppState>,
    _caller: Caller<Viewer>,
    Query(query): Query<TransitionQuery>,
) -> Result<axum::Json<TransitionPage>, ApiError> {
    let (limit, offset) = Page { limit: query.limit, offset: query.offset }.checked()?;
    let (transitions, total) = state.store().transitions(query.workflow.as_deref(), limit, offset).await?;
    Ok(axum::Json(TransitionPage { total, limit, offset, transitions }))
}

/// Which workflows the overview lists.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct OverviewQuery {
    /// Only workflows in this state.
    #[param(value_type = Option<String>)]
    state: Option<WorkflowState>,
    /// Only workflows whose next step is refused (true) or can be taken (false).
    blocked: Option<bool>,
    /// At most this many workflows (1-1000, default 50).
    limit: Option<i64>,
    /// Skip this many, by id.
    offset: Option<i64>,
}

/// Where the migration stands, with a page of workflows.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct OverviewPage {
    /// Workflows per state.
    counts: BTreeMap<WorkflowState, usize>,
    /// Workflows whose next step can be taken now.
    ready: usize,
    /// Workflows whose next step is refused.
    blocked: usize,
    /// Rules the current states break (after a change to the DAG, or a forced transition).
    violations: Vec<Violation>,
    /// Workflows the filter selects.
    total: usize,
    /// This page's size limit.
    limit: i64,
    /// Workflows skipped.
    offset: i64,
    /// This page, by id: each workflow, its next step and what blocks it.
    workflows: Vec<Step>,
}

#[utoipa::path(get, path = "/gating/overview", operation_id = "gating_overview", tag = "gating", security(("bearer" = [])),
    params(OverviewQuery),
    responses(
        (status = 200, description = "Workflows per state, and what blocks each one's next step", body = OverviewPage),
        (status = 400, description = "Bad query", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody)
    ))]
pub(crate) async fn overview_page(
    State(state): State<AppState>,
    _caller: Caller<Viewer>,
    Query(query): Query<OverviewQuery>,
) -> Result<axum::Json<OverviewPage>, ApiError> {
    let (limit, offset) = Page { limit: query.limit, offset: query.offset }.checked()?;
    let whole = whole_overview(&state).await?;
    let selected: Vec<&Step> = whole
        .workflows
        .iter()
        .filter(|step| query.state.is_none_or(|state| step.state == state))
        .filter(|step| query.blocked.is_none_or(|blocked| blocked != step.blocked_by.is_empty()))
        .collect();
    let total = selected.len();
    let workflows = selected
        .into_iter()
        .skip(offset.try_into().unwrap_or(usize::MAX))
        .take(limit.try_into().unwrap_or(0))
        .cloned()
        .collect();
    Ok(axum::Json(OverviewPage {
        counts: whole.counts.clone(),
        ready: whole.ready,
        blocked: whole.blocked,
        violations: whole.violations.clone(),
        total,
        limit,
        offset,
        workflows,
    }))
}

/// A page of re-run warnings, newest first.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct RerunWarningPage {
    /// Warnings in all.
    total: i64,
    /// This page's size limit.
    limit: i64,
    /// Warnings skipped.
    offset: i64,
    /// This page.
    warnings: Vec<RerunWarning>,
}

#[utoipa::path(get, path = "/gating/rerun-warnings", operation_id = "list_rerun_warnings", tag = "gating",
    security(("bearer" = [])),
    params(Page),
    responses(
        (status = 200, description = "Tasks that re-ran on the baseline while downstream tasks run on the candidate only", body = RerunWarningPage),
        (status = 400, description = "Bad query", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody)
    ))]
pub(crate) async fn rerun_warnings(
    State(state): State<AppState>,
    _caller: Caller<Viewer>,
    Query(page): Query<Page>,
) -> Result<axum::Json<RerunWarningPage>, ApiError> {
    let (limit, offset) = page.checked()?;
    let (warnings, total) = state.store().rerun_warnings(limit, offset).await?;
    Ok(axum::Json(RerunWarningPage { total, limit, offset, warnings }))
}
