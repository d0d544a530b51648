//! The job runner against a real store and real ORC files: at most `max_concurrent` diffs at
//! once, automatic jobs held back outside the run window while on-demand jobs still run.

use std::collections::BTreeMap;
use std::time::Duration;

use api::store::{JobSpec, JobState, ReportFilter, SideSpec, Verdict};
use chrono::{Timelike, Utc};
use collector::consumer::validate;
use collector::store::Source;
use tokio::sync::watch;

use crate::support::{clusters, clusters_toml, event, wait_until, write_table};

fn config_text(root: &std::path::Path, window: &str) -> String {
    format!(
        r#"{clusters}

[store]
url = "sqlite://{root}/dqc.db"

[runner]
max_concurrent = 2
poll_interval = "50ms"
windows = {{ only = ["{window}"] }}
"#,
        clusters = clusters_toml(root),
        root = root.display()
    )
}

/// A window that opens in two hours: closed now.
fn closed_window() -> String {
    let now = Utc::now();
    format!("{:02}:00-{:02}:00", (now.hour() + 2) % 24, (now.hour() + 3) % 24)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn diffs_respect_the_concurrency_limit_and_the_run_window() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let run = "2024-05-01";
    for index in 0..6 {
        write_table(root, "idc-hadoop", &format!("t{index}"), run, 200_000, 0);
        write_table(root, "cloud-emr", &format!("t{index}"), run, 200_000, 0);
    }
    let config = api::config::parse(&config_text(root, &closed_window()), "test", &BTreeMap::new()).unwrap();
    let store = api::service::open_store(&config).await.unwrap();
    // dw.t0 pairs automatically; dw.t1..t5 are asked for.
    let pair: Vec<_> = [("b", "idc-hadoop"), ("c", "cloud-emr")]
        .iter()
        .enumerate()
        .map(|(offset, (id, cluster))| {
            let payload = event(id, cluster, "dw.t0", run, 1, "succeeded");
            validate(payload.as_bytes(), &clusters(), Source::kafka("events", 0, offset as i64))
        })
        .collect();
    store.accept_at(&pair, Utc::now()).await.unwrap();
    for index in 1..6 {
        let side = |cluster: &str| SideSpec {
            cluster: cluster.into(),
            location: None,
            partition_path: format!("dt={run}"),
            event_id: None,
            attempt: None,
        };
        let spec = JobSpec {
            table: format!("dw.t{index}"),
            partition: format!("dt={run}"),
            run_id: None,
            baseline: side("idc-hadoop"),
            candidate: side("cloud-emr"),
        };
        store.enqueue(&spec, Utc::now()).await.unwrap();
    }
    let (stop, shutdown) = watch::channel(false);
    let runner =
        tokio::spawn(api::runner::run(store.clone(), std::sync::Arc::new(config), std::sync::Arc::default(), shutdown));
    let most_running = std::sync::atomic::AtomicUsize::new(0);
    wait_until("the on-demand diffs", Duration::from_secs(120), || async {
        let jobs = store.jobs(None).await.unwrap();
        let running = jobs.iter().filter(|job| job.state == JobState::Running).count();
        most_running.fetch_max(running, std::sync::atomic::Ordering::SeqCst);
        jobs.iter().filter(|job| job.state == JobState::Done).count() == 5
    })
    .await;
    let most_running = most_running.into_inner();
    stop.send(true).unwrap();
    runner.await.unwrap();
    assert!((1..=2).contains(&most_running), "at most 2 diffs at once, saw {most_running}");
    let jobs = store.jobs(Some("dw.t0")).await.unwrap();
    assert_eq!((jobs[0].state, jobs[0].attempts), (JobState::Queued, 0), "the window is closed for automatic jobs");
    let reports = store.reports(&ReportFilter::default()).await.unwrap();
    assert!(reports.iter().all(|report| report.verdict == Verdict::Consistent) && reports.len() == 5);
}
