//! Pass 2 on the executors: [`ClassifyExec`] has the rows of the differing buckets of both sides
//! as its two inputs, both hash-partitioned by bucket (so that partition `i` of each side holds
//! every row of the same buckets), and classifies each partition with the verifier's own
//! classifier. Each partition returns one row: its [`Share`] (counters, samples with their keys,
//! and the export's rows when one is asked for), which the client merges.

use std::fmt;
use std::sync::Arc;

use arrow::array::{ArrayRef, BinaryArray, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::{Distribution, EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::common::collect;
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, InputDistributionRequirements, Partitioning, PlanProperties,
};
use verifier::remote::{Classification, Share};

/// The column of pass 2's inputs that holds each row's bucket (the last one).
pub const BUCKET_COLUMN: &str = "__dqc_bucket";

/// Classifies the rows of each partition of its two inputs (baseline, candidate).
#[derive(Debug)]
pub struct ClassifyExec {
    classification: Arc<Classification>,
    inputs: [Arc<dyn ExecutionPlan>; 2],
    properties: Arc<PlanProperties>,
}

/// The schema of [`ClassifyExec`]'s rows: a share's counters and samples (JSON) and its export
/// rows (Arrow IPC, NULL without an export).
fn output_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("share", DataType::Binary, false),
        Field::new("export", DataType::Binary, true),
    ]))
}

impl ClassifyExec {
    /// Classifies `baseline` and `candidate` partition by partition; both must have the same
    /// partitions of buckets and [`BUCKET_COLUMN`] last.
    pub fn try_new(
        classification: Classification,
        baseline: Arc<dyn ExecutionPlan>,
        candidate: Arc<dyn ExecutionPlan>,
    ) -> Result<Self> {
        let partitions = baseline.properties().partitioning.partition_count();
        let other = candidate.properties().partitioning.partition_count();
        if partitions != other {
            return Err(DataFusionError::Internal(format!(
                "pass 2's sides have {partitions} and {other} partitions of buckets"
            )));
        }
        for input in [&baseline, &candidate] {
            let schema = input.schema();
            if schema.fields().last().is_none_or(|field| field.name() != BUCKET_COLUMN) {
                return Err(DataFusionError::Internal(format!("pass 2's inputs end with {BUCKET_COLUMN}")));
            }
        }
        let properties = PlanProperties::new(
            EquivalenceProperties::new(output_schema()),
            Partitioning::UnknownPartitioning(partitions),
            EmissionType::Final,
            Boundedness::Bounded,
        );
        Ok(Self {
            classification: Arc::new(classification),
            inputs: [baseline, candidate],
            properties: Arc::new(properties),
        })
    }

    /// How it classifies.
    pub fn classification(&self) -> &Classification {
        &self.classification
    }

    /// A partition's rows of `input` without their bucket column.
    async fn rows(input: SendableRecordBatchStream) -> Result<Vec<RecordBatch>> {
        let batches = collect(input).await?;
        batches
            .into_iter()
            .map(|batch| {
                let columns: Vec<usize> = (0..batch.num_columns() - 1).collect();
                batch.project(&columns).map_err(DataFusionError::from)
            })
            .collect()
    }
}

fn bucket_expression(input: &Arc<dyn ExecutionPlan>) -> Arc<dyn PhysicalExpr> {
    let index = input.schema().fields().len().saturating_sub(1);
    Arc::new(datafusion::physical_expr::expressions::Column::new(BUCKET_COLUMN, index))
}

impl DisplayAs for ClassifyExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ClassifyExec: {} partitions of buckets", self.properties.partitioning.partition_count())
    }
}

impl ExecutionPlan for ClassifyExec {
    fn name(&self) -> &str {
        "ClassifyExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        self.inputs.iter().collect()
    }

    fn input_distribution_requirements(&self) -> InputDistributionRequirements {
        // Both sides by bucket, in the same partitions: a bucket's rows meet in one task.
        let by_bucket = self.inputs.iter().map(|input| Distribution::KeyPartitioned(vec![bucket_expression(input)]));
        InputDistributionRequirements::co_partitioned(by_bucket.collect())
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<datafusion::common::tree_node::TreeNodeRecursion>,
    ) -> Result<datafusion::common::tree_node::TreeNodeRecursion> {
        Ok(datafusion::common::tree_node::TreeNodeRecursion::Continue)
    }

    fn with_new_children(self: Arc<Self>, children: Vec<Arc<dyn ExecutionPlan>>) -> Result<Arc<dyn ExecutionPlan>> {
        let [baseline, candidate]: [Arc<dyn ExecutionPlan>; 2] =
            children.try_into().map_err(|_| DataFusionError::Internal("ClassifyExec has two children".to_owned()))?;
        Ok(Arc::new(Self::try_new(self.classification.as_ref().clone(), baseline, candidate)?))
    }

    fn execute(&self, partition: usize, context: Arc<TaskContext>) -> Result<SendableRecordBatchStream> {
        let baseline = self.inputs[0].execute(partition, Arc::clone(&context))?;
        let candidate = self.inputs[1].execute(partition, context)?;
        let classification = Arc::clone(&self.classification);
        let classified = async move {
            let (baseline, candidate) = futures::try_join!(Self::rows(baseline), Self::rows(candidate))?;
            let share = tokio::task::spawn_blocking(move || classification.classify(&baseline, &candidate))
                .await
                .map_err(|e| DataFusionError::Execution(format!("classifying a share of pass 2: {e}")))?
                .map_err(|e| DataFusionError::External(Box::new(e)))?;
            let (json, export) = share.encode().map_err(|e| DataFusionError::External(Box::new(e)))?;
            let columns: Vec<ArrayRef> = vec![
                Arc::new(BinaryArray::from_vec(vec![json.as_slice()])),
                Arc::new(BinaryArray::from_opt_vec(vec![export.as_deref()])),
            ];
            Ok(RecordBatch::try_new(output_schema(), columns)?)
        };
        Ok(Box::pin(RecordBatchStreamAdapter::new(output_schema(), futures::stream::once(classified))))
    }
}

/// The shares in the rows of a [`ClassifyExec`].
pub fn shares(batches: &[RecordBatch]) -> verifier::Result<Vec<Share>> {
    let mut shares = Vec::new();
    for batch in batches {
        let column = |name: &str| {
            batch
                .column_by_name(name)
                .and_then(|column| column.as_any().downcast_ref::<BinaryArray>())
                .ok_or_else(|| verifier::Error::Internal(format!("pass 2 returned no {name} column")))
        };
        let (json, export) = (column("share")?, column("export")?);
        for row in 0..batch.num_rows() {
            let export = arrow::array::Array::is_valid(export, row).then(|| export.value(row));
            shares.push(Share::decode(json.value(row), export)?);
        }
    }
    Ok(shares)
}
