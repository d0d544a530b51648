//! dqc on an Apache DataFusion Ballista cluster: the same diff, its reads run by the cluster.
//!
//! - [`classify`]: pass 2's classification of the differing buckets' rows on the executors.
//! - [`codec`]: dqc's plan nodes (the dataset scan, the classification) and row functions through Ballista's
//!   protobuf plans, for the client, the scheduler and the executors alike.
//! - [`scan`]: dqc's dataset scan as a file scan whose groups are its partitions, which
//!   Ballista's scheduler can cut by task.
//! - [`udf`]: the row hashing of a local diff as DataFusion functions carrying their parameters.
//! - `passes`: the passes' reads as Ballista jobs ([`Cluster`]).
//! - `submit`: jobs submitted and followed, cancelled on the cluster when given up on.
//! - [`standalone`]: a scheduler and executors in this process (tests, trying it out).
//! - [`processes`]: the `dqc-scheduler` and `dqc-executor` binaries' setup.
//!
//! The report is the local diff's: this process opens the datasets and plans the columns, the
//! executors classify the differing rows with the verifier's own code, and this process merges
//! what they found ([`verifier::diff_on`]).

pub mod classify;
pub mod codec;
pub mod compact;
mod passes;
pub mod processes;
pub mod scan;
pub mod standalone;
mod submit;
pub mod udf;

use std::sync::Arc;

pub use passes::{Cluster, DEFAULT_BUCKET_GROUPS, DEFAULT_JOB_TIMEOUT};
use verifier::{DiffSpec, Progress, Report};

/// Runs the diff `spec` describes with its reads on `cluster`.
pub async fn diff(spec: &DiffSpec, cluster: &Cluster, progress: Arc<dyn Progress>) -> verifier::Result<Report> {
    verifier::diff_on(spec, progress, cluster).await
}
