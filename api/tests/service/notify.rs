//! Notifications against real local receivers: an HTTP server standing in for the webhook,
//! Slack and DingTalk, and an SMTP server; both fail first, the service restarts in between.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use chrono::{TimeZone, Utc};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use crate::rest::{Harness, OPERATOR, Running};
use crate::support::{event, wait_until, write_table};

const RUN: &str = "2024-05-01";

/// What the receivers got: successful deliveries (sink, idempotency key, body) and refusals.
#[derive(Debug, Default)]
pub(crate) struct Received {
    pub(crate) delivered: Vec<(String, String, String)>,
    refused: BTreeMap<String, usize>,
}

#[derive(Debug, Clone)]
pub(crate) struct Receiver {
    failing: Arc<AtomicBool>,
    pub(crate) received: Arc<Mutex<Received>>,
}

impl Receiver {
    /// A receiver that takes every message.
    pub(crate) fn taking() -> Self {
        Self { failing: Arc::new(AtomicBool::new(false)), received: Arc::default() }
    }

    fn record(&self, sink: &str, key: String, body: String) -> bool {
        let mut received = self.received.lock().unwrap();
        if self.failing.load(Ordering::SeqCst) {
            *received.refused.entry(sink.to_owned()).or_default() += 1;
            false
        } else {
            received.delivered.push((sink.to_owned(), key, body));
            true
        }
    }
}

async fn http_sink(
    State((receiver, sink)): State<(Receiver, &'static str)>,
    headers: HeaderMap,
    body: String,
) -> (StatusCode, String) {
    let key = headers.get("idempotency-key").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    let delivered = receiver.record(sink, key, body);
    match (delivered, sink) {
        (true, "dingtalk") => (StatusCode::OK, r#"{"errcode":0,"errmsg":"ok"}"#.into()),
        (true, _) => (StatusCode::OK, "ok".into()),
        // DingTalk refuses with 200 and an error code in the body.
        (false, "dingtalk") => (StatusCode::OK, r#"{"errcode":130101,"errmsg":"send too fast"}"#.into()),
        (false, _) => (StatusCode::SERVICE_UNAVAILABLE, "try later".into()),
    }
}

pub(crate) async fn start_http(receiver: Receiver) -> String {
    let router = axum::Router::new()
        .route("/hook", axum::routing::post(http_sink).with_state((receiver.clone(), "hook")))
        .route("/slack", axum::routing::post(http_sink).with_state((receiver.clone(), "slack")))
        .route("/dingtalk", axum::routing::post(http_sink).with_state((receiver, "dingtalk")));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    url
}

/// A minimal SMTP server: `451` to MAIL while failing, else takes the message.
pub(crate) async fn start_smtp(receiver: Receiver) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (socket, _) = listener.accept().await.unwrap();
            let receiver = receiver.clone();
            tokio::spawn(async move {
                let (read, mut write) = socket.into_split();
                let mut lines = BufReader::new(read).lines();
                write.write_all(b"220 fake ESMTP\r\n").await.unwrap();
                let mut message = String::new();
                while let Ok(Some(line)) = lines.next_line().await {
                    let command = line.to_ascii_uppercase();
                    let answer: &[u8] = if command.starts_with("EHLO") || command.starts_with("HELO") {
                        b"250 fake\r\n"
                    } else if command.starts_with("MAIL") {
                        if receiver.failing.load(Ordering::SeqCst) {
                            receiver.record("email", String::new(), String::new());
                            b"451 try again later\r\n"
                        } else {
                            b"250 OK\r\n"
                        }
                    } else if command.starts_with("DATA") {
                        write.write_all(b"354 go ahead\r\n").await.unwrap();
                        while let Ok(Some(data)) = lines.next_line().await {
                            if data == "." {
                                break;
                            }
                            message.push_str(&data);
                            message.push('\n');
                        }
                        let key = message
                            .lines()
                            .find_map(|l| l.strip_prefix("Message-ID: <"))
                            .map(|id| id.trim_end_matches('>').trim_end_matches("@dqc").to_owned())
                            .unwrap_or_default();
                        receiver.record("email", key, std::mem::take(&mut message));
                        b"250 queued\r\n"
                    } else if command.starts_with("QUIT") {
                        write.write_all(b"221 bye\r\n").await.unwrap();
                        break;
                    } else {
                        b"250 OK\r\n"
                    };
                    write.write_all(answer).await.unwrap();
                }
            });
        }
    });
    format!("smtp://{address}")
}

