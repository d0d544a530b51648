//! Progress of a diff, for callers that show it (the CLI's progress bar, the service's job
//! state). The engine announces each pass with the rows it will read (from the footers) and
//! reports rows as batches are decoded; it never draws anything itself.

use std::fmt;

/// A pass over the data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pass {
    /// Pass 1: per-bucket digests of both sides.
    Fingerprint,
    /// Pass 2: the rows of the buckets that differ.
    Diff,
}

impl fmt::Display for Pass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Pass::Fingerprint => "fingerprint",
            Pass::Diff => "diff",
        })
    }
}

/// Receives the progress of a diff. Called from several tasks at once.
pub trait Progress: Send + Sync + fmt::Debug {
    /// A pass starts that will read `total_rows` rows of both sides together.
    fn start_pass(&self, pass: Pass, total_rows: u64);
    /// `rows` more rows were decoded in the current pass.
    fn add_rows(&self, rows: u64);
}

/// Progress that goes nowhere.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn start_pass(&self, _pass: Pass, _total_rows: u64) {}
    fn add_rows(&self, _rows: u64) {}
}
