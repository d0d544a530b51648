//! The dataset as a DataFusion table: a `TableProvider` and its scan operator.
//!
//! This replaces datafusion-orc, whose scan is wrong with DataFusion 55 (ENGINE-NOTES.md). The
//! points it gets wrong are the ones this operator is built around, and tests prove each:
//! - projections are column indices only, so expressions stay in DataFusion's `ProjectionExec`
//!   above the scan and are always evaluated;
//! - output columns come in the order of the projection, not the file's order;
//! - Hive partition columns are real columns, and filters on them prune whole files;
//! - row counts from the footers are reported as exact statistics, so the planner can size
//!   joins and aggregations.

use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, BooleanArray, RecordBatch, StringArray};
use arrow::datatypes::{Schema, SchemaRef};
use async_trait::async_trait;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::stats::Precision;
use datafusion::common::{DFSchema, Statistics};
use datafusion::datasource::TableType;
use datafusion::error::{DataFusionError, Result as DFResult};
use datafusion::execution::TaskContext;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_expr::EquivalenceProperties;
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties, SendableRecordBatchStream,
    StatisticsArgs,
};
use futures::{StreamExt, TryStreamExt};

use serde::{Deserialize, Serialize};

use super::dataset::Dataset;
use super::format::{self, PortableFile};
use super::storage::Stores;
use crate::error::{Error, Result};
use crate::spec::Side;

/// A [`Dataset`] as a DataFusion table.
#[derive(Debug)]
pub struct DatasetTable {
    dataset: Arc<Dataset>,
    exact_rows: bool,
}

impl DatasetTable {
    /// Wraps a dataset.
    pub fn new(dataset: Arc<Dataset>) -> Self {
        Self { dataset, exact_rows: true }
    }

    /// The table with its scans' row counts given to DataFusion as estimates, not exact. For
    /// plans run by a cluster: with an exact count of one row, DataFusion 55 plans a cluster's
    /// pass 1 in one stage without a shuffle (aggregates in `SinglePartitioned` mode, a sort-merge
    /// join), and Ballista 55 ran that plan with the row counted 14 to 16 times.
    pub fn with_inexact_rows(self) -> Self {
        Self { exact_rows: false, ..self }
    }

    fn partition_schema(&self) -> Schema {
        let schema = self.dataset.schema();
        let first = schema.fields().len() - self.dataset.partition_columns().len();
        Schema::new(schema.fields()[first..].to_vec())
    }

    fn is_partition_filter(&self, filter: &Expr) -> bool {
        let partition_schema = self.partition_schema();
        let columns = filter.column_refs();
        !columns.is_empty() && columns.iter().all(|c| partition_schema.field_with_name(&c.name).is_ok())
    }

    /// The files whose partition values may satisfy every partition filter.
    fn prune(&self, state: &dyn Session, filters: &[Expr]) -> DFResult<Vec<usize>> {
        let filters: Vec<&Expr> = filters.iter().filter(|f| self.is_partition_filter(f)).collect();
        let files = self.dataset.files();
        if filters.is_empty() {
            return Ok((0..files.len()).collect());
        }
        let schema = Arc::new(self.partition_schema());
        let df_schema = DFSchema::try_from(Arc::clone(&schema))?;
        let predicates = filters
            .iter()
            .map(|f| state.create_physical_expr((*f).clone(), &df_schema))
            .collect::<DFResult<Vec<_>>>()?;
        let mut kept = Vec::new();
        for (index, file) in files.iter().enumerate() {
            let values: Vec<ArrayRef> = file
                .listed
                .partition
                .iter()
                .map(|(_, value)| Arc::new(StringArray::from(vec![value.as_deref()])) as ArrayRef)
                .collect();
            let row = RecordBatch::try_new(Arc::clone(&schema), values)?;
            let mut keep = true;
            for predicate in &predicates {
                let result = predicate.evaluate(&row)?.into_array(1)?;
                let result = result.as_any().downcast_ref::<BooleanArray>();
                // A NULL or false outcome means no row of this file can pass the filter.
                keep &= result.is_none_or(|r| r.is_valid(0) && r.value(0));
            }
            if keep {
                kept.push(index);
            }
        }
        Ok(kept)
    }
}