fn notifications_toml(http: &str, smtp: &str) -> String {
    format!(
        r#"
[notifications]
retry_backoff = "100ms"
max_attempts = 100
poll_interval = "50ms"
digest_time = "09:00"
timezone = "UTC"

[[notifications.sinks]]
name = "hook"
kind = "webhook"
url = "{http}/hook"

[[notifications.sinks]]
name = "slack"
kind = "slack"
url = "{http}/slack"

[[notifications.sinks]]
name = "dingtalk"
kind = "dingtalk"
url = "{http}/dingtalk"

[[notifications.sinks]]
name = "mail"
kind = "email"
url = "{smtp}"
from = "dqc <dqc@example.com>"

[[tables]]
name = "dw.always"
key = ["id"]
notify = "always"
sinks = ["hook"]

[[tables]]
name = "dw.digest"
key = ["id"]
notify = "daily_digest"
sinks = ["hook", "slack"]

[[tables]]
name = "dw.quiet"
key = ["id"]
notify = "never"
"#
    )
}

async fn post_events(url: &str, tables: &[&str]) {
    let client = reqwest::Client::new();
    for table in tables {
        for (short, cluster) in [("b", "idc-hadoop"), ("c", "cloud-emr")] {
            let body = event(&format!("{short}-{table}"), cluster, &format!("dw.{table}"), RUN, 1, "succeeded");
            let response = client
                .post(format!("{url}/api/v1/events"))
                .header("authorization", format!("Bearer {OPERATOR}"))
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), reqwest::StatusCode::ACCEPTED);
        }
    }
}

#[tokio::test]
async fn each_report_reaches_each_sink_once_through_failures_and_a_restart() {
    crate::rest::on_each_engine(through_failures_and_a_restart).await;
}

async fn through_failures_and_a_restart(store: Option<String>) {
    let receiver = Receiver { failing: Arc::new(AtomicBool::new(true)), received: Arc::default() };
    let http = start_http(receiver.clone()).await;
    let smtp = start_smtp(receiver.clone()).await;
    let harness = Harness::start_on(&notifications_toml(&http, &smtp), store).await;
    for cluster in ["idc-hadoop", "cloud-emr"] {
        let changed = if cluster == "cloud-emr" { 2 } else { 0 };
        for table in ["always", "quiet"] {
            write_table(&harness.root, cluster, table, RUN, 100, 0);
        }
        write_table(&harness.root, cluster, "digest", RUN, 100, changed);
    }
    let store = harness.store.clone();
    let report_of = |table: &'static str| {
        let store = store.clone();
        async move {
            let filter = api::store::ReportFilter { table: Some(table.into()), ..Default::default() };
            store.reports(&filter).await.unwrap().first().map(|report| report.id)
        }
    };

    // First run: every receiver fails.
    let first = Running::start(harness.config.clone()).await;
    post_events(&first.url, &["same", "changed", "always", "quiet", "digest"]).await;
    wait_until("five reports", Duration::from_secs(60), || async {
        store.report_count(&Default::default()).await.unwrap() == 5
    })
    .await;
    let changed = report_of("dw.changed").await.unwrap();
    wait_until("every sink of the changed report failed twice", Duration::from_secs(30), || async {
        let rows = store.notifications(changed).await.unwrap();
        rows.len() == 4 && rows.iter().all(|row| row.attempts >= 2 && row.state == "pending")
    })
    .await;
    first.stop().await;
    {
        let received = receiver.received.lock().unwrap();
        assert!(received.delivered.is_empty(), "{:?}", received.delivered);
        for sink in ["hook", "slack", "dingtalk", "email"] {
            assert!(received.refused.get(sink).copied().unwrap_or(0) >= 2, "{sink} was tried: {:?}", received.refused);
        }
    }

    // The receivers recover; a new instance on the same store delivers.
    receiver.failing.store(false, Ordering::SeqCst);
    let second = Running::start(harness.config.clone()).await;
    let always = report_of("dw.always").await.unwrap();
    wait_until("the changed report's 4 and the always report's 1 delivered", Duration::from_secs(30), || async {
        let sent = |rows: Vec<api::store::NotificationStatus>| rows.iter().filter(|row| row.state == "sent").count();
        sent(store.notifications(changed).await.unwrap()) == 4 && sent(store.notifications(always).await.unwrap()) == 1
    })
    .await;
    // A few more rounds: nothing else may arrive.
    tokio::time::sleep(Duration::from_millis(500)).await;
    second.stop().await;
    let delivered = receiver.received.lock().unwrap().delivered.clone();
    let mut keys: Vec<(String, String)> = delivered.iter().map(|(sink, key, _)| (sink.clone(), key.clone())).collect();
    keys.sort();
    let expected: Vec<(String, String)> = vec![
        ("dingtalk".into(), format!("dqc-report-{changed}-dingtalk")),
        ("email".into(), format!("dqc-report-{changed}-mail")),
        ("hook".into(), format!("dqc-report-{always}-hook")),
        ("hook".into(), format!("dqc-report-{changed}-hook")),
        ("slack".into(), format!("dqc-report-{changed}-slack")),
    ];
    let mut expected = expected;
    expected.sort();
    assert_eq!(keys, expected, "each report once per sink: none lost, none twice, consistent and `never` tables quiet");
    check_messages(&delivered, changed);

    the_digest_goes_out_the_next_morning(&harness, &receiver, report_of("dw.digest").await.unwrap()).await;
}

