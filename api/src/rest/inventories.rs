//! Inventories of whole warehouses (`dqc inventory`, run by the service):
//! `POST /inventories`, `GET /inventories`, `GET /inventories/{id}`,
//! `GET /inventories/{id}/partitions`, `POST /inventories/{id}/cancel`.
//!
//! A side is a configured cluster's: its metastore's database (`hive://` of the metastore the
//! cluster names, nothing else), or a directory tree under its warehouse root, its
//! `event_roots` or `api.allowed_roots`. Every partition is read only under those roots, however
//! the metastore locates it.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use chrono::{DateTime, Utc};
use collector::Role;
use serde::{Deserialize, Serialize};
use verifier::inventory::Level;

use super::auth::{Caller, Operator, Viewer};
use super::error::{Body, ErrorBody, Path, Query};
use super::{ApiError, AppState, Page, locations};
use crate::metastore::HiveWarehouse;
use crate::store::{InventoryPlan, InventorySide, InventoryState, InventoryStatus};

/// An inventory of both clusters' warehouses.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct InventoryRequest {
    /// The database to inventory on both sides: in each cluster's metastore when it has one,
    /// else the directory its location template gives the database. Without it (and without
    /// `baseline`/`candidate`), each cluster's whole warehouse root.
    #[serde(default)]
    database: Option<String>,
    /// The baseline warehouse instead: `hive://HOST:PORT/DB[/TABLE]` of the baseline cluster's
    /// metastore, or a directory under its warehouse root, its `event_roots` or
    /// `api.allowed_roots`.
    #[serde(default)]
    baseline: Option<String>,
    /// The candidate warehouse instead, likewise.
    #[serde(default)]
    candidate: Option<String>,
    /// Tables to cover, by name pattern (`*`, `?`); default: all.
    #[serde(default)]
    tables: Vec<String>,
    /// Conditions on partition values, all met (`dt>=2024-01-01`).
    #[serde(default)]
    partitions: Vec<String>,
    /// `listing`, `footers` (the default) or `deep`.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    level: Option<Level>,
    /// Diff each partition whose footers differ.
    #[serde(default)]
    diff: bool,
    /// Key columns for `deep` and `diff`, where a table has them all (else whole rows).
    #[serde(default)]
    key: Vec<String>,
}

/// An inventory was queued.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct InventoryCreated {
    /// The inventory's id.
    id: i64,
    /// Where its state is.
    url: String,
}

/// One side of an inventory.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct SideView {
    /// The cluster.
    cluster: String,
    /// The warehouse read: a directory tree, or `hive://HOST:PORT/DB[/TABLE]`.
    warehouse: String,
}

/// How far a running inventory is.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct InventoryProgressView {
    /// Tables to do, once both warehouses are listed.
    tables: Option<u64>,
    /// Partitions to do, once both warehouses are listed.
    partitions: Option<u64>,
    /// Partitions done (as of the last heartbeat, every two seconds).
    partitions_done: u64,
}

/// An inventory's state and, once done, its summary and tables.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct InventoryView {
    /// Its id.
    id: i64,
    /// `queued`, `running`, `done`, `failed` or `cancelled`.
    #[schema(value_type = String)]
    state: InventoryState,
    /// Who asked.
    requested_by: String,
    /// The baseline side.
    baseline: SideView,
    /// The candidate side.
    candidate: SideView,
    /// `listing`, `footers` or `deep`.
    #[schema(value_type = String)]
    level: Level,
    /// Table patterns.
    tables_filter: Vec<String>,
    /// Partition conditions.
    partitions_filter: Vec<String>,
    /// Progress.
    progress: InventoryProgressView,
    /// Claims so far (more than one: it was taken over and resumed).
    attempts: u32,
    /// consistent, inconsistent or error, once done.
    #[schema(value_type = Option<String>)]
    verdict: Option<verifier::Verdict>,
    /// Why it failed.
    error: Option<String>,
    /// The warehouse's counts, once done.
    #[schema(value_type = Option<Object>)]
    summary: Option<serde_json::Value>,
    /// Each table's verdict and counts, once done (only in `GET /inventories/{id}`).
    #[schema(value_type = Option<Vec<Object>>)]
    tables: Option<Vec<serde_json::Value>>,
    /// When it was asked for.
    created_at: DateTime<Utc>,
    /// When it ended.
    finished_at: Option<DateTime<Utc>>,
    /// Its URL.
    url: String,
    /// Its page in the web UI.
    page_url: String,
}

