//! On-demand diffs: `POST /diffs`, `GET /diffs/{id}`, `POST /diffs/{id}/cancel`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use chrono::{DateTime, Utc};
use collector::Role;
use serde::{Deserialize, Serialize};

use super::auth::{Caller, Operator, Viewer};
use super::error::{Body, ErrorBody, Path};
use super::{ApiError, AppState, locations};
use crate::store::{JobOrigin, JobSpec, JobState, JobStatus, SideSpec};
use crate::telemetry::ProgressView;

/// An on-demand diff of a registered table's partition.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct DiffRequest {
    /// A registered table, `db.table`.
    #[schema(value_type = String)]
    table: collector::TableName,
    /// Partition columns and values in the table's order (`{"dt": "2024-05-01"}`); empty for
    /// an unpartitioned table.
    #[serde(default)]
    #[schema(value_type = Object)]
    partition: serde_json::Map<String, serde_json::Value>,
    /// A run to name in the report.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    run_id: Option<collector::RunId>,
    /// Read the baseline here instead of its cluster's location (inside `api.allowed_roots`).
    #[serde(default)]
    baseline_location: Option<String>,
    /// Read the candidate here instead of its cluster's location (inside `api.allowed_roots`).
    #[serde(default)]
    candidate_location: Option<String>,
}

/// A diff was queued.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct DiffCreated {
    /// The diff's id.
    id: i64,
    /// Where its state is.
    url: String,
}

/// A diff's state.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct DiffView {
    /// The diff's id (a job of the runner).
    pub(super) id: i64,
    /// `db.table`.
    pub(super) table: String,
    /// The partition name.
    pub(super) partition: String,
    /// `on_demand`, or `automatic` for a pair's diff.
    #[schema(value_type = String)]
    pub(super) origin: JobOrigin,
    /// `queued`, `running`, `done`, `superseded` or `cancelled`.
    #[schema(value_type = String)]
    pub(super) state: JobState,
    /// Attempts so far.
    pub(super) attempts: u32,
    /// The last failure, when it was retried.
    pub(super) last_error: Option<String>,
    /// Progress while it runs in the instance that answers.
    pub(super) progress: Option<ProgressView>,
    /// When it was queued.
    pub(super) created_at: DateTime<Utc>,
    /// The report's id, once done.
    pub(super) report_id: Option<i64>,
    /// The report's URL, once done.
    pub(super) report_url: Option<String>,
    /// The report, once done.
    #[schema(value_type = Option<Object>)]
    pub(super) report: Option<serde_json::Value>,
}

#[utoipa::path(post, path = "/diffs", operation_id = "create_diff", tag = "diffs", request_body = DiffRequest, security(("bearer" = [])),
    responses(
        (status = 202, description = "Queued", body = DiffCreated),
        (status = 400, description = "Malformed body", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Role too low, or a location outside the allowed roots", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 422, description = "Unknown table, invalid partition, unreadable location", body = ErrorBody)
    ))]
pub(crate) async fn create(
    State(state): State<AppState>,
    caller: Caller<Operator>,
    Body(request): Body<DiffRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let id = queue(&state, request, &caller.name).await?;
    let url = state.link(&format!("/diffs/{id}"));
    Ok((StatusCode::ACCEPTED, [(axum::http::header::LOCATION, url.clone())], axum::Json(DiffCreated { id, url })))
}

/// Queues the on-demand diff `request` asks for, on behalf of `by`; its id.
pub(super) async fn queue(state: &AppState, request: DiffRequest, by: &str) -> Result<i64, ApiError> {
    let store = state.store();
    if store.table(&request.table).await?.is_none() {
        return Err(ApiError::invalid(format!(
            "table `{}` is not registered (PUT /api/v1/tables/{} registers it)",
            request.table, request.table
        )));
    }
    collector::event::check_partition(&request.partition).map_err(ApiError::invalid)?;
    // The same partition path and pair name as an event's output would have.
    let output =
        collector::Output { table: request.table.clone(), partition: request.partition.clone(), location: None };
    let (path, name) = (output.partition_path(), output.partition_name());
    let roots = &state.config().api.allowed_roots;
    let checked = |location: &Option<String>| location.as_deref().map(|l| locations::check(roots, l)).transpose();
    let side = |role: Role, location: Option<String>| SideSpec {
        cluster: state.config().cluster(role).name.clone(),
        location,
        partition_path: path.clone(),
        event_id: None,
        attempt: None,
    };
    let spec = JobSpec {
        table: request.table.to_string(),
        partition: name,
        run_id: request.run_id.as_ref().map(ToString::to_string),
        baseline: side(Role::Baseline, checked(&request.baseline_location)?),
        candidate: side(Role::Candidate, checked(&request.candidate_location)?),
    };
    let id = store.enqueue(&spec, Utc::now()).await?;
    tracing::info!(job = id, table = %spec.table, partition = %spec.partition, by = %by, "on-demand diff queued");
    Ok(id)
}

