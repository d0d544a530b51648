//! The two file formats: recognising a file by its magic bytes, reading its footer (schema, row
//! count and column statistics) and streaming its record batches with a projection by column name.
//!
//! Files are recognised by content, not by name: Hive writes extension-less files such as
//! `000000_0`. ORC is read with orc-rust, Parquet with the parquet crate, both through the
//! object store so that other stores can be plugged in later.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;

use arrow::datatypes::{FieldRef, SchemaRef};
use arrow::record_batch::RecordBatch;
use bytes::Bytes;
use datafusion::error::DataFusionError;
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use futures::{FutureExt, StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use parquet::arrow::ParquetRecordBatchStreamBuilder;
use parquet::arrow::arrow_reader::ArrowReaderOptions;
use parquet::arrow::async_reader::AsyncFileReader;
use parquet::file::metadata::{ParquetMetaData, ParquetMetaDataReader};
use serde::{Deserialize, Serialize};

use super::footer::{self, ColumnStats};
use super::location::ListedFile;
use super::summary::{self, ColumnSummary};
use crate::BATCH_SIZE;
use crate::error::{Error, Result};
use crate::spec::Side;

/// A supported file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FileFormat {
    Orc,
    Parquet,
}

/// A data file whose format and footer are known.
#[derive(Debug, Clone)]
pub(crate) struct DataFile {
    pub(crate) listed: ListedFile,
    pub(crate) format: FileFormat,
    /// Rows, from the footer.
    pub(crate) rows: u64,
    /// The file's own Arrow schema.
    pub(crate) schema: SchemaRef,
    /// Footer statistics of its top-level columns, by the file's column names.
    pub(crate) stats: HashMap<String, ColumnStats>,
    /// Footer statistics of its top-level columns as an inventory compares them (empty unless
    /// `inspect` was asked for them, and for a file received from another process).
    pub(crate) summaries: Arc<Vec<(String, ColumnSummary)>>,
    /// The parts it can be read in, in file order: ORC stripes, Parquet row groups.
    pub(crate) pieces: Vec<Piece>,
    /// Its head and tail (the footer) as read when it was inspected, for a remote file: every
    /// later reader of the file takes its footer from here, so a footer is fetched once.
    fetched: Fetched,
}

/// Most bytes of a remote file's end fetched at once when it is inspected: the footer of most
/// ORC and Parquet files, in one request instead of the readers' two or three.
const TAIL: u64 = 16 << 10;

/// Byte ranges of a file already fetched, served from memory. Empty (and never filled) for a
/// local file, whose reads are cheap.
#[derive(Debug, Clone, Default)]
struct Fetched(Option<Arc<std::sync::Mutex<Ranges>>>);

/// Fetched bytes by their offset in the file.
type Ranges = Vec<(u64, Bytes)>;

impl Fetched {
    fn new(remote: bool) -> Self {
        Self(remote.then(Arc::default))
    }

    fn get(&self, range: &Range<u64>) -> Option<Bytes> {
        let kept = self.0.as_ref()?.lock().ok()?;
        kept.iter().find_map(|(start, bytes)| {
            let end = start + bytes.len() as u64;
            (range.start >= *start && range.end <= end).then(|| {
                let from = usize::try_from(range.start - start).unwrap_or(0);
                let to = usize::try_from(range.end - start).unwrap_or(0);
                bytes.slice(from..to)
            })
        })
    }

    fn keep(&self, start: u64, bytes: Bytes) {
        if let Some(Ok(mut kept)) = self.0.as_ref().map(|kept| kept.lock()) {
            kept.push((start, bytes));
        }
    }
}

/// A part of a file that can be read alone: an ORC stripe or a Parquet row group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Piece {
    /// Rows, from the footer.
    pub(crate) rows: u64,
    /// ORC: the stripe's offset in the file, which picks it for reading (Parquet: unused).
    offset: u64,
    /// ORC: the stripe's bytes (index, data and footer) from `offset` (Parquet: unused).
    length: u64,
}

