//! The table registry: `GET /tables`, `GET|PUT|DELETE /tables/{name}`.

use axum::extract::State;
use axum::http::StatusCode;
use chrono::Utc;

use super::auth::{Admin, Caller, Operator, Viewer};
use super::error::{Body, ErrorBody, Path};
use super::{ApiError, AppState};
use crate::config::{TableConfig, validate_table};
use crate::store::RegistryChange;

#[utoipa::path(get, path = "/tables", operation_id = "list_tables", tag = "tables", security(("bearer" = [])),
    responses(
        (status = 200, description = "Every registered table, by name", body = Vec<TableConfig>),
        (status = 401, description = "No valid token", body = ErrorBody)
    ))]
pub(crate) async fn list(
    State(state): State<AppState>,
    _caller: Caller<Viewer>,
) -> Result<axum::Json<Vec<TableConfig>>, ApiError> {
    Ok(axum::Json(state.store().tables().await?))
}

#[utoipa::path(get, path = "/tables/{name}", operation_id = "get_table", tag = "tables", security(("bearer" = [])),
    params(("name" = String, Path, description = "`db.table`")),
    responses(
        (status = 200, description = "The table's registration", body = TableConfig),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "Not registered", body = ErrorBody)
    ))]
pub(crate) async fn get(
    State(state): State<AppState>,
    _caller: Caller<Viewer>,
    Path(name): Path<String>,
) -> Result<axum::Json<TableConfig>, ApiError> {
    let table = state.store().table(&name).await?;
    table.map(axum::Json).ok_or_else(|| ApiError::not_found(format!("table `{name}` is not registered")))
}

#[utoipa::path(put, path = "/tables/{name}", operation_id = "put_table", tag = "tables", security(("bearer" = [])),
    params(("name" = String, Path, description = "`db.table`")),
    request_body(content = TableConfig, description = "The registration; `name` may be left out"),
    responses(
        (status = 200, description = "Replaced", body = TableConfig),
        (status = 201, description = "Registered", body = TableConfig),
        (status = 400, description = "Malformed body", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Role too low", body = ErrorBody),
        (status = 422, description = "Invalid registration", body = ErrorBody)
    ))]
pub(crate) async fn put(
    State(state): State<AppState>,
    caller: Caller<Operator>,
    Path(name): Path<String>,
    Body(body): Body<serde_json::Value>,
) -> Result<(StatusCode, axum::Json<TableConfig>), ApiError> {
    let (existed, table) = register(&state, &caller.name, &name, body).await?;
    Ok((if existed { StatusCode::OK } else { StatusCode::CREATED }, axum::Json(table)))
}

/// Registers `name` as `body` (a registration as JSON; `name` may be left out) for `by` (the
/// API's and the pages'): whether it was registered before, and the registration.
pub(crate) async fn register(
    state: &AppState,
    by: &str,
    name: &str,
    mut body: serde_json::Value,
) -> Result<(bool, TableConfig), ApiError> {
    let object = body.as_object_mut().ok_or_else(|| ApiError::invalid("the registration must be a JSON object"))?;
    match object.get("name") {
        None => {
            object.insert("name".into(), name.into());
        }
        Some(given) if given.as_str() == Some(name) => {}
        Some(given) => return Err(ApiError::invalid(format!("the body names {given}, the path `{name}`"))),
    }
    let table: TableConfig =
        serde_json::from_value(body).map_err(|error| ApiError::invalid(format!("invalid registration: {error}")))?;
    validate_table(&table).map_err(ApiError::invalid)?;
    let sinks = &state.config().notifications.sinks;
    if let Some(sink) = table.sinks.iter().find(|sink| !sinks.iter().any(|known| &&known.name == sink)) {
        return Err(ApiError::invalid(format!("no notification sink is named `{sink}`")));
    }
    let store = state.store();
    let existed = store.table(name).await?.is_some();
    store.register_by(&table, by, Utc::now()).await?;
    tracing::info!(table = %name, by = %by, "table registered");
    Ok((existed, table))
}

#[utoipa::path(delete, path = "/tables/{name}", operation_id = "delete_table", tag = "tables", security(("bearer" = [])),
    params(("name" = String, Path, description = "`db.table`")),
    responses(
        (status = 204, description = "Unregistered; its reports stay"),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Role too low (admin only)", body = ErrorBody),
        (status = 404, description = "Not registered", body = ErrorBody)
    ))]
pub(crate) async fn delete(
    State(state): State<AppState>,
    caller: Caller<Admin>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    if !state.store().unregister_by(&name, &caller.name, Utc::now()).await? {
        return Err(ApiError::not_found(format!("table `{name}` is not registered")));
    }
    tracing::info!(table = %name, by = %caller.name, "table unregistered");
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/table-changes/{name}", operation_id = "table_changes", tag = "tables", security(("bearer" = [])),
    params(("name" = String, Path, description = "`db.table`")),
    responses(
        (status = 200, description = "Every change of its registration, oldest first: who, when, before, after; kept after the table is unregistered", body = Vec<RegistryChange>),
        (status = 401, description = "No valid token", body = ErrorBody)
    ))]
pub(crate) async fn changes(
    State(state): State<AppState>,
    _caller: Caller<Viewer>,
    Path(name): Path<String>,
) -> Result<axum::Json<Vec<RegistryChange>>, ApiError> {
    Ok(axum::Json(state.store().registry_changes(&name).await?))
}
