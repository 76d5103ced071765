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

/// Writes `bytes` to `path` atomically: a temporary file in the same folder, flushed to disk,
/// then renamed over `path`. A crash leaves either the old file or the new one, never half.
///
/// # Errors
/// [`Error::Io`] naming the path that failed.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let io = |p: &Path| {
        let p = p.to_path_buf();
        move |source| Error::Io { path: p, source }
    };
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{file_name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp).map_err(io(&tmp))?;
        f.write_all(bytes).map_err(io(&tmp))?;
        f.sync_all().map_err(io(&tmp))?;
        std::fs::rename(&tmp, path).map_err(io(path))
    })();
    if result.is_err() {
        // Best effort: the temporary file is garbage whatever happened.
        let _ = std::fs::remove_file(&tmp);
    }
    result
}
