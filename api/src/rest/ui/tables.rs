//! `/tables` and `/tables/{name}`: the registry with each table's latest run verdict and its
//! consistent streak against the evidence its cutover needs (a run's verdict as gating defines
//! it: the latest report of each of its partitions); a table's settings, its runs as a timeline,
//! and its latest reports.

use askama::Template;
use std::collections::BTreeMap;

use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};

use super::report::text;
use super::reports::{Row, row};
use super::{Visitor, message, render, stylesheet_path};
use crate::config::AccessRole;
use crate::config::TableConfig;
use crate::gating::History;
use crate::rest::{ApiError, AppState};
use crate::store::{ListedReport, ReportFilter, Verdict};

/// Runs shown on a table's timeline.
const TIMELINE: usize = 60;

#[derive(Debug, serde::Deserialize)]
pub(super) struct Search {
    q: Option<String>,
}

#[derive(Debug, Template)]
#[template(path = "tables.html")]
struct TablesPage {
    stylesheet: &'static str,
    visitor: Visitor,
    q: String,
    tables: Vec<TableRow>,
}

#[derive(Debug)]
struct TableRow {
    name: String,
    key: String,
    owners: String,
    latest: &'static str,
    streak: usize,
    needed: usize,
}

#[derive(Debug, Template)]
#[template(path = "table.html")]
struct TablePage {
    stylesheet: &'static str,
    visitor: Visitor,
    row: TableRow,
    settings: Vec<(String, String)>,
    runs: Vec<RunMark>,
    rows: Vec<Row>,
    /// Columns that differed in recent inconsistent reports: (name, reports, mismatches).
    columns: Vec<(String, usize, u64)>,
    may_edit: bool,
    may_delete: bool,
    /// The registration as JSON, or the refused edit's text.
    draft: String,
    /// Why an edit was refused.
    error: Option<String>,
}

#[derive(Debug)]
struct RunMark {
    run: String,
    verdict: &'static str,
    x: usize,
}

/// The consistent runs in a row from the newest.
fn streak(history: &History) -> usize {
    history.iter().take_while(|(_, verdict)| *verdict == Verdict::Consistent).count()
}

fn table_row(state: &AppState, table: &TableConfig, history: &History) -> TableRow {
    TableRow {
        name: table.name.clone(),
        key: if table.key.is_empty() { "(whole rows)".to_owned() } else { table.key.join(", ") },
        owners: table.owners.join(", "),
        latest: history.first().map_or("none", |(_, verdict)| verdict.as_str()),
        streak: streak(history),
        needed: table.evidence_runs.unwrap_or(state.config().gating.evidence_runs),
    }
}

pub(super) async fn list(
    State(state): State<AppState>,
    Query(search): Query<Search>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let visitor = match state.reader_of(&headers, &uri).await {
        Ok(visitor) => visitor,
        Err(answer) => return answer,
    };
    let store = state.store();
    let (tables, histories) = match tokio::try_join!(store.tables(), store.verdict_histories()) {
        Ok(found) => found,
        Err(error) => return crate::rest::ApiError::from(error).into_response(),
    };
    let q = search.q.unwrap_or_default().trim().to_lowercase();
    let empty = History::new();
    let mut rows: Vec<TableRow> = tables
        .iter()
        .filter(|table| q.is_empty() || table.name.to_lowercase().contains(&q))
        .map(|table| table_row(&state, table, histories.get(&table.name).unwrap_or(&empty)))
        .collect();
    // Problems first, then by name.
    rows.sort_by(|a, b| {
        (a.latest == "consistent" || a.latest == "none")
            .cmp(&(b.latest == "consistent" || b.latest == "none"))
            .then(a.name.cmp(&b.name))
    });
    render(StatusCode::OK, &TablesPage { stylesheet: stylesheet_path(), visitor, q, tables: rows })
}

/// Reports whose differing columns the table's page sums up.
const RECENT_PROBLEMS: usize = 10;

pub(super) async fn page(
    State(state): State<AppState>,
    Path(name): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let visitor = match state.reader_of(&headers, &uri).await {
        Ok(visitor) => visitor,
        Err(answer) => return answer,
    };
    table_answer(&state, visitor, &name, StatusCode::OK, None).await
}

/// The table's page, with a refused edit (its text and why) when there is one.
async fn table_answer(
    state: &AppState,
    visitor: Visitor,
    name: &str,
    status: StatusCode,
    refused: Option<(String, String)>,
) -> Response {
    let found = table_page(state, visitor, name, refused).await;
    super::page_or_missing(status, found, "No such table", &format!("No table `{name}` is registered."))
}

