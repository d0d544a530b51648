//! The persistent job queue.
//!
//! A job is `queued`, then `running` under a lease (`lease_owner`, `lease_until`) that its
//! runner renews, then `done`; or `superseded` when a newer outcome of its pair replaced it
//! while it waited. A claim is a compare-and-set `UPDATE`: the row must still be claimable when
//! it is written, so two instances never hold the same job. A job whose lease ran out (its
//! instance died) is claimable again; at start an instance takes back its own running jobs at
//! once ([`Store::requeue_running`]). On-demand jobs are claimed before automatic ones.
//! Finishing a job writes its report in the same transaction, and only while the lease is
//! still held: a report exists once per job, and once per `(pair, generation)`.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::pairs::{ROWS_PER_STATEMENT, Tx, placeholders};
use super::reports::{self, NewReport};
use super::{Result, Store, from_json, millis, to_json};

/// Why a job exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobOrigin {
    /// A pair whose both sides succeeded.
    Automatic,
    /// Someone asked (REST, CLI); runs before automatic jobs and outside run windows.
    OnDemand,
}

impl JobOrigin {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Automatic => "automatic",
            Self::OnDemand => "on_demand",
        }
    }

    fn parse(text: &str) -> Self {
        if text == "on_demand" { Self::OnDemand } else { Self::Automatic }
    }
}

impl JobState {
    /// The state as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Done => "done",
            Self::Superseded => "superseded",
            Self::Cancelled => "cancelled",
        }
    }

    fn parse(text: &str) -> Self {
        match text {
            "running" => Self::Running,
            "done" => Self::Done,
            "superseded" => Self::Superseded,
            "cancelled" => Self::Cancelled,
            _ => Self::Queued,
        }
    }
}

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// Waiting for a runner (or for its retry time).
    Queued,
    /// Held by a runner.
    Running,
    /// Reported.
    Done,
    /// Replaced by a newer outcome of its pair before it ran.
    Superseded,
    /// Cancelled through the API; a running diff is abandoned at its next heartbeat.
    Cancelled,
}

/// What a job compares.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobSpec {
    /// `db.table`.
    pub table: String,
    /// The partition name (`dt=2024-05-01`).
    pub partition: String,
    /// The run, for automatic jobs.
    pub run_id: Option<String>,
    /// The baseline side.
    pub baseline: SideSpec,
    /// The candidate side.
    pub candidate: SideSpec,
}

/// One side of a job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SideSpec {
    /// The cluster.
    pub cluster: String,
    /// An explicit location; else resolved from the cluster's template.
    pub location: Option<String>,
    /// The partition path in the producer's column order.
    pub partition_path: String,
    /// The event that reported this side.
    pub event_id: Option<String>,
    /// The attempt that produced it.
    pub attempt: Option<u32>,
}

/// A job as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JobStatus {
    /// The job's id.
    pub id: i64,
    /// `db.table`.
    pub table: String,
    /// The partition name.
    pub partition: String,
    /// Why it exists.
    pub origin: JobOrigin,
    /// Where it is in its life.
    pub state: JobState,
    /// Claims so far.
    pub attempts: u32,
    /// The last failure, when it was retried.
    pub last_error: Option<String>,
    /// The report, once done.
    pub report_id: Option<i64>,
    /// When it was queued.
    pub created_at: DateTime<Utc>,
}

/// A job held by this instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedJob {
    /// The job's id.
    pub id: i64,
    /// Its pair and the pair's generation, for automatic jobs.
    pub pair: Option<(i64, i64)>,
    /// Why it exists.
    pub origin: JobOrigin,
    /// What it compares.
    pub spec: JobSpec,
    /// Claims so far, this one included.
    pub attempts: u32,
}

/// A job to queue.
#[derive(Debug, Clone)]
pub(super) struct NewJob {
    /// Its pair and the pair's generation, for automatic jobs.
    pub(super) pair: Option<(i64, i64)>,
    /// Why it exists.
    pub(super) origin: JobOrigin,
    /// What it compares.
    pub(super) spec: JobSpec,
}

