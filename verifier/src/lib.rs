//! dqc's diff engine: two datasets in, a report out.
//!
//! # Layout
//!
//! Read in this order, the modules tell the diff's story:
//!
//! - [`spec`]: what to compare and how ([`DiffSpec`]).
//! - `source`: the datasets: files under a URI, ORC and Parquet, one schema, a correct
//!   DataFusion scan ([`Dataset`], [`DatasetTable`]).
//! - `columns`: which column is compared with which, and the schema findings.
//! - `canonical`: the one definition of "equal": canonical bytes of every value.
//! - `rows`: a batch's rows as canonical keys, row hashes and comparable values.
//! - `fingerprint`: pass 1, per-key-bucket digests of each side, streamed; `key_hashes`
//!   finds duplicate keys in bounded memory.
//! - `fingerprint_file`: one side's digests as a file, and two such files compared.
//! - [`inventory`]: two whole warehouses compared partition by partition, from their footers
//!   (and, deeper, their fingerprints).
//! - `diff`: pass 2, only the differing buckets, matched by key and classified.
//! - `progress`: passes and rows reported to callers ([`Progress`]).
//! - [`report`]: the JSON contract and its text rendering; `export`: differing rows as Parquet.
//! - [`remote`]: the passes' reads run elsewhere (a cluster), the report assembled here.
//! - `run`: the orchestration of one diff ([`diff`]); `scan_floor`: a full decode of one
//!   dataset ([`scan`]), the floor a diff is measured against.
//!
//! The engine reads no configuration and no environment: callers hand it a spec.

mod canonical;
mod columns;
mod diff;
mod error;
mod export;
mod fingerprint;
mod fingerprint_file;
pub mod inventory;
mod key_hashes;
mod progress;
pub mod remote;
pub mod report;
mod rows;
mod run;
mod sample;
mod scan_floor;
mod source;
pub mod spec;

pub use error::{Error, Fault, Result};
pub use fingerprint_file::{
    BucketDigest, DifferingBucket, FingerprintColumn, FingerprintComparison, FingerprintFile, FingerprintHeader,
    FingerprintSide, FingerprintSpec, compare_fingerprints, fingerprint_dataset, fingerprint_dataset_on,
    fingerprint_dataset_with_progress,
};
pub use progress::{NoProgress, Pass, Progress};
pub use report::{BucketSummary, Report, UnknownVerdict, Verdict};
pub use run::{Route, Router, diff, diff_on, diff_routed, diff_with_progress};
pub use scan_floor::{ScanSummary, scan};
pub use source::{
    ClusterStorage, Dataset, DatasetScanExec, DatasetTable, OptionValue, PortableScan, StoreKind, Stores, local_file,
    oss_endpoint, remote_under, warehouse_root,
};
pub use spec::{Confinement, Declared, DeclaredSchema, DiffOptions, DiffSpec, ResourceLimits, Roots, Side, Tolerance};

/// Rows per batch, in the scan and the engine.
pub(crate) const BATCH_SIZE: usize = 8192;
