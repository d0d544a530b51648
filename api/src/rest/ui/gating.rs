//! `/gating`: where the migration stands, what blocks it (grouped by rule and by what stands in
//! the way, each with the number of workflows it holds up), the workflows page by page (filter
//! by state, blocked or ready, rule and name; sort by name or by the workflows downstream) and
//! the re-run warnings. `/gating/workflows/{id}`: a workflow's neighbourhood, its tasks and
//! their tables' latest verdicts, a dry-run check of a step, the transition form (force for
//! admins) and its history. Moves go through the same code as the API's transitions.

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};

use super::{Visitor, message, render, stylesheet_path};
use crate::config::AccessRole;
use crate::gating::{Step, Violation, WorkflowState};
use crate::rest::gates::{TransitionAnswer, TransitionRequest, move_workflow, snapshot, waiting_downstream};
use crate::rest::{ApiError, AppState};

/// Workflows per page.
const PAGE: usize = 50;
/// What stands in the way, shown per rule.
const BLOCKERS: usize = 10;
/// Re-run warnings and transitions shown.
const RECENT: i64 = 20;

/// The list's filters, as a GET form sends them (an empty field is no filter).
#[derive(Debug, Default, serde::Deserialize)]
pub(super) struct Filter {
    #[serde(default)]
    state: String,
    #[serde(default)]
    blocked: String,
    #[serde(default)]
    rule: String,
    #[serde(default)]
    q: String,
    #[serde(default)]
    sort: String,
    page: Option<usize>,
}

impl Filter {
    /// This filter's address on page `page`.
    fn link(&self, page: usize) -> String {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        for (name, value) in [
            ("state", &self.state),
            ("blocked", &self.blocked),
            ("rule", &self.rule),
            ("q", &self.q),
            ("sort", &self.sort),
        ] {
            if !value.is_empty() {
                query.append_pair(name, value);
            }
        }
        if page > 1 {
            query.append_pair("page", &page.to_string());
        }
        format!("/gating?{}", query.finish())
    }

    fn selects(&self, step: &Step) -> bool {
        let rule: Option<u8> = self.rule.parse().ok();
        (self.state.is_empty() || step.state.as_str() == self.state)
            && match self.blocked.as_str() {
                "true" => !step.blocked_by.is_empty(),
                "false" => step.blocked_by.is_empty() && step.next.is_some(),
                _ => true,
            }
            && rule.is_none_or(|rule| step.blocked_by.iter().any(|v| rule_of(v) == rule))
            && (self.q.is_empty() || step.workflow.to_lowercase().contains(&self.q.trim().to_lowercase()))
    }
}

/// The rule a violation breaks (0: one step at a time).
fn rule_of(violation: &Violation) -> u8 {
    match violation {
        Violation::UpstreamNotDual { .. } => 1,
        Violation::DownstreamNotMigrated { .. } => 2,
        Violation::UnitSplit { .. } => 3,
        Violation::NotEnoughEvidence { .. } => 4,
        Violation::NotOneStep { .. } => 0,
    }
}

const RULES: [(u8, &str); 4] = [
    (1, "Rule 1: an upstream task does not run dual"),
    (2, "Rule 2: a downstream workflow is not migrated"),
    (3, "Rule 3: a cycle's workflows are in different states"),
    (4, "Rule 4: a table lacks consistent runs"),
];

/// The CSS class of a state (the overview's colours).
fn state_class(state: WorkflowState) -> &'static str {
    match state {
        WorkflowState::NotMigrated => "baseline",
        WorkflowState::DualRun => "candidate",
        WorkflowState::Migrated => "matched",
    }
}

/// A rule and what stands in the way under it.
#[derive(Debug)]
struct RuleGroup {
    rule: u8,
    title: &'static str,
    workflows: usize,
    blockers: Vec<Blocker>,
    more: usize,
}

/// One thing that stands in the way, and how many workflows it holds up.
#[derive(Debug)]
struct Blocker {
    what: String,
    link: Option<String>,
    workflows: usize,
}

