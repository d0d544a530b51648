//! Gating through the service: the DAG imported and edited over the API, transitions (dry run,
//! refused, allowed, forced) with the rules, the evidence from stored reports, the record of
//! who moved what, the overview, re-run warnings from events, and `dqc gate` against a running
//! service. On SQLite, and on PostgreSQL when `DQC_TEST_POSTGRES_URL` is set.

use std::path::Path;
use std::process::Command;

use api::store::{Store, Verdict};
use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::rest::{ADMIN, Harness, OPERATOR, Running, VIEWER, on_each_engine};
use crate::store::stored;
use crate::support::event;

/// ods -> dw -> ads (ads ends in an export), and the cycle x1 <-> x2 fed by ods. `task.dw.same`
/// is the task id the test events carry for table `dw.same`.
fn dag() -> Value {
    json!({
        "workflows": [{"id": "ods"}, {"id": "dw"}, {"id": "ads"}, {"id": "x1"}],
        "tasks": [
            {"id": "ods.load", "workflow": "ods", "kind": "import", "outputs": ["ods.raw"]},
            {"id": "task.dw.same", "workflow": "dw", "kind": "sql", "upstream": ["ods.load"], "outputs": ["dw.same"]},
            {"id": "dw.spark", "workflow": "dw", "kind": "spark", "upstream": ["task.dw.same"], "outputs": ["dw.changed"]},
            {"id": "ads.report", "workflow": "ads", "kind": "sql", "upstream": ["task.dw.same"], "outputs": ["ads.daily"]},
            {"id": "ads.to_mysql", "workflow": "ads", "kind": "export", "upstream": ["ads.report"]},
            {"id": "x1.t", "workflow": "x1", "kind": "sql", "upstream": ["ods.load", "x2.t"], "outputs": ["x.one"]},
            {"id": "x2.t", "workflow": "x2", "kind": "sql", "upstream": ["x1.t"], "outputs": ["x.two"]}
        ]
    })
}

async fn send(harness: &Harness, method: &str, path: &str, token: &str, body: &Value) -> (StatusCode, Value) {
    let body = body.to_string();
    harness.call(method, &format!("/api/v1/gating{path}"), Some(token), Some(&body)).await
}

async fn get(harness: &Harness, path: &str) -> Value {
    let (status, answer) = harness.call("GET", &format!("/api/v1/gating{path}"), Some(VIEWER), None).await;
    assert_eq!(status, StatusCode::OK, "GET {path}: {answer}");
    answer
}

async fn state(harness: &Harness, workflow: &str) -> Value {
    get(harness, &format!("/workflows/{workflow}")).await["state"].clone()
}

/// Asks for a transition; the status and the answer.
async fn go(harness: &Harness, workflow: &str, to: &str, token: &str, extra: Value) -> (StatusCode, Value) {
    let mut body = json!({"to": to});
    body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    send(harness, "POST", &format!("/workflows/{workflow}/transitions"), token, &body).await
}

fn rules(answer: &Value) -> Vec<String> {
    answer["violations"].as_array().unwrap().iter().map(|v| v["rule"].as_str().unwrap().to_owned()).collect()
}

async fn reports(store: &Store, table: &str, runs: &[(&str, Verdict)], from: u32) {
    for (time, (run, verdict)) in (from..).zip(runs) {
        stored(store, table, "dt=1", run, *verdict, time).await;
    }
}

#[tokio::test]
async fn workflows_move_through_the_rules_with_evidence_and_every_move_is_recorded() {
    on_each_engine(workflows_move_through_the_rules_with_evidence_and_every_move_is_recorded_on).await;
}

async fn workflows_move_through_the_rules_with_evidence_and_every_move_is_recorded_on(store: Option<String>) {
    let harness = &Harness::start_on("[gating]\nevidence_runs = 3", store).await.over(true).await;
    imports_the_dag_and_refuses_a_broken_one(harness).await;
    dual_runs_start_upstream_and_cycles_move_together(harness).await;
    migrations_need_downstream_workflows_and_evidence(harness).await;
    every_move_is_recorded_and_forcing_is_for_admins(harness).await;
}

