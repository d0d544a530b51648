//! dqc's collector: task-finished events in, durable pairs and decisions out.
//!
//! # Layout
//!
//! - [`event`]: the event contract (DESIGN.md) and its validation; the clusters and their roles.
//! - [`pairing`]: the pure state machine of one pair: sides, supersession, deadlines, outcomes.
//! - [`store`]: the persistence the collector needs, as a trait ([`store::PairingStore`]); the
//!   `api` crate implements it on SQL. The collector does not link DataFusion.
//! - [`error`]: the collector's error, split by fault (the input's or a failure at run time).
//! - [`consumer`]: the Kafka consumer (rdkafka): batches of messages -> one durable
//!   [`store::PairingStore::accept`] -> offsets stored; invalid messages become dead letters.

pub mod consumer;
pub mod error;
pub mod event;
pub mod ident;
pub mod pairing;
pub mod store;

pub use error::{Error, Result};
pub use event::{Clusters, Event, Output, Role, Status};
pub use ident::{ClusterName, EventId, InvalidIdentifier, RunId, TableName, TaskId, WorkflowId};
pub use pairing::{Divergence, Outcome, Pair, PairKey, SideRun};