/// What a violation names as standing in the way, and the page about it.
fn blocker_of(violation: &Violation, task_workflow: &dyn Fn(&str) -> Option<String>) -> (String, Option<String>) {
    let workflow_link = |id: &str| format!("/gating/workflows/{}", super::path_segment(id));
    match violation {
        Violation::UpstreamNotDual { upstream, upstream_mode, .. } => (
            format!("task {upstream} runs {}", upstream_mode.as_str()),
            task_workflow(upstream).map(|workflow| workflow_link(&workflow)),
        ),
        Violation::DownstreamNotMigrated { downstream, downstream_state, .. } => {
            (format!("workflow {downstream} is {}", downstream_state.as_str()), Some(workflow_link(downstream)))
        }
        Violation::UnitSplit { members } => {
            let states: Vec<String> = members.iter().map(|(m, s)| format!("{m} {}", s.as_str())).collect();
            (format!("cycle {}", states.join(", ")), None)
        }
        Violation::NotEnoughEvidence { table, consistent, needed, .. } => (
            format!("table {table}: {consistent} of {needed} runs consistent"),
            Some(format!("/tables/{}", super::path_segment(table))),
        ),
        Violation::NotOneStep { .. } => (violation.to_string(), None),
    }
}

/// The blocked workflows grouped by rule, and within a rule by what stands in the way, most
/// workflows held up first.
fn group_blockers(steps: &[Step], task_workflow: &dyn Fn(&str) -> Option<String>) -> Vec<RuleGroup> {
    // Per rule: the workflows it blocks, and per blocker (what, link) the workflows it holds up.
    type Blockers = BTreeMap<(String, Option<String>), usize>;
    let mut by_rule: BTreeMap<u8, (usize, Blockers)> = BTreeMap::new();
    for step in steps.iter().filter(|step| !step.blocked_by.is_empty()) {
        let mut rules_seen = std::collections::BTreeSet::new();
        let mut blockers_seen = std::collections::BTreeSet::new();
        for violation in &step.blocked_by {
            let rule = rule_of(violation);
            let (count, blockers) = by_rule.entry(rule).or_default();
            if rules_seen.insert(rule) {
                *count += 1;
            }
            let blocker = blocker_of(violation, task_workflow);
            if blockers_seen.insert(blocker.clone()) {
                *blockers.entry(blocker).or_default() += 1;
            }
        }
    }
    RULES
        .iter()
        .filter_map(|(rule, title)| {
            let (workflows, blockers) = by_rule.remove(rule)?;
            let mut blockers: Vec<Blocker> =
                blockers.into_iter().map(|((what, link), workflows)| Blocker { what, link, workflows }).collect();
            blockers.sort_by(|a, b| b.workflows.cmp(&a.workflows).then_with(|| a.what.cmp(&b.what)));
            let more = blockers.len().saturating_sub(BLOCKERS);
            blockers.truncate(BLOCKERS);
            Some(RuleGroup { rule: *rule, title, workflows, blockers, more })
        })
        .collect()
}

/// A workflow in the list.
#[derive(Debug)]
struct WorkflowRow {
    id: String,
    state: &'static str,
    class: &'static str,
    next: Option<&'static str>,
    blocked_by: Vec<String>,
    more: usize,
    downstream: usize,
}

#[derive(Debug, Template)]
#[template(path = "gating.html")]
struct GatingPage {
    stylesheet: &'static str,
    visitor: Visitor,
    counts: Vec<(&'static str, &'static str, usize)>,
    ready: usize,
    blocked: usize,
    violations: Vec<String>,
    groups: Vec<RuleGroup>,
    filter: Filter,
    total: usize,
    rows: Vec<WorkflowRow>,
    previous: Option<String>,
    next: Option<String>,
    warnings: Vec<crate::store::RerunWarning>,
    warnings_total: i64,
}

pub(super) async fn overview(
    State(state): State<AppState>,
    Query(filter): Query<Filter>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let visitor = match state.reader_of(&headers, &uri).await {
        Ok(visitor) => visitor,
        Err(answer) => return answer,
    };
    match overview_page(&state, visitor, filter).await {
        Ok(page) => render(StatusCode::OK, &page),
        Err(error) => error.into_response(),
    }
}

