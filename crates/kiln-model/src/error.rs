//! The error type of `kiln-model`.

use std::path::PathBuf;

use crate::shape::Shape;

/// Everything that can go wrong while describing, building or running a model.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A layer cannot take the shape the previous layer produces.
    #[error("layer `{layer}` cannot take input of shape {input}: {reason}")]
    IncompatibleShape {
        /// The layer's name (`dense_1`).
        layer: String,
        /// The shape it receives.
        input: Shape,
        /// What it needs instead, in words (naming the expected shape).
        reason: String,
    },
    /// Data handed to the model does not have the shape the model expects.
    #[error("{what} has shape {actual}, but layer `{layer}` expects {expected}")]
    DataShape {
        /// Which data (`x`, `y`, `validation x`).
        what: String,
        /// The layer the data meets (`input_layer` or the last layer).
        layer: String,
        /// The expected shape (batch axis as `None`).
        expected: Shape,
        /// The shape given (batch axis included).
        actual: String,
    },
    /// An id given to an `Embedding` is not in `0..input_dim` (or not a whole number).
    #[error(
        "{what}: value {value} at position {index} is not an id of layer `{layer}` (0..{input_dim})"
    )]
    IdOutOfRange {
        /// Which data.
        what: String,
        /// The layer's name.
        layer: String,
        /// The value found.
        value: f32,
        /// Its position in the flattened data.
        index: usize,
        /// The vocabulary size.
        input_dim: usize,
    },
    /// The model has no `Input` layer, or one that is not first.
    #[error("{0}")]
    InvalidModel(String),
    /// A layer option is outside its valid range.
    #[error("layer `{layer}`: invalid {option}: {reason}")]
    InvalidOption {
        /// The layer's name.
        layer: String,
        /// The option.
        option: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A name (activation, layer class) is not one Kiln knows.
    #[error("unknown {kind} `{name}`; valid names: {}", valid.join(", "))]
    UnknownName {
        /// What kind of name (`activation`).
        kind: &'static str,
        /// The name given.
        name: String,
        /// The valid names.
        valid: Vec<&'static str>,
    },
    /// A config names a layer class that is neither Kiln's nor a registered custom layer.
    #[error(
        "unknown layer class `{class_name}`: Kiln has no such layer; for a custom layer, register \
         its constructor in `CustomObjects` and read with `Sequential::from_config_with` or \
         `load_model_with`"
    )]
    UnknownLayer {
        /// The class name in the config.
        class_name: String,
    },
    /// A weight given to the model does not have the shape the model expects.
    #[error("weight `{weight}` has shape {actual:?}, expected {expected:?}")]
    WeightMismatch {
        /// The weight's name (`dense/kernel`).
        weight: String,
        /// The model's shape for it.
        expected: Vec<usize>,
        /// The shape given.
        actual: Vec<usize>,
    },
    /// A weights file lacks a weight the model has.
    #[error("{path} has no weight `{weight}`")]
    MissingWeight {
        /// The weight's name (`dense/kernel`).
        weight: String,
        /// The file.
        path: PathBuf,
    },
    /// A weights file is truncated, corrupt or of another format.
    #[error("invalid weights file: {0}")]
    WeightsFile(String),
    /// The architecture JSON could not be read.
    #[error("invalid model config")]
    Config(#[source] serde_json::Error),
    /// A file could not be read or written.
    #[error("cannot access {path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A tensor could not be read back from the device.
    #[error("reading a tensor back from the device failed: {0}")]
    Readback(String),
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
