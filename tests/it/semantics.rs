//! Each rule of DESIGN.md's diff semantics, on data where a naive comparison gets it wrong.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanArray, Date32Array, Decimal128Array, Float32Array, Float64Array, Int32Array, Int32Builder,
    Int64Array, ListBuilder, MapBuilder, StringArray, StringBuilder, StructArray, TimestampMillisecondArray,
    TimestampNanosecondArray,
};
use arrow::datatypes::{DataType, Field};
use dqc_tests::{batch, diff, parquet_pair, try_diff, write_orc};
use verifier::{Report, Tolerance, Verdict};

fn ids(values: &[i64]) -> ArrayRef {
    Arc::new(Int64Array::from(values.to_vec()))
}

fn strings(values: &[Option<&str>]) -> ArrayRef {
    Arc::new(StringArray::from(values.to_vec()))
}

fn f64s(values: &[Option<f64>]) -> ArrayRef {
    Arc::new(Float64Array::from(values.to_vec()))
}

fn run(baseline: arrow::array::RecordBatch, candidate: arrow::array::RecordBatch, key: &[&str]) -> Report {
    let dir = tempfile::tempdir().unwrap();
    diff(&parquet_pair(dir.path(), baseline, candidate, key))
}

fn changed_columns(report: &Report) -> Vec<(String, u64)> {
    report.columns.iter().filter(|c| c.mismatches > 0).map(|c| (c.name.clone(), c.mismatches)).collect()
}

#[test]
fn columns_match_by_name_ignoring_case_and_order() {
    let baseline = batch(vec![
        ("ID", ids(&[1, 2])),
        ("Amount", f64s(&[Some(1.0), Some(2.0)])),
        ("name", strings(&[Some("a"), Some("b")])),
    ]);
    let candidate = batch(vec![
        ("name", strings(&[Some("a"), Some("b")])),
        ("id", ids(&[1, 2])),
        ("amount", f64s(&[Some(1.0), Some(2.0)])),
    ]);
    let report = run(baseline, candidate, &["id"]);
    assert_eq!(report.verdict, Verdict::Consistent, "{:#?}", report.schema);
    assert_eq!(report.summary.matched, 2);
}

