use proptest::prelude::*;

use super::*;
use verifier::Verdict;

use WorkflowState::{DualRun, Migrated, NotMigrated};

/// A model from `(workflow, state)` and `(task, workflow, kind, upstream tasks)`; each task
/// writes the table `<task>_out`.
fn model(workflows: &[(&str, WorkflowState)], tasks: &[(&str, &str, TaskKind, &[&str])]) -> Model {
    Model {
        workflows: workflows.iter().map(|(id, state)| ((*id).to_owned(), *state)).collect(),
        tasks: tasks
            .iter()
            .map(|(id, workflow, kind, upstream)| {
                let task = Task {
                    id: (*id).to_owned(),
                    workflow: (*workflow).to_owned(),
                    kind: *kind,
                    upstream: upstream.iter().map(|u| (*u).to_owned()).collect(),
                    outputs: vec![format!("{id}_out")],
                };
                ((*id).to_owned(), task)
            })
            .collect(),
    }
}

fn consistent(_: &str) -> History {
    (0..3).map(|run| (format!("r{run}"), Verdict::Consistent)).collect()
}

fn three(_: &str) -> usize {
    3
}

fn decide(model: &Model, workflow: &str, to: WorkflowState) -> Decision {
    check(model, &model.graph(), workflow, to, &consistent, &three).unwrap()
}

fn upstream(task: &str, upstream: &str) -> Violation {
    Violation::UpstreamNotDual { task: task.into(), upstream: upstream.into(), upstream_mode: RunMode::BaselineOnly }
}

fn downstream(workflow: &str, downstream: &str, state: WorkflowState) -> Violation {
    Violation::DownstreamNotMigrated {
        workflow: workflow.into(),
        downstream: downstream.into(),
        downstream_state: state,
    }
}

const SQL: TaskKind = TaskKind::Sql;

#[test]
fn on_a_chain_dual_runs_start_upstream_and_migrations_start_downstream() {
    let chain = |a, b, c| {
        model(
            &[("A", a), ("B", b), ("C", c)],
            &[("a1", "A", SQL, &[]), ("b1", "B", SQL, &["a1"]), ("c1", "C", SQL, &["b1"])],
        )
    };
    let cases: Vec<(Model, &str, WorkflowState, Vec<Violation>)> = vec![
        (chain(NotMigrated, NotMigrated, NotMigrated), "A", DualRun, vec![]),
        (chain(NotMigrated, NotMigrated, NotMigrated), "B", DualRun, vec![upstream("b1", "a1")]),
        (chain(DualRun, NotMigrated, NotMigrated), "B", DualRun, vec![]),
        (chain(DualRun, DualRun, DualRun), "C", Migrated, vec![]),
        (chain(DualRun, DualRun, DualRun), "A", Migrated, vec![downstream("A", "B", DualRun)]),
        (chain(DualRun, DualRun, Migrated), "B", Migrated, vec![]),
        // A rollback of A would leave B's dual task reading from the baseline only.
        (chain(DualRun, DualRun, NotMigrated), "A", NotMigrated, vec![upstream("b1", "a1")]),
        // A rollback of C from migrated breaks rule 2 for B.
        (chain(Migrated, Migrated, Migrated), "C", DualRun, vec![downstream("B", "C", DualRun)]),
        (
            chain(NotMigrated, NotMigrated, NotMigrated),
            "A",
            Migrated,
            vec![downstream("A", "B", NotMigrated), Violation::NotOneStep { from: NotMigrated, to: Migrated }],
        ),
    ];
    for (index, (model, workflow, to, expected)) in cases.into_iter().enumerate() {
        let decision = decide(&model, workflow, to);
        assert_eq!(decision.violations, expected, "case {index}: {workflow} -> {to:?}");
        assert_eq!(decision.allowed(), expected.is_empty());
    }
}

