//! Intake and operations: `POST /events`, dead letters, `/healthz`, `/readyz`, `/metrics`.

use std::sync::atomic::Ordering;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use chrono::Utc;
use collector::store::{Delivery, Source};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;
use serde::Serialize;

use super::auth::{Admin, Caller, Operator};
use super::error::{ErrorBody, Path, Query, RawBody};
use super::{ApiError, AppState, Page};
use crate::store::StoredDeadLetter;

/// What `POST /events` did with an event.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct EventAccepted {
    /// The event's id.
    event_id: String,
    /// True when the event had been recorded before (nothing changed).
    duplicate: bool,
}

#[utoipa::path(post, path = "/events", operation_id = "post_event", tag = "intake", security(("bearer" = [])),
    request_body(content = Object, description = "A task-finished event (DESIGN.md, \"Event contract\")", content_type = "application/json"),
    responses(
        (status = 202, description = "Recorded (or already recorded)", body = EventAccepted),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Role too low", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 422, description = "Not a valid event; kept as a dead letter of topic `http`", body = ErrorBody),
        (status = 503, description = "The store is unavailable; nothing was recorded, send it again", body = ErrorBody)
    ))]
pub(crate) async fn post_event(
    State(state): State<AppState>,
    _caller: Caller<Operator>,
    RawBody(body): RawBody,
) -> Result<impl IntoResponse, ApiError> {
    let clusters = state.config().clusters().map_err(|error| ApiError::internal(&error))?;
    let delivery = collector::consumer::validate(&body, &clusters, Source::http());
    // The event's id, or why it was refused.
    let checked = match &delivery {
        Delivery::Event { event, .. } => Ok(event.event_id.clone()),
        Delivery::DeadLetter(dead) => Err(dead.reason.clone()),
    };
    let accepted = state.store().accept_at(std::slice::from_ref(&delivery), Utc::now()).await?;
    state.inner.telemetry.count(&accepted);
    let event_id =
        checked.map_err(|reason| ApiError::invalid(format!("not a valid event (kept as a dead letter): {reason}")))?;
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(EventAccepted { event_id: event_id.to_string(), duplicate: accepted.duplicates > 0 }),
    ))
}

#[utoipa::path(get, path = "/dead-letters", operation_id = "list_dead_letters", tag = "intake", security(("bearer" = [])), params(Page),
    responses(
        (status = 200, description = "Dead letters, oldest first", body = Vec<StoredDeadLetter>),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Role too low", body = ErrorBody),
        (status = 422, description = "limit or offset out of range", body = ErrorBody)
    ))]
pub(crate) async fn dead_letters(
    State(state): State<AppState>,
    _caller: Caller<Operator>,
    Query(page): Query<Page>,
) -> Result<axum::Json<Vec<StoredDeadLetter>>, ApiError> {
    let (limit, offset) = page.checked()?;
    Ok(axum::Json(state.store().dead_letters_page(limit, offset).await?))
}

#[utoipa::path(get, path = "/dead-letters/{id}", operation_id = "get_dead_letter", tag = "intake", security(("bearer" = [])),
    params(("id" = i64, Path, description = "The dead letter's id")),
    responses(
        (status = 200, description = "The dead letter", body = StoredDeadLetter),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Role too low", body = ErrorBody),
        (status = 404, description = "No such dead letter", body = ErrorBody)
    ))]
pub(crate) async fn dead_letter(
    State(state): State<AppState>,
    _caller: Caller<Operator>,
    Path(id): Path<i64>,
) -> Result<axum::Json<StoredDeadLetter>, ApiError> {
    let letter = state.store().dead_letter(id).await?;
    letter.map(axum::Json).ok_or_else(|| ApiError::not_found(format!("no dead letter {id}")))
}

#[utoipa::path(delete, path = "/dead-letters/{id}", operation_id = "delete_dead_letter", tag = "intake", security(("bearer" = [])),
    params(("id" = i64, Path, description = "The dead letter's id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Role too low (admin only)", body = ErrorBody),
        (status = 404, description = "No such dead letter", body = ErrorBody)
    ))]
