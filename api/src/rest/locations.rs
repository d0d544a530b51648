//! Explicit locations in `POST /diffs`: only datasets inside `api.allowed_roots`.
//!
//! A location in an object store (`s3://bucket/dir`) is allowed when it lies lexically under a
//! root in the same store ([`verifier::remote_under`]: same scheme and bucket, the root's path
//! segments first, no `.` or `..`); the diff checks it again while listing. A local location:
//!
//! The checks, in order; the first ones touch no file:
//! 1. the location is a plain absolute path or a `file://` URL (percent-decoded, so `%2e%2e`
//!    is `..`); other schemes are outside every root;
//! 2. no `.` or `..` component;
//! 3. lexically under an allowed root;
//! 4. it exists, and its canonical path (symbolic links resolved) is still under a root;
//! 5. no symbolic link inside the dataset leads outside the roots.
//!
//! The job then reads the canonical path, not the one given.

use std::path::{Component, Path, PathBuf};

use super::ApiError;

/// Most entries looked at under a dataset for symbolic links.
const MAX_ENTRIES: usize = 100_000;

/// The canonical location to read, or why not.
pub(super) fn check(roots: &[String], location: &str) -> Result<String, ApiError> {
    let forbidden = |why: &str| ApiError::forbidden(format!("location `{location}` {why}"));
    if roots.is_empty() {
        return Err(forbidden(
            "is refused: no api.allowed_roots are configured, so only registered tables can be diffed",
        ));
    }
    if location.contains("://") && !location.starts_with("file://") {
        return if verifier::remote_under(location, roots) {
            Ok(location.to_owned())
        } else {
            Err(forbidden("is outside the allowed roots"))
        };
    }
    let path =
        local_path(location).ok_or_else(|| forbidden("is not a local path or file:// URL under an allowed root"))?;
    if !path.is_absolute() {
        return Err(forbidden("is not an absolute path"));
    }
    // `components()` drops inner `.` segments, so the text is checked too.
    let dotted = path.to_str().is_none_or(|text| text.split('/').any(|segment| segment == "." || segment == ".."));
    if dotted || path.components().any(|part| matches!(part, Component::ParentDir | Component::CurDir)) {
        return Err(forbidden("contains `.` or `..`"));
    }
    let given_roots: Vec<PathBuf> = roots.iter().filter_map(|root| local_path(root)).collect();
    if !given_roots.iter().any(|root| path.starts_with(root)) {
        return Err(forbidden("is outside the allowed roots"));
    }
    let canonical = std::fs::canonicalize(&path)
        .map_err(|error| ApiError::invalid(format!("location `{location}` cannot be read: {error}")))?;
    let canonical_roots: Vec<PathBuf> =
        given_roots.iter().filter_map(|root| std::fs::canonicalize(root).ok()).collect();
    let inside = |path: &Path| canonical_roots.iter().any(|root| path.starts_with(root));
    if !inside(&canonical) {
        return Err(forbidden("leads outside the allowed roots through a symbolic link"));
    }
    escaping_link(&canonical, &inside).map_err(|why| forbidden(&why))?;
    Ok(canonical.display().to_string())
}

/// The path the diff would read `location` from ([`verifier::local_file`]), if it is local.
fn local_path(location: &str) -> Option<PathBuf> {
    verifier::local_file(location).ok()
}

/// Fails on the first symbolic link under `root` whose target is not `inside` (or cannot be
/// resolved), and on a tree too large to check.
fn escaping_link(root: &Path, inside: &dyn Fn(&Path) -> bool) -> Result<(), String> {
    let mut pending = vec![root.to_path_buf()];
    let mut seen = 0;
    while let Some(directory) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&directory) else { continue };
        for entry in entries.flatten() {
            seen += 1;
            if seen > MAX_ENTRIES {
                return Err(format!("holds more than {MAX_ENTRIES} files and directories, too many to check"));
            }
            let path = entry.path();
            let Ok(kind) = entry.file_type() else { continue };
            if kind.is_symlink() {
                match std::fs::canonicalize(&path) {
                    Ok(target) if inside(&target) => {}
                    _ => {
                        return Err(format!(
                            "holds a symbolic link `{}` that leads outside the allowed roots",
                            path.display()
                        ));
                    }
                }
            } else if kind.is_dir() {
                pending.push(path);
            }
        }
    }
    Ok(())
}
