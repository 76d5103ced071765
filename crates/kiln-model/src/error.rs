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
    /// A model larger than [`max_model_values`](crate::max_model_values) allows.
    #[error(
        "layer `{layer}`: {what} of {values} values passes the bound of {limit} values on a model \
         (kiln_model::set_max_model_values raises it)"
    )]
    ModelTooLarge {
        /// The layer where the bound is passed.
        layer: String,
        /// `the weights so far` or `one sample's output`.
        what: &'static str,
        /// The size (`usize::MAX` when it overflows).
        values: usize,
        /// The bound.
        limit: usize,
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
    /// A model holding a layer that cannot be written to a file (a `Lambda`'s closure) was
    /// saved.
    #[error(
        "layer `{layer}` cannot be saved: {reason}; save the weights with save_weights, or write it as a custom layer"
    )]
    Unsaveable {
        /// The layer's name.
        layer: String,
        /// Why.
        reason: String,
    },
    /// Data handed to the model holds values of a kind its input does not take (strings for a
    /// numeric input, or numbers for a string input).
    #[error("{what} holds {actual} values, but input `{layer}` takes {expected}")]
    DataType {
        /// Which data.
        what: String,
        /// The input layer.
        layer: String,
        /// What the input takes (`"string"`, `"numeric"`).
        expected: &'static str,
        /// The element type given (`"float32"`).
        actual: &'static str,
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
    /// A layer of several inputs cannot take their shapes.
    #[error(
        "layer `{layer}` cannot take inputs of shapes {}: {reason}",
        shapes(inputs)
    )]
    IncompatibleShapes {
        /// The layer's name.
        layer: String,
        /// The shapes it was given.
        inputs: Vec<Shape>,
        /// Why not.
        reason: String,
    },
    /// A layer failed while running (a custom layer's own error, or data of the wrong rank).
    #[error("layer `{layer}`: {reason}")]
    LayerCall {
        /// The layer's name.
        layer: String,
        /// Its message.
        reason: String,
    },
    /// A model output depends on an input that is not among the model's inputs.
    #[error("output `{output}` depends on input `{input}`, which is not one of the model's inputs")]
    NotConnected {
        /// The output.
        output: String,
        /// The input it depends on.
        input: String,
    },
    /// A model input leads to none of its outputs.
    #[error("input `{input}` is not used by any output of the model")]
    UnusedInput {
        /// The input.
        input: String,
    },
    /// Two layers of one model share a name.
    #[error("the layer name `{name}` is used twice in the model; names must be unique")]
    DuplicateName {
        /// The name.
        name: String,
    },
    /// A layer's config could not be read.
    #[error("layer `{name}` ({class_name}): invalid config: {reason}")]
    LayerConfig {
        /// Keras's class name.
        class_name: String,
        /// The layer's name, when the config has one.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// The model is not valid: no `Input` layer, or one that is not first, or another reason
    /// the message gives.
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
        "layer `{layer}`: unknown layer class `{class_name}`: Kiln has no such layer; for a \
         custom layer, register its constructor in `CustomObjects` and read with \
         `Sequential::from_config_with` or `load_model_with`"
    )]
    UnknownLayer {
        /// The class name in the config.
        class_name: String,
        /// The layer's name in the config (empty when it has none).
        layer: String,
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
    /// A weights file holds a weight the model does not have (a file of another model; Keras's
    /// `load_weights` refuses too unless `skip_mismatch`).
    #[error("{path} holds `{weight}`, which this model does not have (a file of another model?)")]
    UnexpectedWeight {
        /// The name in the file.
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
    /// A path whose extension names no format Kiln reads or writes there.
    #[error("{}: unknown file format; use {supported}", path.display())]
    UnsupportedFormat {
        /// The path.
        path: PathBuf,
        /// The extensions that work there (`.keras, .safetensors`).
        supported: &'static str,
    },
    /// A Keras file (`.keras`, `.weights.h5`, `.h5`) that does not hold what Keras writes.
    #[error("{}: {reason}", path.display())]
    KerasFile {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// An HDF5 file (or the one inside a `.keras` zip) that cannot be read.
    #[error("{} is not a readable HDF5 file", path.display())]
    Hdf5 {
        /// The file.
        path: PathBuf,
        /// What the HDF5 reader found.
        #[source]
        source: hdf5_pure::Error,
    },
    /// A `.keras` file that is not a readable zip archive.
    #[error("{} is not a readable .keras (zip) archive", path.display())]
    Zip {
        /// The file.
        path: PathBuf,
        /// What the zip reader found.
        #[source]
        source: zip::result::ZipError,
    },
    /// A tensor could not be read back from the device.
    #[error("reading a tensor back from the device failed: {0}")]
    Readback(String),
}

fn shapes(shapes: &[Shape]) -> String {
    shapes
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(" and ")
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
