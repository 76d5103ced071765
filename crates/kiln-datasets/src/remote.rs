//! Where the files of Keras's data sets come from: found in a data or cache folder, or
//! downloaded once from Keras's address (or a mirror), checked against Keras's hash, and
//! written to the cache atomically.
//!
//! Each loader names its files as [`KerasFile`]s: the file name, the folder Keras downloads
//! it from, and Keras's `file_hash` (SHA-256, or MD5 for the word indexes, told apart by
//! length as Keras's `hash_algorithm="auto"` does; Fashion-MNIST has none). As in Keras, the
//! hash is of the file as downloaded (the compressed archive). A [`Source`] says where to look
//! and where to download from; [`Source::new`] is Keras's behaviour:
//!
//! 1. look in `$KILN_DATA_DIR/<data set>`, then `$KILN_DATA_DIR` itself (only for files with a
//!    hash, so that an unrelated file of the same name is never taken), then the user cache
//!    `<cache>/<data set>` ([`crate::cache_dir`]);
//! 2. otherwise download `<origin><file name>` into the user cache, where `<origin>` is
//!    `$KILN_DATASETS_ORIGIN` ([`ORIGIN_ENV`]) when set, else Keras's own address.
//!
//! A file found with the wrong hash is an error, except in the download folder, where it is
//! downloaded again (Keras re-downloads an outdated cached file). A download is checked before
//! anything is written: a wrong hash, a cut transfer or an HTTP error leaves the cache as it
//! was.
//!
//! # Examples
//! ```no_run
//! use kiln_datasets::remote::{FileHash, Source};
//! use kiln_datasets::imdb;
//!
//! // A mirror holding Keras's files, cached in a folder of one's own.
//! let source = Source::new()
//!     .origin("http://mirror.example/keras-datasets/")
//!     .cache_dir("/tmp/kiln-cache");
//! let ((x_train, y_train), _) = imdb::load_data_with(&imdb::LoadOptions::new().source(source))?;
//! # let _ = (x_train, y_train);
//!
//! // Files of one's own making, with their own hash.
//! let mine = Source::new()
//!     .origin("http://127.0.0.1:8000/")
//!     .file_hash("imdb.npz", FileHash::Sha256("0123…".into()));
//! # let _ = mine;
//! # Ok::<(), kiln_datasets::Error>(())
//! ```

use std::path::{Path, PathBuf};

use md5::Md5;
use sha2::{Digest, Sha256};

use crate::cache::{DATA_DIR_ENV, cache_dir};
use crate::error::{Error, Result};

/// Environment variable naming a base URL that replaces Keras's download addresses for every
/// data set (a mirror serving Keras's files under their names, e.g. `http://host/datasets/`).
pub const ORIGIN_ENV: &str = "KILN_DATASETS_ORIGIN";

/// The largest file downloaded or read (CIFAR-100's archive, the largest, is 169 MB).
pub const MAX_FILE_BYTES: u64 = 1 << 30;

/// The folder Keras downloads most of its data sets from.
pub const KERAS_ORIGIN: &str = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/";

/// One file of a Keras data set, as Keras's `get_file` is called for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KerasFile {
    /// The file's name, as served and as cached.
    pub name: &'static str,
    /// The folder Keras downloads it from (ends with `/`).
    pub origin: &'static str,
    /// Keras's `file_hash` (hex SHA-256, or MD5 when 32 digits); `None` where Keras checks
    /// nothing.
    pub file_hash: Option<&'static str>,
}

impl KerasFile {
    /// Keras's address of the file: `origin` followed by `name`.
    pub fn url(&self) -> String {
        join_url(self.origin, self.name)
    }

    /// Keras's hash, as a [`FileHash`].
    pub fn hash(&self) -> FileHash {
        self.file_hash.map_or(FileHash::Unchecked, FileHash::keras)
    }
}