#[test]
fn on_a_diamond_every_violation_is_listed() {
    // A -> B, A -> C, B -> D, C -> D, with D's task reading from both.
    let diamond = |b, c| {
        model(
            &[("A", DualRun), ("B", b), ("C", c), ("D", NotMigrated)],
            &[
                ("a1", "A", SQL, &[]),
                ("b1", "B", SQL, &["a1"]),
                ("c1", "C", SQL, &["a1"]),
                ("d1", "D", SQL, &["b1", "c1"]),
                ("d2", "D", SQL, &["c1"]),
            ],
        )
    };
    assert_eq!(decide(&diamond(DualRun, DualRun), "D", DualRun).violations, vec![]);
    assert_eq!(
        decide(&diamond(DualRun, NotMigrated), "D", DualRun).violations,
        vec![upstream("d1", "c1"), upstream("d2", "c1")]
    );
    assert_eq!(
        decide(&diamond(NotMigrated, NotMigrated), "D", DualRun).violations,
        vec![upstream("d1", "b1"), upstream("d1", "c1"), upstream("d2", "c1")]
    );
}

#[test]
fn workflows_waiting_downstream_are_counted_once_through_every_path_and_cycle() {
    // A -> B, A -> C, B -> D, C -> D (a diamond), D -> E -> D (a cycle), F alone.
    let graph = model(
        &[
            ("A", NotMigrated),
            ("B", NotMigrated),
            ("C", NotMigrated),
            ("D", NotMigrated),
            ("E", NotMigrated),
            ("F", NotMigrated),
        ],
        &[
            ("a1", "A", SQL, &[]),
            ("b1", "B", SQL, &["a1"]),
            ("c1", "C", SQL, &["a1"]),
            ("d1", "D", SQL, &["b1", "c1", "e1"]),
            ("e1", "E", SQL, &["d0"]),
            ("d0", "D", SQL, &[]),
            ("f1", "F", SQL, &[]),
        ],
    )
    .graph();
    let counts = graph.waiting_downstream();
    let count = |workflow: &str| counts[workflow];
    assert_eq!([count("A"), count("B"), count("C"), count("D"), count("E"), count("F")], [4, 2, 2, 1, 1, 0]);
}

#[test]
fn a_cycle_moves_as_one_unit_or_is_refused_with_the_unit_listed() {
    // X1 <-> X2 across workflows, fed by A, feeding Z.
    let cycle = |x1, x2| {
        model(
            &[("A", DualRun), ("X1", x1), ("X2", x2), ("Z", NotMigrated)],
            &[
                ("a1", "A", SQL, &[]),
                ("x1", "X1", SQL, &["a1", "x2"]),
                ("x2", "X2", SQL, &["x1"]),
                ("z1", "Z", SQL, &["x2"]),
            ],
        )
    };
    let graph = cycle(NotMigrated, NotMigrated).graph();
    assert_eq!(graph.unit("X1"), Some(&["X1".to_owned(), "X2".to_owned()][..]));
    assert_eq!(graph.unit("A"), Some(&["A".to_owned()][..]));
    let decision = decide(&cycle(NotMigrated, NotMigrated), "X2", DualRun);
    assert_eq!((decision.unit.clone(), decision.violations.clone()), (vec!["X1".to_owned(), "X2".to_owned()], vec![]));
    let split = decide(&cycle(DualRun, NotMigrated), "X1", Migrated);
    let members = [("X1".to_owned(), DualRun), ("X2".to_owned(), NotMigrated)].into_iter().collect();
    assert!(split.violations.contains(&Violation::UnitSplit { members }), "{:?}", split.violations);
    // Migrating the unit needs Z migrated first; edges inside the unit do not count.
    assert_eq!(decide(&cycle(DualRun, DualRun), "X1", Migrated).violations, vec![downstream("X2", "Z", NotMigrated)]);
}

#[test]
fn export_tasks_stay_on_the_baseline_during_the_dual_run() {
    assert_eq!(DualRun.mode(TaskKind::Export), RunMode::BaselineOnly);
    assert_eq!(DualRun.mode(TaskKind::Spark), RunMode::Dual);
    assert_eq!(Migrated.mode(TaskKind::Export), RunMode::CandidateOnly);
    // A workflow whose only task is an export needs no evidence: nothing of it ran dual.
    let exports = model(&[("E", DualRun)], &[("e1", "E", TaskKind::Export, &[])]);
    let none = |_: &str| History::new();
    assert!(check(&exports, &exports.graph(), "E", Migrated, &none, &three).unwrap().allowed());
}

