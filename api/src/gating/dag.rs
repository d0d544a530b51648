//! The DAG as the scheduler gives it: workflows and tasks, imported whole (a file, or
//! `PUT /gating/dag`) or one item at a time, and exported in the same form.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::model::{Model, Task, WorkflowState};

/// The whole DAG.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Dag {
    /// The workflows; those named only by tasks are added as `not_migrated`.
    #[serde(default)]
    pub workflows: Vec<WorkflowEntry>,
    /// The tasks.
    #[serde(default)]
    pub tasks: Vec<Task>,
}

/// A workflow of a DAG.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkflowEntry {
    /// Its id.
    pub id: String,
    /// Its state when it is new to dqc (default `not_migrated`); a known workflow keeps its
    /// own, which only transitions change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<WorkflowState>,
}

/// At most this many problems are named in one answer.
const SHOWN: usize = 20;

/// The problems of a DAG or of a task, each naming its item; its message names the first
/// [`SHOWN`] and counts the rest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.message())]
pub struct Problems(pub Vec<String>);

impl Problems {
    /// `Ok` when there are none.
    pub fn check(problems: Vec<String>) -> Result<(), Self> {
        if problems.is_empty() { Ok(()) } else { Err(Self(problems)) }
    }

    fn message(&self) -> String {
        let problems = &self.0;
        if problems.len() <= SHOWN {
            problems.join("; ")
        } else {
            format!("{}; and {} more problems", problems[..SHOWN].join("; "), problems.len() - SHOWN)
        }
    }
}

/// Why a DAG file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum DagError {
    /// The file cannot be read.
    #[error("cannot read DAG file {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not TOML or JSON of a DAG.
    #[error("DAG file {path} is not valid: {source}")]
    Syntax {
        /// The file.
        path: String,
        /// The parser's error, with the line.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The DAG parses but is broken.
    #[error("DAG file {path}: {problems}")]
    Broken {
        /// The file.
        path: String,
        /// Every problem.
        problems: Problems,
    },
}

impl Dag {
    /// Reads a DAG file: TOML when its name ends in `.toml`, else JSON.
    pub fn load(path: &Path) -> Result<Self, DagError> {
        let shown = || path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| DagError::Read { path: shown(), source })?;
        let syntax = |source: Box<dyn std::error::Error + Send + Sync>| DagError::Syntax { path: shown(), source };
        let dag: Self = if path.extension().is_some_and(|ext| ext == "toml") {
            toml::from_str(&text).map_err(|error| syntax(Box::new(error)))?
        } else {
            serde_json::from_str(&text).map_err(|error| syntax(Box::new(error)))?
        };
        dag.check().map_err(|problems| DagError::Broken { path: shown(), problems })?;
        Ok(dag)
    }

    /// Every problem of the DAG, naming the items: empty or repeated ids, tasks reading
    /// themselves or unknown tasks.
    pub fn check(&self) -> Result<(), Problems> {
        let mut problems = Vec::new();
        let mut workflows = BTreeSet::new();
        for workflow in &self.workflows {
            if workflow.id.trim().is_empty() {
                problems.push("a workflow has an empty id".to_owned());
            } else if !workflows.insert(workflow.id.as_str()) {
                problems.push(format!("workflow `{}` is listed twice", workflow.id));
            }
        }
        let mut tasks = BTreeSet::new();
        for task in &self.tasks {
            if !tasks.insert(task.id.as_str()) {
                problems.push(format!("task `{}` is listed twice", task.id));
            }
        }
        for task in &self.tasks {
            problems.extend(task_problems(task, &|id| tasks.contains(id)));
        }
        Problems::check(problems)
    }

    /// The model of this DAG; workflows in `known` keep their state.
    pub fn model(&self, known: &BTreeMap<String, WorkflowState>) -> Model {
        let mut workflows: BTreeMap<String, WorkflowState> = BTreeMap::new();
        let named = self
            .workflows
            .iter()
            .map(|w| (w.id.clone(), w.state))
            .chain(self.tasks.iter().map(|t| (t.workflow.clone(), None)));
        for (id, state) in named {
            let state = known.get(&id).copied().or(state).unwrap_or(WorkflowState::NotMigrated);
            workflows.entry(id).or_insert(state);
        }
        let tasks = self.tasks.iter().map(|task| (task.id.clone(), normalised(task))).collect();
        Model { workflows, tasks }
    }

    /// The DAG of a model, with every state.
    pub fn of(model: &Model) -> Self {
        Self {
            workflows: model
                .workflows
                .iter()
                .map(|(id, state)| WorkflowEntry { id: id.clone(), state: Some(*state) })
                .collect(),
            tasks: model.tasks.values().cloned().collect(),
        }
    }
}

/// What is wrong with one task, given which task ids exist.
pub fn task_problems(task: &Task, exists: &dyn Fn(&str) -> bool) -> Vec<String> {
    let mut problems = Vec::new();
    if task.id.trim().is_empty() {
        problems.push("a task has an empty id".to_owned());
    }
    if task.workflow.trim().is_empty() {
        problems.push(format!("task `{}` names no workflow", task.id));
    }
    for upstream in &task.upstream {
        if *upstream == task.id {
            problems.push(format!("task `{}` reads from itself", task.id));
        } else if !exists(upstream) {
            problems.push(format!("task `{}` reads from unknown task `{upstream}`", task.id));
        }
    }
    if let Some(table) = task.outputs.iter().find(|table| table.trim().is_empty()) {
        problems.push(format!("task `{}` has an empty output table name `{table}`", task.id));
    }
    problems
}

/// A task with its upstream and outputs sorted and without repeats.
pub fn normalised(task: &Task) -> Task {
    let mut task = task.clone();
    task.upstream.sort();
    task.upstream.dedup();
    task.outputs.sort();
    task.outputs.dedup();
    task
}
