//! The REST API under `/api/v1` (DESIGN.md, "Service contract"), served by axum.
//!
//! Every route is registered through utoipa-axum's `routes!`, so the OpenAPI document at
//! `/api/v1/openapi.json` is generated from the same handlers the router serves and cannot
//! miss one. Errors are JSON `{"error": "..."}` with a precise message; a malformed body is
//! 400, a body that parses but does not fit is 422, a body over `api.max_body` is 413.
//!
//! Authentication: `Authorization: Bearer <token>`; tokens are configured as SHA-256 digests
//! with a role ([`AccessRole`](crate::config::AccessRole)). Without a valid token a request gets 401 (unless
//! `api.anonymous_role` is set); a role below the route's gets 403. `/healthz`, `/readyz` and
//! `/metrics` are open.

mod auth;
mod diffs;
mod error;
mod export_rows;
mod gates;
mod gating;
mod inventories;
mod locations;
mod ops;
mod reports;
mod tables;
pub mod ui;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use tokio::sync::watch;
use utoipa::OpenApi as _;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::config::{Config, ConfigError};
use crate::store::Store;
use crate::telemetry::Telemetry;

use auth::BearerScheme;
pub use auth::{hash_token, new_token};
pub use error::ApiError;

/// What every handler shares.
#[derive(Debug, Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: Store,
    config: Arc<Config>,
    telemetry: Arc<Telemetry>,
    tokens: Vec<auth::Token>,
    public_url: String,
    /// The gating model last read, reused while its version holds.
    gating: std::sync::Mutex<Option<Arc<gates::Snapshot>>>,
    /// The overview and the DAG document last computed, reused while their inputs hold.
    computed: gates::Computed,
}

impl AppState {
    /// The state of a router over `store`.
    pub fn new(store: Store, config: Arc<Config>, telemetry: Arc<Telemetry>) -> Result<Self, ConfigError> {
        let tokens = auth::tokens(&config)?;
        let public_url = config.public_url();
        let gating = std::sync::Mutex::default();
        let computed = gates::Computed::default();
        Ok(Self { inner: Arc::new(Inner { store, config, telemetry, tokens, public_url, gating, computed }) })
    }

    fn store(&self) -> &Store {
        &self.inner.store
    }

    fn config(&self) -> &Config {
        &self.inner.config
    }

    fn link(&self, path: &str) -> String {
        format!("{}/api/v1{path}", self.inner.public_url)
    }
}

#[derive(utoipa::OpenApi)]
#[openapi(
    info(title = "dqc", description = "Dual-run consistency verifier: on-demand diffs, reports, the table registry, gating."),
    modifiers(&BearerScheme),
    tags(
        (name = "diffs", description = "On-demand diffs"),
        (name = "reports", description = "Stored reports and their differing rows"),
        (name = "tables", description = "The table registry"),
        (name = "intake", description = "Task-finished events and dead letters"),
        (name = "inventories", description = "Whole warehouses compared partition by partition (dqc inventory)"),
        (name = "gating", description = "The migration DAG, transitions between workflow states, and the overview"),
        (name = "operations", description = "Health, readiness, metrics")
    )
)]
struct ApiDoc;

