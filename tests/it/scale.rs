//! Diffs larger than the memory limit (the diff pass in rounds spilled to disk) and fingerprint
//! files (each side fingerprinted on its own, then compared).

use std::path::Path;
use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use dqc_tests::{batch, diff, path_str, runtime, write_orc, write_parquet};
use parquet::basic::Compression;
use verifier::{
    DiffSpec, FingerprintFile, FingerprintSpec, Report, ResourceLimits, Side, Verdict, compare_fingerprints,
};

const ROWS: i64 = 20_000;

/// Rows `ids` of a table; `candidate` changes `amount` where id % 89 == 1.
fn table(ids: &[i64], candidate: bool) -> RecordBatch {
    let amount = ids.iter().map(|&i| (i % 1000) as f64 / 4.0 + if candidate && i % 89 == 1 { 0.25 } else { 0.0 });
    batch(vec![
        ("id", Arc::new(Int64Array::from(ids.to_vec())) as ArrayRef),
        ("name", Arc::new(StringArray::from_iter_values(ids.iter().map(|i| format!("name-{}", i % 777))))),
        ("amount", Arc::new(Float64Array::from_iter_values(amount))),
    ])
}

/// A baseline of ROWS rows and a candidate that deletes ids % 97 == 0, adds ids up to ROWS + 150, changes
/// `amount` of ids % 89 == 1, and repeats id 5 (a duplicate key); other file split and order.
fn write_pair(dir: &Path) -> (String, String) {
    let baseline: Vec<i64> = (0..ROWS).collect();
    let mut candidate: Vec<i64> = (0..ROWS + 150).rev().filter(|i| i % 97 != 0).collect();
    candidate.push(5);
    for (index, chunk) in baseline.chunks(7_000).enumerate() {
        let path = dir.join(format!("baseline/part-{index}.parquet"));
        write_parquet(&path, &[table(chunk, false)], Compression::SNAPPY);
    }
    for (index, chunk) in candidate.chunks(4_500).enumerate() {
        let path = dir.join(format!("candidate/part-{index}.parquet"));
        write_parquet(&path, &[table(chunk, true)], Compression::ZSTD(Default::default()));
    }
    (path_str(&dir.join("baseline")), path_str(&dir.join("candidate")))
}

fn counts(report: &Report) -> Vec<(String, u64)> {
    let s = &report.summary;
    let mut counts = vec![
        ("matched".to_owned(), s.matched),
        ("changed".to_owned(), s.changed),
        ("only_in_baseline".to_owned(), s.only_in_baseline),
        ("only_in_candidate".to_owned(), s.only_in_candidate),
        ("duplicate_keys_candidate".to_owned(), s.duplicate_keys_candidate),
    ];
    counts.extend(report.columns.iter().map(|c| (c.name.clone(), c.mismatches)));
    counts
}

#[test]
fn a_diff_larger_than_its_memory_limit_runs_in_rounds_and_finds_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let (baseline, candidate) = write_pair(dir.path());
    let unlimited = diff(&DiffSpec::new(baseline.clone(), candidate.clone(), &["id"]));
    assert_eq!(unlimited.buckets.rounds, 1);
    // Other row counts: the first read's batches are kept and the datasets read once.
    assert!(unlimited.buckets.footers_differ && !unlimited.buckets.read_again, "{:?}", unlimited.buckets);
    let mut spec = DiffSpec::new(baseline, candidate, &["id"]);
    spec.limits = ResourceLimits { memory_limit: Some(64 << 10), threads: Some(2) };
    spec.export = Some(dir.path().join("diff.parquet"));
    let limited = diff(&spec);
    assert!(limited.buckets.rounds > 3, "64 KiB cannot hold the differing buckets at once: {:?}", limited.buckets);
    assert!(limited.buckets.read_again, "16 KiB cannot keep the first read: {:?}", limited.buckets);
    assert_eq!(counts(&limited), counts(&unlimited));
    let expected_deleted = (0..ROWS).filter(|i| i % 97 == 0).count() as u64;
    let expected_changed = (0..ROWS).filter(|i| i % 89 == 1 && i % 97 != 0 && *i != 5).count() as u64;
    assert_eq!(limited.summary.only_in_baseline, expected_deleted);
    assert_eq!(limited.summary.changed, expected_changed);
    let added = (ROWS..ROWS + 150).filter(|i| i % 97 != 0).count() as u64;
    assert_eq!(limited.summary.only_in_candidate, added + 1, "the new ids and the extra row of id 5");
    assert_eq!(limited.summary.duplicate_keys_candidate, 1);
    // Every finding of every round is in the export.
    let file = std::fs::File::open(dir.path().join("diff.parquet")).unwrap();
    let exported = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
    let s = &limited.summary;
    let findings = s.changed + s.only_in_baseline + s.only_in_candidate;
    assert_eq!(exported.metadata().file_metadata().num_rows() as u64, findings);
}

