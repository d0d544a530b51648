//! Helpers for dqc's end-to-end scenarios: writing real ORC and Parquet files, locating the
//! fixtures from real producers, and running diffs; [`s3`]: an S3-compatible server.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::RecordBatch;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use verifier::{DiffSpec, Report};

pub mod s3;

/// The ORC fixtures written by Spark and Arrow C++ (`testdata/fixtures/orc`).
pub fn orc_fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/fixtures/orc")
}

/// Writes `batches` as one ORC file (orc-rust's writer: flat types only).
pub fn write_orc(path: &Path, batches: &[RecordBatch]) {
    orc_file(path, batches, false);
}

/// Writes `batches` as one ORC file, each batch a stripe of its own.
pub fn write_orc_stripes(path: &Path, batches: &[RecordBatch]) {
    orc_file(path, batches, true);
}

fn orc_file(path: &Path, batches: &[RecordBatch], stripe_per_batch: bool) {
    create_parent(path);
    let file = std::fs::File::create(path).expect("create ORC file");
    let mut writer = orc_rust::ArrowWriterBuilder::new(file, batches[0].schema()).try_build().expect("ORC writer");
    for (index, batch) in batches.iter().enumerate() {
        if stripe_per_batch && index > 0 {
            writer.flush_stripe().expect("end ORC stripe");
        }
        writer.write(batch).expect("write ORC batch");
    }
    writer.close().expect("close ORC file");
}

/// Writes `batches` as one Parquet file with `compression`.
pub fn write_parquet(path: &Path, batches: &[RecordBatch], compression: Compression) {
    let properties = WriterProperties::builder().set_compression(compression).build();
    parquet_file(path, batches, Some(properties), false);
}

/// Writes `batches` as one Parquet file, each batch a row group of its own.
pub fn write_parquet_row_groups(path: &Path, batches: &[RecordBatch]) {
    parquet_file(path, batches, None, true);
}

fn parquet_file(path: &Path, batches: &[RecordBatch], properties: Option<WriterProperties>, group_per_batch: bool) {
    create_parent(path);
    let file = std::fs::File::create(path).expect("create Parquet file");
    let mut writer =
        parquet::arrow::ArrowWriter::try_new(file, batches[0].schema(), properties).expect("Parquet writer");
    for batch in batches {
        writer.write(batch).expect("write Parquet batch");
        if group_per_batch {
            writer.flush().expect("end Parquet row group");
        }
    }
    writer.close().expect("close Parquet file");
}

fn create_parent(path: &Path) {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("create directory");
    }
}

/// Runs a diff on a fresh runtime; panics with the error if dqc could not tell.
pub fn diff(spec: &DiffSpec) -> Report {
    try_diff(spec).unwrap_or_else(|e| panic!("diff failed: {e}"))
}

/// Runs a diff on a fresh runtime.
pub fn try_diff(spec: &DiffSpec) -> verifier::Result<Report> {
    runtime().block_on(verifier::diff(spec))
}

/// A multi-threaded runtime like the CLI's.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("tokio runtime")
}

/// Writes a baseline and a candidate batch as Parquet under `dir` and returns a spec for them.
pub fn parquet_pair(dir: &Path, baseline: RecordBatch, candidate: RecordBatch, key: &[&str]) -> DiffSpec {
    let (b, c) = (dir.join("baseline/part-0.parquet"), dir.join("candidate/part-0.parquet"));
    write_parquet(&b, &[baseline], Compression::SNAPPY);
    write_parquet(&c, &[candidate], Compression::SNAPPY);
    DiffSpec::new(path_str(&dir.join("baseline")), path_str(&dir.join("candidate")), key)
}

/// A path as a string.
pub fn path_str(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

/// A batch from `(name, array)` pairs, every column nullable.
pub fn batch(columns: Vec<(&str, arrow::array::ArrayRef)>) -> RecordBatch {
    let fields: Vec<arrow::datatypes::Field> = columns
        .iter()
        .map(|(name, array)| arrow::datatypes::Field::new(*name, array.data_type().clone(), true))
        .collect();
    let arrays = columns.into_iter().map(|(_, array)| array).collect();
    RecordBatch::try_new(Arc::new(arrow::datatypes::Schema::new(fields)), arrays).expect("valid batch")
}
