//! An inventory's checkpoint: a file of JSON lines, the first naming the inventory it belongs
//! to, then one line per partition finished. An interrupted inventory started again with the
//! same checkpoint takes those partitions from it instead of reading them again. A line cut
//! short by a kill is dropped (and cut from the file) and its partition read again.

use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use super::report::PartitionInventory;
use crate::error::{Error, Result};

const FORMAT: &str = "dqc-inventory-checkpoint";

/// What makes two runs the same inventory: their results can stand for each other's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Header {
    pub(crate) format: String,
    pub(crate) version: u32,
    /// Everything that shapes a partition's result (sides, level, filters, key, options), as
    /// the caller spells it.
    pub(crate) inventory: serde_json::Value,
}

impl Header {
    pub(crate) fn new(inventory: serde_json::Value) -> Self {
        Self { format: FORMAT.to_owned(), version: 1, inventory }
    }
}

#[derive(Serialize, Deserialize)]
struct Line {
    table: String,
    partition: PartitionInventory,
}

/// An open checkpoint.
pub(crate) struct Checkpoint {
    path: PathBuf,
    file: Mutex<std::fs::File>,
}

/// Partitions finished by an earlier run, by `(table, partition)`.
pub(crate) type Finished = HashMap<(String, String), PartitionInventory>;

impl Checkpoint {
    /// Opens (or creates) the checkpoint at `path` for the inventory `header` describes, and
    /// returns the partitions it holds. A checkpoint of another inventory is refused.
    pub(crate) fn open(path: &Path, header: &Header) -> Result<(Self, Finished)> {
        let failed = |reason: String| {
            Error::InvalidOption(format!("the checkpoint `{}` cannot be used: {reason}", path.display()))
        };
        let mut finished = Finished::new();
        let mut kept_bytes = 0u64;
        if let Ok(file) = std::fs::File::open(path) {
            let mut lines = std::io::BufReader::new(file).split(b'\n');
            if let Some(first) = lines.next() {
                let first = first.map_err(|e| failed(e.to_string()))?;
                let written: Header = serde_json::from_slice(&first)
                    .map_err(|_| failed("it is not an inventory checkpoint".to_owned()))?;
                if written != *header {
                    return Err(failed(format!(
                        "it was written by another inventory ({}); remove it or name another",
                        written.inventory
                    )));
                }
                kept_bytes = first.len() as u64 + 1;
                for line in lines {
                    // A line cut short (no newline, or not JSON) ends what can be trusted.
                    let Ok(line) = line else { break };
                    let Ok(Line { table, partition }) = serde_json::from_slice::<Line>(&line) else { break };
                    kept_bytes += line.len() as u64 + 1;
                    finished.insert((table, partition.partition.clone()), partition);
                }
            }
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(path)
            .map_err(|e| failed(e.to_string()))?;
        let length = file.metadata().map_err(|e| failed(e.to_string()))?.len();
        if kept_bytes == 0 {
            file.set_len(0).map_err(|e| failed(e.to_string()))?;
        } else if length > kept_bytes {
            file.set_len(kept_bytes).map_err(|e| failed(e.to_string()))?;
        } else if length < kept_bytes {
            // The last line lacks its newline: it was whole but for it.
            let mut appender = &file;
            appender.write_all(b"\n").map_err(|e| failed(e.to_string()))?;
        }
        let checkpoint = Self { path: path.to_owned(), file: Mutex::new(file) };
        if kept_bytes == 0 {
            checkpoint.append(&serde_json::to_vec(header).map_err(|e| failed(e.to_string()))?)?;
        }
        Ok((checkpoint, finished))
    }

    /// Records a finished partition.
    pub(crate) fn record(&self, table: &str, partition: &PartitionInventory) -> Result<()> {
        let line = serde_json::to_vec(&Line { table: table.to_owned(), partition: partition.clone() })
            .map_err(|e| Error::Internal(format!("a checkpoint line: {e}")))?;
        self.append(&line)
    }

    fn append(&self, line: &[u8]) -> Result<()> {
        let mut file = self.file.lock().map_err(|_| Error::Internal("the checkpoint's lock".to_owned()))?;
        let mut bytes = line.to_vec();
        bytes.push(b'\n');
        use std::io::Seek;
        file.seek(std::io::SeekFrom::End(0))
            .and_then(|_| file.write_all(&bytes))
            .and_then(|()| file.flush())
            .map_err(|e| Error::InvalidOption(format!("cannot write the checkpoint `{}`: {e}", self.path.display())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::report::PartitionVerdict;

    fn partition(name: &str) -> PartitionInventory {
        PartitionInventory {
            partition: name.to_owned(),
            verdict: PartitionVerdict::EqualFooters,
            reason: None,
            differences: Vec::new(),
            not_comparable: Vec::new(),
            schema: crate::inventory::SchemaChanges::default(),
            baseline: None,
            candidate: None,
            key: Vec::new(),
            diff: None,
        }
    }

    #[test]
    fn a_checkpoint_resumes_its_own_inventory_and_drops_a_cut_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("inventory.checkpoint");
        let header = Header::new(serde_json::json!({"baseline": "/a", "candidate": "/b"}));
        let (checkpoint, finished) = Checkpoint::open(&path, &header).unwrap();
        assert!(finished.is_empty());
        checkpoint.record("orders", &partition("dt=1")).unwrap();
        checkpoint.record("orders", &partition("dt=2")).unwrap();
        drop(checkpoint);
        // A kill in the middle of a line.
        let mut text = std::fs::read(&path).unwrap();
        text.extend_from_slice(br#"{"table":"orders","partition":{"parti"#);
        std::fs::write(&path, &text).unwrap();

        let (checkpoint, finished) = Checkpoint::open(&path, &header).unwrap();
        assert_eq!(finished.len(), 2);
        assert!(finished.contains_key(&("orders".to_owned(), "dt=2".to_owned())));
        checkpoint.record("orders", &partition("dt=3")).unwrap();
        drop(checkpoint);
        let (_, finished) = Checkpoint::open(&path, &header).unwrap();
        assert_eq!(finished.len(), 3, "{}", std::fs::read_to_string(&path).unwrap());

        let other = Header::new(serde_json::json!({"baseline": "/a", "candidate": "/c"}));
        let error = Checkpoint::open(&path, &other).err().unwrap().to_string();
        assert!(error.contains("written by another inventory"), "{error}");
    }
}