#[test]
fn datasets_whose_footers_agree_are_read_again_only_when_they_differ() {
    let dir = tempfile::tempdir().unwrap();
    let ids: Vec<i64> = (0..ROWS).collect();
    let write = |side: &str, candidate: bool, rows_per_file: usize| {
        for (index, chunk) in ids.chunks(rows_per_file).enumerate() {
            let path = dir.path().join(format!("{side}/part-{index}.parquet"));
            write_parquet(&path, &[table(chunk, candidate)], Compression::SNAPPY);
        }
        path_str(&dir.path().join(side))
    };
    let (baseline, same, changed) =
        (write("baseline", false, 7_000), write("same", false, 3_000), write("changed", true, 5_000));
    // The same rows and NULL counts in both: the footers cannot tell, nothing is kept.
    let equal = diff(&DiffSpec::new(baseline.clone(), same, &["id"]));
    assert_eq!(equal.verdict, Verdict::Consistent);
    assert!(!equal.buckets.footers_differ && !equal.buckets.read_again, "{:?}", equal.buckets);
    let report = diff(&DiffSpec::new(baseline, changed, &["id"]));
    assert!(!report.buckets.footers_differ && report.buckets.read_again, "{:?}", report.buckets);
    let expected_changed = (0..ROWS).filter(|i| i % 89 == 1).count() as u64;
    assert_eq!((report.summary.changed, report.summary.matched), (expected_changed, ROWS as u64 - expected_changed));
}

#[test]
fn footers_counting_other_nulls_mean_one_read_and_footers_without_statistics_never_differ() {
    let dir = tempfile::tempdir().unwrap();
    let ids: Vec<i64> = (0..ROWS).collect();
    let nulled = |id: i64| id % 1000 == 7;
    // Parquet counts NULLs: the candidate's `name` is NULL in 20 rows.
    let names = StringArray::from_iter(ids.iter().map(|&i| (!nulled(i)).then(|| format!("name-{}", i % 777))));
    let base = table(&ids, false);
    let candidate = batch(vec![
        ("id", Arc::clone(base.column(0))),
        ("name", Arc::new(names)),
        ("amount", Arc::clone(base.column(2))),
    ]);
    write_parquet(&dir.path().join("baseline/part-0.parquet"), &[base], Compression::SNAPPY);
    write_parquet(&dir.path().join("candidate/part-0.parquet"), &[candidate], Compression::SNAPPY);
    let side = |name: &str| path_str(&dir.path().join(name));
    let report = diff(&DiffSpec::new(side("baseline"), side("candidate"), &["id"]));
    assert!(report.buckets.footers_differ && !report.buckets.read_again, "{:?}", report.buckets);
    assert_eq!(report.summary.changed, ids.iter().filter(|&&i| nulled(i)).count() as u64);
    // orc-rust's writer writes no statistics: its footers never differ, the data is read again.
    let orc = |qty_of_5: i64| {
        let qty = Int64Array::from_iter_values(ids.iter().map(|&i| if i == 5 { qty_of_5 } else { i % 10 }));
        batch(vec![("id", Arc::new(Int64Array::from(ids.clone())) as ArrayRef), ("qty", Arc::new(qty))])
    };
    write_orc(&dir.path().join("a/part-0.orc"), &[orc(5)]);
    write_orc(&dir.path().join("b/part-0.orc"), &[orc(6)]);
    let unknown = diff(&DiffSpec::new(side("a"), side("b"), &["id"]));
    assert!(!unknown.buckets.footers_differ && unknown.buckets.read_again, "{:?}", unknown.buckets);
    assert_eq!(unknown.summary.changed, 1);
}

