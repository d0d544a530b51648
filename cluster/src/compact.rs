//! Batches made compact before each hash shuffle.
//!
//! An aggregate emits its groups as one set of arrays and then hands them on in slices of the
//! batch size. Ballista's sort shuffle writer counts each batch it buffers at the size of its
//! arrays (`RecordBatch::get_array_memory_size`), which for a slice is the size of the whole
//! emission: it reaches its per-task budget (256 MiB) after a few slices and spills everything it
//! holds, which is then written a second time into the task's shuffle file. Seen in
//! `benches/cluster.sh`: the duplicate-keys job of 2 x 2M rows spilled 7 times a task; at 2 x 50M
//! a slice of pass 1's per-bucket aggregate counted as 180 MB. [`CompactExec`] copies a batch
//! whose arrays hold more than twice what its rows need, so the writer counts what it holds.

use std::fmt;
use std::sync::Arc;

use arrow::array::{RecordBatch, UInt32Array};
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_plan::execution_plan::{ChildrenPropertiesMode, ReplaceChildrenOptions};
use datafusion::physical_plan::repartition::RepartitionExec;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties};
use futures::StreamExt;

/// Its input's batches, copied where they are slices of much larger arrays.
#[derive(Debug)]
pub struct CompactExec {
    input: Arc<dyn ExecutionPlan>,
}

impl CompactExec {
    pub fn new(input: Arc<dyn ExecutionPlan>) -> Self {
        Self { input }
    }
}

/// `plan` with the input of each hash repartition (a shuffle, on the cluster) made compact.
pub fn before_shuffles(plan: Arc<dyn ExecutionPlan>) -> Result<Arc<dyn ExecutionPlan>> {
    plan.transform_up(|node| {
        let Some(repartition) = node.downcast_ref::<RepartitionExec>() else { return Ok(Transformed::no(node)) };
        let input = repartition.input();
        if !matches!(repartition.partitioning(), Partitioning::Hash(..))
            || input.downcast_ref::<CompactExec>().is_some()
        {
            return Ok(Transformed::no(node));
        }
        let compact: Arc<dyn ExecutionPlan> = Arc::new(CompactExec::new(Arc::clone(input)));
        // The repartition's properties do not change: its input's are the same.
        let same = ReplaceChildrenOptions::new(ChildrenPropertiesMode::Keep);
        Ok(Transformed::yes(Arc::clone(&node).replace_children(vec![compact], same)?))
    })
    .map(|transformed| transformed.data)
}

/// `batch`, copied if its arrays hold more than twice the bytes of its rows.
fn compact(batch: RecordBatch) -> Result<RecordBatch> {
    let mut needed = 0;
    for column in batch.columns() {
        needed += column.to_data().get_slice_memory_size()?;
    }
    if batch.num_rows() == 0 || batch.get_array_memory_size() <= 2 * needed {
        return Ok(batch);
    }
    let rows = u32::try_from(batch.num_rows())
        .map_err(|_| DataFusionError::Internal(format!("a batch of {} rows", batch.num_rows())))?;
    Ok(arrow::compute::take_record_batch(&batch, &UInt32Array::from_iter_values(0..rows))?)
}

impl DisplayAs for CompactExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CompactExec")
    }
}

impl ExecutionPlan for CompactExec {
    fn name(&self) -> &str {
        "CompactExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        self.input.properties()
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn maintains_input_order(&self) -> Vec<bool> {
        vec![true]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(self: Arc<Self>, children: Vec<Arc<dyn ExecutionPlan>>) -> Result<Arc<dyn ExecutionPlan>> {
        let [input]: [Arc<dyn ExecutionPlan>; 1] =
            children.try_into().map_err(|_| DataFusionError::Internal("CompactExec has one child".to_owned()))?;
        Ok(Arc::new(Self::new(input)))
    }

    fn execute(&self, partition: usize, context: Arc<TaskContext>) -> Result<SendableRecordBatchStream> {
        let input = self.input.execute(partition, context)?;
        let schema = input.schema();
        let batches = input.map(|batch| batch.and_then(compact));
        Ok(Box::pin(RecordBatchStreamAdapter::new(schema, batches)))
    }
}

#[cfg(test)]
mod tests {
    use arrow::array::{Int64Array, RecordBatch};

    use super::compact;

    #[test]
    fn a_slice_of_a_large_batch_is_copied_and_a_whole_batch_is_not() {
        let whole =
            RecordBatch::try_from_iter([("v", std::sync::Arc::new(Int64Array::from_iter_values(0..100_000)) as _)])
                .unwrap();
        let slice = whole.slice(50_000, 10);
        let compacted = compact(slice.clone()).unwrap();
        assert_eq!(compacted, slice, "the same rows");
        assert!(compacted.get_array_memory_size() < 1024, "{}", compacted.get_array_memory_size());
        let kept = compact(whole.clone()).unwrap();
        assert!(std::sync::Arc::ptr_eq(kept.column(0), whole.column(0)), "a whole batch is not copied");
    }
}
