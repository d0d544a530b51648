//! The notifications outbox: one row per report and sink, sent once.
//!
//! A new report is *routed* once: its outbox rows are inserted and the report marked routed in
//! one transaction, and the rows are unique per `(report, sink)`, so two instances routing the
//! same report insert each row once. A sender claims due rows under a lease (a dead sender's
//! rows are claimed again when it runs out), delivers them, and marks them sent; a failed
//! delivery is retried with backoff until the attempts run out, then marked `failed`. A crash
//! between a delivery and its `sent` mark delivers it again with the same idempotency key.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::Row;

use super::{Result, Store, from_millis, millis};

/// A report not routed yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnroutedReport {
    /// Its id.
    pub id: i64,
    /// `db.table`.
    pub table: String,
    /// Its verdict.
    pub verdict: super::Verdict,
    /// When it was written.
    pub created_at: DateTime<Utc>,
}

/// An outbox row to insert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewNotification {
    /// The report.
    pub report_id: i64,
    /// The sink's name.
    pub sink: String,
    /// For daily digests, the day (`2024-05-01`) it belongs to.
    pub digest_day: Option<String>,
    /// Not sent before (a digest's sending time).
    pub not_before: DateTime<Utc>,
}

/// A claimed outbox row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedNotification {
    /// Its id.
    pub id: i64,
    /// The report.
    pub report_id: i64,
    /// The sink's name.
    pub sink: String,
    /// For daily digests, the day.
    pub digest_day: Option<String>,
    /// Deliveries so far, this one included.
    pub attempts: u32,
    /// When it was queued (its retry horizon counts from then).
    pub created_at: DateTime<Utc>,
}

/// An outbox row as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct NotificationStatus {
    /// Its id (`POST /notifications/{id}/resend` sends a given-up one again).
    pub id: i64,
    /// The sink's name.
    pub sink: String,
    /// `pending`, `sending`, `sent` or `failed`.
    pub state: String,
    /// Deliveries tried.
    pub attempts: u32,
    /// The last failure.
    pub last_error: Option<String>,
    /// When it was delivered.
    pub sent_at: Option<DateTime<Utc>>,
}

