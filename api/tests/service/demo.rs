//! `dqc demo --exit`, the README's main command, as a user runs it.

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
    ] {
        assert!(stdout.contains(line), "`{line}` in\n{stdout}");
    }
    assert!(stdout.contains("failed on cloud-emr"), "{stdout}");
    assert!(stdout.contains("missing on cloud-emr"), "{stdout}");
}
