//! Datasets in a real S3-compatible server (moto, started by `scripts/s3-server.sh` on
//! 127.0.0.1): the fixtures diffed S3 against S3 and S3 against a local copy give the ground
//! truth, Hive-escaped partition directories keep their key and decode their value, `oss://`
//! goes to the bucket's virtual-hosted endpoint, and each bad location fails naming itself.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use dqc_tests::s3::{bucket_store, files_under, options, put_all, server, upload_dir};
use dqc_tests::{orc_fixtures, path_str, runtime, try_diff};
use object_store::ObjectStore;
use object_store::path::Path;
use verifier::{DiffSpec, Error, Fault, Stores};

fn stores(bucket: &str) -> Stores {
    Stores::default().with(&format!("s3://{bucket}"), options(&server().endpoint)).unwrap()
}

/// The fixtures in bucket `fixtures`, once per test binary.
fn fixtures_uploaded() {
    static UPLOADED: std::sync::Once = std::sync::Once::new();
    UPLOADED.call_once(|| {
        dqc_tests::s3::create_bucket("fixtures");
        dqc_tests::s3::create_bucket("hive");
        upload_dir("fixtures", &orc_fixtures(), "");
    });
}

#[test]
fn the_fixtures_in_s3_give_the_ground_truth_against_s3_and_against_a_local_copy() {
    fixtures_uploaded();
    let stores = stores("fixtures");
    let mut spec = DiffSpec::new("s3://fixtures/spark/baseline", "s3://fixtures/spark/candidate", &["id"]);
    spec.stores = stores.clone();
    let report = crate::fixtures::check_spec(spec);
    assert_eq!((report.baseline.files, report.candidate.files), (2, 3), "hidden objects skipped, 000000_0 read");
    let local = path_str(&orc_fixtures().join("arrow/candidate"));
    let mut spec = DiffSpec::new("s3a://fixtures/spark/baseline", local, &["id"]);
    spec.stores = Stores::default().with("s3a://fixtures", options(&server().endpoint)).unwrap();
    crate::fixtures::check_spec(spec);
}

#[test]
fn hive_escaped_partition_directories_keep_their_key_and_decode_their_value() {
    fixtures_uploaded();
    let dir = tempfile::tempdir().unwrap();
    let table = dir.path().join("t");
    // Hive writes the value `2024-05-01 10:00` as the directory `ts=2024-05-01 10%3A00`; a
    // second partition and a hidden directory make the listing go partition by partition.
    let fixture = orc_fixtures().join("arrow/baseline/dt=2024-05-01/part-00000.orc");
    for directory in ["ts=2024-05-01 10%3A00", "ts=2024-05-01 11%3A00", "_temporary/0"] {
        std::fs::create_dir_all(table.join(directory)).unwrap();
        std::fs::copy(&fixture, table.join(directory).join("part-0.orc")).unwrap();
    }
    upload_dir("hive", dir.path(), "wh/");
    let mut spec = DiffSpec::new("s3://hive/wh/t", path_str(&table), &["id"]);
    spec.stores = stores("hive");
    let report = try_diff(&spec).unwrap();
    assert_eq!((report.baseline.files, report.candidate.files), (2, 2), "{report:?}");
    spec.options.filter = Some("ts = '2024-05-01 10:00'".into());
    let report = try_diff(&spec).unwrap();
    assert_eq!(report.verdict, verifier::Verdict::Consistent, "{report:?}");
    assert!(report.baseline.rows > 0 && report.baseline.rows == report.candidate.rows, "{:?}", report.baseline);
    // The object's key holds `%3A`, as the directory's name does.
    let keys: Vec<String> = runtime().block_on(async {
        use futures::TryStreamExt;
        let store = bucket_store("hive");
        let listed: Vec<_> =
            store.list(Some(&Path::parse("wh/t/ts=2024-05-01 10%3A00").unwrap())).try_collect().await.unwrap();
        listed.into_iter().map(|meta| meta.location.to_string()).collect()
    });
    assert_eq!(keys, ["wh/t/ts=2024-05-01 10%3A00/part-0.orc"]);
}

