//! Properties of the diff: the report does not depend on file split, row order, batch size,
//! file format or compression; a dataset diffed with itself is consistent; swapping the sides
//! swaps the only-in counts and the sample sides.

use std::path::Path;
use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Array, Int32Array, Int64Array, RecordBatch, StringArray};
use dqc_tests::{path_str, runtime, write_orc, write_parquet};
use parquet::basic::{Compression, GzipLevel, ZstdLevel};
use proptest::prelude::*;
use serde_json::Value;
use verifier::{DiffSpec, Report, Verdict};

/// One generated row: a key with NULLs and duplicates, and values with NULLs, NaN and -0.0.
#[derive(Debug, Clone, PartialEq)]
struct Row {
    id: Option<i64>,
    n: Option<i32>,
    s: Option<String>,
    x: f64,
}

fn row() -> impl Strategy<Value = Row> {
    (
        prop_oneof![1 => Just(None), 12 => (0i64..60).prop_map(Some)],
        prop_oneof![1 => Just(None), 3 => (-3i32..3).prop_map(Some)],
        prop_oneof![1 => Just(None), 3 => "[ab\u{e9}]{0,3}".prop_map(Some)],
        prop_oneof![Just(0.0), Just(-0.0), Just(f64::NAN), Just(1.5), Just(-2.25)],
    )
        .prop_map(|(id, n, s, x)| Row { id, n, s, x })
}

/// How a side is written: how many files, in which row order, batch size and format.
#[derive(Debug, Clone)]
struct Layout {
    files: usize,
    shuffle: u64,
    batch_rows: usize,
    format: u8,
}

fn layout() -> impl Strategy<Value = Layout> {
    (1usize..4, any::<u64>(), 1usize..20, 0u8..4).prop_map(|(files, shuffle, batch_rows, format)| Layout {
        files,
        shuffle,
        batch_rows,
        format,
    })
}

fn to_batch(rows: &[Row]) -> RecordBatch {
    let columns: Vec<(&str, ArrayRef)> = vec![
        ("id", Arc::new(rows.iter().map(|r| r.id).collect::<Int64Array>())),
        ("n", Arc::new(rows.iter().map(|r| r.n).collect::<Int32Array>())),
        ("s", Arc::new(rows.iter().map(|r| r.s.clone()).collect::<StringArray>())),
        ("x", Arc::new(rows.iter().map(|r| Some(r.x)).collect::<Float64Array>())),
    ];
    dqc_tests::batch(columns)
}

/// Writes `rows` under `dir` in the given layout.
fn write_side(dir: &Path, rows: &[Row], layout: &Layout) {
    let mut rows = rows.to_vec();
    // A deterministic shuffle from the seed (a simple LCG is enough to reorder rows).
    let mut state = layout.shuffle | 1;
    for i in (1..rows.len()).rev() {
        state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        rows.swap(i, (state >> 33) as usize % (i + 1));
    }
    let per_file = rows.len().div_ceil(layout.files).max(1);
    for (index, chunk) in rows.chunks(per_file).enumerate() {
        let batches: Vec<RecordBatch> = chunk.chunks(layout.batch_rows).map(to_batch).collect();
        match layout.format {
            0 => write_orc(&dir.join(format!("dt=2024-05-01/{index:06}_0")), &batches),
            1 => write_parquet(&dir.join(format!("dt=2024-05-01/part-{index}.parquet")), &batches, Compression::SNAPPY),
            2 => write_parquet(
                &dir.join(format!("dt=2024-05-01/part-{index}.zstd.parquet")),
                &batches,
                Compression::ZSTD(ZstdLevel::default()),
            ),
            _ => write_parquet(
                &dir.join(format!("dt=2024-05-01/part-{index}.gz.parquet")),
                &batches,
                Compression::GZIP(GzipLevel::default()),
            ),
        }
    }
    if rows.is_empty() {
        write_parquet(&dir.join("dt=2024-05-01/empty.parquet"), &[to_batch(&[])], Compression::SNAPPY);
    }
}

fn diff_dirs(baseline: &Path, candidate: &Path) -> Report {
    let mut spec = DiffSpec::new(path_str(baseline), path_str(candidate), &["id"]);
    spec.options.sample_limit = 5;
    runtime().block_on(verifier::diff(&spec)).expect("diff")
}

/// The report without what legitimately depends on the layout (paths, file counts, time, and
/// what the footers tell: ORC's sum integers, Parquet's do not). So the findings of a diff that
/// kept its first read equal those of a diff that read both datasets again.
fn comparable(report: &Report) -> Value {
    let mut value = serde_json::to_value(report).unwrap();
    value["elapsed_ms"] = Value::Null;
    value["buckets"]["footers_differ"] = Value::Null;
    value["buckets"]["read_again"] = Value::Null;
    for side in ["baseline", "candidate"] {
        value[side]["uri"] = Value::Null;
        value[side]["files"] = Value::Null;
    }
    value
}