#[test]
fn migration_needs_the_last_runs_consistent_and_no_open_inconsistency() {
    let one = model(&[("W", DualRun)], &[("w1", "W", SQL, &[]), ("w2", "W", TaskKind::Export, &[])]);
    let runs = |verdicts: &[Verdict]| -> History {
        verdicts.iter().enumerate().map(|(index, verdict)| (format!("r{}", 9 - index), *verdict)).collect()
    };
    use Verdict::{Consistent as C, Divergent as D, Inconsistent as I};
    // The history, and the consistent runs and open runs of the violation (none: allowed).
    type Expected<'a> = Option<(usize, Vec<&'a str>)>;
    let cases: Vec<(History, Expected<'_>)> = vec![
        (runs(&[C, C, C]), None),
        (runs(&[C, C, C, C]), None),
        (runs(&[C, C]), Some((2, vec![]))),
        (runs(&[I, C, C, C]), Some((2, vec!["r9"]))),
        (runs(&[C, C, C, D]), Some((3, vec!["r6"]))),
        (runs(&[]), Some((0, vec![]))),
    ];
    for (history, expected) in cases {
        let given = history.clone();
        let decision = check(&one, &one.graph(), "W", Migrated, &move |_| given.clone(), &three).unwrap();
        let expected = expected.map(|(consistent, open)| Violation::NotEnoughEvidence {
            table: "w1_out".into(),
            task: "w1".into(),
            consistent,
            needed: 3,
            open: open.into_iter().map(str::to_owned).collect(),
        });
        assert_eq!(decision.violations, expected.into_iter().collect::<Vec<_>>(), "{history:?}");
    }
}

#[test]
fn an_unknown_workflow_is_none() {
    let empty = Model::default();
    assert!(check(&empty, &empty.graph(), "nope", DualRun, &consistent, &three).is_none());
}

/// Rules 1-3 everywhere in a model.
fn breaks(model: &Model) -> Vec<String> {
    let graph = model.graph();
    let mut broken = Vec::new();
    for task in model.tasks.values() {
        for source in task.upstream.iter().filter_map(|id| model.tasks.get(id)) {
            if model.mode(task) == RunMode::Dual && model.mode(source) == RunMode::BaselineOnly {
                broken.push(format!("rule 1: {} reads {}", task.id, source.id));
            }
        }
    }
    for (workflow, state) in &model.workflows {
        for next in &graph.downstream[workflow] {
            let unit = graph.unit(workflow).unwrap();
            if *state == Migrated && model.workflows[next] != Migrated && !unit.contains(next) {
                broken.push(format!("rule 2: {workflow} -> {next}"));
            }
        }
        if graph.unit(workflow).unwrap().iter().any(|member| model.workflows[member] != *state) {
            broken.push(format!("rule 3: {workflow}'s unit is split"));
        }
    }
    broken
}