/// Queues jobs, many rows per statement; returns their ids in order.
pub(super) async fn insert(tx: &mut Tx, jobs: &[NewJob], now: DateTime<Utc>) -> Result<Vec<i64>> {
    let mut ids = Vec::with_capacity(jobs.len());
    for chunk in jobs.chunks(ROWS_PER_STATEMENT) {
        let sql = format!(
            "INSERT INTO jobs (pair_id, generation, origin, table_name, spec, state, attempts, not_before, created_at, updated_at) \
             VALUES {} RETURNING id",
            placeholders(chunk.len(), 10)
        );
        let mut query = sqlx::query(&sql);
        for job in chunk {
            query = query
                .bind(job.pair.map(|(id, _)| id))
                .bind(job.pair.map(|(_, generation)| generation))
                .bind(job.origin.as_str())
                .bind(&job.spec.table)
                .bind(to_json(&job.spec))
                .bind("queued")
                .bind(0_i64)
                .bind(millis(now))
                .bind(millis(now))
                .bind(millis(now));
        }
        for row in query.fetch_all(&mut **tx).await? {
            ids.push(row.try_get(0)?);
        }
    }
    Ok(ids)
}

impl Store {
    /// Queues an on-demand job; returns its id.
    pub async fn enqueue(&self, spec: &JobSpec, now: DateTime<Utc>) -> Result<i64> {
        let mut tx = self.pool.begin().await?;
        let job = NewJob { pair: None, origin: JobOrigin::OnDemand, spec: spec.clone() };
        let ids = insert(&mut tx, &[job], now).await?;
        tx.commit().await?;
        ids.first().copied().ok_or_else(|| sqlx::Error::RowNotFound.into())
    }

    /// Claims the next runnable job for `instance`: on-demand first, then automatic ones when
    /// `automatic` (the run window is open); oldest first.
    pub async fn claim(
        &self,
        instance: &str,
        now: DateTime<Utc>,
        lease: Duration,
        automatic: bool,
    ) -> Result<Option<ClaimedJob>> {
        let claimable = "((state = 'queued' AND not_before <= $3) OR (state = 'running' AND lease_until < $3))";
        let sql = format!(
            "UPDATE jobs SET state = 'running', lease_owner = $1, lease_until = $2, attempts = attempts + 1, updated_at = $3 \
             WHERE id = (SELECT id FROM jobs WHERE {claimable} AND ($4 = 1 OR origin = 'on_demand') \
                         ORDER BY CASE origin WHEN 'on_demand' THEN 0 ELSE 1 END, not_before, id LIMIT 1) \
               AND {claimable} \
             RETURNING id, pair_id, generation, origin, spec, attempts"
        );
        let row = sqlx::query(&sql)
            .bind(instance)
            .bind(millis(now) + lease_millis(lease))
            .bind(millis(now))
            .bind(i64::from(automatic))
            .fetch_optional(&self.pool)
            .await?;
        row.map(claimed).transpose()
    }

