//! The text rendering of a report: what a person reads in a terminal.

use std::fmt::Write;

use serde_json::{Map, Value};

use super::Report;

/// Renders the summary, the columns with mismatches, the schema findings and the samples, with
/// baseline and candidate values side by side and the differing cells marked `*`.
pub(super) fn render(report: &Report) -> String {
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = write_report(report, &mut out);
    out
}

fn write_report(report: &Report, out: &mut String) -> std::fmt::Result {
    let verdict = report.verdict.as_str().to_ascii_uppercase();
    let key = if report.key.is_empty() { "(whole row, multiset)".to_owned() } else { report.key.join(", ") };
    writeln!(out, "verdict: {verdict}   key: {key}   elapsed: {} ms", report.elapsed_ms)?;
    writeln!(
        out,
        "baseline : {} rows in {} files  {}",
        report.baseline.rows, report.baseline.files, report.baseline.uri
    )?;
    writeln!(
        out,
        "candidate: {} rows in {} files  {}",
        report.candidate.rows, report.candidate.files, report.candidate.uri
    )?;
    let s = &report.summary;
    writeln!(out, "\nrows")?;
    for (label, value) in [
        ("matched", s.matched),
        ("changed", s.changed),
        ("only in baseline", s.only_in_baseline),
        ("only in candidate", s.only_in_candidate),
        ("duplicate keys (baseline)", s.duplicate_keys_baseline),
        ("duplicate keys (candidate)", s.duplicate_keys_candidate),
        ("NULL keys (baseline)", s.null_keys_baseline),
        ("NULL keys (candidate)", s.null_keys_candidate),
    ] {
        if value > 0 || matches!(label, "matched" | "changed" | "only in baseline" | "only in candidate") {
            writeln!(out, "  {label:<28}{value:>12}")?;
        }
    }
    if (s.null_keys_baseline > 0 || s.null_keys_candidate > 0) && !s.null_key_rows_match {
        writeln!(out, "  NULL-key rows differ between the sides")?;
    }
    write_schema(report, out)?;
    write_columns(report, out)?;
    write_samples(report, out)
}

fn write_schema(report: &Report, out: &mut String) -> std::fmt::Result {
    if report.schema.is_empty() {
        return Ok(());
    }
    writeln!(out, "\nschema")?;
    for name in &report.schema.only_in_baseline {
        writeln!(out, "  only in baseline : {name}")?;
    }
    for name in &report.schema.only_in_candidate {
        writeln!(out, "  only in candidate: {name}")?;
    }
    for change in &report.schema.type_changes {
        let note = if change.comparable { "values compared" } else { "not comparable, not compared" };
        writeln!(out, "  type changed     : {}: {} -> {} ({note})", change.name, change.baseline, change.candidate)?;
    }
    for mismatch in &report.schema.declared {
        let declared = mismatch.declared.as_deref().unwrap_or("not declared");
        let files = mismatch.files.as_deref().unwrap_or("not in the files");
        writeln!(
            out,
            "  {:<17}: {}: declared {declared} by {}, {files} in the files",
            format!("{} catalog", mismatch.side),
            mismatch.column,
            mismatch.source
        )?;
    }
    Ok(())
}

fn write_columns(report: &Report, out: &mut String) -> std::fmt::Result {
    let differing: Vec<_> = report.columns.iter().filter(|c| c.mismatches > 0).collect();
    if differing.is_empty() {
        return Ok(());
    }
    writeln!(out, "\ncolumns with mismatches")?;
    writeln!(out, "  {:<24}{:>12}  example (baseline -> candidate)", "column", "mismatches")?;
    for column in differing {
        let example = column
            .samples
            .first()
            .map(|s| format!("{} -> {}", compact(&s.baseline), compact(&s.candidate)))
            .unwrap_or_default();
        writeln!(out, "  {:<24}{:>12}  {}", column.name, column.mismatches, example)?;
    }
    Ok(())
}

fn write_samples(report: &Report, out: &mut String) -> std::fmt::Result {
    let samples = &report.samples;
    if !samples.changed.is_empty() {
        writeln!(out, "\nchanged rows (* marks the differing cells)")?;
        for sample in &samples.changed {
            writeln!(out, "  key {}", render_map(&sample.key))?;
            for ((name, baseline), candidate) in sample.baseline.iter().zip(sample.candidate.values()) {
                if sample.key.contains_key(name) {
                    continue;
                }
                let mark = if sample.columns.iter().any(|c| c == name) { '*' } else { ' ' };
                writeln!(out, "   {mark} {} {} | {}", pad(name, 22), pad(&compact(baseline), 30), compact(candidate))?;
            }
        }
    }
    for (title, rows) in [
        ("rows only in the baseline", &samples.only_in_baseline),
        ("rows only in the candidate", &samples.only_in_candidate),
        ("baseline rows with a NULL key", &samples.null_keys_baseline),
        ("candidate rows with a NULL key", &samples.null_keys_candidate),
    ] {
        if !rows.is_empty() {
            writeln!(out, "\n{title}")?;
            for row in rows {
                writeln!(out, "  {}", render_map(row))?;
            }
        }
    }
    if !samples.duplicate_keys.is_empty() {
        writeln!(out, "\nduplicate keys (rows in baseline / candidate)")?;
        for group in &samples.duplicate_keys {
            writeln!(out, "  {}  {} / {}", render_map(&group.key), group.baseline_rows, group.candidate_rows)?;
        }
    }
    Ok(())
}

/// `text` padded with spaces to `width` terminal columns (CJK characters take two).
fn pad(text: &str, width: usize) -> String {
    let used = unicode_width::UnicodeWidthStr::width(text);
    format!("{text}{}", " ".repeat(width.saturating_sub(used)))
}

fn render_map(map: &Map<String, Value>) -> String {
    let fields: Vec<String> = map.iter().map(|(k, v)| format!("{k}={}", compact(v))).collect();
    fields.join(" ")
}

/// A value in one short line: strings unquoted, long values cut.
fn compact(value: &Value) -> String {
    let text = match value {
        Value::String(s) => s.clone(),
        Value::Null => "NULL".to_owned(),
        other => other.to_string(),
    };
    if text.chars().count() > 60 {
        let cut: String = text.chars().take(57).collect();
        format!("{cut}...")
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::pad;

    #[test]
    fn padding_counts_terminal_columns_not_chars() {
        assert_eq!(pad("s10-中文", 10), "s10-中文  ");
        assert_eq!(pad("abc", 5), "abc  ");
        assert_eq!(pad("longer than", 3), "longer than");
    }
}
