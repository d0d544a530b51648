//! A report's impact, from the gating model: the tasks and workflows that write its table, the
//! workflows downstream of them, and where the table stands against the evidence a cutover
//! needs (rule 4: its last N runs consistent, and no run whose latest report is not).

use verifier::Verdict;

use crate::gating::WorkflowState;
use crate::rest::{ApiError, AppState};

/// What a report's table means for the migration.
#[derive(Debug)]
pub(super) struct Impact {
    /// The tasks that write the table: (task, workflow, the workflow's state).
    pub(super) writers: Vec<(String, String, &'static str)>,
    /// The workflows downstream of the writers' workflows, with their states.
    pub(super) downstream: Vec<(String, &'static str)>,
    /// Consistent runs among the last `needed`.
    pub(super) consistent: usize,
    /// Runs a cutover needs.
    pub(super) needed: usize,
    /// Runs whose latest verdict is not consistent.
    pub(super) open: Vec<String>,
    /// Whether this report's run is one of them: it blocks a cutover of the writers.
    pub(super) blocks: bool,
}

/// The impact of a report of `table` for run `run_id`; none when no task of the DAG writes it.
pub(super) async fn impact(state: &AppState, table: &str, run_id: &str) -> Result<Option<Impact>, ApiError> {
    let current = crate::rest::gates::snapshot(state).await?;
    let (model, graph) = (&current.model, &current.graph);
    let state_of = |workflow: &str| model.workflows.get(workflow).copied().unwrap_or(WorkflowState::NotMigrated);
    let writers: Vec<(String, String, &'static str)> = model
        .tasks
        .values()
        .filter(|task| task.outputs.iter().any(|output| output == table))
        .map(|task| (task.id.clone(), task.workflow.clone(), state_of(&task.workflow).as_str()))
        .collect();
    if writers.is_empty() {
        return Ok(None);
    }
    let mut downstream: Vec<(String, &'static str)> = writers
        .iter()
        .flat_map(|(_, workflow, _)| graph.downstream.get(workflow).into_iter().flatten())
        .map(|workflow| (workflow.clone(), state_of(workflow).as_str()))
        .collect();
    downstream.sort();
    downstream.dedup();
    let history = state.store().verdict_history(table).await?;
    let needed = crate::rest::gates::evidence_runs(state, Some(&[table])).await?;
    let needed = needed(table);
    let consistent = history.iter().take(needed).filter(|(_, verdict)| *verdict == Verdict::Consistent).count();
    let open: Vec<String> =
        history.iter().filter(|(_, verdict)| *verdict != Verdict::Consistent).map(|(run, _)| run.clone()).collect();
    let blocks = !run_id.is_empty() && open.iter().any(|run| run == run_id);
    Ok(Some(Impact { writers, downstream, consistent, needed, open, blocks }))
}
