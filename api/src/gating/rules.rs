//! The five rules of DESIGN.md ("Gating rules"), checked on the state a transition would
//! produce. Every violation is listed, not only the first.
//!
//! 1. A task runs `dual` only if every upstream task runs `dual` or `candidate_only`.
//! 2. A workflow is `migrated` only if every downstream workflow is `migrated`.
//! 3. Workflows in a cycle move together: a transition moves the requested workflow's whole unit
//!    (its strongly connected component), which must be in one state.
//! 4. A unit becomes `migrated` only with evidence: every output table of its dual tasks has its
//!    last N runs `consistent`, and no run whose latest verdict is not.
//! 5. Export tasks never run `dual`: [`WorkflowState::mode`] keeps them on the baseline during
//!    the dual run, so this holds by construction.
//!
//! Rules 1 and 2 are invariants of the state: a transition is refused when the state it leads
//! to breaks them where the moved unit is involved. Moves go one step at a time, forward or
//! back (a rollback is checked by the same invariants).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::model::{Model, RunMode, Task, WorkflowGraph, WorkflowState};
use verifier::Verdict;

/// A broken rule, with what breaks it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "rule", rename_all = "snake_case")]
pub enum Violation {
    /// Rule 1: `task` would run dual while `upstream` does not run dual or on the candidate.
    UpstreamNotDual {
        /// The dual task.
        task: String,
        /// Its upstream task.
        upstream: String,
        /// Where the upstream task would run.
        upstream_mode: RunMode,
    },
    /// Rule 2: `workflow` would be migrated while `downstream` is not.
    DownstreamNotMigrated {
        /// The migrated workflow.
        workflow: String,
        /// A workflow reading from it.
        downstream: String,
        /// Its state.
        downstream_state: WorkflowState,
    },
    /// Rule 3: the members of a cycle are not in one state, so they cannot move together.
    UnitSplit {
        /// The unit's members and their states.
        members: BTreeMap<String, WorkflowState>,
    },
    /// Rule 4: a table lacks evidence.
    NotEnoughEvidence {
        /// The table.
        table: String,
        /// The task that writes it.
        task: String,
        /// Consistent runs among the newest `needed`.
        consistent: usize,
        /// Runs needed.
        needed: usize,
        /// Runs whose latest verdict is not consistent (open inconsistencies).
        open: Vec<String>,
    },
    /// Transitions go one step at a time.
    NotOneStep {
        /// The unit's state.
        from: WorkflowState,
        /// The state asked for.
        to: WorkflowState,
    },
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::UpstreamNotDual { task, upstream, upstream_mode } => write!(
                f,
                "rule 1: task `{task}` would run dual while its upstream task `{upstream}` runs {}",
                upstream_mode.as_str()
            ),
            Self::DownstreamNotMigrated { workflow, downstream, downstream_state } => write!(
                f,
                "rule 2: `{workflow}` would be migrated while `{downstream}`, downstream of it, is {}",
                downstream_state.as_str()
            ),
            Self::UnitSplit { members } => {
                let states: Vec<String> = members.iter().map(|(m, s)| format!("{m} {}", s.as_str())).collect();
                write!(f, "rule 3: the workflows of one cycle are not in one state: {}", states.join(", "))
            }
            Self::NotEnoughEvidence { table, task, consistent, needed, open } => {
                write!(
                    f,
                    "rule 4: table `{table}` (task `{task}`): {consistent} of the last {needed} runs consistent"
                )?;
                if !open.is_empty() {
                    write!(f, "; runs not consistent: {}", open.join(", "))?;
                }
                Ok(())
            }
            Self::NotOneStep { from, to } => {
                write!(f, "workflows move one step at a time, not from {} to {}", from.as_str(), to.as_str())
            }
        }
    }
}

/// The latest verdict of each recorded run of a table, newest run first.
pub type History = Vec<(String, Verdict)>;

/// The answer to a transition: the unit that moves, and what stands in the way.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Decision {
    /// The workflows that move together.
    pub unit: Vec<String>,
    /// Their state now.
    pub from: WorkflowState,
    /// The state asked for.
    pub to: WorkflowState,
    /// Every broken rule; empty when the transition is allowed.
    pub violations: Vec<Violation>,
}

impl Decision {
    /// True when nothing stands in the way.
    pub fn allowed(&self) -> bool {
        self.violations.is_empty()
    }
}

/// Checks moving `workflow` (and its unit) to `to`. `history` gives a table's runs;
/// `needed` is N of rule 4 for a table. `None` when the workflow is unknown.
pub fn check(
    model: &Model,
    graph: &WorkflowGraph,
    workflow: &str,
    to: WorkflowState,
    history: &dyn Fn(&str) -> History,
    needed: &dyn Fn(&str) -> usize,
) -> Option<Decision> {
    let from = *model.workflows.get(workflow)?;
    let unit: Vec<String> = graph.unit(workflow).map_or_else(|| vec![workflow.to_owned()], <[String]>::to_vec);
    let mut violations = Vec::new();
    let states: BTreeMap<String, WorkflowState> =
        unit.iter().map(|member| (member.clone(), model.workflows.get(member).copied().unwrap_or(from))).collect();
    if states.values().any(|state| *state != from) {
        violations.push(Violation::UnitSplit { members: states });
    }
    if (from as i8 - to as i8).abs() != 1 {
        violations.push(Violation::NotOneStep { from, to });
    }
    let in_unit = |id: &str| unit.binary_search_by(|member| member.as_str().cmp(id)).is_ok();
    // The state the transition leads to: the unit moved, everything else as it is.
    let state_after = |id: &str| {
        if in_unit(id) { to } else { model.workflows.get(id).copied().unwrap_or(WorkflowState::NotMigrated) }
    };
    upstream_rule(model, graph, &unit, &state_after, &in_unit, &mut violations);
    downstream_rule(graph, &unit, &state_after, &in_unit, &mut violations);
    if to == WorkflowState::Migrated {
        evidence_rule(model, graph, &unit, history, needed, &mut violations);
    }
    violations.sort();
    violations.dedup();
    Some(Decision { unit, from, to, violations })
}

