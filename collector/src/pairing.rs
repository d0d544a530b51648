//! Pairing: the pure state machine that turns events into decisions, one pair at a time.
//!
//! A pair is one `(table, partition, run_id)`. It holds, per role, the newest output seen
//! ([`SideRun::supersedes`]: a higher attempt, then a later `finished_at`, then the larger
//! `event_id`, so the choice does not depend on arrival order), and the current [`Outcome`]:
//!
//! - both sides succeeded -> [`Outcome::Diff`] of exactly these two outputs;
//! - a side failed -> [`Outcome::Divergent`] naming the failed side(s);
//! - one side only, and its deadline has passed -> [`Outcome::Divergent`] "missing on" the other.
//!
//! [`observe`] and [`expire`] return the new outcome when it changed, and only then: the caller
//! acts on it (a diff job, a report) and a later outcome supersedes it. Redelivering an event,
//! or an older attempt arriving late, changes nothing. Once every event has arrived and every
//! deadline has passed, the state depends only on the set of events, never on their order,
//! duplication or delays (property-tested below).

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::event::{Role, Status};

/// What names a pair.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PairKey {
    /// `db.table`.
    pub table: String,
    /// The partition, columns sorted: `dt=2024-05-01/hour=3` (empty: unpartitioned).
    pub partition: String,
    /// The logical run.
    pub run_id: String,
}

/// One cluster's output for a pair, from one event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SideRun {
    /// The event that reported it.
    pub event_id: String,
    /// The task's attempt on this cluster.
    pub attempt: u32,
    /// How the task ended.
    pub status: Status,
    /// When the task finished.
    pub finished_at: DateTime<Utc>,
    /// When dqc received the event (its first delivery).
    pub received_at: DateTime<Utc>,
    /// The location the event gave, if any.
    pub location: Option<String>,
    /// The partition path in the event's column order, for the cluster's location template.
    pub partition_path: String,
}

impl SideRun {
    /// True when this output replaces `other` as its side's output: a later attempt (then a
    /// later finish, then a larger event id, so that every order of arrival picks the same).
    pub fn supersedes(&self, other: &SideRun) -> bool {
        (self.attempt, self.finished_at, &self.event_id) > (other.attempt, other.finished_at, &other.event_id)
    }
}

/// Why a pair cannot be diffed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Divergence {
    /// The task failed on these sides.
    Failed {
        /// The sides whose newest attempt failed.
        sides: Vec<Role>,
    },
    /// This side did not report before the deadline.
    Missing {
        /// The side that never came.
        side: Role,
    },
}

/// What is to be done with a pair.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Outcome {
    /// Diff these two outputs.
    Diff {
        /// The baseline output's event.
        baseline_event: String,
        /// The candidate output's event.
        candidate_event: String,
    },
    /// Report verdict `divergent`. Stored as `{"kind": "divergent", "divergence": {...}}`: the
    /// divergence carries its own `kind`, which inlined would repeat the key and not parse back.
    Divergent(#[serde(with = "nested")] Divergence),
}

/// A divergence under its own key inside an [`Outcome`].
mod nested {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::Divergence;

    #[derive(Serialize, Deserialize)]
    struct Nested<T> {
        divergence: T,
    }

    pub(super) fn serialize<S: Serializer>(divergence: &Divergence, serializer: S) -> Result<S::Ok, S::Error> {
        Nested { divergence }.serialize(serializer)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Divergence, D::Error> {
        Nested::<Divergence>::deserialize(deserializer).map(|nested| nested.divergence)
    }
}

/// The state of one pair.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pair {
    /// The newest baseline output.
    pub baseline: Option<SideRun>,
    /// The newest candidate output.
    pub candidate: Option<SideRun>,
    /// The current outcome; `None` while waiting for the other side.
    pub outcome: Option<Outcome>,
}

impl Pair {
    /// The output of one side.
    pub fn side(&self, role: Role) -> Option<&SideRun> {
        match role {
            Role::Baseline => self.baseline.as_ref(),
            Role::Candidate => self.candidate.as_ref(),
        }
    }

    fn side_mut(&mut self, role: Role) -> &mut Option<SideRun> {
        match role {
            Role::Baseline => &mut self.baseline,
            Role::Candidate => &mut self.candidate,
        }
    }

    /// When the missing side is due: `wait` after the present side finished or was received,
    /// whichever is later (so that catching up on a backlog does not declare sides missing
    /// that are still further down the topic). `None` when both sides or neither are present,
    /// or the pair has an outcome.
    pub fn deadline(&self, wait: Duration) -> Option<DateTime<Utc>> {
        if self.outcome.is_some() {
            return None;
        }
        let present = match (&self.baseline, &self.candidate) {
            (Some(side), None) | (None, Some(side)) => side,
            _ => return None,
        };
        let wait = chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::MAX);
        Some(present.finished_at.max(present.received_at).checked_add_signed(wait).unwrap_or(DateTime::<Utc>::MAX_UTC))
    }
}

/// The result of a step: the pair's new state, and its new outcome when it changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// The pair after the step.
    pub pair: Pair,
    /// The outcome to act on, when the step changed it.
    pub decided: Option<Outcome>,
}

/// Applies one side's output to a pair.
pub fn observe(mut pair: Pair, role: Role, run: SideRun) -> Step {
    if pair.side(role).is_some_and(|current| !run.supersedes(current)) {
        return Step { pair, decided: None };
    }
    *pair.side_mut(role) = Some(run);
    let outcome = match (&pair.baseline, &pair.candidate) {
        (Some(baseline), Some(candidate)) => Some(decide(baseline, candidate)),
        // One side only: a newer run of it waits for the other side again.
        _ => None,
    };
    let decided = if outcome.is_some() && outcome != pair.outcome { outcome.clone() } else { None };
    pair.outcome = outcome;
    Step { pair, decided }
}

/// Gives up on the missing side of a pair when its deadline has passed at `now`.
pub fn expire(mut pair: Pair, now: DateTime<Utc>, wait: Duration) -> Step {
    let due = pair.deadline(wait).is_some_and(|deadline| deadline <= now);
    if !due {
        return Step { pair, decided: None };
    }
    let missing = if pair.baseline.is_none() { Role::Baseline } else { Role::Candidate };
    let outcome = Outcome::Divergent(Divergence::Missing { side: missing });
    pair.outcome = Some(outcome.clone());
    Step { pair, decided: Some(outcome) }
}

fn decide(baseline: &SideRun, candidate: &SideRun) -> Outcome {
    let failed: Vec<Role> = [(Role::Baseline, baseline), (Role::Candidate, candidate)]
        .into_iter()
        .filter(|(_, run)| run.status == Status::Failed)
        .map(|(role, _)| role)
        .collect();
    if failed.is_empty() {
        Outcome::Diff { baseline_event: baseline.event_id.clone(), candidate_event: candidate.event_id.clone() }
    } else {
        Outcome::Divergent(Divergence::Failed { sides: failed })
    }
}

#[cfg(test)]
mod tests;
