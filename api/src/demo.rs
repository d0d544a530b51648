//! `dqc demo`: the whole service on a laptop, with nothing to install.
//!
//! 1. Two small warehouses (baseline `idc-hadoop`, candidate `cloud-emr`) are written as ORC in
//!    a temporary directory: five tables of one run, with differences injected on purpose.
//! 2. A Kafka broker starts inside the process (rdkafka's `MockCluster` on 127.0.0.1).
//! 3. The service (`dqc serve`: API, collector, runner, notifier) starts on a local port with a
//!    SQLite store in the same directory.
//! 4. Task-finished events of both clusters are published, and the demo waits for the reports
//!    through the REST API, then prints each report's summary and the URLs to open.
//! 5. An inventory of both warehouses' `shop` database (`POST /api/v1/inventories`, deep)
//!    compares them partition by partition; the demo prints its counts and its page.
//!
//! | table | what the candidate did | verdict |
//! |---|---|---|
//! | `shop.orders` | same rows in another order, split into two files | consistent |
//! | `shop.customers` | 3 e-mails changed, 1 customer missing, 1 extra | inconsistent |
//! | `shop.payments` | same rows in another order, split into two files | consistent |
//! | `shop.inventory` | the task failed | divergent |
//! | `shop.shipments` | never ran (its 2 s deadline passes) | divergent |

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{DefaultProducerContext, FutureProducer, FutureRecord};
use tokio::sync::watch;

use crate::error::Error;

/// The run every event of the demo names.
const RUN: &str = "2024-05-01";
/// The demo's events topic.
const TOPIC: &str = "dqc.task-finished";
/// How long the demo waits for its reports.
const WAIT: Duration = Duration::from_secs(180);

/// The demo's options.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// The API's port (0: any free port).
    pub port: u16,
    /// Rows per table and side.
    pub rows: i64,
    /// Stop once the reports are printed (else serve until `shutdown`).
    pub exit: bool,
}

/// What the demo saw: each table's verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoOutcome {
    /// `db.table` -> verdict.
    pub verdicts: BTreeMap<String, String>,
    /// The API's base URL.
    pub url: String,
}

/// The verdicts the demo's data must produce.
pub fn expected_verdicts() -> BTreeMap<String, String> {
    [
        ("shop.customers", "inconsistent"),
        ("shop.inventory", "divergent"),
        ("shop.orders", "consistent"),
        ("shop.payments", "consistent"),
        ("shop.shipments", "divergent"),
    ]
    .into_iter()
    .map(|(table, verdict)| (table.to_owned(), verdict.to_owned()))
    .collect()
}

/// Runs the demo; prints to stdout as it goes.
pub async fn run(options: &DemoOptions, shutdown: watch::Receiver<bool>) -> Result<DemoOutcome, Error> {
    let dir = tempfile::Builder::new()
        .prefix("dqc-demo-")
        .tempdir()
        .map_err(|e| Error::io("create the demo directory", e))?;
    let root = dir.path();
    write_warehouses(&root.join("data"), options.rows)?;
    let mock: MockCluster<'static, DefaultProducerContext> = MockCluster::new(1)?;
    mock.create_topic(TOPIC, 4, 1)?;
    let token = crate::rest::new_token().map_err(|e| Error::io("draw a token", e))?;
    let config = crate::config::parse(
        &config_text(root, &mock.bootstrap_servers(), options.port, &token),
        "dqc demo",
        &BTreeMap::new(),
    )?;
    let listener = crate::service::bind(&config).await?;
    let address =
        listener.local_addr().map_err(|source| Error::Listen { address: "the demo listener".into(), source })?;
    let url = format!("http://{address}");
    println!("dqc demo: warehouses in {}", root.join("data").display());
    println!(
        "dqc demo: API on {url} (SQLite store {}), in-process Kafka at {}",
        root.join("dqc.db").display(),
        mock.bootstrap_servers()
    );
    let (stop, service_shutdown) = watch::channel(false);
    let mut service = tokio::spawn(crate::service::run_on(config, listener, service_shutdown));
    import_dag(&url, &token).await?;
    publish(&mock.bootstrap_servers()).await?;
    println!("dqc demo: published 9 task-finished events; waiting for the reports ...");
    let waited = tokio::select! {
        reports = wait_for_reports(&url) => reports,
        joined = &mut service => {
            return Err(match joined {
                Ok(Err(error)) => error,
                Ok(Ok(())) => Error::Stopped("it returned before the reports came".into()),
                Err(error) => Error::Stopped(error.to_string()),
            });
        }
    };
    let reports = match waited {
        Ok(reports) => reports,
        Err(error) => {
            let _ = stop.send(true);
            let _ = service.await;
            return Err(error);
        }
    };
    print_reports(&reports, &url, &token);
    let inventory = tokio::time::timeout(WAIT, inventory(&url, &token)).await.unwrap_or_else(|_| {
        Err(Error::Stopped(format!("the inventory did not end within {}", humantime::format_duration(WAIT))))
    });
    match inventory {
        Ok(line) => println!("{line}"),
        Err(error) => {
            let _ = stop.send(true);
            let _ = service.await;
            return Err(error);
        }
    }
    let verdicts =
        reports.iter().map(|report| (text(report, "table"), text(report, "verdict"))).collect::<BTreeMap<_, _>>();
    if !options.exit {
        println!("\nServing until Ctrl-C.");
        let mut shutdown = shutdown;
        while !*shutdown.borrow() {
            if shutdown.changed().await.is_err() {
                break;
            }
        }
    }
    let _ = stop.send(true);
    match service.await {
        Ok(Err(error)) => return Err(error),
        Err(error) => return Err(Error::Stopped(error.to_string())),
        Ok(Ok(())) => {}
    }
    drop(mock);
    Ok(DemoOutcome { verdicts, url })
}

