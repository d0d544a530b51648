//! Checking one gating transition on a DAG of 10,000 workflows and 100,000 tasks (issue 6's
//! target: under 100 ms per check). The workflow graph and its units (Tarjan's SCC pass) are
//! computed once per DAG change, and timed separately.
//!
//! `cargo bench --bench gating`

use std::hint::black_box;

use api::gating::{History, Model, Task, TaskKind, WorkflowState, check};
use api::store::Verdict;
use criterion::{Criterion, criterion_group, criterion_main};

const WORKFLOWS: usize = 10_000;
const TASKS: usize = 100_000;

/// Ten tasks per workflow; each task reads 1-3 earlier tasks, one in five from another
/// workflow; every hundredth workflow also feeds the one before it, which makes 100 cycles of
/// two workflows. Workflows below the middle run dual, the rest not yet.
fn dag() -> Model {
    let mut state = 0x9E37_79B9_7F4A_7C15_u64;
    let mut next = move |bound: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % bound as u64) as usize
    };
    let workflows = (0..WORKFLOWS)
        .map(|w| (format!("w{w}"), if w < WORKFLOWS / 2 { WorkflowState::DualRun } else { WorkflowState::NotMigrated }))
        .collect();
    let tasks = (0..TASKS)
        .map(|index| {
            let workflow = index / (TASKS / WORKFLOWS);
            let upstream = (0..1 + next(3))
                .filter(|_| index > 0)
                .map(|_| {
                    if next(5) == 0 {
                        format!("t{}", next(index))
                    } else {
                        format!(
                            "t{}",
                            workflow * (TASKS / WORKFLOWS) + next(index % (TASKS / WORKFLOWS) + 1).min(index)
                        )
                    }
                })
                .filter(|id| *id != format!("t{index}"))
                .collect();
            let mut upstream: Vec<String> = upstream;
            let per = TASKS / WORKFLOWS;
            if workflow % 100 == 1 && index % per == 0 {
                // The first task of this workflow reads the last one of the next, and the next
                // one's first task reads this one's last: a cycle of two workflows.
                upstream.push(format!("t{}", (workflow + 1) * per + per - 1));
            }
            if workflow % 100 == 2 && index % per == 0 {
                upstream.push(format!("t{}", (workflow - 1) * per + per - 1));
            }
            let kind = if index % 10 == 9 { TaskKind::Export } else { TaskKind::Sql };
            let task = Task {
                id: format!("t{index}"),
                workflow: format!("w{workflow}"),
                kind,
                upstream,
                outputs: vec![format!("db.t{index}")],
            };
            (task.id.clone(), task)
        })
        .collect();
    Model { workflows, tasks }
}

fn gating(c: &mut Criterion) {
    let model = dag();
    let graph = model.graph();
    let largest = graph.units.iter().map(Vec::len).max().unwrap_or(0);
    let cycles = graph.units.iter().filter(|unit| unit.len() > 1).count();
    println!(
        "{} workflows, {} tasks, {cycles} cycles, largest unit {largest} workflows",
        model.workflows.len(),
        model.tasks.len()
    );
    let history = |_: &str| -> History { (0..7).map(|run| (format!("r{run}"), Verdict::Consistent)).collect() };
    let needed = |_: &str| 7;
    let mut group = c.benchmark_group("gating");
    group.sample_size(20);
    group.bench_function("workflow graph and units (10k workflows, 100k tasks)", |b| {
        b.iter(|| black_box(model.graph()))
    });
    group.bench_function("check one transition to dual_run", |b| {
        b.iter(|| check(&model, &graph, black_box("w5001"), WorkflowState::DualRun, &history, &needed))
    });
    group.bench_function("check one transition to migrated", |b| {
        b.iter(|| check(&model, &graph, black_box("w101"), WorkflowState::Migrated, &history, &needed))
    });
    group.finish();
}

criterion_group!(benches, gating);
criterion_main!(benches);
