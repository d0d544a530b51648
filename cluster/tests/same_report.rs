//! A diff on Ballista's in-process cluster (a scheduler and two executors in this process; plans
//! still serialised through protobuf and gRPC on loopback, shuffles through Arrow Flight) reports
//! exactly what a local diff reports: field for field, but for the timings and
//! `buckets.read_again` (a cluster diff keeps nothing between its passes).

use std::path::Path;
use std::sync::{Arc, LazyLock, OnceLock};

use arrow::array::{ArrayRef, Decimal128Array, Float64Array, Int32Builder, Int64Array, MapBuilder, RecordBatch};
use arrow::array::{StringArray, StringBuilder};
use dqc_tests::{batch, orc_fixtures, path_str, write_orc, write_parquet};
use parquet::basic::Compression;
use proptest::prelude::*;
use serde_json::Value;
use verifier::{
    DiffOptions, DiffSpec, FingerprintSpec, NoProgress, Report, ResourceLimits, Side, Stores, Tolerance, Verdict,
};

static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_multi_thread().worker_threads(4).enable_all().build().expect("tokio runtime")
});

/// The in-process cluster's URL, started once for every test of this file.
fn cluster() -> &'static str {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| RUNTIME.block_on(cluster::standalone::start(2, 2)).expect("in-process cluster"))
}

/// The cluster at `url`, with three scan tasks a side, pass 1 comparing 16 groups of buckets
/// first (1024 buckets at least: both of pass 1's jobs run whenever something differs).
fn on(url: &str) -> cluster::Cluster {
    cluster::Cluster::new(url, 3).expect("a cluster URL").with_bucket_groups(16)
}

/// The report as JSON, without what may differ between a local and a cluster diff.
fn comparable(report: &Report) -> Value {
    let mut value = serde_json::to_value(report).expect("report as JSON");
    value["elapsed_ms"] = Value::Null;
    value["buckets"]["read_again"] = Value::Null;
    value
}

/// Diffs `spec` here and on the cluster; asserts the reports are the same and returns it.
fn same_report(spec: &DiffSpec) -> Report {
    let local = RUNTIME.block_on(verifier::diff(spec)).expect("local diff");
    let url = cluster();
    let remote = RUNTIME.block_on(cluster::diff(spec, &on(url), Arc::new(NoProgress))).expect("cluster diff");
    assert_eq!(comparable(&remote), comparable(&local), "cluster and local reports differ");
    remote
}

fn fixture_spec(baseline: &str, candidate: &str) -> DiffSpec {
    let mut spec =
        DiffSpec::new(path_str(&orc_fixtures().join(baseline)), path_str(&orc_fixtures().join(candidate)), &["id"]);
    spec.options.sample_limit = 100;
    spec
}

#[test]
fn the_fixture_pairs_report_the_same_on_the_cluster() {
    for (baseline, candidate) in [
        ("spark/baseline", "spark/candidate"),
        ("arrow/baseline", "arrow/candidate"),
        ("spark/baseline", "arrow/candidate"),
        ("spark/baseline", "spark/baseline"),
    ] {
        let report = same_report(&fixture_spec(baseline, candidate));
        let expected = if baseline == candidate { Verdict::Consistent } else { Verdict::Inconsistent };
        assert_eq!(report.verdict, expected, "{baseline} vs {candidate}");
    }
}

#[test]
fn a_filter_on_partition_columns_and_an_export_are_the_same_on_the_cluster() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let mut spec = fixture_spec("spark/baseline", "spark/candidate");
    spec.options.filter = Some("id % 3 <> 0".to_owned());
    same_report_and_export(&mut spec, dir.path());
}

/// Pass 2 runs on the executors in shares (three here): counters add up, and the samples and the
/// export rows merged from all shares are the first in key order, as a local diff's are.
#[test]
fn differences_spread_over_every_share_give_the_first_samples_in_key_order_and_the_whole_export() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let baseline: Vec<(Option<i64>, Option<i64>)> = (0..3000).map(|i| (Some(i), Some(i % 7))).collect();
    let mut candidate = baseline.clone();
    for (i, row) in candidate.iter_mut().enumerate() {
        match i % 50 {
            0 => row.1 = Some(-1),
            1 => row.0 = Some(10_000 + i as i64),
            2 => row.1 = None,
            _ => {}
        }
    }
    candidate.extend([(Some(5), Some(5)), (Some(6), Some(6))]);
    candidate.reverse();
    write_side(&dir.path().join("b"), &baseline, 3, 500, true);
    write_side(&dir.path().join("c"), &candidate, 2, 700, false);
    let mut spec = DiffSpec::new(path_str(&dir.path().join("b")), path_str(&dir.path().join("c")), &["id"]);
    spec.options.sample_limit = 7;
    let report = same_report_and_export(&mut spec, dir.path());
    let summary = &report.summary;
    assert_eq!((summary.changed, summary.only_in_baseline, summary.only_in_candidate), (120, 60, 62));
    assert_eq!(summary.duplicate_keys_candidate, 2);
    assert_eq!(report.samples.changed.len(), 7);
}

