//! dqc's row hashing as DataFusion scalar functions, which carry their parameters (the column
//! plan's inputs and the bucket count, see [`RowHashing`]) through the plan's serialisation to the
//! executors: `dqc_digest` returns each row's bucket, key hash and row hash limbs
//! ([`verifier::remote::digest_fields`]); `dqc_in_buckets` tells whether a row's key falls in a
//! set of buckets.

use std::any::Any;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, OnceLock};

use arrow::datatypes::DataType;
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility};
use serde::{Deserialize, Serialize};
use verifier::remote::{BucketSet, RowHasher, RowHashing, digest_fields};

/// What a dqc function computes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum RowFunction {
    /// `dqc_digest`: the struct of [`digest_fields`].
    Digest,
    /// `dqc_in_buckets`: whether the row's key is in the set (false for a NULL key).
    InBuckets(BucketSet),
}

/// The serialised form of a dqc function: what it computes and how rows are hashed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Definition {
    /// What it computes.
    pub function: RowFunction,
    /// How rows are hashed.
    pub hashing: RowHashing,
}

/// A dqc function (see the module's documentation).
#[derive(Debug)]
pub struct RowUdf {
    definition: Definition,
    /// `definition` as JSON: its identity, and its bytes in a serialised plan.
    bytes: Vec<u8>,
    signature: Signature,
    hasher: OnceLock<std::result::Result<RowHasher, String>>,
}

impl PartialEq for RowUdf {
    fn eq(&self, other: &Self) -> bool {
        self.bytes == other.bytes
    }
}

impl Eq for RowUdf {}

impl Hash for RowUdf {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.bytes.hash(state);
    }
}

impl RowUdf {
    /// The function `definition` describes, as a DataFusion UDF.
    pub fn udf(definition: Definition) -> Result<ScalarUDF> {
        Ok(ScalarUDF::new_from_impl(Self::new(definition)?))
    }

    fn new(definition: Definition) -> Result<Self> {
        let bytes = serde_json::to_vec(&definition).map_err(|e| DataFusionError::External(Box::new(e)))?;
        Ok(Self {
            definition,
            bytes,
            signature: Signature::variadic_any(Volatility::Immutable),
            hasher: OnceLock::new(),
        })
    }

    /// The function of serialised bytes ([`Self::bytes`]).
    pub fn from_bytes(bytes: &[u8]) -> Result<ScalarUDF> {
        let definition: Definition = serde_json::from_slice(bytes)
            .map_err(|e| DataFusionError::Internal(format!("a dqc function's definition is unreadable: {e}")))?;
        Self::udf(definition)
    }

    /// Its serialised form.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// `udf` as a dqc function, if it is one.
    pub fn of(udf: &ScalarUDF) -> Option<&Self> {
        (udf.inner().as_ref() as &dyn Any).downcast_ref::<Self>()
    }

    fn hasher(&self) -> Result<&RowHasher> {
        self.hasher
            .get_or_init(|| self.definition.hashing.hasher().map_err(|e| e.to_string()))
            .as_ref()
            .map_err(|e| DataFusionError::Execution(format!("dqc cannot hash rows: {e}")))
    }
}

impl ScalarUDFImpl for RowUdf {
    fn name(&self) -> &str {
        match self.definition.function {
            RowFunction::Digest => "dqc_digest",
            RowFunction::InBuckets(_) => "dqc_in_buckets",
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(match self.definition.function {
            RowFunction::Digest => DataType::Struct(digest_fields()),
            RowFunction::InBuckets(_) => DataType::Boolean,
        })
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let columns = ColumnarValue::values_to_arrays(&args.args)?;
        let hasher = self.hasher()?;
        let external = |e: verifier::Error| DataFusionError::External(Box::new(e));
        Ok(ColumnarValue::Array(match &self.definition.function {
            RowFunction::Digest => Arc::new(hasher.digest(&columns).map_err(external)?),
            RowFunction::InBuckets(buckets) => Arc::new(hasher.in_buckets(&columns, buckets).map_err(external)?),
        }))
    }
}
