//! A dataset: the data files under one URI, reconciled into one schema.
//!
//! The dataset's columns are the union of its files' columns, matched by name
//! case-insensitively, in order of first appearance (files in path order), followed by the Hive
//! partition columns as strings. A file that lacks a column yields NULLs for it (Hive's schema
//! evolution appends columns); a file whose column has another type is cast to the first
//! file's type when Arrow can cast it, and refused by name otherwise.

use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, RecordBatchOptions, StringArray, new_null_array};
use arrow::compute::{can_cast_types, cast};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use futures::{StreamExt, TryStreamExt};
use object_store::ObjectStore;

use super::footer::ColumnStats;
use super::format::{self, DataFile};
use super::location;
use super::storage::Stores;
use crate::error::{Error, Result};
use crate::spec::{Roots, Side};

/// How many footers are read at once while opening a dataset.
const FOOTER_CONCURRENCY: usize = 16;

/// The data files of one side, with the schema they are read as.
#[derive(Debug)]
pub struct Dataset {
    side: Side,
    uri: String,
    store: Arc<dyn ObjectStore>,
    files: Vec<DataFile>,
    schema: SchemaRef,
    partition_columns: Vec<String>,
}

impl Dataset {
    /// Lists the files under `uri` (in the store `stores` gives for it), recognises their
    /// formats and reads their footers.
    pub async fn open(side: Side, uri: &str, stores: &Stores) -> Result<Self> {
        Self::open_within(side, uri, None, stores).await
    }

    /// [`Dataset::open`], refusing a location or a file outside `roots` (see [`crate::Roots`]).
    pub async fn open_within(side: Side, uri: &str, roots: Option<&Roots>, stores: &Stores) -> Result<Self> {
        let listing = location::list(side, uri, roots, stores).await?;
        let (store, remote) = (listing.store, listing.remote);
        let files: Vec<DataFile> = futures::stream::iter(listing.files)
            .map(|listed| {
                let store = Arc::clone(&store);
                async move { format::inspect(side, &store, &listed, remote, false).await }
            })
            .buffered(FOOTER_CONCURRENCY)
            .try_filter_map(|file| async move { Ok(file) })
            .try_collect()
            .await?;
        Self::from_files(side, uri, store, files)
    }

    /// The dataset of files already inspected (the non-empty files of a location, in path
    /// order, with their Hive partition values relative to it), read through `store`.
    pub(crate) fn from_files(side: Side, uri: &str, store: Arc<dyn ObjectStore>, files: Vec<DataFile>) -> Result<Self> {
        if files.is_empty() {
            return Err(Error::EmptyDataset { side, uri: uri.to_owned() });
        }
        let partition_columns: Vec<String> = files[0].listed.partition.iter().map(|(name, _)| name.clone()).collect();
        let schema = reconcile_schema(side, &files, &partition_columns)?;
        Ok(Self { side, uri: uri.to_owned(), store, files, schema, partition_columns })
    }

    /// A dataset whose files were listed and inspected elsewhere (a cluster's scan), read
    /// through `store`.
    pub(crate) fn from_parts(
        side: Side,
        uri: String,
        store: Arc<dyn ObjectStore>,
        files: Vec<DataFile>,
        schema: SchemaRef,
        partition_columns: Vec<String>,
    ) -> Self {
        Self { side, uri, store, files, schema, partition_columns }
    }

    /// Which side this dataset is.
    pub fn side(&self) -> Side {
        self.side
    }

    /// The URI it was opened from.
    pub fn uri(&self) -> &str {
        &self.uri
    }

    /// Data columns, then partition columns.
    pub fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    /// Names of the Hive partition columns, the last columns of [`Self::schema`].
    pub fn partition_columns(&self) -> &[String] {
        &self.partition_columns
    }

    /// Footer statistics of a column (case-insensitive name) over all files: a file without
    /// the column adds none of its values. Unknown for a partition column.
    pub(crate) fn column_stats(&self, name: &str) -> ColumnStats {
        if self.partition_columns.iter().any(|p| p.eq_ignore_ascii_case(name)) {
            return ColumnStats::default();
        }
        self.files.iter().fold(ColumnStats::ABSENT, |total, file| {
            let stats = file
                .column(name)
                .map_or(ColumnStats::ABSENT, |field| file.stats.get(field.name()).copied().unwrap_or_default());
            total.plus(stats)
        })
    }

    /// Rows in all files, from their footers.
    pub fn rows(&self) -> u64 {
        self.files.iter().map(|f| f.rows).sum()
    }

    /// Number of data files.
    pub fn file_count(&self) -> usize {
        self.files.len()
    }

    pub(crate) fn files(&self) -> &[DataFile] {
        &self.files
    }

