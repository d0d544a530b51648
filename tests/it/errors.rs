//! Bad input gets a precise error naming the input, never a report that pretends.

use std::path::Path;
use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Array, StringArray};
use dqc_tests::{batch, orc_fixtures, parquet_pair, path_str, try_diff};
use verifier::{DiffSpec, Error};

fn fixture(side: &str) -> String {
    path_str(&orc_fixtures().join(side))
}

fn error_of(spec: &DiffSpec) -> Error {
    match try_diff(spec) {
        Ok(report) => panic!("expected an error, got a {:?} report", report.verdict),
        Err(error) => error,
    }
}

/// Copies the Spark baseline's data files into `dir`.
fn copy_fixture(dir: &Path) {
    let source = orc_fixtures().join("spark/baseline/dt=2024-05-01");
    std::fs::create_dir_all(dir).unwrap();
    for entry in std::fs::read_dir(source).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dir.join(entry.file_name())).unwrap();
    }
}

#[test]
fn a_path_that_does_not_exist() {
    let error = error_of(&DiffSpec::new("/no/such/table", fixture("spark/candidate"), &["id"]));
    assert!(matches!(error, Error::LocationNotFound { .. }), "{error:?}");
    assert_eq!(error.to_string(), "the baseline location `/no/such/table` does not exist");
    assert!(error.is_input());
}

#[test]
fn an_empty_directory_or_one_with_only_hidden_files() {
    let dir = tempfile::tempdir().unwrap();
    let error = error_of(&DiffSpec::new(fixture("spark/baseline"), path_str(dir.path()), &["id"]));
    assert!(error.to_string().ends_with("holds no data files"), "{error}");
    std::fs::write(dir.path().join("_SUCCESS"), b"").unwrap();
    std::fs::create_dir(dir.path().join("_temporary")).unwrap();
    std::fs::write(dir.path().join("_temporary/part-0.orc"), b"ORC junk").unwrap();
    let error = error_of(&DiffSpec::new(fixture("spark/baseline"), path_str(dir.path()), &["id"]));
    assert!(matches!(error, Error::EmptyDataset { .. }), "{error:?}");
}

#[test]
fn a_truncated_orc_file() {
    let dir = tempfile::tempdir().unwrap();
    copy_fixture(dir.path());
    let victim = dir.path().join("part-00001-4249cc4f-a202-48e3-98b9-0d78438c8c3b-c000.zlib.orc");
    let bytes = std::fs::read(&victim).unwrap();
    std::fs::write(&victim, &bytes[..bytes.len() / 2]).unwrap();
    let error = error_of(&DiffSpec::new(path_str(dir.path()), fixture("spark/candidate"), &["id"]));
    assert!(matches!(error, Error::UnreadableFile { .. }), "{error:?}");
    let message = error.to_string();
    assert!(message.starts_with("cannot read the baseline file `"), "{message}");
    assert!(message.contains("part-00001-4249cc4f"), "names the file: {message}");
}

#[test]
fn a_file_that_is_neither_orc_nor_parquet() {
    let dir = tempfile::tempdir().unwrap();
    copy_fixture(dir.path());
    std::fs::write(dir.path().join("export.csv"), "id,amount\n1,2\n").unwrap();
    let error = error_of(&DiffSpec::new(path_str(dir.path()), fixture("spark/candidate"), &["id"]));
    assert!(matches!(error, Error::UnknownFormat { .. }), "{error:?}");
    assert!(
        error.to_string().contains("export.csv` is neither ORC nor Parquet (its first bytes are neither magic)"),
        "{error}"
    );
}

#[test]
fn a_key_column_missing_on_one_side() {
    let dir = tempfile::tempdir().unwrap();
    let baseline = batch(vec![("order_id", Arc::new(Int64Array::from(vec![1])) as ArrayRef)]);
    let candidate = batch(vec![("id", Arc::new(Int64Array::from(vec![1])) as ArrayRef)]);
    let spec = parquet_pair(dir.path(), baseline, candidate, &["order_id"]);
    let error = error_of(&spec);
    assert!(matches!(error, Error::MissingKeyColumn { .. }), "{error:?}");
    assert_eq!(
        error.to_string(),
        format!("key column `order_id` not found in the candidate dataset at {}", spec.candidate)
    );
    let error = error_of(&DiffSpec { key: vec!["nope".to_owned()], ..spec });
    assert!(error.to_string().starts_with("key column `nope` not found in the baseline dataset"), "{error}");
}

#[test]
fn key_columns_whose_types_cannot_be_compared() {
    let dir = tempfile::tempdir().unwrap();
    let baseline = batch(vec![("id", Arc::new(StringArray::from(vec!["1"])) as ArrayRef)]);
    let candidate = batch(vec![("id", Arc::new(Int64Array::from(vec![1])) as ArrayRef)]);
    let error = error_of(&parquet_pair(dir.path(), baseline, candidate, &["id"]));
    assert!(matches!(error, Error::IncomparableKey { .. }), "{error:?}");
    assert_eq!(
        error.to_string(),
        "key column `id` cannot be compared: string in the baseline, bigint in the candidate"
    );
}

#[test]
fn options_that_do_not_fit_the_data() {
    let mut spec = DiffSpec::new(fixture("spark/baseline"), fixture("spark/candidate"), &["id"]);
    spec.options
        .column_tolerances
        .insert("c_string".to_owned(), verifier::Tolerance { absolute: Some(1.0), relative: None });
    assert_eq!(error_of(&spec).to_string(), "invalid option: tolerance for `c_string`: it is string, not a number");
    spec.options.column_tolerances.clear();
    spec.options.rename.insert("c_int".to_owned(), "c_integer".to_owned());
    assert_eq!(
        error_of(&spec).to_string(),
        "invalid option: rename `c_int=c_integer`: the candidate has no column `c_integer`"
    );
    spec.options.rename.clear();
    spec.options.filter = Some("dt = = 1".to_owned());
    assert!(
        error_of(&spec).to_string().starts_with("invalid option: the filter `dt = = 1` is not a valid SQL predicate")
    );
}

#[test]
fn a_filter_on_the_partition_column_selects_rows() {
    let mut spec = DiffSpec::new(fixture("spark/baseline"), fixture("spark/candidate"), &["id"]);
    spec.options.filter = Some("dt = '2024-05-01' AND id <= 10".to_owned());
    let report = try_diff(&spec).unwrap();
    assert_eq!((report.baseline.rows, report.candidate.rows), (10, 9));
    assert_eq!(report.summary.only_in_baseline, 1, "key 3");
}
