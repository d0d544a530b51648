//! The crash test: `dqc serve` is killed with SIGKILL at random points while events flow, then
//! started again; in the end every pair is diffed and reported exactly once.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::collector_e2e::config_text;
use crate::support::{Broker, clusters, event, job_counts, wait_until, write_table};
use api::store::{JobState, ReportFilter, Store, Verdict};

const TABLES: usize = 12;
const KILLS: usize = 5;

/// A small deterministic generator (xorshift), seeded from the clock and printed, so that a
/// failing schedule can be replayed with `DQC_CRASH_SEED`.
struct Random(u64);

impl Random {
    fn next(&mut self, bound: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % bound
    }
}

/// A `dqc serve` process, killed with SIGKILL when dropped (also when the test fails).
struct Service(Child);

impl Service {
    fn start(config: &Path) -> Self {
        let child = Command::new(env!("CARGO_BIN_EXE_dqc"))
            .args(["serve", "--config"])
            .arg(config)
            .env("RUST_LOG", std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()))
            .stdout(Stdio::null())
            .spawn()
            .expect("dqc starts");
        Self(child)
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn table(index: usize) -> String {
    format!("dw.t{index:02}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_and_restarted_it_reports_every_pair_exactly_once() {
    let seed = std::env::var("DQC_CRASH_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64 | 1
    });
    eprintln!("crash test seed: DQC_CRASH_SEED={seed}");
    let mut random = Random(seed);
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("data");
    let run = "2024-05-01";
    for index in 0..TABLES {
        let name = format!("t{index:02}");
        write_table(&root, "idc-hadoop", &name, run, 20_000, 0);
        write_table(&root, "cloud-emr", &name, run, 20_000, (index % 3) as i64);
    }
    let broker = Broker::start(2).await;
    let database = dir.path().join("dqc.db");
    let config = dir.path().join("dqc.toml");
    std::fs::write(&config, config_text(&root, &broker, &database)).unwrap();

    let payloads: Vec<String> = (0..TABLES)
        .flat_map(|index| {
            let table = table(index);
            [
                event(&format!("b{index}"), "idc-hadoop", &table, run, 1, "succeeded"),
                event(&format!("c{index}"), "cloud-emr", &table, run, 1, "succeeded"),
            ]
        })
        .collect();
    // Each run of the service gets new events and the previous run's again (duplicates).
    let slices: Vec<&[String]> = payloads.chunks(payloads.len().div_ceil(KILLS)).collect();
    let store =
        Store::open(&format!("sqlite://{}", database.display()), clusters(), Duration::from_secs(3600)).await.unwrap();
    let filter = ReportFilter { limit: Some(1_000), ..ReportFilter::default() };
    let progress = || async { (store.event_count().await.unwrap(), store.reports(&filter).await.unwrap().len()) };
    for (round, slice) in slices.iter().enumerate() {
        let before = progress().await;
        let service = Service::start(&config);
        broker.produce(slice).await;
        if round > 0 {
            broker.produce(slices[round - 1]).await;
        }
        // Kill it while it works: once it has made something durable, a random moment later.
        // (A new consumer gets partitions once the killed one's 6 s session has expired.)
        wait_until("the service to make progress", Duration::from_secs(60), || async { progress().await != before })
            .await;
        tokio::time::sleep(Duration::from_millis(random.next(400))).await;
        drop(service);
        let (events, reports) = progress().await;
        eprintln!("killed with {events} events and {reports} reports durable");
    }

    let service = Service::start(&config);
    broker.produce(slices[slices.len() - 1]).await;
    wait_until("a report for every pair", Duration::from_secs(120), || async {
        store.reports(&filter).await.unwrap().len() >= TABLES
    })
    .await;
    // Give a duplicate, if there were to be one, the time to appear.
    tokio::time::sleep(Duration::from_secs(2)).await;
    drop(service);

    let reports = store.reports(&filter).await.unwrap();
    let mut per_table: BTreeMap<String, Vec<Verdict>> = BTreeMap::new();
    for report in &reports {
        per_table.entry(report.table.clone()).or_default().push(report.verdict);
    }
    let expected: BTreeMap<String, Vec<Verdict>> = (0..TABLES)
        .map(|index| {
            let verdict = if index % 3 == 0 { Verdict::Consistent } else { Verdict::Inconsistent };
            (table(index), vec![verdict])
        })
        .collect();
    assert_eq!(per_table, expected, "seed {seed}");
    assert_eq!(store.event_count().await.unwrap(), 2 * TABLES as i64, "seed {seed}");
    assert_eq!(job_counts(&store).await, vec![(JobState::Done, TABLES)], "seed {seed}");
}

/// A diff that kills the process (as the kernel's out-of-memory killer would) is claimed again
/// at each restart; after `max_attempts` claims that never reported, the job ends as `error`
/// instead of killing the service forever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_that_kills_the_process_ends_as_error_after_max_attempts() {
    const MAX_ATTEMPTS: u32 = 2;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("data");
    let run = "2024-05-01";
    // Large enough that its diff is still running when the test sees it claimed.
    write_table(&root, "idc-hadoop", "same", run, 400_000, 0);
    write_table(&root, "cloud-emr", "same", run, 400_000, 0);
    let broker = Broker::start(1).await;
    let database = dir.path().join("dqc.db");
    let config = dir.path().join("dqc.toml");
    let text =
        config_text(&root, &broker, &database).replace("max_attempts = 6", &format!("max_attempts = {MAX_ATTEMPTS}"));
    std::fs::write(&config, text).unwrap();
    broker
        .produce(&[
            event("b", "idc-hadoop", "dw.same", run, 1, "succeeded"),
            event("c", "cloud-emr", "dw.same", run, 1, "succeeded"),
        ])
        .await;
    let store =
        Store::open(&format!("sqlite://{}", database.display()), clusters(), Duration::from_secs(3600)).await.unwrap();
    for attempt in 1..=MAX_ATTEMPTS {
        let service = Service::start(&config);
        wait_until(&format!("claim {attempt} of the diff"), Duration::from_secs(60), || async {
            store
                .jobs(None)
                .await
                .unwrap_or_default()
                .iter()
                .any(|job| job.state == JobState::Running && job.attempts == attempt)
        })
        .await;
        drop(service); // SIGKILL, mid-diff
        assert!(store.reports(&ReportFilter::default()).await.unwrap().is_empty(), "killed before it reported");
    }
    let service = Service::start(&config);
    wait_until("the job to be given up", Duration::from_secs(60), || async {
        !store.reports(&ReportFilter::default()).await.unwrap().is_empty()
    })
    .await;
    drop(service);
    let reports = store.reports(&ReportFilter::default()).await.unwrap();
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].verdict, Verdict::Error);
    assert_eq!(reports[0].reason.as_deref(), Some("gave up after 2 attempts; the last run did not finish"));
    let jobs = store.jobs(None).await.unwrap();
    assert_eq!((jobs[0].state, jobs[0].attempts), (JobState::Done, MAX_ATTEMPTS + 1));
}
