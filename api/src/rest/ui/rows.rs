//! `/reports/{id}/rows`: the exported differing rows of a report, a page at a time: each row's
//! kind and key, and for a changed row its differing cells side by side.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::report::{LinkQuery, ValuePair, load_report, pair, report_visitor, text};
use super::{Visitor, message, render, stylesheet_path};
use crate::rest::AppState;

/// Rows per page.
const PAGE: i64 = 50;

/// The page's query: the offset, and a signed link's parameters (not a flattened
/// [`LinkQuery`]: a flattened number arrives as text from a query string).
#[derive(Debug, serde::Deserialize)]
pub(super) struct RowsQuery {
    offset: Option<i64>,
    exp: Option<i64>,
    sig: Option<String>,
}

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

pub(super) async fn page(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Query(query): Query<RowsQuery>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let (visitor, link) =
        match report_visitor(&state, id, LinkQuery { exp: query.exp, sig: query.sig }, &uri, &headers).await {
            Ok(found) => found,
            Err(answer) => return answer,
        };
    let report = match load_report(&state, id).await {
        Ok(report) => report,
        Err(answer) => return answer,
    };
    let Some(path) = report.export_path.clone().filter(|path| std::path::Path::new(path).exists()) else {
        let why = "Its differing rows were not exported (only inconsistent reports have them, with runner.export_dir set), or retention removed them.";
        return message(StatusCode::NOT_FOUND, "No exported rows", why);
    };
    let offset = query.offset.unwrap_or(0).max(0);
    let read = tokio::task::spawn_blocking(move || crate::rest::reports::read_rows(&path, PAGE, offset)).await;
    let (total, rows) = match read {
        Ok(Ok(found)) => found,
        Ok(Err(error)) => return crate::rest::ApiError::internal(&error).into_response(),
        Err(error) => return crate::rest::ApiError::internal(&error).into_response(),
    };
    let link_to = |offset: i64| match &link {
        Some(link) => format!("/reports/{id}/rows?offset={offset}&{link}"),
        None => format!("/reports/{id}/rows?offset={offset}"),
    };
    let back = match &link {
        Some(link) => format!("/reports/{id}?{link}"),
        None => format!("/reports/{id}"),
    };
    render(
        StatusCode::OK,
        &RowsPage {
            stylesheet: stylesheet_path(),
            visitor,
            id,
            table: report.table,
            total,
            first: offset + 1,
            last: offset + i64::try_from(rows.len()).unwrap_or(0),
            previous: (offset > 0).then(|| link_to((offset - PAGE).max(0))),
            next: (offset + PAGE < total).then(|| link_to(offset + PAGE)),
            rows: rows.iter().map(row_view).collect(),
            back,
        },
    )
}