fn join_url(base: &str, name: &str) -> String {
    if base.ends_with('/') {
        format!("{base}{name}")
    } else {
        format!("{base}/{name}")
    }
}

/// How a file is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileHash {
    /// Lowercase hex SHA-256 of the whole file.
    Sha256(String),
    /// Lowercase hex MD5 of the whole file (Keras's legacy hashes).
    Md5(String),
    /// Not checked (Keras gives no hash).
    Unchecked,
}

impl FileHash {
    /// Keras's `file_hash` with `hash_algorithm="auto"`: 64 hex digits are SHA-256, anything
    /// else MD5.
    pub fn keras(file_hash: &str) -> Self {
        let h = file_hash.to_ascii_lowercase();
        if h.len() == 64 {
            Self::Sha256(h)
        } else {
            Self::Md5(h)
        }
    }

    /// The SHA-256 of `bytes`: what a test serving its own files expects.
    pub fn sha256_of(bytes: &[u8]) -> Self {
        Self::Sha256(hex::encode(Sha256::digest(bytes)))
    }

    /// `"sha256"`, `"md5"`, or `None` when unchecked.
    pub fn algorithm(&self) -> Option<&'static str> {
        match self {
            Self::Sha256(_) => Some("sha256"),
            Self::Md5(_) => Some("md5"),
            Self::Unchecked => None,
        }
    }

    /// Checks `bytes`, the content of `path` (downloaded from `url` when given).
    ///
    /// # Errors
    /// [`Error::HashMismatch`] naming the file, both hashes and the address.
    pub fn verify(&self, path: &Path, url: Option<&str>, bytes: &[u8]) -> Result<()> {
        let (algorithm, expected, actual) = match self {
            Self::Unchecked => return Ok(()),
            Self::Sha256(e) => ("sha256", e, hex::encode(Sha256::digest(bytes))),
            Self::Md5(e) => ("md5", e, hex::encode(Md5::digest(bytes))),
        };
        if actual == expected.to_ascii_lowercase() {
            return Ok(());
        }
        Err(Error::HashMismatch {
            path: path.to_path_buf(),
            url: url.map(str::to_string),
            algorithm,
            expected: expected.clone(),
            actual,
        })
    }
}

/// A file located or downloaded by [`Source::fetch`], with its (checked) content.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// Where it is.
    pub path: PathBuf,
    /// Its bytes, as checked against the hash.
    pub bytes: Vec<u8>,
}

/// Where data set files are looked for, downloaded from, and how they are checked.
///
/// The default ([`Source::new`]) is Keras's behaviour described in [the module](self).
#[derive(Debug, Clone, Default)]
pub struct Source {
    origin: Option<String>,
    cache_dir: Option<PathBuf>,
    hashes: Vec<(String, FileHash)>,
    offline: bool,
}

impl Source {
    /// Keras's addresses and hashes, the Kiln data and cache folders, downloads allowed.
    pub fn new() -> Self {
        Self::default()
    }

    /// Downloads from `base_url` (a folder: the file name is appended) instead of Keras's
    /// address or `$KILN_DATASETS_ORIGIN`.
    pub fn origin(mut self, base_url: impl Into<String>) -> Self {
        self.origin = Some(base_url.into());
        self
    }