/// Diffs `spec` here and on the cluster, each exporting into `dir`: asserts the reports and the
/// exported rows are the same and returns the report.
fn same_report_and_export(spec: &mut DiffSpec, dir: &Path) -> Report {
    let (local, remote) = (dir.join("local.parquet"), dir.join("remote.parquet"));
    spec.export = Some(local.clone());
    let local_report = RUNTIME.block_on(verifier::diff(spec)).expect("local diff");
    spec.export = Some(remote.clone());
    let report = RUNTIME.block_on(cluster::diff(spec, &on(cluster()), Arc::new(NoProgress))).expect("cluster diff");
    assert_eq!(comparable(&report), comparable(&local_report));
    assert_eq!(exported_rows(&remote), exported_rows(&local));
    report
}

/// The rows of an export, in one batch.
fn exported_rows(path: &Path) -> RecordBatch {
    let file = std::fs::File::open(path).expect("the export");
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .expect("a Parquet export")
        .build()
        .expect("a Parquet reader");
    let batches: Vec<RecordBatch> = reader.map(|batch| batch.expect("a batch of the export")).collect();
    let schema = batches.first().map(|b| b.schema()).expect("exported rows");
    arrow::compute::concat_batches(&schema, &batches).expect("one batch")
}

fn map_array(entries: &[&[(&str, i32)]]) -> ArrayRef {
    let mut builder = MapBuilder::new(None, StringBuilder::new(), Int32Builder::new());
    for map in entries {
        for (key, value) in *map {
            builder.keys().append_value(key);
            builder.values().append_value(*value);
        }
        builder.append(true).expect("map entry");
    }
    Arc::new(builder.finish())
}

/// NULL keys (equal and not), duplicate keys (equal on both sides, and not), a reordered map,
/// decimals of other scales, floats within a tolerance, changed and one-sided rows.
fn semantics_pair(dir: &Path) -> DiffSpec {
    let ids = |v: Vec<Option<i64>>| Arc::new(Int64Array::from(v)) as ArrayRef;
    let decimals = |v: Vec<i128>, scale: i8| {
        Arc::new(Decimal128Array::from(v).with_precision_and_scale(12, scale).expect("decimal")) as ArrayRef
    };
    let baseline = batch(vec![
        ("id", ids(vec![Some(1), Some(2), Some(3), Some(3), None, None, Some(7), Some(8), Some(9), Some(9)])),
        ("price", decimals(vec![1050, 2000, 300, 300, 1, 2, 70, 80, 90, 91], 2)),
        ("x", Arc::new(Float64Array::from(vec![1.0, 2.0, 3.0, 3.0, 0.5, 0.6, 7.0, 8.0, 9.0, 9.0]))),
        ("tags", map_array(&[&[("a", 1), ("b", 2)], &[], &[], &[], &[], &[], &[("z", 1)], &[], &[], &[]])),
        ("s", Arc::new(StringArray::from(vec!["a", "b", "c", "c", "n", "m", "g", "h", "i", "j"]))),
    ]);
    let candidate = batch(vec![
        ("id", ids(vec![Some(1), Some(2), Some(3), Some(3), None, None, Some(7), Some(10), Some(9), Some(9)])),
        ("price", decimals(vec![10500, 20000, 3000, 3000, 10, 30, 700, 1000, 900, 900], 3)),
        ("x", Arc::new(Float64Array::from(vec![1.0 + 1e-12, 2.0, 3.0, 3.0, 0.5, 0.6, 7.5, 10.0, 9.0, 9.0]))),
        ("tags", map_array(&[&[("b", 2), ("a", 1)], &[], &[], &[], &[], &[], &[("z", 1)], &[], &[], &[]])),
        ("s", Arc::new(StringArray::from(vec!["a", "b", "c", "c", "n", "m", "g", "k", "i", "j"]))),
    ]);
    // orc-rust writes no maps: these sides are Parquet, the generated ones below ORC and Parquet.
    write_parquet(&dir.join("baseline/dt=2024-05-01/part-0.parquet"), &[baseline.slice(0, 4)], Compression::SNAPPY);
    write_parquet(&dir.join("baseline/dt=2024-05-01/part-1.parquet"), &[baseline.slice(4, 6)], Compression::SNAPPY);
    write_parquet(&dir.join("candidate/dt=2024-05-01/part-0.parquet"), &[candidate], Compression::SNAPPY);
    let mut spec = DiffSpec::new(path_str(&dir.join("baseline")), path_str(&dir.join("candidate")), &["id"]);
    spec.options.tolerance = Tolerance { absolute: Some(1e-9), relative: None };
    spec
}

