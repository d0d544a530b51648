//! The diff pass: only the buckets whose digests differ are read again, and their rows are
//! matched by key and classified.
//!
//! A key present on one side only is only-in; a key on both sides with one row each is matched
//! or changed (with the columns that differ); a key with several rows on a side is a
//! duplicate-key group whose rows are matched as multisets, leftovers counted as only-in. In
//! multiset mode the whole row is the key, so groups only ever match or are left over.
//!
//! Keys are visited in canonical key order, so samples and the export do not depend on file
//! split, row order or batch size.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{RecordBatch, UInt32Array};
use arrow::compute::take_record_batch;
use serde_json::{Map, Value};

use crate::columns::ColumnPlan;
use crate::error::Result;
use crate::fingerprint::{Buckets, key_hash};
use crate::progress::Progress;
use crate::report::{ChangedSample, ColumnSample, DuplicateKeySample, Samples, Summary};
use crate::rows::{BatchRows, Cell, cells, cells_equal};
use crate::spec::Side;
use crate::{sample, source};

/// Rows of one side that fell into differing buckets.
#[derive(Debug, Default)]
pub(crate) struct Retained {
    /// The retained rows' batches (only retained rows are kept).
    pub(crate) batches: Vec<RecordBatch>,
    rows: Vec<RetainedRow>,
}

#[derive(Debug)]
struct RetainedRow {
    key: Vec<u8>,
    cells: Vec<Cell>,
    /// Index into [`Retained::batches`].
    batch: usize,
    row: usize,
}

impl Retained {
    fn add_batch(
        &mut self,
        batch: &RecordBatch,
        plan: &ColumnPlan,
        buckets: Buckets,
        differing: &[bool],
    ) -> Result<()> {
        let rows = BatchRows::keys_only(batch, plan)?;
        let mut keys = Vec::new();
        let mut indices = Vec::new();
        let mut key = Vec::new();
        for row in 0..rows.len() {
            if rows.has_null_key(row) {
                continue;
            }
            key.clear();
            rows.encode_key(row, &mut key);
            if differing[buckets.of(key_hash(&key))] {
                keys.push(key.clone());
                indices.push(row);
            }
        }
        if indices.is_empty() {
            return Ok(());
        }
        let positions: Vec<u32> = indices.iter().map(|&i| u32::try_from(i).unwrap_or(u32::MAX)).collect();
        let kept = take_record_batch(batch, &UInt32Array::from(positions))?;
        let kept_rows: Vec<usize> = (0..kept.num_rows()).collect();
        let batch_index = self.batches.len();
        for ((key, cells), row) in keys.into_iter().zip(cells(&kept, plan, &kept_rows)?).zip(kept_rows) {
            self.rows.push(RetainedRow { key, cells, batch: batch_index, row });
        }
        self.batches.push(kept);
        Ok(())
    }

    fn merge(&mut self, other: Retained) {
        let offset = self.batches.len();
        self.batches.extend(other.batches);
        self.rows.extend(other.rows.into_iter().map(|r| RetainedRow { batch: r.batch + offset, ..r }));
    }

    fn row_json(&self, index: usize) -> Result<Map<String, Value>> {
        let row = &self.rows[index];
        sample::row_json(&self.batches[row.batch], row.row)
    }

    /// `(batch, row)` of a retained row.
    pub(crate) fn location(&self, index: usize) -> (usize, usize) {
        (self.rows[index].batch, self.rows[index].row)
    }
}

/// Reads the rows of the differing buckets from one side's scan partitions.
pub(crate) async fn retain(
    streams: Vec<datafusion::execution::SendableRecordBatchStream>,
    plan: &ColumnPlan,
    buckets: Buckets,
    differing: Arc<Vec<bool>>,
    progress: &Arc<dyn Progress>,
) -> Result<Retained> {
    let (plan, progress) = (Arc::new(plan.clone()), Arc::clone(progress));
    let partials = source::fold_partitions(streams, Retained::default, move |retained, batch| {
        retained.add_batch(batch, &plan, buckets, &differing)?;
        progress.add_rows(batch.num_rows() as u64);
        Ok(())
    })
    .await?;
    let mut total = Retained::default();
    for partial in partials {
        total.merge(partial);
    }
    Ok(total)
}