async fn imports_the_dag_and_refuses_a_broken_one(harness: &Harness) {
    let (status, imported) = send(harness, "PUT", "/dag", OPERATOR, &dag()).await;
    assert_eq!(status, StatusCode::OK, "{imported}");
    assert_eq!(
        (imported["workflows"].clone(), imported["tasks"].clone(), imported["edges"].clone()),
        (json!(5), json!(7), json!(7))
    );

    // A broken DAG is refused with every problem named, and changes nothing.
    let mut broken = dag();
    broken["tasks"].as_array_mut().unwrap().extend([
        json!({"id": "ods.load", "workflow": "ods", "kind": "sql"}),
        json!({"id": "bad", "workflow": "dw", "kind": "sql", "upstream": ["nowhere", "bad"]}),
    ]);
    let (status, error) = send(harness, "PUT", "/dag", OPERATOR, &broken).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{error}");
    let message = error["error"].as_str().unwrap();
    for part in ["task `ods.load` is listed twice", "reads from unknown task `nowhere`", "task `bad` reads from itself"]
    {
        assert!(message.contains(part), "{message}");
    }
    let (status, error) =
        send(harness, "PUT", "/dag", OPERATOR, &json!({"tasks": [{"id": "t", "kind": "lisp"}]})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{error}");
    assert_eq!(get(harness, "/dag").await["tasks"].as_array().unwrap().len(), 7);
}

async fn dual_runs_start_upstream_and_cycles_move_together(harness: &Harness) {
    // Rule 1: dw cannot run dual before ods. A dry run says so and changes nothing; the real
    // request is refused the same way; a viewer may not ask.
    let (status, dry) = go(harness, "dw", "dual_run", OPERATOR, json!({"dry_run": true})).await;
    assert_eq!((status, dry["allowed"].clone(), dry["dry_run"].clone()), (StatusCode::OK, json!(false), json!(true)));
    assert_eq!(
        dry["violations"],
        json!([{"rule": "upstream_not_dual", "task": "task.dw.same", "upstream": "ods.load", "upstream_mode": "baseline_only"}])
    );
    let (status, refused) = go(harness, "dw", "dual_run", OPERATOR, json!({})).await;
    assert_eq!(
        (status, refused["violations"].clone(), refused["transition"].clone()),
        (StatusCode::CONFLICT, dry["violations"].clone(), Value::Null)
    );
    assert_eq!(go(harness, "dw", "dual_run", VIEWER, json!({})).await.0, StatusCode::FORBIDDEN);
    assert_eq!(state(harness, "dw").await, "not_migrated");
    assert_eq!(get(harness, "/transitions").await["total"], 0);

    // Upstream first; the cycle moves as one unit when either member is asked for.
    for workflow in ["ods", "dw", "ads"] {
        let (status, moved) = go(harness, workflow, "dual_run", OPERATOR, json!({"reason": "wave 1"})).await;
        assert_eq!((status, moved["unit"].clone()), (StatusCode::CREATED, json!([workflow])), "{moved}");
        assert!(moved["transition"].as_i64().is_some(), "{moved}");
    }
    let (status, moved) = go(harness, "x2", "dual_run", OPERATOR, json!({})).await;
    assert_eq!((status, moved["unit"].clone()), (StatusCode::CREATED, json!(["x1", "x2"])), "{moved}");
    assert_eq!((state(harness, "x1").await, state(harness, "x2").await), (json!("dual_run"), json!("dual_run")));
    assert_eq!(get(harness, "/workflows/x1").await["moves_with"], json!(["x2"]));
}

async fn migrations_need_downstream_workflows_and_evidence(harness: &Harness) {
    // Rule 2 and rule 4 together: every violation is listed.
    let (status, refused) = go(harness, "ods", "migrated", OPERATOR, json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(
        rules(&refused),
        ["downstream_not_migrated", "downstream_not_migrated", "not_enough_evidence"],
        "{refused}"
    );
    let downstream: Vec<&Value> =
        refused["violations"].as_array().unwrap().iter().map(|v| &v["downstream"]).take(2).collect();
    assert_eq!(downstream, [&json!("dw"), &json!("x1")]);
    assert_eq!(refused["violations"][2]["table"], "ods.raw");

    // Rule 4 from stored reports: ads.daily had an inconsistent run (open), then its re-diff
    // came out consistent. The export task needs no evidence.
    use Verdict::{Consistent as C, Divergent as D, Inconsistent as I};
    reports(&harness.store, "ads.daily", &[("r1", C), ("r2", I), ("r3", C), ("r4", C)], 1).await;
    let (status, refused) = go(harness, "ads", "migrated", OPERATOR, json!({"dry_run": true})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        refused["violations"],
        json!([{"rule": "not_enough_evidence", "table": "ads.daily", "task": "ads.report", "consistent": 2, "needed": 3, "open": ["r2"]}])
    );
    assert_eq!(
        refused["evidence"][0]["runs"],
        json!([
            {"run_id": "r4", "verdict": "consistent"}, {"run_id": "r3", "verdict": "consistent"}, {"run_id": "r2", "verdict": "inconsistent"}
        ])
    );
    reports(&harness.store, "ads.daily", &[("r2", C)], 5).await;
    let (_, allowed) = go(harness, "ads", "migrated", OPERATOR, json!({"dry_run": true})).await;
    assert_eq!((allowed["allowed"].clone(), allowed["violations"].clone()), (json!(true), json!([])), "{allowed}");
    // N per table: the registry's evidence_runs wins over gating.evidence_runs.
    let registration = json!({"key": ["id"], "evidence_runs": 5});
    let (status, _) =
        harness.call("PUT", "/api/v1/tables/ads.daily", Some(OPERATOR), Some(&registration.to_string())).await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, refused) = go(harness, "ads", "migrated", OPERATOR, json!({"dry_run": true})).await;
    assert_eq!(
        (refused["violations"][0]["consistent"].clone(), refused["violations"][0]["needed"].clone()),
        (json!(4), json!(5))
    );
    let registration = json!({"key": ["id"], "evidence_runs": 4});
    harness.call("PUT", "/api/v1/tables/ads.daily", Some(OPERATOR), Some(&registration.to_string())).await;
    let (status, moved) = go(harness, "ads", "migrated", OPERATOR, json!({"reason": "4 clean runs"})).await;
    assert_eq!((status, moved["allowed"].clone()), (StatusCode::CREATED, json!(true)), "{moved}");

    // dw: one table clean, the other with a divergent run.
    reports(&harness.store, "dw.same", &[("r1", C), ("r2", C), ("r3", C)], 10).await;
    // dw.changed's last 3 runs are consistent, but r1 diverged and was never diffed again.
    reports(&harness.store, "dw.changed", &[("r1", D), ("r2", C), ("r3", C), ("r4", C)], 20).await;
    let (status, refused) = go(harness, "dw", "migrated", OPERATOR, json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(
        refused["violations"],
        json!([{"rule": "not_enough_evidence", "table": "dw.changed", "task": "dw.spark", "consistent": 3, "needed": 3, "open": ["r1"]}])
    );
}

async fn every_move_is_recorded_and_forcing_is_for_admins(harness: &Harness) {
    // The record: who, when, from, to, why, and the evidence used.
    let history = get(harness, "/transitions?workflow=ads").await;
    assert_eq!(history["total"], 2, "{history}");
    let last = &history["transitions"][0];
    assert_eq!(
        (last["actor"].clone(), last["from"].clone(), last["to"].clone(), last["reason"].clone(), last["unit"].clone()),
        (json!("operator"), json!("dual_run"), json!("migrated"), json!("4 clean runs"), json!(["ads"]))
    );
    assert_eq!(last["evidence"]["tables"][0]["table"], "ads.daily");
    assert_eq!(last["evidence"]["tables"][0]["runs"].as_array().unwrap().len(), 4);
    assert!(last["at"].as_str().unwrap().starts_with("20"), "{last}");
    assert_eq!(get(harness, "/transitions?workflow=x1").await["transitions"][0]["unit"], json!(["x1", "x2"]));
    assert_eq!(get(harness, "/transitions").await["total"], 5);

    // Forcing needs admin; it is recorded with the rules it overrode, and the overview shows
    // the state that breaks them. One step at a time even so.
    assert_eq!(go(harness, "ods", "migrated", OPERATOR, json!({"force": true})).await.0, StatusCode::FORBIDDEN);
    let (status, forced) =
        go(harness, "ods", "migrated", ADMIN, json!({"force": true, "reason": "decommission"})).await;
    assert_eq!((status, forced["forced"].clone()), (StatusCode::CREATED, json!(true)), "{forced}");
    let record = &get(harness, "/transitions?workflow=ods").await["transitions"][0];
    assert_eq!(record["actor"], "admin");
    let overridden = rules(&json!({"violations": record["evidence"]["overridden"]}));
    assert_eq!(overridden, ["downstream_not_migrated", "downstream_not_migrated", "not_enough_evidence"]);
    // A rollback of the cycle, forced: ods is migrated and x1 would not be (rule 2).
    let (status, rollback) = go(harness, "x1", "not_migrated", ADMIN, json!({"force": true})).await;
    assert_eq!(
        (status, rules(&rollback)),
        (StatusCode::CREATED, vec!["downstream_not_migrated".to_owned()]),
        "{rollback}"
    );
    let (status, two_steps) = go(harness, "ads", "not_migrated", ADMIN, json!({"force": true})).await;
    assert_eq!((status, two_steps["forced"].clone()), (StatusCode::CONFLICT, json!(false)), "{two_steps}");

    // The overview: counts, what blocks each workflow, and the states that break rules.
    let overview = get(harness, "/overview?limit=1000").await;
    assert_eq!(overview["counts"], json!({"not_migrated": 2, "dual_run": 1, "migrated": 2}), "{overview}");
    let steps: Vec<(String, Vec<String>)> = overview["workflows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|step| (step["workflow"].as_str().unwrap().to_owned(), rules(&json!({"violations": step["blocked_by"]}))))
        .collect();
    assert_eq!(
        steps,
        [
            ("ads".to_owned(), vec![]),
            ("dw".to_owned(), vec!["not_enough_evidence".to_owned()]),
            ("ods".to_owned(), vec![]),
            ("x1".to_owned(), vec!["downstream_not_migrated".to_owned()]),
            ("x2".to_owned(), vec!["downstream_not_migrated".to_owned()]),
        ]
    );
    // ods was forced to migrated while dw and x1, downstream of it, are not, and without the
    // evidence of its table ods.raw (rule 4, audited for every migrated workflow).
    assert_eq!(
        rules(&overview),
        ["downstream_not_migrated", "downstream_not_migrated", "not_enough_evidence"],
        "{overview}"
    );
    assert_eq!(overview["violations"][2]["table"], "ods.raw", "{overview}");
    let blocked = get(harness, "/overview?blocked=true&state=not_migrated").await;
    assert_eq!((blocked["total"].clone(), blocked["workflows"][0]["moves_with"].clone()), (json!(2), json!(["x2"])));
}

#[tokio::test]
async fn the_dag_is_edited_item_by_item_and_a_baseline_rerun_warns_of_stale_candidate_tables() {
    on_each_engine(the_dag_is_edited_item_by_item_and_a_baseline_rerun_warns_of_stale_candidate_tables_on).await;
}

async fn the_dag_is_edited_item_by_item_and_a_baseline_rerun_warns_of_stale_candidate_tables_on(store: Option<String>) {
    let harness = &Harness::start_on("", store).await.over(true).await;
    // Seeded states for workflows new to dqc: a migration already under way.
    let mut seeded = dag();
    seeded["workflows"] = json!([{"id": "ods", "state": "dual_run"}, {"id": "dw", "state": "dual_run"}, {"id": "ads", "state": "migrated"}]);
    let (status, imported) = send(harness, "PUT", "/dag", OPERATOR, &seeded).await;
    assert_eq!((status, imported["added"].clone()), (StatusCode::OK, json!(["ads", "dw", "ods", "x1", "x2"])));

    // Per item: a task that reads an unknown task is refused; one that reads a known task is
    // added with its new workflow; states change only through transitions.
    let task = json!({"workflow": "bi", "kind": "script", "upstream": ["ads.report", "nope"]});
    let (status, error) = send(harness, "PUT", "/tasks/bi.board", OPERATOR, &task).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(error["error"].as_str().unwrap().contains("reads from unknown task `nope`"), "{error}");
    let task = json!({"workflow": "bi", "kind": "script", "upstream": ["ads.report"], "outputs": ["bi.board"]});
    let (status, created) = send(harness, "PUT", "/tasks/bi.board", OPERATOR, &task).await;
    assert_eq!((status, created["id"].clone()), (StatusCode::CREATED, json!("bi.board")));
    assert_eq!(send(harness, "PUT", "/tasks/bi.board", OPERATOR, &task).await.0, StatusCode::OK);
    let bi = get(harness, "/workflows/bi").await;
    assert_eq!((bi["state"].clone(), bi["upstream"].clone()), (json!("not_migrated"), json!(["ads"])));
    assert_eq!(
        send(harness, "PUT", "/workflows/ads", OPERATOR, &json!({"state": "not_migrated"})).await.0,
        StatusCode::CONFLICT
    );
    assert_eq!(send(harness, "PUT", "/workflows/ads", OPERATOR, &json!({})).await.0, StatusCode::OK);
    assert_eq!(send(harness, "PUT", "/workflows/new", OPERATOR, &json!({})).await.0, StatusCode::CREATED);
    // The overview shows what the new edge broke: ads is migrated, bi (downstream) is not; and
    // ads, seeded migrated by the import, has no evidence for its tables (rule 4).
    assert_eq!(rules(&get(harness, "/overview").await), ["downstream_not_migrated", "not_enough_evidence"]);
    // Deleting what others read is refused, naming the readers; admin only.
    let (status, error) = harness.call("DELETE", "/api/v1/gating/tasks/ads.report", Some(ADMIN), None).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(error["error"], "task `ads.report` is read by `ads.to_mysql`, `bi.board`");
    assert_eq!(
        harness.call("DELETE", "/api/v1/gating/workflows/bi", Some(OPERATOR), None).await.0,
        StatusCode::FORBIDDEN
    );
    let (status, error) = harness.call("DELETE", "/api/v1/gating/workflows/ads", Some(ADMIN), None).await;
    assert_eq!(status, StatusCode::CONFLICT, "bi reads ads: {error}");
    assert_eq!(
        harness.call("DELETE", "/api/v1/gating/workflows/bi", Some(ADMIN), None).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(harness.call("GET", "/api/v1/gating/tasks/bi.board", Some(VIEWER), None).await.0, StatusCode::NOT_FOUND);
    assert_eq!(
        harness.call("DELETE", "/api/v1/gating/tasks/bi.board", Some(ADMIN), None).await.0,
        StatusCode::NOT_FOUND
    );

    // A task that would leave candidate-only tables stale if it re-ran on the baseline says so.
    let task = get(harness, "/tasks/task.dw.same").await;
    assert_eq!(
        (task["mode"].clone(), task["rerun_would_leave_stale"].clone()),
        (json!("dual"), json!(["ads.report", "ads.to_mysql"]))
    );
    // Events: the first attempt is no re-run; a failed re-run rewrote nothing; the second
    // successful attempt on the baseline is, and is warned of once however often it comes.
    let events = [
        event("b1", "idc-hadoop", "dw.same", "2024-05-01", 1, "succeeded"),
        event("b2f", "idc-hadoop", "dw.same", "2024-05-01", 2, "failed"),
        event("c2", "cloud-emr", "dw.same", "2024-05-01", 2, "succeeded"),
        event("b3", "idc-hadoop", "dw.same", "2024-05-01", 3, "succeeded"),
        event("b3", "idc-hadoop", "dw.same", "2024-05-01", 3, "succeeded"),
        // A re-run of a task that is not in the DAG.
        event("other", "idc-hadoop", "dw.changed", "2024-05-01", 2, "succeeded"),
    ];
    for body in &events {
        let (status, answer) = harness.call("POST", "/api/v1/events", Some(OPERATOR), Some(body)).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    }
    let warnings = get(harness, "/rerun-warnings").await;
    assert_eq!(warnings["total"], 1, "{warnings}");
    let warning = &warnings["warnings"][0];
    assert_eq!(
        (warning["event_id"].clone(), warning["task"].clone(), warning["attempt"].clone(), warning["stale"].clone()),
        (json!("b3"), json!("task.dw.same"), json!(3), json!(["ads.report", "ads.to_mysql"]))
    );

    a_new_import_keeps_states_and_removes_only_as_admin(harness).await;
    the_rules_cannot_be_bypassed_by_editing_the_dag(harness).await;
}

/// A new import keeps the states dqc holds and says which given states it ignored; workflows it
/// leaves out are removed, which needs an admin.
async fn a_new_import_keeps_states_and_removes_only_as_admin(harness: &Harness) {
    let mut again = dag();
    again["workflows"] = json!([{"id": "ads", "state": "not_migrated"}, {"id": "dw", "state": "dual_run"}]);
    let (status, refused) = send(harness, "PUT", "/dag", OPERATOR, &again).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{refused}");
    assert!(
        refused["error"].as_str().unwrap().contains("removes workflows `new`; removing workflows needs the admin role")
    );
    let (status, imported) = send(harness, "PUT", "/dag", ADMIN, &again).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (imported["states_kept"].clone(), imported["removed"].clone(), imported["added"].clone()),
        (json!(["ads"]), json!(["new"]), json!([]))
    );
    assert_eq!(state(harness, "ads").await, "migrated");
    let exported = get(harness, "/dag").await;
    assert_eq!(exported["workflows"].as_array().unwrap().len(), 5);
    assert!(exported["workflows"].as_array().unwrap().contains(&json!({"id": "ads", "state": "migrated"})));
}

/// The bypasses of the security review: a workflow removed and added again as `migrated`, a
/// task moved into a migrated workflow. Refused to operators; an admin's seeding is recorded.
async fn the_rules_cannot_be_bypassed_by_editing_the_dag(harness: &Harness) {
    let mut seeded = get(harness, "/dag").await;
    seeded["workflows"].as_array_mut().unwrap().push(json!({"id": "fresh", "state": "migrated"}));
    let (status, refused) = send(harness, "PUT", "/dag", OPERATOR, &seeded).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{refused}");
    assert!(refused["error"].as_str().unwrap().contains("`fresh` (migrated)"), "{refused}");
    let (status, refused) = send(harness, "PUT", "/workflows/fresh", OPERATOR, &json!({"state": "migrated"})).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{refused}");
    let (status, _) = harness.call("GET", "/api/v1/gating/workflows/fresh", Some(VIEWER), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "nothing was added");
    let (status, _) = send(harness, "PUT", "/dag", ADMIN, &seeded).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(state(harness, "fresh").await, "migrated");
    let record = get(harness, "/transitions?workflow=fresh").await;
    let record = &record["transitions"][0];
    assert_eq!(
        (record["from"].clone(), record["to"].clone(), record["actor"].clone(), record["reason"].clone()),
        (json!("not_migrated"), json!("migrated"), json!("admin"), json!("seeded by a DAG import"))
    );
    // Moving the dual-run workflow's task into the migrated one would make it candidate-only.
    assert_eq!(state(harness, "dw").await, "dual_run");
    let (status, refused) = send(
        harness,
        "PUT",
        "/tasks/dw.spark",
        OPERATOR,
        &json!({"workflow": "fresh", "kind": "spark", "upstream": [], "outputs": ["dw.changed"]}),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert!(
        refused["error"]
            .as_str()
            .unwrap()
            .contains("would move from a dual_run workflow to the migrated workflow `fresh`"),
        "{refused}"
    );
}

fn dqc(server: &str, token: Option<&str>, args: &[&str]) -> (i32, String, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_dqc"));
    command.args(["gate", "--server", server]).env_remove("DQC_TOKEN");
    if let Some(token) = token {
        command.args(["--token", token]);
    }
    let output = command.args(args).output().unwrap();
    let text = |bytes: Vec<u8>| String::from_utf8(bytes).unwrap();
    (output.status.code().unwrap_or(-1), text(output.stdout), text(output.stderr))
}

fn write_dag(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("dag.toml");
    let mut text = String::from("[[workflows]]\nid = \"ods\"\n\n[[workflows]]\nid = \"dw\"\n");
    text += "\n[[tasks]]\nid = \"ods.load\"\nworkflow = \"ods\"\nkind = \"import\"\noutputs = [\"ods.raw\"]\n";
    text += "\n[[tasks]]\nid = \"dw.build\"\nworkflow = \"dw\"\nkind = \"sql\"\nupstream = [\"ods.load\"]\noutputs = [\"dw.orders\"]\n";
    std::fs::write(&path, text).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dqc_gate_imports_checks_moves_and_shows_the_overview_against_a_running_service() {
    let harness = Harness::start("").await;
    let service = Running::start(harness.config.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let file = write_dag(dir.path());
    let url = service.url.clone();
    let file_arg = file.display().to_string();
    let run = move |token: Option<&'static str>, args: Vec<String>| {
        let url = url.clone();
        tokio::task::spawn_blocking(move || dqc(&url, token, &args.iter().map(String::as_str).collect::<Vec<_>>()))
    };
    let args = |text: &str| text.split(' ').map(str::to_owned).collect::<Vec<_>>();

    let (code, out, err) = run(Some(OPERATOR), vec!["import".into(), file_arg.clone()]).await.unwrap();
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("2 workflows, 2 tasks, 1 edges"), "{out}");
    let (code, out, _) = run(Some(OPERATOR), args("check dw --to dual_run")).await.unwrap();
    assert_eq!(code, 1, "{out}");
    assert_eq!(
        out,
        "dw: not_migrated -> dual_run: REFUSED\n  rule 1: task `dw.build` would run dual while its upstream task `ods.load` runs baseline_only\n"
    );
    let (code, out, _) = run(Some(OPERATOR), args("move ods --to dual_run --reason first")).await.unwrap();
    assert_eq!((code, out.starts_with("ods: not_migrated -> dual_run: moved (transition ")), (0, true), "{out}");
    let (code, out, _) = run(Some(OPERATOR), args("check dw --to dual_run")).await.unwrap();
    assert_eq!((code, out.as_str()), (0, "dw: not_migrated -> dual_run: allowed\n"));
    let (code, out, _) = run(Some(VIEWER), args("overview")).await.unwrap();
    assert_eq!(code, 0, "{out}");
    assert!(out.starts_with("not_migrated 1, dual_run 1, migrated 0; next step ready 1, blocked 1\n"), "{out}");
    assert!(
        out.contains("ods (dual_run, next migrated): blocked\n  rule 2: `ods` would be migrated while `dw`"),
        "{out}"
    );
    let (code, out, _) = run(Some(VIEWER), args("history ods")).await.unwrap();
    assert_eq!(code, 0);
    assert!(out.contains(" ods not_migrated -> dual_run by operator: first"), "{out}");
    let (code, out, _) = run(Some(OPERATOR), args("--json check dw --to dual_run")).await.unwrap();
    assert_eq!((code, serde_json::from_str::<Value>(&out).unwrap()["allowed"].clone()), (0, json!(true)));
    // Errors exit 2 with the service's message: an unknown workflow (its id travels as one
    // path segment), no token, a viewer moving, a bad file.
    let unknown = ["check", "no such/flow", "--to", "dual_run"].map(str::to_owned).to_vec();
    let (code, _, err) = run(Some(OPERATOR), unknown).await.unwrap();
    assert_eq!(code, 2);
    assert!(err.contains("404") && err.contains("workflow `no such/flow` is not in the DAG"), "{err}");
    let (code, _, err) = run(None, args("overview")).await.unwrap();
    assert_eq!(code, 2);
    assert!(err.contains("401") && err.contains("Bearer"), "{err}");
    let (code, _, err) = run(Some(VIEWER), args("move dw --to dual_run")).await.unwrap();
    assert_eq!(code, 2);
    assert!(err.contains("this route needs operator"), "{err}");
    std::fs::write(&file, "[[tasks]]\nid = \"t\"\nworkflow = \"w\"\nkind = \"sql\"\nupstream = [\"ghost\"]\n").unwrap();
    let (code, _, err) = run(Some(OPERATOR), vec!["import".into(), file_arg]).await.unwrap();
    assert_eq!(code, 2);
    assert!(err.contains("dag.toml") && err.contains("reads from unknown task `ghost`"), "{err}");
    service.stop().await;
}

#[tokio::test]
async fn the_dag_file_of_the_configuration_is_imported_at_start_and_a_broken_one_stops_it() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_dag(dir.path());
    let harness = &Harness::start(&format!("[gating]\ndag = \"{}\"", file.display())).await;
    let dag = get(harness, "/dag").await;
    assert_eq!(dag["tasks"].as_array().unwrap().len(), 2, "{dag}");
    assert_eq!(
        dag["workflows"],
        json!([{"id": "dw", "state": "not_migrated"}, {"id": "ods", "state": "not_migrated"}])
    );
    std::fs::write(&file, "[[tasks]]\nid = \"t\"\nworkflow = \"w\"\nkind = \"sql\"\nupstream = [\"ghost\"]\n").unwrap();
    let error = api::service::open_store(&harness.config).await.unwrap_err().to_string();
    assert!(error.contains("dag.toml") && error.contains("unknown task `ghost`"), "{error}");
}
