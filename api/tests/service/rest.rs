//! The REST API: in-process (`oneshot`) and over real HTTP on port 0; most tests run both ways.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use api::config::Config;
use api::rest::AppState;
use api::store::Store;
use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::support::{clusters_toml, event, wait_until, write_table};

pub(crate) const VIEWER: &str = "viewer-secret";
pub(crate) const OPERATOR: &str = "operator-secret";
pub(crate) const ADMIN: &str = "admin-secret";
const RUN: &str = "2024-05-01";

/// Every route with the least role it needs (`None`: open).
pub(crate) const ROUTES: &[(&str, &str, Option<&str>)] = &[
    ("POST", "/api/v1/diffs", Some(OPERATOR)),
    ("GET", "/api/v1/diffs/{id}", Some(VIEWER)),
    ("POST", "/api/v1/diffs/{id}/cancel", Some(OPERATOR)),
    ("POST", "/api/v1/inventories", Some(OPERATOR)),
    ("GET", "/api/v1/inventories", Some(VIEWER)),
    ("GET", "/api/v1/inventories/{id}", Some(VIEWER)),
    ("GET", "/api/v1/inventories/{id}/partitions", Some(VIEWER)),
    ("POST", "/api/v1/inventories/{id}/cancel", Some(OPERATOR)),
    ("GET", "/api/v1/reports", Some(VIEWER)),
    ("GET", "/api/v1/reports/{id}", Some(VIEWER)),
    ("GET", "/api/v1/reports/{id}/rows", Some(VIEWER)),
    ("GET", "/api/v1/tables", Some(VIEWER)),
    ("GET", "/api/v1/tables/{name}", Some(VIEWER)),
    ("PUT", "/api/v1/tables/{name}", Some(OPERATOR)),
    ("DELETE", "/api/v1/tables/{name}", Some(ADMIN)),
    ("GET", "/api/v1/table-changes/{name}", Some(VIEWER)),
    ("POST", "/api/v1/notifications/{id}/resend", Some(OPERATOR)),
    ("POST", "/api/v1/events", Some(OPERATOR)),
    ("GET", "/api/v1/dead-letters", Some(OPERATOR)),
    ("GET", "/api/v1/dead-letters/{id}", Some(OPERATOR)),
    ("DELETE", "/api/v1/dead-letters/{id}", Some(ADMIN)),
    ("GET", "/api/v1/gating/dag", Some(VIEWER)),
    ("PUT", "/api/v1/gating/dag", Some(OPERATOR)),
    ("GET", "/api/v1/gating/workflows/{id}", Some(VIEWER)),
    ("PUT", "/api/v1/gating/workflows/{id}", Some(OPERATOR)),
    ("DELETE", "/api/v1/gating/workflows/{id}", Some(ADMIN)),
    ("POST", "/api/v1/gating/workflows/{id}/transitions", Some(OPERATOR)),
    ("GET", "/api/v1/gating/tasks/{id}", Some(VIEWER)),
    ("PUT", "/api/v1/gating/tasks/{id}", Some(OPERATOR)),
    ("DELETE", "/api/v1/gating/tasks/{id}", Some(ADMIN)),
    ("GET", "/api/v1/gating/transitions", Some(VIEWER)),
    ("GET", "/api/v1/gating/overview", Some(VIEWER)),
    ("GET", "/api/v1/gating/rerun-warnings", Some(VIEWER)),
    ("GET", "/healthz", None),
    ("GET", "/readyz", None),
    ("GET", "/metrics", None),
    ("GET", "/api/v1/openapi.json", None),
];

/// A configured service over a temporary directory: tables `dw.same` (equal) and
/// `dw.changed` (3 rows differ), an allowed root with a dataset, and a secret one outside.
pub(crate) struct Harness {
    pub(crate) _dir: tempfile::TempDir,
    pub(crate) root: PathBuf,
    pub(crate) config: Config,
    pub(crate) store: Store,
    pub(crate) router: Router,
    /// The base URL when requests go over real HTTP; in-process (`oneshot`) without one.
    pub(crate) http: Option<String>,
}

pub(crate) fn config_text(root: &Path, extra: &str, store: &str) -> String {
    let hash = api::rest::hash_token;
    format!(
        r#"{clusters}
allowed_roots = ["{allowed}"]
max_body = "64KiB"
tokens = [
  {{ name = "viewer", role = "viewer", sha256 = "{viewer}" }},
  {{ name = "operator", role = "operator", sha256 = "{operator}" }},
  {{ name = "admin", role = "admin", sha256 = "{admin}" }},
]

[store]
url = "{store}"

[runner]
poll_interval = "50ms"
retry_backoff = "200ms"
export_dir = "{exports}"

[pairing]
sweep_interval = "100ms"

{extra}

[[tables]]
name = "dw.same"
key = ["id"]

[[tables]]
name = "dw.changed"
key = ["id"]
owners = ["owner@example.com", "data-team"]
options = {{ sample = 2 }}
"#,
        clusters = clusters_toml(root),
        allowed = root.join("exports").display(),
        viewer = hash(VIEWER),
        operator = hash(OPERATOR),
        admin = hash(ADMIN),
        exports = root.join("diff-exports").display(),
    )
}

