//! CIFAR-10, as Keras's `keras.datasets.cifar10.load_data()` returns it: 50,000 training and
//! 10,000 test colour images of 32×32 pixels, channels last (`[n, 32, 32, 3]`, `u8`), with
//! labels `[n, 1]` (`u8`, 0..=9): 0 airplane, 1 automobile, 2 bird, 3 cat, 4 deer, 5 dog,
//! 6 frog, 7 horse, 8 ship, 9 truck ([`CLASS_NAMES`]).
//!
//! The archive `cifar-10-python.tar.gz` is downloaded from the Toronto address Keras uses
//! ([`FILE`]), checked against Keras's SHA-256 of the archive, and kept whole in
//! `<cache>/cifar10`: its pickled batches (`cifar-10-batches-py/data_batch_1` to `_5` and
//! `test_batch`) are read straight from it, with the restricted [`crate::pickle`] reader.
//!
//! # Examples
//! ```no_run
//! let ((x_train, y_train), (x_test, y_test)) = kiln_datasets::cifar10::load_data()?;
//! assert_eq!(x_train.shape(), &[50000, 32, 32, 3]);
//! assert_eq!(y_train.shape(), &[50000, 1]);
//! assert_eq!(x_test.shape(), &[10000, 32, 32, 3]);
//! assert_eq!(y_test.shape(), &[10000, 1]);
//! # Ok::<(), kiln_datasets::Error>(())
//! ```

use std::io::Read;
use std::path::{Path, PathBuf};

use ndarray::{Array2, Array4};

use crate::error::{Error, Result};
use crate::pickle::{Pickle, Value};
use crate::remote::{KerasFile, MAX_FILE_BYTES, Source};

/// Images `[n, 32, 32, 3]` (channels last) and labels `[n, 1]`.
pub type Split = (Array4<u8>, Array2<u8>);

/// The folder of the data set under the data and cache folders.
pub const NAME: &str = "cifar10";

/// The archive, as Keras downloads it (`keras/src/datasets/cifar10.py`).
pub const FILE: KerasFile = KerasFile {
    name: "cifar-10-python.tar.gz",
    origin: TORONTO_ORIGIN,
    file_hash: Some("6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce"),
};

/// Where Keras downloads both CIFAR archives from.
pub const TORONTO_ORIGIN: &str = "https://www.cs.toronto.edu/~kriz/";

/// The folder inside the archive holding the batches.
pub const FOLDER: &str = "cifar-10-batches-py";

/// The class names, by label.
pub const CLASS_NAMES: [&str; 10] = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
];

/// Values per image: 3 channels of 32×32.
pub(crate) const IMAGE_LEN: usize = 3 * 32 * 32;

/// Decompressed bytes read from an archive at most (the real ones unpack to under 200 MB).
const MAX_UNPACKED: u64 = 4 << 30;

const TRAIN_BATCHES: [&str; 5] = [
    "data_batch_1",
    "data_batch_2",
    "data_batch_3",
    "data_batch_4",
    "data_batch_5",
];

/// Loads CIFAR-10 as `((x_train, y_train), (x_test, y_test))`, downloading it when needed.
///
/// # Errors
/// As [`load_data_with`].
pub fn load_data() -> Result<(Split, Split)> {
    load_data_with(&Source::new())
}

/// Loads CIFAR-10 with the archive of `source`.
///
/// # Errors
/// Those of [`Source::fetch`]; [`Error::CorruptArchive`] for an archive that cannot be read
/// or lacks a batch; [`Error::Pickle`], [`Error::ForbiddenPickleGlobal`] or
/// [`Error::UnexpectedContent`] for a batch that is not CIFAR's.
pub fn load_data_with(source: &Source) -> Result<(Split, Split)> {
    let archive = source.fetch(NAME, &FILE)?;
    let mut names: Vec<String> = TRAIN_BATCHES
        .iter()
        .map(|b| format!("{FOLDER}/{b}"))
        .collect();
    names.push(format!("{FOLDER}/test_batch"));
    let members = archive_members(&archive.path, &archive.bytes, &names)?;
    let path = archive.path;
    drop(archive.bytes); // the compressed archive is no longer needed
    assemble(&path, members)
}

