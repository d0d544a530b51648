//! `scan`: decode a whole dataset and count its rows, the floor a diff is measured against.
//!
//! It reads exactly as the diff does (same listing, readers and DataFusion scan, one task per
//! partition), every column, and keeps nothing but counts.

use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;

use crate::error::Result;
use crate::source::{self, Dataset};
use crate::spec::{ResourceLimits, Side};

/// What a full scan read.
#[derive(Debug, Clone, Serialize)]
pub struct ScanSummary {
    /// The URI scanned.
    pub uri: String,
    /// Data files.
    pub files: usize,
    /// Rows decoded.
    pub rows: u64,
    /// Columns decoded (data and partition columns).
    pub columns: usize,
    /// Wall time, listing included.
    pub elapsed_ms: u64,
}

/// Decodes every column of every row of `uri` (in the store `stores` gives for it).
pub async fn scan(uri: &str, limits: &ResourceLimits, stores: &crate::Stores) -> Result<ScanSummary> {
    let started = Instant::now();
    let context = crate::run::session(limits)?;
    let dataset = Arc::new(Dataset::open(Side::Baseline, uri, stores).await?);
    let columns: Vec<String> = dataset.schema().fields().iter().map(|f| f.name().clone()).collect();
    let streams = source::scan(&context, &dataset, &columns, None).await?;
    let partials = source::fold_partitions(
        streams,
        || 0u64,
        |rows, batch| {
            *rows += batch.num_rows() as u64;
            Ok(())
        },
    )
    .await?;
    let rows = partials.into_iter().sum();
    Ok(ScanSummary {
        uri: uri.to_owned(),
        files: dataset.file_count(),
        rows,
        columns: columns.len(),
        elapsed_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
    })
}
