//! The collector's error type, split by fault: the input's (a payload that is not a usable event,
//! a message whose data the store refuses) versus a failure at run time (Kafka, the store).
//!
//! The consumer acts on the split: a bad input becomes a dead letter and consumption goes on; a
//! runtime failure is retried, since accepting a batch is idempotent.

use rdkafka::error::KafkaError;

use crate::ident::InvalidIdentifier;

/// A store's own error, kept as the source of [`Error::Store`] and [`Error::DataRefused`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Result with the collector's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why the collector could not take an input or go on.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A payload that is not a usable event; the reason names the field.
    #[error("{reason}")]
    InvalidEvent {
        /// What is wrong, naming the field.
        reason: String,
    },

    /// An identifier the collector refuses (a control character, a path character, too long).
    #[error(transparent)]
    InvalidIdentifier(#[from] InvalidIdentifier),

    /// The pairing store refuses the data of a batch rather than failing itself (PostgreSQL's
    /// SQLSTATE classes 22, data exception, and 54, program limit exceeded): retrying the same
    /// batch cannot help, so the consumer splits it and keeps the offending message as a dead
    /// letter.
    #[error("the store refuses the data: {0}")]
    DataRefused(#[source] BoxError),

    /// The pairing store failed; the consumer retries the batch.
    #[error("the pairing store failed: {0}")]
    Store(#[source] BoxError),

    /// The consumer could not be created or subscribed (bad brokers or properties).
    #[error("cannot start the Kafka consumer of topic `{topic}`: {source}")]
    ConsumerStart {
        /// The topic.
        topic: String,
        /// librdkafka's error.
        #[source]
        source: KafkaError,
    },
}

impl Error {
    /// An [`Error::InvalidEvent`].
    pub fn invalid_event(reason: impl Into<String>) -> Self {
        Self::InvalidEvent { reason: reason.into() }
    }

    /// True when the input is at fault (an event, an identifier, data the store refuses), as
    /// opposed to a failure at run time.
    pub fn is_input(&self) -> bool {
        matches!(self, Self::InvalidEvent { .. } | Self::InvalidIdentifier(_) | Self::DataRefused(_))
    }
}