#[test]
fn null_and_duplicate_keys_maps_decimals_and_tolerances_are_the_same_on_the_cluster() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let spec = semantics_pair(dir.path());
    let report = same_report(&spec);
    let summary = &report.summary;
    assert_eq!((summary.null_keys_baseline, summary.null_keys_candidate), (2, 2));
    assert!(!summary.null_key_rows_match, "one NULL-key row's price differs");
    assert_eq!((summary.duplicate_keys_baseline, summary.duplicate_keys_candidate), (2, 2));
    // Key 9: one pair of rows matches, 0.91 against 0.900 is left over on each side.
    assert_eq!((summary.only_in_baseline, summary.only_in_candidate, summary.changed), (2, 2, 1));
    // Without a key, whole rows are compared as multisets (exactly: tolerances need a key).
    let mut multiset = DiffSpec { key: Vec::new(), ..spec };
    multiset.options.tolerance = Tolerance::default();
    same_report(&multiset);
}

/// A one-row table (Ballista 55's adaptive planner counted its row 14 to 16 times: see
/// `Cluster::new`), and a table whose rows are all NULL keys.
#[test]
fn a_one_row_table_and_a_null_key_only_table_are_the_same_on_the_cluster() {
    for rows in [[(Some(1), None)], [(None, Some(2))]] {
        let dir = tempfile::tempdir().expect("temporary directory");
        write_side(&dir.path().join("b"), &rows, 1, 1, false);
        write_side(&dir.path().join("c"), &rows, 1, 1, true);
        let spec = DiffSpec::new(path_str(&dir.path().join("b")), path_str(&dir.path().join("c")), &["id"]);
        same_report(&spec);
    }
}

/// One generated row: a key with NULLs and duplicates, values with NULLs.
fn row() -> impl Strategy<Value = (Option<i64>, Option<i64>)> {
    (
        prop_oneof![1 => Just(None), 12 => (0i64..60).prop_map(Some)],
        prop_oneof![1 => Just(None), 3 => (-3i64..3).prop_map(Some)],
    )
}