#[test]
fn oss_goes_to_the_buckets_virtual_hosted_endpoint() {
    fixtures_uploaded();
    // `oss://fixtures` with endpoint `http://oss-test.localhost:PORT` is requested as
    // `http://fixtures.oss-test.localhost:PORT/...`; the server is reached through it as an HTTP
    // proxy, and moto finds the bucket in the Host header as OSS does.
    let port = server().endpoint.rsplit(':').next().unwrap().to_owned();
    let mut oss = options(&format!("http://oss-test.localhost:{port}"));
    oss.insert("proxy_url".into(), server().endpoint.clone());
    let stores = Stores::default().with("oss://fixtures", oss).unwrap();
    let mut spec = DiffSpec::new("oss://fixtures/arrow/baseline", "oss://fixtures/arrow/candidate", &["id"]);
    spec.stores = stores;
    crate::fixtures::check_spec(spec);
    assert_eq!(
        verifier::oss_endpoint("fixtures", &[("region".to_owned(), "cn-hangzhou".to_owned())].into()).unwrap(),
        "https://fixtures.oss-cn-hangzhou.aliyuncs.com"
    );
}

fn error_of(baseline: &str, stores: Stores) -> Error {
    let mut spec = DiffSpec::new(baseline, path_str(&orc_fixtures().join("spark/candidate")), &["id"]);
    spec.stores = stores;
    try_diff(&spec).unwrap_err()
}

#[test]
fn bad_remote_locations_fail_naming_the_location_by_fault() {
    fixtures_uploaded();
    let stores = stores("fixtures");
    for (location, expected) in [
        ("s3://fixtures/no/such/table", "the baseline location `s3://fixtures/no/such/table` does not exist"),
        ("s3://no-such-bucket/t", "`s3://no-such-bucket/t` is not usable: the bucket `no-such-bucket` does not exist"),
        ("cosn://bucket/t", "no object store serves the `cosn` scheme"),
        ("s3://nokeys/t", "no credentials for its store"),
        ("s3://fixtures/a/../b", "its path is not usable"),
    ] {
        let bucket = location.split('/').nth(2).unwrap();
        let stores = match bucket {
            "fixtures" => stores.clone(),
            // No keys: the client tries the instance metadata service, which is not there.
            "nokeys" => Stores::default()
                .with(
                    "s3://nokeys",
                    [("endpoint".to_owned(), server().endpoint.clone()), ("allow_http".to_owned(), "true".to_owned())]
                        .into(),
                )
                .unwrap(),
            _ => self::stores(bucket),
        };
        let error = error_of(location, stores);
        assert!(error.to_string().contains(expected), "{location}: {error}");
        assert_eq!(error.fault(), Fault::Input, "{location}: {error}");
    }
    // A key the store does not know: refused, the input's fault.
    let wrong_key = Stores::default().with("s3://any", options(&dqc_tests::s3::checking_server().endpoint)).unwrap();
    let error = error_of("s3://any/t", wrong_key);
    assert!(error.to_string().contains("`s3://any/t` cannot be read: access refused"), "{error}");
    assert_eq!(error.fault(), Fault::Input, "{error}");
    // A store that does not answer in time is a failure at run time, which a service retries.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = silent.local_addr().unwrap();
    std::thread::spawn(move || {
        let held: Vec<_> = silent.incoming().take(64).collect();
        std::thread::sleep(Duration::from_secs(60));
        drop(held);
    });
    let mut slow = options(&format!("http://{address}"));
    slow.insert("timeout".into(), "1s".into());
    slow.insert("connect_timeout".into(), "1s".into());
    slow.insert("max_retries".into(), "1".into());
    slow.insert("retry_timeout".into(), "5s".into());
    let stores = Stores::default().with("s3://slow", slow).unwrap();
    let started = Instant::now();
    let mut spec = DiffSpec::new("s3://slow/t", "s3://slow/u", &["id"]);
    spec.stores = stores;
    let error = try_diff(&spec).unwrap_err();
    assert_eq!(error.fault(), Fault::Runtime, "{error}");
    assert!(
        error.to_string().contains("object store error on the baseline side")
            || error.to_string().contains("candidate"),
        "{error}"
    );
    assert!(started.elapsed() < Duration::from_secs(60), "retries are bounded: {:?}", started.elapsed());
}

