//! From a dataset URI to the data files under it.
//!
//! A URI is a file, a directory tree or an object-store URL. Under a directory every file is
//! found recursively; hidden files and directories (names starting with `.` or `_`, such as
//! Spark's `_SUCCESS`, `.crc` checksums and `_temporary/`) are skipped; Hive partition
//! directories (`dt=2024-05-01/`) give each file its partition values. Files are returned in
//! path order so that every run sees them the same way.

use std::sync::Arc;

use futures::{StreamExt, TryStreamExt};
use object_store::ObjectStore;
use object_store::ObjectStoreExt;
use object_store::local::LocalFileSystem;
use object_store::path::Path;

use super::storage::{Located, Stores};
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
    /// The store is remote: requests cost a round trip.
    pub(crate) remote: bool,
    /// The location's path in the store (a directory's, or the file's).
    pub(crate) root: Path,
}

/// Finds the data files of `uri`, in its store; with `roots`, only if the location (and, on the
/// local file system, the real path of every file under it) lies under them (see [`Confined`]).
pub(crate) async fn list(side: Side, uri: &str, roots: Option<&Roots>, stores: &Stores) -> Result<Listing> {
    match stores.locate(side, uri)? {
        Some(located) => list_remote(side, uri, located, roots).await,
        None => list_local(side, uri, roots).await,
    }
}

/// A remote location's files: everything under its path, or the one object at it.
async fn list_remote(side: Side, uri: &str, located: Located, roots: Option<&Roots>) -> Result<Listing> {
    if let Some(roots) = roots {
        check_url(side, uri, roots)?;
    }
    let Located { store, path } = located;
    let mut files = list_directory(side, uri, store.as_ref(), &path).await?;
    if files.is_empty() && !path.as_ref().is_empty() {
        match store.head(&path).await {
            Ok(meta) => files.push(ListedFile { path: meta.location, size: meta.size, partition: Vec::new() }),
            Err(object_store::Error::NotFound { .. }) => {}
            Err(error) => return Err(store_error(side, uri, error)),
        }
    }
    if files.is_empty() {
        return Err(Error::LocationNotFound { side, uri: uri.to_owned() });
    }
    Ok(Listing { store, files, remote: true, root: path })
}

/// The error of a store call for `uri`, by fault: a missing path or bucket and a refused
/// credential are the input's; anything else (a timeout, a server error) is a failure at run
/// time, which a service retries.
pub(crate) fn store_error(side: Side, uri: &str, error: object_store::Error) -> Error {
    // A missing bucket or container comes as a generic error with the store's own code.
    let text = error.to_string();
    if ["NoSuchBucket", "ContainerNotFound", "The specified bucket does not exist"]
        .iter()
        .any(|code| text.contains(code))
    {
        let bucket = uri.split_once("://").map_or("", |(_, rest)| rest.split('/').next().unwrap_or_default());
        return Error::InvalidLocation {
            side,
            uri: uri.to_owned(),
            reason: format!("the bucket `{bucket}` does not exist"),
        };
    }
    // Without keys, the S3 client asks the cloud's instance metadata service for some.
    if text.contains("169.254.169.254") {
        return Error::InvalidLocation {
            side,
            uri: uri.to_owned(),
            reason: "no credentials for its store (the CLI reads the store's standard environment variables, \
                     e.g. AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY; the service [clusters.storage]), and no \
                     instance metadata service gave any"
                .to_owned(),
        };
    }
    // A refused credential also comes as a generic error (a list request's 403), with the
    // store's code.
    const REFUSALS: [&str; 7] = [
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "AccessDenied",
        "AuthenticationFailed",
        "AuthorizationFailure",
        "403 Forbidden",
        "401 Unauthorized",
    ];
    if REFUSALS.iter().any(|code| text.contains(code)) {
        return Error::AccessDenied { side, uri: uri.to_owned(), source: error };
    }
    match error {
        object_store::Error::NotFound { .. } => Error::LocationNotFound { side, uri: uri.to_owned() },
        object_store::Error::PermissionDenied { .. } | object_store::Error::Unauthenticated { .. } => {
            Error::AccessDenied { side, uri: uri.to_owned(), source: error }
        }
        source => Error::ObjectStore { side, source },
    }
}