/// A data file as another process (a cluster's scheduler or executor) receives it: what reading
/// it needs, so that planning there reads no footer. Footer statistics stay behind: only the
/// process that opened the dataset compares them.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct PortableFile {
    path: String,
    size: u64,
    partition: Vec<(String, Option<String>)>,
    orc: bool,
    rows: u64,
    /// The file's Arrow schema as an Arrow IPC stream.
    schema: Vec<u8>,
    /// Per piece: rows, offset, length.
    pieces: Vec<[u64; 3]>,
}

impl PortableFile {
    /// The data file, whose reads go to the store directly (`remote`: to a remote store).
    pub(crate) fn into_data_file(self, remote: bool) -> Result<DataFile> {
        let path = Path::parse(&self.path)
            .map_err(|e| Error::Internal(format!("a cluster's scan names an unusable path `{}`: {e}", self.path)))?;
        Ok(DataFile {
            listed: ListedFile { path, size: self.size, partition: self.partition },
            format: if self.orc { FileFormat::Orc } else { FileFormat::Parquet },
            rows: self.rows,
            schema: schema_from_ipc(&self.schema)?,
            stats: HashMap::new(),
            summaries: Arc::default(),
            pieces: self.pieces.into_iter().map(|[rows, offset, length]| Piece { rows, offset, length }).collect(),
            fetched: Fetched::new(remote),
        })
    }
}

/// A schema as an Arrow IPC stream without batches.
pub(crate) fn schema_to_ipc(schema: &arrow::datatypes::Schema) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    let mut writer = arrow_ipc::writer::StreamWriter::try_new(&mut bytes, schema)?;
    writer.finish()?;
    drop(writer);
    Ok(bytes)
}

/// The schema of [`schema_to_ipc`]'s bytes.
pub(crate) fn schema_from_ipc(bytes: &[u8]) -> Result<SchemaRef> {
    Ok(arrow_ipc::reader::StreamReader::try_new(std::io::Cursor::new(bytes), None)?.schema())
}

impl DataFile {
    /// What another process needs to read this file.
    pub(crate) fn portable(&self) -> Result<PortableFile> {
        Ok(PortableFile {
            path: self.listed.path.as_ref().to_owned(),
            size: self.listed.size,
            partition: self.listed.partition.clone(),
            orc: self.format == FileFormat::Orc,
            rows: self.rows,
            schema: schema_to_ipc(&self.schema)?,
            pieces: self.pieces.iter().map(|p| [p.rows, p.offset, p.length]).collect(),
        })
    }

    /// The file's own column for a dataset column (names match case-insensitively).
    pub(crate) fn column(&self, name: &str) -> Option<&FieldRef> {
        self.schema.fields().iter().find(|f| f.name().eq_ignore_ascii_case(name))
    }
}

/// A stream of one file's batches, with errors already naming the file.
pub(crate) type BatchStream = BoxStream<'static, Result<RecordBatch, DataFusionError>>;

