//! The ORC fixtures from real producers (Spark's Java ORC writer, Arrow C++) report exactly
//! their ground truth, `expected.json`, within and across producers.

use dqc_tests::{diff, orc_fixtures, path_str};
use serde_json::Value;
use verifier::{DiffSpec, Verdict};

fn expected() -> Value {
    let text = std::fs::read_to_string(orc_fixtures().join("expected.json")).expect("expected.json");
    serde_json::from_str(&text).expect("valid expected.json")
}

fn sample_keys(rows: &[serde_json::Map<String, Value>]) -> Vec<i64> {
    let mut keys: Vec<i64> = rows.iter().map(|r| r["id"].as_i64().expect("integer id")).collect();
    keys.sort_unstable();
    keys
}

fn check_pair(baseline: &str, candidate: &str) -> verifier::Report {
    let spec =
        DiffSpec::new(path_str(&orc_fixtures().join(baseline)), path_str(&orc_fixtures().join(candidate)), &["id"]);
    check_spec(spec)
}

/// Diffs `spec` (keyed on `id`, 100 samples) and checks the report against the ground truth of
/// a baseline and a candidate fixture, wherever `spec` reads them from.
pub(crate) fn check_spec(mut spec: DiffSpec) -> verifier::Report {
    let expected = expected();
    let (baseline, candidate) = (spec.baseline.clone(), spec.candidate.clone());
    spec.options.sample_limit = 100;
    let report = diff(&spec);
    let summary = serde_json::to_value(&report.summary).unwrap();
    for field in ["matched", "only_in_baseline", "only_in_candidate", "changed"] {
        assert_eq!(summary[field], expected[field], "{baseline} vs {candidate}: {field}");
    }
    for field in ["duplicate_keys_baseline", "duplicate_keys_candidate", "null_keys_baseline", "null_keys_candidate"] {
        assert_eq!(summary[field], 0, "{baseline} vs {candidate}: {field}");
    }
    assert_eq!(report.baseline.rows, expected["baseline_rows"].as_u64().unwrap());
    assert_eq!(report.candidate.rows, expected["candidate_rows"].as_u64().unwrap());
    let changed_by_column = expected["changed_by_column"].as_object().unwrap();
    for column in &report.columns {
        let want = changed_by_column.get(&column.name).and_then(Value::as_u64).unwrap_or(0);
        assert_eq!(column.mismatches, want, "{baseline} vs {candidate}: mismatches of {}", column.name);
    }
    assert_eq!(report.columns.iter().filter(|c| c.mismatches > 0).count(), changed_by_column.len());
    let keys =
        |name: &str| -> Vec<i64> { expected[name].as_array().unwrap().iter().map(|v| v.as_i64().unwrap()).collect() };
    assert_eq!(sample_keys(&report.samples.only_in_baseline), keys("only_in_baseline_keys"));
    assert_eq!(sample_keys(&report.samples.only_in_candidate), keys("only_in_candidate_keys"));
    assert_eq!(report.verdict, Verdict::Inconsistent);
    // The footers count 1000 rows against 999: the first read is kept, there is no second.
    assert!(report.buckets.footers_differ && !report.buckets.read_again, "{:?}", report.buckets);
    report
}

#[test]
fn spark_pair_reports_the_ground_truth() {
    let report = check_pair("spark/baseline", "spark/candidate");
    assert!(report.schema.is_empty(), "{:?}", report.schema);
    assert_eq!((report.baseline.files, report.candidate.files), (2, 3), "hidden files skipped, 000000_0 read");
}

#[test]
fn arrow_pair_reports_the_ground_truth() {
    let report = check_pair("arrow/baseline", "arrow/candidate");
    assert!(report.schema.is_empty(), "{:?}", report.schema);
}

#[test]
fn cross_producer_pair_reports_the_ground_truth_and_the_timestamp_type() {
    let report = check_pair("spark/baseline", "arrow/candidate");
    assert!(report.schema.only_in_baseline.is_empty() && report.schema.only_in_candidate.is_empty());
    let changes: Vec<_> = report
        .schema
        .type_changes
        .iter()
        .map(|c| (c.name.as_str(), c.baseline.as_str(), c.candidate.as_str(), c.comparable))
        .collect();
    assert_eq!(changes, [("c_ts", "timestamp", "timestamp with local time zone", true)]);
}

#[test]
fn each_fixture_side_is_consistent_with_itself_and_across_producers() {
    for (baseline, candidate) in [
        ("spark/baseline", "spark/baseline"),
        ("arrow/candidate", "arrow/candidate"),
        ("spark/candidate", "arrow/candidate"),
    ] {
        let spec =
            DiffSpec::new(path_str(&orc_fixtures().join(baseline)), path_str(&orc_fixtures().join(candidate)), &["id"]);
        let report = diff(&spec);
        assert_eq!(
            report.summary.changed + report.summary.only_in_baseline + report.summary.only_in_candidate,
            0,
            "{baseline} vs {candidate}"
        );
        assert_eq!(report.summary.matched, report.baseline.rows);
        // Java's and Arrow C++'s ORC writers count values and sum integers alike.
        assert!(!report.buckets.footers_differ, "{baseline} vs {candidate}");
    }
}

#[test]
fn file_urls_name_the_same_datasets_as_paths() {
    let url = |side: &str| format!("file://{}", std::fs::canonicalize(orc_fixtures().join(side)).unwrap().display());
    let report = diff(&DiffSpec::new(url("spark/baseline"), url("spark/candidate"), &["id"]));
    assert_eq!((report.summary.matched, report.summary.changed), (985, 10));
}

/// Records what the engine reports.
#[derive(Debug, Default)]
struct Recorder {
    events: std::sync::Mutex<Vec<(verifier::Pass, u64, u64)>>,
}

impl verifier::Progress for Recorder {
    fn start_pass(&self, pass: verifier::Pass, total_rows: u64) {
        self.events.lock().unwrap().push((pass, total_rows, 0));
    }

    fn add_rows(&self, rows: u64) {
        if let Some(last) = self.events.lock().unwrap().last_mut() {
            last.2 += rows;
        }
    }
}

#[test]
fn progress_reports_each_pass_with_the_footer_row_count() {
    let spec = DiffSpec::new(
        path_str(&orc_fixtures().join("spark/baseline")),
        path_str(&orc_fixtures().join("spark/candidate")),
        &["id"],
    );
    let recorder = std::sync::Arc::new(Recorder::default());
    dqc_tests::runtime().block_on(verifier::diff_with_progress(&spec, recorder.clone())).unwrap();
    let events = recorder.events.lock().unwrap().clone();
    assert_eq!(events, [(verifier::Pass::Fingerprint, 1999, 1999), (verifier::Pass::Diff, 1999, 1999)]);
    let equal = DiffSpec::new(spec.baseline.clone(), spec.baseline.clone(), &["id"]);
    let recorder = std::sync::Arc::new(Recorder::default());
    dqc_tests::runtime().block_on(verifier::diff_with_progress(&equal, recorder.clone())).unwrap();
    assert_eq!(
        recorder.events.lock().unwrap().clone(),
        [(verifier::Pass::Fingerprint, 2000, 2000)],
        "equal data: one pass"
    );
}
