//! Reports and dead letters, as stored and as listed.
//!
//! A report row carries the verdict, the reason (for `divergent` and `error`) and the whole
//! report document (the verifier's JSON report, wrapped with the table, partition, run and
//! both sides). Reports are unique per job and per `(pair, generation)`.

use chrono::{DateTime, Utc};
use collector::PairKey;
use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Result, Store, from_json, from_millis, millis, to_json};
pub use verifier::Verdict;

/// A stored verdict; a value no release wrote (a hand-edited row) reads as `error`.
pub(crate) fn stored_verdict(text: &str) -> Verdict {
    text.parse().unwrap_or(Verdict::Error)
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
    /// Where its differing rows were exported (Parquet), if they were.
    pub export_path: Option<String>,
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
    /// Where its differing rows were exported (Parquet), if they were; not shown.
    #[serde(skip)]
    pub export_path: Option<String>,
}

/// A report as listed: everything but its document, with the document's `summary` (the counts),
/// which is stored apart from it.
#[derive(Debug, Clone, PartialEq)]
pub struct ListedReport {
    /// Its id.
    pub id: i64,
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
    /// The document's `summary`, when it has one.
    pub summary: Option<serde_json::Value>,
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
    /// Only this partition.
    pub partition: Option<String>,
    /// Only this run.
    pub run_id: Option<String>,
    /// At most this many (default 100).
    pub limit: Option<i64>,
    /// Skip this many, newest first.
    pub offset: Option<i64>,
}

/// A stored dead letter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
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
    /// When it was received.
    pub received_at: DateTime<Utc>,
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
        "INSERT INTO reports (pair_id, generation, job_id, table_name, partition_name, run_id, verdict, reason, report, created_at, export_path, evidence, summary) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) ON CONFLICT DO NOTHING",
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
    .bind(report.export_path.clone())
    .bind(i64::from(pair.is_some() && read_where_templates_say(&report.report)))
    .bind(report.report.get("summary").map(to_json))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// True unless a side of the report was read from a location an event or a request named (the
/// cluster's template and its metastore are the clusters' own word).
fn read_where_templates_say(document: &serde_json::Value) -> bool {
    ["baseline", "candidate"].iter().all(|side| {
        document[side]["location_source"].as_str().is_none_or(|source| matches!(source, "template" | "metastore"))
    })
}

const REPORT_COLUMNS: &str = "SELECT id, pair_id, generation, job_id, table_name, partition_name, run_id, verdict, reason, report, created_at, export_path FROM reports";
const REPORT_FILTER: &str = "($1 IS NULL OR table_name = $1) AND ($2 IS NULL OR verdict = $2) \
     AND ($3 IS NULL OR partition_name = $3) AND ($4 IS NULL OR run_id = $4)";

fn stored_report(row: &AnyRow) -> Result<StoredReport> {
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
        verdict: stored_verdict(&verdict),
        reason: row.try_get(8)?,
        report: from_json(&report, "report")?,
        created_at: from_millis(row.try_get(10)?),
        export_path: row.try_get(11)?,
    })
}

fn dead_letter(row: &AnyRow) -> Result<StoredDeadLetter> {
    let payload: Vec<u8> = row.try_get(4)?;
    Ok(StoredDeadLetter {
        id: row.try_get(0)?,
        topic: row.try_get(1)?,
        partition: row.try_get(2)?,
        offset: row.try_get(3)?,
        payload: String::from_utf8_lossy(&payload).into_owned(),
        reason: row.try_get(5)?,
        received_at: from_millis(row.try_get(6)?),
    })
}

const DEAD_LETTER_COLUMNS: &str =
    "SELECT id, topic, kafka_partition, kafka_offset, payload, reason, received_at FROM dead_letters";

fn listed_report(row: &AnyRow) -> Result<ListedReport> {
    let verdict: String = row.try_get(4)?;
    let summary: Option<String> = row.try_get(6)?;
    Ok(ListedReport {
        id: row.try_get(0)?,
        table: row.try_get(1)?,
        partition: row.try_get(2)?,
        run_id: row.try_get(3)?,
        verdict: stored_verdict(&verdict),
        reason: row.try_get(5)?,
        summary: summary.map(|text| from_json(&text, "report summary")).transpose()?,
        created_at: from_millis(row.try_get(7)?),
    })
}