async fn table_page(
    state: &AppState,
    visitor: Visitor,
    name: &str,
    refused: Option<(String, String)>,
) -> Result<Option<TablePage>, ApiError> {
    let store = state.store();
    let filter = ReportFilter { table: Some(name.to_owned()), limit: Some(20), ..ReportFilter::default() };
    let (table, history, reports) =
        tokio::try_join!(store.table(name), store.verdict_history(name), store.reports(&filter))?;
    let Some(table) = table else { return Ok(None) };
    let options = &table.options;
    let mut settings = vec![
        (
            "notify".to_owned(),
            serde_json::to_value(table.notify).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default(),
        ),
        ("sinks".to_owned(), if table.sinks.is_empty() { "all".to_owned() } else { table.sinks.join(", ") }),
    ];
    if let Some(deadline) = table.deadline {
        settings.push(("deadline".to_owned(), humantime::format_duration(deadline).to_string()));
    }
    if !options.ignore.is_empty() {
        settings.push(("ignored columns".to_owned(), options.ignore.join(", ")));
    }
    for (label, value) in [("absolute tolerance", options.abs_tol), ("relative tolerance", options.rel_tol)] {
        if let Some(value) = value {
            settings.push((label.to_owned(), value.to_string()));
        }
    }
    let runs = history
        .iter()
        .take(TIMELINE)
        .rev()
        .enumerate()
        .map(|(index, (run, verdict))| RunMark { run: run.clone(), verdict: verdict.as_str(), x: index * 12 })
        .collect();
    let columns = differing_columns(state, &reports).await?;
    let (draft, error) = match refused {
        Some((draft, error)) => (draft, Some(error)),
        None => (serde_json::to_string_pretty(&table).unwrap_or_default(), None),
    };
    Ok(Some(TablePage {
        stylesheet: stylesheet_path(),
        row: table_row(state, &table, &history),
        may_edit: visitor.role >= AccessRole::Operator,
        may_delete: visitor.role >= AccessRole::Admin,
        visitor,
        settings,
        runs,
        rows: reports.into_iter().map(row).collect(),
        columns,
        draft,
        error,
    }))
}

/// The columns that differed in the table's recent inconsistent reports: in how many of them,
/// and how many mismatches in all; most often first.
async fn differing_columns(state: &AppState, reports: &[ListedReport]) -> Result<Vec<(String, usize, u64)>, ApiError> {
    let mut columns: BTreeMap<String, (usize, u64)> = BTreeMap::new();
    let inconsistent = reports.iter().filter(|report| report.verdict == Verdict::Inconsistent).take(RECENT_PROBLEMS);
    for listed in inconsistent {
        let Some(report) = state.store().report(listed.id).await? else { continue };
        for column in report.report["columns"].as_array().into_iter().flatten() {
            if let Some(mismatches) = column["mismatches"].as_u64().filter(|n| *n > 0) {
                let seen = columns.entry(text(&column["name"])).or_default();
                seen.0 += 1;
                seen.1 += mismatches;
            }
        }
    }
    let mut columns: Vec<(String, usize, u64)> =
        columns.into_iter().map(|(name, (reports, mismatches))| (name, reports, mismatches)).collect();
    columns.sort_by(|a, b| b.1.cmp(&a.1).then(b.2.cmp(&a.2)));
    Ok(columns)
}

/// The edit form's field: the registration as JSON.
#[derive(Debug, serde::Deserialize)]
pub(super) struct EditForm {
    registration: String,
}

pub(super) async fn edit(
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    Form(form): Form<EditForm>,
) -> Response {
    let here = format!("/tables/{}", super::path_segment(&name));
    let visitor = match state.writer(&headers, AccessRole::Operator, &here).await {
        Ok(visitor) => visitor,
        Err(answer) => return answer,
    };
    let registered = match serde_json::from_str(&form.registration) {
        Ok(body) => crate::rest::tables::register(&state, &visitor.name, &name, body).await,
        Err(error) => Err(ApiError::invalid(format!("the registration is not JSON: {error}"))),
    };
    match registered {
        Ok(_) => Redirect::to(&here).into_response(),
        Err(error) => {
            let status = error.status;
            table_answer(&state, visitor, &name, status, Some((form.registration, error.message))).await
        }
    }
}

/// The unregistering form's field: the box ticked to say it is meant.
#[derive(Debug, serde::Deserialize)]
pub(super) struct DeleteForm {
    confirm: Option<String>,
}

pub(super) async fn delete(
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    Form(form): Form<DeleteForm>,
) -> Response {
    let here = format!("/tables/{}", super::path_segment(&name));
    let visitor = match state.writer(&headers, AccessRole::Admin, &here).await {
        Ok(visitor) => visitor,
        Err(answer) => return answer,
    };
    if form.confirm.is_none() {
        let why = "Tick the box that says what unregistering does, then unregister.";
        return message(StatusCode::UNPROCESSABLE_ENTITY, "Not unregistered", why);
    }
    match state.store().unregister_by(&name, &visitor.name, chrono::Utc::now()).await {
        Ok(true) => {
            tracing::info!(table = %name, by = %visitor.name, "table unregistered");
            Redirect::to("/tables").into_response()
        }
        Ok(false) => message(StatusCode::NOT_FOUND, "No such table", &format!("No table `{name}` is registered.")),
        Err(error) => ApiError::from(error).into_response(),
    }
}
