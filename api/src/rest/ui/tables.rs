//! `/tables` and `/tables/{name}`: the registry with each table's latest run verdict and its
//! consistent streak against the evidence its cutover needs (a run's verdict as gating defines
//! it: the latest report of each of its partitions); a table's settings, its runs as a timeline,
//! and its latest reports.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

use super::reports::{Row, row};
use super::{Visitor, message, render, stylesheet_path};
use crate::config::AccessRole;
use crate::config::TableConfig;
use crate::gating::History;
use crate::rest::AppState;
use crate::store::{ReportFilter, Verdict};

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
    let visitor = match state
        .visitor_at_least(&headers, AccessRole::Viewer, uri.path_and_query().map_or("/", |p| p.as_str()))
        .await
    {
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

pub(super) async fn page(
    State(state): State<AppState>,
    Path(name): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let visitor = match state
        .visitor_at_least(&headers, AccessRole::Viewer, uri.path_and_query().map_or("/", |p| p.as_str()))
        .await
    {
        Ok(visitor) => visitor,
        Err(answer) => return answer,
    };
    let store = state.store();
    let filter = ReportFilter { table: Some(name.clone()), limit: Some(20), ..ReportFilter::default() };
    let found = tokio::try_join!(store.table(&name), store.verdict_history(&name), store.reports(&filter));
    let (table, history, reports) = match found {
        Ok((Some(table), history, reports)) => (table, history, reports),
        Ok((None, ..)) => {
            return message(StatusCode::NOT_FOUND, "No such table", &format!("No table `{name}` is registered."));
        }
        Err(error) => return crate::rest::ApiError::from(error).into_response(),
    };
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
    let page = TablePage {
        stylesheet: stylesheet_path(),
        row: table_row(&state, &table, &history),
        visitor,
        settings,
        runs,
        rows: reports.into_iter().map(row).collect(),
    };
    render(StatusCode::OK, &page)
}