/// One differing row, for the export.
#[derive(Debug, Clone)]
pub(crate) struct DifferingRow {
    /// `only_in_baseline`, `only_in_candidate` or `changed`.
    pub(crate) kind: &'static str,
    /// Baseline names of the differing columns (changed rows).
    pub(crate) columns: Vec<String>,
    /// Index of the baseline row in its [`Retained`], if any.
    pub(crate) baseline: Option<usize>,
    /// Index of the candidate row, if any.
    pub(crate) candidate: Option<usize>,
}

/// What the diff pass found in the differing buckets.
#[derive(Debug, Default)]
pub(crate) struct Classified {
    pub(crate) summary: Summary,
    /// Mismatches per value column.
    pub(crate) mismatches: Vec<u64>,
    /// Samples per value column.
    pub(crate) column_samples: Vec<Vec<ColumnSample>>,
    pub(crate) samples: Samples,
    /// Every differing row, when an export was asked for.
    pub(crate) differing: Vec<DifferingRow>,
}

/// Matches the retained rows of both sides by key and classifies them.
pub(crate) struct Classifier<'a> {
    plan: &'a ColumnPlan,
    baseline: &'a Retained,
    candidate: &'a Retained,
    sample_limit: usize,
    keep_differing: bool,
    out: Classified,
}

impl<'a> Classifier<'a> {
    pub(crate) fn new(
        plan: &'a ColumnPlan,
        baseline: &'a Retained,
        candidate: &'a Retained,
        sample_limit: usize,
        keep_differing: bool,
    ) -> Self {
        let out = Classified {
            mismatches: vec![0; plan.values.len()],
            column_samples: vec![Vec::new(); plan.values.len()],
            ..Classified::default()
        };
        Self { plan, baseline, candidate, sample_limit, keep_differing, out }
    }

    pub(crate) fn run(mut self) -> Result<Classified> {
        let mut groups: BTreeMap<&[u8], (Vec<usize>, Vec<usize>)> = BTreeMap::new();
        for (index, row) in self.baseline.rows.iter().enumerate() {
            groups.entry(&row.key).or_default().0.push(index);
        }
        for (index, row) in self.candidate.rows.iter().enumerate() {
            groups.entry(&row.key).or_default().1.push(index);
        }
        for (baseline, candidate) in groups.values() {
            match (baseline.as_slice(), candidate.as_slice()) {
                ([b], [c]) if !self.plan.multiset => self.compare(*b, *c)?,
                _ => self.match_group(baseline, candidate)?,
            }
        }
        Ok(self.out)
    }

    fn compare(&mut self, b: usize, c: usize) -> Result<()> {
        let differing: Vec<usize> = (0..self.plan.values.len())
            .filter(|&i| !cells_equal(&self.baseline.rows[b].cells[i], &self.candidate.rows[c].cells[i], self.plan, i))
            .collect();
        if differing.is_empty() {
            self.out.summary.matched += 1;
            return Ok(());
        }
        self.out.summary.changed += 1;
        let names: Vec<String> = differing.iter().map(|&i| self.plan.values[i].baseline_name.clone()).collect();
        let wants_samples = self.out.samples.changed.len() < self.sample_limit
            || differing.iter().any(|&i| self.out.column_samples[i].len() < self.sample_limit);
        if wants_samples {
            let baseline = self.baseline.row_json(b)?;
            let candidate = self.candidate.row_json(c)?;
            let key = sample::key_of(&baseline, self.plan.keys.len());
            for &i in &differing {
                if self.out.column_samples[i].len() < self.sample_limit {
                    let pair = &self.plan.values[i];
                    self.out.column_samples[i].push(ColumnSample {
                        key: key.clone(),
                        baseline: baseline.get(pair.name(Side::Baseline)).cloned().unwrap_or(Value::Null),
                        candidate: candidate.get(pair.name(Side::Candidate)).cloned().unwrap_or(Value::Null),
                    });
                }
            }
            if self.out.samples.changed.len() < self.sample_limit {
                self.out.samples.changed.push(ChangedSample { key, columns: names.clone(), baseline, candidate });
            }
        }
        for &i in &differing {
            self.out.mismatches[i] += 1;
        }
        if self.keep_differing {
            self.out.differing.push(DifferingRow {
                kind: "changed",
                columns: names,
                baseline: Some(b),
                candidate: Some(c),
            });
        }
        Ok(())
    }

