//! Reports: `GET /reports` (filters, pages), `GET /reports/{id}`, and the differing rows of an
//! inconsistent report, page by page (`GET /reports/{id}/rows`).

use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::auth::{Caller, Viewer};
use super::error::{ErrorBody, Path, Query};
use super::{ApiError, AppState, Page};
use crate::store::{ListedReport, NotificationStatus, ReportFilter, Verdict};

/// Which reports to list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReportQuery {
    /// Only this table.
    table: Option<String>,
    /// Only this verdict: consistent, inconsistent, divergent or error.
    #[param(value_type = Option<String>)]
    verdict: Option<Verdict>,
    /// Only this partition (`dt=2024-05-01`).
    partition: Option<String>,
    /// Only this run.
    run_id: Option<String>,
    /// At most this many (1-1000, default 50).
    limit: Option<i64>,
    /// Skip this many, newest first.
    offset: Option<i64>,
}

/// A page of reports, newest first.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct ReportPage {
    /// Reports the filters select, on every page.
    total: i64,
    /// This page's size limit.
    limit: i64,
    /// Reports skipped.
    offset: i64,
    /// This page.
    reports: Vec<ReportSummary>,
}

/// A report in a list.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct ReportSummary {
    /// Its id.
    id: i64,
    /// `db.table`.
    table: String,
    /// The partition name.
    partition: String,
    /// The run.
    run_id: String,
    /// consistent, inconsistent, divergent or error.
    #[schema(value_type = String)]
    verdict: Verdict,
    /// Why, for divergent and error.
    reason: Option<String>,
    /// Row counts (matched, only_in_baseline, only_in_candidate, changed, ...), when diffed.
    #[schema(value_type = Option<Object>)]
    summary: Option<serde_json::Value>,
    /// When it was written.
    created_at: DateTime<Utc>,
    /// The report's URL.
    url: String,
}

/// A report with its delivery state.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct ReportDetail {
    /// Its id.
    id: i64,
    /// The diff that produced it (none for divergent reports).
    job_id: Option<i64>,
    /// `db.table`.
    table: String,
    /// The partition name.
    partition: String,
    /// The run.
    run_id: String,
    /// consistent, inconsistent, divergent or error.
    #[schema(value_type = String)]
    verdict: Verdict,
    /// Why, for divergent and error.
    reason: Option<String>,
    /// When it was written.
    created_at: DateTime<Utc>,
    /// The report document (DESIGN.md, "JSON report", with the pair's table, partition, run
    /// and both sides).
    #[schema(value_type = Object)]
    report: serde_json::Value,
    /// Where its exported differing rows are, when they were exported.
    rows_url: Option<String>,
    /// Its notifications, by sink.
    notifications: Vec<NotificationStatus>,
}

/// A page of differing rows.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct RowPage {
    /// Differing rows in the export.
    total: i64,
    /// This page's size limit.
    limit: i64,
    /// Rows skipped.
    offset: i64,
    /// One object per differing row: `kind`, `changed_columns`, then `baseline_<column>` and
    /// `candidate_<column>` for every compared column.
    #[schema(value_type = Vec<Object>)]
    rows: Vec<serde_json::Value>,
}

#[utoipa::path(get, path = "/reports", operation_id = "list_reports", tag = "reports", security(("bearer" = [])), params(ReportQuery),
    responses(
        (status = 200, description = "A page of reports, newest first", body = ReportPage),
        (status = 400, description = "A query parameter does not parse", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 422, description = "limit or offset out of range", body = ErrorBody)
    ))]
pub(crate) async fn list(
    State(state): State<AppState>,
    _caller: Caller<Viewer>,
    Query(query): Query<ReportQuery>,
) -> Result<axum::Json<ReportPage>, ApiError> {
    let (limit, offset) = Page { limit: query.limit, offset: query.offset }.checked()?;
    let filter = ReportFilter {
        table: query.table,
        verdict: query.verdict,
        partition: query.partition,
        run_id: query.run_id,
        limit: Some(limit),
        offset: Some(offset),
    };
    let store = state.store();
    let (total, reports) = tokio::try_join!(store.report_count(&filter), store.reports(&filter))?;
    let reports = reports.into_iter().map(|report| summary(&state, report)).collect();
    Ok(axum::Json(ReportPage { total, limit, offset, reports }))
}

fn summary(state: &AppState, report: ListedReport) -> ReportSummary {
    ReportSummary {
        url: state.link(&format!("/reports/{}", report.id)),
        summary: report.summary,
        id: report.id,
        table: report.table,
        partition: report.partition,
        run_id: report.run_id,
        verdict: report.verdict,
        reason: report.reason,
        created_at: report.created_at,
    }
}

#[utoipa::path(get, path = "/reports/{id}", operation_id = "get_report", tag = "reports", security(("bearer" = [])),
    params(("id" = i64, Path, description = "The report's id")),
    responses(
        (status = 200, description = "The report", body = ReportDetail),
        (status = 400, description = "The id is not a number", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "No such report", body = ErrorBody)
    ))]
pub(crate) async fn get(
    State(state): State<AppState>,
    _caller: Caller<Viewer>,
    Path(id): Path<i64>,
) -> Result<axum::Json<ReportDetail>, ApiError> {
    let store = state.store();
    let report = store.report(id).await?.ok_or_else(|| ApiError::not_found(format!("no report {id}")))?;
    let notifications = store.notifications(id).await?;
    Ok(axum::Json(ReportDetail {
        rows_url: report.export_path.as_ref().map(|_| state.link(&format!("/reports/{id}/rows"))),
        id: report.id,
        job_id: report.job_id,
        table: report.table,
        partition: report.partition,
        run_id: report.run_id,
        verdict: report.verdict,
        reason: report.reason,
        created_at: report.created_at,
        report: report.report,
        notifications,
    }))
}

#[utoipa::path(get, path = "/reports/{id}/rows", operation_id = "get_report_rows", tag = "reports", security(("bearer" = [])),
    params(("id" = i64, Path, description = "The report's id"), Page),
    responses(
        (status = 200, description = "A page of the differing rows", body = RowPage),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "No such report, or its rows were not exported", body = ErrorBody),
        (status = 422, description = "limit or offset out of range", body = ErrorBody)
    ))]
pub(crate) async fn rows(
    State(state): State<AppState>,
    _caller: Caller<Viewer>,
    Path(id): Path<i64>,
    Query(page): Query<Page>,
) -> Result<axum::Json<RowPage>, ApiError> {
    let (limit, offset) = page.checked()?;
    let report = state.store().report(id).await?.ok_or_else(|| ApiError::not_found(format!("no report {id}")))?;
    let path = report.export_path.ok_or_else(|| {
        ApiError::not_found(format!(
            "report {id} has no exported rows (only inconsistent reports do, with runner.export_dir set)"
        ))
    })?;
    if !std::path::Path::new(&path).exists() {
        return Err(ApiError::not_found(format!("the exported rows of report {id} are gone (pruned by retention)")));
    }
    let (total, rows) = tokio::task::spawn_blocking(move || read_rows(&path, limit, offset))
        .await
        .map_err(|error| ApiError::internal(&error))?
        .map_err(|error| ApiError::internal(&error))?;
    Ok(axum::Json(RowPage { total, limit, offset, rows }))
}

/// Rows `offset..offset + limit` of an export, as JSON objects, and its row count.
pub(super) fn read_rows(path: &str, limit: i64, offset: i64) -> crate::error::Result<(i64, Vec<serde_json::Value>)> {
    super::export_rows::read(path, &super::export_rows::RowFilter::default(), limit, offset)
}
