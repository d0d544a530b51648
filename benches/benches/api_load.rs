//! Load on the REST API over loopback: `GET /api/v1/reports` and `POST /api/v1/diffs`.
//!
//! Not a criterion bench (what matters is latency under concurrent load, not one call):
//! `cargo bench --bench api_load [-- SECONDS CONNECTIONS]` starts the whole service
//! (`service::run_on`: API, runner, notifier; no Kafka) on 127.0.0.1 with 2,000 stored reports,
//! on a runtime of its own, then drives each endpoint from CONNECTIONS concurrent clients
//! (default 16) for SECONDS (default 10) on another runtime, and prints throughput and latency
//! percentiles. The store is a SQLite file, or `DQC_BENCH_STORE_URL` (a PostgreSQL URL).
//! `POST /diffs` queues real diffs of a 1,000-row table, which the runner (2 at a time) runs
//! meanwhile, as in production.

use std::sync::Arc;
use std::time::{Duration, Instant};

use api::store::{NewReport, Verdict};
use arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};

const TOKEN: &str = "bench-operator";
const REPORTS: usize = 2_000;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|arg| !arg.starts_with('-')).collect();
    let seconds: u64 = args.first().and_then(|a| a.parse().ok()).unwrap_or(10);
    let connections: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(16);
    let dir = tempfile::tempdir().expect("temporary directory");
    let root = dir.path();
    write_tables(root);
    let store_url =
        std::env::var("DQC_BENCH_STORE_URL").unwrap_or_else(|_| format!("sqlite://{}", root.join("dqc.db").display()));
    let config = api::config::parse(&config_text(root, &store_url), "bench", &Default::default()).expect("config");

    let server = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    let (url, service) = server.block_on(async {
        let store = api::service::open_store(&config).await.expect("store");
        seed_reports(&store).await;
        store.close().await;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("port");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        (url, tokio::spawn(api::service::run_on(config, listener, shutdown)))
    });

    let client_runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("runtime");
    println!(
        "API load on loopback: {connections} connections, {seconds} s per endpoint, store {}",
        store_kind(&store_url)
    );
    println!(
        "{:<42} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "endpoint", "requests", "req/s", "p50 ms", "p90 ms", "p99 ms", "max ms"
    );
    let endpoints: [(&str, Option<&str>); 3] = [
        ("GET /api/v1/reports?limit=50", None),
        ("GET /api/v1/reports?table=dw.t7&limit=20", None),
        ("POST /api/v1/diffs", Some(r#"{"table": "dw.small", "partition": {"dt": "2024-05-01"}}"#)),
    ];
    for (endpoint, body) in endpoints {
        let (method, path) = endpoint.split_once(' ').expect("method and path");
        let target = format!("{url}{path}");
        let (latencies, errors, elapsed) = client_runtime.block_on(drive(
            method == "POST",
            Arc::new(target),
            body,
            connections,
            Duration::from_secs(seconds),
        ));
        print_row(endpoint, &latencies, errors, elapsed);
    }
    let _ = stop.send(true);
    server.block_on(async { service.await.expect("service task").expect("service") });
}

async fn drive(
    post: bool,
    target: Arc<String>,
    body: Option<&'static str>,
    connections: usize,
    duration: Duration,
) -> (Vec<Duration>, usize, Duration) {
    let client = reqwest::Client::builder().pool_max_idle_per_host(connections).build().expect("client");
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let (client, target) = (client.clone(), Arc::clone(&target));
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = 0;
            while started.elapsed() < duration {
                let request = if post { client.post(target.as_str()) } else { client.get(target.as_str()) };
                let request = request.header("authorization", format!("Bearer {TOKEN}"));
                let request = match body {
                    Some(body) => request.header("content-type", "application/json").body(body),
                    None => request,
                };
                let sent = Instant::now();
                match request.send().await {
                    Ok(response) if response.status().is_success() => {
                        let _ = response.bytes().await;
                        latencies.push(sent.elapsed());
                    }
                    _ => errors += 1,
                }
            }
            (latencies, errors)
        }));
    }
    let mut latencies = Vec::new();
    let mut errors = 0;
    for task in tasks {
        let (mut some, failed) = task.await.expect("client task");
        latencies.append(&mut some);
        errors += failed;
    }
    (latencies, errors, started.elapsed())
}

