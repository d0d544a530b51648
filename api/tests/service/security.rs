//! The attacks of the security review, each as it was found: over real HTTP and through Kafka,
//! on SQLite and on PostgreSQL. Each fails without its fix: the event-location ones read the
//! dataset outside the roots (a consistent report instead of a refusal), the name ones queue a
//! job reading `..`, the poison ones stop intake on PostgreSQL.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use api::store::{ReportFilter, Store, StoredReport, Verdict};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::sync::watch;

use crate::rest::{Harness, OPERATOR, Running, on_each_engine};
use crate::support::{Broker, event, wait_until, write_table};

/// The latest report of `dw.same` for `run`, once there is one.
async fn report_of(store: &Store, run: &str) -> StoredReport {
    let filter =
        ReportFilter { table: Some("dw.same".into()), run_id: Some(run.into()), limit: Some(1), ..Default::default() };
    wait_until(&format!("the report of run {run}"), Duration::from_secs(60), || async {
        !store.reports(&filter).await.unwrap().is_empty()
    })
    .await;
    let id = store.reports(&filter).await.unwrap()[0].id;
    store.report(id).await.unwrap().unwrap()
}

/// An event of `dw.same` for `run` whose output names `location`.
fn located(id: &str, cluster: &str, run: &str, location: &str) -> String {
    let mut event: Value = serde_json::from_str(&event(id, cluster, "dw.same", run, 1, "succeeded")).unwrap();
    event["outputs"][0]["location"] = location.into();
    event.to_string()
}

/// Events that name places outside the roots, each for its own run, with the reason each
/// report must give; and the runs whose locations are allowed, which must diff as usual.
struct Escapes {
    /// `(run, candidate location, reason the report gives)`.
    refused: Vec<(String, String, String)>,
    /// `(run, candidate location)` under the cluster's event_roots.
    allowed: Vec<(String, String)>,
}

/// Lays out, under `root`: a copy of the candidate's `dw.same` outside every root (a diff that
/// read it would be consistent), a link to it inside the candidate's warehouse, a copy under
/// the candidate's event root, and the baseline of every run.
fn escapes(root: &Path) -> Escapes {
    let source = |run: &str| root.join(format!("cloud-emr/warehouse/dw.db/same/dt={run}"));
    let outside = root.join("outside/same");
    std::fs::create_dir_all(&outside).unwrap();
    write_table(root, "cloud-emr", "same", "copy", 500, 0);
    std::fs::copy(source("copy").join("000000_0"), outside.join("000000_0")).unwrap();
    let link = root.join("cloud-emr/warehouse/dw.db/linked");
    std::os::unix::fs::symlink(&outside, &link).unwrap();
    let staged = root.join("staging/same");
    std::fs::create_dir_all(&staged).unwrap();
    std::fs::copy(source("copy").join("000000_0"), staged.join("000000_0")).unwrap();
    let warehouse = root.join("cloud-emr/warehouse");
    let not_under = "is refused: it is not under the warehouse root or the event_roots of cluster `cloud-emr`";
    let refused = vec![
        ("outside", outside.display().to_string(), not_under.to_owned()),
        ("outside-url", format!("file://{}", outside.display()), not_under.to_owned()),
        ("missing", root.join("outside/missing").display().to_string(), not_under.to_owned()),
        ("dotdot", format!("file://{}/%2e%2e/%2e%2e/outside/same", warehouse.display()), not_under.to_owned()),
        ("etc", "/etc".to_owned(), not_under.to_owned()),
        (
            "link",
            link.display().to_string(),
            "is refused: a symbolic link under it leads outside the warehouse root".to_owned(),
        ),
    ];
    let refused = refused.into_iter().map(|(run, location, reason)| (run.to_owned(), location, reason)).collect();
    let allowed = vec![("staged".to_owned(), staged.display().to_string())];
    for run in ["outside", "outside-url", "missing", "dotdot", "etc", "link", "staged"] {
        write_table(root, "idc-hadoop", "same", run, 500, 0);
    }
    Escapes { refused, allowed }
}

impl Escapes {
    fn events(&self) -> Vec<String> {
        let mut events = Vec::new();
        let all = self.refused.iter().map(|(run, location, _)| (run, location));
        for (run, location) in all.chain(self.allowed.iter().map(|(run, location)| (run, location))) {
            events.push(event(&format!("b-{run}"), "idc-hadoop", "dw.same", run, 1, "succeeded"));
            events.push(located(&format!("c-{run}"), "cloud-emr", run, location));
        }
        events
    }

