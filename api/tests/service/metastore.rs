//! A real Hive Metastore 2.3 (the Thrift server from the jars in pyspark's package on PyPI,
//! started by `scripts/hms-server.sh`, once for this test binary): `dqc diff` of `hive://`
//! locations, and the service resolving events through a cluster's metastore.
//!
//! Each test makes databases of its own, so the tests share the one server.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use api::metastore::client::Connection;
use api::metastore::wire::{Database, FieldSchema, Partition, PrimaryKeyColumn, SerDeInfo, StorageDescriptor, Table};
use serde_json::Value;

use crate::notify::{Receiver, start_smtp};
use crate::rest::{OPERATOR, Running, config_text};
use crate::support::{event, wait_until, write_table};

/// The running metastore.
struct Hms {
    /// `127.0.0.1:PORT`.
    address: String,
    _child: Child,
    _dir: tempfile::TempDir,
}

/// The metastore of this test binary, started on first use (the first run downloads its jars).
fn hms() -> &'static Hms {
    static SERVER: OnceLock<Hms> = OnceLock::new();
    SERVER.get_or_init(|| {
        let _quiet = crate::support::quiet_machine();
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let dir = tempfile::tempdir().unwrap();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/hms-server.sh");
        let mut child = Command::new(script).arg(port.to_string()).arg(dir.path()).spawn().unwrap();
        let address = format!("127.0.0.1:{port}");
        let started = Instant::now();
        loop {
            // Ready when it answers a call: a table that does not exist.
            let answer = Connection::open(&address, Duration::from_secs(1), Duration::from_secs(30))
                .and_then(|mut connection| connection.get_table("default", "none").map(drop));
            match answer {
                Err(error) if error.is_no_such_object() => break,
                _ if started.elapsed() > Duration::from_secs(400) => {
                    panic!("scripts/hms-server.sh did not answer on {address}: see {}", dir.path().display())
                }
                _ => {}
            }
            if let Ok(Some(status)) = child.try_wait() {
                let log = std::fs::read_to_string(dir.path().join("hms.out")).unwrap_or_default();
                panic!("scripts/hms-server.sh stopped ({status}) before it answered:\n{log}");
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        Hms { address, _child: child, _dir: dir }
    })
}

fn connect() -> Connection {
    Connection::open(&hms().address, Duration::from_secs(5), Duration::from_secs(60)).unwrap()
}

/// A local directory as the metastore's location.
fn file_url(path: &Path) -> String {
    format!("file://{}", path.display())
}

/// An ORC storage descriptor at `location` with `columns` (`name type` pairs).
fn orc(location: &str, columns: &[(&str, &str)]) -> StorageDescriptor {
    StorageDescriptor {
        cols: columns
            .iter()
            .map(|(name, ty)| FieldSchema { name: (*name).into(), type_name: (*ty).into(), comment: String::new() })
            .collect(),
        location: location.to_owned(),
        input_format: "org.apache.hadoop.hive.ql.io.orc.OrcInputFormat".into(),
        output_format: "org.apache.hadoop.hive.ql.io.orc.OrcOutputFormat".into(),
        serde_info: SerDeInfo {
            serialization_lib: "org.apache.hadoop.hive.ql.io.orc.OrcSerde".into(),
            ..SerDeInfo::default()
        },
        ..StorageDescriptor::default()
    }
}

/// Creates database `db` and its external table `table` partitioned by `dt` under `location`,
/// owned by `etl@example.com`, with `columns`, a primary key on `id` if `primary_key`, and a
/// partition for each `(dt, location)`.
fn create_table(
    db: &str,
    table: &str,
    location: &str,
    columns: &[(&str, &str)],
    primary_key: bool,
    partitions: &[(&str, String)],
) {
    let mut hms = connect();
    let database = Database { name: db.into(), location_uri: location.to_owned(), ..Database::default() };
    hms.create_database(&database).unwrap();
    let definition = Table {
        table_name: table.into(),
        db_name: db.into(),
        owner: "etl@example.com".into(),
        sd: orc(&format!("{location}/{table}"), columns),
        partition_keys: vec![FieldSchema { name: "dt".into(), type_name: "string".into(), comment: String::new() }],
        parameters: BTreeMap::from([("EXTERNAL".into(), "TRUE".into())]),
        table_type: "EXTERNAL_TABLE".into(),
    };
    let key = PrimaryKeyColumn {
        table_db: db.into(),
        table_name: table.into(),
        column_name: "id".into(),
        key_seq: 1,
        pk_name: format!("pk_{db}_{table}"),
        ..PrimaryKeyColumn::default()
    };
    let keys = if primary_key { vec![key] } else { Vec::new() };
    hms.create_table(&definition, &keys).unwrap();
    for (dt, location) in partitions {
        let partition = Partition {
            values: vec![(*dt).into()],
            db_name: db.into(),
            table_name: table.into(),
            sd: orc(location, columns),
            parameters: BTreeMap::new(),
        };
        hms.add_partition(&partition).unwrap();
    }
}

fn dqc(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dqc")).args(args).output().unwrap()
}

/// Runs dqc with `args` and `--format json`, its S3 locations on the tests' S3 server; returns
/// its output and JSON.
fn dqc_with_s3(args: &[&str]) -> (Output, Value) {
    let output = Command::new(env!("CARGO_BIN_EXE_dqc"))
        .args(args)
        .args(["--format", "json"])
        .env("AWS_ENDPOINT_URL", &dqc_tests::s3::server().endpoint)
        .env("AWS_ALLOW_HTTP", "true")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "dqc-test")
        .env("AWS_SECRET_ACCESS_KEY", "dqc-test-secret")
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&output.stderr)));
    (output, report)
}