    /// Matches a group's rows as multisets: a duplicate-key group, a key on one side only, or
    /// (multiset mode) identical rows.
    fn match_group(&mut self, baseline: &[usize], candidate: &[usize]) -> Result<()> {
        if !self.plan.multiset && (baseline.len() > 1 || candidate.len() > 1) {
            self.out.summary.duplicate_keys_baseline += u64::from(baseline.len() > 1);
            self.out.summary.duplicate_keys_candidate += u64::from(candidate.len() > 1);
            if self.out.samples.duplicate_keys.len() < self.sample_limit {
                let (side, index) = match baseline.first() {
                    Some(&b) => (self.baseline, b),
                    None => (self.candidate, candidate[0]),
                };
                let key = sample::key_of(&side.row_json(index)?, self.plan.keys.len());
                self.out.samples.duplicate_keys.push(DuplicateKeySample {
                    key,
                    baseline_rows: baseline.len() as u64,
                    candidate_rows: candidate.len() as u64,
                });
            }
        }
        // Visit rows in canonical order so that which rows are left over, and in what order,
        // does not depend on the order the files were read in.
        let mut baseline = baseline.to_vec();
        baseline.sort_by_cached_key(|&b| sort_key(&self.baseline.rows[b].cells));
        let mut unmatched: Vec<usize> = candidate.to_vec();
        unmatched.sort_by_cached_key(|&c| sort_key(&self.candidate.rows[c].cells));
        let mut left_in_baseline = Vec::new();
        for b in baseline {
            let found = unmatched.iter().position(|&c| self.rows_equal(b, c));
            match found {
                Some(position) => {
                    unmatched.remove(position);
                    self.out.summary.matched += 1;
                }
                None => left_in_baseline.push(b),
            }
        }
        for b in left_in_baseline {
            self.only_in(Side::Baseline, b)?;
        }
        for c in unmatched {
            self.only_in(Side::Candidate, c)?;
        }
        Ok(())
    }

    fn rows_equal(&self, b: usize, c: usize) -> bool {
        let (baseline, candidate) = (&self.baseline.rows[b].cells, &self.candidate.rows[c].cells);
        (0..self.plan.values.len()).all(|i| cells_equal(&baseline[i], &candidate[i], self.plan, i))
    }

    fn only_in(&mut self, side: Side, index: usize) -> Result<()> {
        let (count, samples, retained) = match side {
            Side::Baseline => {
                (&mut self.out.summary.only_in_baseline, &mut self.out.samples.only_in_baseline, self.baseline)
            }
            Side::Candidate => {
                (&mut self.out.summary.only_in_candidate, &mut self.out.samples.only_in_candidate, self.candidate)
            }
        };
        *count += 1;
        if samples.len() < self.sample_limit {
            samples.push(retained.row_json(index)?);
        }
        if self.keep_differing {
            let (kind, baseline, candidate) = match side {
                Side::Baseline => ("only_in_baseline", Some(index), None),
                Side::Candidate => ("only_in_candidate", None, Some(index)),
            };
            self.out.differing.push(DifferingRow { kind, columns: Vec::new(), baseline, candidate });
        }
        Ok(())
    }
}

/// A byte string that orders rows by their canonical values.
fn sort_key(cells: &[Cell]) -> Vec<u8> {
    let mut key = Vec::new();
    for cell in cells {
        match cell {
            Cell::Exact(bytes) => key.extend(bytes),
            Cell::Float(None) => key.push(0),
            Cell::Float(Some(value)) => {
                key.push(1);
                key.extend(crate::canonical::sortable_f64(*value));
            }
        }
    }
    key
}
