//! The `[retention]` section: how long events, reports (with their exports), finished jobs and
//! dead letters are kept. Unset: kept for ever.

use std::time::Duration;

use serde::Deserialize;

use super::duration;

/// How long each kind of record is kept, by age.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionConfig {
    /// Events (the raw intake record; pairs keep their own state). At least the pairing
    /// deadline, so that an open pair's events stay.
    #[serde(default, with = "duration::option")]
    pub events: Option<Duration>,
    /// Reports, their notifications and their exported rows; the reports of each table's
    /// newest runs that gating evidence reads are kept whatever their age.
    #[serde(default, with = "duration::option")]
    pub reports: Option<Duration>,
    /// Finished jobs (done, superseded, cancelled) and finished inventories (done, failed,
    /// cancelled) with their partitions; queued and running ones are kept.
    #[serde(default, with = "duration::option")]
    pub jobs: Option<Duration>,
    /// Dead letters.
    #[serde(default, with = "duration::option")]
    pub dead_letters: Option<Duration>,
    /// How often the pruning runs.
    #[serde(default = "default_interval", deserialize_with = "duration::deserialize")]
    pub interval: Duration,
}

fn default_interval() -> Duration {
    Duration::from_secs(3600)
}

impl Default for RetentionConfig {
    fn default() -> Self {
        Self { events: None, reports: None, jobs: None, dead_letters: None, interval: default_interval() }
    }
}