#[async_trait]
impl TableProvider for DatasetTable {
    fn schema(&self) -> SchemaRef {
        self.dataset.schema()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        _limit: Option<usize>,
    ) -> DFResult<Arc<dyn ExecutionPlan>> {
        let projection = match projection {
            Some(indices) => indices.clone(),
            None => (0..self.dataset.schema().fields().len()).collect(),
        };
        let files = self.prune(state, filters)?;
        let target = state.config().target_partitions().max(1);
        let scan = DatasetScanExec::new(Arc::clone(&self.dataset), projection, files, target);
        Ok(Arc::new(DatasetScanExec { exact_rows: self.exact_rows, ..scan }))
    }

    fn supports_filters_pushdown(&self, filters: &[&Expr]) -> DFResult<Vec<TableProviderFilterPushDown>> {
        // Inexact: the files are pruned by partition value, and DataFusion still applies the
        // filter to the rows, so a filter this code cannot evaluate costs time, never rows.
        Ok(filters
            .iter()
            .map(|f| {
                if self.is_partition_filter(f) {
                    TableProviderFilterPushDown::Inexact
                } else {
                    TableProviderFilterPushDown::Unsupported
                }
            })
            .collect())
    }

    fn statistics(&self) -> Option<Statistics> {
        let mut statistics = Statistics::new_unknown(&self.dataset.schema());
        let rows = usize::try_from(self.dataset.rows()).ok()?;
        statistics.num_rows = if self.exact_rows { Precision::Exact(rows) } else { Precision::Inexact(rows) };
        Some(statistics)
    }
}

/// Scans a dataset's files, a run of file pieces (ORC stripes, Parquet row groups) per output
/// partition.
#[derive(Debug)]
pub struct DatasetScanExec {
    dataset: Arc<Dataset>,
    projection: Vec<usize>,
    groups: Vec<Vec<Part>>,
    properties: Arc<PlanProperties>,
    /// Whether its statistics give the row counts as exact (they are the footers').
    exact_rows: bool,
}

/// A [`DatasetScanExec`] as another process receives it (see [`DatasetScanExec::portable`]).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PortableScan {
    side: Side,
    uri: String,
    /// The dataset's schema as an Arrow IPC stream.
    schema: Vec<u8>,
    partition_columns: Vec<String>,
    projection: Vec<usize>,
    /// The files the scan reads.
    files: Vec<PortableFile>,
    /// Per output partition: (index into `files`, pieces) runs.
    groups: Vec<Vec<(usize, Range<usize>)>>,
}

/// Consecutive pieces of one file, read with one reader.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Part {
    file: usize,
    pieces: Range<usize>,
}

impl DatasetScanExec {
    /// Scans `files` (indices into the dataset's files) for the columns `projection`, in at most
    /// `target_partitions` partitions of about equal rows.
    pub fn new(dataset: Arc<Dataset>, projection: Vec<usize>, files: Vec<usize>, target_partitions: usize) -> Self {
        let all = dataset.files();
        let pieces = files.iter().map(|&file| (file, all[file].pieces.iter().map(|p| p.rows).collect())).collect();
        Self::with_groups(dataset, projection, balance(pieces, target_partitions))
    }

    /// What another process (a cluster's scheduler or executor) needs to run this scan: the
    /// location, the files it reads with their pieces and Hive partition values, the dataset's
    /// schema and the projection.
    pub fn portable(&self) -> Result<PortableScan> {
        let mut used: Vec<usize> = self.groups.iter().flatten().map(|part| part.file).collect();
        used.sort_unstable();
        used.dedup();
        let files = self.dataset.files();
        Ok(PortableScan {
            side: self.dataset.side(),
            uri: self.dataset.uri().to_owned(),
            schema: format::schema_to_ipc(&self.dataset.schema())?,
            partition_columns: self.dataset.partition_columns().to_vec(),
            projection: self.projection.clone(),
            files: used.iter().map(|&file| files[file].portable()).collect::<Result<_>>()?,
            groups: self
                .groups
                .iter()
                .map(|group| {
                    group
                        .iter()
                        .map(|part| (used.binary_search(&part.file).unwrap_or_default(), part.pieces.clone()))
                        .collect()
                })
                .collect(),
        })
    }

