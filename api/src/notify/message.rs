//! The message a report becomes: short lines that read on a phone.
//!
//! ```text
//! dw.orders: inconsistent
//! partition dt=2024-05-01 · run 2024-05-01
//! rows 1,000 baseline / 1,001 candidate
//! changed 3 · only in baseline 1 · only in candidate 2
//! amount: 3 differ, e.g. order_id=7: 10.5 → 11.5
//! http://dqc.example/api/v1/reports/12
//! ```

use serde_json::Value;

use crate::store::{StoredReport, Verdict};

/// Columns named in a message, most mismatches first.
const TOP_COLUMNS: usize = 3;
/// Longest value shown in an example.
const VALUE_CHARS: usize = 40;

/// A rendered notification: a title, lines of text, a link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// One line: table and verdict, or the digest's day.
    pub title: String,
    /// The body, one fact per line.
    pub lines: Vec<String>,
}

impl Message {
    /// The title and lines joined with `separator` (`\n`, or `  \n` for Markdown).
    pub fn text(&self, bold: (&str, &str), separator: &str) -> String {
        self.marked_up(bold, separator, |text| text.to_owned())
    }

    /// [`Message::text`] with every title and line passed through `escape`, so that a table
    /// name or a value cannot add markup (a Slack `<!channel>`, a Markdown link) to a message.
    pub fn marked_up(&self, bold: (&str, &str), separator: &str, escape: fn(&str) -> String) -> String {
        let mut text = format!("{}{}{}", bold.0, escape(&self.title), bold.1);
        for line in &self.lines {
            text.push_str(separator);
            text.push_str(&escape(line));
        }
        text
    }
}

/// Slack's escaping of message text: `&`, `<` and `>` as entities (so no mention, link or
/// command can be written by data).
pub fn slack_escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// Markdown escaping for DingTalk: a backslash before each character Markdown gives a meaning.
pub fn markdown_escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '\\' | '`' | '*' | '_' | '[' | ']' | '(' | ')' | '#' | '!' | '<' | '>' | '|' | '~') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

/// The message of one report.
pub fn report(report: &StoredReport, link: &str) -> Message {
    let mut lines = vec![format!("partition {} · run {}", shown(&report.partition), shown(&report.run_id))];
    lines.extend(facts(report));
    lines.push(link.to_owned());
    Message { title: format!("{} {}: {}", mark(report.verdict), report.table, report.verdict.as_str()), lines }
}

/// The message of a day's reports for one sink.
pub fn digest(day: &str, reports: &[(StoredReport, String)]) -> Message {
    let mut lines = Vec::new();
    for (report, link) in reports {
        let counts = counts(&report.report).unwrap_or_else(|| report.reason.clone().unwrap_or_default());
        lines.push(format!(
            "{} {} {} run {}: {}{}",
            mark(report.verdict),
            report.table,
            shown(&report.partition),
            shown(&report.run_id),
            report.verdict.as_str(),
            if counts.is_empty() { String::new() } else { format!(" ({counts})") }
        ));
        lines.push(link.clone());
    }
    Message { title: format!("dqc daily digest {day}: {} reports", reports.len()), lines }
}

fn mark(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Consistent => "✅",
        Verdict::Inconsistent => "❌",
        Verdict::Divergent => "⚠️",
        Verdict::Error => "⛔",
    }
}

fn shown(text: &str) -> &str {
    if text.is_empty() { "-" } else { text }
}

/// Counts, the reason, and the top differing columns with an example each.
fn facts(report: &StoredReport) -> Vec<String> {
    let document = &report.report;
    let mut lines = Vec::new();
    if let Some(reason) = &report.reason {
        lines.push(reason.clone());
    }
    let rows = |side: &str| document.get(side).and_then(|side| side.get("rows")).and_then(Value::as_u64);
    if let (Some(baseline), Some(candidate)) = (rows("baseline"), rows("candidate")) {
        lines.push(format!("rows {} baseline / {} candidate", thousands(baseline), thousands(candidate)));
    }
    if let Some(counts) = counts(document) {
        lines.push(counts);
    }
    let mut columns: Vec<&Value> = document
        .get("columns")
        .and_then(Value::as_array)
        .map(|columns| {
            columns.iter().filter(|c| c.get("mismatches").and_then(Value::as_u64).unwrap_or(0) > 0).collect()
        })
        .unwrap_or_default();
    columns.sort_by_key(|column| std::cmp::Reverse(column.get("mismatches").and_then(Value::as_u64).unwrap_or(0)));
    for column in columns.into_iter().take(TOP_COLUMNS) {
        let name = column.get("name").and_then(Value::as_str).unwrap_or("?");
        let mismatches = column.get("mismatches").and_then(Value::as_u64).unwrap_or(0);
        let example =
            column.get("samples").and_then(Value::as_array).and_then(|samples| samples.first()).map(|sample| {
                let key = sample
                    .get("key")
                    .and_then(Value::as_object)
                    .map(|key| key.iter().map(|(k, v)| format!("{k}={}", value(v))).collect::<Vec<_>>().join(","))
                    .unwrap_or_default();
                format!(", e.g. {key}: {} → {}", value(&sample["baseline"]), value(&sample["candidate"]))
            });
        lines.push(format!("{name}: {} differ{}", thousands(mismatches), example.unwrap_or_default()));
    }
    lines
}