fn mutate(baseline: &[Row], edits: &[(usize, u8)], added: &[Row]) -> Vec<Row> {
    let mut candidate: Vec<Row> = Vec::new();
    for (index, row) in baseline.iter().enumerate() {
        match edits.iter().find(|(i, _)| *i == index).map(|(_, e)| *e) {
            Some(0) => {}
            Some(1) => candidate.push(Row { n: row.n.map(|n| n + 100), ..row.clone() }),
            Some(_) => candidate.push(Row { s: Some("changed".to_owned()), ..row.clone() }),
            None => candidate.push(row.clone()),
        }
    }
    candidate.extend(added.iter().cloned());
    candidate
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn the_report_does_not_depend_on_layout(
        baseline in prop::collection::vec(row(), 0..80),
        edits in prop::collection::vec((0usize..80, 0u8..3), 0..10),
        added in prop::collection::vec(row(), 0..5),
        layouts in (layout(), layout(), layout(), layout()),
    ) {
        let candidate = mutate(&baseline, &edits, &added);
        let dir = tempfile::tempdir().unwrap();
        let (b1, c1, b2, c2) = (dir.path().join("b1"), dir.path().join("c1"), dir.path().join("b2"), dir.path().join("c2"));
        write_side(&b1, &baseline, &layouts.0);
        write_side(&c1, &candidate, &layouts.1);
        write_side(&b2, &baseline, &layouts.2);
        write_side(&c2, &candidate, &layouts.3);
        let first = diff_dirs(&b1, &c1);
        let second = diff_dirs(&b2, &c2);
        prop_assert_eq!(comparable(&first), comparable(&second));
        let s = &first.summary;
        prop_assert_eq!(first.baseline.rows, baseline.len() as u64);
        prop_assert_eq!(first.baseline.rows, s.matched + s.changed + s.only_in_baseline + s.null_keys_baseline);
        prop_assert_eq!(first.candidate.rows, s.matched + s.changed + s.only_in_candidate + s.null_keys_candidate);
    }

    #[test]
    fn a_dataset_diffed_with_itself_is_consistent(rows in prop::collection::vec(row(), 0..80), layouts in (layout(), layout())) {
        let dir = tempfile::tempdir().unwrap();
        write_side(&dir.path().join("b"), &rows, &layouts.0);
        write_side(&dir.path().join("c"), &rows, &layouts.1);
        let report = diff_dirs(&dir.path().join("b"), &dir.path().join("c"));
        prop_assert_eq!(report.verdict, Verdict::Consistent);
        let s = &report.summary;
        prop_assert_eq!((s.changed, s.only_in_baseline, s.only_in_candidate), (0, 0, 0));
        prop_assert_eq!(s.matched + s.null_keys_baseline, rows.len() as u64);
    }

    #[test]
    fn swapping_the_sides_swaps_only_in_counts_and_samples(
        baseline in prop::collection::vec(row(), 0..60),
        edits in prop::collection::vec((0usize..60, 0u8..3), 0..8),
        added in prop::collection::vec(row(), 0..4),
        layouts in (layout(), layout()),
    ) {
        let candidate = mutate(&baseline, &edits, &added);
        let dir = tempfile::tempdir().unwrap();
        let (b, c) = (dir.path().join("b"), dir.path().join("c"));
        write_side(&b, &baseline, &layouts.0);
        write_side(&c, &candidate, &layouts.1);
        let forward = diff_dirs(&b, &c);
        let backward = diff_dirs(&c, &b);
        let (f, r) = (&forward.summary, &backward.summary);
        prop_assert_eq!((f.matched, f.changed), (r.matched, r.changed));
        prop_assert_eq!((f.only_in_baseline, f.only_in_candidate), (r.only_in_candidate, r.only_in_baseline));
        prop_assert_eq!((f.duplicate_keys_baseline, f.null_keys_baseline), (r.duplicate_keys_candidate, r.null_keys_candidate));
        prop_assert_eq!(&forward.samples.only_in_baseline, &backward.samples.only_in_candidate);
        prop_assert_eq!(&forward.samples.only_in_candidate, &backward.samples.only_in_baseline);
        prop_assert_eq!(&forward.samples.null_keys_baseline, &backward.samples.null_keys_candidate);
        for (there, back) in forward.samples.changed.iter().zip(&backward.samples.changed) {
            prop_assert_eq!(&there.key, &back.key);
            prop_assert_eq!(&there.baseline, &back.candidate);
            prop_assert_eq!(&there.candidate, &back.baseline);
        }
    }
}
