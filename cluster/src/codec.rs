//! The physical codec of dqc's plans, for the client, the scheduler and the executors alike:
//! dqc's dataset scan, pass 2's classification, the compaction before shuffles and row functions,
//! and Ballista's own nodes through Ballista's codec.
//!
//! dqc's scan reaches the scheduler as a [`DatasetScanExec`] and is decoded as a file scan of its
//! partitions ([`scan`]), which the scheduler can cut into tasks.
//!
//! dqc's nodes are written as a zero byte, `dqc` and JSON. A protocol buffer message never starts
//! with a zero byte (field number 0 is invalid), so nothing of Ballista's is taken for dqc's.

use std::sync::Arc;

use ballista_core::serde::BallistaPhysicalExtensionCodec;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::logical_expr::ScalarUDF;
use datafusion::physical_plan::ExecutionPlan;
use datafusion_proto::physical_plan::{PhysicalExtensionCodec, PhysicalProtoConverterExtension};
use serde::{Deserialize, Serialize};
use verifier::remote::Classification;
use verifier::{DatasetScanExec, PortableScan, Stores};

use crate::classify::ClassifyExec;
use crate::compact::CompactExec;
use crate::scan;
use crate::udf::RowUdf;

const MAGIC: &[u8] = b"\0dqc";

/// dqc's plan nodes.
#[derive(Debug, Serialize, Deserialize)]
enum Node {
    /// A dataset scan, all its partitions (from the client).
    Scan(PortableScan),
    /// Some partitions of a dataset scan (from the scheduler, for one task).
    Partitions(PortableScan, Vec<usize>),
    /// Pass 2's classification of its two inputs, partition by partition.
    Classify(Classification),
    /// Its input's batches made compact before a shuffle.
    Compact,
}

/// dqc's physical codec over Ballista's. `stores` are the object stores (and credentials) this
/// process reads datasets through.
#[derive(Debug)]
pub struct DqcCodec {
    inner: BallistaPhysicalExtensionCodec,
    stores: Stores,
}

impl DqcCodec {
    /// A codec whose scans read through `stores`.
    pub fn new(stores: Stores) -> Self {
        Self { inner: BallistaPhysicalExtensionCodec::default(), stores }
    }
}

fn tagged(buf: &[u8]) -> Option<&[u8]> {
    buf.strip_prefix(MAGIC)
}

fn external(error: impl std::error::Error + Send + Sync + 'static) -> DataFusionError {
    DataFusionError::External(Box::new(error))
}

impl PhysicalExtensionCodec for DqcCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[Arc<dyn ExecutionPlan>],
        ctx: &TaskContext,
        proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let Some(json) = tagged(buf) else { return self.inner.try_decode(buf, inputs, ctx, proto_converter) };
        let node: Node = serde_json::from_slice(json)
            .map_err(|e| DataFusionError::Internal(format!("a dqc plan node is unreadable: {e}")))?;
        let (portable, partitions) = match node {
            Node::Scan(portable) => (portable, None),
            Node::Partitions(portable, partitions) => (portable, Some(partitions)),
            Node::Classify(classification) => {
                let [baseline, candidate] = inputs else {
                    return Err(DataFusionError::Internal(format!("a ClassifyExec with {} inputs", inputs.len())));
                };
                let exec = ClassifyExec::try_new(classification, Arc::clone(baseline), Arc::clone(candidate))?;
                return Ok(Arc::new(exec));
            }
            Node::Compact => {
                let [input] = inputs else {
                    return Err(DataFusionError::Internal(format!("a CompactExec with {} inputs", inputs.len())));
                };
                return Ok(Arc::new(CompactExec::new(Arc::clone(input))));
            }
        };
        let scan = DatasetScanExec::from_portable(portable.clone(), &self.stores).map_err(external)?;
        scan::sliceable(scan, portable, partitions.as_deref())
    }

    fn try_encode(
        &self,
        node: Arc<dyn ExecutionPlan>,
        buf: &mut Vec<u8>,
        proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<()> {
        let ours = if let Some(scan) = node.downcast_ref::<DatasetScanExec>() {
            Node::Scan(scan.portable().map_err(external)?)
        } else if let Some((source, partitions)) = scan::partitions_of(&node) {
            Node::Partitions(source.parts().1.as_ref().clone(), partitions)
        } else if let Some(classify) = node.downcast_ref::<ClassifyExec>() {
            Node::Classify(classify.classification().clone())
        } else if node.downcast_ref::<CompactExec>().is_some() {
            Node::Compact
        } else {
            return self.inner.try_encode(node, buf, proto_converter);
        };
        buf.extend_from_slice(MAGIC);
        serde_json::to_writer(buf, &ours).map_err(external)
    }

    fn try_decode_udf(&self, name: &str, buf: &[u8]) -> Result<Arc<ScalarUDF>> {
        match tagged(buf) {
            Some(json) => Ok(Arc::new(RowUdf::from_bytes(json)?)),
            None => self.inner.try_decode_udf(name, buf),
        }
    }

    fn try_encode_udf(&self, node: &ScalarUDF, buf: &mut Vec<u8>) -> Result<()> {
        match RowUdf::of(node) {
            Some(udf) => {
                buf.extend_from_slice(MAGIC);
                buf.extend_from_slice(udf.bytes());
                Ok(())
            }
            None => self.inner.try_encode_udf(node, buf),
        }
    }
}
