//! The collector's [`PairingStore`]: events and dead letters in, pairs advanced with
//! [`collector::pairing`], outcomes turned into diff jobs or `divergent` reports, all in one
//! transaction per batch. Also the deadline sweep.
//!
//! Each pair row is created first (`ON CONFLICT DO NOTHING`) and then read `FOR UPDATE` on
//! PostgreSQL, so that two instances advancing the same pair serialise. A pair's `generation`
//! counts its outcomes; jobs and reports are unique per `(pair, generation)`, so an outcome
//! is acted on once however often the work is retried.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use collector::pairing::{self, Step};
use collector::store::{Accepted, DeadLetter, Delivery, PairingStore};
use collector::{Clusters, Divergence, Event, Outcome, Pair, PairKey, Role, SideRun};
use sqlx::{Any, Row, Transaction};

use super::{Engine, JobOrigin, JobSpec, Result, SideSpec, Store, Verdict, from_json, millis, to_json};

type Tx = Transaction<'static, Any>;

impl PairingStore for Store {
    async fn accept(&self, batch: &[Delivery]) -> Result<Accepted, collector::store::StoreError> {
        Ok(self.accept_at(batch, Utc::now()).await?)
    }
}

/// A pair row, locked for this transaction.
struct PairRow {
    id: i64,
    key: PairKey,
    pair: Pair,
    generation: i64,
}

impl Store {
    /// [`PairingStore::accept`] at a given time.
    pub async fn accept_at(&self, batch: &[Delivery], now: DateTime<Utc>) -> Result<Accepted> {
        let mut tx = self.pool.begin().await?;
        let mut accepted = Accepted::default();
        let mut waits = HashMap::new();
        for delivery in batch {
            match delivery {
                Delivery::DeadLetter(letter) => {
                    accepted.dead_letters += self.keep_dead_letter(&mut tx, letter, now).await?
                }
                Delivery::Event { event, role, source } => {
                    let source = format!("{}/{}/{}", source.topic, source.partition, source.offset);
                    if !self.record_event(&mut tx, event, *role, &source, now).await? {
                        accepted.duplicates += 1;
                        continue;
                    }
                    accepted.events += 1;
                    for output in &event.outputs {
                        let key = PairKey {
                            table: output.table.clone(),
                            partition: output.partition_name(),
                            run_id: event.run_id.clone(),
                        };
                        let run = SideRun {
                            event_id: event.event_id.clone(),
                            attempt: event.attempt,
                            status: event.status,
                            finished_at: event.finished_at,
                            received_at: now,
                            location: output.location.clone(),
                            partition_path: output.partition_path(),
                        };
                        let mut row = self.lock_pair(&mut tx, key, now).await?;
                        let wait = self.wait_for(&mut tx, &mut waits, &row.key.table).await?;
                        let step = pairing::observe(row.pair.clone(), *role, run);
                        accepted.decisions += self.advance(&mut tx, &mut row, step, wait, now).await?;
                    }
                }
            }
        }
        tx.commit().await?;
        Ok(accepted)
    }

    /// Gives up on the missing side of every pair whose deadline has passed at `now`; returns
    /// how many pairs were reported `divergent`.
    pub async fn expire_due(&self, now: DateTime<Utc>) -> Result<usize> {
        let mut tx = self.pool.begin().await?;
        let due =
            sqlx::query("SELECT table_name, partition_name, run_id FROM pairs WHERE deadline_at <= $1 LIMIT 1000")
                .bind(millis(now))
                .fetch_all(&mut *tx)
                .await?;
        let mut waits = HashMap::new();
        let mut expired = 0;
        for row in due {
            let key = PairKey { table: row.try_get(0)?, partition: row.try_get(1)?, run_id: row.try_get(2)? };
            let mut row = self.lock_pair(&mut tx, key, now).await?;
            let wait = self.wait_for(&mut tx, &mut waits, &row.key.table).await?;
            let step = pairing::expire(row.pair.clone(), now, wait);
            expired += self.advance(&mut tx, &mut row, step, wait, now).await?;
        }
        tx.commit().await?;
        Ok(expired)
    }

    async fn keep_dead_letter(&self, tx: &mut Tx, letter: &DeadLetter, now: DateTime<Utc>) -> Result<usize> {
        tracing::warn!(topic = %letter.source.topic, partition = letter.source.partition,
            offset = letter.source.offset, reason = %letter.reason, "dead letter");
        let done = sqlx::query(
            "INSERT INTO dead_letters (topic, kafka_partition, kafka_offset, payload, reason, received_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (topic, kafka_partition, kafka_offset) DO NOTHING",
        )
        .bind(&letter.source.topic)
        .bind(i64::from(letter.source.partition))
        .bind(letter.source.offset)
        .bind(letter.payload.clone())
        .bind(&letter.reason)
        .bind(millis(now))
        .execute(&mut **tx)
        .await?;
        Ok(usize::from(done.rows_affected() > 0))
    }