/// Rule 1 on every edge that touches the unit: the unit's tasks and their upstream tasks, and
/// the readers of the unit's tasks outside it.
fn upstream_rule(
    model: &Model,
    graph: &WorkflowGraph,
    unit: &[String],
    state_after: &dyn Fn(&str) -> WorkflowState,
    in_unit: &dyn Fn(&str) -> bool,
    violations: &mut Vec<Violation>,
) {
    let mode_after = |task: &Task| state_after(&task.workflow).mode(task.kind);
    let mut check = |task: &Task, upstream: &Task| {
        let upstream_mode = mode_after(upstream);
        if mode_after(task) == RunMode::Dual && upstream_mode == RunMode::BaselineOnly {
            violations.push(Violation::UpstreamNotDual {
                task: task.id.clone(),
                upstream: upstream.id.clone(),
                upstream_mode,
            });
        }
    };
    for task in unit.iter().flat_map(|member| graph.tasks_of(member)).filter_map(|id| model.tasks.get(id)) {
        for upstream in task.upstream.iter().filter_map(|id| model.tasks.get(id)) {
            check(task, upstream);
        }
        for reader in graph.readers(&task.id).iter().filter_map(|id| model.tasks.get(id)) {
            if !in_unit(&reader.workflow) {
                check(reader, task);
            }
        }
    }
}

/// Rule 2 on every workflow edge that touches the unit (members of the unit move together, so
/// edges inside it do not count).
fn downstream_rule(
    graph: &WorkflowGraph,
    unit: &[String],
    state_after: &dyn Fn(&str) -> WorkflowState,
    in_unit: &dyn Fn(&str) -> bool,
    violations: &mut Vec<Violation>,
) {
    let mut check = |workflow: &str, downstream: &str| {
        if state_after(workflow) == WorkflowState::Migrated {
            let downstream_state = state_after(downstream);
            if downstream_state != WorkflowState::Migrated {
                violations.push(Violation::DownstreamNotMigrated {
                    workflow: workflow.to_owned(),
                    downstream: downstream.to_owned(),
                    downstream_state,
                });
            }
        }
    };
    for member in unit {
        for downstream in graph.downstream.get(member).into_iter().flatten() {
            if !in_unit(downstream) {
                check(member, downstream);
            }
        }
        for upstream in graph.upstream.get(member).into_iter().flatten() {
            if !in_unit(upstream) {
                check(upstream, member);
            }
        }
    }
}

/// The tables rule 4 asks evidence for when `unit` is migrated: the outputs of its tasks that
/// run dual during the dual run (all but exports), with the task that writes each. The same
/// tables whatever the unit's state, so that the audit can ask it of a migrated unit.
pub fn evidence_tables<'m>(model: &'m Model, graph: &WorkflowGraph, unit: &[String]) -> Vec<(&'m Task, &'m str)> {
    unit.iter()
        .flat_map(|member| graph.tasks_of(member))
        .filter_map(|id| model.tasks.get(id))
        .filter(|task| WorkflowState::DualRun.mode(task.kind) == RunMode::Dual)
        .flat_map(|task| task.outputs.iter().map(move |table| (task, table.as_str())))
        .collect()
}

/// Rule 4 for the unit's tasks that run dual during the dual run.
pub(super) fn evidence_rule(
    model: &Model,
    graph: &WorkflowGraph,
    unit: &[String],
    history: &dyn Fn(&str) -> History,
    needed: &dyn Fn(&str) -> usize,
    violations: &mut Vec<Violation>,
) {
    for (task, table) in evidence_tables(model, graph, unit) {
        let runs = history(table);
        let needed = needed(table);
        let consistent = runs.iter().take(needed).filter(|(_, verdict)| *verdict == Verdict::Consistent).count();
        let open: Vec<String> =
            runs.iter().filter(|(_, verdict)| *verdict != Verdict::Consistent).map(|(run, _)| run.clone()).collect();
        if consistent < needed || !open.is_empty() {
            violations.push(Violation::NotEnoughEvidence {
                table: table.to_owned(),
                task: task.id.clone(),
                consistent,
                needed,
                open,
            });
        }
    }
}

/// The tasks downstream of `task` (transitively, across workflows) that run on the candidate
/// only: when `task` re-runs on the baseline, their data is not recomputed there. Sorted; empty
/// for an unknown task or one that no longer runs on the baseline.
pub fn rerun_warning(model: &Model, graph: &WorkflowGraph, task: &str) -> Vec<String> {
    let Some(start) = model.tasks.get(task) else { return Vec::new() };
    if model.mode(start) == RunMode::CandidateOnly {
        return Vec::new();
    }
    let (mut seen, mut pending, mut stale) = (BTreeSet::new(), vec![task], Vec::new());
    while let Some(current) = pending.pop() {
        for reader in graph.readers(current) {
            if seen.insert(reader.as_str()) {
                pending.push(reader);
                if model.tasks.get(reader).is_some_and(|t| model.mode(t) == RunMode::CandidateOnly) {
                    stale.push(reader.clone());
                }
            }
        }
    }
    stale.sort();
    stale
}
