//! The store, on SQLite and PostgreSQL: idempotent intake, pairing outcomes, deadlines, the
//! job queue (priorities, windows, leases, retries), the table registry and the gating model.

use std::time::Duration;

use api::config::TableConfig;
use api::store::{JobSpec, JobState, NewReport, ReportFilter, SideSpec, Store, Verdict};
use chrono::{DateTime, TimeZone, Utc};
use collector::consumer::validate;
use collector::store::{Accepted, Delivery, Source};

use crate::support::{DEADLINE, clusters, event, fresh_urls, job_counts, on_every_store};

fn at(hour: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 5, 2, hour, 0, 0).unwrap()
}

fn delivery(payload: &str, offset: i64) -> Delivery {
    validate(payload.as_bytes(), &clusters(), Source::kafka("events", 0, offset))
}

async fn verdicts(store: &Store) -> Vec<(String, Verdict, Option<String>)> {
    let mut reports = store.reports(&ReportFilter::default()).await.unwrap();
    reports.reverse();
    reports.into_iter().map(|report| (report.table, report.verdict, report.reason)).collect()
}

#[tokio::test]
async fn intake_is_idempotent_and_keeps_dead_letters() {
    on_every_store(|store, engine| async move {
        let batch = [
            delivery(&event("b1", "idc-hadoop", "dw.orders", "2024-05-01", 1, "succeeded"), 0),
            delivery("{not json", 1),
            delivery(&event("x1", "gcp", "dw.orders", "2024-05-01", 1, "succeeded"), 2),
            delivery(&event("c1", "cloud-emr", "dw.orders", "2024-05-01", 1, "succeeded"), 3),
        ];
        let first = store.accept_at(&batch, at(3)).await.unwrap();
        assert_eq!(first, Accepted { events: 2, duplicates: 0, dead_letters: 2, decisions: 1 }, "{engine}");
        let again = store.accept_at(&batch, at(4)).await.unwrap();
        assert_eq!(again, Accepted { events: 0, duplicates: 2, dead_letters: 0, decisions: 0 }, "{engine}");
        assert_eq!(job_counts(&store).await, vec![(JobState::Queued, 1)], "{engine}");
        let letters = store.dead_letters().await.unwrap();
        assert_eq!(letters.len(), 2, "{engine}");
        assert_eq!((letters[0].offset, letters[0].payload.as_str()), (Some(1), "{not json"));
        assert!(letters[0].reason.contains("not a valid event"), "{}", letters[0].reason);
        assert!(letters[1].reason.contains("unknown cluster `gcp`"), "{}", letters[1].reason);
        assert_eq!(store.event_count().await.unwrap(), 2);
    })
    .await;
}

#[tokio::test]
async fn failed_and_missing_sides_are_divergent_once() {
    on_every_store(|store, engine| async move {
        let batch = [
            delivery(&event("b1", "idc-hadoop", "dw.failed", "2024-05-01", 1, "succeeded"), 0),
            delivery(&event("c1", "cloud-emr", "dw.failed", "2024-05-01", 1, "failed"), 1),
            delivery(&event("b2", "idc-hadoop", "dw.lonely", "2024-05-01", 1, "succeeded"), 2),
        ];
        store.accept_at(&batch, at(1)).await.unwrap();
        assert_eq!(store.expire_due(at(1)).await.unwrap(), 0, "{engine}: not due yet");
        // The lonely side finished at 01:00 and the deadline is one hour.
        assert_eq!(store.expire_due(at(2)).await.unwrap(), 1, "{engine}");
        assert_eq!(store.expire_due(at(5)).await.unwrap(), 0, "{engine}: reported once");
        assert_eq!(
            verdicts(&store).await,
            vec![
                ("dw.failed".to_owned(), Verdict::Divergent, Some("failed on cloud-emr (attempt 1)".to_owned())),
                ("dw.lonely".to_owned(), Verdict::Divergent, Some("missing on cloud-emr".to_owned())),
            ],
            "{engine}"
        );
        assert!(job_counts(&store).await.is_empty(), "{engine}");
    })
    .await;
}