/// Loads CIFAR-10 from `dir` (no search, no download): either the archive
/// `cifar-10-python.tar.gz` (checked against Keras's hash), or the extracted folder
/// `cifar-10-batches-py` (as it is, unchecked).
///
/// # Errors
/// As [`load_data_with`].
pub fn load_data_from(dir: impl AsRef<Path>) -> Result<(Split, Split)> {
    let dir = dir.as_ref();
    let extracted = dir.join(FOLDER);
    if !dir.join(FILE.name).exists() && extracted.is_dir() {
        let mut members = Vec::new();
        for name in TRAIN_BATCHES.iter().chain(&["test_batch"]) {
            let path = extracted.join(name);
            let bytes = read_file(&path)?;
            members.push((path, bytes));
        }
        return assemble(dir, members);
    }
    load_data_with(&Source::new().cache_dir(dir).offline())
}

/// Builds the splits from the five training batches and the test batch, in that order.
fn assemble(archive: &Path, members: Vec<(PathBuf, Vec<u8>)>) -> Result<(Split, Split)> {
    let mut train_x = Vec::new();
    let mut train_y = Vec::new();
    let mut test = None;
    for (i, (path, bytes)) in members.into_iter().enumerate() {
        let (x, y) = read_batch(&path, &bytes, "labels")?;
        drop(bytes);
        let y = labels_u8(&path, y)?;
        if i < TRAIN_BATCHES.len() {
            train_x.extend_from_slice(&x);
            train_y.extend_from_slice(&y);
        } else {
            test = Some((x, y));
        }
    }
    let Some((test_x, test_y)) = test else {
        return Err(Error::CorruptArchive {
            path: archive.to_path_buf(),
            reason: "it has no test batch".into(),
            source: None,
        });
    };
    Ok((
        to_arrays(archive, train_x, train_y)?,
        to_arrays(archive, test_x, test_y)?,
    ))
}

fn labels_u8(path: &Path, labels: Vec<i64>) -> Result<Vec<u8>> {
    labels
        .into_iter()
        .map(|l| {
            u8::try_from(l).map_err(|_| Error::UnexpectedContent {
                path: path.to_path_buf(),
                reason: format!("the label {l} does not fit a uint8"),
            })
        })
        .collect()
}

/// `[n, 32, 32, 3]` images and `[n, 1]` labels from channels-last pixels and labels.
pub(crate) fn to_arrays<T>(path: &Path, x: Vec<u8>, y: Vec<T>) -> Result<(Array4<u8>, Array2<T>)> {
    let n = y.len();
    let shaped = |e: ndarray::ShapeError| Error::UnexpectedContent {
        path: path.to_path_buf(),
        reason: e.to_string(),
    };
    let x = Array4::from_shape_vec((n, 32, 32, 3), x).map_err(shaped)?;
    let y = Array2::from_shape_vec((n, 1), y).map_err(shaped)?;
    Ok((x, y))
}

