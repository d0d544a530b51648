//! From a dataset URI to the data files under it.
//!
//! A URI is a file, a directory tree or an object-store URL. Under a directory every file is
//! found recursively; hidden files and directories (names starting with `.` or `_`, such as
//! Spark's `_SUCCESS`, `.crc` checksums and `_temporary/`) are skipped; Hive partition
//! directories (`dt=2024-05-01/`) give each file its partition values. Files are returned in
//! path order so that every run sees them the same way.

use std::sync::Arc;

use futures::TryStreamExt;
use object_store::ObjectStore;
use object_store::ObjectStoreExt;
use object_store::local::LocalFileSystem;
use object_store::path::Path;

use crate::error::{Error, Result};
use crate::spec::{Roots, Side};

/// Hive's name for a NULL partition value.
const HIVE_NULL_PARTITION: &str = "__HIVE_DEFAULT_PARTITION__";

/// A data file found under a dataset's URI, before its format is known.
#[derive(Debug, Clone)]
pub(crate) struct ListedFile {
    /// Location in the store.
    pub(crate) path: Path,
    /// Size in bytes.
    pub(crate) size: u64,
    /// `(column, value)` from the Hive partition directories between the root and the file;
    /// `None` for Hive's NULL partition.
    pub(crate) partition: Vec<(String, Option<String>)>,
}

/// The store and the files of one dataset URI.
#[derive(Debug)]
pub(crate) struct Listing {
    pub(crate) store: Arc<dyn ObjectStore>,
    pub(crate) files: Vec<ListedFile>,
}

/// Finds the data files of `uri`; with `roots`, only if the location and the real path of every
/// file under it lie under them (see [`Confined`]).
pub(crate) async fn list(side: Side, uri: &str, roots: Option<&Roots>) -> Result<Listing> {
    let local_path = local_path(side, uri)?;
    let confined = roots.map(|roots| Confined::new(side, uri, roots, &local_path)).transpose()?;
    let metadata = std::fs::metadata(&local_path).map_err(|_| Error::LocationNotFound { side, uri: uri.to_owned() })?;
    let invalid = |reason: String| Error::InvalidLocation { side, uri: uri.to_owned(), reason };
    let absolute = std::fs::canonicalize(&local_path).map_err(|e| invalid(e.to_string()))?;
    if let Some(confined) = &confined {
        confined.check_real(&absolute)?;
    }
    let root = Path::from_filesystem_path(&absolute).map_err(|e| invalid(e.to_string()))?;
    let local = LocalFileSystem::new();
    let files = if metadata.is_file() {
        let meta = local.head(&root).await.map_err(|source| Error::ObjectStore { side, source })?;
        vec![ListedFile { path: meta.location, size: meta.size, partition: Vec::new() }]
    } else {
        list_directory(side, &local, &root).await?
    };
    if let Some(confined) = &confined {
        for file in &files {
            let path = local.path_to_filesystem(&file.path).map_err(|source| Error::ObjectStore { side, source })?;
            let real = std::fs::canonicalize(&path).map_err(|e| invalid(e.to_string()))?;
            confined.check_real(&real)?;
        }
    }
    Ok(Listing { store: Arc::new(local), files })
}

/// A location checked against its side's roots.
///
/// First lexically, touching no file, so that the refusal is the same whether the path exists
/// or not: absolute, no `.` or `..` segment, under a root as written. Then each real path (the
/// location's and, while listing, every file's, symbolic links resolved) must lie under a root's
/// real path: a link that leads outside is refused before anything is read through it.
struct Confined<'a> {
    side: Side,
    uri: &'a str,
    rule: &'a str,
    real_roots: Vec<std::path::PathBuf>,
}

impl<'a> Confined<'a> {
    fn new(side: Side, uri: &'a str, roots: &'a Roots, path: &std::path::Path) -> Result<Self> {
        let confined = Self { side, uri, rule: &roots.rule, real_roots: Vec::new() };
        let given: Vec<std::path::PathBuf> =
            roots.directories.iter().filter_map(|root| local_file(root).ok()).collect();
        let dotted = path.to_str().is_none_or(|text| text.split('/').any(|segment| segment == "." || segment == ".."));
        if !path.is_absolute() || dotted || !given.iter().any(|root| root.is_absolute() && path.starts_with(root)) {
            return Err(confined.refuse(format!("it is not under {}", roots.rule)));
        }
        let real_roots = given.iter().filter_map(|root| std::fs::canonicalize(root).ok()).collect();
        Ok(Self { real_roots, ..confined })
    }

