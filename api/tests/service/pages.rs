//! The web pages through the router: signing in and out (cookies and their attributes), the
//! proof of origin that a write needs, the report page for each role and through a signed link
//! (valid, expired, tampered), escaping of values and names from data, security headers, and
//! old API links opened by a browser.

use std::time::Duration;

use api::store::{JobSpec, NewReport, SideSpec, Verdict};
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, header};
use http_body_util::BodyExt;
use tower::ServiceExt;

use crate::rest::{ADMIN, Harness, VIEWER};

/// A report whose data holds markup, in a column whose name holds quotes and markup.
pub(crate) async fn stored_report(harness: &Harness, table: &str) -> i64 {
    stored_report_with(harness, table, None).await
}

/// [`stored_report`] with its differing rows exported to `export`.
pub(crate) async fn stored_report_with(harness: &Harness, table: &str, export: Option<String>) -> i64 {
    let side = |cluster: &str| SideSpec {
        cluster: cluster.into(),
        location: Some(format!("/data/{cluster}")),
        partition_path: String::new(),
        event_id: None,
        attempt: None,
    };
    let spec = JobSpec {
        table: table.into(),
        partition: "dt=2024-05-01".into(),
        run_id: Some("2024-05-01".into()),
        baseline: side("idc-hadoop"),
        candidate: side("cloud-emr"),
    };
    let store = &harness.store;
    let now = chrono::Utc::now();
    store.enqueue(&spec, now).await.unwrap();
    let job = store.claim("test", now, Duration::from_secs(60), true).await.unwrap().unwrap();
    let column = "a\"b<i>";
    let document = serde_json::json!({
        "verdict": "inconsistent", "key": ["id"],
        "baseline": {"uri": "file:///data/b", "rows": 1000, "files": 1},
        "candidate": {"uri": "file:///data/c", "rows": 1001, "files": 2},
        "summary": {"matched": 995, "changed": 3, "only_in_baseline": 2, "only_in_candidate": 3,
                    "duplicate_keys_baseline": 0, "duplicate_keys_candidate": 0,
                    "null_keys_baseline": 0, "null_keys_candidate": 0},
        "columns": [
            {"name": "amount", "baseline_type": "decimal(10,2)", "candidate_type": "decimal(10,2)", "key": false,
             "mismatches": 1, "samples": [{"key": {"id": 7}, "baseline": 10.5, "candidate": 11.5}]},
            {"name": column, "baseline_type": "string", "candidate_type": "string", "key": false, "mismatches": 2,
             "samples": [{"key": {"id": 1}, "baseline": "<script>alert(1)</script>", "candidate": "safe"}]},
            {"name": "id", "baseline_type": "bigint", "candidate_type": "bigint", "key": true, "mismatches": 0, "samples": []}
        ],
        "schema": {"only_in_baseline": [], "only_in_candidate": ["extra"], "type_changes": []},
        "samples": {"changed": [{"key": {"id": 1}, "columns": [column],
                                 "baseline": {"id": 1, column: "<script>alert(1)</script>", "amount": 1},
                                 "candidate": {"id": 1, column: "safe", "amount": 1}}],
                    "only_in_baseline": [{"id": 5, "note": "<b>bold</b>"}], "only_in_candidate": [],
                    "duplicate_keys": [], "null_keys_baseline": [], "null_keys_candidate": []},
        "elapsed_ms": 12
    });
    let report = NewReport { verdict: Verdict::Inconsistent, reason: None, report: document, export_path: export };
    assert!(store.finish(&job, "test", &report, now).await.unwrap());
    store.reports(&api::store::ReportFilter::default()).await.unwrap()[0].id
}

/// A GET of `path` with `headers`; the status, headers and body.
pub(crate) async fn get(harness: &Harness, path: &str, headers: &[(&str, &str)]) -> (StatusCode, HeaderMap, String) {
    let mut request = Request::get(path);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    send(harness, request.body(Body::empty()).unwrap()).await
}

