//! Where data set files are looked for, and atomic writes into the cache.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Environment variable naming a folder that holds data set files (checked first).
pub const DATA_DIR_ENV: &str = "KILN_DATA_DIR";

/// The folders searched for the files of data set `name`, in order:
/// `$KILN_DATA_DIR/<name>` (and `$KILN_DATA_DIR` itself), then the user cache
/// (`$XDG_CACHE_HOME/kiln/datasets/<name>` or `~/.cache/kiln/datasets/<name>`).
pub fn search_dirs(name: &str) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(dir) = std::env::var_os(DATA_DIR_ENV).filter(|d| !d.is_empty()) {
        let dir = PathBuf::from(dir);
        dirs.push(dir.join(name));
        dirs.push(dir);
    }
    if let Some(cache) = cache_dir() {
        dirs.push(cache.join(name));
    }
    dirs
}

/// The user cache folder for data sets: `$XDG_CACHE_HOME/kiln/datasets` or
/// `~/.cache/kiln/datasets`; `None` when neither variable is set.
pub fn cache_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|d| !d.is_empty())
                .map(|h| PathBuf::from(h).join(".cache"))
        })?;
    Some(base.join("kiln").join("datasets"))
}

/// The name stem of `path`'s temporary files: `.<file name>.kiln-tmp-`.
fn temp_prefix(path: &Path) -> String {
    let name = path
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    format!(".{name}.kiln-tmp-")
}

/// Removes what an interrupted write to the same path left (best effort).
fn remove_stale(dir: &Path, prefix: &str) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_name().to_string_lossy().starts_with(prefix) {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
}

/// Writes `bytes` to `path` atomically: a temporary file in the same folder
/// (`.<name>.kiln-tmp-XXXXXX`), flushed to disk, then renamed over `path`. A crash leaves either
/// the old file or the new one, never half; the next write to the same path removes the
/// temporary file a killed write left behind.
///
/// # Errors
/// [`Error::Io`] naming the path that failed.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir).map_err(io)?;
    let prefix = temp_prefix(path);
    remove_stale(dir, &prefix);
    let mut tmp = tempfile::Builder::new()
        .prefix(&prefix)
        .tempfile_in(dir)
        .map_err(io)?;
    tmp.write_all(bytes).map_err(io)?;
    tmp.as_file().sync_all().map_err(io)?;
    tmp.persist(path).map_err(|e| io(e.error))?;
    Ok(())
}