    fn check_real(&self, real: &std::path::Path) -> Result<()> {
        if self.real_roots.iter().any(|root| real.starts_with(root)) {
            Ok(())
        } else {
            Err(self.refuse(format!("a symbolic link under it leads outside {}", self.rule)))
        }
    }

    fn refuse(&self, reason: String) -> Error {
        Error::OutsideRoots { side: self.side, uri: self.uri.to_owned(), reason }
    }
}

/// Maps a URI to a local path: plain paths and `file://` URLs. Other schemes have no store
/// built in yet; they are refused by name rather than misread as paths.
fn local_path(side: Side, uri: &str) -> Result<std::path::PathBuf> {
    local_file(uri).map_err(|reason| Error::InvalidLocation { side, uri: uri.to_owned(), reason })
}

/// The local path a dataset URI is read from (a plain path, or a `file://` URL with no host
/// other than `localhost`, percent-decoded), or why it is not local. Callers that vet
/// locations before a diff (the service's allowed roots) read them exactly as the diff will.
pub fn local_file(uri: &str) -> std::result::Result<std::path::PathBuf, String> {
    if uri.is_empty() {
        return Err("the location is empty".to_owned());
    }
    match uri.split_once("://") {
        None => Ok(std::path::PathBuf::from(uri)),
        Some(("file", _)) => url::Url::parse(uri)
            .map_err(|e| e.to_string())?
            .to_file_path()
            .map_err(|()| "not a local file URL".to_owned()),
        Some((scheme, _)) => Err(format!(
            "no object store for the `{scheme}` scheme is built into this dqc (supported: local \
             paths and file:// URLs)"
        )),
    }
}

async fn list_directory(side: Side, store: &LocalFileSystem, root: &Path) -> Result<Vec<ListedFile>> {
    let metas: Vec<_> =
        store.list(Some(root)).try_collect().await.map_err(|source| Error::ObjectStore { side, source })?;
    let mut files = Vec::new();
    for meta in metas {
        let Some(parts) = meta.location.prefix_match(root) else { continue };
        let parts: Vec<String> = parts.map(|p| p.as_ref().to_owned()).collect();
        if parts.iter().any(|p| is_hidden(p)) {
            continue;
        }
        let directories = &parts[..parts.len().saturating_sub(1)];
        let partition = directories.iter().filter_map(|d| partition_value(d)).collect();
        files.push(ListedFile { path: meta.location, size: meta.size, partition });
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(files)
}

/// Hidden files and directories, by the Hadoop convention.
fn is_hidden(name: &str) -> bool {
    name.starts_with('.') || name.starts_with('_')
}

/// `dt=2024-05-01` -> `("dt", Some("2024-05-01"))`, with Hive's `%XX` escapes decoded.
fn partition_value(directory: &str) -> Option<(String, Option<String>)> {
    let (name, value) = directory.split_once('=')?;
    if name.is_empty() {
        return None;
    }
    let value = percent_decode(value);
    let value = (value != HIVE_NULL_PARTITION).then_some(value);
    Some((percent_decode(name), value))
}

/// Decodes `%XX` escapes (Hive escapes `/`, `=`, `:`, `%` and others in partition values).
/// Invalid escapes are kept as they are.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| text.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(byte) => {
                out.push(byte);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_directories_are_parsed_and_unescaped() {
        assert_eq!(partition_value("dt=2024-05-01"), Some(("dt".into(), Some("2024-05-01".into()))));
        assert_eq!(partition_value("ts=2024-05-01 10%3A00"), Some(("ts".into(), Some("2024-05-01 10:00".into()))));
        assert_eq!(partition_value("dt=__HIVE_DEFAULT_PARTITION__"), Some(("dt".into(), None)));
        assert_eq!(partition_value("plain"), None);
        assert_eq!(partition_value("=x"), None);
        assert_eq!(percent_decode("100%"), "100%");
    }

    #[test]
    fn hadoop_hidden_names_are_hidden() {
        assert!(is_hidden("_SUCCESS"));
        assert!(is_hidden(".part-0.crc"));
        assert!(is_hidden("_temporary"));
        assert!(!is_hidden("000000_0"));
        assert!(!is_hidden("part-00000.orc"));
    }

    #[test]
    fn remote_schemes_are_refused_by_name() {
        let error = local_path(Side::Baseline, "s3://bucket/t").unwrap_err();
        assert!(error.to_string().contains("`s3` scheme"), "{error}");
    }
}