pub(crate) async fn send(harness: &Harness, request: Request<Body>) -> (StatusCode, HeaderMap, String) {
    let response = harness.router.clone().oneshot(request).await.unwrap();
    let (status, headers) = (response.status(), response.headers().clone());
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, headers, String::from_utf8_lossy(&body).into_owned())
}

/// A form POST of `body` to `path` with `cookies`, from `origin`.
pub(crate) async fn post_form(
    harness: &Harness,
    path: &str,
    cookies: &str,
    origin: &str,
    body: &str,
) -> (StatusCode, HeaderMap, String) {
    let request = Request::post(path)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::HOST, "dqc.test")
        .header(header::ORIGIN, origin)
        .header(header::COOKIE, cookies)
        .body(Body::from(body.to_owned()))
        .unwrap();
    send(harness, request).await
}

/// Signs in with `token` from dqc's own origin; the cookies to send back.
pub(crate) async fn sign_in(harness: &Harness, token: &str) -> (HeaderMap, String) {
    let request = Request::post("/login")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::HOST, "dqc.test")
        .header(header::ORIGIN, "http://dqc.test")
        .body(Body::from(format!("token={token}&next=%2Freports%2F1")))
        .unwrap();
    let (status, headers, body) = send(harness, request).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    let cookies: Vec<String> = headers
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|value| value.to_str().unwrap().split(';').next().unwrap().to_owned())
        .collect();
    (headers, cookies.join("; "))
}

