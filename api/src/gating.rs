//! Gating rules for workflow cutover (DESIGN.md, "Gating rules"): may a workflow start dual
//! running, may it be cut over for good. Pure functions over plain types; the store
//! (`store::gating`), the API (`rest::gating`) and the CLI (`dqc gate`) are at the edges.
//!
//! - [`model`]: workflows, tasks, the workflow graph and its cycles (units);
//! - [`dag`]: the DAG as imported and exported;
//! - [`rules`]: the check of one transition, and the re-run warning;
//! - [`overview`]: where every workflow stands, and an audit of the states.

pub mod dag;
pub mod model;
pub mod overview;
pub mod rules;

pub use dag::{Dag, WorkflowEntry};
pub use model::{Model, RunMode, Task, TaskKind, WorkflowGraph, WorkflowState};
pub use overview::{Overview, Step, audit, overview};
pub use rules::{Decision, History, Violation, check, evidence_tables, rerun_warning};

#[cfg(test)]
mod tests;
