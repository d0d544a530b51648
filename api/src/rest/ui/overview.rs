//! `/`: the migration at a glance: workflows per state (ready and blocked), the open problems
//! (the latest report of each table, partition and run that is not consistent), diffs queued and
//! running, dead letters and re-run warnings.

use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use super::report::{Count, Segment, segments};
use super::reports::{Row, row};
use super::{Visitor, render, stylesheet_path};
use crate::config::AccessRole;
use crate::gating::WorkflowState;
use crate::rest::AppState;
use crate::store::Activity;

/// Open problems shown.
const PROBLEMS: i64 = 20;

#[derive(Debug, Template)]
#[template(path = "overview.html")]
struct OverviewPage {
    stylesheet: &'static str,
    visitor: Visitor,
    workflows: Vec<Count>,
    /// The states of `workflows`, in their order (the filter of their links).
    states: [&'static str; 3],
    bar: Vec<Segment>,
    total: usize,
    ready: usize,
    blocked: usize,
    violations: usize,
    rows: Vec<Row>,
    activity: Activity,
}

pub(super) async fn page(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let visitor = match state.visitor_at_least(&headers, AccessRole::Viewer, "/").await {
        Ok(visitor) => visitor,
        Err(answer) => return answer,
    };
    let overview = match crate::rest::gates::whole_overview(&state).await {
        Ok(overview) => overview,
        Err(error) => return error.into_response(),
    };
    let (problems, activity) = match tokio::try_join!(state.store().open_problems(PROBLEMS), state.store().activity()) {
        Ok(found) => found,
        Err(error) => return crate::rest::ApiError::from(error).into_response(),
    };
    let count = |state: WorkflowState| overview.counts.get(&state).copied().unwrap_or(0) as u64;
    let workflows = vec![
        Count { label: "not migrated", class: "baseline", value: count(WorkflowState::NotMigrated) },
        Count { label: "dual run", class: "candidate", value: count(WorkflowState::DualRun) },
        Count { label: "migrated", class: "matched", value: count(WorkflowState::Migrated) },
    ];
    render(
        StatusCode::OK,
        &OverviewPage {
            stylesheet: stylesheet_path(),
            visitor,
            bar: segments(&workflows),
            states: [WorkflowState::NotMigrated, WorkflowState::DualRun, WorkflowState::Migrated]
                .map(WorkflowState::as_str),
            total: overview.workflows.len(),
            workflows,
            ready: overview.ready,
            blocked: overview.blocked,
            violations: overview.violations.len(),
            rows: problems.into_iter().map(row).collect(),
            activity,
        },
    )
}
