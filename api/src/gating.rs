//! Gating rules for workflow cutover (DESIGN.md, "Gating rules"): may a workflow start dual
//! running, may it be cut over for good. Pure functions over plain types; the store, the API
//! and the CLI are at the edges.
//!
//! This is the rules' core: the model ([`model`]) and the check of one transition
//! ([`rules::check`]). Loading the DAG, recording transitions and reading verdicts from the
//! store come with the API.

pub mod model;
pub mod rules;

pub use model::{Model, RunMode, Task, TaskKind, WorkflowGraph, WorkflowState};
pub use rules::{Decision, History, Violation, check, rerun_warning};

#[cfg(test)]
mod tests;
