//! Reading datasets: files under a URI, their formats, one reconciled schema, and a correct
//! DataFusion scan over them.
//!
//! `location` lists files, `format` reads ORC and Parquet, `dataset` reconciles schemas and
//! `scan` exposes a dataset to DataFusion as a table.

mod configured;
mod dataset;
mod footer;
pub(crate) mod format;
pub(crate) mod location;
mod scan;
mod storage;
pub(crate) mod summary;

pub use configured::{ClusterStorage, OptionValue, warehouse_root};
pub use dataset::Dataset;
pub(crate) use format::{schema_from_ipc, schema_to_ipc};
pub use location::{local_file, remote_under};
pub use scan::{DatasetScanExec, DatasetTable, PortableScan};
pub use storage::{StoreKind, Stores, oss_endpoint};

use std::sync::Arc;

use arrow::array::RecordBatch;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::prelude::SessionContext;
use futures::StreamExt;

use crate::error::{Error, Result};

/// Streams `columns` (names as in the dataset's schema) of the rows passing `filter` (a SQL
/// predicate), one stream per partition of the scan so that callers can consume them in
/// parallel.
pub(crate) async fn scan(
    context: &SessionContext,
    dataset: &Arc<Dataset>,
    columns: &[String],
    filter: Option<&str>,
) -> Result<Vec<SendableRecordBatchStream>> {
    let table = Arc::new(DatasetTable::new(Arc::clone(dataset)));
    let mut frame = context.read_table(table)?;
    if let Some(filter) = filter {
        let predicate = frame
            .parse_sql_expr(filter)
            .map_err(|e| Error::InvalidOption(format!("the filter `{filter}` is not a valid SQL predicate: {e}")))?;
        frame = frame.filter(predicate).map_err(|e| {
            Error::InvalidOption(format!(
                "the filter `{filter}` cannot be applied to the {} dataset: {e}",
                dataset.side()
            ))
        })?;
    }
    let names: Vec<&str> = columns.iter().map(String::as_str).collect();
    let frame = frame.select_columns(&names)?;
    frame.execute_stream_partitioned().await.map_err(Error::from_datafusion)
}

/// Streams of batches already read, one per scan partition, to be read again.
pub(crate) fn replay(partitions: Vec<Vec<RecordBatch>>) -> Vec<SendableRecordBatchStream> {
    partitions
        .into_iter()
        .filter_map(|batches| {
            let schema = batches.first()?.schema();
            let stream = futures::stream::iter(batches.into_iter().map(Ok));
            Some(Box::pin(RecordBatchStreamAdapter::new(schema, stream)) as SendableRecordBatchStream)
        })
        .collect()
}

/// Consumes each scan partition in a task of its own, folding its batches into a state made by
/// `init`, and returns the partial states (in completion order) for the caller to merge.
pub(crate) async fn fold_partitions<T, F>(
    streams: Vec<SendableRecordBatchStream>,
    init: impl Fn() -> T,
    fold: F,
) -> Result<Vec<T>>
where
    T: Send + 'static,
    F: Fn(&mut T, &RecordBatch) -> Result<()> + Clone + Send + 'static,
{
    let mut tasks = tokio::task::JoinSet::new();
    for mut stream in streams {
        let mut state = init();
        let fold = fold.clone();
        tasks.spawn(async move {
            while let Some(batch) = stream.next().await {
                fold(&mut state, &batch.map_err(Error::from_datafusion)?)?;
            }
            Ok::<_, Error>(state)
        });
    }
    let mut partials = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        partials.push(joined.map_err(|e| Error::Internal(format!("a scan task failed: {e}")))??);
    }
    Ok(partials)
}
