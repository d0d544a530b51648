//! Reports to owners: routing new reports into the outbox, and delivering the outbox.
//!
//! Each table has a policy ([`NotifyPolicy`]) and a list of sinks (all of them by default).
//! A new report is routed once into one outbox row per sink its policy asks for; a daily-digest
//! row waits until the next `notifications.digest_time` after its day. The sender claims due
//! rows, renders each report (or each sink's day of digest rows) as one message, delivers it
//! and marks the rows sent; a failure is retried with backoff (`retry_backoff x 2^(n-1)`, at
//! most an hour) until `max_attempts`, then the rows are marked `failed` and counted.

pub mod message;
pub mod sinks;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use tokio::sync::watch;

use crate::config::{Config, NotifyPolicy, SinkKind, TableConfig};
use crate::store::{ClaimedNotification, NewNotification, Store, StoreError, StoredReport, Verdict};
use crate::telemetry::Telemetry;

/// Rows claimed per round.
const CLAIM: i64 = 200;
/// How long claimed rows are this sender's.
const LEASE: Duration = Duration::from_secs(120);

/// Routes and delivers until `shutdown` turns true.
pub async fn run(store: Store, config: Arc<Config>, telemetry: Arc<Telemetry>, mut shutdown: watch::Receiver<bool>) {
    let settings = &config.notifications;
    let client = match reqwest::Client::builder()
        .timeout(settings.timeout)
        .redirect(reqwest::redirect::Policy::none())
        .build()
    {
        Ok(client) => client,
        Err(error) => {
            tracing::error!(%error, "cannot build the HTTP client; no notifications are sent");
            return;
        }
    };
    while !*shutdown.borrow() {
        if let Err(error) = round(&store, &config, &telemetry, &client, Utc::now()).await {
            tracing::warn!(%error, "notification round failed; retrying");
        }
        tokio::select! {
            _ = shutdown.changed() => {}
            _ = tokio::time::sleep(settings.poll_interval) => {}
        }
    }
}

/// Outbox rows delivered as one message: a digest day (or none) and its rows.
type Group = (Option<String>, Vec<ClaimedNotification>);

/// One round at `now`: route new reports, then deliver what is due.
pub async fn round(
    store: &Store,
    config: &Config,
    telemetry: &Telemetry,
    client: &reqwest::Client,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    route(store, config, now).await?;
    let claimed = store.claim_notifications(now, LEASE, CLAIM).await?;
    // Single reports one by one; digest rows of one sink and day together.
    let mut groups: BTreeMap<(String, Option<String>, i64), Vec<ClaimedNotification>> = BTreeMap::new();
    for row in claimed {
        let single = if row.digest_day.is_some() { 0 } else { row.id };
        groups.entry((row.sink.clone(), row.digest_day.clone(), single)).or_default().push(row);
    }
    // Sinks concurrently, so that a slow or unreachable one delays no other; each sink's
    // messages in order.
    let mut sinks: BTreeMap<String, Vec<Group>> = BTreeMap::new();
    for ((sink, day, _), rows) in groups {
        sinks.entry(sink).or_default().push((day, rows));
    }
    let deliveries = sinks.into_iter().map(|(sink, groups)| async move {
        for (day, rows) in groups {
            deliver(store, config, telemetry, client, &sink, day.as_deref(), &rows, now).await?;
        }
        Ok::<(), StoreError>(())
    });
    futures::future::try_join_all(deliveries).await?;
    Ok(())
}