/// A page of inventories, newest first.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct InventoryPage {
    /// All inventories.
    total: i64,
    /// This page's size limit.
    limit: i64,
    /// Inventories skipped.
    offset: i64,
    /// This page (without tables).
    inventories: Vec<InventoryView>,
}

/// Which partitions of a table to list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct PartitionQuery {
    /// The table, as the inventory names it.
    table: String,
    /// Only this verdict: equal, equal_footers, listed, different, missing_in_baseline,
    /// missing_in_candidate or unreadable.
    verdict: Option<String>,
    /// At most this many (1-1000, default 50).
    limit: Option<i64>,
    /// Skip this many, in partition order.
    offset: Option<i64>,
}

/// A page of one table's partitions.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct PartitionPage {
    /// The table.
    table: String,
    /// Partitions the filters select, on every page.
    total: i64,
    /// This page's size limit.
    limit: i64,
    /// Partitions skipped.
    offset: i64,
    /// Each partition's verdict, reason, differences and both sides (location, files, bytes,
    /// rows), as in `dqc inventory --format json`.
    #[schema(value_type = Vec<Object>)]
    partitions: Vec<serde_json::Value>,
}

/// The verdicts a partition may have.
pub(super) const PARTITION_VERDICTS: [&str; 7] =
    ["equal", "equal_footers", "listed", "different", "missing_in_baseline", "missing_in_candidate", "unreadable"];

#[utoipa::path(post, path = "/inventories", operation_id = "create_inventory", tag = "inventories", request_body = InventoryRequest, security(("bearer" = [])),
    responses(
        (status = 202, description = "Queued", body = InventoryCreated),
        (status = 400, description = "Malformed body", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Role too low, a warehouse outside the configured roots, or a metastore that is not a cluster's", body = ErrorBody),
        (status = 422, description = "A warehouse, filter or level that does not parse", body = ErrorBody)
    ))]
pub(crate) async fn create(
    State(state): State<AppState>,
    caller: Caller<Operator>,
    Body(request): Body<InventoryRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let id = queue(&state, request, &caller.name).await?;
    let url = state.link(&format!("/inventories/{id}"));
    Ok((StatusCode::ACCEPTED, [(axum::http::header::LOCATION, url.clone())], axum::Json(InventoryCreated { id, url })))
}

/// Queues the inventory `request` asks for, on behalf of `by`; its id.
pub(super) async fn queue(state: &AppState, request: InventoryRequest, by: &str) -> Result<i64, ApiError> {
    let tables: Vec<String> = request.tables.iter().map(|t| t.trim().to_owned()).filter(|t| !t.is_empty()).collect();
    verifier::inventory::check_filters(&tables, &request.partitions)
        .map_err(|error| ApiError::invalid(error.to_string()))?;
    let level = request.level.unwrap_or(Level::Footers);
    if level == Level::Listing && request.diff {
        return Err(ApiError::invalid("`diff` needs the footers: it cannot go with level `listing`"));
    }
    let database = match request.database.as_deref().map(str::trim) {
        Some(db) if db.is_empty() || !db.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') => {
            return Err(ApiError::invalid(format!("database `{db}`: expected letters, digits and `_`")));
        }
        database => database.map(str::to_lowercase),
    };
    let plan = InventoryPlan {
        baseline: side(state, Role::Baseline, request.baseline, database.as_deref())?,
        candidate: side(state, Role::Candidate, request.candidate, database.as_deref())?,
        tables,
        partitions: request.partitions,
        level,
        diff: request.diff,
        key: crate::cli::diff::key_columns(&request.key),
    };
    let id = state.store().create_inventory(&plan, by, Utc::now()).await?;
    tracing::info!(inventory = id, baseline = %plan.baseline.warehouse, candidate = %plan.candidate.warehouse, by = %by, "inventory queued");
    Ok(id)
}