/// Runs `test` with the URL of a SQLite file (`None`), then of a fresh PostgreSQL schema when
/// `DQC_TEST_POSTGRES_URL` is set.
pub(crate) async fn on_each_engine<F, Fut>(test: F)
where
    F: Fn(Option<String>) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    test(None).await;
    if let Some(schema) = crate::support::PostgresSchema::create().await {
        test(Some(schema.url.clone())).await;
        schema.drop().await;
    }
}

impl Harness {
    pub(crate) async fn start(extra: &str) -> Self {
        Self::start_on(extra, None).await
    }

    /// On the store at `store`, or on a SQLite file of its own.
    pub(crate) async fn start_on(extra: &str, store: Option<String>) -> Self {
        crate::support::init_tracing();
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        let store = store.unwrap_or_else(|| format!("sqlite://{}", root.join("dqc.db").display()));
        for cluster in ["idc-hadoop", "cloud-emr"] {
            write_table(&root, cluster, "same", RUN, 500, 0);
            write_table(&root, cluster, "changed", RUN, 500, if cluster == "cloud-emr" { 3 } else { 0 });
        }
        // Datasets under the allowed root, and a secret one outside it.
        write_table(&root, "exports", "orders", RUN, 100, 0);
        write_table(&root, "secret", "orders", RUN, 100, 0);
        std::fs::create_dir_all(root.join("diff-exports")).unwrap();
        let config = api::config::parse(&config_text(&root, extra, &store), "test", &Default::default()).unwrap();
        let store = api::service::open_store(&config).await.unwrap();
        let state = AppState::new(store.clone(), Arc::new(config.clone()), Arc::default()).unwrap();
        let (router, _) = api::rest::router(state).unwrap();
        Self { _dir: dir, root, config, store, router, http: None }
    }

    pub(crate) fn exports(&self) -> PathBuf {
        self.root.join(format!("exports/warehouse/dw.db/orders/dt={RUN}"))
    }

    pub(crate) fn secret(&self) -> PathBuf {
        self.root.join(format!("secret/warehouse/dw.db/orders/dt={RUN}"))
    }

    /// Serves the router on a real port and sends every [`Self::call`] there, when `http`.
    pub(crate) async fn over(mut self, http: bool) -> Self {
        if http {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            self.http = Some(format!("http://{}", listener.local_addr().unwrap()));
            let router = self.router.clone();
            tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        }
        self
    }

    /// One request, in-process or over HTTP; the status and the body (JSON, or a string).
    pub(crate) async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&str>,
    ) -> (StatusCode, Value) {
        if let Some(url) = &self.http {
            return call_http(url, method, path, token, body).await;
        }
        let mut request = Request::builder().method(Method::from_bytes(method.as_bytes()).unwrap()).uri(path);
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        if body.is_some() {
            request = request.header("content-type", "application/json");
        }
        let request = request.body(Body::from(body.unwrap_or_default().to_owned())).unwrap();
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let value =
            serde_json::from_slice(&bytes).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()));
        (status, value)
    }
}

async fn call_http(
    url: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> (StatusCode, Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut request = reqwest::Client::new().request(method, format!("{url}{path}"));
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    if let Some(body) = body {
        request = request.header("content-type", "application/json").body(body.to_owned());
    }
    let response = request.send().await.unwrap();
    let status = StatusCode::from_u16(response.status().as_u16()).unwrap();
    let bytes = response.bytes().await.unwrap();
    let value =
        serde_json::from_slice(&bytes).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()));
    (status, value)
}

fn concrete(path: &str) -> String {
    path.replace("{id}", "1").replace("{name}", "dw.other")
}

#[tokio::test]
async fn every_route_refuses_missing_or_wrong_tokens_and_lower_roles() {
    for http in [false, true] {
        every_route_refuses_missing_or_wrong_tokens_and_lower_roles_with(Harness::start("").await.over(http).await)
            .await;
    }
}

