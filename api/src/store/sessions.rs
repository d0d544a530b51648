//! Web sessions: opened on the sign-in page with a token, looked up by the digest of the id the
//! browser holds, ended by signing out, by their expiry, or after a while unused.

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::{Result, Store, from_millis, millis};

/// An open session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The name of the token it was opened with.
    pub token_name: String,
    /// When it was opened.
    pub created_at: DateTime<Utc>,
    /// When it ends at the latest.
    pub expires_at: DateTime<Utc>,
}

impl Store {
    /// Opens a session: `digest` is the SHA-256 of its id. Sessions past their expiry go.
    pub async fn open_session(
        &self,
        digest: &str,
        token_name: &str,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<()> {
        sqlx::query("DELETE FROM sessions WHERE expires_at < $1").bind(millis(now)).execute(&self.pool).await?;
        sqlx::query(
            "INSERT INTO sessions (digest, token_name, created_at, last_seen, expires_at) VALUES ($1, $2, $3, $3, $4)",
        )
        .bind(digest)
        .bind(token_name)
        .bind(millis(now))
        .bind(millis(expires_at))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The open session of `digest`: `None` when there is none, or it expired, or it was last
    /// used longer than `idle` ago. Its last use becomes `now` (written at most once a minute).
    pub async fn session(&self, digest: &str, now: DateTime<Utc>, idle: chrono::Duration) -> Result<Option<Session>> {
        let row = sqlx::query("SELECT token_name, created_at, last_seen, expires_at FROM sessions WHERE digest = $1")
            .bind(digest)
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let last_seen = from_millis(row.try_get(2)?);
        let session = Session {
            token_name: row.try_get(0)?,
            created_at: from_millis(row.try_get(1)?),
            expires_at: from_millis(row.try_get(3)?),
        };
        if session.expires_at <= now || last_seen + idle <= now {
            self.close_session(digest).await?;
            return Ok(None);
        }
        if now - last_seen > chrono::Duration::minutes(1) {
            sqlx::query("UPDATE sessions SET last_seen = $1 WHERE digest = $2")
                .bind(millis(now))
                .bind(digest)
                .execute(&self.pool)
                .await?;
        }
        Ok(Some(session))
    }

    /// Ends a session.
    pub async fn close_session(&self, digest: &str) -> Result<()> {
        sqlx::query("DELETE FROM sessions WHERE digest = $1").bind(digest).execute(&self.pool).await?;
        Ok(())
    }
}

impl Store {
    /// The secret named `name`: made from `fresh` the first time it is asked for, then kept (the
    /// first instance to store it wins; the others read it).
    pub async fn secret(&self, name: &str, fresh: &str) -> Result<String> {
        sqlx::query("INSERT INTO secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING")
            .bind(name)
            .bind(fresh)
            .execute(&self.pool)
            .await?;
        let row = sqlx::query("SELECT value FROM secrets WHERE name = $1").bind(name).fetch_one(&self.pool).await?;
        Ok(row.try_get(0)?)
    }
}