fn counts(document: &Value) -> Option<String> {
    let summary = document.get("summary")?;
    let count = |name: &str| summary.get(name).and_then(Value::as_u64).unwrap_or(0);
    let mut parts = Vec::new();
    for (name, label) in [
        ("changed", "changed"),
        ("only_in_baseline", "only in baseline"),
        ("only_in_candidate", "only in candidate"),
        ("duplicate_keys_baseline", "duplicate keys in baseline"),
        ("duplicate_keys_candidate", "duplicate keys in candidate"),
    ] {
        if count(name) > 0 {
            parts.push(format!("{label} {}", thousands(count(name))));
        }
    }
    if parts.is_empty() {
        parts.push(format!("{} rows match", thousands(count("matched"))));
    }
    Some(parts.join(" · "))
}

fn value(value: &Value) -> String {
    let text = match value {
        Value::String(text) => text.clone(),
        Value::Null => "NULL".to_owned(),
        other => other.to_string(),
    };
    if text.chars().count() > VALUE_CHARS {
        format!("{}…", text.chars().take(VALUE_CHARS).collect::<String>())
    } else {
        text
    }
}

fn thousands(number: u64) -> String {
    let digits = number.to_string();
    let mut out = String::new();
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_cannot_add_markup_to_chat_messages() {
        let message =
            Message { title: "dw.<!channel>: inconsistent".into(), lines: vec!["a: [x](http://evil) *b*".into()] };
        assert_eq!(
            message.marked_up(("*", "*"), "\n", slack_escape),
            "*dw.&lt;!channel&gt;: inconsistent*\na: [x](http://evil) *b*"
        );
        assert_eq!(
            message.marked_up(("**", "**"), "  \n", markdown_escape),
            "**dw.\\<\\!channel\\>: inconsistent**  \na: \\[x\\]\\(http://evil\\) \\*b\\*"
        );
    }

    #[test]
    fn an_inconsistent_report_reads_as_short_lines_with_counts_columns_and_an_example() {
        let report = StoredReport {
            id: 12,
            pair: None,
            job_id: Some(3),
            table: "dw.orders".into(),
            partition: "dt=2024-05-01".into(),
            run_id: "2024-05-01".into(),
            verdict: Verdict::Inconsistent,
            reason: None,
            report: serde_json::json!({
                "baseline": {"rows": 1000}, "candidate": {"rows": 1001},
                "summary": {"matched": 995, "changed": 3, "only_in_baseline": 1, "only_in_candidate": 2},
                "columns": [
                    {"name": "status", "mismatches": 1, "samples": []},
                    {"name": "amount", "mismatches": 3, "samples": [{"key": {"order_id": 7}, "baseline": "10.5", "candidate": "11.5"}]},
                    {"name": "qty", "mismatches": 0, "samples": []}
                ]
            }),
            created_at: chrono::Utc::now(),
            export_path: None,
        };
        let message = super::report(&report, "http://dqc/api/v1/reports/12");
        assert_eq!(message.title, "❌ dw.orders: inconsistent");
        assert_eq!(
            message.lines,
            vec![
                "partition dt=2024-05-01 · run 2024-05-01",
                "rows 1,000 baseline / 1,001 candidate",
                "changed 3 · only in baseline 1 · only in candidate 2",
                "amount: 3 differ, e.g. order_id=7: 10.5 → 11.5",
                "status: 1 differ",
                "http://dqc/api/v1/reports/12",
            ]
        );
        assert!(message.lines.iter().all(|line| line.chars().count() <= 80), "every line fits a phone screen");
    }
}