/// Every route, with its OpenAPI entry.
fn routes() -> OpenApiRouter<AppState> {
    let api = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(diffs::create))
        .routes(routes!(diffs::get))
        .routes(routes!(diffs::cancel))
        .routes(routes!(inventories::create, inventories::list))
        .routes(routes!(inventories::get))
        .routes(routes!(inventories::partitions))
        .routes(routes!(inventories::cancel))
        .routes(routes!(reports::list))
        .routes(routes!(reports::get))
        .routes(routes!(reports::rows))
        .routes(routes!(tables::list))
        .routes(routes!(tables::get, tables::put, tables::delete))
        .routes(routes!(tables::changes))
        .routes(routes!(ops::post_event))
        .routes(routes!(ops::dead_letters))
        .routes(routes!(ops::dead_letter, ops::delete_dead_letter))
        .routes(routes!(ops::resend_notification))
        .routes(routes!(gating::get_workflow, gating::put_workflow, gating::delete_workflow))
        .routes(routes!(gating::get_task, gating::put_task, gating::delete_task))
        .routes(routes!(gates::transition))
        .routes(routes!(gates::transitions))
        .routes(routes!(gates::overview_page))
        .routes(routes!(gates::rerun_warnings))
        // The whole DAG is larger than other bodies: its own limit, set inside the general one.
        .merge(
            OpenApiRouter::new()
                .routes(routes!(gating::get_dag, gating::put_dag))
                .layer(DefaultBodyLimit::max(gating::MAX_DAG_BODY)),
        );
    let open =
        OpenApiRouter::new().routes(routes!(ops::healthz)).routes(routes!(ops::readyz)).routes(routes!(ops::metrics));
    OpenApiRouter::new().nest("/api/v1", api).merge(open)
}

/// The OpenAPI document, as `/api/v1/openapi.json` serves it (`dqc openapi` prints it).
pub fn openapi() -> utoipa::openapi::OpenApi {
    with_document_route(routes().into_openapi())
}

fn with_document_route(mut doc: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    doc.paths.paths.insert("/api/v1/openapi.json".to_owned(), ops::openapi_path_item());
    with_common_responses(&mut doc);
    doc
}

/// Answers any operation may give, documented on each: a path or query that does not parse
/// (400), a query value out of range (422, when it takes a query), a body too large or not
/// JSON (413, 415, when it takes one), the store unavailable
/// or the service's limits reached (503).
fn with_common_responses(doc: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
    let error = |description: &str| {
        let content = ContentBuilder::new().schema(Some(Ref::from_schema_name("ErrorBody"))).build();
        RefOr::T(ResponseBuilder::new().description(description).content("application/json", content).build())
    };
    for item in doc.paths.paths.values_mut() {
        let operations = [&mut item.get, &mut item.put, &mut item.post, &mut item.delete, &mut item.patch];
        for operation in operations.into_iter().flatten() {
            let body = operation.request_body.is_some();
            let query = operation.parameters.iter().flatten().any(|parameter| {
                matches!(parameter, RefOr::T(parameter) if matches!(parameter.parameter_in, utoipa::openapi::path::ParameterIn::Query))
            });
            let responses = &mut operation.responses.responses;
            if query {
                responses.entry("422".into()).or_insert_with(|| error("A query value out of its range"));
            }
            responses.entry("400".into()).or_insert_with(|| error("A path or query value that does not parse"));
            if body {
                responses.entry("413".into()).or_insert_with(|| error("The body is larger than api.max_body"));
                responses.entry("415".into()).or_insert_with(|| error("The body is not application/json"));
            }
            responses.entry("503".into()).or_insert_with(|| {
                error("The store is unavailable (an error id names the log entry), or api.request_timeout or api.max_concurrent_requests was reached")
            });
        }
    }
}

/// The router and the OpenAPI document generated from it.
pub fn router(state: AppState) -> Result<(Router, utoipa::openapi::OpenApi), ConfigError> {
    let state_config = Arc::clone(&state.inner.config);
    let state_for_pages = state.clone();
    let (router, doc) =
        routes().layer(DefaultBodyLimit::max(state.config().api.max_body.bytes())).with_state(state).split_for_parts();
    let doc = with_document_route(doc);
    let json = Arc::new(doc.to_pretty_json().unwrap_or_default());
    let router = router
        .route(
            "/api/v1/openapi.json",
            axum::routing::get(move || {
                let json = Arc::clone(&json);
                async move { ([(axum::http::header::CONTENT_TYPE, "application/json")], (*json).clone()) }
            }),
        )
        .merge(ui::routes().with_state(state_for_pages))
        .fallback(|uri: axum::http::Uri| async move {
            use axum::response::IntoResponse as _;
            if uri.path().starts_with("/api/") {
                ApiError::not_found("no such route").into_response()
            } else {
                ui::not_found()
            }
        })
        .layer(axum::middleware::from_fn(ui::page_headers))
        .layer(axum::middleware::from_fn(ui::browser_links));
    let api = &state_config.api;
    Ok((limited(router, api.request_timeout, api.max_concurrent_requests), doc))
}

