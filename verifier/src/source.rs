//! Reading datasets: files under a URI, their formats, one reconciled schema, and a correct
//! DataFusion scan over them.
//!
//! `location` lists files, `format` reads ORC and Parquet, `dataset` reconciles schemas and
//! `scan` exposes a dataset to DataFusion as a table.

mod dataset;
mod format;
mod location;
mod scan;

pub use dataset::Dataset;
pub use scan::{DatasetScanExec, DatasetTable};

use std::sync::Arc;

use datafusion::execution::SendableRecordBatchStream;
use datafusion::prelude::SessionContext;

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
