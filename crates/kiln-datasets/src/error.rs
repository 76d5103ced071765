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
    /// A downloaded or cached file does not have the hash Keras publishes for it (Keras's
    /// `file_hash`: SHA-256, or MD5 for the word indexes). A download with the wrong hash is
    /// never written to the cache.
    #[error(
        "{path} has {algorithm} {actual}, expected {expected}{}: the file is corrupt or not the original",
        url.as_deref().map(|u| format!(" (downloaded from {u})")).unwrap_or_default()
    )]
    HashMismatch {
        /// The file: where it was found, or where it would have been cached.
        path: PathBuf,
        /// The address it was downloaded from, when it was.
        url: Option<String>,
        /// `"sha256"` or `"md5"`.
        algorithm: &'static str,
        /// The expected hash (lowercase hex).
        expected: String,
        /// The hash of the bytes found.
        actual: String,
    },
    /// The server answered with an HTTP error status (404: no such file at that address).
    #[error("{url} answered HTTP {status}")]
    HttpStatus {
        /// The address requested.
        url: String,
        /// The HTTP status code.
        status: u16,
    },
    /// The connection closed before the whole file arrived.
    #[error("the transfer of {url} was cut short: {received} of {expected} bytes arrived")]
    TransferTruncated {
        /// The address requested.
        url: String,
        /// The size the server announced (`Content-Length`).
        expected: u64,
        /// The bytes that arrived.
        received: u64,
        /// The transport's error, when it reported one.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// A size announced by a header (HTTP `Content-Length`, a tar member, a pickle or `.npy`
    /// header) or reached while decompressing is beyond what Kiln accepts; nothing that large
    /// was allocated.
    #[error("{what} is {size} bytes, more than the {limit} bytes accepted")]
    TooLarge {
        /// What is that large (a file, an archive member, a header field).
        what: String,
        /// The size announced or reached.
        size: u64,
        /// The largest size accepted.
        limit: u64,
    },
    /// An archive (`.tar.gz`, `.npz`) that cannot be read, or lacks a member the data set needs.
    #[error("{path} is not a valid archive: {reason}")]
    CorruptArchive {
        /// The archive.
        path: PathBuf,
        /// What is wrong.
        reason: String,
        /// The underlying error, when there is one.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// A Python pickle stream that is malformed, cut short, or uses something the restricted
    /// reader does not read.
    #[error("{path}: invalid pickle at byte {offset}: {reason}")]
    Pickle {
        /// The file (or `archive/member`).
        path: PathBuf,
        /// Where in the pickle stream the problem is.
        offset: usize,
        /// What is wrong.
        reason: String,
    },
    /// A pickle asks for a Python global other than the NumPy array reconstruction ones Keras
    /// allows (`numpy.ndarray`, `numpy.dtype`, `numpy[._]core.multiarray._reconstruct`): the
    /// file may be corrupt or malicious, and is refused.
    #[error("{path}: refusing to load the pickled global `{module}.{name}`")]
    ForbiddenPickleGlobal {
        /// The file (or `archive/member`).
        path: PathBuf,
        /// The global's module.
        module: String,
        /// The global's name.
        name: String,
    },
    /// A file that parses, but whose content is not laid out as the data set's (a missing key,
    /// a wrong shape or type).
    #[error("{path}: {reason}")]
    UnexpectedContent {
        /// The file (or `archive/member`).
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A JSON file (a word index) that cannot be parsed.
    #[error("{path} is not a valid JSON word index")]
    Json {
        /// The file.
        path: PathBuf,
        /// The parser's error.
        #[source]
        source: serde_json::Error,
    },
    /// Options that cannot be used together (Keras's `ValueError` for the same combinations:
    /// `subset` without `validation_split`, a split of shuffled files without `seed`,
    /// `class_names` without inferred labels, ...).
    #[error("incompatible options: {reason}")]
    IncompatibleOptions {
        /// What is wrong, naming the options.
        reason: String,
    },
    /// A folder read by `image_dataset_from_directory` or `text_dataset_from_directory` holds
    /// no file of the accepted formats (in the subset asked for).
    #[error("no {what} found in directory {directory} (allowed formats: {})", formats.join(", "))]
    NoFilesFound {
        /// The folder searched.
        directory: PathBuf,
        /// What was looked for: `"images"`, `"training images"`, `"text files"`, ...
        what: &'static str,
        /// The file extensions accepted.
        formats: &'static [&'static str],
    },
    /// The labels given do not pair up with the files found.
    #[error(
        "{labels} labels were given but {files} files were found in {directory} \
         (labels follow the files' alphanumeric order)"
    )]
    LabelCountMismatch {
        /// The folder searched.
        directory: PathBuf,
        /// The number of labels given.
        labels: usize,
        /// The number of files found.
        files: usize,
    },
    /// `class_names` names a folder that is not a sub-folder of the directory.
    #[error(
        "class_names {class_names:?} do not match the sub-folders of {directory}: \
         expected {subdirs:?} (or a subset of it)"
    )]
    UnknownClassNames {
        /// The folder searched.
        directory: PathBuf,
        /// The names given.
        class_names: Vec<String>,
        /// The sub-folders found, in alphanumeric order.
        subdirs: Vec<String>,
    },
    /// `label_mode` binary with other than two classes.
    #[error("label_mode binary needs exactly 2 classes, found {}: {class_names:?}", class_names.len())]
    BinaryNeedsTwoClasses {
        /// The classes found.
        class_names: Vec<String>,
    },
    /// An image file that cannot be decoded (corrupt, cut short, or not an image).
    #[error("cannot decode the image {path}")]
    ImageDecode {
        /// The file.
        path: PathBuf,
        /// The decoder's error.
        #[source]
        source: image::ImageError,
    },
    /// A CSV file that cannot be read as CSV (a record with another number of fields, bad
    /// quoting, an I/O error).
    #[error("{path}: cannot read the CSV{}", line.map(|l| format!(" at line {l}")).unwrap_or_default())]
    CsvRead {
        /// The file.
        path: PathBuf,
        /// The 1-based line of the file where the problem is, when known.
        line: Option<u64>,
        /// The CSV reader's error.
        #[source]
        source: csv::Error,
    },
    /// A value of a CSV file that is missing or is not a number.
    #[error("{path}, line {line}, column {column}: {reason}")]
    CsvValue {
        /// The file.
        path: PathBuf,
        /// The 1-based line of the file (header included) holding the value.
        line: u64,
        /// The column: its header name and 0-based index, or its index.
        column: String,
        /// What is wrong with the value.
        reason: String,
    },
    /// A CSV column asked for (by name or index) that the file does not have.
    #[error("{path}: no column {column}; the columns are {available:?}")]
    CsvColumn {
        /// The file.
        path: PathBuf,
        /// The column asked for.
        column: String,
        /// The columns the file has (header names, or indices without a header).
        available: Vec<String>,
    },
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