fn check_messages(delivered: &[(String, String, String)], changed: i64) {
    let body = |sink: &str, key: &str| {
        delivered.iter().find(|(s, k, _)| s == sink && k.contains(key)).map(|(_, _, body)| body.clone()).unwrap()
    };
    // People get the report's page with a signed link; a webhook also the API's address.
    let report_url = format!("/reports/{changed}?exp=");
    let hook: Value = serde_json::from_str(&body("hook", &format!("-{changed}-"))).unwrap();
    assert_eq!(hook["idempotency_key"], format!("dqc-report-{changed}-hook"));
    assert_eq!(hook["report"]["summary"]["changed"], 3, "{hook}");
    assert!(hook["report"]["url"].as_str().unwrap().ends_with(&format!("/api/v1/reports/{changed}")), "{hook}");
    let page = hook["report"]["page"].as_str().unwrap();
    assert!(page.contains(&report_url) && page.contains("&sig="), "{hook}");
    let slack: Value = serde_json::from_str(&body("slack", "")).unwrap();
    let text = slack["text"].as_str().unwrap();
    for part in [
        "dw.changed: inconsistent",
        "partition dt=2024-05-01 · run 2024-05-01",
        "changed 3",
        "value: 3 differ, e.g. id=",
        &report_url,
    ] {
        assert!(text.contains(part), "`{part}` in the Slack message:\n{text}");
    }
    let dingtalk: Value = serde_json::from_str(&body("dingtalk", "")).unwrap();
    assert_eq!(dingtalk["msgtype"], "markdown");
    assert!(dingtalk["markdown"]["text"].as_str().unwrap().contains("**❌ dw.changed: inconsistent**"), "{dingtalk}");
    let mail = body("email", "");
    assert!(mail.contains("Subject: =?utf-8?") || mail.contains("dw.changed"), "{mail}");
    assert!(mail.contains("To: owner@example.com"), "{mail}");
}