/// Recognises the file's format and reads its footer. `Ok(None)` for an empty (0-byte) file,
/// which Hive and Spark write for empty outputs. `summaries`: also every column's statistics as
/// an inventory compares them (`DataFile::summaries`; a diff does without them).
pub(crate) async fn inspect(
    side: Side,
    store: &Arc<dyn ObjectStore>,
    listed: &ListedFile,
    remote: bool,
    summaries: bool,
) -> Result<Option<DataFile>> {
    if listed.size == 0 {
        return Ok(None);
    }
    let fetched = Fetched::new(remote);
    // A remote file's format is told from its tail, fetched first (one request, which the
    // footer reads below take from memory); a local file's from its first bytes.
    let mut format = None;
    if remote {
        let start = listed.size.saturating_sub(TAIL);
        let tail = store
            .get_range(&listed.path, start..listed.size)
            .await
            .map_err(|source| Error::ObjectStore { side, source })?;
        format = detect_tail(&tail);
        fetched.keep(start, tail);
    }
    let unreadable = |source: Box<dyn std::error::Error + Send + Sync>| Error::UnreadableFile {
        side,
        path: display_path(&listed.path),
        source,
    };
    if format.is_none() {
        let head = reader(store, listed, &fetched, true).read(0..listed.size.min(4)).await.map_err(|source| {
            Error::UnreadableFile { side, path: display_path(&listed.path), source: Box::new(source) }
        })?;
        format = detect(&head);
    }
    let format = format.ok_or_else(|| Error::UnknownFormat { side, path: display_path(&listed.path) })?;
    let (rows, schema, stats, summaries, pieces) = match format {
        FileFormat::Orc => {
            let builder = orc_rust::ArrowReaderBuilder::try_new_async(reader(store, listed, &fetched, true))
                .await
                .map_err(|e| unreadable(Box::new(e)))?;
            let metadata = builder.file_metadata();
            let pieces = metadata
                .stripe_metadatas()
                .iter()
                .map(|stripe| Piece {
                    rows: stripe.number_of_rows(),
                    offset: stripe.offset(),
                    length: stripe.index_length() + stripe.data_length() + stripe.footer_length(),
                })
                .collect();
            let summaries = if summaries { summary::orc(metadata) } else { Vec::new() };
            (metadata.number_of_rows(), builder.schema(), footer::orc(metadata), summaries, pieces)
        }
        FileFormat::Parquet => {
            let builder = ParquetRecordBatchStreamBuilder::new(reader(store, listed, &fetched, true))
                .await
                .map_err(|e| unreadable(Box::new(e)))?;
            let metadata = builder.metadata();
            let rows = u64::try_from(metadata.file_metadata().num_rows()).unwrap_or(0);
            let pieces = metadata
                .row_groups()
                .iter()
                .map(|group| Piece { rows: u64::try_from(group.num_rows()).unwrap_or(0), offset: 0, length: 0 })
                .collect();
            let summaries = if summaries { summary::parquet(metadata, builder.schema()) } else { Vec::new() };
            (rows, Arc::clone(builder.schema()), footer::parquet(metadata), summaries, pieces)
        }
    };
    let summaries = Arc::new(summaries);
    Ok(Some(DataFile { listed: listed.clone(), format, rows, schema, stats, summaries, pieces, fetched }))
}

/// Opens a stream of the batches of the file's `pieces` (indices into [`DataFile::pieces`], at
/// least one) holding only `columns` (names as in the file), in the file's column order.
pub(crate) async fn open(
    side: Side,
    store: Arc<dyn ObjectStore>,
    file: &DataFile,
    columns: &[String],
    pieces: Range<usize>,
) -> Result<BatchStream> {
    let whole = pieces == (0..file.pieces.len());
    let path = display_path(&file.listed.path);
    let unreadable = {
        let path = path.clone();
        move |source: Box<dyn std::error::Error + Send + Sync>| {
            DataFusionError::External(Box::new(Error::UnreadableFile { side, path: path.clone(), source }))
        }
    };
    let on_open = unreadable.clone();
    let stream: BatchStream = match file.format {
        FileFormat::Orc => {
            let mut reader = reader(&store, &file.listed, &file.fetched, false);
            reader.stripes = file.pieces.iter().map(|piece| piece.offset..piece.offset + piece.length).collect();
            let builder = orc_rust::ArrowReaderBuilder::try_new_async(reader)
                .await
                .map_err(|e| Error::from_datafusion(on_open(Box::new(e))))?;
            let mask =
                orc_rust::projection::ProjectionMask::named_roots(builder.file_metadata().root_data_type(), columns);
            let mut builder = builder.with_projection(mask).with_batch_size(BATCH_SIZE);
            if !whole {
                // Stripes are picked by where they start: from the first one's offset to just past
                // the last one's.
                let (first, last) = (file.pieces[pieces.start], file.pieces[pieces.end - 1]);
                let to_usize = |offset: u64| usize::try_from(offset).unwrap_or(usize::MAX);
                builder = builder.with_file_byte_range(to_usize(first.offset)..to_usize(last.offset + 1));
            }
            builder.build_async().map_err(move |e| unreadable(Box::new(e))).boxed()
        }
        FileFormat::Parquet => {
            let builder = ParquetRecordBatchStreamBuilder::new(reader(&store, &file.listed, &file.fetched, false))
                .await
                .map_err(|e| Error::from_datafusion(on_open(Box::new(e))))?;
            let indices = builder
                .schema()
                .fields()
                .iter()
                .enumerate()
                .filter(|(_, f)| columns.iter().any(|c| c == f.name()))
                .map(|(i, _)| i);
            let mask = parquet::arrow::ProjectionMask::roots(builder.parquet_schema(), indices);
            let mut builder = builder.with_projection(mask).with_batch_size(BATCH_SIZE);
            if !whole {
                builder = builder.with_row_groups(pieces.collect());
            }
            builder
                .build()
                .map_err(|e| Error::from_datafusion(on_open(Box::new(e))))?
                .map_err(move |e| unreadable(Box::new(e)))
                .boxed()
        }
    };
    Ok(stream)
}

