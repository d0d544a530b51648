//! The gating pages through the router: the overview's blockers grouped by rule, its filters,
//! sort and escaping of odd workflow names; a workflow's page for each role, its dry-run check,
//! and the transition form (refused from a viewer, from another site, forced by an operator;
//! taken from dqc's own page by an operator); a report's impact from the gating model.

use axum::http::{StatusCode, header};

use api::config::AccessRole;

use crate::pages::{get, post_form, sign_in, stored_report};
use crate::rest::{ADMIN, Harness, OPERATOR, VIEWER};

/// The odd workflow's name, and as the pages' paths give it.
const ODD: &str = "c<x>&\"";
const ODD_PATH: &str = "c%3Cx%3E%26%22";

/// `a` (dual run, writes `dw.changed`) -> `b` (not migrated) -> `c<x>&"` (not migrated).
async fn import_dag(harness: &Harness) {
    let dag = serde_json::json!({
        "workflows": [{ "id": "a", "state": "dual_run" }, { "id": "b" }, { "id": ODD }],
        "tasks": [
            { "id": "a1", "workflow": "a", "kind": "sql", "upstream": [], "outputs": ["dw.changed"] },
            { "id": "b1", "workflow": "b", "kind": "sql", "upstream": ["a1"], "outputs": ["dw.b"] },
            { "id": "c1", "workflow": ODD, "kind": "sql", "upstream": ["b1"], "outputs": ["dw.c"] }
        ]
    });
    let (status, body) = harness.call("PUT", "/api/v1/gating/dag", Some(ADMIN), Some(&dag.to_string())).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn the_gating_page_groups_blockers_by_rule_filters_sorts_and_escapes_names() {
    let harness = Harness::start("").await;
    import_dag(&harness).await;
    let (status, headers, _) = get(&harness, "/gating?rule=1", &[]).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "no session: the sign-in page");
    assert_eq!(headers[header::LOCATION], "/login?next=%2Fgating%3Frule%3D1");

    let (_, viewer) = sign_in(&harness, VIEWER).await;
    let (status, _, page) = get(&harness, "/gating", &[("cookie", &viewer)]).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    // `b` may go to the dual run; `c` may not (rule 1: b1 runs on the baseline only); `a` may not
    // migrate (rule 2: b is not migrated; rule 4: dw.changed has no consistent run).
    for group in ["Rule 1: an upstream task does not run dual</a>: 1 workflows", "Rule 2:", "Rule 4:"] {
        assert!(page.contains(group), "{group} in {page}");
    }
    assert!(
        page.contains(
            r#"<a href="/gating/workflows/b">task b1 runs baseline_only</a> <span class="hint">holds up 1</span>"#
        ),
        "{page}"
    );
    assert!(page.contains(r#"<a href="/tables/dw.changed">table dw.changed: 0 of 3 runs consistent</a>"#), "{page}");
    assert!(!page.contains("<x>") && page.contains(&format!("/gating/workflows/{ODD_PATH}")), "escaped: {page}");

    let (_, _, rule_one) = get(&harness, "/gating?rule=1", &[("cookie", &viewer)]).await;
    assert!(rule_one.contains("1 workflows.") && rule_one.contains(ODD_PATH), "{rule_one}");
    let (_, _, ready) = get(&harness, "/gating?blocked=false&state=not_migrated", &[("cookie", &viewer)]).await;
    assert!(ready.contains("1 workflows.") && ready.contains("ready for dual_run"), "{ready}");
    let (_, _, sorted) = get(&harness, "/gating?sort=downstream", &[("cookie", &viewer)]).await;
    let position = |id: &str| sorted.find(&format!("<strong>{id}</strong>")).unwrap();
    assert!(position("a") < position("b"), "a has two workflows downstream, b one: {sorted}");
    assert!(sorted.contains("2 downstream"), "{sorted}");
}

#[tokio::test]
async fn a_workflow_is_checked_by_anyone_and_moved_only_by_an_operator_from_dqcs_own_page() {
    let harness = Harness::start("").await;
    import_dag(&harness).await;
    let (_, viewer) = sign_in(&harness, VIEWER).await;
    let (status, _, page) = get(&harness, &format!("/gating/workflows/{ODD_PATH}"), &[("cookie", &viewer)]).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(!page.contains("<x>") && page.contains("c&#60;x&#62;") || page.contains("c&lt;x&gt;"), "{page}");
    assert!(page.contains(r#"name="check""#) && !page.contains("/transitions"), "a viewer checks, never moves");
    let (_, _, checked) = get(&harness, "/gating/workflows/b?check=dual_run", &[("cookie", &viewer)]).await;
    assert!(checked.contains("A move from not_migrated to dual_run is allowed now."), "{checked}");
    let (_, _, refused) = get(&harness, "/gating/workflows/a?check=migrated", &[("cookie", &viewer)]).await;
    assert!(refused.contains("is refused") && refused.contains("rule 2: `a` would be migrated"), "{refused}");
    let (status, _, _) = get(&harness, "/gating/workflows/nope", &[("cookie", &viewer)]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let move_b = "to=dual_run&reason=ready";
    let state = || async { harness.store.workflow_state("b").await.unwrap() };
    let viewer_move = post_form(&harness, "/gating/workflows/b/transitions", &viewer, "http://dqc.test", move_b).await;
    assert_eq!(viewer_move.0, StatusCode::FORBIDDEN, "a viewer may not move");
    let (_, operator) = sign_in(&harness, OPERATOR).await;
    let (_, _, page) = get(&harness, "/gating/workflows/b", &[("cookie", &operator)]).await;
    assert!(page.contains(r#"action="/gating/workflows/b/transitions""#) && !page.contains(r#"name="force""#));
    let foreign =
        post_form(&harness, "/gating/workflows/b/transitions", &operator, "http://chat.example", move_b).await;
    assert_eq!(foreign.0, StatusCode::FORBIDDEN, "a form on another site");
    let forced =
        post_form(&harness, "/gating/workflows/b/transitions", &operator, "http://dqc.test", "to=dual_run&force=1")
            .await;
    assert_eq!(forced.0, StatusCode::FORBIDDEN, "forcing needs admin: {}", forced.2);
    assert_eq!(state().await, Some(api::gating::WorkflowState::NotMigrated), "nothing moved yet");

    let (status, headers, _) =
        post_form(&harness, "/gating/workflows/b/transitions", &operator, "http://dqc.test", move_b).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers[header::LOCATION], "/gating/workflows/b");
    assert_eq!(state().await, Some(api::gating::WorkflowState::DualRun));
    let (_, _, page) = get(&harness, "/gating/workflows/b", &[("cookie", &operator)]).await;
    assert!(page.contains("not_migrated → dual_run") && page.contains("by operator"), "the history: {page}");

    // A refused move answers 409 with the page and every broken rule; an admin may force it.
    let path = "/gating/workflows/a/transitions";
    let (status, _, page) = post_form(&harness, path, &operator, "http://dqc.test", "to=migrated&reason=x").await;
    assert_eq!(status, StatusCode::CONFLICT, "{page}");
    assert!(page.contains("is refused") && page.contains("rule 4: table `dw.changed`"), "{page}");
    let (_, admin) = sign_in(&harness, ADMIN).await;
    let (_, _, page) = get(&harness, "/gating/workflows/a", &[("cookie", &admin)]).await;
    assert!(page.contains(r#"name="force""#), "admins may force");
    let (status, ..) = post_form(&harness, path, &admin, "http://dqc.test", "to=migrated&reason=x&force=1").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, _, page) = get(&harness, "/gating/workflows/a", &[("cookie", &admin)]).await;
    assert!(page.contains("dual_run → migrated") && page.contains(r#"<span class="problem">forced</span>"#), "{page}");
}

#[tokio::test]
async fn a_reports_impact_names_the_writer_the_downstream_and_the_evidence() {
    let harness = Harness::start("").await;
    import_dag(&harness).await;
    let id = stored_report(&harness, "dw.changed").await;
    let (_, viewer) = sign_in(&harness, VIEWER).await;
    let (status, _, page) = get(&harness, &format!("/reports/{id}"), &[("cookie", &viewer)]).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains(r#"task a1 of <a href="/gating/workflows/a">a</a> (dual_run)"#), "{page}");
    assert!(page.contains("0 of 3 consistent runs"), "{page}");
    assert!(page.contains(r#"Downstream: <a href="/gating/workflows/b">b</a> (not_migrated)"#), "{page}");
    // A table no task writes has no impact section.
    let other = stored_report(&harness, "dw.same").await;
    let (_, _, page) = get(&harness, &format!("/reports/{other}"), &[("cookie", &viewer)]).await;
    assert!(!page.contains("impact-title"), "{page}");
}

#[tokio::test]
async fn every_page_answers_each_role_as_its_role_allows_and_sends_the_signed_out_to_sign_in() {
    let harness = Harness::start("").await;
    import_dag(&harness).await;
    let id = stored_report(&harness, "dw.changed").await;
    let pages = [
        ("/".to_owned(), AccessRole::Viewer),
        ("/reports".to_owned(), AccessRole::Viewer),
        (format!("/reports/{id}"), AccessRole::Viewer),
        ("/tables".to_owned(), AccessRole::Viewer),
        ("/tables/dw.changed".to_owned(), AccessRole::Viewer),
        ("/gating".to_owned(), AccessRole::Viewer),
        ("/gating/workflows/a".to_owned(), AccessRole::Viewer),
        ("/diffs".to_owned(), AccessRole::Viewer),
        ("/diffs/new".to_owned(), AccessRole::Operator),
        ("/dead-letters".to_owned(), AccessRole::Operator),
    ];
    let mut sessions = Vec::new();
    for (token, role) in [(VIEWER, AccessRole::Viewer), (OPERATOR, AccessRole::Operator), (ADMIN, AccessRole::Admin)] {
        sessions.push((sign_in(&harness, token).await.1, role));
    }
    for (page, needs) in &pages {
        let (status, headers, _) = get(&harness, page, &[]).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{page} without a session");
        assert!(headers[header::LOCATION].to_str().unwrap().starts_with("/login?next="), "{page}");
        for (cookies, role) in &sessions {
            let (status, headers, body) = get(&harness, page, &[("cookie", cookies)]).await;
            let expected = if role >= needs { StatusCode::OK } else { StatusCode::FORBIDDEN };
            assert_eq!(status, expected, "{page} as {}: {body}", role.as_str());
            assert_eq!(headers[header::CONTENT_TYPE], "text/html; charset=utf-8", "{page}");
            assert!(headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap().contains("default-src 'self'"));
        }
    }
}