fn partition_dir(root: &Path, cluster: &str, table: &str, run: &str) -> PathBuf {
    root.join(cluster).join("warehouse/dw.db").join(table).join(format!("dt={run}"))
}

/// A baseline and a candidate table of two partitions (the second at a custom location, away
/// from the table's), 2 rows differing in the first; the candidate has a third partition that
/// the baseline lacks, and declares `id` as `int` where its files hold `bigint`.
fn two_tables(root: &Path, suffix: &str) -> (String, String) {
    for (cluster, changed) in [("b", 0), ("c", 2)] {
        write_table(root, cluster, "orders", "2024-05-01", 50, changed);
        write_table(root, cluster, "orders", "2024-05-02", 40, 0);
        write_table(root, cluster, "orders", "2024-05-03", 30, 0);
    }
    // The second partitions move away from the tables' directories.
    for cluster in ["b", "c"] {
        let custom = root.join(cluster).join("custom");
        std::fs::create_dir_all(&custom).unwrap();
        std::fs::rename(partition_dir(root, cluster, "orders", "2024-05-02"), custom.join("p2")).unwrap();
    }
    let table_dir = |cluster: &str| file_url(&root.join(cluster).join("warehouse/dw.db"));
    let at = |path: PathBuf| file_url(&path);
    let (baseline_db, candidate_db) = (format!("base_{suffix}"), format!("cand_{suffix}"));
    create_table(
        &baseline_db,
        "orders",
        &table_dir("b"),
        &[("id", "bigint"), ("value", "string")],
        true,
        &[
            ("2024-05-01", at(partition_dir(root, "b", "orders", "2024-05-01"))),
            ("2024-05-02", at(root.join("b/custom/p2"))),
        ],
    );
    create_table(
        &candidate_db,
        "orders",
        &table_dir("c"),
        &[("id", "int"), ("value", "varchar(20)")],
        false,
        &[
            ("2024-05-01", at(partition_dir(root, "c", "orders", "2024-05-01"))),
            ("2024-05-02", at(root.join("c/custom/p2"))),
            ("2024-05-03", at(partition_dir(root, "c", "orders", "2024-05-03"))),
        ],
    );
    let location = |db: &str| format!("hive://{}/{db}/orders", hms().address);
    (location(&baseline_db), location(&candidate_db))
}

