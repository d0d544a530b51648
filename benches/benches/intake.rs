//! Intake throughput: task-finished events consumed from Kafka and paired in the SQLite store.
//!
//! Not a criterion bench (one run of 100,000 events takes seconds, and what matters is the
//! rate of the whole pipeline): `cargo bench --bench intake [-- EVENTS]` produces EVENTS
//! events (default 100,000: both sides of EVENTS/2 pairs, in random order) to a broker on
//! 127.0.0.1 (rdkafka's `MockCluster`), then times the collector's consumer with the SQLite
//! store from the first batch (once the consumer group is joined) to the last event made
//! durable, and prints events per second.
//! It also times the store alone on the same events, to show where the time goes.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use api::store::Store;
use collector::Clusters;
use collector::consumer::{self, ConsumerSettings, validate};
use collector::store::{Accepted, Delivery, PairingStore, Source};
use rdkafka::ClientConfig;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{BaseRecord, Producer, ThreadedProducer};
use tokio::sync::{Notify, watch};

const TOPIC: &str = "events";
/// The mock broker keeps at most 5 MiB per partition (`rdkafka_mock.c`): 100,000 events of
/// about 370 bytes need at least 8 partitions; 16 leave room.
const PARTITIONS: i32 = 16;

fn clusters() -> Clusters {
    Clusters { baseline: "idc-hadoop".into(), candidate: "cloud-emr".into() }
}

/// Both sides of `events / 2` pairs, shuffled with a fixed seed.
fn payloads(events: usize) -> Vec<String> {
    let mut payloads: Vec<String> = (0..events)
        .map(|index| {
            let (pair, cluster) = (index / 2, if index % 2 == 0 { "idc-hadoop" } else { "cloud-emr" });
            serde_json::json!({
                "event_id": format!("e{index}"), "cluster": cluster, "task_id": format!("task{}", pair % 5_000),
                "workflow_id": "wf", "run_id": format!("2024-05-{:02}", 1 + pair / 5_000 % 28), "attempt": 1,
                "status": "succeeded", "finished_at": "2024-05-02T01:00:00Z",
                "outputs": [{"table": format!("dw.t{}", pair % 5_000), "partition": {"dt": format!("{}", pair / 5_000)}}]
            })
            .to_string()
        })
        .collect();
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    for index in (1..payloads.len()).rev() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        payloads.swap(index, (state % (index as u64 + 1)) as usize);
    }
    payloads
}

/// The SQLite store, counting what it made durable.
struct Counting {
    store: Store,
    events: AtomicUsize,
    target: usize,
    done: Notify,
    /// When the first batch reached the store: the consumer group is joined and messages flow.
    first: std::sync::OnceLock<Instant>,
}

impl PairingStore for Counting {
    async fn accept(&self, batch: &[Delivery]) -> collector::Result<Accepted> {
        self.first.get_or_init(Instant::now);
        let accepted = self.store.accept(batch).await?;
        let total = self.events.fetch_add(accepted.events, Ordering::SeqCst) + accepted.events;
        if total >= self.target {
            self.done.notify_one();
        }
        Ok(accepted)
    }
}

async fn open_store(dir: &std::path::Path, name: &str) -> Store {
    let url = format!("sqlite://{}", dir.join(name).display());
    Store::open(&url, clusters(), Duration::from_secs(6 * 3600)).await.expect("store opens")
}

/// Counts failed deliveries, and keeps the first error.
#[derive(Default)]
struct Deliveries {
    failed: AtomicUsize,
    first_error: std::sync::Mutex<Option<String>>,
}

impl rdkafka::ClientContext for Deliveries {}

impl rdkafka::producer::ProducerContext for Deliveries {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &rdkafka::message::DeliveryResult<'_>, _: ()) {
        if let Err((error, _)) = result {
            self.failed.fetch_add(1, Ordering::SeqCst);
            self.first_error.lock().expect("lock").get_or_insert_with(|| error.to_string());
        }
    }
}

