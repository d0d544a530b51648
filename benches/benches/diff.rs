//! The diff against its floor, a plain scan of the same files.
//!
//! Data: a seeded `orders`-like table (flat columns, so orc-rust can write it), one ORC file
//! per side, generated before anything is timed, at 1e5 and 1e6 rows per side. Cases: the
//! fingerprint pass of both sides alone; a diff of equal sides (only the fingerprint pass runs);
//! and of 0.1% changed rows (the diff pass reads the differing buckets again: its cost is the
//! difference of the two diffs). Compare each case's time with `scan_both_sides` of the same
//! run: the ratio is what matters on a noisy machine.

use std::path::Path;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, Float64Array, Int32Array, Int64Array, RecordBatch, StringArray, TimestampNanosecondArray,
};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use verifier::{DiffOptions, DiffSpec, FingerprintSpec, ResourceLimits, Side};

const STATUSES: [&str; 4] = ["paid", "shipped", "退款", "cancelled"];

/// Rows `start..end` of the table; `changed_every` > 0 alters `qty` of every n-th row.
fn orders(start: i64, end: i64, changed_every: i64) -> RecordBatch {
    let ids: Vec<i64> = (start..end).collect();
    let mix = |i: i64, salt: i64| (i.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(salt) >> 17).unsigned_abs();
    let columns: Vec<(&str, ArrayRef)> = vec![
        ("order_id", Arc::new(Int64Array::from(ids.clone()))),
        ("shop_id", Arc::new(ids.iter().map(|&i| (mix(i, 1) % 5000) as i32).collect::<Int32Array>())),
        (
            "buyer",
            Arc::new(
                ids.iter()
                    .map(|&i| (mix(i, 2) % 100 != 0).then(|| format!("buyer-{}", mix(i, 3) % 100_000)))
                    .collect::<StringArray>(),
            ),
        ),
        ("price", Arc::new(ids.iter().map(|&i| (mix(i, 4) % 100_000) as f64 / 100.0).collect::<Float64Array>())),
        (
            "qty",
            Arc::new(
                ids.iter()
                    .map(|&i| (mix(i, 5) % 10) as i32 + i32::from(changed_every > 0 && i % changed_every == 0))
                    .collect::<Int32Array>(),
            ),
        ),
        ("status", Arc::new(ids.iter().map(|&i| Some(STATUSES[(mix(i, 6) % 4) as usize])).collect::<StringArray>())),
        (
            "created_at",
            Arc::new(TimestampNanosecondArray::from_iter_values(
                ids.iter().map(|&i| 1_714_521_600_000_000_000 + i * 1_000_000_007),
            )),
        ),
    ];
    dqc_tests::batch(columns)
}

fn write_side(dir: &Path, rows: i64, changed_every: i64) {
    let batches: Vec<RecordBatch> =
        (0..rows).step_by(8192).map(|start| orders(start, (start + 8192).min(rows), changed_every)).collect();
    dqc_tests::write_orc(&dir.join("part-00000.orc"), &batches);
}

/// One size: scan of both sides (the floor), the fingerprint pass of both sides, a diff of equal
/// sides (the fingerprint pass and nothing else) and of 0.1% changed rows (both passes).
fn bench_rows(c: &mut Criterion, rows: i64, label: &str) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = |name: &str| dir.path().join(name).to_string_lossy().into_owned();
    write_side(&dir.path().join("baseline"), rows, 0);
    write_side(&dir.path().join("equal"), rows, 0);
    write_side(&dir.path().join("changed"), rows, 1000);
    let runtime = dqc_tests::runtime();
    let mut group = c.benchmark_group("orders");
    group.throughput(Throughput::Elements(2 * rows as u64));
    group.sample_size(10);
    let (baseline, equal, changed) = (path("baseline"), path("equal"), path("changed"));
    group.bench_function(format!("rows={label}/scan_both_sides"), |b| {
        b.iter(|| {
            runtime.block_on(async {
                let (limits, stores) = (ResourceLimits::default(), verifier::Stores::default());
                let (b, c) = tokio::try_join!(
                    verifier::scan(&baseline, &limits, &stores),
                    verifier::scan(&equal, &limits, &stores)
                )
                .expect("scan");
                b.rows + c.rows
            })
        })
    });
    let fingerprint_spec = |uri: &str| FingerprintSpec {
        uri: uri.to_owned(),
        side: Side::Baseline,
        key: vec!["order_id".to_owned()],
        options: DiffOptions::default(),
        limits: ResourceLimits::default(),
        buckets: None,
        stores: Default::default(),
    };
    let (b_spec, c_spec) = (fingerprint_spec(&baseline), fingerprint_spec(&equal));
    group.bench_function(format!("rows={label}/fingerprint_pass_both_sides"), |b| {
        b.iter(|| {
            runtime.block_on(async {
                tokio::try_join!(verifier::fingerprint_dataset(&b_spec), verifier::fingerprint_dataset(&c_spec))
                    .expect("fingerprint")
            })
        })
    });
    for (name, candidate) in [("diff_equal", &equal), ("diff_changed_0.1pct", &changed)] {
        let spec = DiffSpec::new(baseline.clone(), candidate.clone(), &["order_id"]);
        group.bench_function(format!("rows={label}/{name}"), |b| {
            b.iter(|| runtime.block_on(verifier::diff(&spec)).expect("diff"))
        });
    }
    group.finish();
}

fn bench(c: &mut Criterion) {
    bench_rows(c, 100_000, "1e5");
    bench_rows(c, 1_000_000, "1e6");
}

criterion_group!(benches, bench);
criterion_main!(benches);