    /// Looks for files in `dir` only, and downloads into it (instead of the data and cache
    /// folders).
    pub fn cache_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cache_dir = Some(dir.into());
        self
    }

    /// Checks the file named `file_name` against `hash` instead of Keras's hash (for files of
    /// one's own; [`FileHash::Unchecked`] turns the check off).
    pub fn file_hash(mut self, file_name: impl Into<String>, hash: FileHash) -> Self {
        let name = file_name.into();
        self.hashes.retain(|(n, _)| *n != name);
        self.hashes.push((name, hash));
        self
    }

    /// Never downloads: a file missing from the folders is [`Error::NotFound`].
    pub fn offline(mut self) -> Self {
        self.offline = true;
        self
    }

    /// The address `file` is downloaded from: [`Source::origin`], else `$KILN_DATASETS_ORIGIN`,
    /// else Keras's.
    pub fn url(&self, file: &KerasFile) -> String {
        let env = std::env::var(ORIGIN_ENV).ok().filter(|o| !o.is_empty());
        match self.origin.as_deref().or(env.as_deref()) {
            Some(base) => join_url(base, file.name),
            None => file.url(),
        }
    }

    /// The hash `file` is checked against: the one given with [`Source::file_hash`], else
    /// Keras's.
    pub fn hash(&self, file: &KerasFile) -> FileHash {
        self.hashes
            .iter()
            .find(|(n, _)| n == file.name)
            .map_or_else(|| file.hash(), |(_, h)| h.clone())
    }

    /// The folders searched for `file` of data set `dataset`, in order, and the one downloads
    /// go to (`None` when there is no cache folder).
    pub fn folders(&self, dataset: &str, file: &KerasFile) -> (Vec<PathBuf>, Option<PathBuf>) {
        if let Some(dir) = &self.cache_dir {
            return (vec![dir.clone()], Some(dir.clone()));
        }
        let mut dirs = Vec::new();
        if let Some(dir) = std::env::var_os(DATA_DIR_ENV).filter(|d| !d.is_empty()) {
            let dir = PathBuf::from(dir);
            dirs.push(dir.join(dataset));
            if self.hash(file) != FileHash::Unchecked {
                dirs.push(dir);
            }
        }
        let cache = cache_dir().map(|c| c.join(dataset));
        dirs.extend(cache.clone());
        (dirs, cache)
    }

    /// Locates `file` of data set `dataset` in the folders, or downloads it, and returns it
    /// checked.
    ///
    /// # Errors
    /// [`Error::HashMismatch`] for a file with the wrong hash (found outside the download
    /// folder, or downloaded), [`Error::HttpStatus`], [`Error::TransferTruncated`],
    /// [`Error::TooLarge`] or [`Error::Download`] for a failed download, [`Error::NotFound`]
    /// when offline (or without the `download` feature), [`Error::NotAFile`] for a folder in
    /// the file's place, [`Error::Io`] when reading or writing fails.
    pub fn fetch(&self, dataset: &str, file: &KerasFile) -> Result<Fetched> {
        let hash = self.hash(file);
        let (dirs, download_dir) = self.folders(dataset, file);
        for dir in &dirs {
            let path = dir.join(file.name);
            if path.is_dir() {
                return Err(Error::NotAFile { path });
            }
            if !path.exists() {
                continue;
            }
            let bytes = read_bounded(&path)?;
            match hash.verify(&path, None, &bytes) {
                Ok(()) => return Ok(Fetched { path, bytes }),
                // An outdated or damaged cached copy: download it again, as Keras does.
                Err(Error::HashMismatch { .. })
                    if !self.offline && download_dir.as_deref() == Some(dir.as_path()) =>
                {
                    break;
                }
                Err(e) => return Err(e),
            }
        }
        let not_found = |hint: &str| Error::NotFound {
            file: file.name.to_string(),
            searched: dirs.clone(),
            hint: Some(hint.to_string()),
        };
        if self.offline {
            return Err(not_found("; offline, so nothing was downloaded"));
        }
        let Some(download_dir) = download_dir else {
            return Err(not_found(
                "; no cache folder: set HOME, XDG_CACHE_HOME or KILN_DATA_DIR",
            ));
        };
        self.download(file, &hash, &download_dir.join(file.name), &not_found)
    }

    #[cfg(feature = "download")]
    fn download(
        &self,
        file: &KerasFile,
        hash: &FileHash,
        target: &Path,
        _not_found: &dyn Fn(&str) -> Error,
    ) -> Result<Fetched> {
        let url = self.url(file);
        let bytes = crate::download::fetch_file(&url, hash, target, MAX_FILE_BYTES)?;
        Ok(Fetched {
            path: target.to_path_buf(),
            bytes,
        })
    }

    #[cfg(not(feature = "download"))]
    fn download(
        &self,
        _file: &KerasFile,
        _hash: &FileHash,
        _target: &Path,
        not_found: &dyn Fn(&str) -> Error,
    ) -> Result<Fetched> {
        Err(not_found(
            "; the `download` feature is off, so nothing was downloaded",
        ))
    }
}