fn print_row(endpoint: &str, latencies: &[Duration], errors: usize, elapsed: Duration) {
    let mut sorted: Vec<f64> = latencies.iter().map(|latency| latency.as_secs_f64() * 1000.0).collect();
    sorted.sort_by(f64::total_cmp);
    let percentile = |p: f64| {
        if sorted.is_empty() {
            return f64::NAN;
        }
        let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
        sorted[rank.min(sorted.len() - 1)]
    };
    println!(
        "{endpoint:<42} {:>9} {:>9.0} {:>9.2} {:>9.2} {:>9.2} {:>9.2}{}",
        sorted.len(),
        sorted.len() as f64 / elapsed.as_secs_f64(),
        percentile(50.0),
        percentile(90.0),
        percentile(99.0),
        sorted.last().copied().unwrap_or(f64::NAN),
        if errors > 0 { format!("  ({errors} errors)") } else { String::new() }
    );
}

fn store_kind(url: &str) -> &'static str {
    if url.starts_with("sqlite") { "SQLite" } else { "PostgreSQL" }
}

fn config_text(root: &std::path::Path, store_url: &str) -> String {
    let location = format!("{}/{{cluster}}/warehouse/{{db}}.db/{{table}}/{{partition_path}}", root.display());
    format!(
        r#"
[[clusters]]
name = "idc-hadoop"
role = "baseline"
location = "{location}"

[[clusters]]
name = "cloud-emr"
role = "candidate"
location = "{location}"

[api]
listen = "127.0.0.1:0"
tokens = [{{ name = "bench", role = "operator", sha256 = "{hash}" }}]

[store]
url = "{store_url}"

[runner]
max_concurrent = 2
poll_interval = "100ms"

[[tables]]
name = "dw.small"
key = ["id"]
"#,
        hash = api::rest::hash_token(TOKEN),
    )
}

fn write_tables(root: &std::path::Path) {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("value", DataType::Utf8, true),
    ]));
    let ids: Vec<i64> = (0..1_000).collect();
    let values: Vec<String> = ids.iter().map(|id| format!("v{id}")).collect();
    let columns: Vec<ArrayRef> = vec![Arc::new(Int64Array::from(ids)), Arc::new(StringArray::from(values))];
    let batch = RecordBatch::try_new(schema, columns).expect("batch");
    for cluster in ["idc-hadoop", "cloud-emr"] {
        let dir = root.join(cluster).join("warehouse/dw.db/small/dt=2024-05-01");
        std::fs::create_dir_all(&dir).expect("directory");
        dqc_tests::write_orc(&dir.join("000000_0"), std::slice::from_ref(&batch));
    }
}

/// Stores `REPORTS` reports of 20 tables, each through a job claimed and finished as the
/// runner would.
async fn seed_reports(store: &api::store::Store) {
    let now = chrono::Utc::now();
    let side = |cluster: &str| api::store::SideSpec {
        cluster: cluster.into(),
        location: None,
        partition_path: "dt=2024-05-01".into(),
        event_id: None,
        attempt: None,
    };
    for index in 0..REPORTS {
        let spec = api::store::JobSpec {
            table: format!("dw.t{}", index % 20),
            partition: "dt=2024-05-01".into(),
            run_id: Some(format!("run-{index}")),
            baseline: side("idc-hadoop"),
            candidate: side("cloud-emr"),
        };
        store.enqueue(&spec, now).await.expect("enqueue");
        let job = store.claim("seed", now, Duration::from_secs(60), true).await.expect("claim").expect("a job");
        let verdict = if index % 10 == 0 { Verdict::Inconsistent } else { Verdict::Consistent };
        let report = serde_json::json!({
            "verdict": verdict, "summary": {"matched": 1_000_000, "changed": if index % 10 == 0 { 12 } else { 0 },
            "only_in_baseline": 0, "only_in_candidate": 0},
        });
        let report = NewReport { verdict, reason: None, report, export_path: None };
        store.finish(&job, "seed", &report, now).await.expect("finish");
    }
}