fn produce(brokers: &str, payloads: &[String]) {
    let producer: ThreadedProducer<Deliveries> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("linger.ms", "5")
        .set("queue.buffering.max.messages", "1000000")
        .create_with_context(Deliveries::default())
        .expect("producer");
    for (index, payload) in payloads.iter().enumerate() {
        let key = index.to_string();
        let mut record = BaseRecord::to(TOPIC).payload(payload.as_str()).key(&key);
        while let Err((_, returned)) = producer.send(record) {
            record = returned;
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    producer.flush(Duration::from_secs(60)).expect("flush");
    let context = producer.context();
    let failed = context.failed.load(Ordering::SeqCst);
    assert_eq!(failed, 0, "deliveries failed, the first with: {:?}", context.first_error.lock().expect("lock"));
    use rdkafka::consumer::Consumer;
    let consumer: rdkafka::consumer::BaseConsumer =
        ClientConfig::new().set("bootstrap.servers", brokers).create().expect("consumer");
    let mut stored = 0;
    for partition in 0..PARTITIONS {
        let (low, high) = consumer.fetch_watermarks(TOPIC, partition, Duration::from_secs(10)).expect("watermarks");
        stored += high - low;
    }
    assert_eq!(stored, payloads.len() as i64, "the broker holds every event produced");
}

async fn through_kafka(dir: &std::path::Path, payloads: &[String]) -> (Duration, Accepted) {
    let cluster = MockCluster::new(1).expect("mock cluster");
    cluster.create_topic(TOPIC, PARTITIONS, 1).expect("topic");
    let brokers = cluster.bootstrap_servers();
    let started = Instant::now();
    produce(&brokers, payloads);
    eprintln!("produced {} events in {:.1} s", payloads.len(), started.elapsed().as_secs_f64());
    let store = Counting {
        store: open_store(dir, "kafka.db").await,
        events: AtomicUsize::new(0),
        target: payloads.len(),
        done: Notify::new(),
        first: std::sync::OnceLock::new(),
    };
    let store = Arc::new(store);
    let settings = ConsumerSettings {
        brokers,
        topic: TOPIC.into(),
        group_id: "bench".into(),
        properties: [("auto.offset.reset".to_owned(), "earliest".to_owned())].into(),
        batch_size: 500,
        batch_wait: Duration::from_millis(50),
        clusters: clusters(),
    };
    let (stop, shutdown) = watch::channel(false);
    let consumer = tokio::spawn({
        let store = Arc::clone(&store);
        async move { consumer::run(&settings, store, shutdown).await }
    });
    let start = Instant::now();
    store.done.notified().await;
    // From the first batch, not from the start: joining the consumer group takes the mock
    // broker's initial rebalance delay (about 3 s), which is not intake.
    let first = store.first.get().copied().unwrap_or(start);
    eprintln!("joined the consumer group in {:.1} s", first.duration_since(start).as_secs_f64());
    let elapsed = first.elapsed();
    stop.send(true).expect("consumer running");
    let accepted = consumer.await.expect("consumer task").expect("consumer");
    (elapsed, accepted)
}

async fn store_alone(dir: &std::path::Path, payloads: &[String]) -> Duration {
    let store = open_store(dir, "alone.db").await;
    let deliveries: Vec<Delivery> = payloads
        .iter()
        .enumerate()
        .map(|(offset, payload)| validate(payload.as_bytes(), &clusters(), Source::kafka(TOPIC, 0, offset as i64)))
        .collect();
    let start = Instant::now();
    for batch in deliveries.chunks(500) {
        store.accept(batch).await.expect("accept");
    }
    start.elapsed()
}

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let events: usize = std::env::args().skip(1).find_map(|arg| arg.parse().ok()).unwrap_or(100_000);
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let payloads = payloads(events);
    let (elapsed, accepted) = runtime.block_on(through_kafka(dir.path(), &payloads));
    let rate = events as f64 / elapsed.as_secs_f64();
    println!("intake/events={events}: {:.2} s, {rate:.0} events/s (Kafka -> pairing -> SQLite)", elapsed.as_secs_f64());
    println!("  accepted: {accepted:?}");
    let alone = runtime.block_on(store_alone(dir.path(), &payloads));
    println!("  store alone: {:.2} s, {:.0} events/s", alone.as_secs_f64(), events as f64 / alone.as_secs_f64());
}
