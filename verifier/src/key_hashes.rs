//! The key hashes of one side, for finding duplicate keys without holding every key.
//!
//! Duplicate keys must be found even where both sides agree (an equal bucket can hide two rows
//! with one key), so every row's 64-bit key hash is kept until the side is read (of one side
//! only in a diff: equal buckets hold the same rows on both). Hashes stay in memory up to a
//! budget (checked per batch), sorted as they come into 256 runs by their top 8 bits, so that
//! finding duplicates at the end is only a look at each run (in the CPU's caches), by all
//! threads at once. Sorting them all at the end took 18-30 ms after the fingerprint pass of the
//! 2 x 2M-row equal diff (of 0.9-1.1 s in all); this takes 7-15 ms (`RUST_LOG=verifier=debug`).
//! Beyond the budget they are spilled to temporary files, one per hash partition (the top 6
//! bits). Duplicates are then found one partition at a time, so memory stays near `budget` and
//! 1/64 of the spilled hashes whatever the size of the data.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::PathBuf;
use std::sync::Arc;

use crate::error::{Error, Result};

/// Hash partitions on disk.
const PARTITIONS: usize = 64;

/// A side's key hashes, in memory and spilled.
#[derive(Debug)]
pub(crate) struct KeyHashes {
    /// Hashes in memory by run ([`run_of`]), each run in chunks of [`CHUNK`] hashes: a run grows
    /// without copying, and merging sets moves chunks.
    runs: Vec<Vec<Vec<u64>>>,
    /// Hashes in `runs`.
    held: usize,
    budget: usize,
    spill: Option<Spill>,
    /// Spilled files of merged-in partial sets, per partition.
    spilled: Vec<Vec<PathBuf>>,
    /// Keeps the merged-in sets' directories alive until the duplicates are found.
    directories: Vec<Arc<tempfile::TempDir>>,
}

/// Hashes in a chunk of a run (8 KiB): a run grows by whole chunks, never copied as a vector
/// grown by doubling would be. Its first chunk holds [`FIRST_CHUNK`] (512 bytes).
const CHUNK: usize = 1024;
const FIRST_CHUNK: usize = 64;

#[derive(Debug)]
struct Spill {
    directory: Arc<tempfile::TempDir>,
    writers: Vec<BufWriter<File>>,
    paths: Vec<PathBuf>,
}

/// The run of a hash: its top 8 bits (the bucket uses the low bits). A spilled partition holds
/// `RUNS / PARTITIONS` consecutive runs.
fn run_of(hash: u64) -> usize {
    (hash >> 56) as usize
}

fn spill_error(error: std::io::Error) -> Error {
    Error::Spill { what: "key hashes", source: Box::new(error) }
}

impl KeyHashes {
    /// An empty set that spills beyond `budget` hashes.
    pub(crate) fn new(budget: usize) -> Self {
        Self {
            runs: vec![Vec::new(); RUNS],
            held: 0,
            budget: budget.max(1),
            spill: None,
            spilled: vec![Vec::new(); PARTITIONS],
            directories: Vec::new(),
        }
    }

    /// Adds rows' key hashes.
    pub(crate) fn extend(&mut self, hashes: &[u64]) -> Result<()> {
        for &hash in hashes {
            let chunks = &mut self.runs[run_of(hash)];
            match chunks.last_mut() {
                Some(chunk) if chunk.len() < chunk.capacity() => chunk.push(hash),
                _ => {
                    // A run's first chunk is small, so that a partition of few rows does not
                    // take 256 full chunks.
                    let mut chunk = Vec::with_capacity(if chunks.is_empty() { FIRST_CHUNK } else { CHUNK });
                    chunk.push(hash);
                    chunks.push(chunk);
                }
            }
        }
        self.held += hashes.len();
        if self.held >= self.budget {
            self.spill_memory()?;
        }
        Ok(())
    }

    fn spill_memory(&mut self) -> Result<()> {
        if self.spill.is_none() {
            let directory = tempfile::Builder::new().prefix("dqc-keys-").tempdir().map_err(spill_error)?;
            let paths: Vec<PathBuf> = (0..PARTITIONS).map(|p| directory.path().join(format!("{p:02}.u64"))).collect();
            let writers = paths
                .iter()
                .map(|path| File::create(path).map(BufWriter::new))
                .collect::<std::io::Result<Vec<_>>>()
                .map_err(spill_error)?;
            self.spill = Some(Spill { directory: Arc::new(directory), writers, paths });
        }
        if let Some(spill) = &mut self.spill {
            for (run, chunks) in self.runs.iter_mut().enumerate() {
                let writer = &mut spill.writers[run / (RUNS / PARTITIONS)];
                for chunk in chunks.drain(..) {
                    let bytes: Vec<u8> = chunk.into_iter().flat_map(u64::to_le_bytes).collect();
                    writer.write_all(&bytes).map_err(spill_error)?;
                }
            }
            self.held = 0;
        }
        Ok(())
    }

