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
//!
//! When the differing buckets' rows do not fit the memory budget, they are classified in
//! rounds of whole buckets ([`Rounds`]): the first round is kept while reading, the others are
//! spilled to local disk as Arrow IPC and read back one round at a time. Samples are then the
//! first in key order within each round, rounds in bucket order.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use arrow::array::{RecordBatch, UInt32Array};
use arrow::compute::take_record_batch;
use arrow_ipc::reader::StreamReader;
use arrow_ipc::writer::StreamWriter;
use serde_json::{Map, Value};

use crate::columns::ColumnPlan;
use crate::error::{Error, Result};
use crate::fingerprint::Buckets;
use crate::progress::Progress;
use crate::report::{ChangedSample, ColumnSample, DuplicateKeySample, Samples, Summary};
use crate::rows::{BatchRows, BatchValues};
use crate::spec::Side;
use crate::{sample, source};

/// Which differing buckets are classified together. Each round's rows of both sides must fit the
/// memory budget; the first round is kept in memory while the diff pass reads, the others are
/// spilled to local disk as Arrow IPC and classified one round at a time. Rounds are whole
/// buckets, so every key's rows of both sides meet in one round.
#[derive(Debug)]
pub(crate) struct Rounds {
    /// Per bucket: 0 when it is not read again, else its round + 1.
    round_of: Vec<u32>,
    count: usize,
}

impl Rounds {
    /// Plans rounds over `buckets`: `(differing, rows of both sides)` per bucket, `row_bytes`
    /// the memory a retained row is expected to take, `budget` the bytes a round may hold
    /// (`None`: one round).
    pub(crate) fn plan(buckets: impl Iterator<Item = (bool, u64)>, row_bytes: u64, budget: Option<usize>) -> Self {
        let budget = budget.map_or(u64::MAX, |b| b as u64);
        let (mut round_of, mut count, mut held) = (Vec::new(), 0u32, 0u64);
        for (differing, rows) in buckets {
            if !differing {
                round_of.push(0);
                continue;
            }
            let bytes = rows.saturating_mul(row_bytes);
            if count == 0 || (held > 0 && held.saturating_add(bytes) > budget) {
                count += 1;
                held = 0;
            }
            held = held.saturating_add(bytes);
            round_of.push(count);
        }
        Self { round_of, count: count as usize }
    }

    /// Rounds planned (0 when no bucket differs).
    pub(crate) fn count(&self) -> usize {
        self.count
    }

    fn of(&self, bucket: usize) -> Option<usize> {
        self.round_of[bucket].checked_sub(1).map(|r| r as usize)
    }
}

/// Rows of one side that fell into the differing buckets of one round.
#[derive(Default)]
pub(crate) struct Retained {
    /// The retained rows' batches (only retained rows are kept).
    pub(crate) batches: Vec<RetainedBatch>,
    rows: Vec<RetainedRow>,
    /// The rows' encoded keys, one after the other.
    keys: Vec<u8>,
    /// The rows' 128-bit row hashes, computed again as the fingerprint pass computes them.
    hashes: Vec<u128>,
}

/// A batch of retained rows with its value columns ready to compare.
pub(crate) struct RetainedBatch {
    pub(crate) batch: RecordBatch,
    values: BatchValues,
}

/// A retained row: its key's place in [`Retained::keys`] and its place in the batches.
struct RetainedRow {
    key_start: usize,
    key_length: u32,
    /// Index into [`Retained::batches`].
    batch: u32,
    row: u32,
}

impl Retained {
    /// Adds a batch whose rows are all retained, with their encoded keys (`keys`, each ending
    /// at its `ends`).
    fn push(&mut self, batch: RecordBatch, keys: &[u8], ends: &[usize], plan: &ColumnPlan) -> Result<()> {
        let index = u32::try_from(self.batches.len()).map_err(|_| Error::Internal("too many batches".to_owned()))?;
        let mut start = 0;
        for (row, &end) in (0u32..).zip(ends) {
            let key_length = u32::try_from(end - start).unwrap_or(u32::MAX);
            self.rows.push(RetainedRow { key_start: self.keys.len() + start, key_length, batch: index, row });
            start = end;
        }
        self.keys.extend_from_slice(keys);
        BatchRows::new(&batch, plan)?.extend_row_hashes(&mut self.hashes);
        let values = BatchValues::new(&batch, plan)?;
        self.batches.push(RetainedBatch { batch, values });
        Ok(())
    }