pub(crate) async fn delete_dead_letter(
    State(state): State<AppState>,
    caller: Caller<Admin>,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    if !state.store().delete_dead_letter(id).await? {
        return Err(ApiError::not_found(format!("no dead letter {id}")));
    }
    tracing::info!(dead_letter = id, by = %caller.name, "dead letter deleted");
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/notifications/{id}/resend", operation_id = "resend_notification", tag = "reports", security(("bearer" = [])),
    params(("id" = i64, Path, description = "The notification's id (listed in its report's `notifications`)")),
    responses(
        (status = 202, description = "Queued again, as new: retried for notifications.retry_for"),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Role too low", body = ErrorBody),
        (status = 404, description = "No such notification", body = ErrorBody),
        (status = 409, description = "Not given up (pending, being sent, or sent)", body = ErrorBody)
    ))]
pub(crate) async fn resend_notification(
    State(state): State<AppState>,
    caller: Caller<Operator>,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    match state.store().resend_notification(id, Utc::now()).await? {
        Some(true) => {
            tracing::info!(notification = id, by = %caller.name, "notification queued again");
            Ok(StatusCode::ACCEPTED)
        }
        Some(false) => {
            Err(ApiError::conflict(format!("notification {id} was not given up; only failed ones are resent")))
        }
        None => Err(ApiError::not_found(format!("no notification {id}"))),
    }
}

/// Liveness or readiness.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct Health {
    /// `ok`, or `unavailable`.
    status: &'static str,
    /// The store answers (readiness only).
    #[serde(skip_serializing_if = "Option::is_none")]
    store: Option<bool>,
    /// The Kafka consumer runs (or none is configured) and the intake's store has not failed
    /// 5 times in a row (readiness only).
    #[serde(skip_serializing_if = "Option::is_none")]
    consumer: Option<bool>,
}

#[utoipa::path(get, path = "/healthz", operation_id = "healthz", tag = "operations",
    responses((status = 200, description = "The process is alive", body = Health)))]
pub(crate) async fn healthz() -> axum::Json<Health> {
    axum::Json(Health { status: "ok", store: None, consumer: None })
}

#[utoipa::path(get, path = "/readyz", operation_id = "readyz", tag = "operations",
    responses(
        (status = 200, description = "The store answers and the consumer runs", body = Health),
        (status = 503, description = "Not ready", body = Health)
    ))]
pub(crate) async fn readyz(State(state): State<AppState>) -> (StatusCode, axum::Json<Health>) {
    let store = state.store().ping().await;
    let telemetry = &state.inner.telemetry;
    let consumer = telemetry.consumer_running.load(Ordering::Relaxed)
        && telemetry.intake_failures_in_a_row.load(Ordering::Relaxed) < crate::telemetry::INTAKE_FAILURES_UNREADY;
    let ready = store && consumer;
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    let body =
        Health { status: if ready { "ok" } else { "unavailable" }, store: Some(store), consumer: Some(consumer) };
    (status, axum::Json(body))
}

#[utoipa::path(get, path = "/metrics", operation_id = "metrics", tag = "operations",
    responses(
        (status = 200, description = "Prometheus metrics (OpenMetrics text)", body = String, content_type = "application/openmetrics-text"),
        (status = 503, description = "The store is unavailable", body = ErrorBody)
    ))]