async fn the_digest_goes_out_the_next_morning(harness: &Harness, receiver: &Receiver, digest: i64) {
    let store = &harness.store;
    // The digest waits for its day to end, then goes out as one message per sink.
    let pending = store.notifications(digest).await.unwrap();
    assert_eq!(
        pending.iter().map(|row| (row.sink.as_str(), row.state.as_str())).collect::<Vec<_>>(),
        vec![("hook", "pending"), ("slack", "pending")]
    );
    let telemetry = api::telemetry::Telemetry::default();
    let client = reqwest::Client::new();
    let today = Utc::now().date_naive();
    let tomorrow_nine = Utc.from_utc_datetime(&today.succ_opt().unwrap().and_hms_opt(9, 0, 1).unwrap());
    api::notify::round(store, &harness.config, &telemetry, &client, Utc::now()).await.unwrap();
    assert!(
        store.notifications(digest).await.unwrap().iter().all(|row| row.state == "pending"),
        "not before 09:00 tomorrow"
    );
    api::notify::round(store, &harness.config, &telemetry, &client, tomorrow_nine).await.unwrap();
    assert!(store.notifications(digest).await.unwrap().iter().all(|row| row.state == "sent"));
    let delivered = receiver.received.lock().unwrap().delivered.clone();
    let digests: Vec<&(String, String, String)> =
        delivered.iter().filter(|(_, key, _)| key.starts_with("dqc-digest-")).collect();
    assert_eq!(digests.len(), 2, "{digests:?}");
    let slack = digests.iter().find(|(sink, _, _)| sink == "slack").unwrap();
    assert!(slack.2.contains(&format!("dqc daily digest {today}: 1 reports")), "{}", slack.2);
}

/// A notification its sink never takes is retried for `retry_for`, then given up; an operator
/// queues it again with `POST /notifications/{id}/resend`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_given_up_notification_is_resent_on_request() {
    let extra = "[notifications]\nretry_backoff = \"100ms\"\nretry_for = \"400ms\"\npoll_interval = \"50ms\"\n\n\
                 [[notifications.sinks]]\nname = \"down\"\nkind = \"webhook\"\nurl = \"http://127.0.0.1:9/hook\"\n";
    let harness = crate::rest::Harness::start(extra).await;
    let running = crate::rest::Running::start(harness.config.clone()).await;
    let client = reqwest::Client::new();
    let post = |path: String, body: Option<String>| {
        let request = client.post(format!("{}{path}", running.url)).bearer_auth(crate::rest::OPERATOR);
        let request = match body {
            Some(body) => request.header("content-type", "application/json").body(body),
            None => request,
        };
        async move { request.send().await.unwrap().status() }
    };
    for (id, cluster) in [("b", "idc-hadoop"), ("c", "cloud-emr")] {
        let event = crate::support::event(id, cluster, "dw.changed", "2024-05-01", 1, "succeeded");
        assert_eq!(post("/api/v1/events".into(), Some(event)).await, reqwest::StatusCode::ACCEPTED);
    }
    let store = &harness.store;
    let failed = || async {
        let reports = store.reports(&api::store::ReportFilter::default()).await.unwrap();
        let report = reports.first()?;
        let notifications = store.notifications(report.id).await.unwrap();
        notifications.first().filter(|n| n.state == "failed").cloned()
    };
    wait_until("the notification to be given up", Duration::from_secs(30), || async { failed().await.is_some() }).await;
    let given_up = failed().await.unwrap();
    assert!(given_up.attempts >= 2, "retried before it was given up: {given_up:?}");
    let resend = format!("/api/v1/notifications/{}/resend", given_up.id);
    assert_eq!(post(resend.clone(), None).await, reqwest::StatusCode::ACCEPTED);
    assert_eq!(post(resend, None).await, reqwest::StatusCode::CONFLICT, "queued again, not given up");
    assert_eq!(post("/api/v1/notifications/999999/resend".into(), None).await, reqwest::StatusCode::NOT_FOUND);
    wait_until("the resent notification to be given up again", Duration::from_secs(30), || async {
        failed().await.is_some()
    })
    .await;
    running.stop().await;
}

/// Posts both sides of a pair of `dw.changed` whose diff finds a change.
async fn post_changed_pair(url: &str) {
    let client = reqwest::Client::new();
    for (id, cluster) in [("b", "idc-hadoop"), ("c", "cloud-emr")] {
        let response = client
            .post(format!("{url}/api/v1/events"))
            .bearer_auth(OPERATOR)
            .header("content-type", "application/json")
            .body(event(id, cluster, "dw.changed", "2024-05-01", 1, "succeeded"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), reqwest::StatusCode::ACCEPTED);
    }
}