#[tokio::test]
async fn a_rerun_supersedes_the_queued_diff() {
    on_every_store(|store, engine| async move {
        let batch = [
            delivery(&event("b1", "idc-hadoop", "dw.orders", "2024-05-01", 1, "succeeded"), 0),
            delivery(&event("c1", "cloud-emr", "dw.orders", "2024-05-01", 1, "succeeded"), 1),
        ];
        store.accept_at(&batch, at(3)).await.unwrap();
        let rerun = [delivery(&event("c2", "cloud-emr", "dw.orders", "2024-05-01", 2, "succeeded"), 2)];
        assert_eq!(store.accept_at(&rerun, at(4)).await.unwrap().decisions, 1);
        assert_eq!(job_counts(&store).await, vec![(JobState::Queued, 1), (JobState::Superseded, 1)], "{engine}");
        let job = store.claim("a", at(4), Duration::from_secs(60), true).await.unwrap().unwrap();
        assert_eq!(job.spec.candidate.event_id.as_deref(), Some("c2"), "{engine}");
        assert_eq!(job.pair.map(|(_, generation)| generation), Some(2));
    })
    .await;
}

fn on_demand_spec(table: &str) -> JobSpec {
    let side = |cluster: &str| SideSpec {
        cluster: cluster.into(),
        location: Some(format!("/data/{cluster}/{table}")),
        partition_path: String::new(),
        event_id: None,
        attempt: None,
    };
    JobSpec {
        table: table.into(),
        partition: String::new(),
        run_id: None,
        baseline: side("idc-hadoop"),
        candidate: side("cloud-emr"),
    }
}

fn report(verdict: Verdict) -> NewReport {
    NewReport { verdict, reason: None, report: serde_json::json!({ "verdict": verdict }), export_path: None }
}

#[tokio::test]
async fn the_queue_honours_priority_windows_and_leases() {
    on_every_store(|store, engine| async move {
        let lease = Duration::from_secs(60);
        let pair = [
            delivery(&event("b1", "idc-hadoop", "dw.auto", "2024-05-01", 1, "succeeded"), 0),
            delivery(&event("c1", "cloud-emr", "dw.auto", "2024-05-01", 1, "succeeded"), 1),
        ];
        store.accept_at(&pair, at(1)).await.unwrap();
        store.enqueue(&on_demand_spec("dw.asked"), at(2)).await.unwrap();
        // A closed window holds automatic jobs back, not on-demand ones, which come first.
        let asked = store.claim("a", at(3), lease, false).await.unwrap().unwrap();
        assert_eq!(asked.spec.table, "dw.asked", "{engine}");
        assert!(store.claim("a", at(3), lease, false).await.unwrap().is_none(), "{engine}");
        let auto = store.claim("a", at(3), lease, true).await.unwrap().unwrap();
        assert_eq!((auto.spec.table.as_str(), auto.attempts), ("dw.auto", 1));
        // Instance a dies; once the lease runs out, b takes the job over, and a's late result
        // is dropped.
        assert!(store.claim("b", at(3), lease, true).await.unwrap().is_none(), "{engine}: leased");
        let later = at(3) + chrono::Duration::seconds(61);
        let taken = store.claim("b", later, lease, true).await.unwrap().unwrap();
        assert_eq!((taken.id, taken.attempts), (asked.id, 2), "{engine}: the oldest expired lease first");
        assert!(!store.finish(&asked, "a", &report(Verdict::Consistent), later).await.unwrap());
        assert!(store.finish(&taken, "b", &report(Verdict::Consistent), later).await.unwrap());
        // A transient failure waits for its retry time.
        assert!(store.retry(&auto, "a", "location not there yet", at(5)).await.unwrap());
        assert!(store.claim("a", at(4), lease, true).await.unwrap().is_none(), "{engine}: backing off");
        let retried = store.claim("a", at(5), lease, true).await.unwrap().unwrap();
        assert_eq!(retried.attempts, 2);
        assert_eq!(store.requeue_running("a").await.unwrap(), 1, "{engine}: a restarts");
        let again = store.claim("a", at(5), lease, true).await.unwrap().unwrap();
        assert!(store.finish(&again, "a", &report(Verdict::Inconsistent), at(6)).await.unwrap());
        assert!(!store.finish(&again, "a", &report(Verdict::Inconsistent), at(6)).await.unwrap(), "once");
        let verdicts: Vec<Verdict> = verdicts(&store).await.into_iter().map(|(_, verdict, _)| verdict).collect();
        assert_eq!(verdicts, vec![Verdict::Consistent, Verdict::Inconsistent], "{engine}");
    })
    .await;
}