async fn overview_page(state: &AppState, visitor: Visitor, filter: Filter) -> Result<GatingPage, ApiError> {
    let whole = crate::rest::gates::whole_overview(state).await?;
    let current = snapshot(state).await?;
    let waiting = waiting_downstream(state).await?;
    let (warnings, warnings_total) = state.store().rerun_warnings(RECENT, 0).await?;
    let task_workflow = |task: &str| current.model.tasks.get(task).map(|task| task.workflow.clone());
    let downstream = |id: &str| waiting.get(id).copied().unwrap_or(0);
    let mut selected: Vec<&Step> = whole.workflows.iter().filter(|step| filter.selects(step)).collect();
    if filter.sort == "downstream" {
        selected.sort_by_key(|step| std::cmp::Reverse(downstream(&step.workflow)));
    }
    let total = selected.len();
    let page = filter.page.unwrap_or(1).max(1);
    let rows = selected
        .iter()
        .skip((page - 1).saturating_mul(PAGE))
        .take(PAGE)
        .map(|step| WorkflowRow {
            id: step.workflow.clone(),
            state: step.state.as_str(),
            class: state_class(step.state),
            next: step.next.map(WorkflowState::as_str),
            blocked_by: step.blocked_by.iter().take(3).map(ToString::to_string).collect(),
            more: step.blocked_by.len().saturating_sub(3),
            downstream: downstream(&step.workflow),
        })
        .collect();
    let count = |s: WorkflowState| whole.counts.get(&s).copied().unwrap_or(0);
    Ok(GatingPage {
        stylesheet: stylesheet_path(),
        visitor,
        counts: [WorkflowState::NotMigrated, WorkflowState::DualRun, WorkflowState::Migrated]
            .map(|s| (s.as_str(), state_class(s), count(s)))
            .into(),
        ready: whole.ready,
        blocked: whole.blocked,
        violations: whole.violations.iter().map(ToString::to_string).collect(),
        groups: group_blockers(&whole.workflows, &task_workflow),
        previous: (page > 1).then(|| filter.link(page - 1)),
        next: (page.saturating_mul(PAGE) < total).then(|| filter.link(page + 1)),
        filter,
        total,
        rows,
        warnings,
        warnings_total,
    })
}

/// A workflow next to the one shown.
#[derive(Debug)]
struct Neighbour {
    id: String,
    state: &'static str,
    class: &'static str,
}

