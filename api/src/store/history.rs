//! The verdict history of a table, for the gating rules' evidence (rule 4).

use std::collections::BTreeMap;

use sqlx::Row;

use super::{Result, Store, Verdict};

impl Store {
    /// Each run of `table` with its verdict, newest run first: a run's verdict is that of the
    /// latest report of each of its partitions, and `consistent` only when all of them are
    /// (else the first other verdict, by partition). Runs are ordered by when they were first
    /// reported. Reports without a run (on-demand diffs that named none) are left out.
    pub async fn verdict_history(&self, table: &str) -> Result<Vec<(String, Verdict)>> {
        let rows = sqlx::query(
            "SELECT r.run_id, r.partition_name, r.verdict, \
                    (SELECT MIN(y.id) FROM reports y WHERE y.table_name = r.table_name AND y.run_id = r.run_id) \
             FROM reports r \
             WHERE r.table_name = $1 AND r.run_id <> '' AND r.id = (SELECT MAX(x.id) FROM reports x \
               WHERE x.table_name = r.table_name AND x.partition_name = r.partition_name AND x.run_id = r.run_id) \
             ORDER BY r.run_id, r.partition_name",
        )
        .bind(table)
        .fetch_all(&self.pool)
        .await?;
        let mut runs: BTreeMap<String, (i64, Verdict)> = BTreeMap::new();
        for row in &rows {
            // The run's first report orders it.
            let (run, id): (String, i64) = (row.try_get(0)?, row.try_get(3)?);
            let verdict = Verdict::parse(&row.try_get::<String, _>(2)?);
            let entry = runs.entry(run).or_insert((id, Verdict::Consistent));
            if entry.1 == Verdict::Consistent {
                entry.1 = verdict;
            }
        }
        let mut history: Vec<(i64, String, Verdict)> =
            runs.into_iter().map(|(run, (id, verdict))| (id, run, verdict)).collect();
        history.sort_by_key(|(first, _, _)| std::cmp::Reverse(*first));
        Ok(history.into_iter().map(|(_, run, verdict)| (run, verdict)).collect())
    }
}
