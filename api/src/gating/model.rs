//! The migration model: workflows, tasks, their upstream edges and output tables, and the
//! workflow graph derived from the task edges (with its strongly connected components).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

/// What a task runs; export tasks never run on both clusters (rule 5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TaskKind {
    /// A SQL (Hive, Spark SQL) task.
    Sql,
    /// A Spark application.
    Spark,
    /// A MapReduce job or a jar.
    Mapreduce,
    /// An import into the warehouse.
    Import,
    /// An export out of the warehouse (MySQL, Elasticsearch, ...).
    Export,
    /// A script.
    Script,
}

/// Where a task runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RunMode {
    /// On the baseline only: not migrated.
    BaselineOnly,
    /// On both clusters.
    Dual,
    /// On the candidate only: migrated.
    CandidateOnly,
}

impl RunMode {
    /// The mode as shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BaselineOnly => "baseline_only",
            Self::Dual => "dual",
            Self::CandidateOnly => "candidate_only",
        }
    }
}

/// Where a workflow is in its migration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum WorkflowState {
    /// Its tasks run on the baseline only.
    NotMigrated,
    /// Its tasks run on both clusters (exports on the baseline only).
    DualRun,
    /// Its tasks run on the candidate only.
    Migrated,
}

impl WorkflowState {
    /// The state as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotMigrated => "not_migrated",
            Self::DualRun => "dual_run",
            Self::Migrated => "migrated",
        }
    }

    /// A state from its name.
    pub fn parse(text: &str) -> Option<Self> {
        [Self::NotMigrated, Self::DualRun, Self::Migrated].into_iter().find(|state| state.as_str() == text)
    }

    /// The state a workflow moves to next; none once migrated.
    pub fn next(self) -> Option<Self> {
        match self {
            Self::NotMigrated => Some(Self::DualRun),
            Self::DualRun => Some(Self::Migrated),
            Self::Migrated => None,
        }
    }

    /// The state a workflow moves back to in a rollback; none before its migration began.
    pub fn previous(self) -> Option<Self> {
        match self {
            Self::NotMigrated => None,
            Self::DualRun => Some(Self::NotMigrated),
            Self::Migrated => Some(Self::DualRun),
        }
    }

    /// The run mode of a task of `kind` in a workflow in this state.
    pub fn mode(self, kind: TaskKind) -> RunMode {
        match (self, kind) {
            (Self::NotMigrated, _) | (Self::DualRun, TaskKind::Export) => RunMode::BaselineOnly,
            (Self::DualRun, _) => RunMode::Dual,
            (Self::Migrated, _) => RunMode::CandidateOnly,
        }
    }
}

impl TaskKind {
    /// The kind as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sql => "sql",
            Self::Spark => "spark",
            Self::Mapreduce => "mapreduce",
            Self::Import => "import",
            Self::Export => "export",
            Self::Script => "script",
        }
    }

    /// A kind from its name.
    pub fn parse(text: &str) -> Option<Self> {
        [Self::Sql, Self::Spark, Self::Mapreduce, Self::Import, Self::Export, Self::Script]
            .into_iter()
            .find(|kind| kind.as_str() == text)
    }
}

/// A task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Task {
    /// Its id (in a request whose path names the task, it may be left out).
    #[serde(default)]
    pub id: String,
    /// The workflow it belongs to.
    pub workflow: String,
    /// What it runs.
    pub kind: TaskKind,
    /// The tasks it reads from, in any workflow.
    #[serde(default)]
    pub upstream: Vec<String>,
    /// The tables it writes (`db.table`).
    #[serde(default)]
    pub outputs: Vec<String>,
}

/// The whole DAG (which may hold cycles between workflows) and each workflow's state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Model {
    /// Workflows by id, with their state.
    pub workflows: BTreeMap<String, WorkflowState>,
    /// Tasks by id.
    pub tasks: BTreeMap<String, Task>,
}

/// The workflow graph: edges between workflows from task edges, and its cycles as units.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkflowGraph {
    /// Workflow -> the workflows it reads from (itself excluded).
    pub upstream: BTreeMap<String, BTreeSet<String>>,
    /// Workflow -> the workflows that read from it (itself excluded).
    pub downstream: BTreeMap<String, BTreeSet<String>>,
    /// The units: the strongly connected components, each sorted.
    pub units: Vec<Vec<String>>,
    /// Workflow -> the index of its unit in `units`.
    pub unit_of: BTreeMap<String, usize>,
    /// Workflow -> its tasks.
    pub tasks_of: BTreeMap<String, Vec<String>>,
    /// Task -> the tasks that read from it.
    pub readers: BTreeMap<String, Vec<String>>,
}

impl WorkflowGraph {
    /// The workflows that move with `workflow` (itself included), sorted; none if unknown.
    pub fn unit(&self, workflow: &str) -> Option<&[String]> {
        self.unit_of.get(workflow).map(|index| self.units[*index].as_slice())
    }

    /// The tasks of `workflow`.
    pub fn tasks_of(&self, workflow: &str) -> &[String] {
        self.tasks_of.get(workflow).map_or(&[], Vec::as_slice)
    }

    /// The tasks that read from `task`.
    pub fn readers(&self, task: &str) -> &[String] {
        self.readers.get(task).map_or(&[], Vec::as_slice)
    }

