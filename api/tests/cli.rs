//! The `dqc` binary as users run it: `dqc diff` on the real fixtures (exit codes 0 / 1 / 2), and
//! `dqc token`.

use std::path::PathBuf;
use std::process::{Command, Output};

use arrow::array::{Array, AsArray};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::Value;

fn fixture(side: &str) -> String {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../testdata/fixtures/orc");
    root.join(side).to_string_lossy().into_owned()
}

fn dqc(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dqc")).args(args).output().expect("run dqc")
}

/// `dqc diff` of two fixture sides by `id`, with `extra` arguments.
fn diff_fixtures(baseline: &str, candidate: &str, extra: &[&str]) -> Output {
    let (baseline, candidate) = (fixture(baseline), fixture(candidate));
    let mut args = vec!["diff", "--baseline", &baseline, "--candidate", &candidate, "--key", "id"];
    args.extend_from_slice(extra);
    dqc(&args)
}

/// Asserts that dqc exited 2 with `message` on stderr.
fn assert_fails_with(output: &Output, message: &str) {
    assert_eq!(output.status.code(), Some(2), "{}", stderr(output));
    assert!(stderr(output).contains(message), "expected `{message}` in `{}`", stderr(output));
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn inconsistent_pair_exits_1_with_a_readable_text_report() {
    let output = diff_fixtures("spark/baseline", "spark/candidate", &["--sample", "3"]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(text.starts_with("verdict: INCONSISTENT   key: id"), "{text}");
    for line in [
        "  matched                              985",
        "  changed                               10",
        "  only in baseline                       5",
        "  only in candidate                      4",
    ] {
        assert!(text.contains(line), "missing `{line}` in\n{text}");
    }
    assert!(text.contains("  c_map                              1  {\"k\":80,\"z\":-80} -> {\"k\":1}"), "{text}");
    assert!(text.contains("   * c_int "), "the differing cell is marked:\n{text}");
    assert_eq!(text.matches("  key id=").count(), 3, "--sample bounds the samples");
}

#[test]
fn consistent_pair_exits_0_and_json_follows_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    let output_path = dir.path().join("report.json");
    let output = diff_fixtures(
        "spark/candidate",
        "arrow/candidate",
        &["--format", "json", "--output", output_path.to_str().unwrap(), "--ignore", "c_ts"],
    );
    assert_eq!(output.status.code(), Some(0), "{}\n{}", stdout(&output), stderr(&output));
    let report: Value = serde_json::from_str(&stdout(&output)).expect("JSON on stdout");
    let written: Value =
        serde_json::from_str(&std::fs::read_to_string(&output_path).unwrap()).expect("JSON in --output");
    assert_eq!(report["summary"], written["summary"]);
    assert_eq!(report["verdict"], "consistent");
    for field in ["verdict", "baseline", "candidate", "summary", "columns", "schema", "samples", "elapsed_ms"] {
        assert!(report.get(field).is_some(), "contract field `{field}` missing");
    }
    for field in [
        "matched",
        "only_in_baseline",
        "only_in_candidate",
        "changed",
        "duplicate_keys_baseline",
        "duplicate_keys_candidate",
        "null_keys_baseline",
        "null_keys_candidate",
    ] {
        assert!(report["summary"][field].is_u64(), "summary.{field}");
    }
    assert_eq!(report["baseline"]["rows"], 999);
    assert_eq!(report["candidate"]["files"], 1);
    assert!(report["columns"][0]["mismatches"].is_u64() && report["columns"][0]["samples"].is_array());
    for field in ["only_in_baseline", "only_in_candidate", "type_changes"] {
        assert!(report["schema"][field].is_array(), "schema.{field}");
    }
    for field in ["only_in_baseline", "only_in_candidate", "changed"] {
        assert!(report["samples"][field].is_array(), "samples.{field}");
    }
}

#[test]
fn export_writes_every_differing_row_as_parquet() {
    let dir = tempfile::tempdir().unwrap();
    let export = dir.path().join("diff.parquet");
    let output =
        diff_fixtures("arrow/baseline", "spark/candidate", &["--sample", "1", "--export", export.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let file = std::fs::File::open(&export).expect("export written");
    let reader = ParquetRecordBatchReaderBuilder::try_new(file).unwrap().build().unwrap();
    let batches: Vec<_> = reader.map(Result::unwrap).collect();
    let batch = arrow::compute::concat_batches(&batches[0].schema(), &batches).unwrap();
    assert_eq!(batch.num_rows(), 19, "5 + 4 + 10 differing rows, not bounded by --sample");
    let kinds = batch.column_by_name("kind").unwrap().as_string::<i32>();
    let count = |kind: &str| kinds.iter().filter(|k| *k == Some(kind)).count();
    assert_eq!((count("only_in_baseline"), count("only_in_candidate"), count("changed")), (5, 4, 10));
    let changed = batch.column_by_name("changed_columns").unwrap().as_list::<i32>();
    let baseline_id = batch.column_by_name("baseline_id").unwrap();
    let candidate_map = batch.column_by_name("candidate_c_map").unwrap();
    assert!(matches!(candidate_map.data_type(), arrow::datatypes::DataType::Map(..)), "typed columns");
    let mut changed_names = Vec::new();
    for row in 0..batch.num_rows() {
        match kinds.value(row) {
            "only_in_candidate" => assert!(baseline_id.is_null(row)),
            "changed" => changed_names.push(changed.value(row).as_string::<i32>().value(0).to_owned()),
            _ => assert!(baseline_id.is_valid(row)),
        }
    }
    changed_names.sort();
    assert_eq!(
        changed_names,
        ["c_array", "c_bool", "c_date", "c_dec38", "c_double", "c_int", "c_map", "c_string", "c_struct", "c_ts"]
    );
}

#[test]
fn bad_input_exits_2_with_a_message_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let not_data = dir.path().join("notes.txt");
    std::fs::write(&not_data, "hello").unwrap();
    let cases: [(&[&str], &str); 6] = [
        (
            &["--baseline", "/no/such/dir", "--candidate", &fixture("spark/candidate"), "--key", "id"],
            "error: the baseline location `/no/such/dir` does not exist",
        ),
        (
            &["--baseline", &fixture("spark/baseline"), "--candidate", empty.to_str().unwrap(), "--key", "id"],
            "holds no data files",
        ),
        (
            &["--baseline", not_data.to_str().unwrap(), "--candidate", &fixture("spark/candidate"), "--key", "id"],
            "notes.txt` is neither ORC nor Parquet",
        ),
        (
            &[
                "--baseline",
                &fixture("spark/baseline"),
                "--candidate",
                &fixture("spark/candidate"),
                "--key",
                "order_id",
            ],
            "key column `order_id` not found in the baseline dataset",
        ),
        (
            &[
                "--baseline",
                &fixture("spark/baseline"),
                "--candidate",
                &fixture("spark/candidate"),
                "--key",
                "id",
                "--abs-tol",
                "x=y",
            ],
            "--abs-tol `x=y`: `y` is not a number",
        ),
        (
            &["--baseline", "cosn://bucket/t", "--candidate", &fixture("spark/candidate"), "--key", "id"],
            "no object store serves the `cosn` scheme",
        ),
    ];
    for (args, message) in cases {
        let mut full = vec!["diff"];
        full.extend_from_slice(args);
        assert_fails_with(&dqc(&full), message);
    }
    let json = dqc(&["diff", "--baseline", "/no/such/dir", "--candidate", "/tmp", "--key", "id", "--format", "json"]);
    assert_eq!(json.status.code(), Some(2));
    let report: Value = serde_json::from_str(&stdout(&json)).unwrap();
    assert_eq!(report["verdict"], "error");
    assert!(report["error"].as_str().unwrap().contains("does not exist"));
}

#[test]
fn memory_limit_and_threads_are_accepted() {
    let output = dqc(&[
        "--threads",
        "1",
        "diff",
        "--baseline",
        &fixture("spark/baseline"),
        "--candidate",
        &fixture("arrow/baseline"),
        "--key",
        "id",
        "--memory-limit",
        "256MiB",
        "--ignore",
        "c_ts",
    ]);
    assert_eq!(output.status.code(), Some(0), "{}{}", stdout(&output), stderr(&output));
    let bad = dqc(&["diff", "--baseline", "a", "--candidate", "b", "--memory-limit", "lots"]);
    assert_eq!(bad.status.code(), Some(2), "clap usage errors exit 2 as well");
}

#[expect(clippy::unwrap_used, reason = "a test helper, failing like the tests it serves")]
fn write_parquet(path: &std::path::Path, column: arrow::array::ArrayRef) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let batch = arrow::array::RecordBatch::try_from_iter([("id", column)]).unwrap();
    let mut writer =
        parquet::arrow::ArrowWriter::try_new(std::fs::File::create(path).unwrap(), batch.schema(), None).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
}

#[test]
fn unreadable_files_and_incomparable_keys_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let truncated = dir.path().join("truncated/000000_0");
    std::fs::create_dir_all(truncated.parent().unwrap()).unwrap();
    let bytes = std::fs::read(PathBuf::from(fixture("spark/candidate")).join("dt=2024-05-01/000001_0")).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() - 100]).unwrap();
    let truncated_dir = truncated.parent().unwrap().to_str().unwrap();
    let output = dqc(&["diff", "--baseline", &fixture("spark/candidate"), "--candidate", truncated_dir, "--key", "id"]);
    assert_fails_with(&output, &format!("error: cannot read the candidate file `{}`", truncated.display()));

    let (strings, numbers) = (dir.path().join("s/part-0.parquet"), dir.path().join("n/part-0.parquet"));
    write_parquet(&strings, std::sync::Arc::new(arrow::array::StringArray::from(vec!["1"])));
    write_parquet(&numbers, std::sync::Arc::new(arrow::array::Int64Array::from(vec![1])));
    let (strings, numbers) = (strings.to_str().unwrap(), numbers.to_str().unwrap());
    let output = dqc(&["diff", "--baseline", strings, "--candidate", numbers, "--key", "id"]);
    assert_fails_with(
        &output,
        "error: key column `id` cannot be compared: string in the baseline, bigint in the candidate",
    );
    let output = dqc(&["diff", "--baseline", &fixture("spark/baseline"), "--candidate", numbers, "--key", "c_int"]);
    assert_fails_with(&output, "error: key column `c_int` not found in the candidate dataset at ");
}

