//! `/reports/{id}/rows`: the exported differing rows of a report, a page at a time, filtered by
//! kind and by a changed column: each row's kind and key, and for a changed row its differing
//! cells side by side. `/reports/{id}/rows.csv`: every row of the same filter as CSV.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::report::{LinkQuery, ValuePair, load_report, pair, report_visitor, text};
use super::{Visitor, message, render, stylesheet_path};
use crate::rest::AppState;
use crate::rest::export_rows::{RowFilter, read};

/// Rows per page unless `limit` says otherwise (1 to [`MAX_PAGE`]).
const PAGE: i64 = 50;
const MAX_PAGE: i64 = 500;

/// The page's query: the filter, the offset, and a signed link's parameters (not a flattened
/// [`LinkQuery`]: a flattened number arrives as text from a query string).
#[derive(Debug, serde::Deserialize)]
pub(super) struct RowsQuery {
    #[serde(default)]
    kind: String,
    #[serde(default)]
    column: String,
    offset: Option<i64>,
    limit: Option<i64>,
    exp: Option<i64>,
    sig: Option<String>,
}

impl RowsQuery {
    fn filter(&self) -> RowFilter {
        let given = |value: &str| Some(value.trim().to_owned()).filter(|value| !value.is_empty());
        RowFilter { kind: given(&self.kind), column: given(&self.column) }
    }

    fn limit(&self) -> i64 {
        self.limit.unwrap_or(PAGE).clamp(1, MAX_PAGE)
    }

    /// This filter, a page size other than the default and the signed link as a query string
    /// (no offset).
    fn query(&self, link: Option<&String>) -> String {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        let filter = self.filter();
        for (name, value) in [("kind", &filter.kind), ("column", &filter.column)] {
            if let Some(value) = value {
                query.append_pair(name, value);
            }
        }
        if self.limit() != PAGE {
            query.append_pair("limit", &self.limit().to_string());
        }
        let mut query = query.finish();
        if let Some(link) = link {
            if !query.is_empty() {
                query.push('&');
            }
            query.push_str(link);
        }
        query
    }
}

/// The kinds of exported rows.
const KINDS: [&str; 3] = ["changed", "only_in_baseline", "only_in_candidate"];

#[derive(Debug, Template)]
#[template(path = "rows.html")]
struct RowsPage {
    stylesheet: &'static str,
    visitor: Visitor,
    id: i64,
    table: String,
    total: i64,
    first: i64,
    last: i64,
    rows: Vec<RowView>,
    previous: Option<String>,
    next: Option<String>,
    back: String,
    kind: String,
    column: String,
    kinds: [&'static str; 3],
    columns: Vec<String>,
    /// The signed link's parameters, carried by the filter form.
    exp: Option<i64>,
    sig: Option<String>,
    csv: String,
}

#[derive(Debug)]
struct RowView {
    kind: String,
    cells: Vec<(String, ValuePair)>,
    values: String,
}

/// One exported row: `kind`, `changed_columns`, and `baseline_<column>` / `candidate_<column>`.
fn row_view(row: &Value) -> RowView {
    let kind = text(&row["kind"]);
    let changed: Vec<String> = row["changed_columns"].as_array().into_iter().flatten().map(text).collect();
    let cells = changed
        .iter()
        .map(|column| {
            (
                column.clone(),
                pair(String::new(), &row[format!("baseline_{column}")], &row[format!("candidate_{column}")]),
            )
        })
        .collect();
    let side = if kind.contains("candidate") { "candidate_" } else { "baseline_" };
    let values = row
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(name, value)| name.strip_prefix(side).map(|column| format!("{column}={}", text(value))))
        .take(12)
        .collect::<Vec<_>>()
        .join(", ");
    RowView { kind, cells, values }
}

/// The report's exported rows file, when there is one.
fn export_of(report: &crate::store::StoredReport) -> Option<String> {
    report.export_path.clone().filter(|path| std::path::Path::new(path).exists())
}

/// The answer when a report has no exported rows.
fn no_export() -> Response {
    let why = "Its differing rows were not exported (only inconsistent reports have them, with runner.export_dir set), or retention removed them.";
    message(StatusCode::NOT_FOUND, "No exported rows", why)
}

/// Report `id`'s exported rows file, or the answer when there is none.
async fn export_path(state: &AppState, id: i64) -> Result<String, Box<Response>> {
    let report = load_report(state, id).await.map_err(Box::new)?;
    export_of(&report).ok_or_else(|| Box::new(no_export()))
}