async fn every_route_refuses_missing_or_wrong_tokens_and_lower_roles_with(harness: Harness) {
    let roles = [VIEWER, OPERATOR, ADMIN];
    for (method, path, needed) in ROUTES {
        let path = concrete(path);
        let body = (*method != "GET" && *method != "DELETE").then_some("{}");
        let Some(needed) = needed else {
            let (status, answer) = harness.call(method, &path, None, body).await;
            // `/readyz` is 503 here: no consumer flag was raised for this bare router.
            assert!(status == StatusCode::OK || path == "/readyz", "{method} {path} is open: {status} {answer}");
            continue;
        };
        let (status, error) = harness.call(method, &path, None, body).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {path} without a token: {error}");
        assert!(error["error"].as_str().unwrap().contains("Bearer"), "{error}");
        let (status, _) = harness.call(method, &path, Some("not-a-token"), body).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {path} with a wrong token");
        let least = roles.iter().position(|role| role == needed).unwrap();
        for (rank, token) in roles.iter().enumerate() {
            let (status, answer) = harness.call(method, &path, Some(token), body).await;
            if rank < least {
                assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path} as {token}: {answer}");
                assert!(answer["error"].as_str().unwrap().contains("this route needs"), "{answer}");
            } else {
                assert!(
                    status != StatusCode::FORBIDDEN && status != StatusCode::UNAUTHORIZED,
                    "{method} {path} as {token} is allowed, got {status}: {answer}"
                );
            }
        }
    }
    // A malformed header is refused as such.
    let request = Request::get("/api/v1/reports").header("authorization", "Basic abc").body(Body::empty()).unwrap();
    let response = harness.router.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
}

#[tokio::test]
async fn the_anonymous_role_reads_but_does_not_write() {
    let harness = Harness::start("").await;
    let mut config = harness.config.clone();
    config.api.anonymous_role = Some(api::config::AccessRole::Viewer);
    let state = AppState::new(harness.store.clone(), Arc::new(config), Arc::default()).unwrap();
    let (router, _) = api::rest::router(state).unwrap();
    let harness = Harness { router, ..harness };
    assert_eq!(harness.call("GET", "/api/v1/reports", None, None).await.0, StatusCode::OK);
    let (status, error) = harness.call("POST", "/api/v1/diffs", None, Some("{}")).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{error}");
    // The pages too: read without signing in.
    let (status, page) = harness.call("GET", "/reports", None, None).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.as_str().unwrap().contains("<h1>Reports</h1>"), "{page}");
}

#[tokio::test]
async fn malformed_oversize_and_invalid_requests_get_precise_errors() {
    for http in [false, true] {
        malformed_oversize_and_invalid_requests_get_precise_errors_with(Harness::start("").await.over(http).await)
            .await;
    }
}