/// A path as users wrote it: absolute, with a leading `/` for local files.
pub(crate) fn display_path(path: &Path) -> String {
    format!("/{path}")
}

/// The format of a file from its last bytes: Parquet ends with `PAR1`; ORC with its postscript,
/// whose length is the last byte and which holds the magic `ORC`. `None` when neither (the
/// first bytes decide then).
fn detect_tail(tail: &[u8]) -> Option<FileFormat> {
    if tail.ends_with(b"PAR1") {
        return Some(FileFormat::Parquet);
    }
    let (&length, rest) = tail.split_last()?;
    let postscript = rest.get(rest.len().checked_sub(usize::from(length))?..)?;
    postscript.windows(3).any(|window| window == b"ORC").then_some(FileFormat::Orc)
}

fn detect(head: &[u8]) -> Option<FileFormat> {
    if head.starts_with(b"ORC") {
        Some(FileFormat::Orc)
    } else if head.starts_with(b"PAR1") {
        Some(FileFormat::Parquet)
    } else {
        None
    }
}

/// A reader of `listed` that takes what `fetched` holds from memory; `keep`: and keeps what it
/// fetches (while the file is inspected: its footer).
fn reader(store: &Arc<dyn ObjectStore>, listed: &ListedFile, fetched: &Fetched, keep: bool) -> ObjectReader {
    ObjectReader {
        store: Arc::clone(store),
        path: listed.path.clone(),
        size: listed.size,
        fetched: fetched.clone(),
        keep,
        stripes: Vec::new(),
        window: None,
    }
}

/// Most bytes of a remote ORC stripe fetched ahead at once. orc-rust asks for a stripe's
/// streams one after the other, in file order; a window serves the next ones from memory, so a
/// stripe takes a few requests instead of one per stream (a gap of unread columns inside the
/// window is fetched too: at most this much).
const READ_AHEAD: u64 = 8 << 20;

/// Ranged reads of one object for both readers: no whole-file download.
struct ObjectReader {
    store: Arc<dyn ObjectStore>,
    path: Path,
    size: u64,
    fetched: Fetched,
    keep: bool,
    /// ORC stripes' byte ranges, for the read-ahead of a remote file.
    stripes: Vec<Range<u64>>,
    /// The bytes last fetched ahead, from their offset.
    window: Option<(u64, Bytes)>,
}