#[tokio::test]
async fn tables_are_registered_and_changed_at_run_time() {
    on_every_store(|store, engine| async move {
        assert_eq!(store.table("dw.orders").await.unwrap(), None);
        let mut table = TableConfig {
            name: "dw.orders".into(),
            key: vec!["order_id".into()],
            owners: vec!["orders@example.com".into()],
            deadline: Some(Duration::from_secs(7200)),
            ..TableConfig::default()
        };
        store.register(&table, at(1)).await.unwrap();
        assert_eq!(store.table("dw.orders").await.unwrap().as_ref(), Some(&table), "{engine}");
        table.key = vec!["order_id".into(), "line".into()];
        table.options.abs_tol = Some(0.01);
        store.register(&table, at(2)).await.unwrap();
        assert_eq!(store.table("dw.orders").await.unwrap(), Some(table), "{engine}");
        // The registered two-hour deadline applies to the table's pairs.
        let lone = [delivery(&event("b1", "idc-hadoop", "dw.orders", "2024-05-01", 1, "succeeded"), 0)];
        store.accept_at(&lone, at(1)).await.unwrap();
        assert_eq!(store.expire_due(at(2)).await.unwrap(), 0, "{engine}");
        assert_eq!(store.expire_due(at(3)).await.unwrap(), 1, "{engine}");
    })
    .await;
}

/// Pairs due by the deadline they were stored with, but not by their table's raised one, are
/// rewritten rather than read again at every sweep: more than a sweep's 1000 of them do not
/// starve a pair that is really due.
#[tokio::test]
async fn a_raised_deadline_does_not_starve_the_sweep() {
    on_every_store(|store, engine| async move {
        let mut slow =
            TableConfig { name: "dw.slow".into(), deadline: Some(Duration::from_secs(3600)), ..TableConfig::default() };
        store.register(&slow, at(1)).await.unwrap();
        let lonely: Vec<Delivery> = (0..1001)
            .map(|index| {
                delivery(
                    &event(&format!("s{index}"), "idc-hadoop", "dw.slow", &format!("r{index}"), 1, "succeeded"),
                    index,
                )
            })
            .collect();
        store.accept_at(&lonely, at(1)).await.unwrap();
        let due = [delivery(&event("d", "idc-hadoop", "dw.due", "r", 1, "succeeded"), 2000)];
        store.accept_at(&due, at(1)).await.unwrap();
        slow.deadline = Some(Duration::from_secs(36_000));
        store.register(&slow, at(2)).await.unwrap();
        let mut expired = 0;
        for _ in 0..3 {
            expired +=
                store.expire_due(at(3) + chrono::Duration::hours(DEADLINE.as_secs() as i64 / 3600)).await.unwrap();
        }
        assert_eq!(expired, 1, "{engine}: the pair really due is reported, the raised ones wait");
    })
    .await;
}

/// Two instances (two pools on one database) claim from one queue: every job runs once.
async fn claim_race(url: &str, engine: &str) {
    let first = Store::open(url, clusters(), DEADLINE).await.unwrap();
    let second = Store::open(url, clusters(), DEADLINE).await.unwrap();
    for index in 0..40 {
        first.enqueue(&on_demand_spec(&format!("dw.t{index}")), at(1)).await.unwrap();
    }
    let work = |store: Store, instance: &'static str| async move {
        let mut claimed = Vec::new();
        while let Some(job) = store.claim(instance, at(2), Duration::from_secs(60), true).await.unwrap() {
            assert!(store.finish(&job, instance, &report(Verdict::Consistent), at(2)).await.unwrap());
            claimed.push(job.id);
        }
        claimed
    };
    let (a, b) = tokio::join!(tokio::spawn(work(first.clone(), "a")), tokio::spawn(work(second.clone(), "b")));
    let mut all: Vec<i64> = a.unwrap().into_iter().chain(b.unwrap()).collect();
    all.sort_unstable();
    assert_eq!(all, (1..=40).collect::<Vec<i64>>(), "{engine}: each job claimed exactly once");
    let filter = ReportFilter { limit: Some(100), ..ReportFilter::default() };
    assert_eq!(first.reports(&filter).await.unwrap().len(), 40, "{engine}");
    first.close().await;
    second.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_never_run_the_same_job() {
    let dir = tempfile::tempdir().unwrap();
    let (sqlite, postgres) = fresh_urls(dir.path()).await;
    claim_race(&sqlite, "sqlite").await;
    if let Some(postgres) = postgres {
        claim_race(&postgres.url, "postgres").await;
        postgres.drop().await;
    }
}