async fn route(store: &Store, config: &Config, now: DateTime<Utc>) -> Result<(), StoreError> {
    let reports = store.unrouted_reports(500).await?;
    if reports.is_empty() {
        return Ok(());
    }
    let mut tables: HashMap<String, TableConfig> = HashMap::new();
    let mut rows = Vec::new();
    for report in &reports {
        if !tables.contains_key(&report.table) {
            let table = store.table(&report.table).await?;
            let mut table =
                table.unwrap_or_else(|| TableConfig { name: report.table.clone(), ..TableConfig::default() });
            if table.owners.is_empty() {
                table.owners.extend(metastore_owner(config, &table.name).await);
            }
            tables.insert(report.table.clone(), table);
        }
        let table = &tables[&report.table];
        let problem = report.verdict != Verdict::Consistent;
        let (send, digest) = match table.notify {
            NotifyPolicy::Never => (false, false),
            NotifyPolicy::Always => (true, false),
            NotifyPolicy::Problems => (problem, false),
            NotifyPolicy::DailyDigest => (problem, true),
        };
        if !send {
            continue;
        }
        let (digest_day, not_before) = if digest {
            digest_slot(config, report.created_at).map_or((None, now), |(day, at)| (Some(day), at))
        } else {
            (None, now)
        };
        for sink in &config.notifications.sinks {
            if !table.sinks.is_empty() && !table.sinks.contains(&sink.name) {
                continue;
            }
            if sink.kind == SinkKind::Email && recipients(sink, table).is_empty() {
                tracing::warn!(table = %table.name, sink = %sink.name, "no owner is an e-mail address and the sink has no `to`; not e-mailed");
                continue;
            }
            rows.push(NewNotification {
                report_id: report.id,
                sink: sink.name.clone(),
                digest_day: digest_day.clone(),
                not_before,
            });
        }
    }
    let ids: Vec<i64> = reports.iter().map(|report| report.id).collect();
    store.route(&ids, &rows, now).await
}

/// A table as the registry has it (a default entry if it has none), with its owner in the
/// clusters' metastores where the registry names no owner.
async fn owned_table(store: &Store, config: &Config, name: &str) -> Result<TableConfig, StoreError> {
    let table = store.table(name).await?;
    let mut table = table.unwrap_or_else(|| TableConfig { name: name.to_owned(), ..TableConfig::default() });
    if table.owners.is_empty() {
        table.owners.extend(metastore_owner(config, name).await);
    }
    Ok(table)
}

/// A table's owner in the baseline's (else the candidate's) metastore: the default owner of a
/// table the registry names none for. A metastore that cannot tell is logged and passed over.
async fn metastore_owner(config: &Config, table: &str) -> Option<String> {
    let (db, name) = table.split_once('.').unwrap_or(("default", table));
    for role in [collector::Role::Baseline, collector::Role::Candidate] {
        let Some(metastore) = config.metastores.get(&config.cluster(role).name) else { continue };
        match metastore.table(db, name).await {
            Ok(found) if !found.owner.is_empty() => return Some(found.owner.clone()),
            Ok(_) => {}
            Err(error) => tracing::warn!(%table, %error, "cannot ask the metastore for the table's owner"),
        }
    }
    None
}

/// The day a report belongs to in the digest's time zone, and when that day's digest is sent.
fn digest_slot(config: &Config, created_at: DateTime<Utc>) -> Option<(String, DateTime<Utc>)> {
    let settings = &config.notifications;
    let zone = settings.timezone.zone();
    let time = settings.digest_time.time();
    let day = created_at.with_timezone(&zone).date_naive();
    let send_at = zone.from_local_datetime(&day.succ_opt()?.and_time(time)).earliest()?;
    Some((day.to_string(), send_at.with_timezone(&Utc)))
}

fn recipients(sink: &crate::config::SinkConfig, table: &TableConfig) -> Vec<String> {
    let mut recipients: Vec<String> = sink.to.clone();
    recipients.extend(table.owners.iter().filter(|owner| owner.contains('@')).cloned());
    recipients.sort();
    recipients.dedup();
    recipients
}

/// The link of each report in a message: its page, with a signature that opens it until
/// `notifications.signed_link_lifetime` from `now` when signed links are on.
async fn page_links(store: &Store, config: &Config, now: DateTime<Utc>) -> impl Fn(&StoredReport) -> String {
    let key = if config.notifications.signed_links {
        match crate::rest::ui::links::key(store).await {
            Ok(key) => Some(key),
            Err(error) => {
                tracing::warn!(%error, "cannot sign report links; they will need a session");
                None
            }
        }
    } else {
        None
    };
    let lifetime =
        chrono::Duration::from_std(config.notifications.signed_link_lifetime).unwrap_or(chrono::Duration::MAX);
    let expires = now.checked_add_signed(lifetime).unwrap_or(DateTime::<Utc>::MAX_UTC).timestamp();
    let public_url = config.public_url();
    move |report: &StoredReport| {
        let page = format!("{public_url}/reports/{}", report.id);
        match &key {
            Some(key) => format!("{page}?{}", crate::rest::ui::links::query(key, report.id, expires)),
            None => page,
        }
    }
}