fn config_text(root: &Path, brokers: &str, port: u16, token: &str) -> String {
    let location = format!("{}/data/{{cluster}}/warehouse/{{db}}.db/{{table}}/{{partition_path}}", root.display());
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
listen = "127.0.0.1:{port}"
anonymous_role = "viewer"
allowed_roots = ["{data}"]
tokens = [{{ name = "demo", role = "admin", sha256 = "{hash}" }}]

[kafka]
brokers = "{brokers}"
topic = "{TOPIC}"
group_id = "dqc-demo"
batch_wait = "20ms"
properties = {{ "auto.offset.reset" = "earliest" }}

[store]
url = "sqlite://{database}"

[runner]
max_concurrent = 2
poll_interval = "100ms"
export_dir = "{exports}"

[pairing]
sweep_interval = "250ms"

[notifications]
poll_interval = "250ms"

[[tables]]
name = "shop.orders"
key = ["order_id"]
owners = ["orders-team@example.com"]

[[tables]]
name = "shop.customers"
key = ["customer_id"]
owners = ["crm@example.com"]

[[tables]]
name = "shop.payments"
key = ["payment_id"]

[[tables]]
name = "shop.inventory"
key = ["sku_id"]

[[tables]]
name = "shop.shipments"
key = ["shipment_id"]
deadline = "2s"
"#,
        data = root.join("data").display(),
        hash = crate::rest::hash_token(token),
        database = root.join("dqc.db").display(),
        exports = root.join("exports").display(),
    )
}

/// Writes both warehouses; see the module docs for what differs.
fn write_warehouses(data: &Path, rows: i64) -> Result<(), Error> {
    let ids: Vec<i64> = (1..=rows).collect();
    let reversed: Vec<i64> = ids.iter().rev().copied().collect();
    for (cluster, order) in [("idc-hadoop", &ids), ("cloud-emr", &reversed)] {
        let candidate = cluster == "cloud-emr";
        // Orders: the candidate writes the rows in another order, in two files.
        let files = if candidate { 2 } else { 1 };
        write(data, cluster, "orders", &table(order, "order_id", &|id| format!("buyer-{}", id % 97)), files)?;
        // Customers: 3 changed e-mails, customer 1 missing, an extra one.
        let mut customers: Vec<i64> = order.clone();
        if candidate {
            customers.retain(|id| *id != 1);
            customers.push(rows + 1);
        }
        let email = |id: i64| {
            if candidate && (2..=4).contains(&id) {
                format!("user{id}@new.example")
            } else {
                format!("user{id}@example.com")
            }
        };
        write(data, cluster, "customers", &table(&customers, "customer_id", &email), 1)?;
        write(data, cluster, "payments", &table(order, "payment_id", &|id| format!("card-{}", id % 13)), files)?;
        write(data, cluster, "inventory", &table(order, "sku_id", &|id| format!("sku-{id}")), 1)?;
    }
    write(data, "idc-hadoop", "shipments", &table(&ids, "shipment_id", &|id| format!("parcel-{id}")), 1)?;
    Ok(())
}

/// Rows with the key, a text column and an amount.
fn table(ids: &[i64], key: &str, text: &dyn Fn(i64) -> String) -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![
        Field::new(key, DataType::Int64, false),
        Field::new("detail", DataType::Utf8, true),
        Field::new("amount", DataType::Float64, true),
    ]));
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from(ids.to_vec())),
        Arc::new(StringArray::from(ids.iter().map(|id| text(*id)).collect::<Vec<_>>())),
        Arc::new(Float64Array::from(ids.iter().map(|id| (id % 1000) as f64 * 1.5).collect::<Vec<_>>())),
    ];
    RecordBatch::try_new(schema, columns).unwrap_or_else(|_| RecordBatch::new_empty(Arc::new(Schema::empty())))
}

