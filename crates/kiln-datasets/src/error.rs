//! The error type of `kiln-datasets`.

use std::path::PathBuf;

/// Everything that can go wrong while locating, reading, verifying or preparing a data set.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file could not be read or written.
    #[error("cannot access {path}")]
    Io {
        /// The file or folder involved.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A `.npy` or `.npz` file that cannot be read.
    #[error("{path}: {reason}")]
    Npy {
        /// The file (or `archive.npz/entry.npy`).
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A gzip stream could not be decompressed (corrupt or cut short).
    #[error("{path} is not a valid gzip stream")]
    Gzip {
        /// The file involved.
        path: PathBuf,
        /// The decoder's error.
        #[source]
        source: std::io::Error,
    },
    /// The file does not start with a valid IDX magic number.
    #[error("{path} is not an IDX file: magic number {found:#010x}")]
    BadMagic {
        /// The file involved.
        path: PathBuf,
        /// The four bytes found where the magic number should be.
        found: u32,
    },
    /// The IDX header announces more data than the file holds.
    #[error("{path} is truncated: expected {expected} bytes of data, found {actual}")]
    Truncated {
        /// The file involved.
        path: PathBuf,
        /// The number of bytes the header announces (header included).
        expected: usize,
        /// The number of bytes present.
        actual: usize,
    },
    /// The IDX file holds a data type or rank this loader does not read.
    #[error("{path} holds IDX type {dtype:#04x} with rank {rank}, expected {expected}")]
    UnexpectedLayout {
        /// The file involved.
        path: PathBuf,
        /// The IDX data type code.
        dtype: u8,
        /// The number of dimensions.
        rank: usize,
        /// What was expected, in words.
        expected: &'static str,
    },
    /// The decompressed content does not have the published SHA-256.
    #[error(
        "{path} has SHA-256 {actual}, expected {expected}: the file is corrupt or not the original"
    )]
    ChecksumMismatch {
        /// The file involved.
        path: PathBuf,
        /// The published checksum.
        expected: String,
        /// The checksum of the content found.
        actual: String,
    },
    /// The images and labels files disagree on the number of samples.
    #[error("{images} holds {image_count} images but {labels} holds {label_count} labels")]
    CountMismatch {
        /// The images file.
        images: PathBuf,
        /// Number of images.
        image_count: usize,
        /// The labels file.
        labels: PathBuf,
        /// Number of labels.
        label_count: usize,
    },
    /// Something other than a file (a folder) stands where a data file should be.
    #[error("{path} should be a data file, but it is a folder (move it out of the way)")]
    NotAFile {
        /// The path.
        path: PathBuf,
    },
    /// A data set file was found nowhere and could not be downloaded.
    #[error("{file} not found (searched {searched:?}){}", hint.as_deref().unwrap_or(""))]
    NotFound {
        /// The file name.
        file: String,
        /// The folders searched, in order.
        searched: Vec<PathBuf>,
        /// Why no download happened, when it did not.
        hint: Option<String>,
    },
    /// Downloading a file failed on every mirror.
    #[error("downloading {file} failed on every mirror (last tried {url})")]
    Download {
        /// The file name.
        file: String,
        /// The last address tried.
        url: String,
        /// The last error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A label is not a valid class index.
    #[error("label {label} at index {index} is out of range for {num_classes} classes")]
    LabelOutOfRange {
        /// The offending label.
        label: usize,
        /// Its position.
        index: usize,
        /// The number of classes.
        num_classes: usize,
    },
    /// An argument is outside its valid range.
    #[error("invalid argument `{name}`: {reason}")]
    InvalidArgument {
        /// The argument's name.
        name: &'static str,
        /// What is wrong with it.
        reason: String,
    },
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