#[expect(clippy::too_many_arguments, reason = "one delivery's whole context")]
async fn deliver(
    store: &Store,
    config: &Config,
    telemetry: &Telemetry,
    client: &reqwest::Client,
    sink_name: &str,
    day: Option<&str>,
    rows: &[ClaimedNotification],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let ids: Vec<i64> = rows.iter().map(|row| row.id).collect();
    let attempts = rows.iter().map(|row| row.attempts).max().unwrap_or(1);
    let Some(sink) = config.notifications.sinks.iter().find(|sink| sink.name == sink_name) else {
        return store
            .notifications_failed(&ids, &format!("the sink `{sink_name}` is no longer configured"), None)
            .await;
    };
    let mut reports = Vec::new();
    for row in rows {
        if let Some(report) = store.report(row.report_id).await? {
            reports.push(report);
        }
    }
    let link = page_links(store, config, now).await;
    let public_url = config.public_url();
    let mut recipients = Vec::new();
    for report in &reports {
        let table = owned_table(store, config, &report.table).await?;
        recipients.extend(self::recipients(sink, &table));
    }
    recipients.sort();
    recipients.dedup();
    let first = rows.iter().map(|row| row.report_id).min().unwrap_or_default();
    let (key, message, payload) = match (day, reports.as_slice()) {
        (None, [report]) => (
            format!("dqc-report-{}-{sink_name}", report.id),
            message::report(report, &link(report)),
            serde_json::json!({ "kind": "report", "report": summary(report, &link(report), &public_url) }),
        ),
        (day, reports) => {
            let day = day.unwrap_or_default();
            let linked: Vec<(StoredReport, String)> = reports.iter().map(|r| (r.clone(), link(r))).collect();
            let summaries: Vec<serde_json::Value> = linked.iter().map(|(r, l)| summary(r, l, &public_url)).collect();
            (
                format!("dqc-digest-{day}-{first}-{sink_name}"),
                message::digest(day, &linked),
                serde_json::json!({ "kind": "digest", "day": day, "reports": summaries }),
            )
        }
    };
    let delivery = sinks::Delivery { key, message, payload, recipients, sink };
    match sinks::send(client, &delivery).await {
        Ok(()) => {
            telemetry.notifications_sent.fetch_add(1, Ordering::Relaxed);
            tracing::info!(sink = sink_name, key = %delivery.key, "notification delivered");
            store.notifications_sent(&ids, now).await
        }
        Err(error) => {
            telemetry.notification_failures.fetch_add(1, Ordering::Relaxed);
            let settings = &config.notifications;
            let backoff = crate::config::backoff(settings.retry_backoff, attempts);
            let next = now + chrono::Duration::from_std(backoff).unwrap_or(chrono::Duration::hours(1));
            let queued = rows.iter().map(|row| row.created_at).min().unwrap_or(now);
            let horizon = queued + chrono::Duration::from_std(settings.retry_for).unwrap_or(chrono::Duration::days(1));
            let retry_at =
                (!error.is_permanent() && attempts < settings.max_attempts && next <= horizon).then_some(next);
            let error = crate::error::chain(&error);
            tracing::warn!(sink = sink_name, key = %delivery.key, attempt = attempts, %error, given_up = retry_at.is_none(), "notification failed");
            store.notifications_failed(&ids, &error, retry_at).await
        }
    }
}

/// A report in a webhook payload.
/// A report in a webhook's payload: `url` is the JSON API's address of the report (for
/// programs, with a token), `page` the page people open (signed when signed links are on).
fn summary(report: &StoredReport, page: &str, api: &str) -> serde_json::Value {
    serde_json::json!({
        "id": report.id,
        "table": report.table,
        "partition": report.partition,
        "run_id": report.run_id,
        "verdict": report.verdict,
        "reason": report.reason,
        "summary": report.report.get("summary"),
        "url": format!("{api}/api/v1/reports/{}", report.id),
        "page": page,
    })
}
