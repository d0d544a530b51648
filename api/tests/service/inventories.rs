//! Inventories run by the service: `POST /api/v1/inventories` over real HTTP, the runner, the
//! stored result (the warehouse and its tables, a table's partitions), the pages, the reports
//! to the owners of tables that are not consistent (through a webhook), the request's checks,
//! progress and cancellation (also of an inventory stuck on a metastore that does not answer),
//! and resuming from the partitions an earlier attempt finished.

use std::time::Duration;

use api::store::InventoryState;
use axum::http::StatusCode;
use chrono::Utc;
use serde_json::{Value, json};
use verifier::inventory::{PartitionInventory, PartitionSide, PartitionVerdict, SchemaChanges};

use crate::notify::{Receiver, start_http};
use crate::pages::{get, sign_in};
use crate::rest::{ADMIN, Harness, OPERATOR, Running, VIEWER, on_each_engine};
use crate::support::{wait_until, write_table};

const RUN: &str = "2024-05-01";

/// A request over real HTTP to the running service: the status and the JSON body.
async fn call(url: &str, method: reqwest::Method, path: &str, token: &str, body: Option<Value>) -> (u16, Value) {
    let mut request = reqwest::Client::new().request(method, format!("{url}/api/v1{path}")).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn post(url: &str, body: Value) -> (u16, Value) {
    call(url, reqwest::Method::POST, "/inventories", OPERATOR, Some(body)).await
}

async fn inventory(url: &str, id: i64) -> Value {
    call(url, reqwest::Method::GET, &format!("/inventories/{id}"), VIEWER, None).await.1
}

async fn wait_done(url: &str, id: i64) -> Value {
    wait_until("the inventory ends", Duration::from_secs(60), || async {
        !matches!(inventory(url, id).await["state"].as_str(), Some("queued" | "running"))
    })
    .await;
    inventory(url, id).await
}

fn table<'a>(inventory: &'a Value, name: &str) -> &'a Value {
    inventory["tables"].as_array().unwrap().iter().find(|t| t["name"] == name).unwrap_or_else(|| panic!("{inventory}"))
}

#[tokio::test]
async fn an_inventory_runs_in_the_service_is_shown_and_reported_to_the_owners() {
    on_each_engine(an_inventory_runs_on).await;
}