/// A remote location checked against its side's roots, lexically: the same scheme and bucket
/// (or host, or name service), and the root's path segments first. The location's path is
/// already free of `.` and `..` segments ([`Path::parse`] refuses them), and a remote store has
/// no symbolic links.
fn check_url(side: Side, uri: &str, roots: &Roots) -> Result<()> {
    if remote_under(uri, &roots.directories) {
        Ok(())
    } else {
        Err(Error::OutsideRoots { side, uri: uri.to_owned(), reason: format!("it is not under {}", roots.rule) })
    }
}

/// True when the remote location `uri` lies under one of `roots`, lexically: the same scheme and
/// bucket (or container, host, name service), the root's path segments first, and no `.` or
/// `..` segment. Local roots and locations never match.
pub fn remote_under(uri: &str, roots: &[String]) -> bool {
    let segments = |url: &str| -> Option<(String, Vec<String>)> {
        let (scheme, rest) = url.split_once("://")?;
        if scheme == "file" {
            return None;
        }
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        let path = path.split(['?', '#']).next().unwrap_or_default();
        Some((
            format!("{scheme}://{authority}"),
            path.split('/').filter(|s| !s.is_empty()).map(str::to_owned).collect(),
        ))
    };
    let Some((store, path)) = segments(uri) else { return false };
    if path.iter().any(|segment| segment == "." || segment == "..") {
        return false;
    }
    roots
        .iter()
        .filter_map(|root| segments(root))
        .any(|(root_store, root_path)| root_store == store && path.starts_with(&root_path))
}

/// A local location's files, each real path checked against `roots`.
async fn list_local(side: Side, uri: &str, roots: Option<&Roots>) -> Result<Listing> {
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
        list_directory(side, uri, &local, &root).await?
    };
    if let Some(confined) = &confined {
        for file in &files {
            let path = local.path_to_filesystem(&file.path).map_err(|source| Error::ObjectStore { side, source })?;
            let real = std::fs::canonicalize(&path).map_err(|e| invalid(e.to_string()))?;
            confined.check_real(&real)?;
        }
    }
    Ok(Listing { store: Arc::new(local), files, remote: false, root })
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

/// Partition directories listed at once on a remote store.
const LIST_CONCURRENCY: usize = 8;

async fn list_directory(side: Side, uri: &str, store: &dyn ObjectStore, root: &Path) -> Result<Vec<ListedFile>> {
    let metas = list_objects(store, root).await.map_err(|error| store_error(side, uri, error))?;
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

/// Every object under `root`: the objects directly under it, then each of its directories (a
/// table's partitions) listed side by side, each with its own pages (a listing is a sequence of
/// pages); hidden directories are not listed at all. A directory without subdirectories takes
/// one listing.
async fn list_objects(store: &dyn ObjectStore, root: &Path) -> object_store::Result<Vec<object_store::ObjectMeta>> {
    let top = store.list_with_delimiter(Some(root)).await?;
    let directories = top.common_prefixes.into_iter().filter(|prefix| {
        prefix.prefix_match(root).and_then(|mut parts| parts.next()).is_some_and(|name| !is_hidden(name.as_ref()))
    });
    let nested: Vec<Vec<object_store::ObjectMeta>> = futures::stream::iter(directories)
        .map(|directory| async move { store.list(Some(&directory)).try_collect::<Vec<_>>().await })
        .buffer_unordered(LIST_CONCURRENCY)
        .try_collect()
        .await?;
    Ok(top.objects.into_iter().chain(nested.into_iter().flatten()).collect())
}

/// Hidden files and directories, by the Hadoop convention.
fn is_hidden(name: &str) -> bool {
    name.starts_with('.') || name.starts_with('_')
}

/// `dt=2024-05-01` -> `("dt", Some("2024-05-01"))`, with Hive's `%XX` escapes decoded.
pub(crate) fn partition_value(directory: &str) -> Option<(String, Option<String>)> {
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
    fn remote_locations_are_confined_lexically() {
        let roots = Roots { directories: vec!["s3://wh/warehouse".into(), "/data".into()], rule: "the roots".into() };
        for inside in ["s3://wh/warehouse", "s3://wh/warehouse/db/t/dt=1"] {
            assert!(check_url(Side::Baseline, inside, &roots).is_ok(), "{inside}");
        }
        for outside in
            ["s3://wh/warehouse2/t", "s3://other/warehouse/t", "s3a://wh/warehouse/t", "s3://wh/", "file:///data/t"]
        {
            let error = check_url(Side::Baseline, outside, &roots).unwrap_err().to_string();
            assert!(error.contains("is refused: it is not under the roots"), "{outside}: {error}");
        }
    }
}