impl Store {
    /// Reports, newest first, without their documents.
    pub async fn reports(&self, filter: &ReportFilter) -> Result<Vec<ListedReport>> {
        let sql = format!(
            "SELECT id, table_name, partition_name, run_id, verdict, reason, summary, created_at FROM reports \
             WHERE {REPORT_FILTER} ORDER BY id DESC LIMIT $5 OFFSET $6"
        );
        let rows = bind_filter(sqlx::query(&sql), filter)
            .bind(filter.limit.unwrap_or(100))
            .bind(filter.offset.unwrap_or(0))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(listed_report).collect()
    }

    /// How many reports `filter` selects, ignoring its limit and offset.
    pub async fn report_count(&self, filter: &ReportFilter) -> Result<i64> {
        let sql = format!("SELECT COUNT(*) FROM reports WHERE {REPORT_FILTER}");
        Ok(bind_filter(sqlx::query(&sql), filter).fetch_one(&self.pool).await?.try_get(0)?)
    }

    /// One report.
    pub async fn report(&self, id: i64) -> Result<Option<StoredReport>> {
        let sql = format!("{REPORT_COLUMNS} WHERE id = $1");
        let row = sqlx::query(&sql).bind(id).fetch_optional(&self.pool).await?;
        row.as_ref().map(stored_report).transpose()
    }

    /// Dead letters, oldest first.
    pub async fn dead_letters(&self) -> Result<Vec<StoredDeadLetter>> {
        self.dead_letters_page(i64::MAX, 0).await
    }

    /// A page of dead letters, oldest first.
    pub async fn dead_letters_page(&self, limit: i64, offset: i64) -> Result<Vec<StoredDeadLetter>> {
        let sql = format!("{DEAD_LETTER_COLUMNS} ORDER BY id LIMIT $1 OFFSET $2");
        let rows = sqlx::query(&sql).bind(limit).bind(offset).fetch_all(&self.pool).await?;
        rows.iter().map(dead_letter).collect()
    }

    /// One dead letter.
    pub async fn dead_letter(&self, id: i64) -> Result<Option<StoredDeadLetter>> {
        let sql = format!("{DEAD_LETTER_COLUMNS} WHERE id = $1");
        let row = sqlx::query(&sql).bind(id).fetch_optional(&self.pool).await?;
        row.as_ref().map(dead_letter).transpose()
    }

    /// Deletes a dead letter; false when there was none.
    pub async fn delete_dead_letter(&self, id: i64) -> Result<bool> {
        let done = sqlx::query("DELETE FROM dead_letters WHERE id = $1").bind(id).execute(&self.pool).await?;
        Ok(done.rows_affected() > 0)
    }

    /// How many events are recorded.
    pub async fn event_count(&self) -> Result<i64> {
        Ok(sqlx::query("SELECT COUNT(*) FROM events").fetch_one(&self.pool).await?.try_get(0)?)
    }
}

fn bind_filter<'q>(
    query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    filter: &ReportFilter,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    query
        .bind(filter.table.clone())
        .bind(filter.verdict.map(|verdict| verdict.as_str().to_owned()))
        .bind(filter.partition.clone())
        .bind(filter.run_id.clone())
}

/// What the overview page counts besides the gating model.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Activity {
    /// Diff jobs queued (waiting for a runner or a run window).
    pub queued: i64,
    /// Diff jobs running.
    pub running: i64,
    /// Dead letters kept.
    pub dead_letters: i64,
    /// Re-run warnings recorded.
    pub rerun_warnings: i64,
}

impl Store {
    /// The open problems: the latest report of each (table, partition, run) when it is not
    /// `consistent`, newest first, at most `limit`.
    pub async fn open_problems(&self, limit: i64) -> Result<Vec<ListedReport>> {
        let rows = sqlx::query(
            "SELECT r.id, r.table_name, r.partition_name, r.run_id, r.verdict, r.reason, r.summary, r.created_at \
             FROM reports r JOIN (SELECT MAX(id) AS id FROM reports GROUP BY table_name, partition_name, run_id) latest \
             ON latest.id = r.id WHERE r.verdict <> 'consistent' ORDER BY r.id DESC LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(listed_report).collect()
    }

    /// Queued and running jobs, dead letters and re-run warnings, in one query.
    pub async fn activity(&self) -> Result<Activity> {
        let row = sqlx::query(
            "SELECT (SELECT COUNT(*) FROM jobs WHERE state = 'queued'), (SELECT COUNT(*) FROM jobs WHERE state = 'running'), \
                    (SELECT COUNT(*) FROM dead_letters), (SELECT COUNT(*) FROM rerun_warnings)",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(Activity {
            queued: row.try_get(0)?,
            running: row.try_get(1)?,
            dead_letters: row.try_get(2)?,
            rerun_warnings: row.try_get(3)?,
        })
    }
}
