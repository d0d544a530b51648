//! The Kafka consumer: a consumer group on the events topic.
//!
//! Offsets: `enable.auto.commit=true` with `enable.auto.offset.store=false`. A batch of
//! messages (up to [`ConsumerSettings::batch_size`], or what arrives within
//! [`ConsumerSettings::batch_wait`]) is validated, handed to [`PairingStore::accept`] in one
//! transaction (while the next batch is received), and only then are its offsets stored, so a committed offset never covers an
//! event that is not durable. The stored offsets are then committed asynchronously, batch by
//! batch. A store failure retries the same batch with backoff; nothing is skipped. A failure
//! caused by the data ([`Error::DataRefused`]), or one that repeats
//! [`SPLIT_AFTER`] times for the same batch, splits the batch in halves, down to the one message
//! that fails, which is kept as a dead letter with the store's reason: one poison message never
//! stops intake. On a
//! partition revoke, and at shutdown, stored offsets are committed synchronously. (A broker may
//! refuse the revoke commit with `REBALANCE_IN_PROGRESS`, as the mock broker does: the batch
//! commits make that moot, and anything redelivered is ignored by the store.)
//! Invalid messages (not UTF-8, not JSON, a missing field, an unknown cluster) become dead
//! letters in the same transaction, and consumption goes on.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::{ClientConfig, ClientContext, Message};
use tokio::sync::watch;

use crate::error::{Error, Result};
use crate::event::{self, Clusters};
use crate::store::{Accepted, DeadLetter, Delivery, PairingStore, Source};

/// How to reach Kafka and how to batch.
#[derive(Debug, Clone)]
pub struct ConsumerSettings {
    /// `bootstrap.servers`.
    pub brokers: String,
    /// The events topic.
    pub topic: String,
    /// The consumer group (several dqc instances share one).
    pub group_id: String,
    /// Further librdkafka properties (security settings, timeouts), passed through.
    pub properties: BTreeMap<String, String>,
    /// Most messages per store transaction.
    pub batch_size: usize,
    /// Longest wait for a batch to fill once its first message arrived.
    pub batch_wait: Duration,
    /// The clusters events may come from.
    pub clusters: Clusters,
}

/// Commits stored offsets synchronously when partitions are taken away.
#[derive(Debug, Default)]
struct CommitOnRevoke;

impl ClientContext for CommitOnRevoke {}

impl ConsumerContext for CommitOnRevoke {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(partitions) = rebalance {
            tracing::info!(partitions = partitions.count(), "partitions revoked; committing stored offsets");
            commit(consumer);
        }
    }
}

fn commit<C: Consumer<CommitOnRevoke>>(consumer: &C) {
    match consumer.commit_consumer_state(CommitMode::Sync) {
        Ok(()) => {}
        // Nothing stored since the last commit.
        Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => {}
        Err(error) => tracing::warn!(%error, "committing offsets failed; the events will be redelivered and ignored"),
    }
}

