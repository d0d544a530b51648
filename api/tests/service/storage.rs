//! The service on warehouses in an S3-compatible server (moto, started by
//! `scripts/s3-server.sh`): both clusters' templates in `s3://`, their `[clusters.storage]` with
//! the secret read from the environment at load, and a pair of events diffed where the templates
//! say.

use std::time::Duration;

use dqc_tests::s3;

use crate::rest::{OPERATOR, Running, config_text};
use crate::support::{event, wait_until, write_table};

const RUN: &str = "2024-05-01";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pair_in_s3_is_diffed_where_the_clusters_templates_say() {
    crate::support::init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    for cluster in ["idc-hadoop", "cloud-emr"] {
        write_table(&root, cluster, "changed", RUN, 500, if cluster == "cloud-emr" { 3 } else { 0 });
    }
    let warehouses = root.clone();
    // The helpers block on a runtime of their own: off this one.
    let endpoint = std::thread::spawn(move || {
        s3::create_bucket("svc");
        for cluster in ["idc-hadoop", "cloud-emr"] {
            s3::upload_dir("svc", &warehouses.join(cluster), &format!("{cluster}/"));
        }
        s3::server().endpoint.clone()
    })
    .join()
    .unwrap();
    let database = format!("sqlite://{}", root.join("dqc.db").display());
    let storage = format!(
        "storage = {{ endpoint = \"{endpoint}\", allow_http = \"true\", region = \"us-east-1\", \
         access_key_id = \"dqc-test\", secret_access_key = {{ env = \"DQC_TEST_S3_SECRET\" }} }}\n"
    );
    let text = config_text(&root, "", &database)
        .replace(&format!("location = \"file://{}/", root.display()), &format!("{storage}location = \"s3://svc/"));
    let env = [("DQC_TEST_S3_SECRET".to_owned(), "dqc-test-secret".to_owned())].into();
    let config = api::config::parse(&text, "test", &env).unwrap();
    assert!(config.clusters.iter().all(|cluster| cluster.location.starts_with("s3://svc/{cluster}/")), "{text}");
    assert!(!format!("{config:?}").contains("dqc-test-secret"));
    let store = api::service::open_store(&config).await.unwrap();
    let running = Running::start(config).await;
    let client = reqwest::Client::new();
    for (id, cluster) in [("b", "idc-hadoop"), ("c", "cloud-emr")] {
        let response = client
            .post(format!("{}/api/v1/events", running.url))
            .bearer_auth(OPERATOR)
            .header("content-type", "application/json")
            .body(event(id, cluster, "dw.changed", RUN, 1, "succeeded"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), reqwest::StatusCode::ACCEPTED);
    }
    let filter = api::store::ReportFilter { table: Some("dw.changed".into()), ..Default::default() };
    wait_until("the report of the pair", Duration::from_secs(60), || async {
        !store.reports(&filter).await.unwrap().is_empty()
    })
    .await;
    let id = store.reports(&filter).await.unwrap()[0].id;
    let report = store.report(id).await.unwrap().unwrap();
    let document = &report.report;
    assert_eq!(report.verdict, verifier::Verdict::Inconsistent, "{document}");
    assert_eq!(document["summary"]["changed"], 3, "{document}");
    assert_eq!(document["baseline"]["uri"], format!("s3://svc/idc-hadoop/warehouse/dw.db/changed/dt={RUN}"));
    assert_eq!(document["candidate"]["uri"], format!("s3://svc/cloud-emr/warehouse/dw.db/changed/dt={RUN}"));
    running.stop().await;
}