    pub(crate) fn store(&self) -> Arc<dyn ObjectStore> {
        Arc::clone(&self.store)
    }

    /// Plans how one file fills the dataset columns `projection` (indices into [`Self::schema`]).
    pub(crate) fn file_reading(&self, file: &DataFile, projection: &[usize]) -> FileReading {
        let data_columns = self.schema.fields().len() - self.partition_columns.len();
        let mut file_columns = Vec::new();
        let sources = projection
            .iter()
            .map(|&index| {
                if index >= data_columns {
                    let value = file.listed.partition[index - data_columns].1.clone();
                    return ColumnSource::Constant(value);
                }
                match file.column(self.schema.field(index).name()) {
                    Some(field) => {
                        file_columns.push(field.name().clone());
                        ColumnSource::File(field.name().clone())
                    }
                    None => ColumnSource::Missing,
                }
            })
            .collect();
        let output = Arc::new(self.schema.project(projection).unwrap_or_else(|_| Schema::empty()));
        FileReading { file_columns, sources, output }
    }
}

/// Where one output column of a file's batches comes from.
#[derive(Debug, Clone)]
pub(crate) enum ColumnSource {
    /// A column of the file, by its name in the file.
    File(String),
    /// A column the file lacks: NULL.
    Missing,
    /// A partition column: the file's partition value.
    Constant(Option<String>),
}

/// How to turn one file's batches into batches of the dataset's (projected) schema.
#[derive(Debug, Clone)]
pub(crate) struct FileReading {
    /// The file columns to decode.
    pub(crate) file_columns: Vec<String>,
    sources: Vec<ColumnSource>,
    output: SchemaRef,
}

impl FileReading {
    /// Reorders, casts and completes a batch decoded from the file.
    pub(crate) fn adapt(&self, batch: &RecordBatch) -> Result<RecordBatch, arrow::error::ArrowError> {
        let rows = batch.num_rows();
        let columns = self
            .sources
            .iter()
            .zip(self.output.fields())
            .map(|(source, field)| -> Result<ArrayRef, arrow::error::ArrowError> {
                match source {
                    ColumnSource::File(name) => {
                        let column = batch.column_by_name(name).ok_or_else(|| {
                            arrow::error::ArrowError::SchemaError(format!("column `{name}` was not decoded"))
                        })?;
                        if column.data_type() == field.data_type() {
                            Ok(Arc::clone(column))
                        } else {
                            cast(column, field.data_type())
                        }
                    }
                    ColumnSource::Missing => Ok(new_null_array(field.data_type(), rows)),
                    ColumnSource::Constant(value) => {
                        Ok(Arc::new(StringArray::from(vec![value.as_deref(); rows])) as ArrayRef)
                    }
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        let options = RecordBatchOptions::new().with_row_count(Some(rows));
        RecordBatch::try_new_with_options(Arc::clone(&self.output), columns, &options)
    }
}

fn reconcile_schema(side: Side, files: &[DataFile], partition_columns: &[String]) -> Result<SchemaRef> {
    let mut fields: Vec<Field> = Vec::new();
    for file in files {
        let path = format::display_path(&file.listed.path);
        let incompatible = |reason: String| Error::IncompatibleFile { side, path: path.clone(), reason };
        let names: Vec<&String> = file.listed.partition.iter().map(|(name, _)| name).collect();
        if names.iter().map(|n| n.as_str()).ne(partition_columns.iter().map(String::as_str)) {
            return Err(incompatible(format!(
                "its partition directories {names:?} differ from the first file's {partition_columns:?}"
            )));
        }
        for (i, field) in file.schema.fields().iter().enumerate() {
            let duplicate = file.schema.fields()[..i].iter().any(|f| f.name().eq_ignore_ascii_case(field.name()));
            if duplicate {
                return Err(incompatible(format!("column `{}` appears twice, ignoring case", field.name())));
            }
            match fields.iter().find(|f| f.name().eq_ignore_ascii_case(field.name())) {
                None => fields.push(field.as_ref().clone().with_nullable(true)),
                Some(known) if known.data_type() == field.data_type() => {}
                Some(known) if can_cast_types(field.data_type(), known.data_type()) => {}
                Some(known) => {
                    return Err(incompatible(format!(
                        "column `{}` is {} here but {} in earlier files",
                        field.name(),
                        field.data_type(),
                        known.data_type()
                    )));
                }
            }
        }
    }
    for name in partition_columns {
        if fields.iter().any(|f| f.name().eq_ignore_ascii_case(name)) {
            return Err(Error::IncompatibleFile {
                side,
                path: format::display_path(&files[0].listed.path),
                reason: format!("partition column `{name}` is also a column of the files"),
            });
        }
        fields.push(Field::new(name, DataType::Utf8, true));
    }
    Ok(Arc::new(Schema::new(fields)))
}