/// Stores a report of `table`, `partition`, `run` through a job, as the runner does.
/// A report of `table`'s `partition` (`dt=1`) and `run` with `verdict`, as gating evidence:
/// through both clusters' events and the automatic diff they queue. `time` orders them (a
/// later one is a re-run, with a higher attempt).
pub(crate) async fn stored(store: &Store, table: &str, partition: &str, run: &str, verdict: Verdict, time: u32) {
    let (column, value) = partition.split_once('=').unwrap();
    let side = |cluster: &str, offset: i64| {
        let payload = serde_json::json!({
            "event_id": format!("{cluster}-{table}-{partition}-{run}-{time}"), "cluster": cluster,
            "task_id": format!("task.{table}"), "workflow_id": "wf", "run_id": run, "attempt": time,
            "status": "succeeded", "finished_at": at(time).to_rfc3339(),
            "outputs": [{"table": table, "partition": {column: value}}]
        });
        delivery(&payload.to_string(), offset)
    };
    store.accept_at(&[side("idc-hadoop", 0), side("cloud-emr", 1)], at(time)).await.unwrap();
    let job = store.claim("gate", at(time), Duration::from_secs(60), true).await.unwrap().unwrap();
    assert!(store.finish(&job, "gate", &report(verdict), at(time)).await.unwrap());
}

#[tokio::test]
async fn on_demand_reports_and_event_located_ones_are_not_gating_evidence() {
    on_every_store(|store, engine| async move {
        stored(&store, "dw.gated", "dt=1", "r1", Verdict::Consistent, 1).await;
        // An operator's on-demand diff naming a run, and an automatic diff of a location an
        // event named: neither counts.
        let spec = JobSpec { partition: "dt=1".into(), run_id: Some("r2".into()), ..on_demand_spec("dw.gated") };
        store.enqueue(&spec, at(2)).await.unwrap();
        let job = store.claim("gate", at(2), Duration::from_secs(60), true).await.unwrap().unwrap();
        assert!(store.finish(&job, "gate", &report(Verdict::Consistent), at(2)).await.unwrap());
        let mut located: serde_json::Value =
            serde_json::from_str(&event("b-r3", "idc-hadoop", "dw.gated", "r3", 1, "succeeded")).unwrap();
        located["outputs"][0]["location"] = "/data/staging/x".into();
        let pair = [
            delivery(&located.to_string(), 0),
            delivery(&event("c-r3", "cloud-emr", "dw.gated", "r3", 1, "succeeded"), 1),
        ];
        store.accept_at(&pair, at(3)).await.unwrap();
        let job = store.claim("gate", at(3), Duration::from_secs(60), true).await.unwrap().unwrap();
        let mut forged = report(Verdict::Consistent);
        forged.report["baseline"] = serde_json::json!({"location_source": "event"});
        assert!(store.finish(&job, "gate", &forged, at(3)).await.unwrap());
        let history = store.verdict_history("dw.gated").await.unwrap();
        assert_eq!(history, vec![("r1".to_owned(), Verdict::Consistent)], "{engine}");
    })
    .await;
}