/// A task of the workflow shown.
#[derive(Debug)]
struct TaskView {
    id: String,
    kind: &'static str,
    mode: &'static str,
    outputs: Vec<(String, &'static str)>,
    stale: Vec<String>,
}

/// The runs of a table that rule 4 looked at: (table, runs needed, (run, verdict) newest first).
type EvidenceView = (String, usize, Vec<(String, &'static str)>);

/// A check's or a move's outcome, as shown.
#[derive(Debug)]
struct Outcome {
    headline: String,
    allowed: bool,
    violations: Vec<String>,
    evidence: Vec<EvidenceView>,
}

impl Outcome {
    fn of(answer: &TransitionAnswer) -> Self {
        let unit = if answer.unit.len() > 1 { format!(" (with {})", answer.unit.join(", ")) } else { String::new() };
        let headline = if answer.transition.is_some() {
            let forced = if answer.forced { ", forced past the rules below" } else { "" };
            format!("Moved from {} to {}{unit}{forced}.", answer.from.as_str(), answer.to.as_str())
        } else if answer.allowed {
            format!("A move from {} to {}{unit} is allowed now.", answer.from.as_str(), answer.to.as_str())
        } else {
            format!("A move from {} to {}{unit} is refused.", answer.from.as_str(), answer.to.as_str())
        };
        Self {
            headline,
            allowed: answer.allowed,
            violations: answer.violations.iter().map(ToString::to_string).collect(),
            evidence: answer
                .evidence
                .iter()
                .map(|e| {
                    let runs = e.runs.iter().map(|run| (run.run_id.clone(), run.verdict.as_str())).collect();
                    (e.table.clone(), e.needed, runs)
                })
                .collect(),
        }
    }
}

/// A recorded transition, as shown.
#[derive(Debug)]
struct Moved {
    at: String,
    from: &'static str,
    to: &'static str,
    actor: String,
    reason: String,
    forced: bool,
}

#[derive(Debug, Template)]
#[template(path = "workflow.html")]
struct WorkflowPage {
    stylesheet: &'static str,
    visitor: Visitor,
    id: String,
    state: &'static str,
    class: &'static str,
    steps: Vec<&'static str>,
    moves_with: Vec<Neighbour>,
    upstream: Vec<Neighbour>,
    downstream: Vec<Neighbour>,
    tasks: Vec<TaskView>,
    outcome: Option<Outcome>,
    may_move: bool,
    may_force: bool,
    history: Vec<Moved>,
}

/// A check asked for from the page (`?check=dual_run`).
#[derive(Debug, Default, serde::Deserialize)]
pub(super) struct CheckQuery {
    #[serde(default)]
    check: String,
}

pub(super) async fn workflow(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(query): Query<CheckQuery>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let visitor = match state.reader_of(&headers, &uri).await {
        Ok(visitor) => visitor,
        Err(answer) => return answer,
    };
    let outcome = match WorkflowState::parse(&query.check) {
        Some(to) => {
            let request = TransitionRequest { to, dry_run: true, reason: String::new(), force: false };
            match move_workflow(&state, &visitor.name, visitor.role, &id, &request).await {
                Ok((_, answer)) => Some(Outcome::of(&answer)),
                Err(error) => return message(error.status, "No check", &error.message),
            }
        }
        None => None,
    };
    workflow_answer(&state, visitor, &id, StatusCode::OK, outcome).await
}

/// The workflow's page with `outcome` on it.
async fn workflow_answer(
    state: &AppState,
    visitor: Visitor,
    id: &str,
    status: StatusCode,
    outcome: Option<Outcome>,
) -> Response {
    let found = workflow_page(state, visitor, id, outcome).await;
    super::page_or_missing(status, found, "No such workflow", &format!("Workflow `{id}` is not in the DAG."))
}

async fn workflow_page(
    state: &AppState,
    visitor: Visitor,
    id: &str,
    outcome: Option<Outcome>,
) -> Result<Option<WorkflowPage>, ApiError> {
    let current = snapshot(state).await?;
    let (model, graph) = (&current.model, &current.graph);
    let Some(workflow_state) = model.workflows.get(id).copied() else { return Ok(None) };
    let neighbour = |other: &String| {
        let s = model.workflows.get(other).copied().unwrap_or(WorkflowState::NotMigrated);
        Neighbour { id: other.clone(), state: s.as_str(), class: state_class(s) }
    };
    let listed = |map: &BTreeMap<String, std::collections::BTreeSet<String>>| -> Vec<Neighbour> {
        map.get(id).into_iter().flatten().map(neighbour).collect()
    };
    let mut tasks = Vec::new();
    for task in graph.tasks_of(id).iter().filter_map(|task| model.tasks.get(task)) {
        let mut outputs = Vec::with_capacity(task.outputs.len());
        for table in &task.outputs {
            let history = state.store().verdict_history(table).await?;
            outputs.push((table.clone(), history.first().map_or("none", |(_, verdict)| verdict.as_str())));
        }
        tasks.push(TaskView {
            id: task.id.clone(),
            kind: task.kind.as_str(),
            mode: model.mode(task).as_str(),
            outputs,
            stale: crate::gating::rerun_warning(model, graph, &task.id),
        });
    }
    let (transitions, _) = state.store().transitions(Some(id), RECENT, 0).await?;
    let history = transitions
        .into_iter()
        .map(|t| Moved {
            at: t.at.format("%Y-%m-%d %H:%M UTC").to_string(),
            from: t.moved.from.as_str(),
            to: t.moved.to.as_str(),
            forced: t.moved.evidence["overridden"].as_array().is_some_and(|rules| !rules.is_empty()),
            actor: t.moved.actor,
            reason: t.moved.reason,
        })
        .collect();
    let may_move = visitor.role >= AccessRole::Operator;
    Ok(Some(WorkflowPage {
        stylesheet: stylesheet_path(),
        may_force: visitor.role >= AccessRole::Admin,
        visitor,
        id: id.to_owned(),
        state: workflow_state.as_str(),
        class: state_class(workflow_state),
        steps: [workflow_state.next(), workflow_state.previous()].into_iter().flatten().map(|s| s.as_str()).collect(),
        moves_with: graph.unit(id).unwrap_or_default().iter().filter(|m| *m != id).map(neighbour).collect(),
        upstream: listed(&graph.upstream),
        downstream: listed(&graph.downstream),
        tasks,
        outcome,
        may_move,
        history,
    }))
}

/// The transition form's fields.
#[derive(Debug, serde::Deserialize)]
pub(super) struct MoveForm {
    to: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    force: Option<String>,
}

pub(super) async fn transition(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Form(form): Form<MoveForm>,
) -> Response {
    let here = format!("/gating/workflows/{}", super::path_segment(&id));
    let visitor = match state.writer(&headers, AccessRole::Operator, &here).await {
        Ok(visitor) => visitor,
        Err(answer) => return answer,
    };
    let Some(to) = WorkflowState::parse(&form.to) else {
        return message(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Refused",
            &format!("`{}` is not a workflow state.", form.to),
        );
    };
    let request = TransitionRequest { to, dry_run: false, reason: form.reason, force: form.force.is_some() };
    match move_workflow(&state, &visitor.name, visitor.role, &id, &request).await {
        // Moved: the page again (its history shows the move), so that a reload sends nothing.
        Ok((StatusCode::CREATED, _)) => Redirect::to(&here).into_response(),
        Ok((status, answer)) => workflow_answer(&state, visitor, &id, status, Some(Outcome::of(&answer))).await,
        Err(error) => message(error.status, "Not moved", &error.message),
    }
}
