//! Shared set-up: stores on every engine, events, ORC tables, waiting on conditions.

use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use api::store::{JobState, Store};
use arrow::array::{ArrayRef, Int64Array, StringArray};
use arrow::record_batch::RecordBatch;
use collector::Clusters;
use sqlx::Connection;

pub(crate) fn clusters() -> Clusters {
    Clusters { baseline: "idc-hadoop".into(), candidate: "cloud-emr".into() }
}

pub(crate) const DEADLINE: Duration = Duration::from_secs(3600);

/// Runs `test` on a fresh SQLite file, and on a fresh PostgreSQL schema when
/// `DQC_TEST_POSTGRES_URL` is set.
pub(crate) async fn on_every_store<F, Fut>(test: F)
where
    F: Fn(Store, &'static str) -> Fut,
    Fut: Future<Output = ()>,
{
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("dqc.db").display());
    test(Store::open(&url, clusters(), DEADLINE).await.unwrap(), "sqlite").await;
    if let Some(postgres) = PostgresSchema::create().await {
        let store = Store::open(&postgres.url, clusters(), DEADLINE).await.unwrap();
        test(store.clone(), "postgres").await;
        store.close().await;
        postgres.drop().await;
    }
}

/// The URL of a fresh SQLite file, and of a fresh PostgreSQL schema when
/// `DQC_TEST_POSTGRES_URL` is set (drop the schema when done).
pub(crate) async fn fresh_urls(dir: &Path) -> (String, Option<PostgresSchema>) {
    (format!("sqlite://{}", dir.join("dqc.db").display()), PostgresSchema::create().await)
}

/// A schema of its own in the test database, so that runs never see each other's rows.
pub(crate) struct PostgresSchema {
    base: String,
    name: String,
    pub(crate) url: String,
}

impl PostgresSchema {
    pub(crate) async fn create() -> Option<Self> {
        let base = std::env::var("DQC_TEST_POSTGRES_URL").ok().filter(|url| !url.is_empty())?;
        sqlx::any::install_default_drivers();
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
        let name = format!("dqc_test_{}_{nanos}", std::process::id());
        let mut connection = sqlx::AnyConnection::connect(&base).await.expect("DQC_TEST_POSTGRES_URL answers");
        sqlx::query(&format!("CREATE SCHEMA {name}")).execute(&mut connection).await.unwrap();
        let separator = if base.contains('?') { '&' } else { '?' };
        let url = format!("{base}{separator}options=-c%20search_path%3D{name}");
        Some(Self { base, name, url })
    }

    pub(crate) async fn drop(self) {
        let mut connection = sqlx::AnyConnection::connect(&self.base).await.unwrap();
        sqlx::query(&format!("DROP SCHEMA {} CASCADE", self.name)).execute(&mut connection).await.unwrap();
    }
}

/// The `[[clusters]]` of a test configuration: both warehouses under `root`, and the
/// candidate's events may also name locations under `root/staging`.
pub(crate) fn clusters_toml(root: &Path) -> String {
    let location = format!("file://{}/{{cluster}}/warehouse/{{db}}.db/{{table}}/{{partition_path}}", root.display());
    let staging = format!("file://{}/staging", root.display());
    format!(
        "[[clusters]]\nname = \"idc-hadoop\"\nrole = \"baseline\"\nlocation = \"{location}\"\n\n\
         [[clusters]]\nname = \"cloud-emr\"\nrole = \"candidate\"\nlocation = \"{location}\"\n\
         event_roots = [\"{staging}\"]\n\n\
         [api]\nlisten = \"127.0.0.1:0\"\n"
    )
}

/// Jobs per state.
pub(crate) async fn job_counts(store: &Store) -> Vec<(JobState, usize)> {
    let mut counts = std::collections::BTreeMap::new();
    for job in store.jobs(None).await.unwrap() {
        *counts.entry(job.state).or_insert(0) += 1;
    }
    counts.into_iter().collect()
}