    /// For each workflow, how many other workflows are downstream of it, directly or not: those
    /// that wait on it (rule 1 keeps their tasks off the dual run until it runs dual). Counted on
    /// the units' DAG, sinks first, each unit's reach a bit set of workflows: the union of its
    /// downstream units' reaches and members (at 10,000 workflows, a walk from every workflow
    /// took seconds; this takes milliseconds).
    pub fn waiting_downstream(&self) -> BTreeMap<String, usize> {
        let index: BTreeMap<&str, usize> =
            self.units.iter().flatten().enumerate().map(|(at, workflow)| (workflow.as_str(), at)).collect();
        let words = index.len().div_ceil(64);
        let unit_of = |workflow: &str| self.unit_of.get(workflow).copied();
        // The units each unit reads into, and how many units read into each.
        let mut children: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); self.units.len()];
        let mut parents = vec![0_usize; self.units.len()];
        for (workflow, downstreams) in &self.downstream {
            let Some(from) = unit_of(workflow) else { continue };
            for to in downstreams.iter().filter_map(|d| unit_of(d)).filter(|to| *to != from) {
                if children[from].insert(to) {
                    parents[to] += 1;
                }
            }
        }
        // Kahn's order from the sources; then reaches from the sinks back.
        let mut order: Vec<usize> = (0..self.units.len()).filter(|unit| parents[*unit] == 0).collect();
        let mut next = 0;
        while let Some(&unit) = order.get(next) {
            next += 1;
            for &child in &children[unit] {
                parents[child] -= 1;
                if parents[child] == 0 {
                    order.push(child);
                }
            }
        }
        let mut reach: Vec<Vec<u64>> = vec![Vec::new(); self.units.len()];
        let mut counts = BTreeMap::new();
        for &unit in order.iter().rev() {
            let mut bits = vec![0_u64; words];
            for &child in &children[unit] {
                for (word, child_word) in bits.iter_mut().zip(&reach[child]) {
                    *word |= child_word;
                }
                for member in &self.units[child] {
                    let at = index[member.as_str()];
                    bits[at / 64] |= 1 << (at % 64);
                }
            }
            let below = bits.iter().map(|word| word.count_ones() as usize).sum::<usize>();
            for member in &self.units[unit] {
                counts.insert(member.clone(), below + self.units[unit].len() - 1);
            }
            reach[unit] = bits;
        }
        counts
    }
}

impl Model {
    /// The run mode of a task, from its workflow's state.
    pub fn mode(&self, task: &Task) -> RunMode {
        self.workflows.get(&task.workflow).copied().unwrap_or(WorkflowState::NotMigrated).mode(task.kind)
    }

    /// The workflow graph and its units.
    pub fn graph(&self) -> WorkflowGraph {
        let mut upstream: BTreeMap<String, BTreeSet<String>> =
            self.workflows.keys().map(|id| (id.clone(), BTreeSet::new())).collect();
        let mut downstream = upstream.clone();
        let mut tasks_of: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut readers: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for task in self.tasks.values() {
            tasks_of.entry(task.workflow.clone()).or_default().push(task.id.clone());
            for source in task.upstream.iter().filter_map(|id| self.tasks.get(id)) {
                readers.entry(source.id.clone()).or_default().push(task.id.clone());
                if source.workflow != task.workflow {
                    upstream.entry(task.workflow.clone()).or_default().insert(source.workflow.clone());
                    downstream.entry(source.workflow.clone()).or_default().insert(task.workflow.clone());
                }
            }
        }
        let units = components(&downstream);
        let unit_of = units
            .iter()
            .enumerate()
            .flat_map(|(index, members)| members.iter().map(move |member| (member.clone(), index)))
            .collect();
        WorkflowGraph { upstream, downstream, units, unit_of, tasks_of, readers }
    }
}

/// Strongly connected components (Tarjan's algorithm, iterative so that long chains do not
/// overflow the stack), each sorted.
fn components(edges: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    let nodes: Vec<&String> = edges.keys().collect();
    let index_of: BTreeMap<&String, usize> = nodes.iter().enumerate().map(|(i, n)| (*n, i)).collect();
    let successors: Vec<Vec<usize>> =
        nodes.iter().map(|node| edges[*node].iter().filter_map(|next| index_of.get(next).copied()).collect()).collect();
    let count = nodes.len();
    let (mut index, mut low, mut on_stack) = (vec![usize::MAX; count], vec![0; count], vec![false; count]);
    let (mut stack, mut next_index) = (Vec::new(), 0);
    let mut result = Vec::new();
    for root in 0..count {
        if index[root] != usize::MAX {
            continue;
        }
        // (node, position in its successor list)
        let mut work = vec![(root, 0)];
        index[root] = next_index;
        low[root] = next_index;
        next_index += 1;
        stack.push(root);
        on_stack[root] = true;
        while let Some(&mut (node, ref mut position)) = work.last_mut() {
            if let Some(&next) = successors[node].get(*position) {
                *position += 1;
                if index[next] == usize::MAX {
                    index[next] = next_index;
                    low[next] = next_index;
                    next_index += 1;
                    stack.push(next);
                    on_stack[next] = true;
                    work.push((next, 0));
                } else if on_stack[next] {
                    low[node] = low[node].min(index[next]);
                }
                continue;
            }
            work.pop();
            if let Some(&(parent, _)) = work.last() {
                low[parent] = low[parent].min(low[node]);
            }
            if low[node] == index[node] {
                let mut members = Vec::new();
                while let Some(member) = stack.pop() {
                    on_stack[member] = false;
                    members.push(nodes[member].clone());
                    if member == node {
                        break;
                    }
                }
                members.sort();
                result.push(members);
            }
        }
    }
    result
}