#[test]
fn export_of_a_consistent_diff_is_empty_with_typed_columns() {
    let dir = tempfile::tempdir().unwrap();
    let export = dir.path().join("diff.parquet");
    let output = diff_fixtures("spark/baseline", "spark/baseline", &["--export", export.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let builder = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&export).unwrap()).unwrap();
    assert_eq!(builder.metadata().file_metadata().num_rows(), 0);
    let schema = builder.schema();
    assert_eq!(schema.field_with_name("baseline_id").unwrap().data_type(), &arrow::datatypes::DataType::Int64);
    assert!(matches!(
        schema.field_with_name("candidate_c_dec38").unwrap().data_type(),
        arrow::datatypes::DataType::Decimal128(38, 10)
    ));
}

#[test]
fn scan_decodes_a_dataset_and_reports_rows_files_and_time() {
    let output = dqc(&["scan", &fixture("spark/candidate"), "--format", "json"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let summary: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(
        (summary["rows"].as_u64(), summary["files"].as_u64(), summary["columns"].as_u64()),
        (Some(999), Some(3), Some(17))
    );
    assert!(summary["elapsed_ms"].is_u64());
    let text = dqc(&["--threads", "1", "scan", &fixture("spark/baseline")]);
    assert!(stdout(&text).starts_with("1000 rows, 17 columns, 2 files in "), "{}", stdout(&text));
    assert_fails_with(&dqc(&["scan", "/no/such/table"]), "`/no/such/table` does not exist");
}

#[test]
fn a_progress_bar_is_drawn_on_a_terminal_and_never_into_pipes() {
    let piped = diff_fixtures("spark/baseline", "spark/baseline", &[]);
    assert_eq!(piped.status.code(), Some(0));
    assert!(piped.stderr.is_empty(), "nothing on stderr when it is not a terminal: {}", stderr(&piped));
    // util-linux `script` runs dqc on a pseudo-terminal, as a person would.
    let command = format!(
        "{} diff --baseline {} --candidate {} --key id",
        env!("CARGO_BIN_EXE_dqc"),
        fixture("spark/baseline"),
        fixture("spark/candidate")
    );
    let output = Command::new("script").args(["-qec", &command, "/dev/null"]).output().expect("run script");
    let screen = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{screen}");
    assert!(screen.contains("fingerprint pass ["), "{screen}");
    assert!(screen.contains("rows, eta"), "{screen}");
    assert!(screen.contains("verdict: INCONSISTENT"), "{screen}");
}

#[test]
fn fingerprints_written_by_each_side_are_compared_by_diff() {
    let dir = tempfile::tempdir().unwrap();
    let (b, c) = (dir.path().join("b.json"), dir.path().join("c.parquet"));
    let (b, c) = (b.to_str().unwrap(), c.to_str().unwrap());
    let written = dqc(&["fingerprint", &fixture("spark/baseline"), "--key", "id", "--output", b]);
    assert_eq!(written.status.code(), Some(0), "{}", stderr(&written));
    assert!(stdout(&written).starts_with("1000 rows, "), "{}", stdout(&written));
    let written =
        dqc(&["fingerprint", &fixture("spark/candidate"), "--key", "id", "--output", c, "--side", "candidate"]);
    assert_eq!(written.status.code(), Some(0), "{}", stderr(&written));

    let full = diff_fixtures("spark/baseline", "spark/candidate", &["--format", "json"]);
    let full: Value = serde_json::from_str(&stdout(&full)).unwrap();
    let compared = dqc(&["diff", "--baseline", b, "--candidate", c, "--format", "json"]);
    assert_eq!(compared.status.code(), Some(1), "{}", stderr(&compared));
    let compared: Value = serde_json::from_str(&stdout(&compared)).unwrap();
    assert_eq!(compared["verdict"], "inconsistent");
    assert_eq!(compared["bucket_count"], full["buckets"]["count"]);
    assert_eq!(
        compared["differing_buckets"].as_array().unwrap().len() as u64,
        full["buckets"]["differing"].as_u64().unwrap()
    );

    let same = dqc(&["diff", "--baseline", b, "--candidate", b]);
    assert_eq!(same.status.code(), Some(0), "{}", stderr(&same));
    assert!(stdout(&same).starts_with("verdict: CONSISTENT (fingerprints"), "{}", stdout(&same));
    assert_fails_with(
        &dqc(&["diff", "--baseline", b, "--candidate", &fixture("spark/candidate"), "--key", "id"]),
        "one side is a fingerprint file and the other a dataset",
    );
    assert_fails_with(
        &dqc(&["fingerprint", &fixture("spark/baseline"), "--key", "id", "--output", b, "--buckets", "1000"]),
        "--buckets 1000: must be a power of two",
    );
}

#[test]
fn scan_reads_several_datasets_at_once() {
    let output = dqc(&["scan", &fixture("spark/baseline"), &fixture("spark/candidate")]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(text.lines().last().unwrap().starts_with("1999 rows in all in "), "{text}");
}

#[test]
fn token_prints_a_new_token_and_the_configuration_entry_with_its_digest() {
    let output = dqc(&["token", "--name", "ci", "--role", "operator"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let text = stdout(&output);
    let token = text.lines().find_map(|line| line.split(": ").nth(1)).expect("the token line").trim().to_owned();
    assert!(token.starts_with("dqc_") && token.len() == 36, "{token}");
    let entry = text.split_once("\n\n").expect("the entry").1;
    let config: toml::Table = toml::from_str(entry).expect("the entry is TOML");
    let tokens = config["api"]["tokens"].as_array().expect("[[api.tokens]]");
    assert_eq!(tokens[0]["name"].as_str(), Some("ci"));
    assert_eq!(tokens[0]["role"].as_str(), Some("operator"));
    assert_eq!(tokens[0]["sha256"].as_str(), Some(api::rest::hash_token(&token).as_str()));
    assert_ne!(stdout(&dqc(&["token", "--name", "ci", "--role", "operator"])), text, "a new token every time");
    let refused = dqc(&["token", "--name", "ci", "--role", "root"]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(stderr(&refused).contains("`root` is not a role (viewer, operator, admin)"), "{}", stderr(&refused));
}

/// Ctrl-C (SIGINT) during a diff on a cluster cancels its jobs there before dqc exits: here on a
/// scheduler without executors, where the jobs would wait for ever.
#[test]
fn an_interrupted_diff_on_a_cluster_cancels_its_jobs() {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let url = runtime.block_on(cluster::standalone::start(0, 1)).unwrap();
    let (baseline, candidate) = (fixture("spark/baseline"), fixture("spark/candidate"));
    let child = Command::new(env!("CARGO_BIN_EXE_dqc"))
        .args(["diff", "--baseline", &baseline, "--candidate", &candidate, "--key", "id", "--cluster", &url])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run dqc");
    std::thread::sleep(std::time::Duration::from_secs(3));
    let signalled = Command::new("kill").args(["-INT", &child.id().to_string()]).status().expect("run kill");
    assert!(signalled.success());
    let output = child.wait_with_output().expect("dqc exits");
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(stderr(&output).contains("interrupted: its jobs on the cluster were cancelled"), "{}", stderr(&output));
}

/// `--cluster` sends the reads to a Ballista cluster (here one in this test process): the JSON
/// report is the local one but for the timings and `read_again`; a cluster that does not answer
/// is an error naming it.
#[test]
fn diff_on_a_cluster_prints_the_local_report() {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let url = runtime.block_on(cluster::standalone::start(1, 2)).unwrap();
    let comparable = |output: &Output| {
        let mut report: Value = serde_json::from_str(&stdout(output)).unwrap_or_else(|_| panic!("{}", stderr(output)));
        report["elapsed_ms"] = Value::Null;
        report["buckets"]["read_again"] = Value::Null;
        report
    };
    let local = diff_fixtures("spark/baseline", "spark/candidate", &["--format", "json"]);
    let remote = diff_fixtures("spark/baseline", "spark/candidate", &["--format", "json", "--cluster", &url]);
    assert_eq!(remote.status.code(), Some(1), "{}", stderr(&remote));
    assert_eq!(comparable(&remote), comparable(&local));
    // `dqc fingerprint --cluster` writes the file written here, but for its time.
    let dir = tempfile::tempdir().unwrap();
    let fingerprint = |name: &str, extra: &[&str]| {
        let output = dir.path().join(name).to_string_lossy().into_owned();
        let baseline = fixture("spark/baseline");
        let mut args = vec!["fingerprint", baseline.as_str(), "--key", "id", "--output", output.as_str()];
        args.extend_from_slice(extra);
        let ran = dqc(&args);
        assert_eq!(ran.status.code(), Some(0), "{}", stderr(&ran));
        let mut file: Value = serde_json::from_str(&std::fs::read_to_string(&output).unwrap()).unwrap();
        file["elapsed_ms"] = Value::Null;
        file
    };
    assert_eq!(fingerprint("cluster.json", &["--cluster", &url]), fingerprint("local.json", &[]));
    // A port that was free a moment ago: connections to it are refused.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let dead = format!("df://127.0.0.1:{port}");
    assert_fails_with(
        &diff_fixtures("spark/baseline", "spark/candidate", &["--cluster", &dead]),
        &format!("the cluster at {dead}"),
    );
    assert_fails_with(
        &diff_fixtures("spark/baseline", "spark/candidate", &["--cluster", "sched:50050"]),
        "df://HOST:PORT",
    );
}

/// A warehouse of 4 tables of 30 daily partitions each, the same rows on both sides but for one
/// row fewer in the candidate's `t2/dt=17`.
fn small_warehouses(root: &std::path::Path) -> (String, String) {
    use std::sync::Arc;
    for side in ["baseline", "candidate"] {
        for table in 0..4 {
            for day in 0..30i64 {
                let ids: Vec<i64> =
                    (0..10).filter(|id| !(side == "candidate" && table == 2 && day == 17 && *id == 3)).collect();
                let batch = dqc_tests::batch(vec![
                    ("id", Arc::new(arrow::array::Int64Array::from(ids.clone())) as arrow::array::ArrayRef),
                    ("day", Arc::new(arrow::array::Int64Array::from(vec![day; ids.len()]))),
                ]);
                let path = root.join(side).join(format!("t{table}/dt={day:02}/part-0.parquet"));
                dqc_tests::write_parquet(&path, &[batch], parquet::basic::Compression::SNAPPY);
            }
        }
    }
    let side = |name: &str| root.join(name).to_string_lossy().into_owned();
    (side("baseline"), side("candidate"))
}

/// An inventory killed with SIGKILL half way, started again with its checkpoint, finishes with
/// the report of an inventory never interrupted, and takes what it had finished from the
/// checkpoint: a finished partition broken in between is not read again.
#[test]
fn an_inventory_killed_half_way_resumes_from_its_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let (baseline, candidate) = small_warehouses(dir.path());
    let checkpoint = dir.path().join("inventory.checkpoint");
    let args = |checkpoint: Option<&str>| {
        let mut args = vec!["inventory", "--baseline", &baseline, "--candidate", &candidate, "--deep", "--key", "id"];
        args.extend(["--concurrency", "1", "--format", "json"]);
        if let Some(path) = checkpoint {
            args.extend(["--checkpoint", path]);
        }
        args.into_iter().map(str::to_owned).collect::<Vec<_>>()
    };
    let strip = |output: &Output| {
        let mut report: Value =
            serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("{e}: {}", stderr(output)));
        report["elapsed_ms"] = 0.into();
        report["resumed_partitions"] = 0.into();
        report
    };
    let whole = Command::new(env!("CARGO_BIN_EXE_dqc")).args(args(None)).output().unwrap();
    assert_eq!(whole.status.code(), Some(1), "{}", stderr(&whole));
    let reference = strip(&whole);
    assert_eq!(reference["summary"]["equal"], 119, "{reference:#}");

    let checkpoint_arg = checkpoint.to_string_lossy().into_owned();
    let mut child = Command::new(env!("CARGO_BIN_EXE_dqc"))
        .args(args(Some(&checkpoint_arg)))
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let lines = || std::fs::read_to_string(&checkpoint).map(|text| text.matches('\n').count()).unwrap_or(0);
    let started = std::time::Instant::now();
    while lines() < 31 {
        assert!(child.try_wait().unwrap().is_none(), "the inventory ended before it could be killed");
        assert!(started.elapsed() < std::time::Duration::from_secs(120), "no progress in the checkpoint");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let killed = Command::new("kill").args(["-KILL", &child.id().to_string()]).status().unwrap();
    assert!(killed.success());
    assert!(!child.wait().unwrap().success());

    // What the killed run finished (whole lines after the header).
    let text = std::fs::read_to_string(&checkpoint).unwrap();
    let finished: Vec<Value> = text
        .split_inclusive('\n')
        .skip(1)
        .filter(|l| l.ends_with('\n'))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(finished.len() >= 30 && finished.len() < 120, "{} partitions finished", finished.len());
    // Break the candidate's file of a finished partition: read again, it would be unreadable.
    let first = &finished[0];
    let broken = std::path::Path::new(&candidate)
        .join(first["table"].as_str().unwrap())
        .join(first["partition"]["partition"].as_str().unwrap())
        .join("part-0.parquet");
    std::fs::write(&broken, b"no longer parquet").unwrap();

    let resumed = Command::new(env!("CARGO_BIN_EXE_dqc")).args(args(Some(&checkpoint_arg))).output().unwrap();
    assert_eq!(resumed.status.code(), Some(1), "{}", stderr(&resumed));
    let report: Value = serde_json::from_slice(&resumed.stdout).unwrap();
    assert_eq!(report["resumed_partitions"].as_u64(), Some(finished.len() as u64));
    assert_eq!(strip(&resumed), reference);
}