#[test]
fn a_hive_table_is_diffed_partition_by_partition_with_its_declared_key_and_columns() {
    let dir = tempfile::tempdir().unwrap();
    let (baseline, candidate) = two_tables(dir.path(), "cli");

    let output = dqc(&["diff", "--baseline", &baseline, "--candidate", &candidate, "--format", "json"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(&format!("key: id (the primary key that {baseline} declares)")), "{stderr}");
    let outcome: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("{e}: {stderr}"));
    assert_eq!(output.status.code(), Some(2), "a partition only one side has is divergent: {outcome:#}");
    assert_eq!(outcome["verdict"], "divergent");
    assert_eq!(outcome["summary"], serde_json::json!({"partitions": 3, "inconsistent": 2, "divergent": 1}));
    let partitions = outcome["partitions"].as_array().unwrap();
    let names: Vec<&str> = partitions.iter().map(|p| p["partition"].as_str().unwrap()).collect();
    assert_eq!(names, ["dt=2024-05-01", "dt=2024-05-02", "dt=2024-05-03"]);

    let first = &partitions[0]["report"];
    assert_eq!(first["key"], serde_json::json!(["id"]), "the declared primary key is the key");
    assert_eq!(first["summary"]["changed"], 2);
    assert_eq!(first["baseline"]["rows"], 50);
    // The candidate declares `id` as int, its files hold bigint: a schema finding, in every
    // partition; `varchar(20)` against the files' strings is not one.
    let declared = &first["schema"]["declared"];
    assert_eq!(
        declared,
        &serde_json::json!([{"side": "candidate", "source": candidate, "column": "id", "declared": "int", "files": "bigint"}]),
        "{first:#}"
    );

    let second = &partitions[1]["report"];
    assert_eq!(second["summary"]["changed"], 0, "{second:#}");
    assert_eq!(second["baseline"]["rows"], 40);
    let custom = format!("file://{}", dir.path().join("b/custom/p2").display());
    assert_eq!(second["baseline"]["uri"], custom, "the partition's own location is read");

    assert_eq!(partitions[2]["verdict"], "divergent");
    let reason = partitions[2]["reason"].as_str().unwrap();
    assert!(reason.contains("the baseline has no partition `dt=2024-05-03`") && reason.contains(&baseline), "{reason}");

    // For people: a line per partition, the report of each that is not consistent.
    let output = dqc(&["diff", "--baseline", &baseline, "--candidate", &candidate]);
    let text = String::from_utf8_lossy(&output.stdout);
    for line in [
        "== dt=2024-05-01: inconsistent",
        &format!("  candidate catalog: id: declared int by {candidate}, bigint in the files"),
        "== dt=2024-05-03: divergent",
        "divergent: 3 partitions (1 divergent, 2 inconsistent)",
    ] {
        assert!(text.contains(line), "`{line}` not in\n{text}");
    }

    // One partition against a plain location: one report, as a plain diff's.
    let partition = format!("{baseline}/dt=2024-05-02");
    let plain = dir.path().join("c/custom/p2");
    let output = dqc(&[
        "diff",
        "--baseline",
        &partition,
        "--candidate",
        plain.to_str().unwrap(),
        "--format",
        "json",
        "--key",
        "id",
    ]);
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(output.status.code(), Some(0), "{report:#}");
    assert_eq!(report["baseline"]["uri"], custom);
    assert_eq!(report["summary"]["matched"], 40);

    // The whole table against a plain directory of `dt=` partitions: read as the table's root.
    let root = dir.path().join("c/warehouse/dw.db/orders");
    let output = dqc(&["diff", "--baseline", &baseline, "--candidate", root.to_str().unwrap(), "--format", "json"]);
    let outcome: Value = serde_json::from_slice(&output.stdout).unwrap();
    let verdicts: Vec<&str> =
        outcome["partitions"].as_array().unwrap().iter().map(|p| p["verdict"].as_str().unwrap()).collect();
    // dt=2024-05-02 moved to the custom location: not under the root, an error naming it.
    assert_eq!(verdicts, ["inconsistent", "error"], "{outcome:#}");
}