/// One side of a request, resolved against its cluster's configuration.
fn side(
    state: &AppState,
    role: Role,
    given: Option<String>,
    database: Option<&str>,
) -> Result<InventorySide, ApiError> {
    let config = state.config();
    let cluster = config.cluster(role);
    let metastore = config.metastores.get(&cluster.name);
    let mut cluster_roots = vec![cluster.warehouse_root()];
    cluster_roots.extend(cluster.event_roots.iter().cloned());
    let cluster_rule = format!("the warehouse root or the event_roots of cluster `{}`", cluster.name);
    let hive = |location: &str| -> Result<InventorySide, ApiError> {
        let warehouse = HiveWarehouse::parse(location)
            .map_err(|error| ApiError::invalid(error.to_string()))?
            .ok_or_else(|| ApiError::invalid(format!("`{location}` is not a hive:// warehouse")))?;
        let configured = metastore.map(|m| m.uri().trim_start_matches("thrift://"));
        if configured != Some(warehouse.metastore.as_str()) {
            return Err(ApiError::forbidden(format!(
                "`{location}` is not the metastore of cluster `{}` ({}): only configured metastores are read",
                cluster.name,
                metastore.map_or("it has none", |m| m.uri())
            )));
        }
        Ok(InventorySide {
            cluster: cluster.name.clone(),
            warehouse: location.to_owned(),
            database: Some(warehouse.db),
            roots: cluster_roots.clone(),
            rule: cluster_rule.clone(),
        })
    };
    match (given, database) {
        (Some(location), _) if location.starts_with("hive://") => hive(&location),
        (Some(location), _) => {
            let mut roots = config.api.allowed_roots.clone();
            roots.extend(cluster_roots.iter().cloned());
            let checked = locations::check(&roots, &location)?;
            let database = location
                .trim_end_matches('/')
                .rsplit('/')
                .next()
                .and_then(|last| last.strip_suffix(".db"))
                .map(str::to_lowercase);
            Ok(InventorySide {
                cluster: cluster.name.clone(),
                warehouse: checked,
                database,
                roots,
                rule: format!("api.allowed_roots or {cluster_rule}"),
            })
        }
        (None, Some(db)) if metastore.is_some() => {
            hive(&format!("hive://{}/{db}", metastore.map_or("", |m| m.uri().trim_start_matches("thrift://"))))
        }
        (None, database) => {
            let template = cluster.location.replace("{cluster}", &cluster.name);
            let warehouse = match database {
                // The template up to the directory of `{table}`, with the database filled in.
                Some(db) => {
                    let filled = template.replace("{db}", db);
                    let before = filled.split("{table}").next().unwrap_or_default();
                    if before.contains('{') {
                        return Err(ApiError::invalid(format!(
                            "the location template of cluster `{}` names something else before {{table}}: name the warehouse in `{}`",
                            cluster.name, role
                        )));
                    }
                    before.rfind('/').map_or_else(String::new, |slash| before[..=slash].to_owned())
                }
                None => cluster.warehouse_root(),
            };
            Ok(InventorySide {
                cluster: cluster.name.clone(),
                warehouse,
                database: database.map(str::to_owned),
                roots: cluster_roots,
                rule: cluster_rule,
            })
        }
    }
}

#[utoipa::path(get, path = "/inventories", operation_id = "list_inventories", tag = "inventories", security(("bearer" = [])), params(Page),
    responses(
        (status = 200, description = "A page of inventories, newest first", body = InventoryPage),
        (status = 401, description = "No valid token", body = ErrorBody)
    ))]
pub(crate) async fn list(
    State(state): State<AppState>,
    _caller: Caller<Viewer>,
    Query(page): Query<Page>,
) -> Result<axum::Json<InventoryPage>, ApiError> {
    let (limit, offset) = page.checked()?;
    let (total, inventories) = state.store().inventories(limit, offset).await?;
    let inventories = inventories.into_iter().map(|inventory| view(&state, inventory, false)).collect();
    Ok(axum::Json(InventoryPage { total, limit, offset, inventories }))
}

#[utoipa::path(get, path = "/inventories/{id}", operation_id = "get_inventory", tag = "inventories", security(("bearer" = [])),
    params(("id" = i64, Path, description = "The inventory's id")),
    responses(
        (status = 200, description = "The inventory", body = InventoryView),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "No such inventory", body = ErrorBody)
    ))]
pub(crate) async fn get(
    State(state): State<AppState>,
    _caller: Caller<Viewer>,
    Path(id): Path<i64>,
) -> Result<axum::Json<InventoryView>, ApiError> {
    let inventory = found(&state, id).await?;
    Ok(axum::Json(view(&state, inventory, true)))
}

#[utoipa::path(get, path = "/inventories/{id}/partitions", operation_id = "get_inventory_partitions", tag = "inventories", security(("bearer" = [])),
    params(("id" = i64, Path, description = "The inventory's id"), PartitionQuery),
    responses(
        (status = 200, description = "A page of the table's partitions, in partition order", body = PartitionPage),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "No such inventory, or no such table in it", body = ErrorBody),
        (status = 422, description = "An unknown verdict, or limit or offset out of range", body = ErrorBody)
    ))]
