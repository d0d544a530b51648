//! What this process knows about itself that the store does not: the progress of the diffs it
//! runs, rows diffed, notification failures, and whether its consumer runs. Shared by the
//! runner, the notifier and the API (`GET /diffs/{id}`, `/metrics`, `/readyz`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use serde::Serialize;

/// Intake store failures in a row at which the process is not ready.
pub const INTAKE_FAILURES_UNREADY: u64 = 5;

/// The process's counters and the progress of its running diffs.
#[derive(Debug, Default)]
pub struct Telemetry {
    /// Rows decoded by diffs in this process, both sides and both passes.
    pub rows_diffed: AtomicU64,
    /// Notification deliveries that failed.
    pub notification_failures: AtomicU64,
    /// Notifications delivered.
    pub notifications_sent: AtomicU64,
    /// Whether the Kafka consumer is running (true when none is configured).
    pub consumer_running: AtomicBool,
    /// Store failures of the event intake in a row (reset by a batch that is stored); at
    /// [`INTAKE_FAILURES_UNREADY`] `/readyz` fails.
    pub intake_failures_in_a_row: AtomicU64,
    /// Store failures of the event intake since start.
    pub intake_failures: AtomicU64,
    /// Events recorded for the first time (Kafka and HTTP).
    pub events_accepted: AtomicU64,
    /// Events delivered again.
    pub events_duplicate: AtomicU64,
    /// Payloads refused as dead letters.
    pub events_dead_letter: AtomicU64,
    progress: Mutex<HashMap<i64, Arc<JobProgress>>>,
}

/// The progress of one running diff.
#[derive(Debug, Default)]
pub struct JobProgress {
    pass: Mutex<Option<verifier::Pass>>,
    rows: AtomicU64,
    total_rows: AtomicU64,
    telemetry: std::sync::Weak<Telemetry>,
}

/// The progress of a diff as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ProgressView {
    /// `fingerprint` (pass 1) or `diff` (pass 2); none before the first pass starts.
    pub pass: Option<String>,
    /// Rows read in this pass, both sides.
    pub rows: u64,
    /// Rows this pass will read (from the files' footers).
    pub total_rows: u64,
}

impl Telemetry {
    /// Counts what an intake batch did.
    pub fn count(&self, accepted: &collector::store::Accepted) {
        let add = |counter: &AtomicU64, count: usize| {
            counter.fetch_add(u64::try_from(count).unwrap_or(u64::MAX), Ordering::Relaxed);
        };
        add(&self.events_accepted, accepted.events);
        add(&self.events_duplicate, accepted.duplicates);
        add(&self.events_dead_letter, accepted.dead_letters);
    }

    /// Starts tracking a job's progress.
    pub fn track(self: &Arc<Self>, job: i64) -> Arc<JobProgress> {
        let progress = Arc::new(JobProgress { telemetry: Arc::downgrade(self), ..JobProgress::default() });
        self.lock().insert(job, Arc::clone(&progress));
        progress
    }

    /// Stops tracking a job.
    pub fn untrack(&self, job: i64) {
        self.lock().remove(&job);
    }

    /// A running job's progress, if it runs in this process.
    pub fn progress(&self, job: i64) -> Option<ProgressView> {
        let progress = self.lock().get(&job).cloned()?;
        let pass = *progress.pass.lock().unwrap_or_else(PoisonError::into_inner);
        Some(ProgressView {
            pass: pass.map(|pass| pass.to_string()),
            rows: progress.rows.load(Ordering::Relaxed),
            total_rows: progress.total_rows.load(Ordering::Relaxed),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<i64, Arc<JobProgress>>> {
        self.progress.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl verifier::Progress for JobProgress {
    fn start_pass(&self, pass: verifier::Pass, total_rows: u64) {
        *self.pass.lock().unwrap_or_else(PoisonError::into_inner) = Some(pass);
        self.rows.store(0, Ordering::Relaxed);
        self.total_rows.store(total_rows, Ordering::Relaxed);
    }

    fn add_rows(&self, rows: u64) {
        self.rows.fetch_add(rows, Ordering::Relaxed);
        if let Some(telemetry) = self.telemetry.upgrade() {
            telemetry.rows_diffed.fetch_add(rows, Ordering::Relaxed);
        }
    }
}

/// The store as the Kafka consumer sees it: every accepted batch is counted.
#[derive(Debug, Clone)]
pub struct CountingStore {
    /// The store.
    pub store: crate::store::Store,
    /// Where batches are counted.
    pub telemetry: Arc<Telemetry>,
}

impl collector::store::PairingStore for CountingStore {
    async fn accept(&self, batch: &[collector::store::Delivery]) -> collector::Result<collector::store::Accepted> {
        let accepted = self.store.accept_at(batch, chrono::Utc::now()).await;
        let failures = &self.telemetry.intake_failures_in_a_row;
        match accepted {
            Ok(accepted) => {
                failures.store(0, Ordering::Relaxed);
                self.telemetry.count(&accepted);
                Ok(accepted)
            }
            Err(error) => {
                failures.fetch_add(1, Ordering::Relaxed);
                self.telemetry.intake_failures.fetch_add(1, Ordering::Relaxed);
                Err(error.into_intake())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use verifier::Progress as _;

    use super::*;

    #[test]
    fn a_tracked_diff_shows_its_pass_and_rows_and_counts_them_for_the_process() {
        let telemetry = Arc::new(Telemetry::default());
        assert_eq!(telemetry.progress(7), None, "not running here");
        let progress = telemetry.track(7);
        assert_eq!(telemetry.progress(7), Some(ProgressView { pass: None, rows: 0, total_rows: 0 }));
        progress.start_pass(verifier::Pass::Fingerprint, 1_000);
        progress.add_rows(600);
        progress.add_rows(400);
        progress.start_pass(verifier::Pass::Diff, 50);
        progress.add_rows(20);
        assert_eq!(telemetry.progress(7), Some(ProgressView { pass: Some("diff".into()), rows: 20, total_rows: 50 }));
        assert_eq!(telemetry.rows_diffed.load(Ordering::Relaxed), 1_020, "both passes");
        telemetry.untrack(7);
        assert_eq!(telemetry.progress(7), None);
    }
}
