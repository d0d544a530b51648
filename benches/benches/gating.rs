//! Checking one gating transition on a DAG of 10,000 workflows and 100,000 tasks (issue 6's
//! target: under 100 ms per check). The workflow graph and its units (Tarjan's SCC pass) are
//! computed once per DAG change, and timed separately.
//!
//! The overview (one check per unit, every workflow's next step) and the store's side (the DAG
//! imported into SQLite once, timed and printed; reading the model back) are measured too: the
//! API checks a transition on a cached model and reads it anew only after a change.
//!
//! `cargo bench --bench gating`

use std::hint::black_box;

use api::gating::{Dag, History, Model, Task, TaskKind, WorkflowState, check, overview};
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
    group.bench_function("overview: every workflow's next step", |b| {
        b.iter(|| black_box(overview(&model, &graph, &history, &needed)))
    });
    // The gating page's sort by the workflows waiting downstream (cached per model version).
    group.bench_function("workflows waiting downstream of each of 10k", |b| {
        b.iter(|| black_box(graph.waiting_downstream()))
    });
    store_side(&mut group, &model);
    group.finish();
}

/// Imports the DAG into a SQLite store (printed: it runs once) and benches reading it back.
fn store_side(group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>, model: &Model) {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let dir = tempfile::tempdir().expect("temporary directory");
    let url = format!("sqlite://{}", dir.path().join("gating.db").display());
    let clusters = collector::Clusters { baseline: "idc".into(), candidate: "cloud".into() };
    let store =
        runtime.block_on(api::store::Store::open(&url, clusters, std::time::Duration::from_secs(3600))).expect("store");
    let dag = Dag::of(model);
    let started = std::time::Instant::now();
    let imported = runtime
        .block_on(store.import_dag(&dag, &api::store::Actor { name: "bench", admin: true }, chrono::Utc::now()))
        .expect("import")
        .expect("admitted");
    println!(
        "imported {} workflows, {} tasks, {} edges into SQLite in {:.2} s",
        imported.workflows,
        imported.tasks,
        imported.edges,
        started.elapsed().as_secs_f64()
    );
    group.sample_size(10);
    group.bench_function("read the model back from SQLite", |b| {
        b.iter(|| runtime.block_on(store.gating_model()).expect("model"))
    });
    over_http(group, &runtime, store, &url);
}

/// The API's view: a dry run of a transition over loopback HTTP, the first after a change
/// (reads the model, builds the graph: printed) and then on the cached model (benched).
fn over_http(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    runtime: &tokio::runtime::Runtime,
    store: api::store::Store,
    url: &str,
) {
    const TOKEN: &str = "bench-operator";
    let config = format!(
        "[[clusters]]\nname = \"idc\"\nrole = \"baseline\"\nlocation = \"/idc/{{table}}\"\n\n\
         [[clusters]]\nname = \"cloud\"\nrole = \"candidate\"\nlocation = \"/cloud/{{table}}\"\n\n\
         [api]\ntokens = [{{ name = \"bench\", role = \"operator\", sha256 = \"{}\" }}]\n\n[store]\nurl = \"{url}\"\n",
        api::rest::hash_token(TOKEN)
    );
    let config = api::config::parse(&config, "bench", &Default::default()).expect("config");
    let state = api::rest::AppState::new(store, std::sync::Arc::new(config), std::sync::Arc::default()).expect("state");
    let (router, _) = api::rest::router(state).expect("router");
    let (_stop, shutdown) = tokio::sync::watch::channel(false);
    let base = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("port");
        let base = format!("http://{}", listener.local_addr().expect("address"));
        tokio::spawn(api::rest::serve(listener, router, shutdown));
        base
    });
    let client = reqwest::Client::new();
    let dry_run = || {
        runtime.block_on(async {
            let response = client
                .post(format!("{base}/api/v1/gating/workflows/w101/transitions"))
                .bearer_auth(TOKEN)
                .json(&serde_json::json!({"to": "migrated", "dry_run": true}))
                .send()
                .await
                .expect("request");
            assert_eq!(response.status(), reqwest::StatusCode::OK);
            response.bytes().await.expect("body")
        })
    };
    let started = std::time::Instant::now();
    black_box(dry_run());
    println!(
        "first dry run after a change (reads the model, builds the graph): {:.2} s",
        started.elapsed().as_secs_f64()
    );
    group.sample_size(50);
    group.bench_function("dry run over HTTP on the cached model", |b| b.iter(|| black_box(dry_run())));
}

criterion_group!(benches, gating);
criterion_main!(benches);
