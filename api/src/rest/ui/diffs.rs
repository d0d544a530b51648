//! On-demand diffs from the pages: `/diffs/new` (a form, pre-filled from a report's "diff
//! again"), `/diffs/{id}` (its progress while the diff is queued or running, updated in place
//! every second by `dqc.js` or reloaded every 2 seconds without scripts, then a link to the
//! report), and cancelling it. Starting and cancelling need the operator role and the proof of
//! origin of every write.

use askama::Template;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};

use super::{Visitor, message, render, stylesheet_path};
use crate::config::AccessRole;
use crate::rest::AppState;
use crate::rest::diffs::{DiffRequest, queue, view};
use crate::store::JobState;

/// The form's fields, as given or as typed.
#[derive(Debug, Default, serde::Deserialize)]
pub(super) struct DiffForm {
    #[serde(default)]
    table: String,
    #[serde(default)]
    partition: String,
    #[serde(default)]
    run_id: String,
}

#[derive(Debug, Template)]
#[template(path = "diff_new.html")]
struct NewDiffPage {
    stylesheet: &'static str,
    visitor: Visitor,
    form: DiffForm,
    error: Option<String>,
}

#[derive(Debug, Template)]
#[template(path = "diff.html")]
struct DiffPage {
    stylesheet: &'static str,
    script: &'static str,
    visitor: Visitor,
    id: i64,
    table: String,
    partition: String,
    state: &'static str,
    active: bool,
    attempts: u32,
    last_error: Option<String>,
    pass: Option<String>,
    rows: u64,
    total_rows: u64,
    report_id: Option<i64>,
}

/// Diffs listed at most.
const LISTED: i64 = 200;

/// The list's filter.
#[derive(Debug, Default, serde::Deserialize)]
pub(super) struct ListQuery {
    #[serde(default)]
    state: String,
}

#[derive(Debug, Template)]
#[template(path = "diffs.html")]
struct DiffsPage {
    stylesheet: &'static str,
    visitor: Visitor,
    state: String,
    jobs: Vec<crate::store::JobStatus>,
}

/// `/diffs`: the diffs queued and running, oldest first.
pub(super) async fn list(
    State(state): State<AppState>,
    Query(query): Query<ListQuery>,
    headers: HeaderMap,
) -> Response {
    let visitor = match state.visitor_at_least(&headers, AccessRole::Viewer, "/diffs").await {
        Ok(visitor) => visitor,
        Err(answer) => return answer,
    };
    let wanted = match query.state.as_str() {
        "queued" => Some(JobState::Queued),
        "running" => Some(JobState::Running),
        _ => None,
    };
    match state.store().active_jobs(wanted, LISTED).await {
        Ok(jobs) => {
            let state = wanted.map(JobState::as_str).unwrap_or_default().to_owned();
            render(StatusCode::OK, &DiffsPage { stylesheet: stylesheet_path(), visitor, state, jobs })
        }
        Err(error) => crate::rest::ApiError::from(error).into_response(),
    }
}

pub(super) async fn form(State(state): State<AppState>, Query(form): Query<DiffForm>, headers: HeaderMap) -> Response {
    let visitor = match state.visitor_at_least(&headers, AccessRole::Operator, "/diffs/new").await {
        Ok(visitor) => visitor,
        Err(answer) => return answer,
    };
    render(StatusCode::OK, &NewDiffPage { stylesheet: stylesheet_path(), visitor, form, error: None })
}

pub(super) async fn start(State(state): State<AppState>, headers: HeaderMap, Form(form): Form<DiffForm>) -> Response {
    let visitor = match state.writer(&headers, AccessRole::Operator, "/diffs/new").await {
        Ok(visitor) => visitor,
        Err(answer) => return answer,
    };
    let queued = match DiffRequest::from_form(&form.table, &form.partition, &form.run_id) {
        Ok(request) => queue(&state, request, &visitor.name).await,
        Err(error) => Err(error),
    };
    match queued {
        Ok(id) => Redirect::to(&format!("/diffs/{id}")).into_response(),
        Err(error) => {
            let page = NewDiffPage { stylesheet: stylesheet_path(), visitor, form, error: Some(error.message) };
            render(StatusCode::UNPROCESSABLE_ENTITY, &page)
        }
    }
}

pub(super) async fn progress(State(state): State<AppState>, Path(id): Path<i64>, headers: HeaderMap) -> Response {
    let visitor = match state.visitor_at_least(&headers, AccessRole::Viewer, &format!("/diffs/{id}")).await {
        Ok(visitor) => visitor,
        Err(answer) => return answer,
    };
    let job = match state.store().job(id).await {
        Ok(Some(job)) => job,
        Ok(None) => return message(StatusCode::NOT_FOUND, "No such diff", &format!("There is no diff {id}.")),
        Err(error) => return crate::rest::ApiError::from(error).into_response(),
    };
    let diff = match view(&state, job).await {
        Ok(diff) => diff,
        Err(error) => return error.into_response(),
    };
    let (pass, rows, total_rows) = diff.progress.map_or((None, 0, 0), |p| (p.pass, p.rows, p.total_rows));
    let page = DiffPage {
        stylesheet: stylesheet_path(),
        script: super::script_path(),
        visitor,
        id,
        table: diff.table,
        partition: diff.partition,
        state: diff.state.as_str(),
        active: matches!(diff.state, JobState::Queued | JobState::Running),
        attempts: diff.attempts,
        last_error: diff.last_error,
        pass,
        rows,
        total_rows,
        report_id: diff.report_id,
    };
    render(StatusCode::OK, &page)
}

pub(super) async fn cancel(State(state): State<AppState>, Path(id): Path<i64>, headers: HeaderMap) -> Response {
    let visitor = match state.writer(&headers, AccessRole::Operator, &format!("/diffs/{id}")).await {
        Ok(visitor) => visitor,
        Err(answer) => return answer,
    };
    match state.store().cancel(id, chrono::Utc::now()).await {
        Ok(cancelled) => {
            if cancelled {
                tracing::info!(job = id, by = %visitor.name, "diff cancelled");
            }
            Redirect::to(&format!("/diffs/{id}")).into_response()
        }
        Err(error) => crate::rest::ApiError::from(error).into_response(),
    }
}
