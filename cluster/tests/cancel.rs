//! A cluster diff given up on (its future dropped, as the service's runner does when a job is
//! cancelled) cancels its jobs on the cluster: they do not run on for nothing.

use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::{ArrayRef, Int64Array};
use ballista_core::serde::protobuf::scheduler_grpc_client::SchedulerGrpcClient;
use ballista_core::serde::protobuf::{GetJobStatusParams, job_status};
use dqc_tests::{batch, path_str, write_parquet};
use parquet::basic::Compression;
use verifier::{DiffSpec, NoProgress};

/// The status of job `id` on the scheduler at `endpoint`: `None` once it is gone.
async fn status(endpoint: &str, id: &str) -> Option<job_status::Status> {
    let mut scheduler = SchedulerGrpcClient::connect(endpoint.to_owned()).await.expect("the scheduler answers");
    let answer = scheduler.get_job_status(GetJobStatusParams { job_id: id.to_owned() }).await.expect("a job status");
    answer.into_inner().status.and_then(|status| status.status)
}

fn running(status: Option<&job_status::Status>) -> bool {
    matches!(status, Some(job_status::Status::Queued(_) | job_status::Status::Running(_)))
}

#[test]
fn a_dropped_cluster_diff_cancels_its_jobs_on_the_cluster() {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    // A scheduler without executors: the diff's jobs wait, so they are surely running when the
    // diff is dropped.
    let url = runtime.block_on(cluster::standalone::start(0, 1)).expect("in-process scheduler");
    let endpoint = url.replace("df://", "http://");
    let dir = tempfile::tempdir().expect("temporary directory");
    let ids = Arc::new(Int64Array::from_iter_values(0..100)) as ArrayRef;
    for side in ["b", "c"] {
        let rows = batch(vec![("id", Arc::clone(&ids)), ("v", Arc::clone(&ids))]);
        write_parquet(&dir.path().join(side).join("part-0.parquet"), &[rows], Compression::SNAPPY);
    }
    let spec = DiffSpec::new(path_str(&dir.path().join("b")), path_str(&dir.path().join("c")), &["id"]);
    let cluster = Arc::new(cluster::Cluster::new(&url, 2).expect("a cluster URL"));

    let diff = runtime.spawn({
        let cluster = Arc::clone(&cluster);
        async move { cluster::diff(&spec, &cluster, Arc::new(NoProgress)).await }
    });
    let started = Instant::now();
    let jobs = loop {
        let jobs = cluster.submitted_jobs();
        let statuses: Vec<_> = jobs.iter().map(|id| runtime.block_on(status(&endpoint, id))).collect();
        if !jobs.is_empty() && statuses.iter().all(|status| running(status.as_ref())) {
            break jobs;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "no job running after a minute: {statuses:?}");
        std::thread::sleep(Duration::from_millis(50));
    };

    diff.abort();
    for id in &jobs {
        let started = Instant::now();
        loop {
            let status = runtime.block_on(status(&endpoint, id));
            if !running(status.as_ref()) {
                break;
            }
            assert!(started.elapsed() < Duration::from_secs(30), "job {id} still {status:?} 30 s after the diff ended");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}
