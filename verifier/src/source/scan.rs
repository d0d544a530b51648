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

use super::dataset::Dataset;
use super::format::{self, DataFile};

/// A [`Dataset`] as a DataFusion table.
#[derive(Debug)]
pub struct DatasetTable {
    dataset: Arc<Dataset>,
}

impl DatasetTable {
    /// Wraps a dataset.
    pub fn new(dataset: Arc<Dataset>) -> Self {
        Self { dataset }
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
        Ok(Arc::new(DatasetScanExec::new(Arc::clone(&self.dataset), projection, files, target)))
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
        statistics.num_rows = Precision::Exact(usize::try_from(self.dataset.rows()).ok()?);
        Some(statistics)
    }
}

/// Scans a dataset's files, a group of files per output partition.
#[derive(Debug)]
pub struct DatasetScanExec {
    dataset: Arc<Dataset>,
    projection: Vec<usize>,
    groups: Vec<Vec<usize>>,
    properties: Arc<PlanProperties>,
}

impl DatasetScanExec {
    /// Scans `files` (indices into the dataset's files) for the columns `projection`, in at most
    /// `target_partitions` partitions balanced by file size.
    pub fn new(dataset: Arc<Dataset>, projection: Vec<usize>, files: Vec<usize>, target_partitions: usize) -> Self {
        let groups = balance(dataset.files(), files, target_partitions);
        let schema = Arc::new(dataset.schema().project(&projection).unwrap_or_else(|_| Schema::empty()));
        let properties = PlanProperties::new(
            EquivalenceProperties::new(schema),
            Partitioning::UnknownPartitioning(groups.len().max(1)),
            EmissionType::Incremental,
            Boundedness::Bounded,
        );
        Self { dataset, projection, groups, properties: Arc::new(properties) }
    }

    fn rows_in(&self, group: &[usize]) -> usize {
        let files = self.dataset.files();
        group.iter().map(|&i| usize::try_from(files[i].rows).unwrap_or(usize::MAX)).sum()
    }
}

/// Spreads files over at most `target` groups, largest first onto the lightest group.
fn balance(all: &[DataFile], mut files: Vec<usize>, target: usize) -> Vec<Vec<usize>> {
    let count = target.min(files.len()).max(1);
    files.sort_by_key(|&i| std::cmp::Reverse(all[i].listed.size));
    let mut groups: Vec<(u64, Vec<usize>)> = vec![(0, Vec::new()); count];
    for index in files {
        let lightest = groups.iter_mut().min_by_key(|(size, _)| *size);
        if let Some((size, group)) = lightest {
            *size += all[index].listed.size;
            group.push(index);
        }
    }
    groups
        .into_iter()
        .map(|(_, mut group)| {
            group.sort_unstable();
            group
        })
        .collect()
}

impl DisplayAs for DatasetScanExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let files: usize = self.groups.iter().map(Vec::len).sum();
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
            .then(move |index| {
                let dataset = Arc::clone(&dataset);
                let projection = projection.clone();
                async move {
                    let file = &dataset.files()[index];
                    let reading = dataset.file_reading(file, &projection);
                    let mut columns = reading.file_columns.clone();
                    if columns.is_empty() {
                        // Decode one column so that batches still carry their row counts.
                        columns.extend(file.schema.fields().first().map(|f| f.name().clone()));
                    }
                    let batches = format::open(dataset.side(), dataset.store(), file, &columns)
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
        statistics.num_rows = Precision::Exact(rows);
        Ok(Arc::new(statistics))
    }
}