/// `router` behind [`Limits`].
fn limited(router: Router, timeout: std::time::Duration, max_in_progress: usize) -> Router {
    let limits = Arc::new(Limits { timeout, in_progress: tokio::sync::Semaphore::new(max_in_progress) });
    router.layer(axum::middleware::from_fn(move |request, next| {
        let limits = Arc::clone(&limits);
        async move { limits.apply(request, next).await }
    }))
}

/// The service edge's limits: how long a request may take and how many may be in progress.
/// Past either, the answer is 503 with a message that says which.
struct Limits {
    timeout: std::time::Duration,
    in_progress: tokio::sync::Semaphore,
}

impl Limits {
    async fn apply(&self, request: axum::extract::Request, next: axum::middleware::Next) -> axum::response::Response {
        use axum::response::IntoResponse as _;
        let unavailable = |message: String| ApiError::new(axum::http::StatusCode::SERVICE_UNAVAILABLE, message);
        let Ok(_permit) = self.in_progress.try_acquire() else {
            return unavailable("too many requests in progress (api.max_concurrent_requests); retry shortly".into())
                .into_response();
        };
        match tokio::time::timeout(self.timeout, next.run(request)).await {
            Ok(response) => response,
            Err(_) => unavailable(format!(
                "the request took longer than api.request_timeout ({})",
                humantime::format_duration(self.timeout)
            ))
            .into_response(),
        }
    }
}

/// Serves the API on `listener` until `shutdown` turns true; open connections finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    mut shutdown: watch::Receiver<bool>,
) -> std::io::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(async move {
            while !*shutdown.borrow() {
                if shutdown.changed().await.is_err() {
                    break;
                }
            }
        })
        .await
}

/// A page of a list.
#[derive(Debug, Clone, Copy, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct Page {
    /// At most this many items (1-1000, default 50).
    limit: Option<i64>,
    /// Skip this many items.
    offset: Option<i64>,
}

impl Page {
    fn checked(self) -> Result<(i64, i64), ApiError> {
        let limit = self.limit.unwrap_or(50);
        let offset = self.offset.unwrap_or(0);
        if !(1..=1000).contains(&limit) {
            return Err(ApiError::invalid(format!("limit must be 1 to 1000, not {limit}")));
        }
        if offset < 0 {
            return Err(ApiError::invalid(format!("offset must not be negative, not {offset}")));
        }
        Ok((limit, offset))
    }
}

#[cfg(test)]
mod limits_tests {
    use std::time::Duration;

    use axum::http::StatusCode;
    use tower::ServiceExt as _;

    use super::*;

    fn slow() -> Router {
        Router::new().route(
            "/slow",
            axum::routing::get(|| async {
                tokio::time::sleep(Duration::from_millis(300)).await;
                "done"
            }),
        )
    }

    async fn status(router: Router) -> StatusCode {
        let request = axum::http::Request::get("/slow").body(axum::body::Body::empty()).unwrap();
        router.oneshot(request).await.unwrap().status()
    }

    #[tokio::test]
    async fn a_slow_request_is_cut_at_the_timeout_and_one_too_many_is_turned_away() {
        assert_eq!(status(limited(slow(), Duration::from_millis(50), 4)).await, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(status(limited(slow(), Duration::from_secs(5), 4)).await, StatusCode::OK);
        let router = limited(slow(), Duration::from_secs(5), 1);
        let first = tokio::spawn(status(router.clone()));
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(status(router.clone()).await, StatusCode::SERVICE_UNAVAILABLE, "the second while the first runs");
        assert_eq!(first.await.unwrap(), StatusCode::OK);
        assert_eq!(status(router).await, StatusCode::OK, "and again once it is done");
    }
}
