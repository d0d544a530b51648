//! The engine's error type.
//!
//! An `Err` from the engine means "dqc could not tell": a diff that finds differences returns
//! `Ok(report)`. Variants are split by fault, as DataFusion does: the user's input
//! ([`Error::is_input`]) versus a failure at run time or a bug in dqc.

use crate::spec::Side;

/// Result with the engine's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why the engine could not produce a report.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A dataset URI that dqc cannot parse or has no store for.
    #[error("the {side} location `{uri}` is not usable: {reason}")]
    InvalidLocation { side: Side, uri: String, reason: String },

    /// The dataset's path does not exist.
    #[error("the {side} location `{uri}` does not exist")]
    LocationNotFound { side: Side, uri: String },

    /// A directory with no data files in it (after skipping hidden `.` and `_` files).
    #[error("the {side} location `{uri}` holds no data files")]
    EmptyDataset { side: Side, uri: String },

    /// A location, or a file under it, outside the directories its side may be read from.
    /// The message is the same whether the path exists or not, and shows nothing of a file.
    #[error("the {side} location `{uri}` is refused: {reason}")]
    OutsideRoots { side: Side, uri: String, reason: String },

    /// A store that refuses the credentials, or access to the location (a wrong key or secret,
    /// a missing permission).
    #[error("the {side} location `{uri}` cannot be read: access refused: {source}")]
    AccessDenied {
        side: Side,
        uri: String,
        #[source]
        source: object_store::Error,
    },

    /// A file that is neither ORC nor Parquet. Nothing of its content is shown.
    #[error("the {side} file `{path}` is neither ORC nor Parquet (its first bytes are neither magic)")]
    UnknownFormat { side: Side, path: String },

    /// A file whose footer or data cannot be decoded (truncated, corrupt).
    #[error("cannot read the {side} file `{path}`: {source}")]
    UnreadableFile {
        side: Side,
        path: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },

    /// Files of one dataset whose schemas cannot be reconciled.
    #[error("the {side} file `{path}` does not fit the dataset's schema: {reason}")]
    IncompatibleFile { side: Side, path: String, reason: String },

    /// A key column that one side does not have.
    #[error("key column `{column}` not found in the {side} dataset at {location}")]
    MissingKeyColumn { column: String, side: Side, location: String },

    /// Key columns whose types cannot be compared with each other.
    #[error(
        "key column `{column}` cannot be compared: {baseline_type} in the baseline, \
         {candidate_type} in the candidate"
    )]
    IncomparableKey { column: String, baseline_type: String, candidate_type: String },

    /// Store options that cannot be used: an unknown scheme or option, a value that does not
    /// parse.
    #[error("the store options of `{prefix}`: {reason}")]
    StoreOptions { prefix: String, reason: String },

    /// A cluster that does not answer, or a job that failed on it.
    #[error("the cluster at {url} could not run the diff: {reason}")]
    Cluster { url: String, reason: String },

    /// A diff option that does not make sense for these datasets.
    #[error("invalid option: {0}")]
    InvalidOption(String),

    /// An I/O failure of the object store.
    #[error("object store error on the {side} side: {source}")]
    ObjectStore {
        side: Side,
        #[source]
        source: object_store::Error,
    },

    /// An error raised by DataFusion while planning or executing a scan.
    #[error("query engine error: {0}")]
    DataFusion(#[from] datafusion::error::DataFusionError),

    /// An Arrow compute error.
    #[error("arrow error: {0}")]
    Arrow(#[from] arrow::error::ArrowError),

    /// A fingerprint file that cannot be read, or two that cannot be compared.
    #[error("fingerprint `{path}`: {reason}")]
    Fingerprint { path: String, reason: String },

    /// Writing the export file failed.
    #[error("cannot write the export to `{path}`: {source}")]
    Export {
        path: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },

    /// Spilling to a temporary file failed (a full disk, a missing temporary directory).
    #[error("cannot spill {what} to a temporary file: {source}")]
    Spill {
        what: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },

    /// A bug in dqc.
    #[error("internal error: {0}")]
    Internal(String),
}

/// Whose fault an error is, which decides what a caller does with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The user's input: a wrong path, file, key or option. Running again gives the same error,
    /// unless the data is not there yet.
    Input,
    /// A failure at run time: the object store, the disk, memory. It may pass.
    Runtime,
    /// A bug in dqc.
    Bug,
}

impl Error {
    /// Whose fault this error is.
    pub fn fault(&self) -> Fault {
        if self.is_input() {
            Fault::Input
        } else if matches!(self, Self::Internal(_)) {
            Fault::Bug
        } else {
            Fault::Runtime
        }
    }

    /// True when the user's input is at fault (a wrong path, file, key or option), as opposed to
    /// a failure at run time or a bug.
    pub fn is_input(&self) -> bool {
        matches!(
            self,
            Self::InvalidLocation { .. }
                | Self::LocationNotFound { .. }
                | Self::OutsideRoots { .. }
                | Self::AccessDenied { .. }
                | Self::EmptyDataset { .. }
                | Self::UnknownFormat { .. }
                | Self::UnreadableFile { .. }
                | Self::IncompatibleFile { .. }
                | Self::MissingKeyColumn { .. }
                | Self::IncomparableKey { .. }
                | Self::InvalidOption(_)
                | Self::StoreOptions { .. }
                | Self::Fingerprint { .. }
        )
    }

    /// Recovers an engine error carried through DataFusion (scans report through its error type).
    pub(crate) fn from_datafusion(error: datafusion::error::DataFusionError) -> Self {
        use datafusion::error::DataFusionError;
        match error {
            DataFusionError::External(inner) => match inner.downcast::<Error>() {
                Ok(engine) => *engine,
                Err(other) => Self::DataFusion(DataFusionError::External(other)),
            },
            DataFusionError::Context(_, inner) => Self::from_datafusion(*inner),
            DataFusionError::Shared(shared) => match std::sync::Arc::try_unwrap(shared) {
                Ok(inner) => Self::from_datafusion(inner),
                Err(shared) => Self::DataFusion(DataFusionError::Shared(shared)),
            },
            other => Self::DataFusion(other),
        }
    }
}
