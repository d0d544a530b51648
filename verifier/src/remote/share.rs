//! Pass 2 of a remote diff classified where the rows are. The differing buckets are split into
//! shares (all the rows of both sides in some buckets); each share is classified by the local
//! diff's own [`Classifier`] and comes back as counters, samples with their encoded keys and, for
//! an export, its rows with their keys. [`merge`] makes of the shares what one classification
//! of all the rows gives: counters add up, samples and export rows are merged in key order (a
//! key's rows are all in one share, so the first `limit` of each share hold the first `limit`
//! of all).

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BinaryArray, RecordBatch};
use arrow::compute::interleave;
use arrow::datatypes::{DataType, Field, Schema};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{RowHashing, SideJob};
use crate::columns::ColumnPlan;
use crate::diff::{Classified, Classifier, Retained};
use crate::error::{Error, Result};
use crate::export::{self, Export};
use crate::report::{ChangedSample, ColumnSample, DuplicateKeySample, Summary};
use crate::spec::Side;

/// The column of a share's export rows that holds each row's encoded key.
const KEY_COLUMN: &str = "__dqc_key";

/// Rows written to the export at a time when shares are merged.
const EXPORT_BATCH_ROWS: usize = 8192;

/// How a share is classified: the inputs of the diff's column plan, the sample limit and
/// whether the differing rows are exported. Serialisable: it travels to a cluster's executors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Classification {
    hashing: RowHashing,
    sample_limit: usize,
    export: bool,
}

/// Samples of one kind with the encoded key each was taken at.
type Keyed<T> = Vec<(Vec<u8>, T)>;

/// What one share's classification found.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Share {
    summary: Summary,
    /// Mismatches per value column.
    mismatches: Vec<u64>,
    column_samples: Vec<Keyed<ColumnSample>>,
    changed: Keyed<ChangedSample>,
    duplicate_keys: Keyed<DuplicateKeySample>,
    only_in_baseline: Keyed<Map<String, Value>>,
    only_in_candidate: Keyed<Map<String, Value>>,
    /// Baseline rows classified.
    baseline_rows: u64,
    /// The differing rows in the export's schema plus [`KEY_COLUMN`], in classification order.
    #[serde(skip)]
    export: Option<RecordBatch>,
}

impl Classification {
    /// The classification of a diff whose baseline is read by `baseline`.
    pub(crate) fn new(baseline: &SideJob, sample_limit: usize, export: bool) -> Self {
        Self { hashing: baseline.hashing.clone(), sample_limit, export }
    }

    /// Classifies one share: `baseline` and `candidate` hold every row of some buckets with a
    /// non-NULL key, each side's columns in plan order ([`SideJob::columns`]).
    pub fn classify(&self, baseline: &[RecordBatch], candidate: &[RecordBatch]) -> Result<Share> {
        let plan = self.hashing.plan()?;
        let mut sides = [Retained::default(), Retained::default()];
        for (retained, batches) in sides.iter_mut().zip([baseline, candidate]) {
            for batch in batches.iter().filter(|batch| batch.num_rows() > 0) {
                retained.push_spilled(batch.clone(), &plan)?;
            }
        }
        let mut classified = Classified::new(&plan);
        Classifier::new(&plan, [&sides[0], &sides[1]], self.sample_limit, self.export, &mut classified).run()?;
        let export = if self.export { Some(export_rows(&plan, &classified, &sides)?) } else { None };
        let keys = std::mem::take(&mut classified.sample_keys);
        let samples = std::mem::take(&mut classified.samples);
        Ok(Share {
            summary: classified.summary,
            mismatches: classified.mismatches,
            column_samples: keys.columns.into_iter().zip(classified.column_samples).map(|(k, s)| keyed(k, s)).collect(),
            changed: keyed(keys.changed, samples.changed),
            duplicate_keys: keyed(keys.duplicate_keys, samples.duplicate_keys),
            only_in_baseline: keyed(keys.only_in_baseline, samples.only_in_baseline),
            only_in_candidate: keyed(keys.only_in_candidate, samples.only_in_candidate),
            baseline_rows: baseline.iter().map(|batch| batch.num_rows() as u64).sum(),
            export,
        })
    }
}

/// Samples with their keys.
fn keyed<T>(keys: Vec<Vec<u8>>, samples: Vec<T>) -> Keyed<T> {
    keys.into_iter().zip(samples).collect()
}

/// The export's rows of `classified`, with their keys.
fn export_rows(plan: &ColumnPlan, classified: &Classified, sides: &[Retained; 2]) -> Result<RecordBatch> {
    let columns = [plan.typed_columns(Side::Baseline), plan.typed_columns(Side::Candidate)];
    let schema = export::schema(&columns);
    let rows = export::rows_batch(&schema, &columns, &classified.differing, [&sides[0], &sides[1]])?;
    let keys: BinaryArray = classified
        .differing
        .iter()
        .map(|row| match (row.baseline, row.candidate) {
            (Some(b), _) => Some(sides[0].key(b)),
            (None, Some(c)) => Some(sides[1].key(c)),
            (None, None) => Some(&[][..]),
        })
        .collect();
    let mut fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
    fields.push(Field::new(KEY_COLUMN, DataType::Binary, false));
    let mut arrays = rows.columns().to_vec();
    arrays.push(Arc::new(keys));
    Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)?)
}

fn unreadable(what: &str, error: impl std::fmt::Display) -> Error {
    Error::Internal(format!("a share of pass 2 ({what}) is unreadable: {error}"))
}