fn fingerprint(uri: &str, side: Side, buckets: Option<usize>) -> FingerprintFile {
    let spec = FingerprintSpec {
        uri: uri.to_owned(),
        side,
        key: vec!["id".to_owned()],
        options: verifier::DiffOptions::default(),
        limits: ResourceLimits::default(),
        buckets,
        stores: Default::default(),
    };
    runtime().block_on(verifier::fingerprint_dataset(&spec)).unwrap()
}

#[test]
fn fingerprints_of_each_side_name_the_buckets_the_full_diff_reads_again() {
    let dir = tempfile::tempdir().unwrap();
    let (baseline, candidate) = write_pair(dir.path());
    let report = diff(&DiffSpec::new(baseline.clone(), candidate.clone(), &["id"]));
    assert_eq!(report.verdict, Verdict::Inconsistent);
    // Written and read back, as JSON on one side and Parquet on the other.
    let (b_path, c_path) = (dir.path().join("b.json"), dir.path().join("c.parquet"));
    fingerprint(&baseline, Side::Baseline, None).write(&b_path).unwrap();
    fingerprint(&candidate, Side::Candidate, None).write(&c_path).unwrap();
    let b = FingerprintFile::read(&path_str(&b_path)).unwrap().expect("a fingerprint file");
    let c = FingerprintFile::read(&path_str(&c_path)).unwrap().expect("a fingerprint file");
    assert_eq!(b.header.bucket_count, report.buckets.count);
    let comparison = compare_fingerprints(&b, &c, ["b.json", "c.parquet"]).unwrap();
    let named: Vec<u32> = comparison.differing_buckets.iter().map(|d| d.bucket).collect();
    assert_eq!(named, report.buckets.differing_buckets);
    assert_eq!(comparison.verdict, Verdict::Inconsistent);
    assert_eq!((comparison.baseline.rows, comparison.candidate.rows), (report.baseline.rows, report.candidate.rows));

    // A side fingerprinted with more buckets folds onto the other's count: the same buckets.
    let finer = fingerprint(&candidate, Side::Candidate, Some(4 * report.buckets.count));
    let folded = compare_fingerprints(&b, &finer, ["b", "finer"]).unwrap();
    assert_eq!(folded.differing_buckets, comparison.differing_buckets);

    // Equal data in another layout: nothing differs.
    let again = fingerprint(&baseline, Side::Candidate, None);
    let same = compare_fingerprints(&b, &again, ["b", "again"]).unwrap();
    assert_eq!((same.verdict, same.differing_buckets.len()), (Verdict::Consistent, 0));
    // A dataset is not a fingerprint file.
    assert!(FingerprintFile::read(&path_str(&dir.path().join("baseline/part-0.parquet"))).unwrap().is_none());
}

#[test]
fn fingerprints_hashed_differently_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (baseline, _) = write_pair(dir.path());
    let b = fingerprint(&baseline, Side::Baseline, None);
    let mut other_key = b.clone();
    other_key.header.key = vec!["name".to_owned()];
    let error = compare_fingerprints(&b, &other_key, ["b", "c"]).unwrap_err().to_string();
    assert!(error.contains("keys differ"), "{error}");
    let mut other_type = b.clone();
    let amount = other_type.header.columns.iter_mut().find(|c| c.name == "amount").unwrap();
    amount.domain = "Exact".to_owned();
    let error = compare_fingerprints(&b, &other_type, ["b", "c"]).unwrap_err().to_string();
    assert!(error.contains("column `amount` is hashed as Float"), "{error}");
    // Earlier versions hashed otherwise: their buckets are not comparable, so they are refused.
    let old_path = dir.path().join("old.json");
    b.write(&old_path).unwrap();
    let text = std::fs::read_to_string(&old_path).unwrap();
    let mut json: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(json["version"], 4);
    for old in [1, 2, 3] {
        json["version"] = old.into();
        std::fs::write(&old_path, json.to_string()).unwrap();
        let error = FingerprintFile::read(&path_str(&old_path)).unwrap_err().to_string();
        let refusal = format!("version {old} is not supported (this dqc reads version 4)");
        assert!(error.contains("old.json") && error.contains(&refusal), "{error}");
    }
    std::fs::write(dir.path().join("broken.json"), "{\"format\": \"dqc-fingerprint\"").unwrap();
    let error = FingerprintFile::read(&path_str(&dir.path().join("broken.json"))).unwrap_err().to_string();
    assert!(error.contains("broken.json") && error.contains("not a valid fingerprint file"), "{error}");
}
