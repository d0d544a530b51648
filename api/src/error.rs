//! The service's error type, split by fault, and the one way an error is written for people.
//!
//! [`Error`] is what stops the service, the demo or a command: the operator's input (the
//! configuration), or a failure at run time (the store, Kafka, the network, the disk). A few
//! parts keep an error of their own because their callers act on its variants, and each is the
//! `#[source]` of a variant here: [`ConfigError`] (which setting), [`StoreError`] (data refused or
//! store down), the HTTP answers' [`ApiError`](crate::rest::ApiError) (status by fault), and the
//! engine's [`verifier::Error`] (retried or not, by [`verifier::Fault`]).

use std::time::Duration;

use crate::config::ConfigError;
use crate::store::StoreError;

/// A foreign error kept as a source.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Result with the service's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why the service, the demo or a command could not go on.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration is not usable (the operator's input).
    #[error(transparent)]
    Config(#[from] ConfigError),

    /// The store cannot be opened, migrated or used.
    #[error(transparent)]
    Store(#[from] StoreError),

    /// The Kafka consumer cannot start.
    #[error(transparent)]
    Collector(#[from] collector::Error),

    /// The API cannot listen or serve.
    #[error("the API cannot listen on `{address}`: {source}")]
    Listen {
        /// The address.
        address: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },

    /// Kafka failed (the demo's in-process broker or its producer).
    #[error("Kafka failed: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),

    /// A local file or directory could not be written or read.
    #[error("cannot {what}: {source}")]
    Io {
        /// What was being done, naming the file.
        what: String,
        /// The underlying error.
        #[source]
        source: BoxError,
    },

    /// A call to the service's own HTTP API failed (the demo's client).
    #[error("the API call {what} failed: {source}")]
    Http {
        /// The call.
        what: &'static str,
        /// reqwest's error.
        #[source]
        source: BoxError,
    },

    /// A task of the service stopped without an error of its own (it panicked or was aborted).
    #[error("the service stopped: {0}")]
    Stopped(String),

    /// The demo's reports did not all come in time.
    #[error("waited {waited:?} and {reports} of {expected} reports came")]
    Timeout {
        /// How long.
        waited: Duration,
        /// Reports that came.
        reports: usize,
        /// Reports expected.
        expected: usize,
    },
}

impl Error {
    /// An [`Error::Io`].
    pub fn io(what: impl Into<String>, source: impl Into<BoxError>) -> Self {
        Self::Io { what: what.into(), source: source.into() }
    }

    /// True when the operator's input (the configuration) is at fault, as opposed to a failure
    /// at run time.
    pub fn is_input(&self) -> bool {
        matches!(self, Self::Config(_))
    }
}

/// `error` and its sources, each once, joined by `: `: the whole chain on one line, for a log
/// or a terminal.
pub fn chain(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = cause.source();
    }
    message
}
