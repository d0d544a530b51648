//! The verdict history of tables, for the gating rules' evidence (rule 4).

use std::collections::BTreeMap;

use sqlx::Row;

use super::{Result, Store, Verdict};
use crate::gating::History;

/// A table's runs as they are folded: run -> (its first report's id, partition -> the verdict
/// of its latest report).
type Runs = BTreeMap<String, (i64, BTreeMap<String, Verdict>)>;

impl Store {
    /// Each run of `table` with its verdict, newest run first: a run's verdict is that of the
    /// latest report of each of its partitions, and `consistent` only when all of them are
    /// (else the first other verdict, by partition). Runs are ordered by when they were first
    /// reported. Only evidence counts: reports of automatic diffs whose both sides were read
    /// where the clusters' templates say (not on-demand diffs, whatever run they name, nor
    /// diffs of locations that events named).
    pub async fn verdict_history(&self, table: &str) -> Result<History> {
        let mut histories = self.histories(Some(table)).await?;
        Ok(histories.remove(table).unwrap_or_default())
    }

    /// What the overview is computed from besides the gating model: the newest report's id and
    /// the newest registry change's id (two index lookups). While they and the model's version
    /// hold, a computed overview stands.
    pub async fn overview_inputs(&self) -> Result<(i64, i64)> {
        let row = sqlx::query(
            "SELECT (SELECT COALESCE(MAX(id), 0) FROM reports), (SELECT COALESCE(MAX(id), 0) FROM registry_changes)",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok((row.try_get(0)?, row.try_get(1)?))
    }

    /// [`Store::verdict_history`] of every table that has reports, in one pass over them.
    pub async fn verdict_histories(&self) -> Result<BTreeMap<String, History>> {
        self.histories(None).await
    }

    async fn histories(&self, table: Option<&str>) -> Result<BTreeMap<String, History>> {
        let columns =
            "SELECT table_name, run_id, partition_name, verdict, id FROM reports WHERE run_id <> '' AND evidence = 1";
        let rows = match table {
            // Through the index on the table's name.
            Some(table) => {
                let sql = format!("{columns} AND table_name = $1 ORDER BY id");
                sqlx::query(&sql).bind(table).fetch_all(&self.pool).await?
            }
            None => sqlx::query(&format!("{columns} ORDER BY id")).fetch_all(&self.pool).await?,
        };
        let mut tables: BTreeMap<String, Runs> = BTreeMap::new();
        for row in &rows {
            let verdict = super::reports::stored_verdict(&row.try_get::<String, _>(3)?);
            let run = tables
                .entry(row.try_get(0)?)
                .or_default()
                .entry(row.try_get(1)?)
                .or_insert((row.try_get(4)?, BTreeMap::new()));
            run.1.insert(row.try_get(2)?, verdict);
        }
        Ok(tables.into_iter().map(|(table, runs)| (table, fold(runs))).collect())
    }
}

fn fold(runs: Runs) -> History {
    let mut history: Vec<(i64, String, Verdict)> = runs
        .into_iter()
        .map(|(run, (first, partitions))| {
            let verdict = partitions.into_values().find(|v| *v != Verdict::Consistent).unwrap_or(Verdict::Consistent);
            (first, run, verdict)
        })
        .collect();
    history.sort_by_key(|(first, _, _)| std::cmp::Reverse(*first));
    history.into_iter().map(|(_, run, verdict)| (run, verdict)).collect()
}
