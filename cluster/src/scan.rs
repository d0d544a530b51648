//! dqc's dataset scan in a form Ballista's scheduler can cut by task.
//!
//! Before it sends a stage to an executor, Ballista 55's scheduler restricts the stage's leaves to
//! the task's partitions; it knows how for file scans (`DataSourceExec` over a `FileScanConfig`,
//! whose file groups it slices) and leaves any other leaf whole, so every task would read the
//! whole dataset. dqc's scan therefore travels as a file scan whose file groups are its
//! partitions: group `i` holds one placeholder file, `dqc-partition-i`, and opening it streams
//! partition `i` of the [`DatasetScanExec`].

use std::sync::Arc;

use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::object_store::ObjectStoreUrl;
use datafusion::datasource::physical_plan::{
    FileGroup, FileOpenFuture, FileOpener, FileScanConfig, FileScanConfigBuilder, FileSource,
};
use datafusion::datasource::source::DataSourceExec;
use datafusion::datasource::table_schema::TableSchema;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::metrics::ExecutionPlanMetricsSet;
use futures::StreamExt;
use verifier::{DatasetScanExec, PortableScan};

const PREFIX: &str = "dqc-partition-";

/// The partitions of one dataset scan, as files of a file scan.
#[derive(Debug, Clone)]
pub struct PartitionSource {
    scan: Arc<DatasetScanExec>,
    portable: Arc<PortableScan>,
    table_schema: TableSchema,
    metrics: ExecutionPlanMetricsSet,
}

impl PartitionSource {
    /// The scan and its serialisable form.
    pub fn parts(&self) -> (&Arc<DatasetScanExec>, &Arc<PortableScan>) {
        (&self.scan, &self.portable)
    }
}

/// `scan` as a file scan of the partitions `partitions` (all of them: `None`).
pub fn sliceable(
    scan: DatasetScanExec,
    portable: PortableScan,
    partitions: Option<&[usize]>,
) -> Result<Arc<dyn ExecutionPlan>> {
    let count = scan.properties().partitioning.partition_count();
    let partitions: Vec<usize> = partitions.map_or_else(|| (0..count).collect(), <[usize]>::to_vec);
    if let Some(bad) = partitions.iter().find(|&&p| p >= count) {
        return Err(DataFusionError::Internal(format!("a dqc scan of {count} partitions has no partition {bad}")));
    }
    let source = PartitionSource {
        table_schema: TableSchema::from(scan.schema()),
        scan: Arc::new(scan),
        portable: Arc::new(portable),
        metrics: ExecutionPlanMetricsSet::new(),
    };
    let groups =
        partitions.iter().map(|p| FileGroup::new(vec![PartitionedFile::new(format!("{PREFIX}{p}"), 0)])).collect();
    let config = FileScanConfigBuilder::new(ObjectStoreUrl::local_filesystem(), Arc::new(source))
        .with_file_groups(groups)
        .build();
    Ok(DataSourceExec::from_data_source(config))
}

/// The partition source of a file scan of dqc's partitions, and which partitions it holds.
pub fn partitions_of(plan: &Arc<dyn ExecutionPlan>) -> Option<(&PartitionSource, Vec<usize>)> {
    let exec = plan.downcast_ref::<DataSourceExec>()?;
    let source: &dyn std::any::Any = exec.data_source().as_ref();
    let config = source.downcast_ref::<FileScanConfig>()?;
    let file_source: &dyn std::any::Any = config.file_source().as_ref();
    let partitions = file_source.downcast_ref::<PartitionSource>()?;
    let indices = config.file_groups.iter().flat_map(|group| group.files().iter().map(partition_index)).collect();
    Some((partitions, indices))
}

fn partition_index(file: &PartitionedFile) -> usize {
    file.path().as_ref().strip_prefix(PREFIX).and_then(|p| p.parse().ok()).unwrap_or(usize::MAX)
}

impl FileSource for PartitionSource {
    fn create_file_opener(
        &self,
        _object_store: Arc<dyn object_store::ObjectStore>,
        _base_config: &FileScanConfig,
        _partition: usize,
    ) -> Result<Arc<dyn FileOpener>> {
        Ok(Arc::new(PartitionOpener { scan: Arc::clone(&self.scan) }))
    }

    fn table_schema(&self) -> &TableSchema {
        &self.table_schema
    }

    fn with_batch_size(&self, _batch_size: usize) -> Arc<dyn FileSource> {
        Arc::new(self.clone())
    }

    fn metrics(&self) -> &ExecutionPlanMetricsSet {
        &self.metrics
    }

    fn file_type(&self) -> &str {
        "dqc"
    }

    fn supports_repartitioning(&self) -> bool {
        false
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }
}

/// Opens a placeholder file as the stream of its partition.
struct PartitionOpener {
    scan: Arc<DatasetScanExec>,
}

impl FileOpener for PartitionOpener {
    fn open(&self, file: PartitionedFile) -> Result<FileOpenFuture> {
        let stream = self.scan.execute(partition_index(&file), Arc::new(TaskContext::default()))?;
        Ok(Box::pin(async move { Ok(stream.boxed()) }))
    }
}