/// Reads a file of at most [`MAX_FILE_BYTES`].
fn read_bounded(path: &Path) -> Result<Vec<u8>> {
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let len = std::fs::metadata(path).map_err(io)?.len();
    if len > MAX_FILE_BYTES {
        return Err(Error::TooLarge {
            what: path.display().to_string(),
            size: len,
            limit: MAX_FILE_BYTES,
        });
    }
    std::fs::read(path).map_err(io)
}

/// Decompresses the gzip stream `bytes` (the content of `path`), to at most `limit` bytes.
///
/// # Errors
/// [`Error::Gzip`] for a corrupt or cut stream, [`Error::TooLarge`] past `limit`.
pub fn gunzip(path: &Path, bytes: &[u8], limit: u64) -> Result<Vec<u8>> {
    use std::io::Read;
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .take(limit.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(|source| Error::Gzip {
            path: path.to_path_buf(),
            source,
        })?;
    if out.len() as u64 > limit {
        return Err(Error::TooLarge {
            what: format!("the decompressed content of {}", path.display()),
            size: out.len() as u64,
            limit,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    const FILE: KerasFile = KerasFile {
        name: "boston_housing.npz",
        origin: KERAS_ORIGIN,
        file_hash: Some("f553886a1f8d56431e820c5b82552d9d95cfcb96d1e678153f8839538947dff5"),
    };

    #[test]
    fn keras_hashes_are_told_apart_by_length() {
        assert_eq!(
            FileHash::keras("bfafd718b763782e994055a2d397834f").algorithm(),
            Some("md5")
        );
        assert_eq!(FILE.hash().algorithm(), Some("sha256"));
        // md5("") and sha256("").
        let empty = Path::new("empty");
        assert!(
            FileHash::keras("d41d8cd98f00b204e9800998ecf8427e")
                .verify(empty, None, b"")
                .is_ok()
        );
        assert!(
            FileHash::keras("E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855")
                .verify(empty, None, b"")
                .is_ok()
        );
        match FileHash::sha256_of(b"a").verify(empty, Some("http://x/empty"), b"b") {
            Err(Error::HashMismatch { algorithm, url, .. }) => {
                assert_eq!(algorithm, "sha256");
                assert_eq!(url.as_deref(), Some("http://x/empty"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn addresses_and_hashes_can_be_overridden() {
        assert_eq!(
            FILE.url(),
            "https://storage.googleapis.com/tensorflow/tf-keras-datasets/boston_housing.npz"
        );
        let s = Source::new().origin("http://127.0.0.1:1");
        assert_eq!(s.url(&FILE), "http://127.0.0.1:1/boston_housing.npz");
        let s = s.file_hash("boston_housing.npz", FileHash::Unchecked);
        assert_eq!(s.hash(&FILE), FileHash::Unchecked);
        assert_eq!(Source::new().hash(&FILE), FILE.hash());
        let (dirs, download) = Source::new().cache_dir("/x").folders("boston", &FILE);
        assert_eq!(dirs, [PathBuf::from("/x")]);
        assert_eq!(download, Some(PathBuf::from("/x")));
    }

    #[test]
    fn offline_sources_never_download() {
        let dir = tempfile::tempdir().unwrap();
        let err = Source::new()
            .cache_dir(dir.path())
            .origin("http://127.0.0.1:1/")
            .offline()
            .fetch("boston", &FILE)
            .unwrap_err();
        assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
    }
}
