//! `/reports/{id}`: the page a notification links to, in reading order on a phone: the verdict,
//! the counts with a bar in which no non-zero part disappears, the columns that differ (worst
//! first, the differing middle of strings marked, numbers with their delta), the changed rows
//! side by side with the equal cells folded, the rows on one side only, the schema findings,
//! and what was compared.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::{Visitor, login_redirect, message, render, stylesheet_path};
use crate::config::AccessRole;
use crate::rest::AppState;
use crate::store::{ReportFilter, StoredReport};

/// Samples shown per column (the report keeps up to its `sample` setting; the rest are in the
/// JSON report): a phone gets pages of tens of kilobytes, not megabytes, for the widest tables.
const COLUMN_SAMPLES: usize = 5;
/// Differing cells shown per changed row; the others are counted.
const ROW_CELLS: usize = 12;

/// Reports of the same table and partition shown as its history.
const HISTORY: i64 = 30;

/// A square of the history: a report, oldest first, the current one marked.
#[derive(Debug)]
struct Mark {
    id: i64,
    verdict: &'static str,
    x: usize,
    current: bool,
    title: String,
}

fn history_marks(history: &[crate::store::ListedReport], current: i64) -> Vec<Mark> {
    history
        .iter()
        .rev()
        .enumerate()
        .map(|(index, report)| Mark {
            id: report.id,
            verdict: report.verdict.as_str(),
            x: index * 12,
            current: report.id == current,
            title: format!("report {}: run {}, {}", report.id, report.run_id, report.verdict.as_str()),
        })
        .collect()
}

/// A signed link's query.
#[derive(Debug, Default, serde::Deserialize)]
pub(super) struct LinkQuery {
    pub(super) exp: Option<i64>,
    pub(super) sig: Option<String>,
}

/// Who may read report `id`: a signed-in or anonymous visitor, or anyone with a valid signed
/// link to it (then the link's query, to carry to the report's other pages); else the answer
/// to give instead (the sign-in page, or why the link does not open it).
pub(super) async fn report_visitor(
    state: &AppState,
    id: i64,
    link: LinkQuery,
    uri: &Uri,
    headers: &HeaderMap,
) -> Result<(Visitor, Option<String>), Response> {
    let visitor = state.visitor(headers).await.map_err(IntoResponse::into_response)?;
    match (visitor, link.exp, link.sig) {
        (Some(visitor), _, _) => Ok((visitor, None)),
        (None, Some(expires), Some(signature)) => {
            let key = super::links::key(state.store())
                .await
                .map_err(|error| crate::rest::ApiError::internal(error.as_ref()).into_response())?;
            if let Err(reason) = super::links::check(&key, id, expires, &signature, chrono::Utc::now().timestamp()) {
                tracing::info!(report = id, reason, "a signed link refused");
                return Err(message(StatusCode::FORBIDDEN, "This link does not open the report", reason));
            }
            tracing::info!(report = id, "a report opened through a signed link");
            let visitor = Visitor { name: "link".into(), role: AccessRole::Viewer, session: false };
            Ok((visitor, Some(format!("exp={expires}&sig={signature}"))))
        }
        (None, _, _) => Err(login_redirect(uri.path_and_query().map_or("/", |p| p.as_str()))),
    }
}

/// Report `id`, or the answer when there is none.
pub(super) async fn load_report(state: &AppState, id: i64) -> Result<StoredReport, Response> {
    match state.store().report(id).await {
        Ok(Some(report)) => Ok(report),
        Ok(None) => Err(message(StatusCode::NOT_FOUND, "No such report", &format!("There is no report {id}."))),
        Err(error) => Err(crate::rest::ApiError::from(error).into_response()),
    }
}