/// The columns that differ in the report, worst first (the column filter's choices).
fn differing_columns(document: &Value) -> Vec<String> {
    let mut columns: Vec<(u64, String)> = document["columns"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|column| Some((column["mismatches"].as_u64().filter(|n| *n > 0)?, text(&column["name"]))))
        .collect();
    columns.sort_by_key(|column| std::cmp::Reverse(column.0));
    columns.into_iter().map(|(_, name)| name).collect()
}

pub(super) async fn page(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Query(query): Query<RowsQuery>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let link_query = LinkQuery { exp: query.exp, sig: query.sig.clone() };
    let (visitor, link) = match report_visitor(&state, id, link_query, &uri, &headers).await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let report = match load_report(&state, id).await {
        Ok(report) => report,
        Err(answer) => return answer,
    };
    let Some(path) = export_of(&report) else { return no_export() };
    let (offset, limit) = (query.offset.unwrap_or(0).max(0), query.limit());
    let filter = query.filter();
    let found = tokio::task::spawn_blocking(move || read(&path, &filter, limit, offset)).await;
    let (total, rows) = match found {
        Ok(Ok(found)) => found,
        Ok(Err(error)) => return crate::rest::ApiError::internal(&error).into_response(),
        Err(error) => return crate::rest::ApiError::internal(&error).into_response(),
    };
    let rest = query.query(link.as_ref());
    let link_to = |offset: i64| {
        let query = if rest.is_empty() { format!("offset={offset}") } else { format!("offset={offset}&{rest}") };
        super::with_query(&format!("/reports/{id}/rows"), &query)
    };
    let back = super::with_query(&format!("/reports/{id}"), link.as_deref().unwrap_or_default());
    let page = RowsPage {
        stylesheet: stylesheet_path(),
        visitor,
        id,
        columns: differing_columns(&report.report),
        table: report.table,
        total,
        first: offset + 1,
        last: offset + i64::try_from(rows.len()).unwrap_or(0),
        previous: (offset > 0).then(|| link_to((offset - limit).max(0))),
        next: (offset + limit < total).then(|| link_to(offset + limit)),
        rows: rows.iter().map(row_view).collect(),
        back,
        kind: query.kind.trim().to_owned(),
        column: query.column.trim().to_owned(),
        kinds: KINDS,
        exp: query.exp.filter(|_| link.is_some()),
        sig: query.sig.clone().filter(|_| link.is_some()),
        csv: super::with_query(&format!("/reports/{id}/rows.csv"), &rest),
    };
    render(StatusCode::OK, &page)
}

/// The export of report `id` when the request may read it (a visitor or its signed link); else
/// the answer to give.
async fn readable_export(
    state: &AppState,
    id: i64,
    query: &RowsQuery,
    uri: &Uri,
    headers: &HeaderMap,
) -> Result<String, Box<Response>> {
    let link_query = LinkQuery { exp: query.exp, sig: query.sig.clone() };
    report_visitor(state, id, link_query, uri, headers).await.map_err(Box::new)?;
    export_path(state, id).await
}

/// A file to download.
fn download(content_type: &'static str, name: String, bytes: Vec<u8>) -> Response {
    let disposition = format!("attachment; filename=\"{name}\"");
    ([(header::CONTENT_TYPE, content_type.to_owned()), (header::CONTENT_DISPOSITION, disposition)], bytes)
        .into_response()
}

/// Every row of the filter as CSV, as a download.
pub(super) async fn csv(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Query(query): Query<RowsQuery>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let path = match readable_export(&state, id, &query, &uri, &headers).await {
        Ok(path) => path,
        Err(answer) => return *answer,
    };
    let filter = query.filter();
    let written = tokio::task::spawn_blocking(move || {
        let mut out = Vec::new();
        crate::rest::export_rows::csv(&path, &filter, &mut out).map(|()| out)
    })
    .await;
    match written {
        Ok(Ok(bytes)) => download("text/csv; charset=utf-8", format!("report-{id}-rows.csv"), bytes),
        Ok(Err(error)) => crate::rest::ApiError::internal(&error).into_response(),
        Err(error) => crate::rest::ApiError::internal(&error).into_response(),
    }
}

/// The export itself (Parquet), as a download.
pub(super) async fn export(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Query(query): Query<RowsQuery>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let path = match readable_export(&state, id, &query, &uri, &headers).await {
        Ok(path) => path,
        Err(answer) => return *answer,
    };
    match tokio::fs::read(&path).await {
        Ok(bytes) => download("application/vnd.apache.parquet", format!("report-{id}-rows.parquet"), bytes),
        Err(error) => crate::rest::ApiError::internal(&error).into_response(),
    }
}