impl Share {
    /// The share as bytes: its counters and samples as JSON, its export rows (if any) as an
    /// Arrow IPC stream.
    pub fn encode(&self) -> Result<(Vec<u8>, Option<Vec<u8>>)> {
        let json = serde_json::to_vec(self).map_err(|e| Error::Internal(format!("encoding a share: {e}")))?;
        let export = match &self.export {
            None => None,
            Some(batch) => {
                let mut bytes = Vec::new();
                let mut writer = arrow_ipc::writer::StreamWriter::try_new(&mut bytes, &batch.schema())?;
                writer.write(batch)?;
                writer.finish()?;
                drop(writer);
                Some(bytes)
            }
        };
        Ok((json, export))
    }

    /// The share [`Share::encode`] wrote.
    pub fn decode(json: &[u8], export: Option<&[u8]>) -> Result<Self> {
        let mut share: Self = serde_json::from_slice(json).map_err(|e| unreadable("counters and samples", e))?;
        if let Some(bytes) = export {
            let reader = arrow_ipc::reader::StreamReader::try_new(std::io::Cursor::new(bytes), None)
                .map_err(|e| unreadable("export rows", e))?;
            let schema = reader.schema();
            let batches =
                reader.collect::<std::result::Result<Vec<_>, _>>().map_err(|e| unreadable("export rows", e))?;
            share.export = Some(arrow::compute::concat_batches(&schema, &batches)?);
        }
        Ok(share)
    }
}

/// The first `limit` samples of all shares in key order.
fn first_in_key_order<T>(shares: impl Iterator<Item = Keyed<T>>, limit: usize) -> Vec<T> {
    let mut all: Keyed<T> = shares.flatten().collect();
    // Stable: a key's samples (one share's) keep their order.
    all.sort_by(|a, b| a.0.cmp(&b.0));
    all.into_iter().take(limit).map(|(_, sample)| sample).collect()
}

/// What classifying all the rows of `shares` at once finds, and the baseline rows they held;
/// with `export`, the export file of their differing rows in key order.
pub(crate) fn merge(
    mut shares: Vec<Share>,
    plan: &ColumnPlan,
    limit: usize,
    export: Option<&std::path::Path>,
) -> Result<(Classified, u64)> {
    if let Some(path) = export {
        write_export(path, plan, &shares)?;
    }
    let mut merged = Classified::new(plan);
    let mut baseline_rows = 0;
    for share in &shares {
        let (sum, part) = (&mut merged.summary, &share.summary);
        sum.matched += part.matched;
        sum.only_in_baseline += part.only_in_baseline;
        sum.only_in_candidate += part.only_in_candidate;
        sum.changed += part.changed;
        sum.duplicate_keys_baseline += part.duplicate_keys_baseline;
        sum.duplicate_keys_candidate += part.duplicate_keys_candidate;
        if share.mismatches.len() != merged.mismatches.len() {
            return Err(Error::Internal(format!(
                "a share of pass 2 has {} value columns where the plan has {}",
                share.mismatches.len(),
                merged.mismatches.len()
            )));
        }
        for (total, count) in merged.mismatches.iter_mut().zip(&share.mismatches) {
            *total += count;
        }
        baseline_rows += share.baseline_rows;
    }
    for (column, samples) in merged.column_samples.iter_mut().enumerate() {
        let shares =
            shares.iter_mut().map(|share| share.column_samples.get_mut(column).map(std::mem::take).unwrap_or_default());
        *samples = first_in_key_order(shares, limit);
    }
    let samples = &mut merged.samples;
    samples.changed = first_in_key_order(shares.iter_mut().map(|s| std::mem::take(&mut s.changed)), limit);
    samples.duplicate_keys =
        first_in_key_order(shares.iter_mut().map(|s| std::mem::take(&mut s.duplicate_keys)), limit);
    samples.only_in_baseline =
        first_in_key_order(shares.iter_mut().map(|s| std::mem::take(&mut s.only_in_baseline)), limit);
    samples.only_in_candidate =
        first_in_key_order(shares.iter_mut().map(|s| std::mem::take(&mut s.only_in_candidate)), limit);
    Ok((merged, baseline_rows))
}

/// The export file of the shares' differing rows, in key order.
fn write_export(path: &std::path::Path, plan: &ColumnPlan, shares: &[Share]) -> Result<()> {
    let columns = [plan.typed_columns(Side::Baseline), plan.typed_columns(Side::Candidate)];
    let schema = export::schema(&columns);
    let mut export = Export::create(path, columns)?;
    let parts: Vec<&RecordBatch> = shares.iter().filter_map(|share| share.export.as_ref()).collect();
    let mut order: Vec<(&[u8], usize, usize)> = Vec::new();
    for (part, batch) in parts.iter().enumerate() {
        let keys = batch.column_by_name(KEY_COLUMN).ok_or_else(|| unreadable("export rows", "no keys"))?;
        let keys = keys.as_binary_opt::<i32>().ok_or_else(|| unreadable("export rows", "keys of another type"))?;
        if batch.num_columns() != schema.fields().len() + 1 {
            return Err(unreadable("export rows", format!("{} columns", batch.num_columns())));
        }
        order.extend((0..batch.num_rows()).map(|row| (keys.value(row), part, row)));
    }
    // Stable: a key's rows (one share's) keep their order.
    order.sort_by(|a, b| a.0.cmp(b.0));
    for chunk in order.chunks(EXPORT_BATCH_ROWS) {
        let indices: Vec<(usize, usize)> = chunk.iter().map(|&(_, part, row)| (part, row)).collect();
        let arrays = (0..schema.fields().len())
            .map(|column| {
                let sources: Vec<&dyn Array> = parts.iter().map(|batch| batch.column(column).as_ref()).collect();
                interleave(&sources, &indices)
            })
            .collect::<std::result::Result<Vec<ArrayRef>, _>>()?;
        export.write_batch(&RecordBatch::try_new(Arc::clone(&schema), arrays)?)?;
    }
    export.finish()
}