pub(super) async fn page(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Query(link): Query<LinkQuery>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let (visitor, link) = match report_visitor(&state, id, link, &uri, &headers).await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let report = match load_report(&state, id).await {
        Ok(report) => report,
        Err(answer) => return answer,
    };
    let filter = ReportFilter {
        table: Some(report.table.clone()),
        partition: Some(report.partition.clone()),
        run_id: Some(report.run_id.clone()),
        limit: Some(1),
        ..ReportFilter::default()
    };
    // The table's partition's last reports (any run), newest first; and the notifications.
    let history_filter = ReportFilter { run_id: None, limit: Some(HISTORY), ..filter.clone() };
    let store = state.store();
    let found = tokio::try_join!(store.reports(&filter), store.reports(&history_filter), store.notifications(id));
    let (latest, history, notifications) = match found {
        Ok(found) => found,
        Err(error) => return crate::rest::ApiError::from(error).into_response(),
    };
    let impact = match super::impact::impact(&state, &report.table, &report.run_id).await {
        Ok(impact) => impact,
        Err(error) => return error.into_response(),
    };
    let newer = latest.into_iter().next().filter(|newest| newest.id > id).map(|n| (n.id, n.verdict.as_str()));
    let mut page = ReportPage::new(&report, newer, &visitor);
    page.history = history_marks(&history, id);
    page.impact = impact;
    page.notifications = notifications
        .into_iter()
        .map(|n| {
            let when = n.sent_at.map(|at| at.format(" %Y-%m-%d %H:%M UTC").to_string()).unwrap_or_default();
            let error = n.last_error.map(|e| format!(": {e}")).unwrap_or_default();
            format!("{}: {}{when} ({} attempts){error}", n.sink, n.state, n.attempts)
        })
        .collect();
    let with_link = |path: String| super::with_query(&path, link.as_deref().unwrap_or_default());
    page.rows_link = report.export_path.is_some().then(|| with_link(format!("/reports/{id}/rows")));
    page.export_link = report.export_path.is_some().then(|| with_link(format!("/reports/{id}/export.parquet")));
    render(StatusCode::OK, &page)
}

/// The HTML of a report's page as a signed-in viewer sees it (for benchmarks: what rendering
/// costs, without the store).
pub fn render_page(report: &StoredReport) -> Result<String, askama::Error> {
    let visitor = Visitor { name: "viewer".into(), role: AccessRole::Viewer, session: true };
    ReportPage::new(report, None, &visitor).render()
}