    /// Flushes this set's own spill files and lists them with the spilled files.
    fn close_spill(&mut self) -> Result<()> {
        if let Some(mut spill) = self.spill.take() {
            for writer in &mut spill.writers {
                writer.flush().map_err(spill_error)?;
            }
            for (files, path) in self.spilled.iter_mut().zip(spill.paths) {
                files.push(path);
            }
            self.directories.push(spill.directory);
        }
        Ok(())
    }

    /// Takes in another partial set (of the same side).
    pub(crate) fn merge(&mut self, mut other: KeyHashes) -> Result<()> {
        other.close_spill()?;
        for (mine, theirs) in self.spilled.iter_mut().zip(other.spilled) {
            mine.extend(theirs);
        }
        self.directories.extend(other.directories);
        for (mine, theirs) in self.runs.iter_mut().zip(other.runs) {
            mine.extend(theirs);
        }
        self.held += other.held;
        if self.held >= self.budget {
            self.spill_memory()?;
        }
        Ok(())
    }

    /// Every hash seen more than once, in no particular order, found by `threads` threads.
    /// Leaves the set empty.
    pub(crate) fn duplicates(&mut self, threads: usize) -> Result<Vec<u64>> {
        self.close_spill()?;
        let in_memory = std::mem::replace(&mut self.runs, vec![Vec::new(); RUNS]);
        self.held = 0;
        let spilled = std::mem::replace(&mut self.spilled, vec![Vec::new(); PARTITIONS]);
        if spilled.iter().all(Vec::is_empty) {
            let runs: Vec<Vec<&[u64]>> =
                in_memory.iter().map(|chunks| chunks.iter().map(Vec::as_slice).collect()).collect();
            return repeated(&runs, threads);
        }
        // One partition at a time: its spilled hashes ordered by run, with its runs in memory.
        let mut found = Vec::new();
        let runs_per_partition = RUNS / PARTITIONS;
        for (partition, files) in spilled.iter().enumerate() {
            let mut hashes = Vec::new();
            for path in files {
                read_hashes(path, &mut hashes)?;
            }
            let (sorted, starts) = by_top_bits(&hashes);
            let mut runs = run_slices(&sorted, &starts);
            for run in partition * runs_per_partition..(partition + 1) * runs_per_partition {
                for chunk in &in_memory[run] {
                    runs[run].push(chunk);
                }
            }
            found.extend(repeated(&runs, threads)?);
        }
        self.directories.clear();
        Ok(found)
    }
}

fn read_hashes(path: &PathBuf, out: &mut Vec<u64>) -> Result<()> {
    let mut reader = BufReader::new(File::open(path).map_err(spill_error)?);
    let mut bytes = Vec::new();
    reader.read_to_end(&mut bytes).map_err(spill_error)?;
    out.extend(bytes.chunks_exact(8).map(|chunk| u64::from_le_bytes(chunk.try_into().unwrap_or_default())));
    Ok(())
}

/// Every hash that occurs more than once, from the hashes of each run (`RUNS` runs, each given
/// as slices; equal hashes share a run), found by `threads` threads at once: the runs are split
/// between the threads into parts of about equal size, each thread finding the repeats within
/// its runs. Key hashes are uniform, so the runs are of about equal size.
fn repeated(runs: &[Vec<&[u64]>], threads: usize) -> Result<Vec<u64>> {
    // Where each run ends, counted in hashes; part `i` ends with the last run that ends within
    // `i / threads` of them.
    let ends: Vec<usize> = runs
        .iter()
        .scan(0, |end, slices| {
            *end += slices.iter().map(|s| s.len()).sum::<usize>();
            Some(*end)
        })
        .collect();
    let total = ends.last().copied().unwrap_or(0);
    let threads = threads.clamp(1, RUNS);
    let mut parts = Vec::with_capacity(threads);
    let mut start = 0;
    for part in 1..=threads {
        let end = if part == threads {
            runs.len()
        } else {
            ends.partition_point(|&end| end <= total * part / threads).max(start)
        };
        parts.push(&runs[start..end]);
        start = end;
    }
    std::thread::scope(|scope| {
        let workers: Vec<_> = parts.into_iter().map(|part| scope.spawn(move || repeats_in(part))).collect();
        let mut found = Vec::new();
        for worker in workers {
            // A thread that failed must not pass for one that found nothing.
            let repeats = worker.join().map_err(|_| Error::Internal("finding duplicate keys panicked".to_owned()))?;
            found.extend(repeats);
        }
        Ok(found)
    })
}

/// Runs of hashes by their top bits.
const RUNS: usize = 256;

/// `hashes` ordered by their top 8 bits, and where each run starts (`RUNS + 1` offsets).
fn by_top_bits(hashes: &[u64]) -> (Vec<u64>, Vec<usize>) {
    let mut starts = vec![0usize; RUNS + 1];
    for &hash in hashes {
        starts[run_of(hash) + 1] += 1;
    }
    for index in 1..starts.len() {
        starts[index] += starts[index - 1];
    }
    let mut next = starts.clone();
    let mut runs = vec![0u64; hashes.len()];
    for &hash in hashes {
        let slot = &mut next[run_of(hash)];
        runs[*slot] = hash;
        *slot += 1;
    }
    (runs, starts)
}

