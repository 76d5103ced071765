//! MNIST loading against the real files shipped in the repository's `data/mnist`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;
use std::path::{Path, PathBuf};

use flate2::Compression;
use flate2::write::GzEncoder;
use kiln_datasets::{Error, mnist};

fn repo_mnist() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/mnist")
}

fn counts(labels: &ndarray::Array1<u8>) -> [usize; 10] {
    let mut c = [0; 10];
    for &l in labels {
        c[usize::from(l)] += 1;
    }
    c
}

/// Copies the real MNIST files into a temporary folder, decompressed, so one can be damaged.
fn raw_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for f in mnist::FILES {
        let bytes = kiln_datasets::idx::read_maybe_gz(&repo_mnist().join(f.name)).unwrap();
        std::fs::write(dir.path().join(f.name), bytes).unwrap();
    }
    dir
}

#[test]
fn real_files_have_keras_shapes_and_published_label_counts() {
    let ((x_train, y_train), (x_test, y_test)) = mnist::load_data_from(&repo_mnist()).unwrap();
    assert_eq!(x_train.shape(), &[60000, 28, 28]);
    assert_eq!(x_test.shape(), &[10000, 28, 28]);
    // Counts from the datasets README.
    assert_eq!(
        counts(&y_train),
        [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    );
    assert_eq!(
        counts(&y_test),
        [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    );
    assert_eq!(x_train.iter().copied().max(), Some(255));
}

#[test]
fn load_data_finds_the_files_through_kiln_data_dir() {
    // `.cargo/config.toml` points KILN_DATA_DIR at the repository's `data/` folder.
    let ((x_train, _), (_, y_test)) = mnist::load_data().unwrap();
    assert_eq!(x_train.shape()[0], 60000);
    assert_eq!(y_test.len(), 10000);
}

#[test]
fn a_truncated_file_is_a_truncated_error() {
    let dir = raw_copy();
    let path = dir.path().join(mnist::FILES[2].name);
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    match mnist::load_data_from(dir.path()) {
        Err(Error::Truncated {
            expected, actual, ..
        }) => {
            assert_eq!(expected, 16 + 10000 * 28 * 28);
            assert_eq!(actual, bytes.len() / 2);
        }
        other => panic!("expected Truncated, got {other:?}"),
    }
}

#[test]
fn a_truncated_gzip_stream_is_a_gzip_error() {
    let dir = tempfile::tempdir().unwrap();
    for f in mnist::FILES {
        std::fs::copy(repo_mnist().join(f.name), dir.path().join(f.name)).unwrap();
    }
    let path = dir.path().join(mnist::FILES[1].name);
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() - 100]).unwrap();
    let err = mnist::load_data_from(dir.path()).unwrap_err();
    assert!(matches!(err, Error::Gzip { .. }), "{err:?}");
    assert!(std::error::Error::source(&err).is_some());
}

#[test]
fn a_wrong_magic_number_is_a_bad_magic_error() {
    let dir = raw_copy();
    let path = dir.path().join(mnist::FILES[1].name);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[0] = 0x50; // "PK..": say, a zip file under the wrong name
    bytes[1] = 0x4b;
    std::fs::write(&path, &bytes).unwrap();
    let err = mnist::load_data_from(dir.path()).unwrap_err();
    assert!(matches!(err, Error::BadMagic { .. }), "{err:?}");
}

#[test]
fn altered_content_is_a_checksum_mismatch() {
    let dir = raw_copy();
    let path = dir.path().join(mnist::FILES[3].name);
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] = (bytes[last] + 1) % 10; // still a valid label, but not the original file
    // Store it gzip-compressed, as the mirrors do: the checksum is of the content.
    let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
    gz.write_all(&bytes).unwrap();
    std::fs::write(&path, gz.finish().unwrap()).unwrap();
    match mnist::load_data_from(dir.path()) {
        Err(Error::ChecksumMismatch { expected, .. }) => {
            assert_eq!(expected, mnist::FILES[3].sha256)
        }
        other => panic!("expected ChecksumMismatch, got {other:?}"),
    }
}

#[test]
fn a_missing_file_names_the_folders_searched() {
    let dir = tempfile::tempdir().unwrap();
    let err = mnist::load_data_from(dir.path()).unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err:?}");
}