    /// Renews a lease; false when the job is no longer this instance's.
    pub async fn heartbeat(&self, job: i64, instance: &str, now: DateTime<Utc>, lease: Duration) -> Result<bool> {
        let done =
            sqlx::query("UPDATE jobs SET lease_until = $1 WHERE id = $2 AND lease_owner = $3 AND state = 'running'")
                .bind(millis(now) + lease_millis(lease))
                .bind(job)
                .bind(instance)
                .execute(&self.pool)
                .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Finishes a job with its report; false (and nothing written) when the lease was lost.
    pub async fn finish(
        &self,
        job: &ClaimedJob,
        instance: &str,
        report: &NewReport,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(
            "UPDATE jobs SET state = 'done', lease_owner = NULL, lease_until = NULL, updated_at = $1 \
             WHERE id = $2 AND lease_owner = $3 AND state = 'running'",
        )
        .bind(millis(now))
        .bind(job.id)
        .bind(instance)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        let key = collector::PairKey {
            table: job.spec.table.clone(),
            partition: job.spec.partition.clone(),
            run_id: job.spec.run_id.clone().unwrap_or_default(),
        };
        reports::insert(&mut tx, job.pair, Some(job.id), &key, report, now).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Puts a failed job back in the queue until `not_before`; false when the lease was lost.
    pub async fn retry(
        &self,
        job: &ClaimedJob,
        instance: &str,
        error: &str,
        not_before: DateTime<Utc>,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE jobs SET state = 'queued', lease_owner = NULL, lease_until = NULL, last_error = $1, not_before = $2, \
             updated_at = $2 WHERE id = $3 AND lease_owner = $4 AND state = 'running'",
        )
        .bind(error)
        .bind(millis(not_before))
        .bind(job.id)
        .bind(instance)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// The instances that hold running jobs.
    pub async fn running_owners(&self) -> Result<Vec<String>> {
        let rows =
            sqlx::query("SELECT DISTINCT lease_owner FROM jobs WHERE state = 'running' AND lease_owner IS NOT NULL")
                .fetch_all(&self.pool)
                .await?;
        Ok(rows.iter().filter_map(|row| row.try_get::<String, _>(0).ok()).collect())
    }

    /// Re-queues the running jobs leased by `instance` (a process that is known to be gone).
    pub async fn requeue_running(&self, instance: &str) -> Result<u64> {
        let done = sqlx::query(
            "UPDATE jobs SET state = 'queued', lease_owner = NULL, lease_until = NULL \
             WHERE state = 'running' AND lease_owner = $1",
        )
        .bind(instance)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    /// Jobs, oldest first; only `table`'s when given.
    pub async fn jobs(&self, table: Option<&str>) -> Result<Vec<JobStatus>> {
        let sql = format!("{JOB_STATUS} WHERE ($1 IS NULL OR jobs.table_name = $1) ORDER BY jobs.id");
        let rows = sqlx::query(&sql).bind(table.map(str::to_owned)).fetch_all(&self.pool).await?;
        rows.iter().map(job_status).collect()
    }

    /// The jobs queued or running (only those in `state` when given), oldest first, at most
    /// `limit`.
    pub async fn active_jobs(&self, state: Option<JobState>, limit: i64) -> Result<Vec<JobStatus>> {
        let sql = format!(
            "{JOB_STATUS} WHERE jobs.state IN ('queued', 'running') AND ($1 IS NULL OR jobs.state = $1) \
             ORDER BY jobs.id LIMIT $2"
        );
        let rows =
            sqlx::query(&sql).bind(state.map(|s| s.as_str().to_owned())).bind(limit).fetch_all(&self.pool).await?;
        rows.iter().map(job_status).collect()
    }

    /// One job.
    pub async fn job(&self, id: i64) -> Result<Option<JobStatus>> {
        let sql = format!("{JOB_STATUS} WHERE jobs.id = $1");
        let row = sqlx::query(&sql).bind(id).fetch_optional(&self.pool).await?;
        row.as_ref().map(job_status).transpose()
    }

    /// Cancels a queued or running job; false when it had already ended (or does not exist).
    pub async fn cancel(&self, id: i64, now: DateTime<Utc>) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE jobs SET state = 'cancelled', lease_owner = NULL, lease_until = NULL, updated_at = $1 \
             WHERE id = $2 AND state IN ('queued', 'running')",
        )
        .bind(millis(now))
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }
}

const JOB_STATUS: &str = "SELECT jobs.id, jobs.table_name, jobs.spec, jobs.origin, jobs.state, jobs.attempts, jobs.last_error, \
     reports.id, jobs.created_at FROM jobs LEFT JOIN reports ON reports.job_id = jobs.id";

fn job_status(row: &AnyRow) -> Result<JobStatus> {
    let spec: String = row.try_get(2)?;
    let spec: JobSpec = from_json(&spec, "job spec")?;
    let origin: String = row.try_get(3)?;
    let state: String = row.try_get(4)?;
    let attempts: i64 = row.try_get(5)?;
    Ok(JobStatus {
        id: row.try_get(0)?,
        table: row.try_get(1)?,
        partition: spec.partition,
        origin: JobOrigin::parse(&origin),
        state: JobState::parse(&state),
        attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
        last_error: row.try_get(6)?,
        report_id: row.try_get(7)?,
        created_at: super::from_millis(row.try_get(8)?),
    })
}

pub(super) fn lease_millis(lease: Duration) -> i64 {
    i64::try_from(lease.as_millis()).unwrap_or(i64::MAX / 2)
}

fn claimed(row: AnyRow) -> Result<ClaimedJob> {
    let pair_id: Option<i64> = row.try_get(1)?;
    let generation: Option<i64> = row.try_get(2)?;
    let origin: String = row.try_get(3)?;
    let spec: String = row.try_get(4)?;
    let attempts: i64 = row.try_get(5)?;
    Ok(ClaimedJob {
        id: row.try_get(0)?,
        pair: pair_id.zip(generation),
        origin: JobOrigin::parse(&origin),
        spec: from_json(&spec, "job spec")?,
        attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
    })
}