/// Sinks are delivered concurrently: one that accepts connections and never answers holds its
/// own notification, not the others'.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sink_that_never_answers_delays_no_other() {
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_url = format!("http://{}/hook", silent.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = silent.accept().await {
            held.push(stream); // read nothing, answer nothing
        }
    });
    let answering = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let answering_url = format!("http://{}/hook", answering.local_addr().unwrap());
    let app = axum::Router::new().route("/hook", axum::routing::post(|| async { "ok" }));
    tokio::spawn(async move { axum::serve(answering, app).await.unwrap() });
    // "a-silent" sorts first: delivered one after the other, it would hold "b-answering".
    let extra = format!(
        "[notifications]\ntimeout = \"60s\"\npoll_interval = \"50ms\"\n\n\
         [[notifications.sinks]]\nname = \"a-silent\"\nkind = \"webhook\"\nurl = \"{silent_url}\"\n\n\
         [[notifications.sinks]]\nname = \"b-answering\"\nkind = \"webhook\"\nurl = \"{answering_url}\"\n"
    );
    let harness = Harness::start(&extra).await;
    let running = Running::start(harness.config.clone()).await;
    post_changed_pair(&running.url).await;
    let store = &harness.store;
    let states = || async {
        let reports = store.reports(&api::store::ReportFilter::default()).await.unwrap();
        let Some(report) = reports.first() else { return Vec::new() };
        let rows = store.notifications(report.id).await.unwrap();
        rows.into_iter().map(|row| (row.sink, row.state)).collect::<Vec<_>>()
    };
    wait_until("the answering sink's delivery", Duration::from_secs(20), || async {
        states().await.contains(&("b-answering".to_owned(), "sent".to_owned()))
    })
    .await;
    assert!(states().await.contains(&("a-silent".to_owned(), "sending".to_owned())), "{:?}", states().await);
    drop(running); // the silent sink's request is still open
}

/// Failures are told apart by fault: a sink that answers 404 (a wrong URL, which no retry
/// fixes) is given up after one attempt, while one that answers 503 is retried.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_permanent_refusal_is_given_up_at_once_and_a_busy_sink_is_retried() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = axum::Router::new()
        .route("/gone", axum::routing::post(|| async { (StatusCode::NOT_FOUND, "no such hook") }))
        .route("/busy", axum::routing::post(|| async { (StatusCode::SERVICE_UNAVAILABLE, "try later") }));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let extra = format!(
        "[notifications]\nretry_backoff = \"50ms\"\npoll_interval = \"50ms\"\n\n\
         [[notifications.sinks]]\nname = \"gone\"\nkind = \"webhook\"\nurl = \"{base}/gone\"\n\n\
         [[notifications.sinks]]\nname = \"busy\"\nkind = \"webhook\"\nurl = \"{base}/busy\"\n"
    );
    let harness = Harness::start(&extra).await;
    let running = Running::start(harness.config.clone()).await;
    post_changed_pair(&running.url).await;
    let store = &harness.store;
    let rows = || async {
        let reports = store.reports(&api::store::ReportFilter::default()).await.unwrap();
        let Some(report) = reports.first() else { return Vec::new() };
        store.notifications(report.id).await.unwrap()
    };
    wait_until("the busy sink to be tried three times", Duration::from_secs(30), || async {
        rows().await.iter().any(|row| row.sink == "busy" && row.attempts >= 3)
    })
    .await;
    let all = rows().await;
    let gone = all.iter().find(|row| row.sink == "gone").unwrap();
    assert_eq!((gone.state.as_str(), gone.attempts), ("failed", 1), "{gone:?}");
    assert!(gone.last_error.as_deref().unwrap_or_default().contains("HTTP 404"), "{gone:?}");
    let busy = all.iter().find(|row| row.sink == "busy").unwrap();
    assert_ne!(busy.state, "failed", "{busy:?}");
    running.stop().await;
}