fn arbitrary_model() -> impl Strategy<Value = Model> {
    let kinds = prop::sample::select(vec![SQL, TaskKind::Spark, TaskKind::Export, TaskKind::Import]);
    (2..7_usize, prop::collection::vec((0..7_usize, kinds, prop::collection::vec(0..14_usize, 0..3)), 1..14)).prop_map(
        |(workflows, tasks)| {
            let count = tasks.len();
            Model {
                workflows: (0..workflows).map(|w| (format!("W{w}"), NotMigrated)).collect(),
                tasks: tasks
                    .into_iter()
                    .enumerate()
                    .map(|(index, (workflow, kind, upstream))| {
                        let task = Task {
                            id: format!("t{index}"),
                            workflow: format!("W{}", workflow % workflows),
                            kind,
                            upstream: upstream
                                .into_iter()
                                .filter(|u| u % count != index)
                                .map(|u| format!("t{}", u % count))
                                .collect(),
                            outputs: vec![format!("t{index}_out")],
                        };
                        (task.id.clone(), task)
                    })
                    .collect(),
            }
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// From any DAG (cycles included), no sequence of allowed transitions breaks a rule.
    #[test]
    fn no_sequence_of_allowed_transitions_breaks_a_rule(
        mut model in arbitrary_model(),
        moves in prop::collection::vec((0..7_usize, 0..3_u8), 0..40),
    ) {
        prop_assert!(breaks(&model).is_empty());
        let graph = model.graph();
        for (workflow, target) in moves {
            let workflow = format!("W{}", workflow % model.workflows.len());
            let to = [NotMigrated, DualRun, Migrated][usize::from(target)];
            let decision = check(&model, &graph, &workflow, to, &consistent, &three).unwrap();
            if decision.allowed() {
                for member in &decision.unit {
                    model.workflows.insert(member.clone(), to);
                }
                let broken = breaks(&model);
                prop_assert!(broken.is_empty(), "after {workflow} -> {to:?}: {broken:?}");
            }
        }
    }

    /// The count of workflows waiting downstream is what a walk from each workflow finds.
    #[test]
    fn workflows_waiting_downstream_are_what_a_walk_from_each_finds(model in arbitrary_model()) {
        let graph = model.graph();
        let counts = graph.waiting_downstream();
        for workflow in model.workflows.keys() {
            let mut seen = std::collections::BTreeSet::from([workflow.as_str()]);
            let mut pending = vec![workflow.as_str()];
            while let Some(current) = pending.pop() {
                for next in &graph.downstream[current] {
                    if seen.insert(next) {
                        pending.push(next);
                    }
                }
            }
            prop_assert_eq!(counts[workflow], seen.len() - 1, "{}", workflow);
        }
    }
}

#[test]
fn a_baseline_rerun_warns_of_the_downstream_tasks_that_run_on_the_candidate_only() {
    let chain = model(
        &[("A", DualRun), ("B", Migrated), ("C", Migrated), ("D", DualRun)],
        &[
            ("a1", "A", SQL, &[]),
            ("b1", "B", SQL, &["a1"]),
            ("c1", "C", SQL, &["b1"]),
            ("d1", "D", SQL, &["a1"]),
            ("c2", "C", SQL, &["d1"]),
        ],
    );
    let graph = chain.graph();
    assert_eq!(rerun_warning(&chain, &graph, "a1"), vec!["b1", "c1", "c2"]);
    assert_eq!(rerun_warning(&chain, &graph, "d1"), vec!["c2"]);
    assert!(rerun_warning(&chain, &graph, "b1").is_empty(), "b1 runs on the candidate: no baseline re-run");
    assert!(rerun_warning(&chain, &graph, "nope").is_empty());
}

#[test]
fn a_dag_names_every_problem_and_new_workflows_take_their_given_state() {
    let task = |id: &str, workflow: &str, upstream: &[&str]| Task {
        id: id.into(),
        workflow: workflow.into(),
        kind: SQL,
        upstream: upstream.iter().map(|u| (*u).to_owned()).collect(),
        outputs: vec![],
    };
    let broken = Dag {
        workflows: vec![WorkflowEntry { id: "A".into(), state: None }, WorkflowEntry { id: "A".into(), state: None }],
        tasks: vec![task("a1", "A", &["a1", "ghost"]), task("a1", "A", &[]), task("b1", "", &["a1", "a1"])],
    };
    assert_eq!(
        broken.check().map_err(|problems| problems.to_string()),
        Err("workflow `A` is listed twice; task `a1` is listed twice; task `a1` reads from itself; \
             task `a1` reads from unknown task `ghost`; task `b1` names no workflow"
            .into())
    );
    let dag = Dag {
        workflows: vec![
            WorkflowEntry { id: "A".into(), state: Some(DualRun) },
            WorkflowEntry { id: "B".into(), state: Some(DualRun) },
        ],
        tasks: vec![task("a1", "A", &[]), task("c1", "C", &["a1", "a1"])],
    };
    assert_eq!(dag.check(), Ok(()));
    let known = [("B".to_owned(), Migrated)].into_iter().collect();
    let model = dag.model(&known);
    let states: Vec<(&str, WorkflowState)> = model.workflows.iter().map(|(id, s)| (id.as_str(), *s)).collect();
    assert_eq!(states, [("A", DualRun), ("B", Migrated), ("C", NotMigrated)]);
    assert_eq!(model.tasks["c1"].upstream, ["a1"], "repeated edges are one edge");
    assert_eq!(Dag::of(&model).model(&Default::default()), model, "exported and imported again, nothing changes");
}

#[test]
fn the_overview_gives_each_workflow_its_next_step_and_the_audit_finds_broken_states() {
    // A -> B -> C, with the cycle X1 <-> X2 reading from B.
    let broken = model(
        &[("A", Migrated), ("B", DualRun), ("C", NotMigrated), ("X1", DualRun), ("X2", NotMigrated)],
        &[
            ("a1", "A", SQL, &[]),
            ("b1", "B", SQL, &["a1"]),
            ("c1", "C", SQL, &["b1"]),
            ("x1", "X1", SQL, &["b1", "x2"]),
            ("x2", "X2", SQL, &["x1"]),
        ],
    );
    let graph = broken.graph();
    let whole = overview(&broken, &graph, &consistent, &three);
    let members = [("X1".to_owned(), DualRun), ("X2".to_owned(), NotMigrated)].into_iter().collect();
    assert_eq!(
        whole.violations,
        vec![upstream("x1", "x2"), downstream("A", "B", DualRun), Violation::UnitSplit { members }]
    );
    let steps: Vec<(&str, WorkflowState, Option<WorkflowState>, usize)> = whole
        .workflows
        .iter()
        .map(|step| (step.workflow.as_str(), step.state, step.next, step.blocked_by.len()))
        .collect();
    assert_eq!(
        steps,
        [
            ("A", Migrated, None, 0),
            ("B", DualRun, Some(Migrated), 2), // C and the cycle, downstream, are not migrated
            ("C", NotMigrated, Some(DualRun), 0),
            // The unit is split: it moves nowhere until it is made whole (by a forced move).
            ("X1", DualRun, Some(Migrated), 1),
            ("X2", NotMigrated, Some(Migrated), 1),
        ]
    );
    assert_eq!(whole.workflows[3].moves_with, ["X2"]);
    assert_eq!((whole.ready, whole.blocked), (1, 3));
    assert_eq!(whole.counts[&DualRun], 2);
}

#[test]
fn the_audit_asks_rule_4_of_every_migrated_unit() {
    // M was migrated without its evidence (seeded by an admin's import, say); its export task
    // needs none, as it never ran dual. D, in dual run, is not audited for rule 4: its
    // transition checks it.
    let seeded = model(
        &[("M", Migrated), ("D", DualRun)],
        &[("m1", "M", SQL, &[]), ("m2", "M", TaskKind::Export, &[]), ("d1", "D", SQL, &[])],
    );
    let graph = seeded.graph();
    let history = |table: &str| -> History {
        match table {
            "m1_out" => vec![("r2".into(), Verdict::Inconsistent), ("r1".into(), Verdict::Consistent)],
            _ => Vec::new(),
        }
    };
    let whole = overview(&seeded, &graph, &history, &three);
    assert_eq!(
        whole.violations,
        vec![Violation::NotEnoughEvidence {
            table: "m1_out".into(),
            task: "m1".into(),
            consistent: 1,
            needed: 3,
            open: vec!["r2".into()],
        }]
    );
    assert!(overview(&seeded, &graph, &consistent, &three).violations.is_empty(), "with the evidence, none");
}

#[test]
fn a_violation_reads_as_a_sentence() {
    let lines: Vec<String> = [
        upstream("b1", "a1"),
        downstream("A", "B", DualRun),
        Violation::NotEnoughEvidence {
            table: "t".into(),
            task: "x".into(),
            consistent: 1,
            needed: 3,
            open: vec!["r2".into()],
        },
    ]
    .iter()
    .map(ToString::to_string)
    .collect();
    assert_eq!(
        lines,
        [
            "rule 1: task `b1` would run dual while its upstream task `a1` runs baseline_only",
            "rule 2: `A` would be migrated while `B`, downstream of it, is dual_run",
            "rule 4: table `t` (task `x`): 1 of the last 3 runs consistent; runs not consistent: r2",
        ]
    );
}
