//! The shipped binary: `dqc demo --exit` (the README's main command) and `dqc serve`.

use std::process::Command;

#[test]
fn the_demo_prints_every_report_with_the_expected_verdicts_and_exits() {
    let output = Command::new(env!("CARGO_BIN_EXE_dqc"))
        .args(["demo", "--exit", "--port", "0", "--rows", "2000"])
        .output()
        .expect("dqc demo runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "exit {:?}\n{stdout}\n{stderr}", output.status);
    for line in [
        "consistent    shop.orders",
        "consistent    shop.payments",
        "inconsistent  shop.customers  dt=2024-05-01  matched 1996, changed 3, only in baseline 1, only in candidate 1",
        "divergent     shop.inventory",
        "divergent     shop.shipments",
        "/api/v1/openapi.json",
        "every verdict is the expected one",
        "Inventory 1 of both warehouses' shop database",
        "inconsistent  5 tables, 5 partitions: 3 equal, 1 different, 1 missing in the candidate, 0 missing in the baseline",
        "/inventories/1   (its page",
    ] {
        assert!(stdout.contains(line), "`{line}` in\n{stdout}");
    }
    assert!(stdout.contains("failed on cloud-emr"), "{stdout}");
    assert!(stdout.contains("missing on cloud-emr"), "{stdout}");
}

/// `dqc serve` as shipped: the API answers on its port, and SIGTERM stops it cleanly.
#[tokio::test]
async fn serve_answers_on_its_port_and_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("dqc.toml");
    let text = format!(
        "{}\n[store]\nurl = \"sqlite://{}\"\n",
        crate::support::clusters_toml(dir.path()),
        dir.path().join("dqc.db").display()
    );
    std::fs::write(&config, text).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_dqc"))
        .args(["serve", "--config"])
        .arg(&config)
        .env("DQC_API__LISTEN", format!("127.0.0.1:{port}"))
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}");
    crate::support::wait_until("the API answers", std::time::Duration::from_secs(30), || async {
        reqwest::get(format!("{url}/readyz")).await.is_ok_and(|response| response.status().is_success())
    })
    .await;
    let reports = reqwest::get(format!("{url}/api/v1/reports")).await.unwrap();
    assert_eq!(reports.status(), reqwest::StatusCode::UNAUTHORIZED, "no token configured, no anonymous role");
    let pid = child.id().unwrap().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let status = tokio::time::timeout(std::time::Duration::from_secs(20), child.wait()).await.unwrap().unwrap();
    assert!(status.success(), "a clean shutdown exits 0: {status:?}");
}
