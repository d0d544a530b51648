//! The runner sends the diffs of tables at or above `[cluster] above_rows` to a Ballista cluster
//! (Ballista's in-process one: a scheduler and an executor in the test process, plans through
//! protobuf and gRPC on loopback), and, when the cluster does not run a diff, runs it here or
//! fails it, as `fallback` says.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use api::store::{JobSpec, ReportFilter, SideSpec, StoredReport, Verdict};
use chrono::Utc;
use tokio::sync::watch;

use crate::support::{clusters_toml, wait_until, write_table};

const RUN: &str = "2024-05-01";

/// Diffs `dw.t0` (1,000 rows, 7 changed; no key registered: a multiset diff) through the runner with `cluster` as the `[cluster]`
/// section; returns the stored report.
async fn diff_through_the_runner(cluster: &str) -> StoredReport {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write_table(root, "idc-hadoop", "t0", RUN, 1000, 0);
    write_table(root, "cloud-emr", "t0", RUN, 1000, 7);
    let text = format!(
        "{clusters}\n[store]\nurl = \"sqlite://{root}/dqc.db\"\n\n[runner]\npoll_interval = \"50ms\"\n\
         max_attempts = 1\n\n[cluster]\n{cluster}\n",
        clusters = clusters_toml(root),
        root = root.display()
    );
    let config = api::config::parse(&text, "test", &BTreeMap::new()).unwrap();
    let store = api::service::open_store(&config).await.unwrap();
    let side = |cluster: &str| SideSpec {
        cluster: cluster.into(),
        location: None,
        partition_path: format!("dt={RUN}"),
        event_id: None,
        attempt: None,
    };
    let spec = JobSpec {
        table: "dw.t0".into(),
        partition: format!("dt={RUN}"),
        run_id: None,
        baseline: side("idc-hadoop"),
        candidate: side("cloud-emr"),
    };
    store.enqueue(&spec, Utc::now()).await.unwrap();
    let (stop, shutdown) = watch::channel(false);
    let runner = tokio::spawn(api::runner::run(store.clone(), Arc::new(config), Arc::default(), shutdown));
    wait_until("the report", Duration::from_secs(120), || async {
        !store.reports(&ReportFilter::default()).await.unwrap().is_empty()
    })
    .await;
    stop.send(true).unwrap();
    runner.await.unwrap();
    let listed = store.reports(&ReportFilter::default()).await.unwrap();
    store.report(listed[0].id).await.unwrap().unwrap()
}

/// A port nothing listens on.
pub(crate) fn dead_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    format!("df://127.0.0.1:{}", listener.local_addr().unwrap().port())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_table_above_the_threshold_is_diffed_on_the_cluster() {
    let url = cluster::standalone::start(1, 2).await.unwrap();
    let report = diff_through_the_runner(&format!("url = \"{url}\"\nabove_rows = 1000\nfallback = \"fail\"")).await;
    assert_eq!(report.verdict, Verdict::Inconsistent, "{:?}", report.reason);
    // No key is registered for dw.t0: its rows are compared as multisets.
    let summary = &report.report["summary"];
    assert_eq!(
        (&summary["matched"], &summary["only_in_baseline"], &summary["only_in_candidate"]),
        (&993.into(), &7.into(), &7.into())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_that_does_not_answer_fails_the_diff_or_leaves_it_to_this_process() {
    let url = dead_url();
    let failed = diff_through_the_runner(&format!("url = \"{url}\"\nabove_rows = 10\nfallback = \"fail\"")).await;
    assert_eq!(failed.verdict, Verdict::Error);
    let reason = failed.reason.unwrap_or_default();
    assert!(reason.contains(&format!("the cluster at {url} could not run the diff")), "{reason}");
    let local = diff_through_the_runner(&format!("url = \"{url}\"\nabove_rows = 10\nfallback = \"local\"")).await;
    assert_eq!((local.verdict, &local.report["summary"]["only_in_candidate"]), (Verdict::Inconsistent, &7.into()));
    // Below the threshold the cluster is not asked at all.
    let small = diff_through_the_runner(&format!("url = \"{url}\"\nabove_rows = 1001\nfallback = \"fail\"")).await;
    assert_eq!(small.verdict, Verdict::Inconsistent);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_above_the_threshold_fails_without_a_cluster_when_told_to() {
    let report = diff_through_the_runner("above_rows = 10\nfallback = \"fail\"").await;
    assert_eq!(report.verdict, Verdict::Error);
    assert!(report.reason.unwrap_or_default().contains("no cluster is configured"));
}