    async fn check(&self, store: &Store) {
        for (run, location, reason) in &self.refused {
            let report = report_of(store, run).await;
            let got = report.reason.clone().unwrap_or_default();
            assert_eq!(report.verdict, Verdict::Error, "{run}: {location} must not be read: {got}");
            assert!(got.contains(location.as_str()) && got.contains(reason.as_str()), "{run}: {got}");
            assert_eq!(store.jobs(Some("dw.same")).await.unwrap().iter().filter(|job| job.attempts > 1).count(), 0);
        }
        for (run, location) in &self.allowed {
            let report = report_of(store, run).await;
            assert_eq!(report.verdict, Verdict::Consistent, "{run}: {location}: {:?}", report.reason);
            assert_eq!(report.report["candidate"]["location_source"], "event");
            assert_eq!(report.report["baseline"]["location_source"], "template");
        }
    }
}

/// Names that would climb out of the template, control characters and oversize ids: each is a
/// dead letter naming the field, never a job.
fn bad_names() -> Vec<(String, &'static str)> {
    let with = |field: &str, value: Value| {
        let mut event: Value =
            serde_json::from_str(&event("bad", "cloud-emr", "dw.same", "2024-05-01", 1, "succeeded")).unwrap();
        match field {
            "table" => event["outputs"][0]["table"] = value,
            "partition" => event["outputs"][0]["partition"]["dt"] = value,
            other => event[other] = value,
        }
        event.to_string()
    };
    vec![
        (with("table", json!("x.%2e%2e/%2e%2e/%2e%2e/outside")), "contains `%`"),
        (with("table", json!("dw...")), "is not `db.table`"),
        (with("partition", json!("2024-05-01%2f..%2f..")), "partition.dt contains `%`"),
        (with("partition", json!("..")), "partition.dt starts with `.`"),
        (with("event_id", json!("e\u{0}1")), "event_id contains the control character U+0000"),
        (with("run_id", json!("2024\u{0}")), "run_id contains the control character U+0000"),
        (with("event_id", json!("e".repeat(4096))), "event_id is 4096 bytes long"),
        (with("cluster", json!("cloud-emr\u{0}")), "cluster contains the control character U+0000"),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_locations_and_names_cannot_leave_the_roots_over_http() {
    on_each_engine(event_locations_and_names_cannot_leave_the_roots_over_http_on).await;
}

async fn event_locations_and_names_cannot_leave_the_roots_over_http_on(store: Option<String>) {
    let harness = Harness::start_on("", store).await;
    let escapes = escapes(&harness.root);
    let running = Running::start(harness.config.clone()).await;
    let client = reqwest::Client::new();
    let post = |body: String| {
        let request = client
            .post(format!("{}/api/v1/events", running.url))
            .header("authorization", format!("Bearer {OPERATOR}"))
            .header("content-type", "application/json")
            .body(body);
        async move {
            let response = request.send().await.unwrap();
            (response.status(), response.json::<Value>().await.unwrap())
        }
    };
    for (body, message) in bad_names() {
        let (status, answer) = post(body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
        assert!(answer["error"].as_str().unwrap().contains(message), "{message}: {answer}");
    }
    for body in escapes.events() {
        let (status, answer) = post(body).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    }
    escapes.check(&harness.store).await;
    assert_eq!(harness.store.dead_letters().await.unwrap().len(), bad_names().len());
    let queued = harness.store.jobs(None).await.unwrap();
    assert_eq!(queued.len(), escapes.refused.len() + escapes.allowed.len(), "no bad name became a job");
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn escapes_and_poison_messages_through_kafka_never_stop_intake() {
    on_each_engine(escapes_and_poison_messages_through_kafka_never_stop_intake_on).await;
}

async fn escapes_and_poison_messages_through_kafka_never_stop_intake_on(store: Option<String>) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("data");
    let escapes = escapes(&root);
    let broker = Broker::start(1).await;
    let database = dir.path().join("dqc.db");
    let mut text = crate::collector_e2e::config_text(&root, &broker, &database);
    if let Some(url) = &store {
        text = text.replace(&format!("sqlite://{}", database.display()), url);
    }
    let config = api::config::parse(&text, "test", &BTreeMap::new()).unwrap();
    let store = api::service::open_store(&config).await.unwrap();
    let (stop, shutdown) = watch::channel(false);
    let service = tokio::spawn(api::service::run(config, shutdown));
    // The poison first, in one batch with what follows: intake must go on past it.
    let mut payloads: Vec<String> = bad_names().into_iter().map(|(body, _)| body).collect();
    payloads.extend(escapes.events());
    broker.produce(&payloads).await;
    escapes.check(&store).await;
    let letters = store.dead_letters().await.unwrap();
    assert_eq!(letters.len(), bad_names().len());
    for (_, message) in bad_names() {
        assert!(letters.iter().any(|letter| letter.reason.contains(message)), "{message}: {letters:?}");
    }
    stop.send(true).unwrap();
    service.await.unwrap().unwrap();
}