impl DiffRequest {
    /// A request from the diff form of the pages: the table, the partition as `k=v/k=v` (values
    /// as typed, not escaped), a run.
    pub(super) fn from_form(table: &str, partition: &str, run_id: &str) -> Result<Self, ApiError> {
        let table =
            collector::TableName::parse_as("table", table.trim()).map_err(|e| ApiError::invalid(e.to_string()))?;
        let mut values = serde_json::Map::new();
        for part in partition.split('/').map(str::trim).filter(|part| !part.is_empty()) {
            let (key, value) = part
                .split_once('=')
                .ok_or_else(|| ApiError::invalid(format!("partition `{part}`: expected column=value")))?;
            values.insert(key.trim().to_owned(), serde_json::Value::String(value.trim().to_owned()));
        }
        let run_id = match run_id.trim() {
            "" => None,
            run => Some(collector::RunId::parse_as("run_id", run).map_err(|e| ApiError::invalid(e.to_string()))?),
        };
        Ok(Self { table, partition: values, run_id, baseline_location: None, candidate_location: None })
    }
}

#[utoipa::path(get, path = "/diffs/{id}", operation_id = "get_diff", tag = "diffs", security(("bearer" = [])),
    params(("id" = i64, Path, description = "The diff's id")),
    responses(
        (status = 200, description = "The diff", body = DiffView),
        (status = 400, description = "The id is not a number", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "No such diff", body = ErrorBody)
    ))]
pub(crate) async fn get(
    State(state): State<AppState>,
    _caller: Caller<Viewer>,
    Path(id): Path<i64>,
) -> Result<axum::Json<DiffView>, ApiError> {
    let job = state.store().job(id).await?.ok_or_else(|| ApiError::not_found(format!("no diff {id}")))?;
    view(&state, job).await.map(axum::Json)
}

pub(super) async fn view(state: &AppState, job: JobStatus) -> Result<DiffView, ApiError> {
    let report = match job.report_id {
        Some(report) => state.store().report(report).await?.map(|stored| stored.report),
        None => None,
    };
    Ok(DiffView {
        id: job.id,
        progress: if job.state == JobState::Running { state.inner.telemetry.progress(job.id) } else { None },
        table: job.table,
        partition: job.partition,
        origin: job.origin,
        state: job.state,
        attempts: job.attempts,
        last_error: job.last_error,
        created_at: job.created_at,
        report_id: job.report_id,
        report_url: job.report_id.map(|report| state.link(&format!("/reports/{report}"))),
        report,
    })
}

#[utoipa::path(post, path = "/diffs/{id}/cancel", operation_id = "cancel_diff", tag = "diffs", security(("bearer" = [])),
    params(("id" = i64, Path, description = "The diff's id")),
    responses(
        (status = 200, description = "Cancelled; a running diff stops within seconds", body = DiffView),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Role too low", body = ErrorBody),
        (status = 404, description = "No such diff", body = ErrorBody),
        (status = 409, description = "The diff has already ended", body = ErrorBody)
    ))]
pub(crate) async fn cancel(
    State(state): State<AppState>,
    caller: Caller<Operator>,
    Path(id): Path<i64>,
) -> Result<axum::Json<DiffView>, ApiError> {
    let store = state.store();
    let cancelled = store.cancel(id, Utc::now()).await?;
    let job = store.job(id).await?.ok_or_else(|| ApiError::not_found(format!("no diff {id}")))?;
    if !cancelled {
        return Err(ApiError::conflict(format!("diff {id} has already ended ({})", job.state.as_str())));
    }
    tracing::info!(job = id, by = %caller.name, "diff cancelled");
    view(&state, job).await.map(axum::Json)
}