/// Consumes until `shutdown` turns true, then commits and returns what was accepted.
pub async fn run<S: PairingStore>(
    settings: &ConsumerSettings,
    store: Arc<S>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<Accepted> {
    let consumer = create(settings)?;
    let mut total = Accepted::default();
    tracing::info!(topic = %settings.topic, group = %settings.group_id, "consuming events");
    let mut next: Vec<Received> = Vec::new();
    loop {
        if next.is_empty() {
            let Some(first) = next_message(&consumer, &mut shutdown).await else { break };
            next.push(first);
            fill(&consumer, settings, &mut next).await;
        }
        let batch = std::mem::take(&mut next);
        let deliveries: Vec<Delivery> = batch.iter().map(|message| deliver(message, &settings.clusters)).collect();
        // While the store makes this batch durable, the next one is received: the store's
        // transaction and librdkafka's fetches overlap. The next batch's offsets are stored
        // only once it is durable in its turn.
        let (accepted, ()) = tokio::join!(
            accept_with_retry(store.as_ref(), &deliveries, &mut shutdown),
            fill(&consumer, settings, &mut next),
        );
        let Some(accepted) = accepted else {
            break;
        };
        tracing::debug!(messages = batch.len(), ?accepted, "batch durable");
        total += accepted;
        for message in &batch {
            if let Err(error) = consumer.store_offset(&message.topic, message.partition, message.offset) {
                // The partition was revoked meanwhile: its next owner redelivers, and the
                // store ignores what it already has.
                tracing::warn!(%error, partition = message.partition, "cannot store the offset");
            }
        }
        // Commit now rather than at the next automatic commit, so that a partition that moves
        // to another instance (or a crash) redelivers as little as possible.
        if let Err(error) = consumer.commit_consumer_state(CommitMode::Async) {
            tracing::debug!(%error, "asynchronous commit not sent");
        }
    }
    commit(&consumer);
    consumer.unsubscribe();
    tracing::info!(?total, "consumer stopped");
    Ok(total)
}

fn create(settings: &ConsumerSettings) -> Result<StreamConsumer<CommitOnRevoke>> {
    let start = |source| Error::ConsumerStart { topic: settings.topic.clone(), source };
    let mut config = ClientConfig::new();
    for (key, value) in &settings.properties {
        config.set(key, value);
    }
    let consumer: StreamConsumer<CommitOnRevoke> = config
        .set("bootstrap.servers", &settings.brokers)
        .set("group.id", &settings.group_id)
        .set("enable.auto.commit", "true")
        .set("enable.auto.offset.store", "false")
        .create_with_context(CommitOnRevoke)
        .map_err(start)?;
    consumer.subscribe(&[&settings.topic]).map_err(start)?;
    Ok(consumer)
}

/// A message copied out of the consumer's buffer.
#[derive(Debug)]
struct Received {
    topic: String,
    partition: i32,
    offset: i64,
    payload: Option<Vec<u8>>,
}

async fn next_message(
    consumer: &StreamConsumer<CommitOnRevoke>,
    shutdown: &mut watch::Receiver<bool>,
) -> Option<Received> {
    loop {
        if *shutdown.borrow() {
            return None;
        }
        tokio::select! {
            _ = shutdown.changed() => {}
            message = consumer.recv() => match message {
                Ok(message) => return Some(received(&message)),
                Err(error) => {
                    tracing::warn!(%error, "Kafka error while consuming; retrying");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            },
        }
    }
}

async fn fill(consumer: &StreamConsumer<CommitOnRevoke>, settings: &ConsumerSettings, batch: &mut Vec<Received>) {
    let until = tokio::time::Instant::now() + settings.batch_wait;
    while batch.len() < settings.batch_size {
        match tokio::time::timeout_at(until, consumer.recv()).await {
            Ok(Ok(message)) => batch.push(received(&message)),
            Ok(Err(error)) => tracing::warn!(%error, "Kafka error while consuming"),
            Err(_elapsed) => break,
        }
    }
}

fn received(message: &rdkafka::message::BorrowedMessage<'_>) -> Received {
    Received {
        topic: message.topic().to_owned(),
        partition: message.partition(),
        offset: message.offset(),
        payload: message.payload().map(<[u8]>::to_vec),
    }
}

/// Validates one message into an event or a dead letter.
fn deliver(message: &Received, clusters: &Clusters) -> Delivery {
    let source = Source::kafka(&message.topic, message.partition, message.offset);
    let Some(payload) = &message.payload else {
        return Delivery::DeadLetter(DeadLetter {
            source,
            payload: Vec::new(),
            reason: "the message has no payload".into(),
        });
    };
    validate(payload, clusters, source)
}

/// Validates one payload into an event or a dead letter (shared with the HTTP intake to come).
pub fn validate(payload: &[u8], clusters: &Clusters, source: Source) -> Delivery {
    let checked = event::parse(payload).and_then(|event| Ok((clusters.role_of(&event.cluster)?, event)));
    match checked {
        Ok((role, event)) => Delivery::Event { event, role, source },
        Err(invalid) => Delivery::DeadLetter(DeadLetter {
            source,
            payload: payload.to_vec(),
            reason: crate::store::printable(&invalid.to_string()),
        }),
    }
}

/// Failures of the same batch after which it is split even if the store does not say that the
/// data is at fault.
pub const SPLIT_AFTER: u32 = 3;

/// Makes `deliveries` durable: retries with backoff while the store fails; splits the batch
/// when the data is at fault (see the module docs). `None` at shutdown.
async fn accept_with_retry<S: PairingStore>(
    store: &S,
    deliveries: &[Delivery],
    shutdown: &mut watch::Receiver<bool>,
) -> Option<Accepted> {
    let mut pending: Vec<&[Delivery]> = vec![deliveries];
    let mut total = Accepted::default();
    while let Some(batch) = pending.pop() {
        let mut backoff = Duration::from_millis(100);
        let mut failures = 0;
        loop {
            let error = match store.accept(batch).await {
                Ok(accepted) => {
                    total += accepted;
                    break;
                }
                Err(error) => error,
            };
            failures += 1;
            if matches!(error, Error::DataRefused(_)) || failures >= SPLIT_AFTER {
                if let [single] = batch {
                    // Kept as a dead letter if the store takes that; if it does not either, the
                    // store is down rather than the message bad: retry it as it is.
                    let dead = [dead_letter(single, &error)];
                    if let Ok(accepted) = store.accept(&dead).await {
                        tracing::warn!(%error, source = %source_of(single), "a message the store refuses is kept as a dead letter");
                        total += accepted;
                        break;
                    }
                } else {
                    let (first, second) = batch.split_at(batch.len() / 2);
                    tracing::warn!(%error, messages = batch.len(), "the store refuses a batch; splitting it");
                    // Popped first: the first half, then the second, in order.
                    pending.push(second);
                    pending.push(first);
                    break;
                }
            }
            tracing::warn!(error = %error, retry_in = ?backoff, "the pairing store refused a batch; retrying");
            tokio::select! {
                _ = tokio::time::sleep(backoff) => {}
                _ = shutdown.changed() => return None,
            }
            backoff = (backoff * 2).min(Duration::from_secs(10));
        }
    }
    Some(total)
}

fn source_of(delivery: &Delivery) -> &Source {
    match delivery {
        Delivery::Event { source, .. } => source,
        Delivery::DeadLetter(dead) => &dead.source,
    }
}

/// A delivery the store refuses, as a dead letter with the store's reason.
fn dead_letter(delivery: &Delivery, error: &Error) -> Delivery {
    let (payload, earlier) = match delivery {
        Delivery::Event { event, .. } => (serde_json::to_vec(event).unwrap_or_default(), None),
        Delivery::DeadLetter(dead) => (dead.payload.clone(), Some(dead.reason.as_str())),
    };
    let refusal = format!("the store refused it: {error}");
    let reason = match earlier {
        Some(earlier) => format!("{earlier}; {refusal}"),
        None => refusal,
    };
    Delivery::DeadLetter(DeadLetter {
        source: source_of(delivery).clone(),
        payload,
        reason: crate::store::printable(&reason),
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use rdkafka::mocking::MockCluster;
    use rdkafka::producer::{FutureProducer, FutureRecord};

    use super::*;

    /// The ids of a batch's events.
    fn event_ids(batch: &[Delivery]) -> Vec<String> {
        batch
            .iter()
            .filter_map(|delivery| match delivery {
                Delivery::Event { event, .. } => Some(event.event_id.to_string()),
                Delivery::DeadLetter(_) => None,
            })
            .collect()
    }

    /// A store that is down for its first `failures` calls, and records every batch it is given.
    struct Flaky {
        failures: AtomicUsize,
        batches: Mutex<Vec<Vec<String>>>,
    }

    impl PairingStore for Flaky {
        async fn accept(&self, batch: &[Delivery]) -> Result<Accepted> {
            let ids = event_ids(batch);
            let events = ids.len();
            self.batches.lock().unwrap().push(ids);
            if self.failures.load(Ordering::SeqCst) > 0 {
                self.failures.fetch_sub(1, Ordering::SeqCst);
                return Err(Error::Store("the store is down".into()));
            }
            Ok(Accepted { events, ..Accepted::default() })
        }
    }

    fn event(index: usize) -> String {
        serde_json::json!({
            "event_id": format!("e{index}"), "cluster": "idc", "task_id": "t", "run_id": "2024-05-01",
            "attempt": 1, "status": "succeeded", "finished_at": "2024-05-02T01:00:00Z",
            "outputs": [{"table": "dw.orders", "partition": {"dt": "2024-05-01"}}]
        })
        .to_string()
    }

    /// A mock broker holding `payloads` on topic `events`, and the settings to consume them.
    async fn broker_with(
        payloads: Vec<String>,
    ) -> (MockCluster<'static, rdkafka::producer::DefaultProducerContext>, ConsumerSettings) {
        let cluster = MockCluster::new(1).unwrap();
        cluster.create_topic("events", 1, 1).unwrap();
        let producer: FutureProducer =
            ClientConfig::new().set("bootstrap.servers", cluster.bootstrap_servers()).create().unwrap();
        for payload in payloads {
            producer
                .send(FutureRecord::<(), _>::to("events").payload(&payload), Duration::from_secs(10))
                .await
                .unwrap();
        }
        let settings = ConsumerSettings {
            brokers: cluster.bootstrap_servers(),
            topic: "events".into(),
            group_id: "test".into(),
            properties: [("auto.offset.reset".to_owned(), "earliest".to_owned())].into(),
            batch_size: 100,
            batch_wait: Duration::from_millis(300),
            clusters: Clusters { baseline: "idc".into(), candidate: "emr".into() },
        };
        (cluster, settings)
    }

    /// A store that refuses, as a data error, every batch holding event `poison` (and, when
    /// `silent`, with a plain error, as a store that does not classify its errors would).
    struct Picky {
        silent: bool,
        kept: Mutex<Vec<String>>,
        letters: Mutex<Vec<DeadLetter>>,
    }

    impl PairingStore for Picky {
        async fn accept(&self, batch: &[Delivery]) -> Result<Accepted> {
            let ids = event_ids(batch);
            if ids.iter().any(|id| id == "poison") {
                let error = "invalid byte sequence for encoding \"UTF8\": 0x00".into();
                return Err(if self.silent { Error::Store(error) } else { Error::DataRefused(error) });
            }
            let events = ids.len();
            self.kept.lock().unwrap().extend(ids);
            for delivery in batch {
                if let Delivery::DeadLetter(letter) = delivery {
                    self.letters.lock().unwrap().push(letter.clone());
                }
            }
            Ok(Accepted { events, ..Accepted::default() })
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_message_the_store_refuses_is_split_out_as_a_dead_letter_and_intake_goes_on() {
        for silent in [false, true] {
            let payloads =
                (0..9).map(|index| if index == 4 { event(4).replace("\"e4\"", "\"poison\"") } else { event(index) });
            let (_cluster, settings) = broker_with(payloads.collect()).await;
            let store = Arc::new(Picky { silent, kept: Mutex::default(), letters: Mutex::default() });
            let (stop, shutdown) = watch::channel(false);
            let consumer = tokio::spawn({
                let store = Arc::clone(&store);
                async move { run(&settings, store, shutdown).await }
            });
            let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
            while store.kept.lock().unwrap().len() < 8 || store.letters.lock().unwrap().is_empty() {
                assert!(tokio::time::Instant::now() < deadline, "timed out: {:?}", store.kept.lock().unwrap());
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            stop.send(true).unwrap();
            consumer.await.unwrap().unwrap();
            let mut kept = store.kept.lock().unwrap().clone();
            kept.sort();
            assert_eq!(kept, ["e0", "e1", "e2", "e3", "e5", "e6", "e7", "e8"], "every other event, once");
            let letters = store.letters.lock().unwrap();
            assert_eq!(letters.len(), 1);
            assert_eq!(letters[0].source, Source::kafka("events", 0, 4));
            assert!(letters[0].reason.starts_with("the store refused it: "), "{}", letters[0].reason);
            assert!(String::from_utf8_lossy(&letters[0].payload).contains("poison"));
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_store_failure_retries_the_same_batch_and_skips_nothing() {
        let (_cluster, settings) = broker_with((0..10).map(event).collect()).await;
        let store = Arc::new(Flaky { failures: AtomicUsize::new(2), batches: Mutex::new(Vec::new()) });
        let (stop, shutdown) = watch::channel(false);
        let consumer = tokio::spawn({
            let store = Arc::clone(&store);
            async move { run(&settings, store, shutdown).await }
        });
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let accepted: usize = store.batches.lock().unwrap().iter().skip(2).map(Vec::len).sum();
            if accepted == 10 {
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "timed out waiting for the 10 events");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        stop.send(true).unwrap();
        let total = consumer.await.unwrap().unwrap();
        assert_eq!(total.events, 10, "every event accepted once the store is back");
        let batches = store.batches.lock().unwrap();
        assert_eq!(batches[0], batches[1], "the failed batch is offered again, unchanged");
        assert_eq!(batches[1], batches[2]);
    }
}
