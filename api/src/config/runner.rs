//! The job runner: how many diffs at once, their memory, when automatic ones may start, and how
//! failures are retried.

use std::time::Duration;

use serde::Deserialize;

use super::{ByteSize, Config, RunWindows, duration};

/// The job runner.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunnerConfig {
    /// Most diffs at once in this process.
    #[serde(default = "default_concurrency")]
    pub max_concurrent: usize,
    /// Memory limit of each diff (`4GiB`), typed at load; none: half the machine's memory
    /// shared by `max_concurrent` diffs ([`Config::memory_limit`]).
    #[serde(default)]
    pub memory_limit: Option<ByteSize>,
    /// When automatic jobs may run; on-demand jobs run at any time.
    #[serde(default)]
    pub windows: RunWindows,
    /// Attempts of a job before its report says `error`.
    #[serde(default = "default_attempts")]
    pub max_attempts: u32,
    /// Wait before the first retry; doubled at each further attempt, up to an hour.
    #[serde(default = "default_backoff", deserialize_with = "duration::deserialize")]
    pub retry_backoff: Duration,
    /// How long a claimed job stays this instance's without a heartbeat.
    #[serde(default = "default_lease", deserialize_with = "duration::deserialize")]
    pub lease: Duration,
    /// This instance's name in job leases; its own running jobs are run again at start.
    #[serde(default = "default_instance")]
    pub instance: String,
    /// How often the runner looks for work when nothing wakes it.
    #[serde(default = "default_poll", deserialize_with = "duration::deserialize")]
    pub poll_interval: Duration,
    /// Where each diff writes its differing rows (Parquet, one file per job), which the API
    /// serves page by page; none: rows are not exported, reports keep their samples only.
    #[serde(default)]
    pub export_dir: Option<std::path::PathBuf>,
    /// An inventory's partitions worked on at once, and its footer reads in flight per store.
    #[serde(default = "default_inventory_concurrency")]
    pub inventory_concurrency: usize,
}

impl Default for RunnerConfig {
    fn default() -> Self {
        Self {
            max_concurrent: default_concurrency(),
            memory_limit: None,
            windows: RunWindows::default(),
            max_attempts: default_attempts(),
            retry_backoff: default_backoff(),
            lease: default_lease(),
            instance: default_instance(),
            poll_interval: default_poll(),
            export_dir: None,
            inventory_concurrency: default_inventory_concurrency(),
        }
    }
}

fn default_concurrency() -> usize {
    2
}
fn default_inventory_concurrency() -> usize {
    16
}
fn default_attempts() -> u32 {
    5
}
fn default_backoff() -> Duration {
    Duration::from_secs(30)
}
fn default_lease() -> Duration {
    Duration::from_secs(300)
}
/// `host:pid`: unique among running instances, and recognisable on this host after a crash.
fn default_instance() -> String {
    format!("{}:{}", host_name(), std::process::id())
}

/// This machine's host name (Linux's `/proc/sys/kernel/hostname`, else `$HOSTNAME`, else `dqc`).
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "dqc".to_owned())
}

/// The machine's memory in bytes (`MemTotal` of `/proc/meminfo`), if known.
fn machine_memory() -> Option<usize> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|line| line.starts_with("MemTotal:"))?;
    let kib: usize = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}
fn default_poll() -> Duration {
    Duration::from_secs(1)
}

impl Config {
    /// Each diff's memory limit in bytes: `runner.memory_limit`, else half the machine's memory
    /// (4 GiB when unknown) shared by `runner.max_concurrent` diffs.
    pub fn memory_limit(&self) -> usize {
        self.runner.memory_limit.map(ByteSize::bytes).unwrap_or_else(|| {
            let machine = machine_memory().unwrap_or(8 << 30);
            (machine / 2 / self.runner.max_concurrent.max(1)).max(64 << 20)
        })
    }
}

/// `[cluster]`: the Ballista cluster of `dqc-scheduler` and `dqc-executor` processes that runs
/// the diffs of large tables (not to be confused with `[[clusters]]`, the warehouses compared).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiffClusterConfig {
    /// The scheduler, `df://HOST:PORT`; none: every diff runs in this process.
    #[serde(default)]
    pub url: Option<String>,
    /// Diffs whose larger side has at least this many rows (in its footers) go to the cluster.
    #[serde(default = "default_cluster_rows")]
    pub above_rows: u64,
    /// Scan tasks per side: about the executors' task slots in all.
    #[serde(default = "default_cluster_partitions")]
    pub partitions: usize,
    /// Longest wait for a cluster job's result, or its next batch, before the diff fails (and
    /// falls back, with `fallback = "local"`).
    #[serde(default = "default_cluster_timeout", deserialize_with = "duration::deserialize")]
    pub job_timeout: Duration,
    /// What a diff above `above_rows` does when there is no cluster or it does not run the
    /// diff: `local` (run it in this process) or `fail` (its report says `error`, with why).
    #[serde(default)]
    pub fallback: Fallback,
}

/// See [`DiffClusterConfig::fallback`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fallback {
    /// Run the diff in this process.
    #[default]
    Local,
    /// Fail the diff.
    Fail,
}

impl Default for DiffClusterConfig {
    fn default() -> Self {
        Self {
            url: None,
            above_rows: default_cluster_rows(),
            partitions: default_cluster_partitions(),
            job_timeout: default_cluster_timeout(),
            fallback: Fallback::default(),
        }
    }
}

fn default_cluster_rows() -> u64 {
    200_000_000
}
fn default_cluster_partitions() -> usize {
    8
}
fn default_cluster_timeout() -> Duration {
    ::cluster::DEFAULT_JOB_TIMEOUT
}

impl DiffClusterConfig {
    /// The cluster of `url`, if one is configured (checked at load).
    pub fn cluster(&self) -> verifier::Result<Option<::cluster::Cluster>> {
        self.url
            .as_deref()
            .map(|url| Ok(::cluster::Cluster::new(url, self.partitions)?.with_job_timeout(self.job_timeout)))
            .transpose()
    }

    /// Where a diff whose larger side has `rows` rows runs.
    pub fn route<'a>(&self, cluster: Option<&'a ::cluster::Cluster>, rows: u64) -> verifier::Route<'a> {
        if rows < self.above_rows {
            return verifier::Route::Local;
        }
        match (cluster, self.fallback) {
            (Some(passes), fallback) => verifier::Route::Remote { passes, fall_back: fallback == Fallback::Local },
            (None, Fallback::Local) => verifier::Route::Local,
            (None, Fallback::Fail) => verifier::Route::Refused(format!(
                "the table has {rows} rows, at least cluster.above_rows ({}), and no cluster is configured \
                 (cluster.url) while cluster.fallback is `fail`",
                self.above_rows
            )),
        }
    }
}
