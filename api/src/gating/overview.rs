//! The migration overview (workflows per state, and what blocks each one's next step) and the
//! audit of a whole model against rules 1-3.

use std::collections::BTreeMap;

use serde::Serialize;

use super::model::{Model, RunMode, WorkflowGraph, WorkflowState};
use super::rules::{History, Violation, check, evidence_rule};

/// Where the migration stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Overview {
    /// Workflows per state.
    pub counts: BTreeMap<WorkflowState, usize>,
    /// Workflows whose next step can be taken now.
    pub ready: usize,
    /// Workflows whose next step is refused.
    pub blocked: usize,
    /// Rules the current states break (after a change to the DAG, or a forced transition).
    pub violations: Vec<Violation>,
    /// Each workflow, by id.
    pub workflows: Vec<Step>,
}

/// A workflow and its next step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Step {
    /// The workflow.
    pub workflow: String,
    /// Its state.
    pub state: WorkflowState,
    /// The other workflows of its cycle, which move with it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub moves_with: Vec<String>,
    /// Its next state; none once migrated.
    pub next: Option<WorkflowState>,
    /// What stands in the way of the next step; empty when it can be taken now.
    pub blocked_by: Vec<Violation>,
}

/// The overview: one check per unit (its next step), shared by the unit's members.
pub fn overview(
    model: &Model,
    graph: &WorkflowGraph,
    history: &dyn Fn(&str) -> History,
    needed: &dyn Fn(&str) -> usize,
) -> Overview {
    let mut counts: BTreeMap<WorkflowState, usize> =
        [WorkflowState::NotMigrated, WorkflowState::DualRun, WorkflowState::Migrated].map(|s| (s, 0)).into();
    let mut workflows = Vec::with_capacity(model.workflows.len());
    for unit in &graph.units {
        let Some(first) = unit.first() else { continue };
        let state = model.workflows.get(first).copied().unwrap_or(WorkflowState::NotMigrated);
        let next = state.next();
        let blocked_by = next
            .and_then(|to| check(model, graph, first, to, history, needed))
            .map(|decision| decision.violations)
            .unwrap_or_default();
        for member in unit {
            let state = model.workflows.get(member).copied().unwrap_or(WorkflowState::NotMigrated);
            *counts.entry(state).or_default() += 1;
            workflows.push(Step {
                workflow: member.clone(),
                state,
                moves_with: unit.iter().filter(|other| *other != member).cloned().collect(),
                next,
                blocked_by: blocked_by.clone(),
            });
        }
    }
    workflows.sort_by(|a, b| a.workflow.cmp(&b.workflow));
    let pending = workflows.iter().filter(|step| step.next.is_some());
    let blocked = pending.clone().filter(|step| !step.blocked_by.is_empty()).count();
    let ready = pending.count() - blocked;
    Overview { counts, ready, blocked, violations: audit(model, graph, history, needed), workflows }
}

/// Every place where the states break rules 1-4: rule 4 for every migrated unit, whose tables
/// must still show the evidence a cutover needs (a state seeded by an admin's import, or a
/// report that came after the cutover, can break it). Rule 5 holds by construction.
pub fn audit(
    model: &Model,
    graph: &WorkflowGraph,
    history: &dyn Fn(&str) -> History,
    needed: &dyn Fn(&str) -> usize,
) -> Vec<Violation> {
    let state = |id: &str| model.workflows.get(id).copied().unwrap_or(WorkflowState::NotMigrated);
    let mut violations = Vec::new();
    for task in model.tasks.values().filter(|task| model.mode(task) == RunMode::Dual) {
        for upstream in task.upstream.iter().filter_map(|id| model.tasks.get(id)) {
            let upstream_mode = model.mode(upstream);
            if upstream_mode == RunMode::BaselineOnly {
                violations.push(Violation::UpstreamNotDual {
                    task: task.id.clone(),
                    upstream: upstream.id.clone(),
                    upstream_mode,
                });
            }
        }
    }
    for (workflow, downstreams) in &graph.downstream {
        if state(workflow) != WorkflowState::Migrated {
            continue;
        }
        let unit = graph.unit(workflow).unwrap_or_default();
        for downstream in downstreams.iter().filter(|d| !unit.contains(d)) {
            let downstream_state = state(downstream);
            if downstream_state != WorkflowState::Migrated {
                violations.push(Violation::DownstreamNotMigrated {
                    workflow: workflow.clone(),
                    downstream: downstream.clone(),
                    downstream_state,
                });
            }
        }
    }
    for unit in &graph.units {
        let members: BTreeMap<String, WorkflowState> = unit.iter().map(|m| (m.clone(), state(m))).collect();
        if members.values().any(|s| Some(s) != members.values().next()) {
            violations.push(Violation::UnitSplit { members });
        } else if members.values().next() == Some(&WorkflowState::Migrated) {
            evidence_rule(model, graph, unit, history, needed, &mut violations);
        }
    }
    violations.sort();
    violations
}