fn write_side(dir: &Path, rows: &[(Option<i64>, Option<i64>)], files: usize, batch_rows: usize, orc: bool) {
    let per_file = rows.len().div_ceil(files).max(1);
    for (index, chunk) in rows.chunks(per_file).enumerate() {
        let batches: Vec<RecordBatch> = chunk
            .chunks(batch_rows)
            .map(|rows| {
                batch(vec![
                    ("id", Arc::new(rows.iter().map(|r| r.0).collect::<Int64Array>()) as ArrayRef),
                    ("v", Arc::new(rows.iter().map(|r| r.1).collect::<Int64Array>()) as ArrayRef),
                ])
            })
            .collect();
        if orc {
            write_orc(&dir.join(format!("{index:06}_0")), &batches);
        } else {
            write_parquet(&dir.join(format!("part-{index}.parquet")), &batches, Compression::SNAPPY);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    #[test]
    fn generated_datasets_report_the_same_on_the_cluster(
        baseline in prop::collection::vec(row(), 1..60),
        edits in prop::collection::vec((0usize..60, row()), 0..6),
        layout in (1usize..4, 1usize..20, any::<bool>(), 1usize..4, 1usize..20, any::<bool>()),
    ) {
        let dir = tempfile::tempdir().expect("temporary directory");
        let mut candidate = baseline.clone();
        for (at, row) in edits {
            let at = at % candidate.len();
            candidate[at] = row;
        }
        candidate.reverse();
        let (b_files, b_batch, b_orc, c_files, c_batch, c_orc) = layout;
        write_side(&dir.path().join("b"), &baseline, b_files, b_batch, b_orc);
        write_side(&dir.path().join("c"), &candidate, c_files, c_batch, c_orc);
        let spec = DiffSpec::new(path_str(&dir.path().join("b")), path_str(&dir.path().join("c")), &["id"]);
        same_report(&spec);
    }
}

/// A fingerprint computed on the cluster is, bit for bit, the one computed here (but for its
/// time), so a file written by either compares with the other's.
#[test]
fn a_fingerprint_on_the_cluster_is_the_local_fingerprint() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let semantics = semantics_pair(dir.path());
    let fixture = |side: &str| path_str(&orc_fixtures().join(side));
    let files = |uri: String| {
        let spec = FingerprintSpec {
            uri,
            side: Side::Baseline,
            key: vec!["id".to_owned()],
            options: DiffOptions::default(),
            limits: ResourceLimits::default(),
            buckets: None,
            stores: Stores::default(),
        };
        let mut local = RUNTIME.block_on(verifier::fingerprint_dataset(&spec)).expect("local fingerprint");
        let mut remote = RUNTIME
            .block_on(verifier::fingerprint_dataset_on(&spec, Arc::new(NoProgress), &on(cluster())))
            .expect("cluster fingerprint");
        local.header.elapsed_ms = 0;
        remote.header.elapsed_ms = 0;
        assert_eq!(remote, local, "{}", spec.uri);
        (local, remote)
    };
    // NULL keys and duplicate keys (the semantics pair's baseline) and the Spark fixture.
    let (with_nulls, _) = files(semantics.baseline.clone());
    assert!(with_nulls.header.null_key_rows == 2 && !with_nulls.header.duplicate_buckets.is_empty());
    let (baseline, _) = files(fixture("spark/baseline"));
    let (_, candidate) = files(fixture("spark/candidate"));
    let compared =
        verifier::compare_fingerprints(&baseline, &candidate, ["local", "cluster"]).expect("comparable files");
    assert_eq!(compared.verdict, Verdict::Inconsistent);
}

/// An inventory whose deep fingerprints run on the cluster gives the report of one whose run
/// here: a partition changed in a way its footers cannot show (orc-rust keeps no statistics) is
/// different on both, the others equal, the missing one missing.
#[test]
fn an_inventory_fingerprinted_on_the_cluster_reports_as_one_fingerprinted_here() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let write = |side: &str, day: &str, changed: bool| {
        let ids: Vec<i64> = (0..200).collect();
        let values: Vec<String> =
            ids.iter().map(|id| if changed && *id == 7 { "changed".to_owned() } else { format!("v{id}") }).collect();
        let rows = batch(vec![
            ("id", Arc::new(Int64Array::from(ids)) as ArrayRef),
            ("value", Arc::new(StringArray::from(values))),
        ]);
        write_orc(&dir.path().join(side).join("orders").join(format!("dt={day}")).join("part-0.orc"), &[rows]);
    };
    for day in ["2024-05-01", "2024-05-02", "2024-05-03"] {
        write("baseline", day, false);
        if day != "2024-05-03" {
            write("candidate", day, day == "2024-05-02");
        }
    }
    let mut spec = verifier::inventory::InventorySpec::new(
        path_str(&dir.path().join("baseline")),
        path_str(&dir.path().join("candidate")),
    );
    spec.level = verifier::inventory::Level::Deep;
    spec.key = vec!["id".to_owned()];
    let progress =
        || Arc::new(verifier::inventory::NoInventoryProgress) as Arc<dyn verifier::inventory::InventoryProgress>;
    let local = RUNTIME.block_on(verifier::inventory::inventory(&spec, progress())).expect("local inventory");
    let passes = on(cluster());
    let route = |_: u64| verifier::Route::Remote { passes: &passes, fall_back: false };
    let remote = RUNTIME
        .block_on(verifier::inventory::inventory_on(&spec, progress(), &route))
        .expect("inventory on the cluster");
    let verdicts = |report: &verifier::inventory::InventoryReport| -> Vec<(String, String, Option<String>)> {
        report.tables[0]
            .partitions
            .iter()
            .map(|p| (p.partition.clone(), p.verdict.as_str().to_owned(), p.reason.clone()))
            .collect()
    };
    assert_eq!(verdicts(&remote), verdicts(&local));
    let kinds: Vec<String> = verdicts(&local).into_iter().map(|(_, verdict, _)| verdict).collect();
    assert_eq!(kinds, ["equal", "different", "missing_in_candidate"], "{:?}", verdicts(&local));
}
