//! What a file's footer says about its top-level columns: how many values are not NULL and, for
//! ORC integer columns, their sum. Summed over a dataset's files, these can prove before a row
//! is read that two datasets differ (`run` then keeps the batches of its first read for the
//! diff pass instead of reading both datasets again).

use std::collections::HashMap;

use orc_rust::reader::metadata::FileMetadata;
use orc_rust::statistics::{ColumnStatistics, TypeStatistics};
use parquet::file::metadata::ParquetMetaData;

/// Footer statistics of one column, in one file or summed over a dataset. `None`: not known
/// (a file without statistics, a type without sums, a Parquet file).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct ColumnStats {
    /// Values that are not NULL.
    pub(crate) values: Option<u64>,
    /// The sum of an integer column's values.
    pub(crate) sum: Option<i128>,
}

impl ColumnStats {
    /// A column the file does not have: read as NULLs, so no values.
    pub(crate) const ABSENT: Self = Self { values: Some(0), sum: Some(0) };

    /// The statistics of two sets of files together (unknown when either is).
    pub(crate) fn plus(self, other: Self) -> Self {
        Self {
            values: self.values.zip(other.values).map(|(a, b)| a + b),
            sum: self.sum.zip(other.sum).map(|(a, b)| a.wrapping_add(b)),
        }
    }

    /// Whether both are known and say the columns hold other values.
    pub(crate) fn differ(self, other: Self) -> bool {
        known_and_unequal(self.values, other.values) || known_and_unequal(self.sum, other.sum)
    }
}

fn known_and_unequal<T: PartialEq>(a: Option<T>, b: Option<T>) -> bool {
    a.zip(b).is_some_and(|(a, b)| a != b)
}

/// An ORC footer's top-level columns that have statistics, by name (orc-rust's own writer
/// keeps none).
pub(crate) fn orc_columns(metadata: &FileMetadata) -> impl Iterator<Item = (&str, &ColumnStatistics)> {
    let statistics = metadata.column_file_statistics();
    metadata
        .root_data_type()
        .children()
        .iter()
        .filter_map(|column| Some((column.name(), statistics.get(column.data_type().column_index())?)))
}

/// Statistics per top-level column (by name) from an ORC footer.
pub(crate) fn orc(metadata: &FileMetadata) -> HashMap<String, ColumnStats> {
    orc_columns(metadata)
        .map(|(name, found)| {
            let sum = match found.type_statistics() {
                Some(TypeStatistics::Integer { sum, .. }) => sum.map(i128::from),
                _ => None,
            };
            (name.to_owned(), ColumnStats { values: Some(found.number_of_values()), sum })
        })
        .collect()
}

/// Statistics per top-level primitive column (by name) from a Parquet footer: values
/// that are not NULL, when every row group counts its NULLs.
pub(crate) fn parquet(metadata: &ParquetMetaData) -> HashMap<String, ColumnStats> {
    let mut columns: HashMap<String, ColumnStats> = HashMap::new();
    let Some(first) = metadata.row_groups().first() else { return columns };
    for (index, chunk) in first.columns().iter().enumerate() {
        let [name] = chunk.column_path().parts() else { continue };
        let values = metadata.row_groups().iter().try_fold(0u64, |total, group| {
            let nulls = group.columns().get(index)?.statistics()?.null_count_opt()?;
            Some(total + u64::try_from(group.num_rows()).ok()?.checked_sub(nulls)?)
        });
        columns.insert(name.clone(), ColumnStats { values, sum: None });
    }
    columns
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The ORC fixtures' files (`testdata/fixtures/orc`): Java's writer (Spark) and Arrow C++'s.
    fn fixture_files() -> Vec<std::path::PathBuf> {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/fixtures/orc");
        ["spark", "arrow"]
            .iter()
            .flat_map(|producer| std::fs::read_dir(root.join(producer).join("baseline/dt=2024-05-01")).unwrap())
            .map(|entry| entry.unwrap().path())
            .filter(|path| {
                let name = path.file_name().unwrap_or_default().to_string_lossy();
                name.ends_with(".orc") && !name.starts_with('.')
            })
            .collect()
    }

    #[test]
    fn real_orc_writers_count_values_and_sum_integers() {
        let files = fixture_files();
        assert_eq!(files.len(), 3, "{files:?}");
        for path in files {
            let builder = orc_rust::ArrowReaderBuilder::try_new(std::fs::File::open(&path).unwrap()).unwrap();
            let stats = orc(builder.file_metadata());
            let rows = builder.file_metadata().number_of_rows();
            assert_eq!(stats["id"].values, Some(rows), "{}", path.display());
            for integer in ["id", "c_int", "c_smallint"] {
                assert!(stats[integer].sum.is_some(), "{}: {integer}", path.display());
            }
            assert!(stats["c_string"].values.is_some_and(|v| v < rows), "{}: NULLs are not counted", path.display());
            assert_eq!(stats["c_string"].sum, None, "{}", path.display());
        }
    }

    #[test]
    fn unknown_statistics_never_differ_and_make_sums_unknown() {
        let known = ColumnStats { values: Some(3), sum: Some(6) };
        let unknown = ColumnStats::default();
        assert!(!known.differ(unknown));
        assert_eq!(known.plus(unknown), unknown);
        assert_eq!(known.plus(ColumnStats::ABSENT), known);
        assert!(known.differ(ColumnStats { values: Some(3), sum: Some(7) }));
        assert!(known.differ(ColumnStats { values: Some(2), sum: None }));
        assert!(!known.differ(ColumnStats { values: Some(3), sum: None }));
    }
}