#[test]
fn a_hive_database_is_inventoried_partition_by_partition_where_each_partition_is() {
    let dir = tempfile::tempdir().unwrap();
    let (baseline, candidate) = two_tables(dir.path(), "inv");
    let database = |table: &str| table.trim_end_matches("/orders").to_owned();
    let (baseline_db, candidate_db) = (database(&baseline), database(&candidate));
    // No --key: the primary key the baseline's metastore declares.
    let args = ["--deep", "--format", "json"];
    let output = dqc(&[&["inventory", "--baseline", &baseline_db, "--candidate", &candidate_db], &args[..]].concat());
    let stderr = String::from_utf8_lossy(&output.stderr);
    let report: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("{e}: {stderr}"));
    assert_eq!(output.status.code(), Some(1), "{report:#}");
    assert_eq!(report["baseline"], baseline_db.as_str());
    let tables = report["tables"].as_array().unwrap();
    assert_eq!(tables.len(), 1, "{report:#}");
    assert_eq!(tables[0]["name"], "orders");
    let partitions = tables[0]["partitions"].as_array().unwrap();
    let verdicts: Vec<(&str, &str)> =
        partitions.iter().map(|p| (p["partition"].as_str().unwrap(), p["verdict"].as_str().unwrap())).collect();
    assert_eq!(
        verdicts,
        [("dt=2024-05-01", "different"), ("dt=2024-05-02", "equal"), ("dt=2024-05-03", "missing_in_baseline")],
        "{report:#}"
    );
    assert_eq!(partitions[0]["key"], serde_json::json!(["id"]), "the declared primary key: {report:#}");
    // The second partition is read where the metastore puts it, away from its table.
    let custom = format!("file://{}", dir.path().join("b/custom/p2").display());
    assert_eq!(partitions[1]["baseline"]["location"], custom);
    assert_eq!(partitions[1]["baseline"]["rows"], 40);
    // The declared columns compared: retyped within their families, so not a difference.
    let declared = &tables[0]["declared_schema"]["type_changes"];
    assert_eq!(
        declared,
        &serde_json::json!([
            {"name": "id", "baseline": "bigint", "candidate": "int", "comparable": true},
            {"name": "value", "baseline": "string", "candidate": "varchar(20)", "comparable": true},
        ]),
        "{report:#}"
    );

    // A table of the database against a directory tree: its moved partition is not in the tree.
    let tree = dir.path().join("c/warehouse/dw.db");
    let output =
        dqc(&["inventory", "--baseline", &baseline, "--candidate", tree.to_str().unwrap(), "--format", "json"]);
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    let verdicts: Vec<&str> =
        report["tables"][0]["partitions"].as_array().unwrap().iter().map(|p| p["verdict"].as_str().unwrap()).collect();
    assert_eq!(verdicts, ["equal_footers", "missing_in_candidate", "missing_in_baseline"], "{report:#}");

    // A database the metastore lacks: a clear error.
    let missing = format!("hive://{}/no_such_db", hms().address);
    let output = dqc(&["inventory", "--baseline", &missing, "--candidate", &candidate_db]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("has no database `no_such_db`"), "{stderr}");
}

#[test]
fn a_hive_table_in_an_object_store_is_inventoried_with_partitions_outside_its_location() {
    let dir = tempfile::tempdir().unwrap();
    for cluster in ["b", "c"] {
        write_table(dir.path(), cluster, "visits", "2024-05-01", 30, 0);
        write_table(dir.path(), cluster, "visits", "2024-05-02", 20, 0);
    }
    dqc_tests::s3::create_bucket("warehouse");
    // The baseline's partitions in the bucket: the second one far from the table's location.
    let first = partition_dir(dir.path(), "b", "visits", "2024-05-01");
    let second = partition_dir(dir.path(), "b", "visits", "2024-05-02");
    dqc_tests::s3::upload_dir("warehouse", &first, "s3inv/visits/dt=2024-05-01/");
    dqc_tests::s3::upload_dir("warehouse", &second, "archive/2024/visits-0502/");
    create_table(
        "s3inv",
        "visits",
        "s3a://warehouse/s3inv",
        &[("id", "bigint"), ("value", "string")],
        true,
        &[
            ("2024-05-01", "s3a://warehouse/s3inv/visits/dt=2024-05-01".to_owned()),
            ("2024-05-02", "s3a://warehouse/archive/2024/visits-0502".to_owned()),
        ],
    );
    let baseline = format!("hive://{}/s3inv/visits", hms().address);
    let candidate = dir.path().join("c/warehouse/dw.db");
    let candidate = candidate.to_str().unwrap();
    let (output, report) =
        dqc_with_s3(&["inventory", "--baseline", &baseline, "--candidate", candidate, "--deep", "--key", "id"]);
    assert_eq!(output.status.code(), Some(0), "{report:#}");
    let partitions = report["tables"][0]["partitions"].as_array().unwrap();
    let found: Vec<(&str, &str, &str)> = partitions
        .iter()
        .map(|p| {
            let location = p["baseline"]["location"].as_str().unwrap();
            (p["partition"].as_str().unwrap(), p["verdict"].as_str().unwrap(), location)
        })
        .collect();
    assert_eq!(
        found,
        [
            ("dt=2024-05-01", "equal", "s3a://warehouse/s3inv/visits/dt=2024-05-01"),
            ("dt=2024-05-02", "equal", "s3a://warehouse/archive/2024/visits-0502"),
        ],
        "{report:#}"
    );
}

