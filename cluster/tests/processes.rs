//! dqc's own processes: a `dqc-scheduler` and two `dqc-executor` processes started by
//! `scripts/cluster-local.sh`, reading both datasets from an S3-compatible server (moto, started
//! by `scripts/s3-server.sh`) with the stores of the service's configuration file
//! (`--dqc-config`) or, as the CLI, of their environment.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::{ArrayRef, Int64Array, StringArray};
use dqc_tests::{batch, orc_fixtures, runtime, s3, write_orc};
use serde_json::Value;
use verifier::{DiffSpec, Error, NoProgress, Report};

const BUCKET: &str = "dqc-cluster";

/// A local cluster of dqc's processes, stopped when dropped.
struct LocalCluster {
    script: Child,
    url: String,
    dir: tempfile::TempDir,
}

/// Where the processes find the S3 server and its credentials.
#[derive(Clone, Copy)]
enum Stores {
    /// `AWS_*` variables, as the CLI reads them.
    Environment,
    /// A service's `dqc.toml` whose cluster's `[clusters.storage]` names them, its secret in a
    /// variable of its own; no `AWS_*` variable is set.
    ConfigFile,
}

impl LocalCluster {
    fn start(scheduler_flags: &str, executor_flags: &str, stores: Stores) -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        // Cargo builds the package's binaries for its integration tests, next to their `deps/`.
        let test = std::env::current_exe().expect("this test's path");
        let bin = test.parent().and_then(Path::parent).expect("the binaries' directory");
        assert!(bin.join("dqc-executor").exists(), "no dqc-executor in {}", bin.display());
        let server = s3::server();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/cluster-local.sh");
        let mut command = Command::new(script);
        command
            .args(["--executors", "2", "--slots", "2", "--dir"])
            .arg(dir.path())
            .env("DQC_CLUSTER_BIN", bin)
            .env("DQC_SCHEDULER_FLAGS", scheduler_flags)
            .env("DQC_EXECUTOR_FLAGS", executor_flags);
        for (name, _) in std::env::vars().filter(|(name, _)| name.starts_with("AWS_") || name == "DQC_CONFIG") {
            command.env_remove(name);
        }
        match stores {
            Stores::Environment => {
                command
                    .env("AWS_ENDPOINT_URL", &server.endpoint)
                    .env("AWS_ALLOW_HTTP", "true")
                    .env("AWS_REGION", "us-east-1")
                    .env("AWS_ACCESS_KEY_ID", "dqc-test")
                    .env("AWS_SECRET_ACCESS_KEY", "dqc-test-secret");
            }
            Stores::ConfigFile => {
                let config = dir.path().join("dqc.toml");
                let text = format!(
                    "[[clusters]]\nname = \"old\"\nrole = \"baseline\"\n\
                     location = \"s3://{BUCKET}/{{table}}/{{partition_path}}\"\n\
                     [clusters.storage]\nendpoint = \"{}\"\nallow_http = \"true\"\nregion = \"us-east-1\"\n\
                     access_key_id = \"dqc-test\"\nsecret_access_key = {{ env = \"DQC_TEST_S3_SECRET\" }}\n",
                    server.endpoint
                );
                std::fs::write(&config, text).expect("write dqc.toml");
                command.arg("--config").arg(config).env("DQC_TEST_S3_SECRET", "dqc-test-secret");
            }
        }
        let mut child = command.stdout(Stdio::piped()).spawn().expect("run scripts/cluster-local.sh");
        let stdout = child.stdout.take().expect("the script's output");
        let mut url = String::new();
        BufReader::new(stdout).read_line(&mut url).expect("the cluster's URL");
        assert!(url.starts_with("df://"), "scripts/cluster-local.sh printed {url:?}");
        Self { script: child, url: url.trim().to_owned(), dir }
    }

    fn pid(&self, process: &str) -> u32 {
        let text = std::fs::read_to_string(self.dir.path().join(format!("{process}.pid"))).expect("a pid file");
        text.trim().parse().expect("a pid")
    }
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        // The script stops its processes when it ends.
        let _ = Command::new("kill").arg(self.script.id().to_string()).status();
        let _ = self.script.wait();
    }
}

/// The spec of two uploaded datasets, read through the S3 server.
fn s3_spec(baseline: &str, candidate: &str) -> DiffSpec {
    let mut spec = DiffSpec::new(format!("s3://{BUCKET}/{baseline}"), format!("s3://{BUCKET}/{candidate}"), &["id"]);
    spec.stores = verifier::Stores::default()
        .with(&format!("s3://{BUCKET}"), s3::options(&s3::server().endpoint))
        .expect("S3 options");
    spec
}