/// Against a real HDFS when `DQC_TEST_HDFS_URL` names a writable directory
/// (`hdfs://namenode:8020/tmp/dqc`): the fixtures are written there and diffed. No NameNode runs
/// on the machines CI runs on (see the README); without the variable this test only says so.
#[test]
fn the_fixtures_in_hdfs_give_the_ground_truth_when_a_cluster_is_given() {
    let Ok(url) = std::env::var("DQC_TEST_HDFS_URL") else {
        eprintln!("DQC_TEST_HDFS_URL is not set: no HDFS cluster to test against");
        return;
    };
    let url = url.trim_end_matches('/').to_owned();
    let after = url.find("://").expect("DQC_TEST_HDFS_URL is a URL") + 3;
    let (root, path) = url.split_at(url[after..].find('/').map_or(url.len(), |at| after + at));
    let store = hdfs_native_object_store::HdfsObjectStoreBuilder::new().with_url(root).build().unwrap();
    for side in ["spark/baseline", "spark/candidate"] {
        let prefix = format!("{}/{side}/", path.trim_start_matches('/'));
        put_all(&store, files_under(&orc_fixtures().join(side), &prefix));
    }
    let spec = DiffSpec::new(format!("{url}/spark/baseline"), format!("{url}/spark/candidate"), &["id"]);
    crate::fixtures::check_spec(spec);
}

/// Parquet read from the store (its row groups' column chunks in coalesced, concurrent ranged
/// reads) gives the report the local files give.
#[test]
fn parquet_in_s3_gives_the_report_of_the_local_files() {
    use std::sync::Arc;

    use arrow::array::{Int64Array, StringArray};
    fixtures_uploaded();
    let ids: Vec<i64> = (0..20_000).collect();
    let names = |changed: i64| -> Vec<String> {
        ids.iter().map(|id| if id % 1000 == changed { format!("changed-{id}") } else { format!("name-{id}") }).collect()
    };
    let side = |changed| {
        dqc_tests::batch(vec![
            ("id", Arc::new(Int64Array::from(ids.clone())) as _),
            ("name", Arc::new(StringArray::from(names(changed))) as _),
        ])
    };
    let dir = tempfile::tempdir().unwrap();
    let local = dqc_tests::parquet_pair(dir.path(), side(-1), side(7), &["id"]);
    dqc_tests::s3::create_bucket("parquet");
    upload_dir("parquet", dir.path(), "");
    let relative = |path: &str| path.strip_prefix(&path_str(dir.path())).unwrap().trim_start_matches('/').to_owned();
    let mut remote = DiffSpec::new(
        format!("s3://parquet/{}", relative(&local.baseline)),
        format!("s3://parquet/{}", relative(&local.candidate)),
        &["id"],
    );
    remote.stores = stores("parquet");
    let (local, remote) = (try_diff(&local).unwrap(), try_diff(&remote).unwrap());
    assert_eq!(remote.summary.changed, 20, "{remote:?}");
    assert_eq!(serde_json::to_value(&local.summary).unwrap(), serde_json::to_value(&remote.summary).unwrap());
    assert_eq!(serde_json::to_value(&local.samples).unwrap(), serde_json::to_value(&remote.samples).unwrap());
}