    /// Records an event; false when its `event_id` was already recorded.
    async fn record_event(
        &self,
        tx: &mut Tx,
        event: &Event,
        role: Role,
        source: &str,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let done = sqlx::query(
            "INSERT INTO events (event_id, cluster, role, payload, source, received_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (event_id) DO NOTHING",
        )
        .bind(&event.event_id)
        .bind(&event.cluster)
        .bind(role.to_string())
        .bind(to_json(event))
        .bind(source)
        .bind(millis(now))
        .execute(&mut **tx)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn lock_pair(&self, tx: &mut Tx, key: PairKey, now: DateTime<Utc>) -> Result<PairRow> {
        sqlx::query(
            "INSERT INTO pairs (table_name, partition_name, run_id, state, generation, deadline_at, updated_at) \
             VALUES ($1, $2, $3, $4, 0, NULL, $5) ON CONFLICT (table_name, partition_name, run_id) DO NOTHING",
        )
        .bind(&key.table)
        .bind(&key.partition)
        .bind(&key.run_id)
        .bind(to_json(&Pair::default()))
        .bind(millis(now))
        .execute(&mut **tx)
        .await?;
        let lock = if self.engine == Engine::Postgres { " FOR UPDATE" } else { "" };
        let row = sqlx::query(&format!(
            "SELECT id, state, generation FROM pairs WHERE table_name = $1 AND partition_name = $2 AND run_id = $3{lock}"
        ))
        .bind(&key.table)
        .bind(&key.partition)
        .bind(&key.run_id)
        .fetch_one(&mut **tx)
        .await?;
        let state: String = row.try_get(1)?;
        Ok(PairRow { id: row.try_get(0)?, pair: from_json(&state, "pair state")?, generation: row.try_get(2)?, key })
    }

    /// How long a table's missing side may lag (its registered deadline, or the default).
    async fn wait_for(&self, tx: &mut Tx, cache: &mut HashMap<String, Duration>, table: &str) -> Result<Duration> {
        if let Some(wait) = cache.get(table) {
            return Ok(*wait);
        }
        let registered = super::registry::table_in(&mut **tx, table).await?;
        let wait = registered.and_then(|table| table.deadline).unwrap_or(self.default_deadline);
        cache.insert(table.to_owned(), wait);
        Ok(wait)
    }

    /// Saves a step and acts on its outcome; returns 1 when an outcome was decided.
    async fn advance(
        &self,
        tx: &mut Tx,
        row: &mut PairRow,
        step: Step,
        wait: Duration,
        now: DateTime<Utc>,
    ) -> Result<usize> {
        if step.pair == row.pair && step.decided.is_none() {
            return Ok(0);
        }
        row.pair = step.pair;
        if step.decided.is_some() {
            row.generation += 1;
        }
        sqlx::query("UPDATE pairs SET state = $1, generation = $2, deadline_at = $3, updated_at = $4 WHERE id = $5")
            .bind(to_json(&row.pair))
            .bind(row.generation)
            .bind(row.pair.deadline(wait).map(millis))
            .bind(millis(now))
            .bind(row.id)
            .execute(&mut **tx)
            .await?;
        let Some(outcome) = step.decided else { return Ok(0) };
        self.act(tx, row, &outcome, now).await?;
        Ok(1)
    }

    /// A new outcome: queued jobs of older outcomes are superseded; then a diff job, or a
    /// `divergent` report.
    async fn act(&self, tx: &mut Tx, row: &PairRow, outcome: &Outcome, now: DateTime<Utc>) -> Result<()> {
        sqlx::query("UPDATE jobs SET state = 'superseded', updated_at = $1 WHERE pair_id = $2 AND state = 'queued'")
            .bind(millis(now))
            .bind(row.id)
            .execute(&mut **tx)
            .await?;
        match outcome {
            Outcome::Diff { .. } => {
                let spec = JobSpec {
                    table: row.key.table.clone(),
                    partition: row.key.partition.clone(),
                    run_id: Some(row.key.run_id.clone()),
                    baseline: self.side_spec(&row.pair, Role::Baseline),
                    candidate: self.side_spec(&row.pair, Role::Candidate),
                };
                super::jobs::insert(tx, Some((row.id, row.generation)), JobOrigin::Automatic, &spec, now).await?;
            }
            Outcome::Divergent(divergence) => {
                let reason = self.divergence_reason(&row.pair, divergence);
                tracing::info!(table = %row.key.table, partition = %row.key.partition, run_id = %row.key.run_id,
                    %reason, "pair divergent");
                let report = serde_json::json!({
                    "verdict": Verdict::Divergent,
                    "reason": reason,
                    "table": row.key.table,
                    "partition": row.key.partition,
                    "run_id": row.key.run_id,
                    "baseline": self.side_json(&row.pair, Role::Baseline),
                    "candidate": self.side_json(&row.pair, Role::Candidate),
                });
                let new = super::reports::NewReport { verdict: Verdict::Divergent, reason: Some(reason), report };
                super::reports::insert(tx, Some((row.id, row.generation)), None, &row.key, &new, now).await?;
            }
        }
        Ok(())
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