pub(crate) async fn partitions(
    State(state): State<AppState>,
    _caller: Caller<Viewer>,
    Path(id): Path<i64>,
    Query(query): Query<PartitionQuery>,
) -> Result<axum::Json<PartitionPage>, ApiError> {
    let (limit, offset) = Page { limit: query.limit, offset: query.offset }.checked()?;
    if let Some(verdict) = &query.verdict
        && !PARTITION_VERDICTS.contains(&verdict.as_str())
    {
        return Err(ApiError::invalid(format!(
            "verdict `{verdict}`: expected one of {}",
            PARTITION_VERDICTS.join(", ")
        )));
    }
    let inventory = found(&state, id).await?;
    let (total, partitions) =
        state.store().inventory_table_partitions(id, &query.table, query.verdict.as_deref(), limit, offset).await?;
    if total == 0 && !has_table(&inventory, &query.table) {
        return Err(ApiError::not_found(format!("inventory {id} has no table `{}` (yet)", query.table)));
    }
    let partitions = partitions.iter().map(|p| serde_json::to_value(p).unwrap_or_default()).collect();
    Ok(axum::Json(PartitionPage { table: query.table, total, limit, offset, partitions }))
}

#[utoipa::path(post, path = "/inventories/{id}/cancel", operation_id = "cancel_inventory", tag = "inventories", security(("bearer" = [])),
    params(("id" = i64, Path, description = "The inventory's id")),
    responses(
        (status = 200, description = "Cancelled; a running inventory stops within seconds", body = InventoryView),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Role too low", body = ErrorBody),
        (status = 404, description = "No such inventory", body = ErrorBody),
        (status = 409, description = "The inventory has already ended", body = ErrorBody)
    ))]
pub(crate) async fn cancel(
    State(state): State<AppState>,
    caller: Caller<Operator>,
    Path(id): Path<i64>,
) -> Result<axum::Json<InventoryView>, ApiError> {
    let cancelled = state.store().cancel_inventory(id, Utc::now()).await?;
    let inventory = found(&state, id).await?;
    if !cancelled {
        return Err(ApiError::conflict(format!("inventory {id} has already ended ({})", inventory.state.as_str())));
    }
    tracing::info!(inventory = id, by = %caller.name, "inventory cancelled");
    Ok(axum::Json(view(&state, inventory, true)))
}

pub(super) async fn found(state: &AppState, id: i64) -> Result<InventoryStatus, ApiError> {
    state.store().inventory(id).await?.ok_or_else(|| ApiError::not_found(format!("no inventory {id}")))
}

/// Whether a finished inventory's report names `table`.
pub(super) fn has_table(inventory: &InventoryStatus, table: &str) -> bool {
    report_tables(inventory).iter().any(|t| t.get("name").and_then(serde_json::Value::as_str) == Some(table))
}

/// The tables of a finished inventory's report (verdict, counts, schema findings).
pub(super) fn report_tables(inventory: &InventoryStatus) -> Vec<serde_json::Value> {
    inventory
        .report
        .as_ref()
        .and_then(|report| report.get("tables"))
        .and_then(serde_json::Value::as_array)
        .cloned()
        .unwrap_or_default()
}

fn view(state: &AppState, inventory: InventoryStatus, with_tables: bool) -> InventoryView {
    let side = |side: &InventorySide| SideView { cluster: side.cluster.clone(), warehouse: side.warehouse.clone() };
    InventoryView {
        id: inventory.id,
        state: inventory.state,
        requested_by: inventory.requested_by.clone(),
        baseline: side(&inventory.plan.baseline),
        candidate: side(&inventory.plan.candidate),
        level: inventory.plan.level,
        tables_filter: inventory.plan.tables.clone(),
        partitions_filter: inventory.plan.partitions.clone(),
        progress: InventoryProgressView {
            tables: inventory.listed.map(|(tables, _)| tables),
            partitions: inventory.listed.map(|(_, partitions)| partitions),
            partitions_done: inventory.partitions_done,
        },
        attempts: inventory.attempts,
        verdict: inventory.verdict,
        error: inventory.error.clone(),
        summary: inventory.report.as_ref().and_then(|report| report.get("summary")).cloned(),
        tables: (with_tables && inventory.report.is_some()).then(|| report_tables(&inventory)),
        created_at: inventory.created_at,
        finished_at: inventory.finished_at,
        url: state.link(&format!("/inventories/{}", inventory.id)),
        page_url: format!("{}/inventories/{}", state.inner.public_url, inventory.id),
    }
}