    /// Adds a spilled batch (every row retained, keys encoded again).
    pub(crate) fn push_spilled(&mut self, batch: RecordBatch, plan: &ColumnPlan) -> Result<()> {
        let rows = BatchRows::keys_only(&batch, plan)?;
        let (mut keys, mut ends) = (Vec::new(), Vec::with_capacity(rows.len()));
        rows.encode_keys(&mut keys, &mut ends);
        self.push(batch, &keys, &ends, plan)
    }

    /// The encoded key of a retained row.
    pub(crate) fn key(&self, index: usize) -> &[u8] {
        let row = &self.rows[index];
        &self.keys[row.key_start..row.key_start + row.key_length as usize]
    }

    fn merge(&mut self, other: Retained) {
        let (offset, key_offset) = (self.batches.len() as u32, self.keys.len());
        self.batches.extend(other.batches);
        self.keys.extend(other.keys);
        self.hashes.extend(other.hashes);
        self.rows.extend(other.rows.into_iter().map(|r| RetainedRow {
            batch: r.batch + offset,
            key_start: r.key_start + key_offset,
            ..r
        }));
    }

    fn row_json(&self, index: usize) -> Result<Map<String, Value>> {
        let (batch, row) = self.location(index);
        sample::row_json(&self.batches[batch].batch, row)
    }

    /// `(batch, row)` of a retained row.
    pub(crate) fn location(&self, index: usize) -> (usize, usize) {
        (self.rows[index].batch as usize, self.rows[index].row as usize)
    }

    fn values(&self, index: usize) -> (&BatchValues, usize) {
        let (batch, row) = self.location(index);
        (&self.batches[batch].values, row)
    }

    fn sort_key(&self, index: usize) -> Vec<u8> {
        let (values, row) = self.values(index);
        values.sort_key(row)
    }
}

/// Rows of a batch picked for one round: their indices and (first round) their keys, one after
/// the other, and where each ends.
type Picked = (Vec<u32>, Vec<u8>, Vec<usize>);

/// One scan partition's share of the diff pass: the first round's rows in memory, the other
/// rounds' rows in spill files of its own.
struct Split {
    first: Retained,
    spills: BTreeMap<usize, (PathBuf, StreamWriter<BufWriter<File>>)>,
    partition: usize,
}

fn spill_error(error: impl std::error::Error + Send + Sync + 'static) -> Error {
    Error::Spill { what: "rows of the diff pass", source: Box::new(error) }
}

impl Split {
    fn add_batch(
        &mut self,
        batch: &RecordBatch,
        plan: &ColumnPlan,
        buckets: Buckets,
        rounds: &Rounds,
        spill_dir: &std::path::Path,
    ) -> Result<()> {
        let rows = BatchRows::keys_only(batch, plan)?;
        let mut picked: BTreeMap<usize, Picked> = BTreeMap::new();
        let (mut hashes, mut scratch) = (Vec::new(), Vec::new());
        rows.hash_keys(&mut hashes, &mut scratch);
        for (row, &hash) in hashes.iter().enumerate() {
            if rows.has_null_key(row) {
                continue;
            }
            if let Some(round) = rounds.of(buckets.of(hash as u64)) {
                let (indices, keys, ends) = picked.entry(round).or_default();
                indices.push(u32::try_from(row).unwrap_or(u32::MAX));
                if round == 0 {
                    rows.encode_key(row, keys);
                    ends.push(keys.len());
                }
            }
        }
        for (round, (indices, keys, ends)) in picked {
            let kept = take_record_batch(batch, &UInt32Array::from(indices))?;
            if round == 0 {
                self.first.push(kept, &keys, &ends, plan)?;
                continue;
            }
            if !self.spills.contains_key(&round) {
                let path = spill_dir.join(format!("{:05}-{round:05}.arrow", self.partition));
                let file = File::create(&path).map_err(spill_error)?;
                let writer = StreamWriter::try_new(BufWriter::new(file), &kept.schema()).map_err(spill_error)?;
                self.spills.insert(round, (path, writer));
            }
            if let Some((_, writer)) = self.spills.get_mut(&round) {
                writer.write(&kept).map_err(spill_error)?;
            }
        }
        Ok(())
    }
}

/// The rows of one side in the differing buckets, by round.
pub(crate) struct SideRounds {
    first: Option<Retained>,
    /// Spill files per round (index 0 unused).
    files: Vec<Vec<PathBuf>>,
    _directory: Option<tempfile::TempDir>,
}

