//! The MNIST handwritten digits, as Keras's `keras.datasets.mnist.load_data()` returns them.
//!
//! # Examples
//! ```
//! let ((x_train, y_train), (x_test, y_test)) = kiln_datasets::mnist::load_data()?;
//! assert_eq!(x_train.shape(), &[60000, 28, 28]);
//! assert_eq!(y_test.len(), 10000);
//! # Ok::<(), kiln_datasets::Error>(())
//! ```

use std::path::{Path, PathBuf};

use ndarray::{Array1, Array3};

use crate::cache::{cache_dir, search_dirs};
use crate::error::{Error, Result};
use crate::idx::{read_images, read_labels, read_maybe_gz, sha256_hex};

/// Images `[n, 28, 28]` of `u8` pixels (0 = background) and their labels `[n]` (0..=9).
pub type Split = (Array3<u8>, Array1<u8>);

/// One file of the data set and the SHA-256 of its *decompressed* content.
#[derive(Debug, Clone, Copy)]
pub struct FileSpec {
    /// The file name, as the public mirrors serve it (`.gz`).
    pub name: &'static str,
    /// Lowercase hex SHA-256 of the decompressed IDX content.
    pub sha256: &'static str,
}

/// The four MNIST files.
pub const FILES: [FileSpec; 4] = [
    FileSpec {
        name: "train-images-idx3-ubyte.gz",
        sha256: "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    },
    FileSpec {
        name: "train-labels-idx1-ubyte.gz",
        sha256: "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    },
    FileSpec {
        name: "t10k-images-idx3-ubyte.gz",
        sha256: "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    },
    FileSpec {
        name: "t10k-labels-idx1-ubyte.gz",
        sha256: "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    },
];

/// Public mirrors serving the original files, tried in order.
pub const MIRRORS: [&str; 2] = [
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
];

/// The name of the data set's folder under the data and cache folders.
pub const NAME: &str = "mnist";

/// Loads MNIST as `((x_train, y_train), (x_test, y_test))`: `[60000, 28, 28]` and
/// `[10000, 28, 28]` `u8` images with `u8` labels, like Keras.
///
/// Files are looked for in `$KILN_DATA_DIR/mnist`, `$KILN_DATA_DIR`, then the user cache; when
/// missing everywhere and the `download` feature is on, they are downloaded from [`MIRRORS`]
/// into the cache. Every file's decompressed content is checked against its SHA-256.
///
/// # Errors
/// [`Error::NotFound`]/[`Error::Download`] when a file is nowhere to be had,
/// [`Error::ChecksumMismatch`], [`Error::Truncated`], [`Error::BadMagic`], [`Error::Gzip`] for a
/// damaged file.
pub fn load_data() -> Result<(Split, Split)> {
    let paths = FILES
        .iter()
        .map(locate_or_download)
        .collect::<Result<Vec<_>>>()?;
    load_files(&paths[0], &paths[1], &paths[2], &paths[3])
}

/// Loads MNIST from one folder holding the four files (no search, no download).
///
/// # Errors
/// As [`load_data`].
pub fn load_data_from(dir: &Path) -> Result<(Split, Split)> {
    let [a, b, c, d] = FILES.map(|f| dir.join(f.name));
    load_files(&a, &b, &c, &d)
}

fn load_files(
    train_images: &Path,
    train_labels: &Path,
    test_images: &Path,
    test_labels: &Path,
) -> Result<(Split, Split)> {
    let train = load_split(train_images, &FILES[0], train_labels, &FILES[1])?;
    let test = load_split(test_images, &FILES[2], test_labels, &FILES[3])?;
    Ok((train, test))
}

fn load_split(images: &Path, ispec: &FileSpec, labels: &Path, lspec: &FileSpec) -> Result<Split> {
    for path in [images, labels] {
        if path.is_dir() {
            return Err(Error::NotAFile {
                path: path.to_path_buf(),
            });
        }
    }
    // Structure first (a cut or foreign file gets its own error), then the checksum.
    let image_bytes = read_maybe_gz(images)?;
    let x = read_images(images, &image_bytes)?;
    verify_checksum(images, &image_bytes, ispec.sha256)?;
    let label_bytes = read_maybe_gz(labels)?;
    let y = read_labels(labels, &label_bytes)?;
    verify_checksum(labels, &label_bytes, lspec.sha256)?;
    if x.shape()[0] != y.len() {
        return Err(Error::CountMismatch {
            images: images.to_path_buf(),
            image_count: x.shape()[0],
            labels: labels.to_path_buf(),
            label_count: y.len(),
        });
    }
    Ok((x, y))
}

/// Checks that `bytes` (the decompressed content of `path`) has the SHA-256 `sha256`.
///
/// # Errors
/// [`Error::ChecksumMismatch`].
pub fn verify_checksum(path: &Path, bytes: &[u8], sha256: &str) -> Result<()> {
    let actual = sha256_hex(bytes);
    if actual != sha256 {
        return Err(Error::ChecksumMismatch {
            path: path.to_path_buf(),
            expected: sha256.to_string(),
            actual,
        });
    }
    Ok(())
}

fn locate_or_download(spec: &FileSpec) -> Result<PathBuf> {
    let dirs = search_dirs(NAME);
    match locate_in(&dirs, spec)? {
        Some(found) => Ok(found),
        None => download_into_cache(spec, dirs),
    }
}

/// The first path named `spec` in `dirs`; a folder there is an error, not a reason to
/// download.
fn locate_in(dirs: &[PathBuf], spec: &FileSpec) -> Result<Option<PathBuf>> {
    match dirs.iter().map(|d| d.join(spec.name)).find(|p| p.exists()) {
        Some(found) if found.is_dir() => Err(Error::NotAFile { path: found }),
        found => Ok(found),
    }
}

#[cfg(feature = "download")]
fn download_into_cache(spec: &FileSpec, searched: Vec<PathBuf>) -> Result<PathBuf> {
    let Some(cache) = cache_dir() else {
        return Err(Error::NotFound {
            file: spec.name.to_string(),
            searched,
            hint: Some("; no cache folder: set HOME, XDG_CACHE_HOME or KILN_DATA_DIR".into()),
        });
    };
    let target = cache.join(NAME).join(spec.name);
    crate::download::fetch_verified(spec, &MIRRORS, &target)?;
    Ok(target)
}

#[cfg(not(feature = "download"))]
fn download_into_cache(spec: &FileSpec, searched: Vec<PathBuf>) -> Result<PathBuf> {
    let _ = cache_dir;
    Err(Error::NotFound {
        file: spec.name.to_string(),
        searched,
        hint: Some("; the `download` feature is off, so nothing was downloaded".into()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_folder_where_a_data_file_should_be_is_named_as_such() {
        let dir = tempfile::tempdir().map_err(|e| e.to_string());
        let Ok(dir) = dir else {
            return;
        };
        let blocker = dir.path().join(FILES[0].name);
        assert!(std::fs::create_dir(&blocker).is_ok());
        let found = locate_in(&[dir.path().to_path_buf()], &FILES[0]);
        assert!(
            matches!(&found, Err(Error::NotAFile { path }) if *path == blocker),
            "{found:?}"
        );
        let loaded = load_data_from(dir.path());
        assert!(
            matches!(&loaded, Err(Error::NotAFile { .. })),
            "{:?}",
            loaded.err()
        );
        // Nothing there at all: not found (then a download), not an error here.
        let empty = tempfile::tempdir().map_err(|e| e.to_string());
        if let Ok(empty) = empty {
            assert!(matches!(
                locate_in(&[empty.path().to_path_buf()], &FILES[0]),
                Ok(None)
            ));
        }
    }
}