#[tokio::test]
async fn the_gating_evidence_reads_each_runs_latest_verdicts_from_stored_reports() {
    use api::gating::{Model, Task, TaskKind, Violation, WorkflowState, check};
    on_every_store(|store, engine| async move {
        let cases = [
            ("dt=1", "r1", Verdict::Consistent),
            ("dt=1", "r2", Verdict::Inconsistent),
            ("dt=1", "r2", Verdict::Consistent), // r2 re-ran: its latest report counts
            ("dt=1", "r3", Verdict::Divergent),
            ("dt=1", "r4", Verdict::Consistent),
            ("dt=2", "r4", Verdict::Inconsistent), // one partition of r4 differs
            ("dt=1", "r5", Verdict::Consistent),
        ];
        for (time, (partition, run, verdict)) in (1..).zip(cases) {
            stored(&store, "dw.gated", partition, run, verdict, time).await;
        }
        stored(&store, "dw.other", "dt=1", "r9", Verdict::Error, 8).await;
        let history = store.verdict_history("dw.gated").await.unwrap();
        let expected = [
            ("r5", Verdict::Consistent),
            ("r4", Verdict::Inconsistent),
            ("r3", Verdict::Divergent),
            ("r2", Verdict::Consistent),
            ("r1", Verdict::Consistent),
        ];
        assert_eq!(history, expected.map(|(run, verdict)| (run.to_owned(), verdict)).to_vec(), "{engine}");
        // The rule refuses to migrate the workflow writing it, naming the open runs.
        let model = Model {
            workflows: [("W".to_owned(), WorkflowState::DualRun)].into_iter().collect(),
            tasks: [(
                "t".to_owned(),
                Task {
                    id: "t".into(),
                    workflow: "W".into(),
                    kind: TaskKind::Sql,
                    upstream: vec![],
                    outputs: vec!["dw.gated".into()],
                },
            )]
            .into_iter()
            .collect(),
        };
        let given = history.clone();
        let decision =
            check(&model, &model.graph(), "W", WorkflowState::Migrated, &move |_| given.clone(), &|_| 2).unwrap();
        assert_eq!(
            decision.violations,
            vec![Violation::NotEnoughEvidence {
                table: "dw.gated".into(),
                task: "t".into(),
                consistent: 1,
                needed: 2,
                open: vec!["r4".into(), "r3".into()],
            }],
            "{engine}"
        );
        // Once r3 and r4 are re-run consistent, two consistent runs are enough.
        stored(&store, "dw.gated", "dt=2", "r4", Verdict::Consistent, 9).await;
        stored(&store, "dw.gated", "dt=1", "r3", Verdict::Consistent, 10).await;
        let history = store.verdict_history("dw.gated").await.unwrap();
        let runs: Vec<&str> = history.iter().map(|(run, _)| run.as_str()).collect();
        assert_eq!(runs, ["r5", "r4", "r3", "r2", "r1"], "{engine}: a re-run keeps its run's place");
        assert!(history.iter().all(|(_, verdict)| *verdict == Verdict::Consistent), "{engine}: {history:?}");
        let decision =
            check(&model, &model.graph(), "W", WorkflowState::Migrated, &move |_| history.clone(), &|_| 2).unwrap();
        assert!(decision.allowed(), "{engine}: {:?}", decision.violations);
    })
    .await;
}

#[tokio::test]
async fn a_transition_checked_on_a_model_that_has_changed_since_is_not_recorded() {
    use api::gating::{Dag, Task, TaskKind, WorkflowState};
    use api::store::NewTransition;
    on_every_store(|store, engine| async move {
        let dag: Dag = serde_json::from_value(serde_json::json!({"tasks": [
            {"id": "a1", "workflow": "A", "kind": "sql"},
            {"id": "b1", "workflow": "B", "kind": "sql", "upstream": ["a1"]}
        ]}))
        .unwrap();
        store.import_dag(&dag, &api::store::Actor { name: "test", admin: true }, at(1)).await.unwrap().unwrap();
        let (read, model) = store.gating_model().await.unwrap();
        assert_eq!(model.tasks.len(), 2, "{engine}");
        let transition = NewTransition {
            workflow: "A".into(),
            unit: vec!["A".into()],
            from: WorkflowState::NotMigrated,
            to: WorkflowState::DualRun,
            actor: "test".into(),
            reason: String::new(),
            evidence: serde_json::json!({}),
        };
        // Another writer changes the DAG between the check and the commit: nothing is recorded.
        let task =
            Task { id: "a2".into(), workflow: "A".into(), kind: TaskKind::Sql, upstream: vec![], outputs: vec![] };
        store.put_task(&task, at(2)).await.unwrap();
        assert_eq!(store.record_transition(read, &transition, at(3)).await.unwrap(), None, "{engine}");
        assert_eq!(store.workflow_state("A").await.unwrap(), Some(WorkflowState::NotMigrated), "{engine}");
        assert_eq!(store.transitions(None, 10, 0).await.unwrap().1, 0, "{engine}");
        // Checked again on the current model, it is; a second commit on the same read is not.
        let (current, _) = store.gating_model().await.unwrap();
        assert!(store.record_transition(current, &transition, at(4)).await.unwrap().is_some(), "{engine}");
        assert_eq!(store.workflow_state("A").await.unwrap(), Some(WorkflowState::DualRun), "{engine}");
        assert_eq!(store.record_transition(current, &transition, at(5)).await.unwrap(), None, "{engine}");
        assert_eq!(store.transitions(Some("A"), 10, 0).await.unwrap().1, 1, "{engine}");
    })
    .await;
}