#[test]
fn a_partition_in_an_object_store_is_read_where_the_metastore_says() {
    // The metastore maps bucket `warehouse` of `s3a://` to a local directory (it checks every
    // location); dqc reads it from the S3-compatible server.
    let dir = tempfile::tempdir().unwrap();
    for cluster in ["b", "c"] {
        write_table(dir.path(), cluster, "events", "2024-05-01", 30, if cluster == "c" { 1 } else { 0 });
    }
    dqc_tests::s3::create_bucket("warehouse");
    let partition = partition_dir(dir.path(), "b", "events", "2024-05-01");
    dqc_tests::s3::upload_dir("warehouse", &partition, "s3db/events/dt=2024-05-01/");
    create_table(
        "s3db",
        "events",
        "s3a://warehouse/s3db",
        &[("id", "bigint"), ("value", "string")],
        true,
        &[("2024-05-01", "s3a://warehouse/s3db/events/dt=2024-05-01".to_owned())],
    );
    let baseline = format!("hive://{}/s3db/events", hms().address);
    let candidate = partition_dir(dir.path(), "c", "events", "2024-05-01");
    let candidate = candidate.to_str().unwrap();
    let partition = format!("{baseline}/dt=2024-05-01");
    let (output, report) = dqc_with_s3(&["diff", "--baseline", &partition, "--candidate", candidate]);
    assert_eq!(output.status.code(), Some(1), "{report:#}");
    assert_eq!(report["baseline"]["uri"], "s3a://warehouse/s3db/events/dt=2024-05-01");
    assert_eq!((report["baseline"]["rows"].as_u64(), report["summary"]["changed"].as_u64()), (Some(30), Some(1)));
}

#[test]
fn a_table_or_partition_the_metastore_lacks_and_a_metastore_that_does_not_answer_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let (baseline, _) = two_tables(dir.path(), "errors");
    let address = &hms().address;
    let plain = dir.path().join("c/custom/p2");
    let plain = plain.to_str().unwrap();
    let cases = [
        (
            format!("hive://{address}/base_errors/nope"),
            format!("the Hive Metastore thrift://{address} has no table `base_errors.nope`"),
        ),
        (
            format!("hive://{address}/nodb/orders"),
            format!("the Hive Metastore thrift://{address} has no table `nodb.orders`"),
        ),
        (
            format!("{baseline}/dt=1999-01-01"),
            "has no partition `dt=1999-01-01` of table `base_errors.orders`".to_owned(),
        ),
        (format!("{baseline}/dt"), "`dt` is not a partition `key=value`".to_owned()),
        (
            "hive://127.0.0.1:1/dw/orders".to_owned(),
            "the Hive Metastore thrift://127.0.0.1:1 does not answer".to_owned(),
        ),
    ];
    for (location, message) in cases {
        let output = dqc(&["diff", "--baseline", &location, "--candidate", plain, "--key", "id"]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{location}: {stderr}");
        assert!(stderr.contains(&message), "{location}: expected `{message}` in {stderr}");
    }
}

/// The baseline warehouse of the service test, table `dw.hms` with four runs: its metastore
/// knows the first partition where the template says, the second at a custom location under the
/// cluster's event root (returned), the third not at all (the template is the fallback), and the
/// fourth outside every root of the cluster.
fn service_warehouse(root: &Path) -> PathBuf {
    for cluster in ["idc-hadoop", "cloud-emr"] {
        let changed = if cluster == "cloud-emr" { 1 } else { 0 };
        for run in ["2024-05-01", "2024-05-02", "2024-05-03", "2024-05-04"] {
            write_table(root, cluster, "hms", run, 20, changed);
        }
    }
    let staging = root.join("staging/hms-p2");
    let outside = root.join("elsewhere/hms-p4");
    for dir in [&staging, &outside] {
        std::fs::create_dir_all(dir.parent().unwrap()).unwrap();
    }
    std::fs::rename(partition_dir(root, "idc-hadoop", "hms", "2024-05-02"), &staging).unwrap();
    std::fs::rename(partition_dir(root, "idc-hadoop", "hms", "2024-05-04"), &outside).unwrap();
    create_table(
        "dw",
        "hms",
        &file_url(&root.join("idc-hadoop/warehouse/dw.db")),
        &[("id", "bigint"), ("value", "string")],
        true,
        &[
            ("2024-05-01", file_url(&partition_dir(root, "idc-hadoop", "hms", "2024-05-01"))),
            ("2024-05-02", file_url(&staging)),
            ("2024-05-04", file_url(&outside)),
        ],
    );
    staging
}