pub(crate) async fn metrics(State(state): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    let stats = state.store().stats().await?;
    let telemetry = &state.inner.telemetry;
    let load = |counter: &std::sync::atomic::AtomicU64| counter.load(Ordering::Relaxed);
    let mut registry = Registry::with_prefix("dqc");
    let events = Family::<Vec<(String, String)>, Counter>::default();
    for (outcome, counter) in [
        ("accepted", &telemetry.events_accepted),
        ("duplicate", &telemetry.events_duplicate),
        ("dead_letter", &telemetry.events_dead_letter),
    ] {
        events.get_or_create(&vec![("outcome".to_owned(), outcome.to_owned())]).inc_by(load(counter));
    }
    registry.register("events_consumed", "Events consumed by this process (Kafka and HTTP), by outcome", events);
    let jobs = Family::<Vec<(String, String)>, prometheus_client::metrics::gauge::Gauge>::default();
    jobs.get_or_create(&vec![("state".to_owned(), "queued".to_owned())]).set(stats.jobs_queued);
    jobs.get_or_create(&vec![("state".to_owned(), "running".to_owned())]).set(stats.jobs_running);
    registry.register("jobs", "Diff jobs in the store, by state", jobs);
    registry.register(
        "intake_store_failures",
        "Batches of events the store failed to take (each is retried or split)",
        ConstCounter::new(load(&telemetry.intake_failures)),
    );
    registry.register(
        "intake_store_failures_in_a_row",
        "Intake store failures since the last stored batch; /readyz fails at 5",
        ConstGauge::new(load(&telemetry.intake_failures_in_a_row) as i64),
    );
    registry.register("open_pairs", "Pairs waiting for their other side", ConstGauge::new(stats.open_pairs));
    registry.register("dead_letters", "Dead letters in the store", ConstGauge::new(stats.dead_letters));
    registry.register(
        "rows_diffed",
        "Rows read by diffs in this process (both sides, both passes); its rate is rows diffed per second",
        ConstCounter::new(load(&telemetry.rows_diffed)),
    );
    registry.register(
        "notification_failures",
        "Notification deliveries that failed in this process",
        ConstCounter::new(load(&telemetry.notification_failures)),
    );
    registry.register(
        "notifications_sent",
        "Notifications delivered by this process",
        ConstCounter::new(load(&telemetry.notifications_sent)),
    );
    registry.register(
        "notifications_pending",
        "Notifications not delivered yet",
        ConstGauge::new(stats.notifications_pending),
    );
    registry.register(
        "notifications_given_up",
        "Notifications given up after every attempt",
        ConstGauge::new(stats.notifications_failed),
    );
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry).map_err(|error| ApiError::internal(&error))?;
    Ok(([(axum::http::header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], text))
}

/// The OpenAPI entry of `/api/v1/openapi.json` itself (served outside the generated router).
pub(super) fn openapi_path_item() -> utoipa::openapi::PathItem {
    use utoipa::openapi::path::{HttpMethod, OperationBuilder};
    use utoipa::openapi::{ContentBuilder, ObjectBuilder, ResponseBuilder};
    let response = ResponseBuilder::new()
        .description("This document")
        .content("application/json", ContentBuilder::new().schema(Some(ObjectBuilder::new().build())).build())
        .build();
    let operation = OperationBuilder::new()
        .tag("operations")
        .summary(Some("The OpenAPI document of this API"))
        .operation_id(Some("openapi"))
        .response("200", response)
        .build();
    utoipa::openapi::PathItem::new(HttpMethod::Get, operation)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use tower::ServiceExt as _;

    use super::*;
    use crate::telemetry::{INTAKE_FAILURES_UNREADY, Telemetry};

    #[tokio::test]
    async fn readiness_fails_after_repeated_intake_store_failures() {
        let dir = tempfile::tempdir().unwrap();
        let text = format!(
            "[[clusters]]\nname = \"a\"\nrole = \"baseline\"\nlocation = \"file:///data/{{cluster}}/{{table}}\"\n\n\
             [[clusters]]\nname = \"b\"\nrole = \"candidate\"\nlocation = \"file:///data/{{cluster}}/{{table}}\"\n\n\
             [store]\nurl = \"sqlite://{}\"\n",
            dir.path().join("dqc.db").display()
        );
        let config = Arc::new(crate::config::parse(&text, "test", &Default::default()).unwrap());
        let store = crate::service::open_store(&config).await.unwrap();
        let telemetry = Arc::new(Telemetry::default());
        telemetry.consumer_running.store(true, Ordering::Relaxed);
        let (router, _) = crate::rest::router(AppState::new(store, config, Arc::clone(&telemetry)).unwrap()).unwrap();
        let ready = || async {
            let request = axum::http::Request::get("/readyz").body(axum::body::Body::empty()).unwrap();
            router.clone().oneshot(request).await.unwrap().status()
        };
        assert_eq!(ready().await, StatusCode::OK);
        telemetry.intake_failures_in_a_row.store(INTAKE_FAILURES_UNREADY - 1, Ordering::Relaxed);
        assert_eq!(ready().await, StatusCode::OK);
        telemetry.intake_failures_in_a_row.store(INTAKE_FAILURES_UNREADY, Ordering::Relaxed);
        assert_eq!(ready().await, StatusCode::SERVICE_UNAVAILABLE);
        telemetry.intake_failures_in_a_row.store(0, Ordering::Relaxed);
        assert_eq!(ready().await, StatusCode::OK, "ready again once a batch is stored");
    }
}