/// The runs of [`by_top_bits`]'s output, each as one slice.
fn run_slices<'a>(sorted: &'a [u64], starts: &[usize]) -> Vec<Vec<&'a [u64]>> {
    starts.windows(2).map(|w| vec![&sorted[w[0]..w[1]]]).collect()
}

/// The repeated hashes of `runs`. Each run goes into an open-addressing table twice its size (a
/// run is about a 256th of the hashes, so the table stays in the CPU's caches): a hash already
/// there is a repeat. Sorting each run instead took 2.5% of the scan's time in the diff of equal
/// tables of 2 x 2M rows; the table takes a quarter of that (`perf record -e cpu-clock` of
/// `dqc diff` on `benches/peers.sh --equal`'s data: 105-126 samples of about 6,200 in this module
/// and `sort` before, 25-32 after).
fn repeats_in(runs: &[Vec<&[u64]>]) -> Vec<u64> {
    let (mut found, mut table) = (Vec::new(), Vec::new());
    for slices in runs {
        let Some(&first) = slices.iter().find_map(|s| s.first()) else { continue };
        // Every hash of a run has the same top bits, so a value with another top bit marks an
        // empty slot; the low bits, as random as the top ones, pick the slot.
        let empty = first ^ (1 << 63);
        let len: usize = slices.iter().map(|s| s.len()).sum();
        let mask = (len * 2).next_power_of_two() - 1;
        table.clear();
        table.resize(mask + 1, empty);
        for &hash in slices.iter().copied().flatten() {
            let mut slot = hash as usize & mask;
            loop {
                match table[slot] {
                    seen if seen == empty => {
                        table[slot] = hash;
                        break;
                    }
                    seen if seen == hash => {
                        found.push(hash);
                        break;
                    }
                    _ => slot = (slot + 1) & mask,
                }
            }
        }
    }
    found.sort_unstable();
    found.dedup();
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn find(hashes: &[u64], budget: usize, split: usize) -> Vec<u64> {
        let mut parts: Vec<KeyHashes> = (0..split).map(|_| KeyHashes::new(budget)).collect();
        for (i, &hash) in hashes.iter().enumerate() {
            parts[i % split].extend(&[hash]).unwrap();
        }
        let mut total = KeyHashes::new(budget);
        for part in parts {
            total.merge(part).unwrap();
        }
        let mut found = total.duplicates(3).unwrap();
        found.sort_unstable();
        found
    }

    #[test]
    fn duplicates_are_found_in_memory_and_after_spilling() {
        let mut hashes: Vec<u64> = (0..10_000u64).map(|i| i.wrapping_mul(0x9E37_79B9_7F4A_7C15)).collect();
        hashes.extend([hashes[17], hashes[9_999], hashes[17]]);
        let mut expected = vec![hashes[17], hashes[9_999]];
        expected.sort_unstable();
        assert_eq!(find(&hashes, usize::MAX, 1), expected);
        assert_eq!(find(&hashes, 100, 3), expected, "spilled by three partial sets");
        assert_eq!(find(&hashes, 7, 1), expected);
        assert!(find(&hashes[..10_000], 100, 2).is_empty());
    }

    #[test]
    fn repeats_are_found_in_every_run_by_any_number_of_threads() {
        // Repeats in the first and the last run and in between, and a run far larger than the
        // others (hashes sharing their top bits), whose threads' shares are then uneven.
        let mut hashes: Vec<u64> = (0..200_000u64).map(|i| i.wrapping_mul(0x9E37_79B9_7F4A_7C15)).collect();
        hashes.extend((0..30_000u64).map(|i| 0xABCD_0000_0000_0000 | (i.wrapping_mul(7_919) % 20_000)));
        hashes.extend([hashes[5], hashes[150_000], u64::MAX, u64::MAX, 0, 0, 0]);
        let mut counts = std::collections::BTreeMap::new();
        for &hash in &hashes {
            *counts.entry(hash).or_insert(0) += 1;
        }
        let expected: Vec<u64> = counts.into_iter().filter(|&(_, n)| n > 1).map(|(hash, _)| hash).collect();
        assert!(expected.len() > 4, "the skewed run repeats some hashes too");
        let (sorted, starts) = by_top_bits(&hashes);
        for threads in [1, 2, 3, 7, 300] {
            let mut found = repeated(&run_slices(&sorted, &starts), threads).unwrap();
            found.sort_unstable();
            assert_eq!(found, expected, "{threads} threads");
        }
        assert_eq!(find(&hashes, usize::MAX, 2), expected);
        assert!(repeated(&run_slices(&[], &[0; RUNS + 1]), 2).unwrap().is_empty());
    }
}