impl SideRounds {
    /// Nothing retained.
    pub(crate) fn empty() -> Self {
        Self { first: Some(Retained::default()), files: Vec::new(), _directory: None }
    }

    /// The rows of `round`, read back from disk for rounds after the first.
    pub(crate) fn round(&mut self, round: usize, plan: &ColumnPlan) -> Result<Retained> {
        if round == 0 {
            return Ok(self.first.take().unwrap_or_default());
        }
        let mut retained = Retained::default();
        for path in self.files.get(round).into_iter().flatten() {
            let file = File::open(path).map_err(spill_error)?;
            for batch in StreamReader::try_new(BufReader::new(file), None).map_err(spill_error)? {
                retained.push_spilled(batch.map_err(spill_error)?, plan)?;
            }
        }
        Ok(retained)
    }
}

/// Reads the rows of the differing buckets from one side's scan partitions: the first round's
/// into memory, the others' into spill files.
pub(crate) async fn retain(
    streams: Vec<datafusion::execution::SendableRecordBatchStream>,
    plan: &ColumnPlan,
    buckets: Buckets,
    rounds: Arc<Rounds>,
    progress: &Arc<dyn Progress>,
) -> Result<SideRounds> {
    let directory = if rounds.count() > 1 {
        Some(tempfile::Builder::new().prefix("dqc-rows-").tempdir().map_err(spill_error)?)
    } else {
        None
    };
    let spill_dir: Arc<std::path::Path> =
        Arc::from(directory.as_ref().map_or_else(std::env::temp_dir, |d| d.path().to_path_buf()).as_path());
    let (plan, progress) = (Arc::new(plan.clone()), Arc::clone(progress));
    let next_partition = AtomicUsize::new(0);
    let partials = source::fold_partitions(
        streams,
        || Split {
            first: Retained::default(),
            spills: BTreeMap::new(),
            partition: next_partition.fetch_add(1, Ordering::Relaxed),
        },
        move |split, batch| {
            split.add_batch(batch, &plan, buckets, &rounds, &spill_dir)?;
            progress.add_rows(batch.num_rows() as u64);
            Ok(())
        },
    )
    .await?;
    let mut side = SideRounds { first: Some(Retained::default()), files: Vec::new(), _directory: directory };
    for partial in partials {
        if let Some(first) = &mut side.first {
            first.merge(partial.first);
        }
        for (round, (path, mut writer)) in partial.spills {
            writer.finish().map_err(spill_error)?;
            if side.files.len() <= round {
                side.files.resize(round + 1, Vec::new());
            }
            side.files[round].push(path);
        }
    }
    Ok(side)
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
    /// The encoded key of each sample, for merging classifications made apart (a cluster's).
    pub(crate) sample_keys: SampleKeys,
}

/// The encoded keys of [`Classified`]'s samples, one per sample, in the same order.
#[derive(Debug, Default)]
pub(crate) struct SampleKeys {
    pub(crate) columns: Vec<Vec<Vec<u8>>>,
    pub(crate) changed: Vec<Vec<u8>>,
    pub(crate) duplicate_keys: Vec<Vec<u8>>,
    pub(crate) only_in_baseline: Vec<Vec<u8>>,
    pub(crate) only_in_candidate: Vec<Vec<u8>>,
}

impl Classified {
    /// Nothing found yet, for the columns of `plan`.
    pub(crate) fn new(plan: &ColumnPlan) -> Self {
        Self {
            mismatches: vec![0; plan.values.len()],
            column_samples: vec![Vec::new(); plan.values.len()],
            sample_keys: SampleKeys { columns: vec![Vec::new(); plan.values.len()], ..SampleKeys::default() },
            ..Self::default()
        }
    }
}

/// Matches the retained rows of both sides (one round) by key and classifies them into `out`.
pub(crate) struct Classifier<'a> {
    plan: &'a ColumnPlan,
    baseline: &'a Retained,
    candidate: &'a Retained,
    sample_limit: usize,
    keep_differing: bool,
    out: &'a mut Classified,
    scratch: [Vec<u8>; 2],
}

