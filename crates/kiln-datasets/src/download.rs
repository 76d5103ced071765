//! Downloading data set files from public mirrors (the `download` feature): MNIST's files,
//! checked by their decompressed content ([`fetch_verified`]), and Keras's, checked as
//! downloaded ([`fetch_file`]).

use std::io::Read;
use std::path::Path;

use crate::cache::write_atomic;
use crate::error::{Error, Result};
use crate::idx::{read_maybe_gz, sha256_hex};
use crate::mnist::FileSpec;
use crate::remote::FileHash;

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

/// Downloads `url` and writes it to `target` atomically, once it is whole (the size the server
/// announced) and has the hash `hash`; returns its bytes. A file over `limit` bytes is refused
/// (before anything is read when the server announces its size). Nothing is written on any
/// error.
///
/// # Errors
/// [`Error::HttpStatus`] for an HTTP error status (404 for a missing file),
/// [`Error::TransferTruncated`] when the connection closes early, [`Error::TooLarge`],
/// [`Error::HashMismatch`], [`Error::Download`] for other transport errors, [`Error::Io`] when
/// writing fails.
pub fn fetch_file(url: &str, hash: &FileHash, target: &Path, limit: u64) -> Result<Vec<u8>> {
    let transport = |source: Box<dyn std::error::Error + Send + Sync>| Error::Download {
        file: target
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
        url: url.to_string(),
        source,
    };
    // Ask for the bytes as stored: the hash is of the file itself, not of a re-encoding.
    let response = match ureq::get(url).header("Accept-Encoding", "identity").call() {
        Ok(r) => r,
        Err(ureq::Error::StatusCode(status)) => {
            return Err(Error::HttpStatus {
                url: url.to_string(),
                status,
            });
        }
        Err(e) => return Err(transport(Box::new(e))),
    };
    let announced = response.body().content_length();
    if let Some(size) = announced.filter(|&n| n > limit) {
        return Err(Error::TooLarge {
            what: url.to_string(),
            size,
            limit,
        });
    }
    // Grown as bytes arrive; the announced size only bounds the first allocation.
    let mut bytes = Vec::with_capacity(announced.unwrap_or(0).min(16 << 20) as usize);
    let read = response
        .into_body()
        .into_reader()
        .take(limit.saturating_add(1))
        .read_to_end(&mut bytes);
    let received = bytes.len() as u64;
    if let Err(e) = read {
        return Err(match announced {
            Some(expected) if received < expected => Error::TransferTruncated {
                url: url.to_string(),
                expected,
                received,
                source: Some(Box::new(e)),
            },
            _ => transport(Box::new(e)),
        });
    }
    if received > limit {
        return Err(Error::TooLarge {
            what: url.to_string(),
            size: received,
            limit,
        });
    }
    if let Some(expected) = announced.filter(|&n| n != received) {
        return Err(Error::TransferTruncated {
            url: url.to_string(),
            expected,
            received,
            source: None,
        });
    }
    hash.verify(target, Some(url), &bytes)?;
    write_atomic(target, &bytes)?;
    Ok(bytes)
}