    /// The scan [`Self::portable`] describes, reading through the store `stores` gives for its
    /// location. Nothing is read until it executes.
    pub fn from_portable(scan: PortableScan, stores: &Stores) -> Result<Self> {
        let located = stores.locate(scan.side, &scan.uri)?;
        let remote = located.is_some();
        let store = located.map_or_else(
            || Arc::new(object_store::local::LocalFileSystem::new()) as Arc<dyn object_store::ObjectStore>,
            |located| located.store,
        );
        let files: Vec<format::DataFile> =
            scan.files.into_iter().map(|file| file.into_data_file(remote)).collect::<Result<_>>()?;
        let invalid = |what: &str| Error::Internal(format!("a cluster's scan of {} names {what}", scan.uri));
        let groups = scan
            .groups
            .into_iter()
            .map(|group| {
                group
                    .into_iter()
                    .map(|(file, pieces)| {
                        let count = files.get(file).ok_or_else(|| invalid("a file it does not carry"))?.pieces.len();
                        if pieces.start >= pieces.end || pieces.end > count {
                            return Err(invalid("pieces its file does not have"));
                        }
                        Ok(Part { file, pieces })
                    })
                    .collect::<Result<Vec<_>>>()
            })
            .collect::<Result<Vec<_>>>()?;
        let schema = format::schema_from_ipc(&scan.schema)?;
        if scan.projection.iter().any(|&column| column >= schema.fields().len()) {
            return Err(invalid("a column its schema does not have"));
        }
        let dataset = Dataset::from_parts(scan.side, scan.uri, store, files, schema, scan.partition_columns);
        Ok(Self::with_groups(Arc::new(dataset), scan.projection, groups))
    }

    fn with_groups(dataset: Arc<Dataset>, projection: Vec<usize>, groups: Vec<Vec<Part>>) -> Self {
        let schema = Arc::new(dataset.schema().project(&projection).unwrap_or_else(|_| Schema::empty()));
        let properties = PlanProperties::new(
            EquivalenceProperties::new(schema),
            Partitioning::UnknownPartitioning(groups.len().max(1)),
            EmissionType::Incremental,
            Boundedness::Bounded,
        );
        Self { dataset, projection, groups, properties: Arc::new(properties), exact_rows: true }
    }

    fn rows_in(&self, group: &[Part]) -> usize {
        let files = self.dataset.files();
        let rows: u64 = group
            .iter()
            .map(|part| files[part.file].pieces[part.pieces.clone()].iter().map(|p| p.rows).sum::<u64>())
            .sum();
        usize::try_from(rows).unwrap_or(usize::MAX)
    }
}

/// Cuts the files' pieces (`(file, rows of each piece)`, in listing order) into at most `target`
/// runs of about equal rows: a piece goes to the run its middle row falls in. Cutting within
/// files keeps the cores busy to the end when files are few or of unequal sizes (one large file
/// is read by all of them); whole files per partition left one core alone for the last fifth of
/// a 2 x 2M-row diff.
fn balance(files: Vec<(usize, Vec<u64>)>, target: usize) -> Vec<Vec<Part>> {
    // Each piece weighs its rows plus one, so that pieces without rows still spread.
    let pieces: Vec<(usize, usize, u64)> = files
        .into_iter()
        .flat_map(|(file, rows)| rows.into_iter().enumerate().map(move |(index, rows)| (file, index, rows + 1)))
        .collect();
    let count = target.min(pieces.len()).max(1) as u128;
    let total: u128 = pieces.iter().map(|&(_, _, weight)| u128::from(weight)).sum();
    let mut groups: Vec<Vec<Part>> = vec![Vec::new(); count as usize];
    let mut before = 0u128;
    for (file, index, weight) in pieces {
        let middle = 2 * before + u128::from(weight);
        before += u128::from(weight);
        let group = &mut groups[((middle * count) / (2 * total)).min(count - 1) as usize];
        match group.last_mut() {
            Some(part) if part.file == file && part.pieces.end == index => part.pieces.end += 1,
            _ => group.push(Part { file, pieces: index..index + 1 }),
        }
    }
    groups.retain(|group| !group.is_empty());
    groups
}

impl DisplayAs for DatasetScanExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut files: Vec<usize> = self.groups.iter().flatten().map(|part| part.file).collect();
        files.dedup();
        let files = files.len();
        let names: Vec<&str> =
            self.properties.eq_properties.schema().fields().iter().map(|f| f.name().as_str()).collect();
        write!(f, "DatasetScanExec: {} files in {} groups, projection=[{}]", files, self.groups.len(), names.join(", "))
    }
}

impl ExecutionPlan for DatasetScanExec {
    fn name(&self) -> &str {
        "DatasetScanExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        Vec::new()
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(
            &Arc<dyn datafusion::physical_plan::PhysicalExpr>,
        ) -> DFResult<datafusion::common::tree_node::TreeNodeRecursion>,
    ) -> DFResult<datafusion::common::tree_node::TreeNodeRecursion> {
        Ok(datafusion::common::tree_node::TreeNodeRecursion::Continue)
    }

