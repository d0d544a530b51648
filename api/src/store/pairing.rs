//! The collector's [`PairingStore`]: events and dead letters in, pairs advanced with
//! [`collector::pairing`], outcomes turned into diff jobs or `divergent` reports, all in one
//! transaction per batch. Also the deadline sweep.
//!
//! The batch's pairs are created if new and read (locked `FOR UPDATE`, in id order, on
//! PostgreSQL, so that two instances advancing the same pair serialise), advanced in memory
//! in the batch's order, and written back, in a few multi-row statements ([`super::pairs`]).
//! A pair's `generation` counts its outcomes; jobs and reports are unique per
//! `(pair, generation)`, so an outcome is acted on once however often the work is retried.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::time::Duration;

use chrono::{DateTime, Utc};
use collector::pairing;
use collector::store::{Accepted, DeadLetter, Delivery, PairingStore};
use collector::{Clusters, Divergence, Event, Outcome, Output, Pair, PairKey, Role, SideRun, Status};
use sqlx::Row;

use super::jobs::NewJob;
use super::pairs::{PairRow, Tx};
use super::{JobOrigin, JobSpec, Result, SideSpec, Store, Verdict, millis};

impl PairingStore for Store {
    async fn accept(&self, batch: &[Delivery]) -> collector::Result<Accepted> {
        self.accept_at(batch, Utc::now()).await.map_err(super::StoreError::into_intake)
    }
}

/// What happens to a pair.
#[derive(Debug)]
enum Change {
    /// One side's output arrived.
    Observe(Role, SideRun),
    /// Its deadline is checked.
    Expire,
}

/// A decided outcome, with the pair as it was when decided.
#[derive(Debug)]
struct Decided {
    key: PairKey,
    row: PairRow,
    outcome: Outcome,
}

fn side_run(event: &Event, output: &Output, now: DateTime<Utc>) -> SideRun {
    SideRun {
        event_id: event.event_id.to_string(),
        attempt: event.attempt,
        status: event.status,
        finished_at: event.finished_at,
        received_at: now,
        location: output.location.clone(),
        partition_path: output.partition_path(),
    }
}

impl Store {
    /// [`PairingStore::accept`] at a given time.
    pub async fn accept_at(&self, batch: &[Delivery], now: DateTime<Utc>) -> Result<Accepted> {
        let mut tx = self.pool.begin().await?;
        let mut accepted = Accepted::default();
        let recorded = self.record_events(&mut tx, batch, now).await?;
        let mut seen = HashSet::new();
        let mut changes = Vec::new();
        let mut reruns = Vec::new();
        for delivery in batch {
            match delivery {
                Delivery::DeadLetter(letter) => {
                    accepted.dead_letters += self.keep_dead_letter(&mut tx, letter, now).await?
                }
                Delivery::Event { event, role, .. } => {
                    // Recorded by this batch, and met for the first time in it.
                    let id = (event.cluster.to_string(), event.event_id.to_string());
                    if !recorded.contains(&id) || !seen.insert(id) {
                        accepted.duplicates += 1;
                        continue;
                    }
                    accepted.events += 1;
                    if *role == Role::Baseline && event.attempt > 1 && event.status == Status::Succeeded {
                        reruns.push(event);
                    }
                    changes.extend(event.outputs.iter().map(|output| {
                        let key = PairKey {
                            table: output.table.to_string(),
                            partition: output.partition_name(),
                            run_id: event.run_id.to_string(),
                        };
                        (key, Change::Observe(*role, side_run(event, output, now)))
                    }));
                }
            }
        }
        accepted.decisions = self.apply(&mut tx, changes, now).await?;
        tx.commit().await?;
        if !reruns.is_empty() {
            // The events are in; a warning that cannot be worked out is logged, not retried.
            if let Err(error) = self.note_reruns(&reruns, now).await {
                tracing::warn!(%error, "cannot check baseline re-runs against the gating DAG");
            }
        }
        Ok(accepted)
    }

