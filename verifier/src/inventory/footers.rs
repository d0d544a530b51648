//! One side of a partition as its footers describe it: rows, columns and each
//! column's statistics merged over the files. Every footer is read once, with at most as many
//! reads in flight per store as the inventory allows.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::datatypes::FieldRef;
use futures::StreamExt;
use tokio::sync::Semaphore;

use super::layout::PartitionFiles;
use crate::source::format::{self, DataFile};
use crate::source::summary::ColumnSummary;
use crate::spec::Side;

/// A partition's footers on one side.
#[derive(Debug, Clone)]
pub(crate) struct PartitionFooters {
    pub(crate) rows: u64,
    /// The columns of all its files, in the order first seen (files in path order).
    pub(crate) fields: Vec<FieldRef>,
    /// Statistics by lowercased column name; a file without a column adds NULLs.
    pub(crate) columns: BTreeMap<String, ColumnSummary>,
    /// Its non-empty files as inspected, in path order: a deep comparison reads them without
    /// reading their footers again.
    pub(crate) files: Vec<DataFile>,
}

/// One side's footer reads, and how many may be in flight at once.
pub(crate) struct Reader {
    pub(crate) side: Side,
    pub(crate) permits: Semaphore,
}

impl Reader {
    /// Reads the footers of a partition's files. `Err`: why a file cannot be read (the first
    /// such file, named), which makes the partition unreadable.
    pub(crate) async fn footers(&self, partition: &PartitionFiles) -> Result<PartitionFooters, String> {
        let files = &partition.files;
        let reads = files.iter().map(|listed| async move {
            let _permit = self.permits.acquire().await.map_err(|e| e.to_string())?;
            format::inspect(self.side, &partition.store, listed, partition.remote, true)
                .await
                .map_err(|e| e.to_string())
        });
        // In path order, as many at once as permits allow (the semaphore is the store's bound).
        let inspected: Vec<Result<Option<DataFile>, String>> =
            futures::stream::iter(reads).buffered(files.len().max(1)).collect().await;
        let mut data_files = Vec::new();
        for file in inspected {
            if let Some(file) = file? {
                data_files.push(file);
            }
        }
        let mut footers = merge(&data_files);
        footers.files = data_files;
        Ok(footers)
    }
}

/// The partition's footers from its files' (empty files hold no rows and no columns).
fn merge(files: &[DataFile]) -> PartitionFooters {
    let mut fields: Vec<FieldRef> = Vec::new();
    for file in files {
        for field in file.schema.fields() {
            if !fields.iter().any(|f| f.name().eq_ignore_ascii_case(field.name())) {
                fields.push(Arc::clone(field));
            }
        }
    }
    let columns = fields
        .iter()
        .map(|field| {
            let summary = files.iter().fold(ColumnSummary::ABSENT, |total, file| {
                let this = if file.column(field.name()).is_some() {
                    file.summaries
                        .iter()
                        .find(|(name, _)| name.eq_ignore_ascii_case(field.name()))
                        .map(|(_, summary)| summary.clone())
                        .unwrap_or_default()
                } else {
                    ColumnSummary::ABSENT
                };
                total.merge(this)
            });
            (field.name().to_lowercase(), summary)
        })
        .collect();
    PartitionFooters { rows: files.iter().map(|file| file.rows).sum(), fields, columns, files: Vec::new() }
}
