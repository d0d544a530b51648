//! The persistence the collector needs, as a trait: the `api` crate implements it on SQL
//! (SQLite embedded, PostgreSQL in production).
//!
//! Contract of [`PairingStore::accept`]: when it returns `Ok`, every delivery of the batch is
//! durable (events recorded and applied to their pairs with [`crate::pairing`], new outcomes
//! recorded for the job runner, dead letters kept), all in one transaction; only then does the
//! consumer store the batch's offsets. Accepting an `event_id` that is already recorded changes
//! nothing, so a batch redelivered after a crash is harmless.

use std::future::Future;

use crate::event::{Event, Role};

/// Where a message came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// Kafka topic (`http` for the HTTP intake to come).
    pub topic: String,
    /// Partition of the topic (none for HTTP).
    pub partition: Option<i32>,
    /// Offset of the message in its partition (none for HTTP).
    pub offset: Option<i64>,
}

impl Source {
    /// A Kafka message's position.
    pub fn kafka(topic: &str, partition: i32, offset: i64) -> Self {
        Self { topic: topic.to_owned(), partition: Some(partition), offset: Some(offset) }
    }

    /// A request to the HTTP intake (to come with the REST API).
    pub fn http() -> Self {
        Self { topic: "http".to_owned(), partition: None, offset: None }
    }
}

impl std::fmt::Display for Source {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.partition, self.offset) {
            (Some(partition), Some(offset)) => write!(formatter, "{}/{partition}/{offset}", self.topic),
            _ => formatter.write_str(&self.topic),
        }
    }
}

/// One message, validated.
#[derive(Debug, Clone)]
pub enum Delivery {
    /// A valid event from a known cluster.
    Event {
        /// The event.
        event: Event,
        /// The role of its cluster.
        role: Role,
        /// Where it came from.
        source: Source,
    },
    /// A message that is not a usable event, kept with the reason.
    DeadLetter(DeadLetter),
}

/// A message that could not be used, kept so that nothing is lost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    /// Where it came from.
    pub source: Source,
    /// The raw payload.
    pub payload: Vec<u8>,
    /// Why it was refused.
    pub reason: String,
}

/// What one [`PairingStore::accept`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Accepted {
    /// Events recorded for the first time.
    pub events: usize,
    /// Events whose `event_id` was already recorded (nothing changed).
    pub duplicates: usize,
    /// Dead letters kept.
    pub dead_letters: usize,
    /// New outcomes of pairs (diff jobs queued, divergent reports written).
    pub decisions: usize,
}

impl std::ops::AddAssign for Accepted {
    fn add_assign(&mut self, other: Self) {
        self.events += other.events;
        self.duplicates += other.duplicates;
        self.dead_letters += other.dead_letters;
        self.decisions += other.decisions;
    }
}

/// `text` with control characters written as `\u{..}` escapes: a reason or a name quoted from
/// an input can hold a NUL, which PostgreSQL's text refuses and a terminal misprints.
pub fn printable(text: &str) -> String {
    if !text.chars().any(char::is_control) {
        return text.to_owned();
    }
    text.chars().map(|c| if c.is_control() { c.escape_unicode().to_string() } else { c.to_string() }).collect()
}

/// Durable pairing state.
pub trait PairingStore: Send + Sync + 'static {
    /// Makes a batch of deliveries durable in one transaction (see the module docs). Fails with
    /// [`Error::Store`](crate::Error::Store), or [`Error::DataRefused`](crate::Error::DataRefused)
    /// when the data of the batch is at fault.
    fn accept(&self, batch: &[Delivery]) -> impl Future<Output = crate::Result<Accepted>> + Send;
}