#[tokio::test]
async fn signing_in_opens_a_session_with_lax_and_strict_cookies_and_signing_out_ends_it() {
    let harness = Harness::start("").await;
    let id = stored_report(&harness, "dw.changed").await;
    let page = format!("/reports/{id}");

    let (status, headers, _) = get(&harness, &page, &[]).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "no session, no anonymous role: the sign-in page");
    assert_eq!(headers[header::LOCATION], format!("/login?next=%2Freports%2F{id}"));
    let (status, _, body) = get(&harness, "/login?next=//evil.example/x", &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains(r#"name="next" value="/""#), "only a local path is a next page: {body}");

    let wrong = Request::post("/login")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::HOST, "dqc.test")
        .header(header::ORIGIN, "http://dqc.test")
        .body(Body::from("token=nope"))
        .unwrap();
    assert_eq!(send(&harness, wrong).await.0, StatusCode::UNAUTHORIZED);

    let (headers, cookies) = sign_in(&harness, VIEWER).await;
    let set: Vec<&str> = headers.get_all(header::SET_COOKIE).iter().map(|v| v.to_str().unwrap()).collect();
    assert_eq!(set.len(), 2, "{set:?}");
    assert!(set[0].starts_with("dqc_session=") && set[0].contains("; HttpOnly; SameSite=Lax; Path=/; Max-Age=604800"));
    assert!(set[1].starts_with("dqc_same_site=1; HttpOnly; SameSite=Strict; Path=/"), "{set:?}");
    assert!(!set.iter().any(|cookie| cookie.contains("Secure")), "plain HTTP: no Secure attribute");
    assert!(!set.iter().any(|cookie| cookie.contains(VIEWER)), "the browser never keeps the token");

    let (status, _, body) = get(&harness, &page, &[("cookie", &cookies)]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // A link tapped in a chat app sends only the Lax cookie: reading still works.
    let lax = cookies.split("; ").next().unwrap();
    assert_eq!(get(&harness, &page, &[("cookie", lax)]).await.0, StatusCode::OK);

    // Signing out needs the proof of origin, then ends the session.
    let logout = |cookie: &str, origin: &str| {
        Request::post("/logout")
            .header(header::HOST, "dqc.test")
            .header(header::ORIGIN, origin)
            .header(header::COOKIE, cookie)
            .body(Body::empty())
            .unwrap()
    };
    assert_eq!(send(&harness, logout(&cookies, "http://chat.example")).await.0, StatusCode::FORBIDDEN);
    assert_eq!(send(&harness, logout(lax, "http://dqc.test")).await.0, StatusCode::FORBIDDEN, "no Strict cookie");
    let no_origin =
        Request::post("/logout").header(header::HOST, "dqc.test").header(header::COOKIE, &cookies).body(Body::empty());
    assert_eq!(send(&harness, no_origin.unwrap()).await.0, StatusCode::FORBIDDEN, "neither Origin nor Fetch Metadata");
    assert_eq!(send(&harness, logout(&cookies, "http://dqc.test")).await.0, StatusCode::SEE_OTHER);
    assert_eq!(get(&harness, &page, &[("cookie", &cookies)]).await.0, StatusCode::SEE_OTHER, "the session ended");
}

#[tokio::test]
async fn the_report_page_shows_the_findings_with_every_value_escaped_and_strict_headers() {
    let harness = Harness::start("").await;
    let id = stored_report(&harness, "dw.<odd>&\"name\"").await;
    for token in [VIEWER, ADMIN] {
        let (_, cookies) = sign_in(&harness, token).await;
        let (status, headers, body) = get(&harness, &format!("/reports/{id}"), &[("cookie", &cookies)]).await;
        assert_eq!(status, StatusCode::OK, "{token}: {body}");
        assert_eq!(headers[header::CONTENT_TYPE], "text/html; charset=utf-8");
        let policy = headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
        assert!(policy.contains("script-src 'self'") && policy.contains("frame-ancestors 'none'"), "{policy}");
        assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert_eq!(headers[header::CACHE_CONTROL], "no-store");

        assert!(!body.contains("<script>") && !body.contains("<b>bold") && !body.contains("<i>"), "{body}");
        assert!(
            body.contains("&#60;script&#62;alert(1)&#60;/script&#62;") || body.contains("&lt;script&gt;"),
            "{body}"
        );
        assert!(body.contains("dw.&#60;odd&#62;&#38;&#34;name&#34;") || body.contains("dw.&lt;odd&gt;"), "{body}");
        // Columns worst first: the odd one (2 mismatches) before `amount` (1), the equal key not shown.
        let odd = body.find("id=\"col-1\"").unwrap();
        let amount = body.find("id=\"col-0\"").unwrap();
        assert!(odd < amount, "sorted by mismatches");
        assert!(!body.contains("id=\"col-2\""), "equal columns are not cards");
        assert!(body.contains("+1 (+9.52%)"), "a number's delta");
        assert!(body.contains("extra is only in the candidate"), "schema findings");
        assert!(body.contains("Only in the baseline"), "one-side rows");
    }
}

#[tokio::test]
async fn a_signed_link_opens_one_report_until_it_expires_and_an_old_api_link_leads_to_the_page() {
    let harness = Harness::start("").await;
    let id = stored_report(&harness, "dw.changed").await;
    let key = api::rest::ui::links::key(&harness.store).await.unwrap();
    let now = chrono::Utc::now().timestamp();
    let valid = api::rest::ui::links::query(&key, id, now + 3600);
    let (status, _, body) = get(&harness, &format!("/reports/{id}?{valid}"), &[]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(!body.contains("Sign out"), "a link is not a session");

    let expired = api::rest::ui::links::query(&key, id, now - 1);
    let (status, _, body) = get(&harness, &format!("/reports/{id}?{expired}"), &[]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(body.contains("this link has expired"), "{body}");
    let tampered = valid.replace(&format!("exp={}", now + 3600), &format!("exp={}", now + 7200));
    let (status, _, body) = get(&harness, &format!("/reports/{id}?{tampered}"), &[]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(body.contains("signature is not valid"), "{body}");
    let other = stored_report(&harness, "dw.same").await;
    assert_eq!(get(&harness, &format!("/reports/{other}?{valid}"), &[]).await.0, StatusCode::FORBIDDEN, "one report");

    let (status, headers, _) = get(&harness, &format!("/api/v1/reports/{id}"), &[("accept", "text/html")]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers[header::LOCATION], format!("/reports/{id}"));
    let (status, _, _) = get(&harness, &format!("/api/v1/reports/{id}"), &[("accept", "application/json")]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "the API itself is unchanged");
    let (status, headers, body) = get(&harness, "/no/such/page", &[]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(headers[header::CONTENT_TYPE].to_str().unwrap().starts_with("text/html") && body.contains("Not found"));
}

#[tokio::test]
async fn the_reports_list_filters_by_get_parameters_and_pages() {
    let harness = Harness::start("").await;
    let first = stored_report(&harness, "dw.changed").await;
    let second = stored_report(&harness, "dw.same").await;
    let (_, cookies) = sign_in(&harness, VIEWER).await;
    let (status, _, body) = get(&harness, "/reports", &[("cookie", &cookies)]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains("2 reports") && body.contains(&format!("/reports/{first}")), "{body}");
    assert!(body.find(&format!("/reports/{second}\"")) < body.find(&format!("/reports/{first}\"")), "newest first");
    let (_, _, body) = get(&harness, "/reports?table=dw.same&verdict=", &[("cookie", &cookies)]).await;
    assert!(body.contains("1 reports") && !body.contains(&format!("/reports/{first}\"")), "{body}");
    assert!(body.contains(r#"name="table" value="dw.same""#), "the form keeps the filter");
    let (status, _, _) = get(&harness, "/reports?verdict=maybe", &[("cookie", &cookies)]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(get(&harness, "/reports", &[]).await.0, StatusCode::SEE_OTHER, "no session");
}

#[tokio::test]
async fn the_overview_lists_the_open_problems_and_the_activity() {
    let harness = Harness::start("").await;
    let id = stored_report(&harness, "dw.changed").await;
    let (status, headers, _) = get(&harness, "/", &[]).await;
    assert_eq!((status, headers[header::LOCATION].to_str().unwrap()), (StatusCode::SEE_OTHER, "/login?next=%2F"));
    let (_, cookies) = sign_in(&harness, VIEWER).await;
    let (status, _, body) = get(&harness, "/", &[("cookie", &cookies)]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains("Open problems") && body.contains(&format!("href=\"/reports/{id}\"")), "{body}");
    assert!(body.contains("No workflow is known yet"), "{body}");
    assert!(body.contains(r#"<dt>diffs queued</dt><dd><a href="/diffs?state=queued">0</a></dd>"#), "{body}");
}

#[tokio::test]
async fn an_operator_starts_a_diff_from_the_form_and_watches_it() {
    let harness = Harness::start("").await;
    let id = stored_report(&harness, "dw.changed").await;
    let (_, cookies) = sign_in(&harness, crate::rest::OPERATOR).await;
    let (_, _, report) = get(&harness, &format!("/reports/{id}"), &[("cookie", &cookies)]).await;
    let again = "/diffs/new?table=dw.changed&amp;partition=dt%3D2024-05-01&amp;run_id=2024-05-01";
    assert!(report.contains(again), "a report offers to diff again: {report}");
    let (status, _, form) = get(&harness, &again.replace("&amp;", "&"), &[("cookie", &cookies)]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(form.contains(r#"name="partition" value="dt=2024-05-01""#), "pre-filled: {form}");

    let post = |cookie: &str, origin: &str, body: &str| {
        Request::post("/diffs/new")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::HOST, "dqc.test")
            .header(header::ORIGIN, origin)
            .header(header::COOKIE, cookie)
            .body(Body::from(body.to_owned()))
            .unwrap()
    };
    let body = "table=dw.changed&partition=dt%3D2024-05-01&run_id=";
    assert_eq!(send(&harness, post(&cookies, "http://chat.example", body)).await.0, StatusCode::FORBIDDEN);
    let (status, _, page) = send(&harness, post(&cookies, "http://dqc.test", "table=dw.nope&partition=")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("is not registered"), "{page}");
    let (status, headers, _) = send(&harness, post(&cookies, "http://dqc.test", body)).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let progress = headers[header::LOCATION].to_str().unwrap().to_owned();
    let (status, _, page) = get(&harness, &progress, &[("cookie", &cookies)]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("queued") && page.contains(r#"<meta http-equiv="refresh" content="2">"#), "{page}");
    assert!(page.contains(r#"<div id="progress" data-poll="1">"#) && page.contains("/dqc.js\" defer"), "{page}");
    let script = page.split("<script src=\"").nth(1).unwrap().split('"').next().unwrap();
    let (status, headers, source) = get(&harness, script, &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_TYPE], "text/javascript; charset=utf-8");
    assert_eq!(headers[header::CACHE_CONTROL], "public, max-age=31536000, immutable");
    assert!(source.contains("data-poll"), "{source}");
    let (_, _, queued) = get(&harness, "/diffs?state=queued", &[("cookie", &cookies)]).await;
    assert!(queued.contains(&format!(r#"href="{progress}""#)), "the queued diffs list it: {queued}");
    let (_, _, running) = get(&harness, "/diffs?state=running", &[("cookie", &cookies)]).await;
    assert!(!running.contains(&format!(r#"href="{progress}""#)), "{running}");

    let (_, viewer) = sign_in(&harness, VIEWER).await;
    assert_eq!(send(&harness, post(&viewer, "http://dqc.test", body)).await.0, StatusCode::FORBIDDEN, "a viewer");
    let cancel = Request::post(format!("{progress}/cancel"))
        .header(header::HOST, "dqc.test")
        .header(header::ORIGIN, "http://dqc.test")
        .header(header::COOKIE, &cookies)
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(&harness, cancel).await.0, StatusCode::SEE_OTHER);
    let (_, _, page) = get(&harness, &progress, &[("cookie", &cookies)]).await;
    assert!(page.contains("cancelled") && !page.contains("http-equiv"), "a cancelled diff stops reloading: {page}");
    assert!(!page.contains("data-poll"), "and stops being polled: {page}");
}

#[tokio::test]
async fn an_older_report_says_it_is_superseded_and_shows_the_partitions_history() {
    let harness = Harness::start("").await;
    let first = stored_report(&harness, "dw.changed").await;
    let second = stored_report(&harness, "dw.changed").await;
    let (_, cookies) = sign_in(&harness, VIEWER).await;
    let (_, _, old) = get(&harness, &format!("/reports/{first}"), &[("cookie", &cookies)]).await;
    assert!(
        old.contains(&format!("Superseded by <a href=\"/reports/{second}\">report {second}</a> (inconsistent)")),
        "{old}"
    );
    assert_eq!(old.matches("<rect class=\"inconsistent").count(), 2, "two reports in the history: {old}");
    assert!(old.contains("<rect class=\"inconsistent current\"") && old.contains("History of this partition"));
    let (_, _, new) = get(&harness, &format!("/reports/{second}"), &[("cookie", &cookies)]).await;
    assert!(!new.contains("Superseded"), "the newest is not superseded");
}

#[tokio::test]
async fn dead_letters_are_shown_escaped_to_operators_and_deleted_by_admins() {
    let harness = Harness::start("").await;
    let payload = r#"{"event_id": "<img src=x>", "oops"#;
    let (status, _) = harness.call("POST", "/api/v1/events", Some(crate::rest::OPERATOR), Some(payload)).await;
    assert!(status.is_client_error(), "{status}");
    let letter = harness.store.dead_letters().await.unwrap().pop().expect("the payload was kept as a dead letter");
    let (_, viewer) = sign_in(&harness, VIEWER).await;
    assert_eq!(get(&harness, "/dead-letters", &[("cookie", &viewer)]).await.0, StatusCode::FORBIDDEN);
    let (_, operator) = sign_in(&harness, crate::rest::OPERATOR).await;
    let (status, _, page) = get(&harness, "/dead-letters", &[("cookie", &operator)]).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains(&format!("dead-letter-{}", letter.id)) && !page.contains("<img"), "{page}");
    assert!(!page.contains("/delete"), "only admins may delete");
    let (_, admin) = sign_in(&harness, ADMIN).await;
    let delete = |origin: &str| {
        Request::post(format!("/dead-letters/{}/delete", letter.id))
            .header(header::HOST, "dqc.test")
            .header(header::ORIGIN, origin)
            .header(header::COOKIE, &admin)
            .body(Body::empty())
            .unwrap()
    };
    assert_eq!(send(&harness, delete("http://chat.example")).await.0, StatusCode::FORBIDDEN);
    assert!(!harness.store.dead_letters().await.unwrap().is_empty(), "a foreign form deletes nothing");
    assert_eq!(send(&harness, delete("http://dqc.test")).await.0, StatusCode::SEE_OTHER);
    assert!(harness.store.dead_letters().await.unwrap().is_empty());
}

#[tokio::test]
async fn the_tables_show_their_latest_run_and_the_evidence_they_need() {
    let harness = Harness::start("").await;
    let id = stored_report(&harness, "dw.changed").await;
    let (_, cookies) = sign_in(&harness, VIEWER).await;
    let (status, _, page) = get(&harness, "/tables", &[("cookie", &cookies)]).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    // Both registered tables. The stored report is an on-demand one, which is not evidence: no
    // run is recorded, and neither table has a consistent run of the 3 it needs.
    assert!(page.contains("<strong>dw.changed</strong>") && page.contains("<strong>dw.same</strong>"), "{page}");
    assert!(page.contains("0 of 3 consistent runs needed"), "{page}");
    let (_, _, filtered) = get(&harness, "/tables?q=SAME", &[("cookie", &cookies)]).await;
    assert!(filtered.contains("dw.same") && !filtered.contains("<strong>dw.changed"), "{filtered}");
    let (status, _, table) = get(&harness, "/tables/dw.changed", &[("cookie", &cookies)]).await;
    assert_eq!(status, StatusCode::OK, "{table}");
    assert!(table.contains(&format!("href=\"/reports/{id}\"")) && table.contains("notify"), "{table}");
    assert_eq!(get(&harness, "/tables/dw.nope", &[("cookie", &cookies)]).await.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_session_ends_unused_after_its_idle_time_at_its_expiry_or_with_its_token() {
    let harness = Harness::start("").await;
    let store = &harness.store;
    let (idle, start) = (chrono::Duration::hours(12), chrono::Utc::now());
    store.open_session("digest", "viewer", start, start + chrono::Duration::days(7)).await.unwrap();
    assert!(store.session("digest", start + chrono::Duration::hours(11), idle).await.unwrap().is_some());
    // Used at 11 h (the last use is written at most once a minute): alive until 23 h.
    assert!(store.session("digest", start + chrono::Duration::hours(22), idle).await.unwrap().is_some());
    assert!(store.session("digest", start + chrono::Duration::hours(35), idle).await.unwrap().is_none(), "idle");
    store.open_session("short", "viewer", start, start + chrono::Duration::hours(1)).await.unwrap();
    assert!(store.session("short", start + chrono::Duration::hours(2), idle).await.unwrap().is_none(), "expired");

    let id = stored_report(&harness, "dw.changed").await;
    let (_, cookies) = sign_in(&harness, VIEWER).await;
    let page = format!("/reports/{id}");
    assert_eq!(get(&harness, &page, &[("cookie", &cookies)]).await.0, StatusCode::OK);
    let mut config = harness.config.clone();
    config.api.tokens.retain(|token| token.name != "viewer");
    let state =
        api::rest::AppState::new(harness.store.clone(), std::sync::Arc::new(config), Default::default()).unwrap();
    let (router, _) = api::rest::router(state).unwrap();
    let without = Harness { router, ..harness };
    assert_eq!(get(&without, &page, &[("cookie", &cookies)]).await.0, StatusCode::SEE_OTHER, "its token was removed");
}
