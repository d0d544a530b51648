//! Inventories in the pages: `/inventories` (the latest), `/inventories/{id}` (the warehouse
//! page: both sides, progress while it runs, updated in place by `dqc.js` or reloaded without
//! scripts, then the warehouse's counts and every table with its counts of equal, different,
//! missing and unreadable partitions, problems first), `/inventories/{id}/tables?name=T` (one
//! table's partitions, page by page, filtered by verdict), and cancelling one.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use serde_json::Value;
use verifier::inventory::SchemaChanges;

use super::{Visitor, message, render, stylesheet_path, with_query};
use crate::config::AccessRole;
use crate::rest::AppState;
use crate::rest::inventories::{PARTITION_VERDICTS, found, has_table, report_tables};
use crate::store::{InventoryState, InventoryStatus};

/// Inventories listed at most.
const LISTED: i64 = 100;
/// Partitions on a page.
const PAGE: i64 = 100;

/// An inventory in a list, or at the head of its page.
#[derive(Debug)]
struct InventoryRow {
    id: i64,
    state: &'static str,
    /// The verdict, or the state while it has none.
    shown: &'static str,
    baseline: String,
    candidate: String,
    level: &'static str,
    requested_by: String,
    created: String,
    tables: Option<u64>,
    partitions: Option<u64>,
    done: u64,
    error: Option<String>,
}

impl InventoryRow {
    fn new(inventory: &InventoryStatus) -> Self {
        let side = |side: &crate::store::InventorySide| format!("{} ({})", side.warehouse, side.cluster);
        Self {
            id: inventory.id,
            state: inventory.state.as_str(),
            shown: inventory.verdict.map_or(inventory.state.as_str(), |verdict| verdict.as_str()),
            baseline: side(&inventory.plan.baseline),
            candidate: side(&inventory.plan.candidate),
            level: inventory.plan.level.as_str(),
            requested_by: inventory.requested_by.clone(),
            created: inventory.created_at.format("%Y-%m-%d %H:%M UTC").to_string(),
            tables: inventory.listed.map(|(tables, _)| tables),
            partitions: inventory.listed.map(|(_, partitions)| partitions),
            done: inventory.partitions_done,
            error: inventory.error.clone(),
        }
    }
}

/// Partitions counted by verdict, as a table of the page shows them.
#[derive(Debug, Default)]
struct Counts {
    partitions: u64,
    equal: u64,
    different: u64,
    missing_in_baseline: u64,
    missing_in_candidate: u64,
    unreadable: u64,
    listed: u64,
}

impl Counts {
    /// From a report's `counts` (or `summary`): `equal` is equal and equal at the footers.
    fn of(counts: Option<&Value>) -> Self {
        let count = |name: &str| counts.and_then(|c| c.get(name)).and_then(Value::as_u64).unwrap_or(0);
        Self {
            partitions: count("partitions"),
            equal: count("equal") + count("equal_footers"),
            different: count("different"),
            missing_in_baseline: count("missing_in_baseline"),
            missing_in_candidate: count("missing_in_candidate"),
            unreadable: count("unreadable"),
            listed: count("listed"),
        }
    }
}

#[derive(Debug)]
struct TableRow {
    name: String,
    verdict: String,
    counts: Counts,
    /// Schema findings, one line each.
    schema: Vec<String>,
}

#[derive(Debug, Template)]
#[template(path = "inventories.html")]
struct InventoriesPage {
    stylesheet: &'static str,
    visitor: Visitor,
    inventories: Vec<InventoryRow>,
}

#[derive(Debug, Template)]
#[template(path = "inventory.html")]
struct InventoryPage {
    stylesheet: &'static str,
    script: &'static str,
    visitor: Visitor,
    inventory: InventoryRow,
    active: bool,
    summary: Option<Counts>,
    tables: Vec<TableRow>,
}

