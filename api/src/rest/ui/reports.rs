//! `/reports`: the stored reports, newest first, filtered by GET parameters as in the API (so
//! every view is a link), a page at a time.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

use super::{Visitor, message, render, stylesheet_path};
use crate::rest::AppState;
use crate::store::{ListedReport, ReportFilter, Verdict};

/// Reports per page.
const PAGE: i64 = 50;

/// The filters.
#[derive(Debug, Default, serde::Deserialize)]
pub(super) struct Filters {
    table: Option<String>,
    verdict: Option<String>,
    partition: Option<String>,
    run_id: Option<String>,
    page: Option<i64>,
}

#[derive(Debug, Template)]
#[template(path = "reports.html")]
struct ReportsPage {
    stylesheet: &'static str,
    visitor: Visitor,
    table: String,
    verdict: String,
    partition: String,
    run_id: String,
    rows: Vec<Row>,
    total: i64,
    page: i64,
    previous: Option<String>,
    next: Option<String>,
}

/// A report in a list.
#[derive(Debug)]
pub(super) struct Row {
    pub(super) id: i64,
    pub(super) verdict: &'static str,
    pub(super) table: String,
    pub(super) partition: String,
    pub(super) run_id: String,
    pub(super) counts: String,
    pub(super) created_at: String,
}

pub(super) fn row(report: ListedReport) -> Row {
    let count = |name: &str| report.summary.as_ref().and_then(|s| s[name].as_u64()).unwrap_or(0);
    let counts = if report.summary.is_some() {
        format!(
            "{} matched, {} changed, {} only in baseline, {} only in candidate",
            count("matched"),
            count("changed"),
            count("only_in_baseline"),
            count("only_in_candidate")
        )
    } else {
        report.reason.clone().unwrap_or_default()
    };
    Row {
        id: report.id,
        verdict: report.verdict.as_str(),
        table: report.table,
        partition: report.partition,
        run_id: report.run_id,
        counts,
        created_at: report.created_at.format("%Y-%m-%d %H:%M UTC").to_string(),
    }
}

fn given(value: Option<&String>) -> Option<String> {
    value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

pub(super) async fn page(
    State(state): State<AppState>,
    Query(filters): Query<Filters>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let visitor = match state.reader_of(&headers, &uri).await {
        Ok(visitor) => visitor,
        Err(answer) => return answer,
    };
    let verdict = match given(filters.verdict.as_ref()).map(|v| v.parse::<Verdict>()) {
        Some(Err(error)) => return message(StatusCode::BAD_REQUEST, "Not a verdict", &error.to_string()),
        Some(Ok(verdict)) => Some(verdict),
        None => None,
    };
    let page = filters.page.unwrap_or(1).max(1);
    let mut filter = ReportFilter {
        table: given(filters.table.as_ref()),
        verdict,
        partition: given(filters.partition.as_ref()),
        run_id: given(filters.run_id.as_ref()),
        limit: Some(PAGE),
        offset: Some((page - 1).saturating_mul(PAGE)),
    };
    let (listed, total) = match tokio::try_join!(state.store().reports(&filter), state.store().report_count(&filter)) {
        Ok(found) => found,
        Err(error) => return crate::rest::ApiError::from(error).into_response(),
    };
    filter.limit = None;
    let link = |page: i64| {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        for (name, value) in [
            ("table", &filter.table),
            ("verdict", &filter.verdict.map(|v| v.as_str().to_owned())),
            ("partition", &filter.partition),
            ("run_id", &filter.run_id),
        ] {
            if let Some(value) = value {
                query.append_pair(name, value);
            }
        }
        query.append_pair("page", &page.to_string());
        format!("/reports?{}", query.finish())
    };
    let more = page.saturating_mul(PAGE) < total;
    render(
        StatusCode::OK,
        &ReportsPage {
            stylesheet: stylesheet_path(),
            visitor,
            table: filter.table.clone().unwrap_or_default(),
            verdict: filter.verdict.map(|v| v.as_str().to_owned()).unwrap_or_default(),
            partition: filter.partition.clone().unwrap_or_default(),
            run_id: filter.run_id.clone().unwrap_or_default(),
            previous: (page > 1).then(|| link(page - 1)),
            next: more.then(|| link(page + 1)),
            rows: listed.into_iter().map(row).collect(),
            total,
            page,
        },
    )
}
