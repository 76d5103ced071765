//! Downloading data set files from public mirrors (the `download` feature).

use std::io::Read;
use std::path::Path;

use crate::cache::write_atomic;
use crate::error::{Error, Result};
use crate::idx::{read_maybe_gz, sha256_hex};
use crate::mnist::FileSpec;

/// Largest file accepted from a mirror (MNIST's largest is under 10 MB compressed).
const MAX_BYTES: u64 = 256 * 1024 * 1024;

/// Downloads `spec.name` from the first mirror that serves it with the right content, and writes
/// it to `target` atomically. Nothing is written unless the checksum matches.
///
/// # Errors
/// [`Error::Download`] with the last mirror's error, or [`Error::Io`] when writing fails.
pub fn fetch_verified(spec: &FileSpec, mirrors: &[&str], target: &Path) -> Result<()> {
    let mut last: Option<(String, Box<dyn std::error::Error + Send + Sync>)> = None;
    for mirror in mirrors {
        let url = format!("{mirror}{}", spec.name);
        match fetch(&url) {
            Ok(bytes) => {
                // Verify the decompressed content before anything reaches the cache.
                let tmp_dir = tempdir_for(target);
                let probe = tmp_dir.join(format!(".{}.{}.probe", spec.name, std::process::id()));
                write_atomic(&probe, &bytes)?;
                let verdict = read_maybe_gz(&probe).map(|content| sha256_hex(&content));
                let _ = std::fs::remove_file(&probe);
                match verdict {
                    Ok(sum) if sum == spec.sha256 => return write_atomic(target, &bytes),
                    Ok(sum) => {
                        last = Some((
                            url,
                            format!("checksum {sum} differs from {}", spec.sha256).into(),
                        ))
                    }
                    Err(e) => last = Some((url, Box::new(e))),
                }
            }
            Err(e) => last = Some((url, e)),
        }
    }
    let (url, source) = last.unwrap_or_else(|| (String::new(), "no mirror configured".into()));
    Err(Error::Download {
        file: spec.name.to_string(),
        url,
        source,
    })
}

fn tempdir_for(target: &Path) -> std::path::PathBuf {
    target
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| ".".into())
}

fn fetch(url: &str) -> std::result::Result<Vec<u8>, Box<dyn std::error::Error + Send + Sync>> {
    let response = ureq::get(url).call()?;
    let mut bytes = Vec::new();
    response
        .into_body()
        .into_reader()
        .take(MAX_BYTES)
        .read_to_end(&mut bytes)?;
    Ok(bytes)
}