impl ObjectReader {
    async fn read(&mut self, range: Range<u64>) -> std::io::Result<Bytes> {
        if range.end > self.size {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                format!("read of bytes {range:?} past the end of a {}-byte file", self.size),
            ));
        }
        // Readers ask for empty streams (an ORC column of only NULLs has an empty data stream);
        // object stores refuse empty ranges.
        if range.is_empty() {
            return Ok(Bytes::new());
        }
        if let Some(bytes) = self.fetched.get(&range) {
            return Ok(bytes);
        }
        if let Some((start, window)) = &self.window
            && range.start >= *start
            && range.end <= start + window.len() as u64
        {
            let offset = |at: u64| usize::try_from(at - start).unwrap_or(0);
            return Ok(window.slice(offset(range.start)..offset(range.end)));
        }
        let remote = self.fetched.0.is_some();
        if let Some(stripe) = self.stripes.iter().find(|stripe| remote && stripe.contains(&range.start)) {
            let end = stripe.end.min(range.start + READ_AHEAD).max(range.end).min(self.size);
            let bytes = self.store.get_range(&self.path, range.start..end).await.map_err(std::io::Error::other)?;
            let wanted = bytes.slice(0..usize::try_from(range.end - range.start).unwrap_or(0));
            self.window = Some((range.start, bytes));
            return Ok(wanted);
        }
        let start = range.start;
        let bytes = self.store.get_range(&self.path, range).await.map_err(std::io::Error::other)?;
        if self.keep {
            self.fetched.keep(start, bytes.clone());
        }
        Ok(bytes)
    }
}

impl AsyncFileReader for ObjectReader {
    fn get_bytes(&mut self, range: Range<u64>) -> BoxFuture<'_, parquet::errors::Result<Bytes>> {
        async move { self.read(range).await.map_err(|e| parquet::errors::ParquetError::External(Box::new(e))) }.boxed()
    }

    /// The column chunks of a row group in one call: object_store coalesces ranges less than
    /// 1 MiB apart and fetches the rest concurrently.
    fn get_byte_ranges(&mut self, ranges: Vec<Range<u64>>) -> BoxFuture<'_, parquet::errors::Result<Vec<Bytes>>> {
        async move {
            let cached: Option<Vec<Bytes>> = ranges.iter().map(|range| self.fetched.get(range)).collect();
            if let Some(cached) = cached {
                return Ok(cached);
            }
            let error = |e| parquet::errors::ParquetError::External(Box::new(e));
            if ranges.iter().any(|range| range.end > self.size) {
                return Err(error(object_store::Error::Generic {
                    store: "dqc",
                    source: format!("a read past the end of a {}-byte file", self.size).into(),
                }));
            }
            // Object stores refuse empty ranges (an ORC or Parquet column can have an empty one).
            let wanted: Vec<Range<u64>> = ranges.iter().filter(|range| !range.is_empty()).cloned().collect();
            let mut fetched = self.store.get_ranges(&self.path, &wanted).await.map_err(error)?.into_iter();
            Ok(ranges
                .iter()
                .map(|range| if range.is_empty() { Bytes::new() } else { fetched.next().unwrap_or_default() })
                .collect())
        }
        .boxed()
    }

    fn get_metadata<'a>(
        &'a mut self,
        options: Option<&'a ArrowReaderOptions>,
    ) -> BoxFuture<'a, parquet::errors::Result<Arc<ParquetMetaData>>> {
        async move {
            let size = self.size;
            let metadata = ParquetMetaDataReader::new()
                .with_arrow_reader_options(options)
                .load_and_finish(&mut *self, size)
                .await?;
            Ok(Arc::new(metadata))
        }
        .boxed()
    }
}

impl orc_rust::reader::AsyncChunkReader for ObjectReader {
    fn len(&mut self) -> BoxFuture<'_, std::io::Result<u64>> {
        let size = self.size;
        async move { Ok(size) }.boxed()
    }

    fn get_bytes(&mut self, offset: u64, length: u64) -> BoxFuture<'_, std::io::Result<Bytes>> {
        async move { self.read(offset..offset.saturating_add(length)).await }.boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_are_recognised_by_magic_bytes() {
        assert_eq!(detect(b"ORC\x0a"), Some(FileFormat::Orc));
        assert_eq!(detect(b"PAR1"), Some(FileFormat::Parquet));
        assert_eq!(detect(b"id,a"), None);
        assert_eq!(detect_tail(b"...footer...PAR1"), Some(FileFormat::Parquet));
        // A postscript of 6 bytes holding the magic, then its length.
        assert_eq!(detect_tail(b"footer\x08\x01ORC\x00\x00\x06"), Some(FileFormat::Orc));
        assert_eq!(detect_tail(b"id,a\n1,2\n"), None);
        assert_eq!(detect_tail(b""), None);
    }
}