#[test]
fn renamed_and_ignored_columns() {
    let baseline = batch(vec![
        ("id", ids(&[1, 2])),
        ("amt", f64s(&[Some(1.0), Some(2.0)])),
        ("etl_time", strings(&[Some("t1"), Some("t2")])),
    ]);
    let candidate = batch(vec![
        ("id", ids(&[1, 2])),
        ("amount", f64s(&[Some(1.0), Some(2.0)])),
        ("etl_time", strings(&[Some("u1"), Some("u2")])),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let mut spec = parquet_pair(dir.path(), baseline, candidate, &["id"]);
    let plain = diff(&spec);
    assert_eq!(plain.schema.only_in_baseline, ["amt"]);
    assert_eq!(plain.schema.only_in_candidate, ["amount"]);
    assert_eq!(changed_columns(&plain), [("etl_time".to_owned(), 2)]);
    spec.options.rename.insert("AMT".to_owned(), "amount".to_owned());
    spec.options.ignore.push("ETL_TIME".to_owned());
    let report = diff(&spec);
    assert_eq!(report.verdict, Verdict::Consistent, "{report:#?}");
    assert_eq!(
        report.columns.iter().find(|c| c.name == "amt").and_then(|c| c.candidate_name.as_deref()),
        Some("amount")
    );
}

#[test]
fn integers_of_any_width_compare_by_value_and_the_type_change_is_reported() {
    let baseline = batch(vec![
        ("id", Arc::new(Int32Array::from(vec![1, 2, 3])) as ArrayRef),
        ("n", Arc::new(Int32Array::from(vec![Some(-5), None, Some(7)])) as ArrayRef),
    ]);
    let candidate = batch(vec![("id", ids(&[1, 2, 3])), ("n", ids(&[-5, 0, 7]))]);
    let report = run(baseline, candidate, &["id"]);
    assert_eq!(report.summary.matched, 2, "int32 key 1 matches int64 key 1");
    assert_eq!(changed_columns(&report), [("n".to_owned(), 1)], "NULL is not 0");
    let types: Vec<_> = report
        .schema
        .type_changes
        .iter()
        .map(|c| (c.name.as_str(), c.baseline.as_str(), c.candidate.as_str()))
        .collect();
    assert_eq!(types, [("id", "int", "bigint"), ("n", "int", "bigint")]);
    assert_eq!(report.verdict, Verdict::Inconsistent, "a type difference is a finding");
}

#[test]
fn decimals_compare_by_value_whatever_their_scale() {
    let decimal = |values: Vec<i128>, precision: u8, scale: i8| -> ArrayRef {
        Arc::new(Decimal128Array::from(values).with_precision_and_scale(precision, scale).unwrap())
    };
    // 10.50 = 10.5, 0.00 = 0, -1.10 = -1.1; but 10.51 != 10.5.
    let baseline = batch(vec![("id", ids(&[1, 2, 3, 4])), ("amount", decimal(vec![1050, 0, -110, 1051], 10, 2))]);
    let candidate = batch(vec![("id", ids(&[1, 2, 3, 4])), ("amount", decimal(vec![10500, 0, -1100, 10500], 18, 3))]);
    let report = run(baseline, candidate, &["id"]);
    assert_eq!(report.summary.matched, 3);
    assert_eq!(report.summary.changed, 1);
    assert_eq!(report.samples.changed[0].key["id"], 4);
    assert_eq!(report.schema.type_changes[0].baseline, "decimal(10,2)");
}

#[test]
fn float32_is_widened_nan_equals_nan_and_negative_zero_equals_zero() {
    let baseline = batch(vec![
        ("id", ids(&[1, 2, 3, 4, 5])),
        (
            "x",
            Arc::new(Float32Array::from(vec![Some(0.1f32), Some(f32::NAN), Some(-0.0), None, Some(1.0)])) as ArrayRef,
        ),
    ]);
    let candidate = batch(vec![
        ("id", ids(&[1, 2, 3, 4, 5])),
        ("x", f64s(&[Some(f64::from(0.1f32)), Some(f64::NAN), Some(0.0), None, Some(1.000_001)])),
    ]);
    let report = run(baseline, candidate, &["id"]);
    assert_eq!(report.summary.matched, 4, "{:#?}", report.samples.changed);
    assert_eq!(report.samples.changed[0].key["id"], 5, "floats are exact without a tolerance");
}

#[test]
fn float_tolerances_absolute_relative_and_per_column() {
    let baseline = batch(vec![
        ("id", ids(&[1, 2, 3, 4])),
        ("price", f64s(&[Some(0.9999), Some(100.0), Some(5.0), Some(f64::NAN)])),
        ("ratio", f64s(&[Some(1000.0), Some(1.0), Some(2.0), Some(3.0)])),
    ]);
    let candidate = batch(vec![
        ("id", ids(&[1, 2, 3, 4])),
        // 0.9999 -> 1.0001 straddles a quantum boundary yet is within 0.001.
        ("price", f64s(&[Some(1.0001), Some(100.002), Some(5.0), Some(f64::NAN)])),
        ("ratio", f64s(&[Some(1000.9), Some(1.0), Some(2.0), Some(3.0)])),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let mut spec = parquet_pair(dir.path(), baseline, candidate, &["id"]);
    let exact = diff(&spec);
    assert_eq!(exact.summary.changed, 2);
    spec.options.tolerance = Tolerance { absolute: Some(0.001), relative: None };
    let absolute = diff(&spec);
    assert_eq!(
        changed_columns(&absolute),
        [("price".to_owned(), 1), ("ratio".to_owned(), 1)],
        "100 vs 100.002 exceeds 0.001"
    );
    spec.options.column_tolerances.insert("ratio".to_owned(), Tolerance { absolute: None, relative: Some(0.001) });
    spec.options.column_tolerances.insert("price".to_owned(), Tolerance { absolute: Some(0.01), relative: None });
    let per_column = diff(&spec);
    assert_eq!(per_column.verdict, Verdict::Consistent, "{:#?}", per_column.samples.changed);
}

#[test]
fn timestamps_compare_as_instants_whatever_unit_and_zone() {
    let millis: ArrayRef = Arc::new(TimestampMillisecondArray::from(vec![Some(1_714_521_600_123), None, Some(0)]));
    let nanos: ArrayRef = Arc::new(
        TimestampNanosecondArray::from(vec![Some(1_714_521_600_123_000_000), None, Some(1)]).with_timezone("UTC"),
    );
    let report = run(
        batch(vec![("id", ids(&[1, 2, 3])), ("ts", millis)]),
        batch(vec![("id", ids(&[1, 2, 3])), ("ts", nanos)]),
        &["id"],
    );
    assert_eq!(report.summary.matched, 2);
    assert_eq!(report.summary.changed, 1, "one nanosecond is a difference");
    assert_eq!(report.schema.type_changes[0].candidate, "timestamp with local time zone");
}

#[test]
fn char_padding_is_ignored_only_on_request() {
    let baseline = batch(vec![("id", ids(&[1, 2])), ("code", strings(&[Some("ab   "), Some(" x")]))]);
    let candidate = batch(vec![("id", ids(&[1, 2])), ("code", strings(&[Some("ab"), Some("x")]))]);
    let dir = tempfile::tempdir().unwrap();
    let mut spec = parquet_pair(dir.path(), baseline, candidate, &["id"]);
    assert_eq!(diff(&spec).summary.changed, 2);
    spec.options.trim_trailing_spaces = true;
    let trimmed = diff(&spec);
    assert_eq!(trimmed.summary.changed, 1, "leading spaces still count");
    assert_eq!(trimmed.samples.changed[0].key["id"], 2);
}

#[test]
fn null_equals_null_and_null_differs_from_a_value() {
    let baseline = batch(vec![("id", ids(&[1, 2, 3])), ("s", strings(&[None, Some(""), None]))]);
    let candidate = batch(vec![("id", ids(&[1, 2, 3])), ("s", strings(&[None, None, Some("NULL")]))]);
    let report = run(baseline, candidate, &["id"]);
    assert_eq!(report.summary.matched, 1);
    assert_eq!(report.summary.changed, 2, "'' and 'NULL' are values, not NULL");
}

fn map_array(entries: &[&[(&str, i32)]]) -> ArrayRef {
    let mut builder = MapBuilder::new(None, StringBuilder::new(), Int32Builder::new());
    for map in entries {
        for (k, v) in *map {
            builder.keys().append_value(k);
            builder.values().append_value(*v);
        }
        builder.append(true).unwrap();
    }
    Arc::new(builder.finish())
}

#[test]
fn maps_compare_as_unordered_sets_of_entries() {
    let baseline =
        batch(vec![("id", ids(&[1, 2, 3])), ("attrs", map_array(&[&[("a", 1), ("b", 2)], &[("a", 1)], &[]]))]);
    let candidate =
        batch(vec![("id", ids(&[1, 2, 3])), ("attrs", map_array(&[&[("b", 2), ("a", 1)], &[("a", 2)], &[]]))]);
    let report = run(baseline, candidate, &["id"]);
    assert_eq!(report.summary.matched, 2, "a reordered map is not a change");
    assert_eq!(report.samples.changed[0].key["id"], 2);
}

fn list_array(lists: &[&[i32]]) -> ArrayRef {
    let mut builder = ListBuilder::new(Int32Builder::new());
    for list in lists {
        builder.append_value(list.iter().map(|v| Some(*v)));
    }
    Arc::new(builder.finish())
}

#[test]
fn lists_compare_in_order() {
    let report = run(
        batch(vec![("id", ids(&[1, 2])), ("tags", list_array(&[&[1, 2], &[3]]))]),
        batch(vec![("id", ids(&[1, 2])), ("tags", list_array(&[&[2, 1], &[3]]))]),
        &["id"],
    );
    assert_eq!((report.summary.matched, report.summary.changed), (1, 1));
}

#[test]
fn structs_compare_field_by_field_by_name() {
    let a: ArrayRef = Arc::new(Int32Array::from(vec![1, 2]));
    let b: ArrayRef = strings(&[Some("x"), Some("y")]);
    let b2: ArrayRef = strings(&[Some("x"), Some("z")]);
    let baseline_struct = StructArray::from(vec![
        (Arc::new(Field::new("a", DataType::Int32, true)), a.clone()),
        (Arc::new(Field::new("b", DataType::Utf8, true)), b),
    ]);
    let candidate_struct = StructArray::from(vec![
        (Arc::new(Field::new("B", DataType::Utf8, true)), b2),
        (Arc::new(Field::new("A", DataType::Int32, true)), a),
    ]);
    let report = run(
        batch(vec![("id", ids(&[1, 2])), ("s", Arc::new(baseline_struct))]),
        batch(vec![("id", ids(&[1, 2])), ("s", Arc::new(candidate_struct))]),
        &["id"],
    );
    assert_eq!((report.summary.matched, report.summary.changed), (1, 1));
    assert_eq!(report.samples.changed[0].key["id"], 2);
}

#[test]
fn composite_keys_of_strings_decimals_dates_and_timestamps() {
    let key_columns = |shift: i64| -> Vec<(&'static str, ArrayRef)> {
        vec![
            ("region", strings(&[Some("eu"), Some("eu"), Some("us")])),
            ("day", Arc::new(Date32Array::from(vec![19_000, 19_001, 19_000])) as ArrayRef),
            (
                "price",
                Arc::new(Decimal128Array::from(vec![100, 100, 250]).with_precision_and_scale(10, 2).unwrap())
                    as ArrayRef,
            ),
            ("at", Arc::new(TimestampMillisecondArray::from(vec![1000, 1000, 1000 + shift])) as ArrayRef),
        ]
    };
    let mut baseline = key_columns(0);
    baseline.push(("qty", ids(&[1, 2, 3])));
    let mut candidate = key_columns(1);
    candidate.push(("qty", ids(&[1, 5, 3])));
    let report = run(batch(baseline), batch(candidate), &["region", "day", "price", "at"]);
    assert_eq!(report.summary.matched, 1);
    assert_eq!(report.summary.changed, 1, "(eu, day 19001) changed qty");
    assert_eq!((report.summary.only_in_baseline, report.summary.only_in_candidate), (1, 1), "the us key moved by 1 ms");
    assert_eq!(report.samples.changed[0].key.keys().collect::<Vec<_>>(), ["region", "day", "price", "at"]);
}

#[test]
fn null_keys_are_counted_and_sampled_per_side_not_matched() {
    let baseline =
        batch(vec![("k1", strings(&[Some("a"), None, Some("c")])), ("k2", ids(&[1, 2, 3])), ("v", ids(&[10, 20, 30]))]);
    let candidate =
        batch(vec![("k1", strings(&[Some("a"), None, None])), ("k2", ids(&[1, 2, 3])), ("v", ids(&[10, 20, 30]))]);
    let report = run(baseline, candidate, &["k1", "k2"]);
    assert_eq!(report.summary.matched, 1);
    assert_eq!((report.summary.null_keys_baseline, report.summary.null_keys_candidate), (1, 2));
    assert_eq!(report.summary.only_in_baseline, 1, "(c, 3) has no partner: the candidate's is a NULL key");
    assert!(!report.summary.null_key_rows_match);
    assert_eq!(report.samples.null_keys_candidate.len(), 2);
    assert_eq!(report.samples.null_keys_baseline[0]["v"], 20);
    let rows = |r: &Report| r.baseline.rows;
    assert_eq!(
        rows(&report),
        report.summary.matched
            + report.summary.changed
            + report.summary.only_in_baseline
            + report.summary.null_keys_baseline
    );
}

#[test]
fn equal_null_key_rows_on_both_sides_are_consistent() {
    let side = || batch(vec![("k", strings(&[Some("a"), None])), ("v", ids(&[1, 2]))]);
    let report = run(side(), side(), &["k"]);
    assert_eq!(report.summary.null_keys_baseline, 1);
    assert!(report.summary.null_key_rows_match);
    assert_eq!(report.verdict, Verdict::Consistent);
}

#[test]
fn duplicate_keys_are_counted_sampled_and_compared_as_multisets() {
    // Key 1: two equal rows on both sides (all match). Key 2: rows {a, b} vs {b, c}: b matches,
    // a and c are left over; pairing by position would report two changes.
    let baseline = batch(vec![
        ("id", ids(&[1, 1, 2, 2, 3])),
        ("v", strings(&[Some("x"), Some("x"), Some("a"), Some("b"), Some("s")])),
    ]);
    let candidate = batch(vec![
        ("id", ids(&[1, 1, 2, 2, 3])),
        ("v", strings(&[Some("x"), Some("x"), Some("b"), Some("c"), Some("s")])),
    ]);
    let report = run(baseline, candidate, &["id"]);
    let s = &report.summary;
    assert_eq!((s.duplicate_keys_baseline, s.duplicate_keys_candidate), (2, 2));
    assert_eq!((s.matched, s.changed, s.only_in_baseline, s.only_in_candidate), (4, 0, 1, 1));
    assert_eq!(report.samples.duplicate_keys.len(), 2);
    assert_eq!(report.samples.duplicate_keys[1].baseline_rows, 2);
    assert_eq!(report.samples.only_in_baseline[0]["v"], "a");
    assert_eq!(report.samples.only_in_candidate[0]["v"], "c");
}

#[test]
fn duplicate_keys_on_one_side_only() {
    let baseline = batch(vec![("id", ids(&[7, 7, 7])), ("v", ids(&[1, 1, 2]))]);
    let candidate = batch(vec![("id", ids(&[7])), ("v", ids(&[1]))]);
    let report = run(baseline, candidate, &["id"]);
    let s = &report.summary;
    assert_eq!((s.duplicate_keys_baseline, s.duplicate_keys_candidate, s.matched, s.only_in_baseline), (1, 0, 1, 2));
    assert_eq!(report.samples.duplicate_keys[0].candidate_rows, 1);
    // Only the baseline keeps key hashes for finding duplicates; the candidate's are found where
    // the digests differ, which a duplicate on one side makes them do.
    let baseline = batch(vec![("id", ids(&[7, 8])), ("v", ids(&[1, 2]))]);
    let candidate = batch(vec![("id", ids(&[7, 8, 8])), ("v", ids(&[1, 2, 2]))]);
    let report = run(baseline, candidate, &["id"]);
    let s = &report.summary;
    assert_eq!((s.duplicate_keys_baseline, s.duplicate_keys_candidate, s.matched, s.only_in_candidate), (0, 1, 2, 1));
}

#[test]
fn without_a_key_rows_are_compared_as_multisets() {
    let baseline = batch(vec![("a", ids(&[1, 1, 2, 3])), ("b", strings(&[Some("x"), Some("x"), None, Some("z")]))]);
    let candidate = batch(vec![("a", ids(&[3, 1, 2, 2])), ("b", strings(&[Some("z"), Some("x"), None, None]))]);
    let report = run(baseline, candidate, &[]);
    assert_eq!(report.mode, "multiset");
    let s = &report.summary;
    assert_eq!((s.matched, s.only_in_baseline, s.only_in_candidate, s.changed), (3, 1, 1, 0));
    assert_eq!(report.samples.only_in_candidate[0]["b"], serde_json::Value::Null);
}

#[test]
fn one_sided_and_incomparable_columns_are_schema_findings_not_compared() {
    let baseline = batch(vec![("id", ids(&[1])), ("legacy", ids(&[1])), ("code", ids(&[42]))]);
    let candidate = batch(vec![
        ("id", ids(&[1])),
        ("code", strings(&[Some("42")])),
        ("added", Arc::new(BooleanArray::from(vec![true])) as ArrayRef),
    ]);
    let report = run(baseline, candidate, &["id"]);
    assert_eq!(report.schema.only_in_baseline, ["legacy"]);
    assert_eq!(report.schema.only_in_candidate, ["added"]);
    assert_eq!(report.schema.type_changes.len(), 1);
    assert!(!report.schema.type_changes[0].comparable);
    assert_eq!(report.summary.matched, 1, "the rows agree on every compared column");
    assert!(report.columns.iter().all(|c| c.name != "code"));
    assert_eq!(report.verdict, Verdict::Inconsistent);
}

#[test]
fn orc_written_data_diffs_like_parquet() {
    let dir = tempfile::tempdir().unwrap();
    let baseline = batch(vec![("id", ids(&[1, 2, 3])), ("v", f64s(&[Some(1.0), Some(-0.0), None]))]);
    let candidate = batch(vec![("id", ids(&[3, 2, 1])), ("v", f64s(&[None, Some(0.0), Some(1.5)]))]);
    write_orc(&dir.path().join("b/dt=2024-05-01/000000_0"), &[baseline]);
    write_orc(&dir.path().join("c/dt=2024-05-01/000000_0"), &[candidate]);
    let spec = verifier::DiffSpec::new(
        dqc_tests::path_str(&dir.path().join("b")),
        dqc_tests::path_str(&dir.path().join("c")),
        &["id"],
    );
    let report = try_diff(&spec).unwrap();
    assert_eq!((report.summary.matched, report.summary.changed), (2, 1));
}

#[test]
fn duplicate_keys_are_found_when_key_hashes_spill_to_disk() {
    // 20,000 rows with a 64 KiB memory limit: the key hashes spill (1,024 in memory at most).
    let n = 20_000i64;
    let id_values: Vec<i64> = (0..n).map(|i| if i % 5_000 == 4_999 { i - 1 } else { i }).collect();
    let side = || batch(vec![("id", ids(&id_values)), ("v", ids(&(0..n).collect::<Vec<_>>()))]);
    let dir = tempfile::tempdir().unwrap();
    let mut spec = parquet_pair(dir.path(), side(), side(), &["id"]);
    spec.limits.memory_limit = Some(64 << 10);
    let report = diff(&spec);
    let s = &report.summary;
    assert_eq!(
        (s.duplicate_keys_baseline, s.duplicate_keys_candidate),
        (4, 4),
        "equal buckets still reveal duplicates"
    );
    assert_eq!((s.matched, s.changed, s.only_in_baseline), (n as u64, 0, 0));
    assert_eq!(report.verdict, Verdict::Consistent, "equal duplicate groups match as multisets");
}