fn write(data: &Path, cluster: &str, name: &str, batch: &RecordBatch, files: usize) -> Result<(), Error> {
    let what = || format!("write the demo table {cluster} shop.{name}");
    let dir = data.join(cluster).join("warehouse/shop.db").join(name).join(format!("dt={RUN}"));
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(what(), e))?;
    let per_file = batch.num_rows().div_ceil(files.max(1)).max(1);
    for (index, start) in (0..batch.num_rows()).step_by(per_file).enumerate() {
        let slice = batch.slice(start, per_file.min(batch.num_rows() - start));
        let file = std::fs::File::create(dir.join(format!("part-{index:05}.orc"))).map_err(|e| Error::io(what(), e))?;
        let mut writer =
            orc_rust::ArrowWriterBuilder::new(file, batch.schema()).try_build().map_err(|e| Error::io(what(), e))?;
        writer.write(&slice).map_err(|e| Error::io(what(), e))?;
        writer.close().map_err(|e| Error::io(what(), e))?;
    }
    Ok(())
}

/// The events: both clusters for four tables (inventory failed on the candidate), the
/// baseline alone for shipments.
async fn publish(brokers: &str) -> Result<(), Error> {
    let producer: FutureProducer = rdkafka::ClientConfig::new().set("bootstrap.servers", brokers).create()?;
    let mut events = Vec::new();
    for (cluster, short) in [("idc-hadoop", "idc"), ("cloud-emr", "emr")] {
        for table in ["orders", "customers", "payments", "inventory", "shipments"] {
            if cluster == "cloud-emr" && table == "shipments" {
                continue;
            }
            let failed = cluster == "cloud-emr" && table == "inventory";
            events.push(serde_json::json!({
                "event_id": format!("{short}-{table}-{RUN}-1"), "cluster": cluster,
                "task_id": format!("shop.{table}_daily"), "workflow_id": "shop_daily", "run_id": RUN,
                "attempt": 1, "status": if failed { "failed" } else { "succeeded" },
                "finished_at": chrono::Utc::now().to_rfc3339(),
                "outputs": [{ "table": format!("shop.{table}"), "partition": { "dt": RUN } }]
            }));
        }
    }
    for event in &events {
        let payload = event.to_string();
        let key = event["outputs"][0]["table"].to_string();
        let record = FutureRecord::to(TOPIC).payload(&payload).key(&key);
        producer.send(record, Duration::from_secs(10)).await.map_err(|(error, _)| error)?;
    }
    Ok(())
}

/// Polls `GET /api/v1/reports` until every table has a report.
/// The scheduler's DAG of the demo, imported through the API: `shop_ingest` and `shop_daily` (the
/// five tables' tasks) in the dual run, `finance_report` (reading orders and payments) and
/// `crm_export` (an export of the customers) not migrated yet; so the gating pages have a
/// workflow that may move (`finance_report` to the dual run) and one that may not (`shop_daily`
/// to migrated: its downstream is not migrated and two of its tables are not consistent).
async fn import_dag(url: &str, token: &str) -> Result<(), Error> {
    let task = |id: &str, workflow: &str, kind: &str, upstream: &[&str], outputs: &[&str]| serde_json::json!({ "id": id, "workflow": workflow, "kind": kind, "upstream": upstream, "outputs": outputs });
    let mut tasks = vec![task("shop.ingest", "shop_ingest", "import", &[], &[])];
    for table in ["orders", "customers", "payments", "inventory", "shipments"] {
        let (id, output) = (format!("shop.{table}_daily"), format!("shop.{table}"));
        tasks.push(task(&id, "shop_daily", "sql", &["shop.ingest"], &[&output]));
    }
    tasks.push(task(
        "finance.revenue",
        "finance_report",
        "spark",
        &["shop.orders_daily", "shop.payments_daily"],
        &["finance.revenue"],
    ));
    tasks.push(task("crm.export", "crm_export", "export", &["shop.customers_daily"], &[]));
    let dag = serde_json::json!({
        "workflows": [
            { "id": "shop_ingest", "state": "dual_run" }, { "id": "shop_daily", "state": "dual_run" },
            { "id": "finance_report" }, { "id": "crm_export" }
        ],
        "tasks": tasks,
    });
    let what = "PUT /api/v1/gating/dag";
    reqwest::Client::new()
        .put(format!("{url}/api/v1/gating/dag"))
        .bearer_auth(token)
        .json(&dag)
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(|e| Error::Http { what, source: e.into() })?;
    Ok(())
}

