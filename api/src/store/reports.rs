//! Reports and dead letters, as stored and as listed.
//!
//! A report row carries the verdict, the reason (for `divergent` and `error`) and the whole
//! report document (the verifier's JSON report, wrapped with the table, partition, run and
//! both sides). Reports are unique per job and per `(pair, generation)`.

use chrono::{DateTime, Utc};
use collector::PairKey;
use serde::{Deserialize, Serialize};
use sqlx::Row;

use super::{Result, Store, from_json, from_millis, millis, to_json};

/// The verdict of a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Every row matches and the schemas agree.
    Consistent,
    /// The diff found differences.
    Inconsistent,
    /// The pair could not be diffed: a side failed or never came.
    Divergent,
    /// dqc could not tell (unreadable file, missing key column, ...).
    Error,
}

impl Verdict {
    /// The verdict as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Consistent => "consistent",
            Self::Inconsistent => "inconsistent",
            Self::Divergent => "divergent",
            Self::Error => "error",
        }
    }

    fn parse(text: &str) -> Self {
        match text {
            "consistent" => Self::Consistent,
            "inconsistent" => Self::Inconsistent,
            "divergent" => Self::Divergent,
            _ => Self::Error,
        }
    }
}

/// A report to be stored.
#[derive(Debug, Clone, PartialEq)]
pub struct NewReport {
    /// The verdict.
    pub verdict: Verdict,
    /// Why, for `divergent` and `error`.
    pub reason: Option<String>,
    /// The report document.
    pub report: serde_json::Value,
}

/// A stored report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredReport {
    /// Its id.
    pub id: i64,
    /// The pair and its generation, for automatic reports.
    pub pair: Option<(i64, i64)>,
    /// The job that produced it (none for `divergent`).
    pub job_id: Option<i64>,
    /// `db.table`.
    pub table: String,
    /// The partition name.
    pub partition: String,
    /// The run.
    pub run_id: String,
    /// The verdict.
    pub verdict: Verdict,
    /// Why, for `divergent` and `error`.
    pub reason: Option<String>,
    /// The report document.
    pub report: serde_json::Value,
    /// When it was written.
    pub created_at: DateTime<Utc>,
}

/// Which reports to list.
#[derive(Debug, Clone, Default)]
pub struct ReportFilter {
    /// Only this table.
    pub table: Option<String>,
    /// Only this verdict.
    pub verdict: Option<Verdict>,
    /// At most this many (default 100).
    pub limit: Option<i64>,
    /// Skip this many, newest first.
    pub offset: Option<i64>,
}

/// A stored dead letter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredDeadLetter {
    /// Its id.
    pub id: i64,
    /// The topic (or `http`).
    pub topic: String,
    /// The Kafka partition.
    pub partition: Option<i64>,
    /// The Kafka offset.
    pub offset: Option<i64>,
    /// The payload, as UTF-8 where it is.
    pub payload: String,
    /// Why it was refused.
    pub reason: String,
}

pub(super) async fn insert(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    pair: Option<(i64, i64)>,
    job: Option<i64>,
    key: &PairKey,
    report: &NewReport,
    now: DateTime<Utc>,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO reports (pair_id, generation, job_id, table_name, partition_name, run_id, verdict, reason, report, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT DO NOTHING",
    )
    .bind(pair.map(|(id, _)| id))
    .bind(pair.map(|(_, generation)| generation))
    .bind(job)
    .bind(&key.table)
    .bind(&key.partition)
    .bind(&key.run_id)
    .bind(report.verdict.as_str())
    .bind(report.reason.clone())
    .bind(to_json(&report.report))
    .bind(millis(now))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

impl Store {
    /// Reports, newest first.
    pub async fn reports(&self, filter: &ReportFilter) -> Result<Vec<StoredReport>> {
        let rows = sqlx::query(
            "SELECT id, pair_id, generation, job_id, table_name, partition_name, run_id, verdict, reason, report, created_at \
             FROM reports WHERE ($1 IS NULL OR table_name = $1) AND ($2 IS NULL OR verdict = $2) \
             ORDER BY id DESC LIMIT $3 OFFSET $4",
        )
        .bind(filter.table.clone())
        .bind(filter.verdict.map(|verdict| verdict.as_str().to_owned()))
        .bind(filter.limit.unwrap_or(100))
        .bind(filter.offset.unwrap_or(0))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let pair: Option<i64> = row.try_get(1)?;
                let generation: Option<i64> = row.try_get(2)?;
                let verdict: String = row.try_get(7)?;
                let report: String = row.try_get(9)?;
                Ok(StoredReport {
                    id: row.try_get(0)?,
                    pair: pair.zip(generation),
                    job_id: row.try_get(3)?,
                    table: row.try_get(4)?,
                    partition: row.try_get(5)?,
                    run_id: row.try_get(6)?,
                    verdict: Verdict::parse(&verdict),
                    reason: row.try_get(8)?,
                    report: from_json(&report, "report")?,
                    created_at: from_millis(row.try_get(10)?),
                })
            })
            .collect()
    }

    /// Dead letters, oldest first.
    pub async fn dead_letters(&self) -> Result<Vec<StoredDeadLetter>> {
        let rows = sqlx::query(
            "SELECT id, topic, kafka_partition, kafka_offset, payload, reason FROM dead_letters ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let payload: Vec<u8> = row.try_get(4)?;
                Ok(StoredDeadLetter {
                    id: row.try_get(0)?,
                    topic: row.try_get(1)?,
                    partition: row.try_get(2)?,
                    offset: row.try_get(3)?,
                    payload: String::from_utf8_lossy(&payload).into_owned(),
                    reason: row.try_get(5)?,
                })
            })
            .collect()
    }

    /// How many events are recorded.
    pub async fn event_count(&self) -> Result<i64> {
        Ok(sqlx::query("SELECT COUNT(*) FROM events").fetch_one(&self.pool).await?.try_get(0)?)
    }
}