#[derive(Debug, Template)]
#[template(path = "inventory_table.html")]
struct InventoryTablePage {
    stylesheet: &'static str,
    visitor: Visitor,
    inventory: InventoryRow,
    table: Option<TableRow>,
    name: String,
    /// Each verdict to filter by, and whether it is the one shown.
    verdicts: Vec<(&'static str, bool)>,
    total: i64,
    /// The first and last partition shown, counting from 1.
    first: i64,
    last: i64,
    partitions: Vec<PartitionRow>,
    previous: Option<String>,
    next: Option<String>,
}

#[derive(Debug)]
struct PartitionRow {
    name: String,
    verdict: String,
    reason: Option<String>,
    baseline: String,
    candidate: String,
    more: Vec<String>,
}

impl PartitionRow {
    fn new(partition: &Value) -> Self {
        let text = |name: &str| partition.get(name).and_then(Value::as_str).map(str::to_owned);
        let side = |name: &str| match partition.get(name) {
            Some(Value::Object(side)) => {
                let number = |field: &str| side.get(field).and_then(Value::as_u64);
                let rows = number("rows").map_or_else(|| "rows unknown".to_owned(), |rows| format!("{rows} rows"));
                let files = number("files").unwrap_or(0);
                let plural = if files == 1 { "" } else { "s" };
                format!("{rows}, {files} file{plural}, {} bytes", number("bytes").unwrap_or(0))
            }
            _ => "absent".to_owned(),
        };
        let list = |name: &str| -> Vec<String> {
            partition
                .get(name)
                .and_then(Value::as_array)
                .map(|items| items.iter().filter_map(Value::as_str).map(str::to_owned).collect())
                .unwrap_or_default()
        };
        let reason = text("reason");
        let mut more: Vec<String> = list("differences").into_iter().filter(|d| Some(d) != reason.as_ref()).collect();
        more.extend(list("not_comparable").into_iter().map(|column| format!("not comparable: {column}")));
        let name = text("partition").unwrap_or_default();
        Self {
            name: if name.is_empty() { "(the whole table)".to_owned() } else { name },
            verdict: text("verdict").unwrap_or_default(),
            reason,
            baseline: side("baseline"),
            candidate: side("candidate"),
            more,
        }
    }
}

fn table_row(table: &Value) -> TableRow {
    let mut schema = Vec::new();
    for (label, key) in [("in the files", "schema"), ("declared", "declared_schema")] {
        let changes = table.get(key).cloned().map(serde_json::from_value::<SchemaChanges>);
        if let Some(Ok(changes)) = changes {
            schema.extend(changes.differences().into_iter().map(|difference| format!("{label}: {difference}")));
            schema.extend(changes.type_changes.iter().filter(|change| change.comparable).map(|change| {
                format!(
                    "{label}: column `{}` retyped {} → {} (values still compare)",
                    change.name, change.baseline, change.candidate
                )
            }));
        }
    }
    TableRow {
        name: table.get("name").and_then(Value::as_str).unwrap_or_default().to_owned(),
        verdict: table.get("verdict").and_then(Value::as_str).unwrap_or("error").to_owned(),
        counts: Counts::of(table.get("counts")),
        schema,
    }
}

async fn visitor(state: &AppState, headers: &HeaderMap, here: &str) -> Result<Visitor, Response> {
    state.visitor_at_least(headers, AccessRole::Viewer, here).await
}

/// `/inventories`: the latest inventories, newest first.
pub(super) async fn list(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let visitor = match visitor(&state, &headers, "/inventories").await {
        Ok(visitor) => visitor,
        Err(answer) => return answer,
    };
    match state.store().inventories(LISTED, 0).await {
        Ok((_, inventories)) => {
            let inventories = inventories.iter().map(InventoryRow::new).collect();
            render(StatusCode::OK, &InventoriesPage { stylesheet: stylesheet_path(), visitor, inventories })
        }
        Err(error) => crate::rest::ApiError::from(error).into_response(),
    }
}

async fn inventory_or_answer(state: &AppState, id: i64) -> Result<InventoryStatus, Response> {
    found(state, id).await.map_err(|error| {
        if error.status == StatusCode::NOT_FOUND {
            message(StatusCode::NOT_FOUND, "No such inventory", &format!("There is no inventory {id}."))
        } else {
            error.into_response()
        }
    })
}

/// `/inventories/{id}`: the warehouse page.
pub(super) async fn page(State(state): State<AppState>, Path(id): Path<i64>, headers: HeaderMap) -> Response {
    let visitor = match visitor(&state, &headers, &format!("/inventories/{id}")).await {
        Ok(visitor) => visitor,
        Err(answer) => return answer,
    };
    let inventory = match inventory_or_answer(&state, id).await {
        Ok(inventory) => inventory,
        Err(answer) => return answer,
    };
    let mut tables: Vec<TableRow> = report_tables(&inventory).iter().map(table_row).collect();
    // Problems first, then by name.
    tables.sort_by(|a, b| (a.verdict == "consistent").cmp(&(b.verdict == "consistent")).then(a.name.cmp(&b.name)));
    let page = InventoryPage {
        stylesheet: stylesheet_path(),
        script: super::script_path(),
        visitor,
        active: matches!(inventory.state, InventoryState::Queued | InventoryState::Running),
        summary: inventory.report.as_ref().map(|report| Counts::of(report.get("summary"))),
        inventory: InventoryRow::new(&inventory),
        tables,
    };
    render(StatusCode::OK, &page)
}

/// Which of a table's partitions to show.
#[derive(Debug, serde::Deserialize)]
pub(super) struct TableQuery {
    name: String,
    #[serde(default)]
    verdict: String,
    #[serde(default)]
    offset: i64,
}

/// `/inventories/{id}/tables?name=T`: one table's partitions.
pub(super) async fn table(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Query(query): Query<TableQuery>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let visitor = match state.reader_of(&headers, &uri).await {
        Ok(visitor) => visitor,
        Err(answer) => return answer,
    };
    let inventory = match inventory_or_answer(&state, id).await {
        Ok(inventory) => inventory,
        Err(answer) => return answer,
    };
    let verdict = query.verdict.trim().to_owned();
    if !verdict.is_empty() && !PARTITION_VERDICTS.contains(&verdict.as_str()) {
        return message(StatusCode::UNPROCESSABLE_ENTITY, "Unknown verdict", &format!("`{verdict}` is not a verdict."));
    }
    let offset = query.offset.max(0);
    let filter = (!verdict.is_empty()).then_some(verdict.as_str());
    let (total, partitions) =
        match state.store().inventory_table_partitions(id, &query.name, filter, PAGE, offset).await {
            Ok(found) => found,
            Err(error) => return crate::rest::ApiError::from(error).into_response(),
        };
    if total == 0 && filter.is_none() && !has_table(&inventory, &query.name) {
        return message(
            StatusCode::NOT_FOUND,
            "No such table",
            &format!("Inventory {id} has no table {} (yet).", query.name),
        );
    }
    let link = |offset: i64| {
        let mut query_text = format!("name={}&offset={offset}", super::path_segment(&query.name));
        if !verdict.is_empty() {
            query_text.push_str(&format!("&verdict={verdict}"));
        }
        with_query(&format!("/inventories/{id}/tables"), &query_text)
    };
    let page = InventoryTablePage {
        stylesheet: stylesheet_path(),
        visitor,
        table: report_tables(&inventory)
            .iter()
            .find(|t| t.get("name").and_then(Value::as_str) == Some(query.name.as_str()))
            .map(table_row),
        inventory: InventoryRow::new(&inventory),
        name: query.name.clone(),
        verdicts: PARTITION_VERDICTS.iter().map(|option| (*option, *option == verdict)).collect(),
        total,
        first: offset + 1,
        last: offset + i64::try_from(partitions.len()).unwrap_or(0),
        partitions: partitions
            .iter()
            .map(|p| PartitionRow::new(&serde_json::to_value(p).unwrap_or_default()))
            .collect(),
        previous: (offset > 0).then(|| link((offset - PAGE).max(0))),
        next: (offset + PAGE < total).then(|| link(offset + PAGE)),
    };
    render(StatusCode::OK, &page)
}

pub(super) async fn cancel(State(state): State<AppState>, Path(id): Path<i64>, headers: HeaderMap) -> Response {
    let visitor = match state.writer(&headers, AccessRole::Operator, &format!("/inventories/{id}")).await {
        Ok(visitor) => visitor,
        Err(answer) => return answer,
    };
    match state.store().cancel_inventory(id, chrono::Utc::now()).await {
        Ok(cancelled) => {
            if cancelled {
                tracing::info!(inventory = id, by = %visitor.name, "inventory cancelled");
            }
            Redirect::to(&format!("/inventories/{id}")).into_response()
        }
        Err(error) => crate::rest::ApiError::from(error).into_response(),
    }
}