#[tokio::test]
async fn retention_prunes_by_age_and_keeps_what_pairs_jobs_and_gating_need() {
    on_every_store(|store, engine| async move {
        for (time, run) in (1..).zip(["r1", "r2", "r3", "r4", "r5"]) {
            stored(&store, "dw.kept", "dt=1", run, Verdict::Consistent, time).await;
        }
        // An on-demand report (not evidence), a dead letter, and a job still queued.
        stored_on_demand(&store, 6).await;
        store.accept_at(&[delivery("not json", 9)], at(6)).await.unwrap();
        let queued = store.enqueue(&on_demand_spec("dw.waiting"), at(6)).await.unwrap();
        // An inventory finished (with a partition recorded), and one still queued.
        let finished = store.create_inventory(&inventory_plan(), "test", at(6)).await.unwrap();
        store.claim_inventory("gate", at(6), Duration::from_secs(60)).await.unwrap().unwrap();
        store.record_inventory_partitions(finished, &[("t".to_owned(), recorded_partition())]).await.unwrap();
        let outcome = api::store::InventoryOutcome::Done {
            verdict: Verdict::Consistent,
            report: serde_json::json!({}),
            tables: Vec::new(),
        };
        assert!(store.finish_inventory(finished, "gate", &outcome, at(6)).await.unwrap());
        let waiting = store.create_inventory(&inventory_plan(), "test", at(6)).await.unwrap();
        let hour = Some(Duration::from_secs(3600));
        let retention = api::config::RetentionConfig {
            events: hour,
            reports: hour,
            jobs: hour,
            dead_letters: hour,
            ..Default::default()
        };
        let pruned = store.prune(&retention, &|_| 2, at(20)).await.unwrap();
        assert_eq!((pruned.events, pruned.reports, pruned.dead_letters), (10, 4, 1), "{engine}: {pruned:?}");
        assert_eq!(pruned.jobs, 6, "every finished job: {pruned:?}");
        assert_eq!(pruned.inventories, 1, "{pruned:?}");
        assert!(store.inventory(finished).await.unwrap().is_none(), "{engine}");
        assert!(store.inventory_partitions(finished).await.unwrap().is_empty(), "with its partitions");
        assert!(store.inventory(waiting).await.unwrap().is_some(), "a queued inventory stays");
        let left: Vec<(String, String)> = store
            .reports(&ReportFilter::default())
            .await
            .unwrap()
            .into_iter()
            .map(|report| (report.table, report.run_id))
            .collect();
        assert_eq!(left, [("dw.kept".to_owned(), "r5".to_owned()), ("dw.kept".to_owned(), "r4".to_owned())]);
        assert_eq!(store.verdict_history("dw.kept").await.unwrap().len(), 2, "the evidence gating reads stays");
        assert!(store.job(queued).await.unwrap().is_some(), "a queued job stays");
        assert_eq!(store.event_count().await.unwrap(), 0);
        assert!(store.dead_letters().await.unwrap().is_empty());
        // Nothing younger than the limits goes.
        assert_eq!(store.prune(&retention, &|_| 2, at(6)).await.unwrap(), api::store::Pruned::default());
    })
    .await;
}

fn inventory_plan() -> api::store::InventoryPlan {
    let side = |cluster: &str| api::store::InventorySide {
        cluster: cluster.to_owned(),
        warehouse: format!("file:///w/{cluster}/"),
        database: None,
        roots: vec![format!("file:///w/{cluster}/")],
        rule: "the warehouse root".to_owned(),
    };
    api::store::InventoryPlan {
        baseline: side("idc-hadoop"),
        candidate: side("cloud-emr"),
        tables: Vec::new(),
        partitions: Vec::new(),
        level: verifier::inventory::Level::Footers,
        diff: false,
        key: Vec::new(),
    }
}

fn recorded_partition() -> verifier::inventory::PartitionInventory {
    verifier::inventory::PartitionInventory {
        partition: "dt=1".to_owned(),
        verdict: verifier::inventory::PartitionVerdict::EqualFooters,
        reason: None,
        differences: Vec::new(),
        not_comparable: Vec::new(),
        schema: verifier::inventory::SchemaChanges::default(),
        baseline: None,
        candidate: None,
        key: Vec::new(),
        diff: None,
    }
}

/// An on-demand diff's report at `time`.
async fn stored_on_demand(store: &Store, time: u32) {
    let spec = JobSpec { run_id: Some("manual".into()), ..on_demand_spec("dw.kept") };
    store.enqueue(&spec, at(time)).await.unwrap();
    let job = store.claim("gate", at(time), Duration::from_secs(60), true).await.unwrap().unwrap();
    assert!(store.finish(&job, "gate", &report(Verdict::Consistent), at(time)).await.unwrap());
}
