//! The report page's server-side rendering, for a report of 1,000 columns that all differ, each
//! with 20 samples, and 20 changed rows of 1,000 columns (the widest report a table can give):
//! the target is under 50 ms.
//!
//!     cargo bench --workspace --bench pages

use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::{Map, Value, json};

fn wide_report(columns: usize) -> api::store::StoredReport {
    let name = |index: usize| format!("column_{index:04}");
    let sample = |index: usize| json!({"key": {"id": index}, "baseline": format!("value-{index}-baseline"), "candidate": format!("value-{index}-candidate")});
    let column_reports: Vec<Value> = (0..columns)
        .map(|c| {
            json!({"name": name(c), "baseline_type": "string", "candidate_type": "string", "key": false,
                   "mismatches": 1000 - c, "samples": (0..20).map(sample).collect::<Vec<_>>()})
        })
        .collect();
    let row =
        |side: &str| -> Map<String, Value> { (0..columns).map(|c| (name(c), json!(format!("{side}-{c}")))).collect() };
    let changed: Vec<Value> = (0..20)
        .map(|r| {
            json!({"key": {"id": r}, "columns": (0..columns).map(name).collect::<Vec<_>>(),
                   "baseline": row("b"), "candidate": row("c")})
        })
        .collect();
    let document = json!({
        "verdict": "inconsistent", "key": ["id"],
        "baseline": {"uri": "s3://warehouse/dw.db/wide/dt=2024-05-01", "rows": 1_000_000, "files": 40},
        "candidate": {"uri": "oss://emr/dw.db/wide/dt=2024-05-01", "rows": 1_000_000, "files": 40},
        "summary": {"matched": 999_000, "changed": 1000, "only_in_baseline": 0, "only_in_candidate": 0},
        "columns": column_reports,
        "schema": {"only_in_baseline": [], "only_in_candidate": [], "type_changes": []},
        "samples": {"changed": changed, "only_in_baseline": [], "only_in_candidate": [], "duplicate_keys": [],
                    "null_keys_baseline": [], "null_keys_candidate": []},
    });
    api::store::StoredReport {
        id: 1,
        pair: None,
        job_id: Some(1),
        table: "dw.wide".into(),
        partition: "dt=2024-05-01".into(),
        run_id: "2024-05-01".into(),
        verdict: api::store::Verdict::Inconsistent,
        reason: None,
        report: document,
        created_at: chrono::Utc::now(),
        export_path: None,
    }
}

fn report_page(c: &mut Criterion) {
    let report = wide_report(1000);
    let html = api::rest::ui::render_page(&report).expect("renders");
    eprintln!("report page of 1,000 columns: {} KiB of HTML", html.len() / 1024);
    c.bench_function("report_page/columns=1000", |b| b.iter(|| api::rest::ui::render_page(&report).expect("renders")));
}

criterion_group!(benches, report_page);
criterion_main!(benches);