async fn an_inventory_runs_on(store: Option<String>) {
    let receiver = Receiver::taking();
    let hooks = start_http(receiver.clone()).await;
    let extra = format!(
        "[notifications]\npoll_interval = \"50ms\"\n\n[[notifications.sinks]]\nname = \"hook\"\nkind = \"webhook\"\nurl = \"{hooks}/hook\"\n"
    );
    let harness = Harness::start_on(&extra, store).await;
    // Besides `dw.same` and `dw.changed` of RUN on both sides: a day of `same` only in the
    // baseline, and one only in the candidate.
    write_table(&harness.root, "idc-hadoop", "same", "2024-05-02", 500, 0);
    write_table(&harness.root, "cloud-emr", "same", "2024-05-03", 500, 0);
    let running = Running::start(harness.config.clone()).await;
    let url = running.url.as_str();

    // Deep: the test's ORC writer (orc-rust's) keeps no column statistics, so only the
    // fingerprints tell `changed` apart.
    let (status, created) = post(url, json!({"database": "dw", "level": "deep", "key": ["id"]})).await;
    assert_eq!(status, 202, "{created}");
    let id = created["id"].as_i64().unwrap();
    assert!(created["url"].as_str().unwrap().ends_with(&format!("/api/v1/inventories/{id}")), "{created}");
    let done = wait_done(url, id).await;
    assert_eq!(done["state"], "done", "{done}");
    assert_eq!(done["verdict"], "inconsistent", "{done}");
    assert_eq!(done["attempts"], 1);
    assert_eq!(done["level"], "deep");
    assert_eq!(done["baseline"]["cluster"], "idc-hadoop");
    assert!(done["baseline"]["warehouse"].as_str().unwrap().ends_with("/idc-hadoop/warehouse/dw.db/"), "{done}");
    assert_eq!(done["progress"], json!({"tables": 2, "partitions": 4, "partitions_done": 4}), "{done}");
    assert_eq!(done["summary"]["partitions"], 4, "{done}");
    let same = table(&done, "same");
    assert_eq!(same["verdict"], "inconsistent");
    let counts = &same["counts"];
    assert_eq!(
        [&counts["equal"], &counts["missing_in_candidate"], &counts["missing_in_baseline"]],
        [&json!(1), &json!(1), &json!(1)],
        "{same}"
    );
    assert!(same.get("partitions").is_none(), "a table's partitions are paged apart: {same}");
    assert_eq!(table(&done, "changed")["counts"]["different"], 1, "{done}");

    partitions_are_paged(url, id).await;

    // One report per table that is not consistent, named as the registry names it, to its
    // owners' sinks.
    let (_, reports) = call(url, reqwest::Method::GET, &format!("/reports?run_id=inventory-{id}"), VIEWER, None).await;
    let mut tables: Vec<&str> =
        reports["reports"].as_array().unwrap().iter().map(|r| r["table"].as_str().unwrap()).collect();
    tables.sort_unstable();
    assert_eq!(tables, ["dw.changed", "dw.same"], "{reports}");
    let same_report = reports["reports"].as_array().unwrap().iter().find(|r| r["table"] == "dw.same").unwrap();
    assert_eq!(same_report["verdict"], "inconsistent");
    let expected = format!("inventory {id}: 2 of 3 partitions: 1 missing in the candidate, 1 missing in the baseline");
    assert_eq!(same_report["reason"], expected.as_str(), "{same_report}");
    wait_until("both reports reach the webhook", Duration::from_secs(20), || async {
        receiver.received.lock().unwrap().delivered.len() >= 2
    })
    .await;
    let delivered = receiver.received.lock().unwrap().delivered.clone();
    let hook = delivered.iter().find(|(_, _, body)| body.contains("dw.same")).map(|(_, _, body)| body).unwrap();
    assert!(hook.contains(&expected), "{hook}");

    let report_id = same_report["id"].as_i64().unwrap();
    pages_show_it(&harness, id, report_id).await;

    // An inventory that ended cannot be cancelled.
    let (status, _) = call(url, reqwest::Method::POST, &format!("/inventories/{id}/cancel"), OPERATOR, None).await;
    assert_eq!(status, 409);
    let (_, listed) = call(url, reqwest::Method::GET, "/inventories", VIEWER, None).await;
    assert_eq!(listed["total"], 1, "{listed}");
    assert!(listed["inventories"][0]["tables"].is_null(), "the list leaves tables out: {listed}");
    running.stop().await;
}

/// A table's partitions, filtered and paged.
async fn partitions_are_paged(url: &str, id: i64) {
    let partitions = |query: &str| {
        let path = format!("/inventories/{id}/partitions?{query}");
        async move { call(url, reqwest::Method::GET, &path, VIEWER, None).await }
    };
    let (status, page) = partitions("table=same&limit=2").await;
    assert_eq!(status, 200, "{page}");
    assert_eq!((page["total"].clone(), page["partitions"].as_array().unwrap().len()), (json!(3), 2), "{page}");
    assert_eq!(page["partitions"][0]["partition"], "dt=2024-05-01", "in partition order: {page}");
    let (_, missing) = partitions("table=same&verdict=missing_in_candidate").await;
    assert_eq!(missing["partitions"][0]["partition"], "dt=2024-05-02", "{missing}");
    assert_eq!(missing["partitions"][0]["baseline"]["rows"], 500, "{missing}");
    let (_, changed) = partitions("table=changed").await;
    let reason = changed["partitions"][0]["reason"].as_str().unwrap();
    assert!(reason.contains("the fingerprints differ"), "{changed}");
    assert_eq!(partitions("table=nope").await.0, 404);
    assert_eq!(partitions("table=same&verdict=bogus").await.0, 422);
    assert_eq!(partitions("verdict=equal").await.0, 400, "the table is required");
}