/// The page.
#[derive(Debug, Template)]
#[template(path = "report.html")]
pub(crate) struct ReportPage {
    stylesheet: &'static str,
    visitor: Visitor,
    id: i64,
    verdict: String,
    table: String,
    partition: String,
    run_id: String,
    created_at: String,
    elapsed_ms: Option<u64>,
    /// A newer report of the same table, partition and run: (id, verdict).
    newer: Option<(i64, &'static str)>,
    reason: Option<String>,
    note: Option<String>,
    counts: Vec<Count>,
    bar: Vec<Segment>,
    match_share: Option<String>,
    other_counts: Vec<(String, u64)>,
    columns: Vec<ColumnCard>,
    equal_columns: usize,
    changed: Vec<ChangedRow>,
    only_in: Vec<(String, Vec<String>)>,
    schema: Vec<String>,
    sides: Vec<SideView>,
    key: String,
    /// `keyed`, or `multiset` (whole rows compared).
    mode: String,
    /// The differing rows' page, when they were exported.
    rows_link: Option<String>,
    /// Whether the visitor may diff the partition again.
    diff_again: bool,
    /// The table's partition's last reports.
    history: Vec<Mark>,
    /// The notifications of this report, as sentences.
    notifications: Vec<String>,
    /// What the table means for the migration, when the DAG has a task writing it.
    impact: Option<super::impact::Impact>,
    /// The export's download, when the rows were exported.
    export_link: Option<String>,
    /// What an inventory found of the table, when the report is an inventory's.
    inventory: Option<InventoryFinding>,
}

/// An inventory's report of one table: its page, and the first partitions not equal.
#[derive(Debug)]
struct InventoryFinding {
    id: i64,
    link: String,
    /// (partition, verdict, reason).
    partitions: Vec<(String, String, String)>,
}

impl InventoryFinding {
    fn of(document: &Value) -> Option<Self> {
        if document["kind"].as_str() != Some("inventory") {
            return None;
        }
        let id = document["inventory_id"].as_i64()?;
        let table = document["inventory_table"].as_str().unwrap_or_default();
        let partitions = document["partitions"]
            .as_array()
            .map(|partitions| {
                partitions
                    .iter()
                    .map(|p| {
                        let field = |name: &str| p[name].as_str().unwrap_or_default().to_owned();
                        (field("partition"), field("verdict"), field("reason"))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let link = format!("/inventories/{id}/tables?name={}", super::path_segment(table));
        Some(Self { id, link, partitions })
    }
}

/// A count of the summary.
#[derive(Debug)]
pub(super) struct Count {
    pub(super) label: &'static str,
    pub(super) class: &'static str,
    pub(super) value: u64,
}

/// A part of the summary bar: where it starts and how wide it is, in percent.
#[derive(Debug)]
pub(super) struct Segment {
    pub(super) class: &'static str,
    pub(super) x: String,
    pub(super) width: String,
    pub(super) title: String,
}

#[derive(Debug)]
struct ColumnCard {
    index: usize,
    name: String,
    candidate_name: Option<String>,
    baseline_type: String,
    candidate_type: String,
    mismatches: u64,
    share: String,
    width: String,
    samples: Vec<ValuePair>,
}

/// A differing value: the key, and both values split where they differ.
#[derive(Debug)]
pub(super) struct ValuePair {
    pub(super) key: String,
    pub(super) baseline: Marked,
    pub(super) candidate: Marked,
    pub(super) delta: Option<String>,
}

/// A value with its differing middle apart: `before`, `middle` (marked), `after`.
#[derive(Debug, Default)]
pub(super) struct Marked {
    pub(super) before: String,
    pub(super) middle: String,
    pub(super) after: String,
}

#[derive(Debug)]
struct ChangedRow {
    key: String,
    cells: Vec<(String, ValuePair)>,
    /// Differing cells not shown.
    more: usize,
    /// Equal cells.
    folded: usize,
}

#[derive(Debug)]
struct SideView {
    side: &'static str,
    uri: String,
    rows: String,
    files: String,
    cluster: String,
}

/// A value as people read it: strings bare, the rest as JSON.
pub(super) fn text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Null => "NULL".into(),
        other => other.to_string(),
    }
}

/// `k=v, k=v` of a row or key object.
fn row_text(row: &Value, limit: usize) -> String {
    let Some(object) = row.as_object() else { return text(row) };
    let mut parts: Vec<String> = object.iter().take(limit).map(|(k, v)| format!("{k}={}", text(v))).collect();
    if object.len() > limit {
        parts.push(format!("… {} more", object.len() - limit));
    }
    parts.join(", ")
}

/// Both values with their common beginning and end apart, and a delta for numbers.
pub(super) fn pair(key: String, baseline: &Value, candidate: &Value) -> ValuePair {
    let (b, c) = (text(baseline), text(candidate));
    let prefix = b.chars().zip(c.chars()).take_while(|(x, y)| x == y).count();
    let (b_rest, c_rest): (Vec<char>, Vec<char>) = (b.chars().skip(prefix).collect(), c.chars().skip(prefix).collect());
    let suffix = b_rest.iter().rev().zip(c_rest.iter().rev()).take_while(|(x, y)| x == y).count();
    let split = |whole: &str, rest: &[char]| Marked {
        before: whole.chars().take(prefix).collect(),
        middle: rest[..rest.len() - suffix].iter().collect(),
        after: rest[rest.len() - suffix..].iter().collect(),
    };
    let number = |value: &Value| value.as_f64().or_else(|| value.as_str().and_then(|s| s.parse::<f64>().ok()));
    let delta = match (number(baseline), number(candidate)) {
        (Some(x), Some(y)) if baseline.is_number() || candidate.is_number() || x != y => {
            let relative = if x == 0.0 { String::new() } else { format!(" ({:+.2}%)", (y - x) / x.abs() * 100.0) };
            Some(format!("{:+}{relative}", y - x))
        }
        _ => None,
    };
    ValuePair { key, baseline: split(&b, &b_rest), candidate: split(&c, &c_rest), delta }
}

fn u64_at(document: &Value, path: &[&str]) -> u64 {
    path.iter().fold(document, |value, key| &value[*key]).as_u64().unwrap_or(0)
}

/// `part` of `whole` in percent, never rounded to 0% or 100% when it is not.
fn percent(part: u64, whole: u64) -> String {
    let share = if whole == 0 { 0.0 } else { part as f64 * 100.0 / whole as f64 };
    match share {
        _ if part == 0 || part >= whole => format!("{share:.0}%"),
        share if share < 0.01 => "<0.01%".to_owned(),
        share if share > 99.99 => ">99.99%".to_owned(),
        share => format!("{share:.2}%"),
    }
}

/// The bar's segments: each non-zero count at least 3% wide, so that none disappears.
pub(super) fn segments(counts: &[Count]) -> Vec<Segment> {
    let shown: Vec<&Count> = counts.iter().filter(|count| count.value > 0).collect();
    let total: u64 = shown.iter().map(|count| count.value).sum();
    if total == 0 {
        return Vec::new();
    }
    let least = 3.0_f64;
    let spare = 100.0 - least * shown.len() as f64;
    let mut x = 0.0;
    shown
        .iter()
        .map(|count| {
            let width = least + spare.max(0.0) * count.value as f64 / total as f64;
            let segment = Segment {
                class: count.class,
                x: format!("{x:.2}"),
                width: format!("{width:.2}"),
                title: format!("{}: {}", count.label, count.value),
            };
            x += width;
            segment
        })
        .collect()
}

impl ReportPage {
    fn new(report: &StoredReport, newer: Option<(i64, &'static str)>, visitor: &Visitor) -> Self {
        let document = &report.report;
        let summary = |name: &str| u64_at(document, &["summary", name]);
        let counts = vec![
            Count { label: "matched", class: "matched", value: summary("matched") },
            Count { label: "changed", class: "changed", value: summary("changed") },
            Count { label: "only in baseline", class: "baseline", value: summary("only_in_baseline") },
            Count { label: "only in candidate", class: "candidate", value: summary("only_in_candidate") },
        ];
        let other_counts = [
            ("duplicate keys in the baseline", "duplicate_keys_baseline"),
            ("duplicate keys in the candidate", "duplicate_keys_candidate"),
            ("NULL keys in the baseline", "null_keys_baseline"),
            ("NULL keys in the candidate", "null_keys_candidate"),
        ]
        .into_iter()
        .map(|(label, name)| (label.to_owned(), summary(name)))
        .filter(|(_, value)| *value > 0)
        .collect();
        let rows = u64_at(document, &["baseline", "rows"]).max(u64_at(document, &["candidate", "rows"]));
        let compared = summary("matched") + summary("changed");
        let columns = column_cards(document, compared);
        let equal_columns = document["columns"].as_array().map_or(0, Vec::len).saturating_sub(columns.len());
        Self {
            stylesheet: stylesheet_path(),
            visitor: visitor.clone(),
            id: report.id,
            verdict: report.verdict.as_str().to_owned(),
            table: report.table.clone(),
            partition: report.partition.clone(),
            run_id: report.run_id.clone(),
            created_at: report.created_at.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
            elapsed_ms: document["elapsed_ms"].as_u64(),
            newer,
            reason: report.reason.clone(),
            note: document["note"].as_str().map(str::to_owned),
            bar: segments(&counts),
            match_share: (rows > 0).then(|| percent(summary("matched"), rows)),
            counts,
            other_counts,
            columns,
            equal_columns,
            changed: changed_rows(document),
            only_in: only_in(document),
            schema: schema_findings(&document["schema"]),
            sides: ["baseline", "candidate"]
                .into_iter()
                .map(|side| SideView {
                    side,
                    uri: text(&document[side]["uri"]),
                    rows: text(&document[side]["rows"]),
                    files: text(&document[side]["files"]),
                    cluster: document[side]["cluster"].as_str().unwrap_or("").to_owned(),
                })
                .collect(),
            key: document["key"]
                .as_array()
                .map(|k| k.iter().map(text).collect::<Vec<_>>().join(", "))
                .unwrap_or_default(),
            mode: document["mode"].as_str().unwrap_or_default().to_owned(),
            rows_link: None,
            diff_again: visitor.role >= AccessRole::Operator
                && visitor.session
                && document["kind"].as_str() != Some("inventory"),
            history: Vec::new(),
            notifications: Vec::new(),
            impact: None,
            export_link: None,
            inventory: InventoryFinding::of(document),
        }
    }
}

/// The columns with mismatches, worst first.
fn column_cards(document: &Value, compared: u64) -> Vec<ColumnCard> {
    let mut cards: Vec<ColumnCard> = document["columns"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
        .filter(|(_, column)| column["mismatches"].as_u64().unwrap_or(0) > 0)
        .map(|(index, column)| {
            let mismatches = column["mismatches"].as_u64().unwrap_or(0);
            let share = if compared == 0 { 0.0 } else { mismatches as f64 * 100.0 / compared as f64 };
            ColumnCard {
                index,
                name: text(&column["name"]),
                candidate_name: column["candidate_name"].as_str().map(str::to_owned),
                baseline_type: text(&column["baseline_type"]),
                candidate_type: text(&column["candidate_type"]),
                mismatches,
                share: percent(mismatches, compared),
                width: format!("{:.2}", share.clamp(1.0, 100.0)),
                samples: column["samples"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .take(COLUMN_SAMPLES)
                    .map(|sample| pair(row_text(&sample["key"], 4), &sample["baseline"], &sample["candidate"]))
                    .collect(),
            }
        })
        .collect();
    cards.sort_by(|a, b| b.mismatches.cmp(&a.mismatches).then(a.index.cmp(&b.index)));
    cards
}

/// The changed rows: the differing cells side by side, the equal ones counted.
fn changed_rows(document: &Value) -> Vec<ChangedRow> {
    document["samples"]["changed"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|sample| {
            let differing: Vec<String> = sample["columns"].as_array().into_iter().flatten().map(text).collect();
            let cells = differing
                .iter()
                .take(ROW_CELLS)
                .map(|column| {
                    let candidate = &sample["candidate"][column.as_str()];
                    (column.clone(), pair(String::new(), &sample["baseline"][column.as_str()], candidate))
                })
                .collect();
            let width = sample["baseline"].as_object().map_or(0, serde_json::Map::len);
            ChangedRow {
                key: row_text(&sample["key"], 4),
                cells,
                more: differing.len().saturating_sub(ROW_CELLS),
                folded: width.saturating_sub(differing.len()),
            }
        })
        .collect()
}

/// The rows on one side only, NULL keys and duplicate keys, by kind.
fn only_in(document: &Value) -> Vec<(String, Vec<String>)> {
    let samples = &document["samples"];
    let mut kinds: Vec<(String, Vec<String>)> = [
        ("Only in the baseline", "only_in_baseline"),
        ("Only in the candidate", "only_in_candidate"),
        ("NULL keys in the baseline", "null_keys_baseline"),
        ("NULL keys in the candidate", "null_keys_candidate"),
    ]
    .into_iter()
    .map(|(title, kind)| {
        (title.to_owned(), samples[kind].as_array().into_iter().flatten().map(|row| row_text(row, 8)).collect())
    })
    .collect();
    let duplicates = samples["duplicate_keys"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|group| {
            format!(
                "{}: {} rows in the baseline, {} in the candidate",
                row_text(&group["key"], 4),
                text(&group["baseline_rows"]),
                text(&group["candidate_rows"])
            )
        })
        .collect();
    kinds.push(("Duplicate keys".to_owned(), duplicates));
    kinds.retain(|(_, rows)| !rows.is_empty());
    kinds
}

/// The schema findings as sentences.
fn schema_findings(schema: &Value) -> Vec<String> {
    let list = |name: &str| schema[name].as_array().cloned().unwrap_or_default();
    let mut findings: Vec<String> =
        list("only_in_baseline").iter().map(|c| format!("{} is only in the baseline", text(c))).collect();
    findings.extend(list("only_in_candidate").iter().map(|c| format!("{} is only in the candidate", text(c))));
    findings.extend(list("type_changes").iter().map(|change| {
        let compared = if change["comparable"].as_bool() == Some(true) { "values compared" } else { "not compared" };
        format!(
            "{}: {} → {} ({compared})",
            text(&change["name"]),
            text(&change["baseline"]),
            text(&change["candidate"])
        )
    }));
    findings.extend(list("declared").iter().map(|m| {
        let declared = m["declared"].as_str().unwrap_or("not declared");
        let files = m["files"].as_str().unwrap_or("missing");
        format!(
            "{} ({}): declared {declared} by {}, {files} in the files",
            text(&m["column"]),
            text(&m["side"]),
            text(&m["source"])
        )
    }));
    findings
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_split_where_they_differ_and_numbers_get_a_delta() {
        let marked = pair(String::new(), &Value::from("order-1234-a"), &Value::from("order-1299-a"));
        assert_eq!((marked.baseline.before.as_str(), marked.baseline.middle.as_str()), ("order-12", "34"));
        assert_eq!((marked.candidate.middle.as_str(), marked.candidate.after.as_str()), ("99", "-a"));
        assert_eq!(marked.delta, None);
        let number = pair(String::new(), &serde_json::json!(10.5), &serde_json::json!(11.5));
        assert_eq!(number.delta.as_deref(), Some("+1 (+9.52%)"));
    }

    #[test]
    fn a_share_is_never_rounded_to_none_or_all() {
        assert_eq!(percent(19_996, 20_000), "99.98%");
        assert_eq!(percent(199_999, 200_000), ">99.99%");
        assert_eq!(percent(3, 1_000_000), "<0.01%");
        assert_eq!(
            (percent(0, 10), percent(10, 10), percent(0, 0)),
            ("0%".to_owned(), "100%".to_owned(), "0%".to_owned())
        );
    }

    #[test]
    fn no_non_zero_count_disappears_from_the_bar() {
        let count = |label, value| Count { label, class: "c", value };
        let bar = segments(&[count("matched", 1_000_000), count("changed", 1), count("only", 0)]);
        assert_eq!(bar.len(), 2);
        assert!(bar[1].width.parse::<f64>().unwrap() >= 3.0);
        let total: f64 = bar.iter().map(|s| s.width.parse::<f64>().unwrap()).sum();
        assert!((total - 100.0).abs() < 0.1, "{total}");
    }
}