/// A task-finished event as JSON.
pub(crate) fn event(id: &str, cluster: &str, table: &str, run: &str, attempt: u32, status: &str) -> String {
    serde_json::json!({
        "event_id": id, "cluster": cluster, "task_id": format!("task.{table}"), "workflow_id": "wf",
        "run_id": run, "attempt": attempt, "status": status,
        "finished_at": format!("2024-05-02T0{attempt}:00:00Z"),
        "outputs": [{"table": table, "partition": {"dt": run}}]
    })
    .to_string()
}

/// Writes a small ORC table `dw.<table>` for `run` under `root/<cluster>/warehouse/dw.db`:
/// ids `0..rows`, with `changed` of them holding another value on this side.
pub(crate) fn write_table(root: &Path, cluster: &str, table: &str, run: &str, rows: i64, changed: i64) {
    let dir = root.join(cluster).join("warehouse/dw.db").join(table).join(format!("dt={run}"));
    std::fs::create_dir_all(&dir).unwrap();
    let ids: Vec<i64> = (0..rows).collect();
    let values: Vec<String> =
        ids.iter().map(|id| if *id < changed { format!("v{id}-{cluster}") } else { format!("v{id}") }).collect();
    let columns: Vec<ArrayRef> = vec![Arc::new(Int64Array::from(ids)), Arc::new(StringArray::from(values))];
    let schema = Arc::new(arrow::datatypes::Schema::new(vec![
        arrow::datatypes::Field::new("id", arrow::datatypes::DataType::Int64, false),
        arrow::datatypes::Field::new("value", arrow::datatypes::DataType::Utf8, true),
    ]));
    let batch = RecordBatch::try_new(schema, columns).unwrap();
    dqc_tests::write_orc(&dir.join("000000_0"), &[batch]);
}

/// Waits until `condition` holds, or panics after `limit` naming `what`.
pub(crate) async fn wait_until<F, Fut>(what: &str, limit: Duration, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let start = Instant::now();
    while !condition().await {
        assert!(start.elapsed() < limit, "timed out after {limit:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A Kafka broker for a test: rdkafka's `MockCluster` on 127.0.0.1, or the external broker
/// named by `DQC_TEST_KAFKA_BROKERS` (for example tansu), with a topic of the test's own.
pub(crate) struct Broker {
    pub(crate) brokers: String,
    pub(crate) topic: String,
    _mock: Option<rdkafka::mocking::MockCluster<'static, rdkafka::producer::DefaultProducerContext>>,
}

impl Broker {
    pub(crate) async fn start(partitions: i32) -> Self {
        init_tracing();
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
        let topic = format!("dqc-test-{}-{nanos}", std::process::id());
        match std::env::var("DQC_TEST_KAFKA_BROKERS").ok().filter(|brokers| !brokers.is_empty()) {
            Some(brokers) => {
                use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
                let admin: AdminClient<_> =
                    rdkafka::ClientConfig::new().set("bootstrap.servers", &brokers).create().expect("admin client");
                let new = NewTopic::new(&topic, partitions, TopicReplication::Fixed(1));
                for result in admin.create_topics([&new], &AdminOptions::new()).await.expect("create topic") {
                    result.expect("topic created");
                }
                Self { brokers, topic, _mock: None }
            }
            None => {
                let mock = rdkafka::mocking::MockCluster::new(1).unwrap();
                mock.create_topic(&topic, partitions, 1).unwrap();
                Self { brokers: mock.bootstrap_servers(), topic, _mock: Some(mock) }
            }
        }
    }

    pub(crate) async fn produce(&self, payloads: &[String]) {
        use rdkafka::producer::{FutureProducer, FutureRecord};
        let producer: FutureProducer =
            rdkafka::ClientConfig::new().set("bootstrap.servers", &self.brokers).create().unwrap();
        for (index, payload) in payloads.iter().enumerate() {
            let key = format!("k{index}");
            let record = FutureRecord::to(&self.topic).payload(payload.as_str()).key(&key);
            producer.send(record, Duration::from_secs(10)).await.map_err(|(error, _)| error).unwrap();
        }
    }
}

/// Logs of the code under test, shown when `RUST_LOG` is set.
pub(crate) fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

/// Taken by a test whose timing matters (a Kafka group's rebalance) and by what loads the machine
/// hard for seconds (starting the metastore's JVM), so that the one does not starve the other.
pub(crate) fn quiet_machine() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