/// The pages: the warehouse, a table's partitions, and the owners' report.
async fn pages_show_it(harness: &Harness, id: i64, report_id: i64) {
    let (_, cookies) = sign_in(harness, VIEWER).await;
    let cookie = [("cookie", cookies.as_str())];
    let (status, _, page) = get(harness, &format!("/inventories/{id}"), &cookie).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains(&format!(r#"href="/inventories/{id}/tables?name=same""#)), "{page}");
    assert!(page.contains("1 missing in candidate") && page.contains("1 different"), "{page}");
    assert!(!page.contains("data-poll"), "a finished inventory is not polled: {page}");
    let (_, _, list) = get(harness, "/inventories", &cookie).await;
    assert!(list.contains(&format!(r#"href="/inventories/{id}""#)), "{list}");
    let (status, _, partitions_page) =
        get(harness, &format!("/inventories/{id}/tables?name=same&verdict=missing_in_baseline"), &cookie).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        partitions_page.contains("dt=2024-05-03") && !partitions_page.contains("dt=2024-05-02"),
        "{partitions_page}"
    );
    let (_, _, report_page) = get(harness, &format!("/reports/{report_id}"), &cookie).await;
    assert!(report_page.contains(&format!(r#"href="/inventories/{id}/tables?name=same""#)), "{report_page}");
    assert!(report_page.contains("dt=2024-05-02") && !report_page.contains("Rows</h2>"), "{report_page}");
}

#[tokio::test]
async fn a_request_reads_only_what_the_configuration_allows() {
    let harness = Harness::start("").await.over(true).await;
    let root = harness.root.display().to_string();
    let checks: &[(Value, u16, &str)] = &[
        (json!({"baseline": harness.secret().display().to_string()}), 403, "outside the allowed roots"),
        (json!({"baseline": format!("{root}/idc-hadoop/warehouse/../../secret")}), 403, "`.` or `..`"),
        (json!({"candidate": "s3://elsewhere/warehouse/"}), 403, "outside the allowed roots"),
        (json!({"baseline": "hive://127.0.0.1:9083/dw"}), 403, "not the metastore of cluster `idc-hadoop`"),
        (json!({"baseline": "hive://nonsense"}), 422, "expected hive://HOST[:PORT]/DB[/TABLE]"),
        (json!({"database": "dw; drop"}), 422, "database `dw; drop`"),
        (json!({"database": "dw", "partitions": ["nonsense"]}), 422, "nonsense"),
        (json!({"database": "dw", "level": "listing", "diff": true}), 422, "cannot go with level `listing`"),
        (json!({"database": "dw", "level": "everything"}), 422, "unknown variant `everything`"),
        (json!({"database": "dw", "unknown": 1}), 422, "unknown"),
    ];
    for (body, status, message) in checks {
        let (got, answer) = harness.call("POST", "/api/v1/inventories", Some(OPERATOR), Some(&body.to_string())).await;
        assert_eq!(got.as_u16(), *status, "{body}: {answer}");
        assert!(answer["error"].as_str().unwrap_or_default().contains(message), "{body}: {answer}");
    }
    let (got, _) = harness.call("POST", "/api/v1/inventories", Some(VIEWER), Some(r#"{"database": "dw"}"#)).await;
    assert_eq!(got, StatusCode::FORBIDDEN, "a viewer cannot start one");
    // A directory under the allowed roots, and one under the cluster's own warehouse root.
    let allowed = json!({
        "baseline": format!("{root}/exports/warehouse/dw.db"),
        "candidate": format!("file://{root}/cloud-emr/warehouse/dw.db"),
    });
    let (got, answer) = harness.call("POST", "/api/v1/inventories", Some(OPERATOR), Some(&allowed.to_string())).await;
    assert_eq!(got, StatusCode::ACCEPTED, "{answer}");
    let id = answer["id"].as_i64().unwrap();
    let stored = harness.store.inventory(id).await.unwrap().unwrap();
    assert_eq!(stored.plan.baseline.database.as_deref(), Some("dw"));
    assert!(stored.plan.baseline.roots.iter().any(|r| r.ends_with("/exports")), "{:?}", stored.plan.baseline);
}

#[tokio::test]
async fn progress_is_shown_and_a_cancelled_inventory_stops() {
    let harness = Harness::start("").await.over(true).await;
    let (_, created) = harness.call("POST", "/api/v1/inventories", Some(OPERATOR), Some(r#"{"database": "dw"}"#)).await;
    let id = created["id"].as_i64().unwrap();
    // A runner elsewhere holds it and reports its progress.
    let store = &harness.store;
    let claimed = store.claim_inventory("elsewhere:1", Utc::now(), Duration::from_secs(60)).await.unwrap().unwrap();
    assert_eq!((claimed.id, claimed.attempts), (id, 1));
    assert!(
        store
            .inventory_heartbeat(id, "elsewhere:1", Utc::now(), Duration::from_secs(60), Some((2, 10)), 4)
            .await
            .unwrap()
    );
    let (_, running) = harness.call("GET", &format!("/api/v1/inventories/{id}"), Some(VIEWER), None).await;
    assert_eq!(running["state"], "running");
    assert_eq!(running["progress"], json!({"tables": 2, "partitions": 10, "partitions_done": 4}), "{running}");
    let (_, cookies) = sign_in(&harness, VIEWER).await;
    let (_, _, page) = get(&harness, &format!("/inventories/{id}"), &[("cookie", cookies.as_str())]).await;
    assert!(page.contains("4 of 10 partitions done") && page.contains(r#"data-poll="2""#), "{page}");
    assert!(!page.contains(&format!("/inventories/{id}/cancel")), "a viewer gets no cancel button: {page}");
    let (status, cancelled) =
        harness.call("POST", &format!("/api/v1/inventories/{id}/cancel"), Some(OPERATOR), None).await;
    assert_eq!(status, StatusCode::OK, "{cancelled}");
    assert_eq!(cancelled["state"], "cancelled");
    let renewed = store.inventory_heartbeat(id, "elsewhere:1", Utc::now(), Duration::from_secs(60), None, 5).await;
    assert!(!renewed.unwrap(), "its runner learns at its next heartbeat");
    assert!(store.claim_inventory("other:2", Utc::now(), Duration::from_secs(60)).await.unwrap().is_none());
    let (status, _) = harness.call("POST", &format!("/api/v1/inventories/{id}/cancel"), Some(ADMIN), None).await;
    assert_eq!(status, StatusCode::CONFLICT);
}

#[tokio::test]
async fn an_inventory_stuck_on_a_silent_metastore_is_cancelled_and_the_runner_goes_on() {
    // A metastore that takes connections and never answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = silent.local_addr().unwrap();
    let held = tokio::spawn(async move {
        let mut connections = Vec::new();
        loop {
            let (connection, _) = silent.accept().await.unwrap();
            connections.push(connection);
        }
    });
    let harness = Harness::start("").await;
    let mut config = harness.config.clone();
    config.runner.lease = Duration::from_millis(900);
    let metastore = api::metastore::Metastore::new(&format!("thrift://{address}")).unwrap();
    config.metastores.insert("idc-hadoop".into(), metastore);
    let running = Running::start(config).await;
    let url = running.url.as_str();
    let (status, stuck) = post(url, json!({"database": "dw"})).await;
    assert_eq!(status, 202, "{stuck}");
    let stuck = stuck["id"].as_i64().unwrap();
    assert_eq!(
        inventory(url, stuck).await["baseline"]["warehouse"],
        format!("hive://{address}/dw"),
        "the baseline is the cluster's metastore"
    );
    wait_until("the inventory is running", Duration::from_secs(20), || async {
        inventory(url, stuck).await["state"] == "running"
    })
    .await;
    let (status, _) = call(url, reqwest::Method::POST, &format!("/inventories/{stuck}/cancel"), OPERATOR, None).await;
    assert_eq!(status, 200);
    // The runner does one inventory at a time: the next one finishes only if it let go of the
    // stuck one.
    let root = harness.root.display();
    let next = json!({"baseline": format!("file://{root}/idc-hadoop/warehouse/dw.db/"), "candidate": format!("file://{root}/cloud-emr/warehouse/dw.db/")});
    let (_, next) = post(url, next).await;
    let next = wait_done(url, next["id"].as_i64().unwrap()).await;
    assert_eq!(next["state"], "done", "{next}");
    assert_eq!(inventory(url, stuck).await["state"], "cancelled");
    held.abort();
    running.stop().await;
}

#[tokio::test]
async fn an_inventory_taken_over_resumes_from_the_partitions_already_recorded() {
    on_each_engine(resumes_on).await;
}

async fn resumes_on(store: Option<String>) {
    let harness = Harness::start_on("", store).await;
    let (_, created) = harness.call("POST", "/api/v1/inventories", Some(OPERATOR), Some(r#"{"database": "dw"}"#)).await;
    let id = created["id"].as_i64().unwrap();
    // An earlier attempt, whose instance died an hour ago, recorded one partition: written
    // here as `equal` with a reason of its own, though the partition's footers differ and its
    // candidate file is now broken, so that reading it again would show.
    let store = &harness.store;
    let hour_ago = Utc::now() - chrono::Duration::hours(1);
    store.claim_inventory("gone:1", hour_ago, Duration::from_secs(60)).await.unwrap().unwrap();
    let side = |rows| Some(PartitionSide { location: "recorded".into(), files: 1, bytes: 1, rows: Some(rows) });
    let recorded = PartitionInventory {
        partition: format!("dt={RUN}"),
        verdict: PartitionVerdict::Equal,
        reason: Some("recorded by the earlier attempt".into()),
        differences: Vec::new(),
        not_comparable: Vec::new(),
        schema: SchemaChanges::default(),
        baseline: side(500),
        candidate: side(500),
        key: Vec::new(),
        diff: None,
    };
    store.record_inventory_partitions(id, &[("changed".to_owned(), recorded.clone())]).await.unwrap();
    let candidate = harness.root.join(format!("cloud-emr/warehouse/dw.db/changed/dt={RUN}/000000_0"));
    std::fs::write(&candidate, b"not an ORC file").unwrap();

    let running = Running::start(harness.config.clone()).await;
    let done = wait_done(&running.url, id).await;
    assert_eq!((done["state"].clone(), done["attempts"].clone()), (json!("done"), json!(2)), "{done}");
    assert_eq!(done["verdict"], "consistent", "the recorded partition stands, the rest is read: {done}");
    let stored = store.inventory(id).await.unwrap().unwrap();
    assert_eq!(stored.state, InventoryState::Done);
    assert_eq!(stored.report.as_ref().unwrap()["resumed_partitions"], 1, "{:?}", stored.report);
    let (_, partitions) = store.inventory_table_partitions(id, "changed", None, 10, 0).await.unwrap();
    assert_eq!(partitions, vec![recorded], "not read again");
    let (_, same) = store.inventory_table_partitions(id, "same", None, 10, 0).await.unwrap();
    assert_eq!(same[0].verdict, PartitionVerdict::EqualFooters);
    running.stop().await;
}

/// A deep inventory whose `[cluster]` section is `cluster`: its verdict and the reasons of
/// `changed` (3 of 500 rows changed) and `same`, by table.
async fn deep_inventory_with(cluster: &str) -> (Value, [Value; 2]) {
    let harness = Harness::start_on(&format!("[cluster]\n{cluster}\n"), None).await;
    let running = Running::start(harness.config.clone()).await;
    let url = running.url.as_str();
    let (status, created) = post(url, json!({"database": "dw", "level": "deep", "key": ["id"]})).await;
    assert_eq!(status, 202, "{created}");
    let id = created["id"].as_i64().unwrap();
    let done = wait_done(url, id).await;
    let partition = |table: &'static str| async move {
        let path = format!("/inventories/{id}/partitions?table={table}");
        let (_, page) = call(url, reqwest::Method::GET, &path, VIEWER, None).await;
        json!({"verdict": page["partitions"][0]["verdict"], "reason": page["partitions"][0]["reason"]})
    };
    let partitions = [partition("changed").await, partition("same").await];
    running.stop().await;
    (done["verdict"].clone(), partitions)
}

/// Deep fingerprints of partitions at or above `[cluster] above_rows` run on the cluster (Ballista's
/// in-process one), and when it does not answer fail or run here as `fallback` says, as diffs do.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_deep_inventory_fingerprints_large_partitions_on_the_cluster_as_configured() {
    let local = deep_inventory_with("").await;
    assert_eq!(local.0, "inconsistent");
    assert_eq!(local.1[0]["verdict"], "different", "{:?}", local.1);
    assert!(local.1[0]["reason"].as_str().unwrap().contains("the fingerprints differ"), "{:?}", local.1);
    assert_eq!(local.1[1], json!({"verdict": "equal", "reason": null}));

    let live = cluster::standalone::start(1, 2).await.unwrap();
    let on_cluster = deep_inventory_with(&format!("url = \"{live}\"\nabove_rows = 500\nfallback = \"fail\"")).await;
    assert_eq!(on_cluster, local, "the cluster's fingerprints give the local verdicts");

    let dead = crate::distributed::dead_url();
    let (verdict, failed) =
        deep_inventory_with(&format!("url = \"{dead}\"\nabove_rows = 500\nfallback = \"fail\"")).await;
    assert_eq!(verdict, "error", "unreadable partitions make the inventory an error");
    for partition in &failed {
        assert_eq!(partition["verdict"], "unreadable", "{failed:?}");
        let reason = partition["reason"].as_str().unwrap();
        assert!(reason.contains(&format!("the cluster at {dead}")), "{reason}");
    }
    let fell_back = deep_inventory_with(&format!("url = \"{dead}\"\nabove_rows = 500\nfallback = \"local\"")).await;
    assert_eq!(fell_back, local, "run here when the cluster does not answer");
    // Below the threshold the cluster is not asked.
    let small = deep_inventory_with(&format!("url = \"{dead}\"\nabove_rows = 501\nfallback = \"fail\"")).await;
    assert_eq!(small, local);
}