pub(crate) fn read_file(path: &Path) -> Result<Vec<u8>> {
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

/// Reads the members named `names` (paths inside the archive, a leading `./` ignored) of the
/// `.tar.gz` archive `bytes`, in the order of `names`, each as `(archive/member, bytes)`.
pub(crate) fn archive_members(
    path: &Path,
    bytes: &[u8],
    names: &[String],
) -> Result<Vec<(PathBuf, Vec<u8>)>> {
    let corrupt = |reason: String, e: std::io::Error| Error::CorruptArchive {
        path: path.to_path_buf(),
        reason,
        source: Some(Box::new(e)),
    };
    let gz = flate2::read::GzDecoder::new(bytes).take(MAX_UNPACKED);
    let mut archive = tar::Archive::new(gz);
    let mut found: Vec<Option<Vec<u8>>> = vec![None; names.len()];
    let entries = archive
        .entries()
        .map_err(|e| corrupt("not a tar archive".into(), e))?;
    for entry in entries {
        let entry = entry.map_err(|e| corrupt("an entry cannot be read".into(), e))?;
        let name = entry
            .path()
            .map_err(|e| corrupt("an entry has an unreadable name".into(), e))?
            .to_string_lossy()
            .trim_start_matches("./")
            .to_string();
        let Some(slot) = names.iter().position(|n| *n == name) else {
            continue;
        };
        let size = entry.size();
        if size > MAX_FILE_BYTES {
            return Err(Error::TooLarge {
                what: format!("{}/{name}", path.display()),
                size,
                limit: MAX_FILE_BYTES,
            });
        }
        // Grown as data arrives: the header's size is a bound, not an allocation.
        let mut data = Vec::new();
        entry
            .take(size)
            .read_to_end(&mut data)
            .map_err(|e| corrupt(format!("`{name}` cannot be unpacked"), e))?;
        if data.len() as u64 != size {
            return Err(Error::CorruptArchive {
                path: path.to_path_buf(),
                reason: format!("`{name}` is cut short: {} of {size} bytes", data.len()),
                source: None,
            });
        }
        found[slot] = Some(data);
        if found.iter().all(Option::is_some) {
            break;
        }
    }
    names
        .iter()
        .zip(found)
        .map(|(name, data)| {
            data.map(|d| (path.join(name), d))
                .ok_or_else(|| Error::CorruptArchive {
                    path: path.to_path_buf(),
                    reason: format!("it has no member `{name}`"),
                    source: None,
                })
        })
        .collect()
}

/// Reads one pickled CIFAR batch: a dictionary with `data`, a `uint8` array `[n, 3072]`
/// (channels first), and the labels under `label_key` (a list of `n` integers). Returns the
/// pixels channels last (`[n, 32, 32, 3]`, flat) and the labels.
pub(crate) fn read_batch(
    path: &Path,
    bytes: &[u8],
    label_key: &str,
) -> Result<(Vec<u8>, Vec<i64>)> {
    let bad = |reason: String| Error::UnexpectedContent {
        path: path.to_path_buf(),
        reason,
    };
    let pickle = Pickle::parse(path, bytes)?;
    let dict = pickle.root().as_dict().ok_or_else(|| {
        bad(format!(
            "a batch is a dict, found a {}",
            pickle.root().type_name()
        ))
    })?;
    let data = dict
        .get("data")
        .ok_or_else(|| bad("the batch has no `data`".into()))?;
    let raw = data.as_array().and_then(|a| a.raw()).ok_or_else(|| {
        bad(format!(
            "`data` is a {}, not a numeric array",
            data.type_name()
        ))
    })?;
    if raw.dtype.kind() != 'u' || raw.dtype.size() != 1 {
        return Err(bad(format!("`data` holds {}, expected uint8", raw.dtype)));
    }
    let (len, pixels) = raw.checked(path)?;
    let n = raw.shape.first().copied().unwrap_or(0);
    if n.checked_mul(IMAGE_LEN) != Some(len) {
        return Err(bad(format!(
            "`data` has shape {:?}, expected [n, {IMAGE_LEN}]",
            raw.shape
        )));
    }
    let labels = dict
        .get(label_key)
        .ok_or_else(|| bad(format!("the batch has no `{label_key}`")))?;
    let labels = int_list(path, labels, label_key)?;
    if labels.len() != n {
        return Err(bad(format!(
            "{n} images but {} `{label_key}`",
            labels.len()
        )));
    }
    // Channels first [n, 3, 32, 32] to channels last [n, 32, 32, 3].
    let mut out = vec![0u8; len];
    for (src, dst) in pixels
        .chunks_exact(IMAGE_LEN)
        .zip(out.chunks_exact_mut(IMAGE_LEN))
    {
        let (r, gb) = src.split_at(1024);
        let (g, b) = gb.split_at(1024);
        for (((px, &r), &g), &b) in dst.chunks_exact_mut(3).zip(r).zip(g).zip(b) {
            px.copy_from_slice(&[r, g, b]);
        }
    }
    Ok((out, labels))
}

fn int_list(path: &Path, value: Value<'_>, key: &str) -> Result<Vec<i64>> {
    if let Some(items) = value.as_list() {
        return items
            .iter()
            .map(|v| v.as_int())
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| Error::UnexpectedContent {
                path: path.to_path_buf(),
                reason: format!("`{key}` holds something other than integers"),
            });
    }
    match value.as_array().and_then(|a| a.raw()) {
        Some(raw) if raw.shape.len() == 1 => raw.to_i64(path),
        _ => Err(Error::UnexpectedContent {
            path: path.to_path_buf(),
            reason: format!("`{key}` is a {}, not a list of integers", value.type_name()),
        }),
    }
}