async fn malformed_oversize_and_invalid_requests_get_precise_errors_with(harness: Harness) {
    let post = |body: &'static str| harness.call("POST", "/api/v1/diffs", Some(OPERATOR), Some(body));
    let cases: Vec<(&str, StatusCode, &str)> = vec![
        ("{\"table\": ", StatusCode::BAD_REQUEST, "not valid JSON"),
        ("{\"table\": 42}", StatusCode::UNPROCESSABLE_ENTITY, "invalid type"),
        ("{\"table\": \"dw.same\", \"colour\": 1}", StatusCode::UNPROCESSABLE_ENTITY, "unknown field `colour`"),
        ("{\"partition\": {}}", StatusCode::UNPROCESSABLE_ENTITY, "missing field `table`"),
        ("{\"table\": \"dw.nope\"}", StatusCode::UNPROCESSABLE_ENTITY, "table `dw.nope` is not registered"),
        (
            "{\"table\": \"dw.same\", \"partition\": {\"dt\": \"../x\"}}",
            StatusCode::UNPROCESSABLE_ENTITY,
            "partition.dt contains `/`",
        ),
        (
            "{\"table\": \"dw.same\", \"partition\": {\"dt\": null}}",
            StatusCode::UNPROCESSABLE_ENTITY,
            "must be a string",
        ),
        (
            "{\"table\": \"dw.same\", \"partition\": {\"d/t\": 1}}",
            StatusCode::UNPROCESSABLE_ENTITY,
            "partition column contains `/`",
        ),
    ];
    for (body, status, message) in cases {
        let (got, answer) = post(body).await;
        assert_eq!(got, status, "{body}: {answer}");
        assert!(answer["error"].as_str().unwrap().contains(message), "{body}: {answer}");
    }
    // Not JSON at all, or too large.
    let request = Request::post("/api/v1/diffs")
        .header("authorization", format!("Bearer {OPERATOR}"))
        .body(Body::from("table=dw.same"))
        .unwrap();
    assert_eq!(harness.router.clone().oneshot(request).await.unwrap().status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let huge = format!("{{\"table\": \"{}\"}}", "x".repeat(100 * 1024));
    let (status, answer) = harness.call("POST", "/api/v1/diffs", Some(OPERATOR), Some(&huge)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{answer}");
    assert!(answer["error"].as_str().unwrap().contains("api.max_body"), "{answer}");
    let (status, answer) = harness.call("POST", "/api/v1/events", Some(OPERATOR), Some(&huge)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{answer}");
    // Paths and queries.
    for (path, status, message) in [
        ("/api/v1/diffs/abc", StatusCode::BAD_REQUEST, "invalid path"),
        ("/api/v1/reports?verdict=fine", StatusCode::BAD_REQUEST, "unknown variant `fine`"),
        ("/api/v1/reports?limit=many", StatusCode::BAD_REQUEST, "invalid query"),
        ("/api/v1/reports?limit=0", StatusCode::UNPROCESSABLE_ENTITY, "limit must be 1 to 1000"),
        ("/api/v1/reports?offset=-1", StatusCode::UNPROCESSABLE_ENTITY, "offset must not be negative"),
        ("/api/v1/reports?colour=red", StatusCode::BAD_REQUEST, "unknown field `colour`"),
        ("/api/v1/diffs/999", StatusCode::NOT_FOUND, "no diff 999"),
        ("/api/v1/reports/999", StatusCode::NOT_FOUND, "no report 999"),
        ("/api/v1/reports/999/rows", StatusCode::NOT_FOUND, "no report 999"),
        ("/api/v1/tables/dw.nope", StatusCode::NOT_FOUND, "not registered"),
        ("/api/v1/dead-letters/999", StatusCode::NOT_FOUND, "no dead letter 999"),
        ("/api/v1/nowhere", StatusCode::NOT_FOUND, "no such route"),
    ] {
        let (got, answer) = harness.call("GET", path, Some(ADMIN), None).await;
        assert_eq!(got, status, "{path}: {answer}");
        assert!(answer["error"].as_str().unwrap().contains(message), "{path}: {answer}");
    }
    let (status, _) = harness.call("PATCH", "/api/v1/reports", Some(ADMIN), None).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(harness.store.jobs(None).await.unwrap().is_empty(), "no refused request queued a diff");
}

#[tokio::test]
async fn explicit_locations_outside_the_allowed_roots_are_refused_before_any_file_is_read() {
    for http in [false, true] {
        explicit_locations_outside_the_allowed_roots_are_refused_before_any_file_is_read_with(
            Harness::start("").await.over(http).await,
        )
        .await;
    }
}

async fn explicit_locations_outside_the_allowed_roots_are_refused_before_any_file_is_read_with(harness: Harness) {
    let exports = harness.exports();
    let secret = harness.secret();
    let allowed_root = harness.root.join("exports");
    // A link inside the root to the secret dataset, and a dataset with one linked file.
    std::os::unix::fs::symlink(&secret, allowed_root.join("link")).unwrap();
    let mixed = allowed_root.join("mixed");
    std::fs::create_dir_all(&mixed).unwrap();
    std::fs::copy(exports.join("000000_0"), mixed.join("000000_0")).unwrap();
    std::os::unix::fs::symlink(secret.join("000000_0"), mixed.join("000001_0")).unwrap();
    let allowed = allowed_root.display().to_string();
    let refused = [
        secret.display().to_string(),
        format!("{allowed}/../secret/warehouse/dw.db/orders/dt={RUN}"),
        format!("file://{allowed}/%2e%2e/secret/warehouse/dw.db/orders/dt={RUN}"),
        format!("file://{allowed}/%2E%2E/secret"),
        format!("{allowed}/./warehouse"),
        format!("{allowed}/link"),
        format!("file://{allowed}/link"),
        mixed.display().to_string(),
        "/etc/passwd".to_owned(),
        "exports/warehouse".to_owned(),
        format!("{allowed}-sibling/data"),
        format!("file://elsewhere.example{allowed}/warehouse"),
        "s3://bucket/warehouse/orders".to_owned(),
        "hdfs://namenode/warehouse/orders".to_owned(),
    ];
    for location in &refused {
        for side in ["baseline_location", "candidate_location"] {
            let body = json!({ "table": "dw.same", "partition": {"dt": RUN}, side: location }).to_string();
            let (status, answer) = harness.call("POST", "/api/v1/diffs", Some(OPERATOR), Some(&body)).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{side} {location}: {answer}");
            assert!(answer["error"].as_str().unwrap().contains(location.as_str()), "names the location: {answer}");
        }
    }
    assert!(harness.store.jobs(None).await.unwrap().is_empty(), "no refused location was queued");
    // Inside the root, as a path and as a URL: queued, with the canonical path.
    for location in [exports.display().to_string(), format!("file://{}", exports.display())] {
        let body = json!({ "table": "dw.same", "partition": {"dt": RUN}, "candidate_location": location }).to_string();
        let (status, answer) = harness.call("POST", "/api/v1/diffs", Some(OPERATOR), Some(&body)).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{location}: {answer}");
    }
    let (status, answer) = harness
        .call(
            "POST",
            "/api/v1/diffs",
            Some(OPERATOR),
            Some(&json!({"table": "dw.same", "candidate_location": format!("{allowed}/missing")}).to_string()),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    assert_eq!(harness.store.jobs(None).await.unwrap().len(), 2);
}

#[tokio::test]
async fn the_table_registry_is_read_written_and_deleted_by_role() {
    for http in [false, true] {
        the_table_registry_is_read_written_and_deleted_by_role_with(Harness::start("").await.over(http).await).await;
    }
}

async fn the_table_registry_is_read_written_and_deleted_by_role_with(harness: Harness) {
    let (status, tables) = harness.call("GET", "/api/v1/tables", Some(VIEWER), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(tables.as_array().unwrap().len(), 2);
    let body = r#"{"key": ["id"], "owners": ["a@example.com"], "deadline": "2h", "options": {"ignore": ["etl_time"]}, "notify": "always"}"#;
    let (status, table) = harness.call("PUT", "/api/v1/tables/dw.new", Some(OPERATOR), Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{table}");
    assert_eq!(table["name"], "dw.new");
    assert_eq!(table["deadline"], "2h");
    let (status, _) = harness.call("PUT", "/api/v1/tables/dw.new", Some(OPERATOR), Some(body)).await;
    assert_eq!(status, StatusCode::OK, "a second PUT replaces");
    let (status, table) = harness.call("GET", "/api/v1/tables/dw.new", Some(VIEWER), None).await;
    assert_eq!((status, table["owners"].clone()), (StatusCode::OK, json!(["a@example.com"])));
    for (body, message) in [
        (r#"{"name": "dw.other", "key": ["id"]}"#, "the path `dw.new`"),
        (r#"{"key": "id"}"#, "invalid registration"),
        (r#"{"key": [""]}"#, "key column name is empty"),
        (r#"{"sinks": ["pager"]}"#, "no notification sink is named `pager`"),
        (r#"{"options": {"abs_tol": -1}}"#, "tolerance"),
        (r#"[1]"#, "must be a JSON object"),
    ] {
        let (status, answer) = harness.call("PUT", "/api/v1/tables/dw.new", Some(OPERATOR), Some(body)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {answer}");
        assert!(answer["error"].as_str().unwrap().contains(message), "{body}: {answer}");
    }
    assert_eq!(harness.call("DELETE", "/api/v1/tables/dw.new", Some(OPERATOR), None).await.0, StatusCode::FORBIDDEN);
    assert_eq!(harness.call("DELETE", "/api/v1/tables/dw.new", Some(ADMIN), None).await.0, StatusCode::NO_CONTENT);
    assert_eq!(harness.call("DELETE", "/api/v1/tables/dw.new", Some(ADMIN), None).await.0, StatusCode::NOT_FOUND);
    assert_eq!(harness.call("GET", "/api/v1/tables/dw.new", Some(VIEWER), None).await.0, StatusCode::NOT_FOUND);
    // Every change is recorded: who, before, after.
    let (status, changes) = harness.call("GET", "/api/v1/table-changes/dw.new", Some(VIEWER), None).await;
    assert_eq!(status, StatusCode::OK);
    let changes = changes.as_array().unwrap();
    assert!(changes.len() >= 2, "{changes:?}");
    assert_eq!((changes[0]["actor"].clone(), changes[0]["before"].clone()), (json!("operator"), Value::Null));
    let last = changes.last().unwrap();
    assert_eq!((last["actor"].clone(), last["after"].clone()), (json!("admin"), Value::Null));
    assert_eq!(last["before"]["name"], "dw.new");
}

#[tokio::test]
async fn events_posted_over_http_are_recorded_once_and_bad_ones_kept_as_dead_letters() {
    on_each_engine(events_posted_over_http_are_recorded_once_and_bad_ones_kept_as_dead_letters_on).await;
}

async fn events_posted_over_http_are_recorded_once_and_bad_ones_kept_as_dead_letters_on(store: Option<String>) {
    let harness = Harness::start_on("", store).await.over(true).await;
    let good = event("http-1", "idc-hadoop", "dw.same", RUN, 1, "succeeded");
    let (status, answer) = harness.call("POST", "/api/v1/events", Some(OPERATOR), Some(&good)).await;
    assert_eq!((status, answer.clone()), (StatusCode::ACCEPTED, json!({"event_id": "http-1", "duplicate": false})));
    let (status, answer) = harness.call("POST", "/api/v1/events", Some(OPERATOR), Some(&good)).await;
    assert_eq!((status, answer["duplicate"].clone()), (StatusCode::ACCEPTED, json!(true)));
    let unknown = event("http-2", "on-prem", "dw.same", RUN, 1, "succeeded");
    for bad in ["{\"event_id\": ", unknown.as_str()] {
        let (status, answer) = harness.call("POST", "/api/v1/events", Some(OPERATOR), Some(bad)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
        assert!(answer["error"].as_str().unwrap().contains("dead letter"), "{answer}");
    }
    assert_eq!(harness.store.event_count().await.unwrap(), 1);
    let (status, letters) = harness.call("GET", "/api/v1/dead-letters?limit=10", Some(OPERATOR), None).await;
    assert_eq!(status, StatusCode::OK);
    let letters = letters.as_array().unwrap().clone();
    assert_eq!(letters.len(), 2);
    assert!(letters.iter().all(|letter| letter["topic"] == "http"), "{letters:?}");
    assert!(letters[1]["reason"].as_str().unwrap().contains("on-prem"), "{letters:?}");
    let id = letters[0]["id"].as_i64().unwrap();
    let (status, letter) = harness.call("GET", &format!("/api/v1/dead-letters/{id}"), Some(OPERATOR), None).await;
    assert_eq!((status, letter["payload"].clone()), (StatusCode::OK, json!("{\"event_id\": ")));
    assert_eq!(
        harness.call("DELETE", &format!("/api/v1/dead-letters/{id}"), Some(OPERATOR), None).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        harness.call("DELETE", &format!("/api/v1/dead-letters/{id}"), Some(ADMIN), None).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        harness.call("GET", &format!("/api/v1/dead-letters/{id}"), Some(OPERATOR), None).await.0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn health_readiness_and_metrics() {
    for http in [false, true] {
        health_readiness_and_metrics_with(Harness::start("").await.over(http).await).await;
    }
}

async fn health_readiness_and_metrics_with(harness: Harness) {
    let (status, health) = harness.call("GET", "/healthz", None, None).await;
    assert_eq!((status, health), (StatusCode::OK, json!({"status": "ok"})));
    let (status, ready) = harness.call("GET", "/readyz", None, None).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "this router's consumer flag was never raised: {ready}");
    assert_eq!(ready, json!({"status": "unavailable", "store": true, "consumer": false}));
    let (status, metrics) = harness.call("GET", "/metrics", None, None).await;
    assert_eq!(status, StatusCode::OK);
    let metrics = metrics.as_str().unwrap();
    for line in [
        "dqc_events_consumed_total{outcome=\"accepted\"} 0",
        "dqc_jobs{state=\"queued\"} 0",
        "dqc_open_pairs 0",
        "dqc_rows_diffed_total 0",
        "dqc_notification_failures_total 0",
        "# EOF",
    ] {
        assert!(metrics.contains(line), "`{line}` in\n{metrics}");
    }
    harness.store.close().await;
    let (status, ready) = harness.call("GET", "/readyz", None, None).await;
    assert_eq!((status, ready["store"].clone()), (StatusCode::SERVICE_UNAVAILABLE, json!(false)));
    assert_eq!(harness.call("GET", "/metrics", None, None).await.0, StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn the_openapi_document_lists_every_route_and_its_references_resolve() {
    for http in [false, true] {
        the_openapi_document_lists_every_route_and_its_references_resolve_with(
            Harness::start("").await.over(http).await,
        )
        .await;
    }
}

async fn the_openapi_document_lists_every_route_and_its_references_resolve_with(harness: Harness) {
    let (status, document) = harness.call("GET", "/api/v1/openapi.json", None, None).await;
    assert_eq!(status, StatusCode::OK);
    let parsed: oas3::Spec = serde_json::from_value(document.clone()).expect("a valid OpenAPI 3.1 document");
    let printed = serde_json::to_value(api::rest::openapi()).unwrap();
    assert_eq!(printed, document, "`dqc openapi` prints what the API serves");
    assert!(parsed.openapi.starts_with("3.1"), "{}", parsed.openapi);
    let mut documented = Vec::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            documented.push((method.to_uppercase(), path.clone()));
        }
    }
    documented.sort();
    let mut routes: Vec<(String, String)> = ROUTES.iter().map(|(m, p, _)| ((*m).to_owned(), (*p).to_owned())).collect();
    routes.sort();
    assert_eq!(documented, routes, "the document lists exactly the routes");
    // Every operation has a unique id and its responses; every $ref resolves.
    let mut ids = std::collections::BTreeSet::new();
    for item in document["paths"].as_object().unwrap().values() {
        for operation in item.as_object().unwrap().values() {
            assert!(ids.insert(operation["operationId"].as_str().unwrap().to_owned()), "{operation}");
            assert!(operation["responses"].as_object().is_some_and(|r| !r.is_empty()), "{operation}");
        }
    }
    let mut references = Vec::new();
    collect_refs(&document, &mut references);
    assert!(!references.is_empty());
    for reference in references {
        let pointer = reference.strip_prefix('#').unwrap();
        assert!(document.pointer(pointer).is_some(), "{reference} resolves");
    }
    // Every documented route is served (not the fallback's 404, not 405).
    for (method, path) in &routes {
        let (status, answer) = harness.call(method, &concrete(path), Some(ADMIN), Some("{}")).await;
        assert!(
            status != StatusCode::METHOD_NOT_ALLOWED && answer["error"] != "no such route",
            "{method} {path} is routed: {status} {answer}"
        );
    }
}

fn collect_refs(value: &Value, into: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(reference)) = map.get("$ref") {
                into.push(reference.clone());
            }
            map.values().for_each(|value| collect_refs(value, into));
        }
        Value::Array(items) => items.iter().for_each(|value| collect_refs(value, into)),
        _ => {}
    }
}

/// The service on a real port.
pub(crate) struct Running {
    pub(crate) url: String,
    stop: tokio::sync::watch::Sender<bool>,
    handle: tokio::task::JoinHandle<Result<(), api::error::Error>>,
}

impl Running {
    pub(crate) async fn start(config: Config) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (stop, shutdown) = tokio::sync::watch::channel(false);
        let handle = tokio::spawn(api::service::run_on(config, listener, shutdown));
        Self { url, stop, handle }
    }

    pub(crate) async fn stop(self) {
        self.stop.send(true).unwrap();
        self.handle.await.unwrap().unwrap();
    }
}

#[tokio::test]
async fn on_demand_diffs_run_to_reports_with_pages_of_rows_over_real_http() {
    on_each_engine(on_demand_diffs_run_to_reports_with_pages_of_rows_over_real_http_on).await;
}

async fn on_demand_diffs_run_to_reports_with_pages_of_rows_over_real_http_on(store: Option<String>) {
    let harness = Harness::start_on("", store).await;
    let running = Running::start(harness.config.clone()).await;
    let client = reqwest::Client::new();
    let url = &running.url;
    let operator = format!("Bearer {OPERATOR}");
    let get = |path: String| {
        let client = client.clone();
        async move {
            let response = client.get(path).header("authorization", format!("Bearer {VIEWER}")).send().await.unwrap();
            (response.status(), response.json::<Value>().await.unwrap())
        }
    };
    let mut ids = Vec::new();
    for table in ["dw.changed", "dw.same"] {
        let response = client
            .post(format!("{url}/api/v1/diffs"))
            .header("authorization", &operator)
            .json(&json!({"table": table, "partition": {"dt": RUN}, "run_id": RUN}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), reqwest::StatusCode::ACCEPTED);
        let location = response.headers()["location"].to_str().unwrap().to_owned();
        let created: Value = response.json().await.unwrap();
        assert!(location.ends_with(&format!("/api/v1/diffs/{}", created["id"])), "{location}");
        ids.push(created["id"].as_i64().unwrap());
    }
    for id in &ids {
        wait_until("the diff is done", Duration::from_secs(60), || async {
            get(format!("{url}/api/v1/diffs/{id}")).await.1["state"] == "done"
        })
        .await;
    }
    let (_, diff) = get(format!("{url}/api/v1/diffs/{}", ids[0])).await;
    assert_eq!(diff["report"]["verdict"], "inconsistent", "{diff}");
    assert_eq!(diff["report"]["summary"]["changed"], 3, "{diff}");
    assert_eq!(diff["origin"], "on_demand");
    let report_url = diff["report_url"].as_str().unwrap().to_owned();
    // The list: filters and pages.
    let (status, page) = get(format!("{url}/api/v1/reports?limit=1")).await;
    assert_eq!(status, reqwest::StatusCode::OK);
    assert_eq!((page["total"].clone(), page["reports"].as_array().unwrap().len()), (json!(2), 1));
    let (_, second) = get(format!("{url}/api/v1/reports?limit=1&offset=1")).await;
    assert!(page["reports"][0]["id"].as_i64() > second["reports"][0]["id"].as_i64(), "newest first: {page} {second}");
    assert_ne!(page["reports"][0]["table"], second["reports"][0]["table"]);
    let (_, filtered) = get(format!("{url}/api/v1/reports?verdict=inconsistent&table=dw.changed&run_id={RUN}")).await;
    assert_eq!(filtered["total"], 1, "{filtered}");
    assert_eq!(filtered["reports"][0]["summary"]["changed"], 3);
    let (_, none) = get(format!("{url}/api/v1/reports?partition=dt%3D1999-01-01")).await;
    assert_eq!(none["total"], 0);
    // The detail and its differing rows, two pages.
    let (status, detail) = get(report_url.clone()).await;
    assert_eq!(status, reqwest::StatusCode::OK, "{detail}");
    assert_eq!(detail["report"]["table"], "dw.changed");
    let rows_url = detail["rows_url"].as_str().unwrap().to_owned();
    let (_, first) = get(format!("{rows_url}?limit=2")).await;
    assert_eq!((first["total"].clone(), first["rows"].as_array().unwrap().len()), (json!(3), 2), "{first}");
    let (_, rest) = get(format!("{rows_url}?limit=2&offset=2")).await;
    assert_eq!(rest["rows"].as_array().unwrap().len(), 1, "{rest}");
    let row = &rest["rows"][0];
    assert_eq!(row["kind"], "changed", "{row}");
    assert_ne!(row["baseline_value"], row["candidate_value"], "{row}");
    rows_pages(url, &harness.store, detail["id"].as_i64().unwrap()).await;
    let same_report = get(format!("{url}/api/v1/diffs/{}", ids[1])).await.1["report_id"].as_i64().unwrap();
    let (status, _) = get(format!("{url}/api/v1/reports/{same_report}/rows")).await;
    assert_eq!(status, reqwest::StatusCode::NOT_FOUND, "a consistent report has no rows");
    // Metrics count the rows the diffs read.
    let metrics = client.get(format!("{url}/metrics")).send().await.unwrap().text().await.unwrap();
    let rows: u64 = metrics
        .lines()
        .find_map(|line| line.strip_prefix("dqc_rows_diffed_total "))
        .and_then(|value| value.parse().ok())
        .unwrap_or(0);
    assert!(rows >= 2000, "both sides of both tables were read at least once: {metrics}");
    running.stop().await;
}

/// The report's page and its rows' pages, through a signed link (as a notification gives).
async fn rows_pages(url: &str, store: &Store, id: i64) {
    let key = api::rest::ui::links::key(store).await.unwrap();
    let link = api::rest::ui::links::query(&key, id, chrono::Utc::now().timestamp() + 60);
    let page = |path: String| async move { reqwest::get(path).await.unwrap().text().await.unwrap() };
    let report = page(format!("{url}/reports/{id}?{link}")).await;
    let rows_link = format!("/reports/{id}/rows?{link}");
    assert!(report.contains(&rows_link.replace('&', "&#38;")) || report.contains(&rows_link), "{report}");
    let rows = page(format!("{url}{rows_link}")).await;
    assert!(rows.contains("Rows 1 to 3 of 3.") && rows.matches("<h3>changed</h3>").count() == 3, "{rows}");
    assert!(rows.contains("<dt>value</dt>") && rows.contains("<ins>"), "the changed cells, marked: {rows}");
    let other = reqwest::get(format!("{url}/reports/{}/rows?{link}", id + 1)).await.unwrap();
    assert_eq!(other.status(), reqwest::StatusCode::FORBIDDEN, "a link opens its own report's rows only");
}

#[tokio::test]
async fn a_cancelled_diff_is_let_go_by_its_runner_and_cannot_be_cancelled_twice() {
    on_each_engine(a_cancelled_diff_is_let_go_by_its_runner_and_cannot_be_cancelled_twice_on).await;
}

async fn a_cancelled_diff_is_let_go_by_its_runner_and_cannot_be_cancelled_twice_on(store: Option<String>) {
    let harness = Harness::start_on("", store).await;
    let store = &harness.store;
    let body = json!({"table": "dw.same", "partition": {"dt": RUN}}).to_string();
    let mut ids = Vec::new();
    for _ in 0..2 {
        let (status, created) = harness.call("POST", "/api/v1/diffs", Some(OPERATOR), Some(&body)).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{created}");
        ids.push(created["id"].as_i64().unwrap());
    }
    // The second one is running on another instance (no runner runs in this test).
    let lease = Duration::from_secs(60);
    let claimed = store.claim("elsewhere", chrono::Utc::now(), lease, true).await.unwrap().unwrap();
    assert_eq!(claimed.id, ids[0], "oldest first");
    let (_, running) = harness.call("GET", &format!("/api/v1/diffs/{}", ids[0]), Some(VIEWER), None).await;
    assert_eq!(running["state"], "running");
    for id in &ids {
        let (status, cancelled) =
            harness.call("POST", &format!("/api/v1/diffs/{id}/cancel"), Some(OPERATOR), None).await;
        assert_eq!((status, cancelled["state"].clone()), (StatusCode::OK, json!("cancelled")), "{cancelled}");
        let (status, again) = harness.call("POST", &format!("/api/v1/diffs/{id}/cancel"), Some(OPERATOR), None).await;
        assert_eq!(status, StatusCode::CONFLICT, "{again}");
        assert!(again["error"].as_str().unwrap().contains("already ended (cancelled)"), "{again}");
    }
    // The running diff's next heartbeat fails, so its runner abandons it, and its result
    // would not be written.
    assert!(!store.heartbeat(claimed.id, "elsewhere", chrono::Utc::now(), lease).await.unwrap());
    let report = api::store::NewReport {
        verdict: api::store::Verdict::Consistent,
        reason: None,
        report: json!({}),
        export_path: None,
    };
    assert!(!store.finish(&claimed, "elsewhere", &report, chrono::Utc::now()).await.unwrap());
    assert!(store.claim("dqc", chrono::Utc::now(), lease, true).await.unwrap().is_none(), "nothing left to run");
    let (status, _) = harness.call("POST", "/api/v1/diffs/424242/cancel", Some(OPERATOR), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