/// Runs an inventory of both warehouses' `shop` database through the API; what to print of it.
async fn inventory(url: &str, token: &str) -> Result<String, Error> {
    let client = reqwest::Client::new();
    let what = "POST /api/v1/inventories";
    let created: serde_json::Value = client
        .post(format!("{url}/api/v1/inventories"))
        .bearer_auth(token)
        // Deep: the demo's ORC writer keeps no column statistics, so the footers tell rows only.
        .json(&serde_json::json!({ "database": "shop", "level": "deep" }))
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(|e| Error::Http { what, source: e.into() })?
        .json()
        .await
        .map_err(|e| Error::Http { what, source: e.into() })?;
    let id = created["id"].as_i64().unwrap_or_default();
    let what = "GET /api/v1/inventories/{id}";
    loop {
        let inventory: serde_json::Value = client
            .get(format!("{url}/api/v1/inventories/{id}"))
            .send()
            .await
            .map_err(|e| Error::Http { what, source: e.into() })?
            .json()
            .await
            .map_err(|e| Error::Http { what, source: e.into() })?;
        match inventory["state"].as_str() {
            Some("queued" | "running") => tokio::time::sleep(Duration::from_millis(200)).await,
            Some("done") => {
                let summary = &inventory["summary"];
                let count = |name: &str| summary[name].as_u64().unwrap_or(0);
                return Ok(format!(
                    "\nInventory {id} of both warehouses' shop database (the copied history, partition by partition):\n\
                     {:<13} {} tables, {} partitions: {} equal, {} different, {} missing in the candidate, {} missing in the baseline\n\
                     {:<13} {url}/inventories/{id}   (its page: every table, then every partition)",
                    text(&inventory, "verdict"),
                    count("tables"),
                    count("partitions"),
                    count("equal") + count("equal_footers"),
                    count("different"),
                    count("missing_in_candidate"),
                    count("missing_in_baseline"),
                    "",
                ));
            }
            _ => return Err(Error::Stopped(format!("the demo's inventory ended {inventory}"))),
        }
    }
}

async fn wait_for_reports(url: &str) -> Result<Vec<serde_json::Value>, Error> {
    let client = reqwest::Client::new();
    let started = Instant::now();
    let expected = expected_verdicts();
    loop {
        let page: serde_json::Value = client
            .get(format!("{url}/api/v1/reports?limit=100"))
            .send()
            .await
            .map_err(|e| Error::Http { what: "GET /api/v1/reports", source: e.into() })?
            .json()
            .await
            .map_err(|e| Error::Http { what: "GET /api/v1/reports", source: e.into() })?;
        let reports: Vec<serde_json::Value> = page["reports"].as_array().cloned().unwrap_or_default();
        let mut latest: BTreeMap<String, serde_json::Value> = BTreeMap::new();
        for report in reports {
            latest.entry(text(&report, "table")).or_insert(report);
        }
        if expected.keys().all(|table| latest.contains_key(table)) {
            return Ok(latest.into_values().collect());
        }
        if started.elapsed() > WAIT {
            return Err(Error::Timeout { waited: WAIT, reports: latest.len(), expected: expected.len() });
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn print_reports(reports: &[serde_json::Value], url: &str, token: &str) {
    println!();
    for report in reports {
        let summary = &report["summary"];
        let counts = if summary.is_object() {
            let count = |name: &str| summary[name].as_u64().unwrap_or(0);
            format!(
                "matched {}, changed {}, only in baseline {}, only in candidate {}",
                count("matched"),
                count("changed"),
                count("only_in_baseline"),
                count("only_in_candidate")
            )
        } else {
            report["reason"].as_str().unwrap_or_default().to_owned()
        };
        println!(
            "{:<13} {:<15} {}  {counts}",
            text(report, "verdict"),
            text(report, "table"),
            text(report, "partition")
        );
        println!("              {url}/reports/{}   (its page)", report["id"]);
        println!("              {}", text(report, "url"));
        if text(report, "verdict") == "inconsistent" {
            println!("              {}/rows   (the differing rows, page by page)", text(report, "url"));
        }
    }
    println!("\nOpen:");
    println!("  {url}/                               the migration at a glance (viewer access needs no token here)");
    println!("  {url}/reports                        the reports' pages");
    println!("  {url}/gating                         what blocks each workflow's next step");
    println!(
        "  {url}/login                          sign in with the demo's admin token to start diffs and move workflows"
    );
    println!("  {url}/api/v1/reports                 every report as JSON");
    println!("  {url}/api/v1/tables                  the table registry");
    println!("  {url}/api/v1/openapi.json            the API");
    println!("  {url}/metrics                        Prometheus metrics");
    println!("Start a diff (the demo's admin token):");
    println!(
        "  curl -H 'Authorization: Bearer {token}' -H 'Content-Type: application/json' \\\n    -d '{{\"table\": \"shop.customers\", \"partition\": {{\"dt\": \"{RUN}\"}}}}' {url}/api/v1/diffs"
    );
}

fn text(value: &serde_json::Value, field: &str) -> String {
    value[field].as_str().unwrap_or_default().to_owned()
}
