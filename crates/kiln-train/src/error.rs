//! The error type of `kiln-train`.

/// Everything that can go wrong while compiling, training or evaluating a model.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An error from the model (shapes, weights, data).
    #[error(transparent)]
    Model(#[from] kiln_model::Error),
    /// A name (optimizer, loss, metric) is not one Kiln knows.
    #[error("unknown {kind} `{name}`; valid names: {}", valid.join(", "))]
    UnknownName {
        /// `optimizer`, `loss` or `metric`.
        kind: &'static str,
        /// The name given.
        name: String,
        /// The valid names.
        valid: Vec<&'static str>,
    },
    /// A label is not a valid class id for the model's output.
    #[error(
        "{what}: label {label} at sample {index} is out of range for {num_classes} classes (the output layer `{layer}` has {num_classes} units)"
    )]
    LabelOutOfRange {
        /// Which data (`y`, `validation y`).
        what: &'static str,
        /// The label.
        label: i64,
        /// The sample index.
        index: usize,
        /// The number of classes (output units).
        num_classes: usize,
        /// The output layer's name.
        layer: String,
    },
    /// Targets do not fit the model's output for this loss.
    #[error("{what} has shape {actual}, but {loss} on layer `{layer}` needs {expected}")]
    TargetShape {
        /// Which data.
        what: &'static str,
        /// The loss name.
        loss: String,
        /// The output layer's name.
        layer: String,
        /// What the loss needs, in words.
        expected: String,
        /// The shape given.
        actual: String,
    },
    /// An option is outside its valid range.
    #[error("invalid option `{option}`: {reason}")]
    InvalidOption {
        /// The option.
        option: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The loss became NaN or infinite.
    #[error(
        "the loss became {value} in epoch {epoch}; lower the learning rate or check the data for NaN/inf"
    )]
    NonFiniteLoss {
        /// The 1-based epoch.
        epoch: usize,
        /// The loss value.
        value: f64,
    },
    /// A callback watches a quantity this `fit` does not produce.
    #[error("callback monitor `{monitor}` is not produced by this fit; available: {}", valid.join(", "))]
    UnknownMonitor {
        /// The name asked for.
        monitor: String,
        /// The names this run logs.
        valid: Vec<String>,
    },
    /// A file could not be written.
    #[error("cannot write {path}")]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A `BackupAndRestore` backup cannot be used (corrupt, of another model or optimizer).
    #[error("cannot restore the backup {path}: {reason}")]
    Backup {
        /// The backup file.
        path: std::path::PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A TensorBoard event file cannot be read back: it cannot be opened, a record is
    /// truncated, a checksum does not match (the file is corrupt), or a record is not an
    /// `Event`.
    #[error("cannot read the event file {path} at byte {offset}: {reason}")]
    EventFile {
        /// The event file.
        path: std::path::PathBuf,
        /// Where in the file the bad record starts (0 when the file cannot be read at all).
        offset: u64,
        /// What is wrong.
        reason: String,
        /// The underlying error (I/O, protobuf decoding), when there is one.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// A user's data set could not give a batch (a failed read, a bad file): its own error is
    /// the cause.
    #[error("the data set could not give batch {batch}")]
    Dataset {
        /// The batch index asked for.
        batch: usize,
        /// The data set's error.
        #[source]
        source: kiln_datasets::BoxError,
    },
    /// A batch from a data set does not fit the model (a shape, a label, a count): the check
    /// that failed is the cause.
    #[error("batch {batch} of the data set does not fit the model")]
    BadBatch {
        /// The batch index.
        batch: usize,
        /// What does not fit.
        #[source]
        source: Box<Error>,
    },
    /// A plot could not be drawn or written.
    #[error("cannot plot the history: {0}")]
    Plot(String),
    /// A tensor could not be read back from the device.
    #[error("reading a value back from the device failed: {0}")]
    Readback(String),
    /// The history could not be (de)serialized.
    #[error("invalid history JSON")]
    Json(#[source] serde_json::Error),
}

/// `map_err` for an I/O failure on `path`.
pub(crate) fn io_error(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