fn comparable(report: &Report) -> Value {
    let mut value = serde_json::to_value(report).expect("report as JSON");
    value["elapsed_ms"] = Value::Null;
    value["buckets"]["read_again"] = Value::Null;
    value
}

fn upload_once() {
    static DONE: std::sync::Once = std::sync::Once::new();
    DONE.call_once(|| {
        s3::create_bucket(BUCKET);
        for side in ["spark/baseline", "spark/candidate"] {
            s3::upload_dir(BUCKET, &orc_fixtures().join(side), &format!("{side}/"));
        }
        // 2 x 400k rows in 8 files a side, a few hundred rows changed: a diff long enough to
        // kill an executor in the middle of it.
        let dir = tempfile::tempdir().expect("temporary directory");
        for side in ["big/baseline", "big/candidate"] {
            for file in 0..8i64 {
                let ids: Vec<i64> = (file * 50_000..(file + 1) * 50_000).collect();
                let values: Vec<String> = ids
                    .iter()
                    .map(|id| {
                        if side.ends_with("candidate") && id % 997 == 0 { format!("v{id}x") } else { format!("v{id}") }
                    })
                    .collect();
                let columns: Vec<(&str, ArrayRef)> =
                    vec![("id", Arc::new(Int64Array::from(ids))), ("v", Arc::new(StringArray::from(values)))];
                write_orc(&dir.path().join(side).join(format!("{file:06}_0")), &[batch(columns)]);
            }
            s3::upload_dir(BUCKET, &dir.path().join(side), &format!("{side}/"));
        }
    });
}

#[test]
fn a_cluster_of_processes_reading_s3_reports_as_a_local_diff() {
    upload_once();
    let cluster = LocalCluster::start("", "", Stores::ConfigFile);
    let spec = s3_spec("spark/baseline", "spark/candidate");
    let local = runtime().block_on(verifier::diff(&spec)).expect("local diff");
    let remote = runtime()
        .block_on(cluster::diff(&spec, &cluster::Cluster::new(&cluster.url, 4).expect("a URL"), Arc::new(NoProgress)))
        .expect("cluster diff");
    assert_eq!(comparable(&remote), comparable(&local));
}

#[test]
fn an_executor_killed_mid_diff_never_gives_a_wrong_report() {
    upload_once();
    // Executors missing two heartbeats (1 s apart) are dead to the scheduler within seconds.
    let cluster = LocalCluster::start(
        "--executor-timeout-seconds 3 --expire-dead-executor-interval-seconds 1",
        "--executor-heartbeat-interval-seconds 1",
        Stores::Environment,
    );
    let spec = s3_spec("big/baseline", "big/candidate");
    let local = runtime().block_on(verifier::diff(&spec)).expect("local diff");
    // Killed once the first job has run a little: in the middle of the diff's reads.
    let (victim, log) = (cluster.pid("executor-1"), cluster.dir.path().join("scheduler.log"));
    let killer = std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !std::fs::read_to_string(&log).unwrap_or_default().contains("Job submitted") && Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(300));
        let status = Command::new("kill").args(["-KILL", &victim.to_string()]).status().expect("kill -KILL");
        (status.success(), Instant::now())
    });
    // Ballista 55 sometimes leaves the job waiting for ever instead: the timeout ends it.
    let on = cluster::Cluster::new(&cluster.url, 8).expect("a URL").with_job_timeout(Duration::from_secs(20));
    let outcome = runtime().block_on(cluster::diff(&spec, &on, Arc::new(NoProgress)));
    let ended = Instant::now();
    let (killed, killed_at) = killer.join().expect("the killer thread");
    assert!(killed && killed_at < ended, "the diff ended before the kill: make it larger");
    let elapsed = ended - killed_at;
    match outcome {
        Ok(report) => {
            assert_eq!(comparable(&report), comparable(&local), "a completed diff is the right one");
            eprintln!("an executor killed mid-diff: the diff completed, right, {elapsed:?} after the kill");
        }
        Err(error) => {
            assert!(matches!(error, Error::Cluster { .. }), "a failed diff says the cluster failed: {error}");
            eprintln!("an executor killed mid-diff: the diff failed {elapsed:?} after the kill: {error}");
        }
    }
}
