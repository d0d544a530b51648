//! Reading a report's export (the differing rows as Parquet, `verifier::export`): a page of the
//! rows a filter selects, as JSON, and every row it selects as CSV.

use std::io::Write;

use arrow::array::{AsArray, BooleanArray, RecordBatch};
use arrow::compute::filter_record_batch;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::error::{Error, Result};

/// Which exported rows: of one kind (`changed`, `only_in_baseline`, `only_in_candidate`), with
/// one column among the changed ones, or both.
#[derive(Debug, Default, Clone)]
pub(crate) struct RowFilter {
    /// Only rows of this kind.
    pub(crate) kind: Option<String>,
    /// Only changed rows in which this column differs.
    pub(crate) column: Option<String>,
}

impl RowFilter {
    fn is_empty(&self) -> bool {
        self.kind.is_none() && self.column.is_none()
    }

    /// The rows of `batch` this filter selects.
    fn mask(&self, batch: &RecordBatch) -> BooleanArray {
        let kinds = batch.column_by_name("kind").and_then(|kinds| kinds.as_string_opt::<i32>());
        let changed = batch.column_by_name("changed_columns").and_then(|columns| columns.as_list_opt::<i32>());
        (0..batch.num_rows())
            .map(|row| {
                let kind_ok = self.kind.as_deref().is_none_or(|kind| kinds.is_some_and(|k| k.value(row) == kind));
                let column_ok = self.column.as_deref().is_none_or(|column| {
                    changed.is_some_and(|lists| {
                        let names = lists.value(row);
                        names.as_string_opt::<i32>().is_some_and(|names| names.iter().any(|n| n == Some(column)))
                    })
                });
                Some(kind_ok && column_ok)
            })
            .collect()
    }
}

fn failed(path: &str, error: &dyn std::fmt::Display) -> Error {
    Error::io(format!("read the exported rows `{path}`"), error.to_string())
}

/// The export's batches, `offset` rows skipped and at most `limit` read when nothing is
/// filtered (Parquet skips them without decoding); every batch otherwise.
fn batches(
    path: &str,
    window: Option<(usize, usize)>,
) -> Result<(i64, impl Iterator<Item = std::result::Result<RecordBatch, arrow::error::ArrowError>>)> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(format!("open the exported rows `{path}`"), e))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| failed(path, &e))?;
    let total = builder.metadata().file_metadata().num_rows();
    let builder = match window {
        Some((offset, limit)) => builder.with_offset(offset).with_limit(limit),
        None => builder,
    };
    Ok((total, builder.build().map_err(|e| failed(path, &e))?))
}

/// Rows `offset..offset + limit` of those `filter` selects, as JSON objects, and how many it
/// selects in all.
pub(crate) fn read(path: &str, filter: &RowFilter, limit: i64, offset: i64) -> Result<(i64, Vec<serde_json::Value>)> {
    let (offset, limit) = (usize::try_from(offset).unwrap_or(usize::MAX), usize::try_from(limit).unwrap_or(0));
    let mut page = Vec::new();
    let total = if filter.is_empty() {
        let (total, reader) = batches(path, Some((offset, limit)))?;
        for batch in reader {
            page.push(batch.map_err(|e| failed(path, &e))?);
        }
        total
    } else {
        let (_, reader) = batches(path, None)?;
        let mut selected = 0_usize;
        for batch in reader {
            let batch = batch.map_err(|e| failed(path, &e))?;
            let batch = filter_record_batch(&batch, &filter.mask(&batch)).map_err(|e| failed(path, &e))?;
            // The part of this batch that falls in the page.
            let start = offset.saturating_sub(selected).min(batch.num_rows());
            let end = offset.saturating_add(limit).saturating_sub(selected).min(batch.num_rows());
            if start < end {
                page.push(batch.slice(start, end - start));
            }
            selected += batch.num_rows();
        }
        i64::try_from(selected).unwrap_or(i64::MAX)
    };
    let mut writer = arrow::json::ArrayWriter::new(Vec::new());
    for batch in &page {
        writer.write(batch).map_err(|e| failed(path, &e))?;
    }
    writer.finish().map_err(|e| failed(path, &e))?;
    let bytes = writer.into_inner();
    let rows =
        if bytes.is_empty() { Vec::new() } else { serde_json::from_slice(&bytes).map_err(|e| failed(path, &e))? };
    Ok((total, rows))
}

/// Every row `filter` selects as CSV (RFC 4180: a header, fields quoted where they hold a comma,
/// a quote or a line break; NULL is an empty field, a list `[a, b]`).
pub(crate) fn csv(path: &str, filter: &RowFilter, out: &mut impl Write) -> Result<()> {
    let (_, reader) = batches(path, None)?;
    let wrote = |e: std::io::Error| Error::io("write the CSV of the exported rows", e);
    let options = FormatOptions::default().with_null("");
    let mut header = false;
    for batch in reader {
        let batch = batch.map_err(|e| failed(path, &e))?;
        if !header {
            let names: Vec<String> = batch.schema().fields().iter().map(|field| quoted(field.name())).collect();
            writeln!(out, "{}", names.join(",")).map_err(wrote)?;
            header = true;
        }
        let batch = if filter.is_empty() {
            batch
        } else {
            filter_record_batch(&batch, &filter.mask(&batch)).map_err(|e| failed(path, &e))?
        };
        let formatters = batch
            .columns()
            .iter()
            .map(|column| ArrayFormatter::try_new(column.as_ref(), &options))
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| failed(path, &e))?;
        for row in 0..batch.num_rows() {
            let fields: Vec<String> =
                formatters.iter().map(|formatter| quoted(&formatter.value(row).to_string())).collect();
            writeln!(out, "{}", fields.join(",")).map_err(wrote)?;
        }
    }
    Ok(())
}

/// A CSV field.
fn quoted(field: &str) -> String {
    if field.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::quoted;

    #[test]
    fn fields_are_quoted_only_where_csv_needs_it() {
        assert_eq!(quoted("plain"), "plain");
        assert_eq!(quoted("a,b"), "\"a,b\"");
        assert_eq!(quoted("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(quoted("two\nlines"), "\"two\nlines\"");
    }
}