    /// Gives up on the missing side of every pair whose deadline has passed at `now`; returns
    /// how many pairs were reported `divergent`.
    pub async fn expire_due(&self, now: DateTime<Utc>) -> Result<usize> {
        let mut tx = self.pool.begin().await?;
        let due = sqlx::query(
            "SELECT table_name, partition_name, run_id FROM pairs WHERE deadline_at <= $1 ORDER BY id LIMIT 1000",
        )
        .bind(millis(now))
        .fetch_all(&mut *tx)
        .await?;
        let mut changes = Vec::with_capacity(due.len());
        for row in due {
            changes.push((
                PairKey { table: row.try_get(0)?, partition: row.try_get(1)?, run_id: row.try_get(2)? },
                Change::Expire,
            ));
        }
        let expired = self.apply(&mut tx, changes, now).await?;
        tx.commit().await?;
        Ok(expired)
    }

    /// Applies changes to their pairs in order, writes the pairs back and acts on the new
    /// outcomes; returns how many outcomes were decided.
    async fn apply(&self, tx: &mut Tx, changes: Vec<(PairKey, Change)>, now: DateTime<Utc>) -> Result<usize> {
        if changes.is_empty() {
            return Ok(0);
        }
        let keys: BTreeSet<PairKey> = changes.iter().map(|(key, _)| key.clone()).collect();
        let mut rows = self.lock_pairs(tx, &keys, now).await?;
        let waits = self.waits(tx, &keys.iter().map(|key| key.table.as_str()).collect()).await?;
        let wait = |key: &PairKey| waits.get(&key.table).copied().unwrap_or(self.default_deadline);
        let mut changed = BTreeSet::new();
        let mut decided = Vec::new();
        let mut earlier_outcomes = BTreeSet::new();
        for (key, change) in changes {
            let row = rows.get_mut(&key).ok_or(sqlx::Error::RowNotFound)?;
            let expiring = matches!(change, Change::Expire);
            let step = match change {
                Change::Observe(role, run) => pairing::observe(row.pair.clone(), role, run),
                Change::Expire => pairing::expire(row.pair.clone(), now, wait(&key)),
            };
            // A pair due by its stored deadline but not by its table's current one (raised
            // since) is written back, so that its stored deadline moves and the sweep stops
            // reading it.
            if step.pair == row.pair && step.decided.is_none() && !expiring {
                continue;
            }
            row.pair = step.pair;
            if let Some(outcome) = step.decided {
                if row.generation > 0 {
                    earlier_outcomes.insert(row.id);
                }
                row.generation += 1;
                decided.push(Decided { key: key.clone(), row: row.clone(), outcome });
            }
            changed.insert(key);
        }
        let saved: Vec<(&PairRow, Duration)> = changed.iter().map(|key| (&rows[key], wait(key))).collect();
        self.save_pairs(tx, &saved, now).await?;
        self.act(tx, &decided, &earlier_outcomes, now).await?;
        Ok(decided.len())
    }

    /// New outcomes: queued jobs of earlier ones are superseded; then diff jobs (the last
    /// outcome of each pair in the batch; earlier ones were superseded before being queued),
    /// and `divergent` reports.
    async fn act(
        &self,
        tx: &mut Tx,
        decided: &[Decided],
        earlier_outcomes: &BTreeSet<i64>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        for pair in earlier_outcomes {
            sqlx::query(
                "UPDATE jobs SET state = 'superseded', updated_at = $1 WHERE pair_id = $2 AND state = 'queued'",
            )
            .bind(millis(now))
            .bind(*pair)
            .execute(&mut **tx)
            .await?;
        }
        let last: HashMap<i64, usize> =
            decided.iter().enumerate().map(|(index, decided)| (decided.row.id, index)).collect();
        let mut jobs = Vec::new();
        for (index, Decided { key, row, outcome }) in decided.iter().enumerate() {
            match outcome {
                Outcome::Diff { .. } if last[&row.id] == index => {
                    let spec = JobSpec {
                        table: key.table.clone(),
                        partition: key.partition.clone(),
                        run_id: Some(key.run_id.clone()),
                        baseline: self.side_spec(&row.pair, Role::Baseline),
                        candidate: self.side_spec(&row.pair, Role::Candidate),
                    };
                    jobs.push(NewJob { pair: Some((row.id, row.generation)), origin: JobOrigin::Automatic, spec });
                }
                Outcome::Diff { .. } => {}
                Outcome::Divergent(divergence) => self.report_divergent(tx, key, row, divergence, now).await?,
            }
        }
        super::jobs::insert(tx, &jobs, now).await?;
        Ok(())
    }