impl<'a> Classifier<'a> {
    pub(crate) fn new(
        plan: &'a ColumnPlan,
        [baseline, candidate]: [&'a Retained; 2],
        sample_limit: usize,
        keep_differing: bool,
        out: &'a mut Classified,
    ) -> Self {
        Self { plan, baseline, candidate, sample_limit, keep_differing, out, scratch: [Vec::new(), Vec::new()] }
    }

    pub(crate) fn run(mut self) -> Result<()> {
        // Both sides' rows sorted by key (baseline first within a key): each key's rows are then
        // one run. A sorted vector of 24-byte entries, not a map: rounds can hold millions.
        let (baseline, candidate) = (self.baseline, self.candidate);
        let mut entries: Vec<(&[u8], Side, usize)> = (0..baseline.rows.len())
            .map(|i| (baseline.key(i), Side::Baseline, i))
            .chain((0..candidate.rows.len()).map(|i| (candidate.key(i), Side::Candidate, i)))
            .collect();
        entries.sort_unstable_by(|a, b| a.0.cmp(b.0).then((a.1 as u8).cmp(&(b.1 as u8))).then(a.2.cmp(&b.2)));
        for group in entries.chunk_by(|a, b| a.0 == b.0) {
            match group {
                [(_, Side::Baseline, b), (_, Side::Candidate, c)] if !self.plan.multiset => self.compare(*b, *c)?,
                _ => {
                    let pick = |side: Side| group.iter().filter(|e| e.1 == side).map(|e| e.2).collect::<Vec<_>>();
                    self.match_group(&pick(Side::Baseline), &pick(Side::Candidate))?;
                }
            }
        }
        Ok(())
    }

    fn compare(&mut self, b: usize, c: usize) -> Result<()> {
        // Equal row hashes mean equal exact values, as equal digests do for whole buckets: only
        // toleranced columns (quantized in the hash) are then compared. Most rows of a differing
        // bucket are equal: encoding their values to compare them took the classification 100-130
        // ms on the 2 x 2M-row reference set, 30-35 ms with this.
        let hashes_equal = self.baseline.hashes[b] == self.candidate.hashes[c];
        let plan = self.plan;
        let differing: Vec<usize> = (0..plan.values.len())
            .filter(|&i| !hashes_equal || plan.values[i].tolerance.is_some())
            .filter(|&i| !self.value_equal(b, c, i))
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
                    self.out.sample_keys.columns[i].push(self.baseline.key(b).to_vec());
                    let pair = &self.plan.values[i];
                    self.out.column_samples[i].push(ColumnSample {
                        key: key.clone(),
                        baseline: baseline.get(pair.name(Side::Baseline)).cloned().unwrap_or(Value::Null),
                        candidate: candidate.get(pair.name(Side::Candidate)).cloned().unwrap_or(Value::Null),
                    });
                }
            }
            if self.out.samples.changed.len() < self.sample_limit {
                self.out.sample_keys.changed.push(self.baseline.key(b).to_vec());
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
                self.out.sample_keys.duplicate_keys.push(side.key(index).to_vec());
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
        baseline.sort_by_cached_key(|&b| self.baseline.sort_key(b));
        let mut unmatched: Vec<usize> = candidate.to_vec();
        unmatched.sort_by_cached_key(|&c| self.candidate.sort_key(c));
        let mut left_in_baseline = Vec::new();
        for b in baseline {
            let found = unmatched.iter().position(|&c| (0..self.plan.values.len()).all(|i| self.value_equal(b, c, i)));
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

    /// Whether value column `column` of baseline row `b` equals that of candidate row `c`.
    fn value_equal(&mut self, b: usize, c: usize, column: usize) -> bool {
        let (baseline, b_row) = self.baseline.values(b);
        let (candidate, c_row) = self.candidate.values(c);
        baseline.equal(column, b_row, candidate, c_row, self.plan.values[column].tolerance, &mut self.scratch)
    }

    fn only_in(&mut self, side: Side, index: usize) -> Result<()> {
        let out = &mut self.out;
        let (count, samples, keys, retained) = match side {
            Side::Baseline => (
                &mut out.summary.only_in_baseline,
                &mut out.samples.only_in_baseline,
                &mut out.sample_keys.only_in_baseline,
                self.baseline,
            ),
            Side::Candidate => (
                &mut out.summary.only_in_candidate,
                &mut out.samples.only_in_candidate,
                &mut out.sample_keys.only_in_candidate,
                self.candidate,
            ),
        };
        *count += 1;
        if samples.len() < self.sample_limit {
            samples.push(retained.row_json(index)?);
            keys.push(retained.key(index).to_vec());
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
