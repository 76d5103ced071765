//! Kiln's models: Keras layers as serializable specs, a runtime-built `Sequential` with shape
//! inference, Keras's `summary()`, and `predict`, on any burn device.
//!
//! # Quick start
//! ```
//! use kiln_model::{Activation, Dense, Flatten, Input, Sequential};
//!
//! let device = burn::tensor::Device::flex();
//! let model = Sequential::new()
//!     .add(Input::new([28, 28]))
//!     .add(Flatten::new())
//!     .add(Dense::new(128).activation(Activation::Relu))
//!     .add(Dense::new(10).activation(Activation::Softmax))
//!     .seed(42)
//!     .build(&device)?;
//! println!("{}", model.summary());
//! let probabilities = model.predict(&ndarray::Array3::<f32>::zeros((2, 28, 28)), 32)?;
//! assert_eq!(probabilities.shape(), &[2, 10]);
//! # Ok::<(), kiln_model::Error>(())
//! ```

mod activation;
mod bernoulli;
mod config;
mod constraint;
mod data;
mod error;
#[cfg(feature = "flex")]
mod fast;
mod functional;
mod graph;
mod initializer;
mod keras_file;
mod keras_object;
mod keras_weights;
mod layers;
mod legacy_h5;
mod limits;
mod model;
mod regularizer;
mod samples;
mod sequential;
mod shape;
mod summary;
mod tensor;
mod weights_file;

pub use activation::Activation;
pub use constraint::Constraint;
pub use data::{ArrayInput, Element, HostData};
pub use error::{Error, Result};
pub use functional::{Apply, Functional, SymbolicTensor, Tensors};
pub use initializer::Initializer;
/// The user-layer trait under its former name: [`Layer`] is the one interface of built-in and
/// user layers.
pub use layers::Layer as CustomLayer;
// Every layer type, the `Layer` trait and its helpers (see `layers/mod.rs`).
pub use keras_file::{
    KERAS_VERSION, KerasArchive, MAX_ENTRY_BYTES, OptimizerVariable, OptimizerVariables,
};
pub use layers::*;
pub use limits::{DEFAULT_MAX_MODEL_VALUES, max_model_values, set_max_model_values};
pub use model::{LossPass, Model, ModelConfig};
pub use regularizer::Regularizer;
pub use samples::{DEVICE_DATA_LIMIT, Samples};
pub use sequential::Sequential;
pub use shape::{Shape, format_dims};
pub use summary::{LayerInfo, Summary, readable_bytes, thousands};
pub use tensor::{DynTensor, DynTensors, MAX_RANK};
pub use weights_file::{CONFIG_KEY, load_keras, load_model, load_model_with, write_atomic};