impl Store {
    /// Reports not routed yet, oldest first.
    pub async fn unrouted_reports(&self, limit: i64) -> Result<Vec<UnroutedReport>> {
        let rows = sqlx::query(
            "SELECT id, table_name, verdict, created_at FROM reports WHERE routed = 0 ORDER BY id LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let verdict: String = row.try_get(2)?;
                Ok(UnroutedReport {
                    id: row.try_get(0)?,
                    table: row.try_get(1)?,
                    verdict: super::reports::stored_verdict(&verdict),
                    created_at: from_millis(row.try_get(3)?),
                })
            })
            .collect()
    }

    /// Inserts the outbox rows of `reports` and marks them routed, in one transaction.
    pub async fn route(&self, reports: &[i64], rows: &[NewNotification], now: DateTime<Utc>) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        for row in rows {
            sqlx::query(
                "INSERT INTO notifications (report_id, sink, digest_day, state, attempts, not_before, created_at) \
                 VALUES ($1, $2, $3, 'pending', 0, $4, $5) ON CONFLICT DO NOTHING",
            )
            .bind(row.report_id)
            .bind(&row.sink)
            .bind(row.digest_day.clone())
            .bind(millis(row.not_before))
            .bind(millis(now))
            .execute(&mut *tx)
            .await?;
        }
        for id in reports {
            sqlx::query("UPDATE reports SET routed = 1 WHERE id = $1").bind(*id).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Claims up to `limit` due outbox rows for `lease`.
    pub async fn claim_notifications(
        &self,
        now: DateTime<Utc>,
        lease: Duration,
        limit: i64,
    ) -> Result<Vec<ClaimedNotification>> {
        let due = "((state = 'pending' AND not_before <= $2) OR (state = 'sending' AND lease_until < $2))";
        let sql = format!(
            "UPDATE notifications SET state = 'sending', lease_until = $1, attempts = attempts + 1 \
             WHERE id IN (SELECT id FROM notifications WHERE {due} ORDER BY id LIMIT $3) AND {due} \
             RETURNING id, report_id, sink, digest_day, attempts, created_at"
        );
        let lease = i64::try_from(lease.as_millis()).unwrap_or(i64::MAX / 2);
        let rows =
            sqlx::query(&sql).bind(millis(now) + lease).bind(millis(now)).bind(limit).fetch_all(&self.pool).await?;
        let mut claimed = rows
            .iter()
            .map(|row| {
                let attempts: i64 = row.try_get(4)?;
                Ok(ClaimedNotification {
                    id: row.try_get(0)?,
                    report_id: row.try_get(1)?,
                    sink: row.try_get(2)?,
                    digest_day: row.try_get(3)?,
                    attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
                    created_at: from_millis(row.try_get(5)?),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        claimed.sort_by_key(|row| row.id);
        Ok(claimed)
    }

    /// Marks outbox rows delivered.
    pub async fn notifications_sent(&self, ids: &[i64], now: DateTime<Utc>) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        for id in ids {
            sqlx::query("UPDATE notifications SET state = 'sent', lease_until = NULL, sent_at = $1, last_error = NULL WHERE id = $2")
                .bind(millis(now))
                .bind(*id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Records a failed delivery: retried at `retry_at`, or given up (`failed`) without one.
    pub async fn notifications_failed(&self, ids: &[i64], error: &str, retry_at: Option<DateTime<Utc>>) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        for id in ids {
            sqlx::query(
                "UPDATE notifications SET state = $1, lease_until = NULL, last_error = $2, not_before = COALESCE($3, not_before) \
                 WHERE id = $4",
            )
            .bind(if retry_at.is_some() { "pending" } else { "failed" })
            .bind(error)
            .bind(retry_at.map(millis))
            .bind(*id)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Queues a given-up notification again, as new; `None` when there is no such row, `false`
    /// when it was not given up.
    pub async fn resend_notification(&self, id: i64, now: DateTime<Utc>) -> Result<Option<bool>> {
        let done = sqlx::query(
            "UPDATE notifications SET state = 'pending', attempts = 0, not_before = $1, created_at = $1, lease_until = NULL \
             WHERE id = $2 AND state = 'failed'",
        )
        .bind(millis(now))
        .bind(id)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() > 0 {
            return Ok(Some(true));
        }
        let exists =
            sqlx::query("SELECT 1 FROM notifications WHERE id = $1").bind(id).fetch_optional(&self.pool).await?;
        Ok(exists.map(|_| false))
    }

    /// A report's outbox rows, by sink.
    pub async fn notifications(&self, report_id: i64) -> Result<Vec<NotificationStatus>> {
        let rows = sqlx::query(
            "SELECT sink, state, attempts, last_error, sent_at, id FROM notifications WHERE report_id = $1 ORDER BY sink",
        )
        .bind(report_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let attempts: i64 = row.try_get(2)?;
                let sent_at: Option<i64> = row.try_get(4)?;
                Ok(NotificationStatus {
                    id: row.try_get(5)?,
                    sink: row.try_get(0)?,
                    state: row.try_get(1)?,
                    attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
                    last_error: row.try_get(3)?,
                    sent_at: sent_at.map(from_millis),
                })
            })
            .collect()
    }

    /// Counts for `/metrics`: open pairs, jobs by state, notifications, dead letters. Each is an
    /// indexed or small count; the events table, which grows without bound, is not counted.
    pub async fn stats(&self) -> Result<Stats> {
        let row = sqlx::query(
            "SELECT (SELECT COUNT(*) FROM pairs WHERE deadline_at IS NOT NULL), \
                    (SELECT COUNT(*) FROM jobs WHERE state = 'queued'), (SELECT COUNT(*) FROM jobs WHERE state = 'running'), \
                    (SELECT COUNT(*) FROM notifications WHERE state = 'failed'), \
                    (SELECT COUNT(*) FROM notifications WHERE state IN ('pending', 'sending')), \
                    (SELECT COUNT(*) FROM dead_letters)",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(Stats {
            open_pairs: row.try_get(0)?,
            jobs_queued: row.try_get(1)?,
            jobs_running: row.try_get(2)?,
            notifications_failed: row.try_get(3)?,
            notifications_pending: row.try_get(4)?,
            dead_letters: row.try_get(5)?,
        })
    }

    /// True when the store answers a query.
    pub async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").fetch_one(&self.pool).await.is_ok()
    }
}

/// Counts for `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Pairs waiting for their other side.
    pub open_pairs: i64,
    /// Jobs queued.
    pub jobs_queued: i64,
    /// Jobs running.
    pub jobs_running: i64,
    /// Notifications given up.
    pub notifications_failed: i64,
    /// Notifications not delivered yet.
    pub notifications_pending: i64,
    /// Dead letters kept.
    pub dead_letters: i64,
}