    async fn report_divergent(
        &self,
        tx: &mut Tx,
        key: &PairKey,
        row: &PairRow,
        divergence: &Divergence,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let reason = self.divergence_reason(&row.pair, divergence);
        tracing::info!(table = %key.table, partition = %key.partition, run_id = %key.run_id, %reason, "pair divergent");
        let report = serde_json::json!({
            "verdict": Verdict::Divergent,
            "reason": reason,
            "table": key.table,
            "partition": key.partition,
            "run_id": key.run_id,
            "baseline": self.side_json(&row.pair, Role::Baseline),
            "candidate": self.side_json(&row.pair, Role::Candidate),
        });
        let new =
            super::reports::NewReport { verdict: Verdict::Divergent, reason: Some(reason), report, export_path: None };
        super::reports::insert(tx, Some((row.id, row.generation)), None, key, &new, now).await
    }

    async fn keep_dead_letter(&self, tx: &mut Tx, letter: &DeadLetter, now: DateTime<Utc>) -> Result<usize> {
        tracing::warn!(source = %letter.source, reason = %letter.reason, "dead letter");
        let done = sqlx::query(
            "INSERT INTO dead_letters (topic, kafka_partition, kafka_offset, payload, reason, received_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (topic, kafka_partition, kafka_offset) DO NOTHING",
        )
        .bind(&letter.source.topic)
        .bind(letter.source.partition.map(i64::from))
        .bind(letter.source.offset)
        .bind(letter.payload.clone())
        .bind(&letter.reason)
        .bind(millis(now))
        .execute(&mut **tx)
        .await?;
        Ok(usize::from(done.rows_affected() > 0))
    }

    fn divergence_reason(&self, pair: &Pair, divergence: &Divergence) -> String {
        let clusters: &Clusters = &self.clusters;
        match divergence {
            Divergence::Missing { side } => format!("missing on {}", clusters.name(*side)),
            Divergence::Failed { sides } => {
                let failed: Vec<String> = sides
                    .iter()
                    .map(|side| {
                        let attempt = pair.side(*side).map_or(0, |run| run.attempt);
                        format!("{} (attempt {attempt})", clusters.name(*side))
                    })
                    .collect();
                format!("failed on {}", failed.join(" and "))
            }
        }
    }

    fn side_spec(&self, pair: &Pair, role: Role) -> SideSpec {
        let run = pair.side(role);
        SideSpec {
            cluster: self.clusters.name(role).to_owned(),
            location: run.and_then(|run| run.location.clone()),
            partition_path: run.map(|run| run.partition_path.clone()).unwrap_or_default(),
            event_id: run.map(|run| run.event_id.clone()),
            attempt: run.map(|run| run.attempt),
        }
    }

    fn side_json(&self, pair: &Pair, role: Role) -> serde_json::Value {
        match pair.side(role) {
            None => serde_json::json!({ "cluster": self.clusters.name(role), "arrived": false }),
            Some(run) => serde_json::json!({
                "cluster": self.clusters.name(role),
                "arrived": true,
                "event_id": run.event_id,
                "attempt": run.attempt,
                "status": run.status,
                "finished_at": run.finished_at,
            }),
        }
    }
}