/// Runs the service on `text` with both clusters' events for `runs` of `dw.hms`, and returns the
/// reports by run, and the running service.
async fn reports_of(text: &str, runs: &[&str]) -> (BTreeMap<String, api::store::StoredReport>, Running) {
    let config = api::config::parse(text, "test", &BTreeMap::new()).unwrap();
    assert!(config.metastores.contains_key("idc-hadoop"), "{text}");
    let store = api::service::open_store(&config).await.unwrap();
    let running = Running::start(config).await;
    let client = reqwest::Client::new();
    for run in runs {
        for (id, cluster) in [("b", "idc-hadoop"), ("c", "cloud-emr")] {
            let response = client
                .post(format!("{}/api/v1/events", running.url))
                .bearer_auth(OPERATOR)
                .header("content-type", "application/json")
                .body(event(&format!("{id}-{run}"), cluster, "dw.hms", run, 1, "succeeded"))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), reqwest::StatusCode::ACCEPTED);
        }
    }
    let filter = api::store::ReportFilter { table: Some("dw.hms".into()), ..Default::default() };
    wait_until("a report of every pair", Duration::from_secs(60), || async {
        store.reports(&filter).await.unwrap().len() == runs.len()
    })
    .await;
    let mut reports = BTreeMap::new();
    for summary in store.reports(&filter).await.unwrap() {
        let report = store.report(summary.id).await.unwrap().unwrap();
        reports.insert(report.run_id.clone(), report);
    }
    (reports, running)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_resolves_events_through_the_metastore_and_falls_back_to_the_template() {
    crate::support::init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let staging = service_warehouse(&root);
    let database = format!("sqlite://{}", root.join("dqc.db").display());
    // A table without owners in the registry is reported to its owner in the metastore.
    let mail = Receiver::taking();
    let smtp = start_smtp(mail.clone()).await;
    let sink = format!(
        "[notifications]\npoll_interval = \"50ms\"\n\n[[notifications.sinks]]\nname = \"mail\"\nkind = \"email\"\n\
         url = \"{smtp}\"\nfrom = \"dqc <dqc@example.com>\"\n"
    );
    let text = config_text(&root, &sink, &database).replacen(
        "role = \"baseline\"\n",
        &format!(
            "role = \"baseline\"\nmetastore = \"thrift://{}\"\nevent_roots = [\"file://{}/staging\"]\n",
            hms().address,
            root.display()
        ),
        1,
    );
    let (reports, running) = reports_of(&text, &["2024-05-01", "2024-05-02", "2024-05-03", "2024-05-04"]).await;
    wait_until("a mail to the metastore's owner", Duration::from_secs(30), || async {
        mail.received.lock().unwrap().delivered.iter().any(|(_, _, body)| body.contains("To: etl@example.com"))
    })
    .await;
    running.stop().await;

    let first = &reports["2024-05-01"].report;
    assert_eq!(first["verdict"], "inconsistent", "{first:#}");
    assert_eq!(first["key"], serde_json::json!(["id"]), "no key is registered: the declared primary key");
    assert!(first["note"].as_str().unwrap().contains("the primary key that hive://"), "{first:#}");
    assert_eq!(first["baseline"]["location_source"], "metastore");
    assert_eq!(first["candidate"]["location_source"], "template");

    let second = &reports["2024-05-02"].report;
    assert_eq!(second["baseline"]["uri"], format!("file://{}", staging.display()), "{second:#}");
    assert_eq!(second["baseline"]["location_source"], "metastore");

    let third = &reports["2024-05-03"].report;
    let template = format!("file://{}/idc-hadoop/warehouse/dw.db/hms/dt=2024-05-03", root.display());
    assert_eq!(third["baseline"]["uri"], template, "{third:#}");
    assert_eq!(third["baseline"]["location_source"], "template");

    let fourth = &reports["2024-05-04"];
    assert_eq!(fourth.verdict, verifier::Verdict::Error, "{:#}", fourth.report);
    let reason = fourth.reason.clone().unwrap_or_default();
    assert!(reason.contains("hms-p4") && reason.contains("event_roots of cluster `idc-hadoop`"), "{reason}");
}