    fn with_new_children(self: Arc<Self>, children: Vec<Arc<dyn ExecutionPlan>>) -> DFResult<Arc<dyn ExecutionPlan>> {
        if children.is_empty() {
            Ok(self)
        } else {
            Err(DataFusionError::Internal("DatasetScanExec has no children".to_owned()))
        }
    }

    fn execute(&self, partition: usize, _context: Arc<TaskContext>) -> DFResult<SendableRecordBatchStream> {
        let schema = self.schema();
        let group = self.groups.get(partition).cloned().unwrap_or_default();
        let dataset = Arc::clone(&self.dataset);
        let projection = self.projection.clone();
        let stream = futures::stream::iter(group)
            .then(move |part| {
                let dataset = Arc::clone(&dataset);
                let projection = projection.clone();
                async move {
                    let file = &dataset.files()[part.file];
                    let reading = dataset.file_reading(file, &projection);
                    let mut columns = reading.file_columns.clone();
                    if columns.is_empty() {
                        // Decode one column so that batches still carry their row counts.
                        columns.extend(file.schema.fields().first().map(|f| f.name().clone()));
                    }
                    let batches = format::open(dataset.side(), dataset.store(), file, &columns, part.pieces)
                        .await
                        .map_err(|e| DataFusionError::External(Box::new(e)))?;
                    Ok::<_, DataFusionError>(batches.and_then(move |batch| {
                        let adapted = reading.adapt(&batch).map_err(DataFusionError::from);
                        async move { adapted }
                    }))
                }
            })
            .try_flatten();
        Ok(Box::pin(RecordBatchStreamAdapter::new(schema, stream)))
    }

    fn statistics_from_inputs(
        &self,
        _input_stats: &[Arc<Statistics>],
        args: &StatisticsArgs,
    ) -> DFResult<Arc<Statistics>> {
        let rows = match args.partition() {
            Some(partition) => self.groups.get(partition).map_or(0, |g| self.rows_in(g)),
            None => self.groups.iter().map(|g| self.rows_in(g)).sum(),
        };
        let mut statistics = Statistics::new_unknown(&self.schema());
        statistics.num_rows = if self.exact_rows { Precision::Exact(rows) } else { Precision::Inexact(rows) };
        Ok(Arc::new(statistics))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(file: usize, pieces: Range<usize>) -> Part {
        Part { file, pieces }
    }

    #[test]
    fn pieces_are_cut_into_runs_of_about_equal_rows() {
        // Three files of two equal stripes each: two partitions of three stripes, one cut inside
        // the middle file.
        let groups = balance(vec![(0, vec![100, 100]), (1, vec![100, 100]), (2, vec![100, 100])], 2);
        assert_eq!(groups, [vec![part(0, 0..2), part(1, 0..1)], vec![part(1, 1..2), part(2, 0..2)]]);
        // One large file is read by every partition.
        let groups = balance(vec![(4, vec![10; 8])], 4);
        assert_eq!(groups, [[part(4, 0..2)], [part(4, 2..4)], [part(4, 4..6)], [part(4, 6..8)]]);
        // A piece larger than a partition's share takes a partition alone; none stays empty.
        let groups = balance(vec![(0, vec![1000]), (1, vec![10, 10]), (2, vec![10])], 3);
        assert_eq!(groups, [vec![part(0, 0..1)], vec![part(1, 0..2), part(2, 0..1)]]);
        // Fewer pieces than partitions, pieces without rows, no files.
        assert_eq!(balance(vec![(0, vec![0, 0])], 8), [[part(0, 0..1)], [part(0, 1..2)]]);
        assert_eq!(balance(vec![(0, vec![5])], 1), [[part(0, 0..1)]]);
        assert!(balance(Vec::new(), 2).is_empty());
    }

    #[test]
    fn every_piece_is_read_once_and_in_order_within_a_partition() {
        let files: Vec<(usize, Vec<u64>)> =
            (0..7).map(|f| (f * 2, (0..f as u64 + 1).map(|r| r * 37 % 11).collect())).collect();
        for target in 1..12 {
            let groups = balance(files.clone(), target);
            assert!(groups.len() <= target && groups.iter().all(|g| !g.is_empty()));
            let read: Vec<(usize, usize)> =
                groups.iter().flatten().flat_map(|p| p.pieces.clone().map(move |i| (p.file, i))).collect();
            let all: Vec<(usize, usize)> =
                files.iter().flat_map(|(f, rows)| (0..rows.len()).map(move |i| (*f, i))).collect();
            assert_eq!(read, all, "target {target}");
        }
    }
}
