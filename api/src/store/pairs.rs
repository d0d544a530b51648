//! Pair rows and the batch's other rows, many per statement.
//!
//! A statement costs a round trip (to SQLite's worker thread, or to the PostgreSQL server), so
//! a batch of events is recorded, paired and queued in a handful of multi-row statements rather
//! than several per event. Rows per statement stay small (at most 100): SQLite looks parameter
//! names up one by one, so very wide statements cost more than they save.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::time::Duration;

use chrono::{DateTime, Utc};
use collector::store::Delivery;
use collector::{Pair, PairKey};
use sqlx::{Any, Row, Transaction};

use super::{Engine, Result, Store, from_json, millis, to_json};
use crate::config::TableConfig;

pub(super) type Tx = Transaction<'static, Any>;

pub(super) const ROWS_PER_STATEMENT: usize = 100;

/// A pair row, locked for this transaction.
#[derive(Debug, Clone)]
pub(super) struct PairRow {
    pub(super) id: i64,
    pub(super) pair: Pair,
    pub(super) generation: i64,
}

/// `($1, $2, $3), ($4, $5, $6)` for `rows` rows of `columns` parameters.
pub(super) fn placeholders(rows: usize, columns: usize) -> String {
    let row = |index: usize| {
        let names: Vec<String> = (1..=columns).map(|column| format!("${}", index * columns + column)).collect();
        format!("({})", names.join(", "))
    };
    (0..rows).map(row).collect::<Vec<_>>().join(", ")
}

impl Store {
    /// Records the batch's events; returns the `(cluster, event_id)` recorded now (the others
    /// were recorded before, by an earlier delivery).
    pub(super) async fn record_events(
        &self,
        tx: &mut Tx,
        batch: &[Delivery],
        now: DateTime<Utc>,
    ) -> Result<HashSet<(String, String)>> {
        let events: Vec<_> = batch
            .iter()
            .filter_map(|delivery| match delivery {
                Delivery::Event { event, role, source } => Some((event, role.to_string(), source.to_string())),
                Delivery::DeadLetter(_) => None,
            })
            .collect();
        let mut recorded = HashSet::new();
        for chunk in events.chunks(ROWS_PER_STATEMENT) {
            let sql = format!(
                "INSERT INTO events (event_id, cluster, role, payload, source, received_at) VALUES {} \
                 ON CONFLICT (cluster, event_id) DO NOTHING RETURNING cluster, event_id",
                placeholders(chunk.len(), 6)
            );
            let mut query = sqlx::query(&sql);
            for (event, role, source) in chunk {
                query = query
                    .bind(event.event_id.as_str())
                    .bind(event.cluster.as_str())
                    .bind(role)
                    .bind(to_json(event))
                    .bind(source)
                    .bind(millis(now));
            }
            for row in query.fetch_all(&mut **tx).await? {
                recorded.insert((row.try_get::<String, _>(0)?, row.try_get::<String, _>(1)?));
            }
        }
        Ok(recorded)
    }

    /// The rows of `keys`, created when new, locked in id order on PostgreSQL (so that two
    /// instances advancing overlapping pairs serialise and never deadlock).
    pub(super) async fn lock_pairs(
        &self,
        tx: &mut Tx,
        keys: &BTreeSet<PairKey>,
        now: DateTime<Utc>,
    ) -> Result<HashMap<PairKey, PairRow>> {
        let keys: Vec<&PairKey> = keys.iter().collect();
        let empty = to_json(&Pair::default());
        for chunk in keys.chunks(ROWS_PER_STATEMENT) {
            let sql = format!(
                "INSERT INTO pairs (table_name, partition_name, run_id, state, updated_at, generation) VALUES {} \
                 ON CONFLICT (table_name, partition_name, run_id) DO NOTHING",
                placeholders(chunk.len(), 6)
            );
            let mut query = sqlx::query(&sql);
            for key in chunk {
                query = query
                    .bind(&key.table)
                    .bind(&key.partition)
                    .bind(&key.run_id)
                    .bind(&empty)
                    .bind(millis(now))
                    .bind(0_i64);
            }
            query.execute(&mut **tx).await?;
        }
        let lock = if self.engine == Engine::Postgres { " FOR UPDATE" } else { "" };
        let mut rows = HashMap::with_capacity(keys.len());
        for chunk in keys.chunks(ROWS_PER_STATEMENT) {
            let sql = format!(
                "SELECT id, table_name, partition_name, run_id, state, generation FROM pairs \
                 WHERE (table_name, partition_name, run_id) IN (VALUES {}) ORDER BY id{lock}",
                placeholders(chunk.len(), 3)
            );
            let mut query = sqlx::query(&sql);
            for key in chunk {
                query = query.bind(&key.table).bind(&key.partition).bind(&key.run_id);
            }
            for row in query.fetch_all(&mut **tx).await? {
                let key = PairKey { table: row.try_get(1)?, partition: row.try_get(2)?, run_id: row.try_get(3)? };
                let state: String = row.try_get(4)?;
                let pair = from_json(&state, "pair state")?;
                rows.insert(key, PairRow { id: row.try_get(0)?, pair, generation: row.try_get(5)? });
            }
        }
        Ok(rows)
    }

    /// Writes back the state, generation and deadline of changed pairs.
    pub(super) async fn save_pairs(
        &self,
        tx: &mut Tx,
        rows: &[(&PairRow, Duration)],
        now: DateTime<Utc>,
    ) -> Result<()> {
        for chunk in rows.chunks(ROWS_PER_STATEMENT) {
            // VALUES columns are named column1, column2, ... by both engines.
            let sql = format!(
                "UPDATE pairs SET state = new.column2, generation = new.column3, deadline_at = new.column4, \
                 updated_at = new.column5 FROM (VALUES {}) AS new WHERE pairs.id = new.column1",
                placeholders(chunk.len(), 5)
            );
            let mut query = sqlx::query(&sql);
            for (row, wait) in chunk {
                query = query
                    .bind(row.id)
                    .bind(to_json(&row.pair))
                    .bind(row.generation)
                    .bind(row.pair.deadline(*wait).map(millis))
                    .bind(millis(now));
            }
            query.execute(&mut **tx).await?;
        }
        Ok(())
    }

    /// The registered deadlines of those `tables` that have one (the others wait the default).
    pub(super) async fn waits(&self, tx: &mut Tx, tables: &BTreeSet<&str>) -> Result<HashMap<String, Duration>> {
        let mut waits = HashMap::new();
        let tables: Vec<&&str> = tables.iter().collect();
        for chunk in tables.chunks(ROWS_PER_STATEMENT) {
            let names: Vec<String> = (1..=chunk.len()).map(|index| format!("${index}")).collect();
            let sql = format!("SELECT config FROM registered_tables WHERE name IN ({})", names.join(", "));
            let mut query = sqlx::query(&sql);
            for table in chunk {
                query = query.bind(**table);
            }
            for row in query.fetch_all(&mut **tx).await? {
                let table: TableConfig = from_json(&row.try_get::<String, _>(0)?, "table registration")?;
                if let Some(deadline) = table.deadline {
                    waits.insert(table.name, deadline);
                }
            }
        }
        Ok(waits)
    }
}
