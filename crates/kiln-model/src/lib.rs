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
mod data;
mod error;
mod initializer;
mod keras_object;
mod layers;
mod model;
mod regularizer;
mod samples;
mod sequential;
mod shape;
mod summary;
mod tensor;
mod weights_file;

pub use activation::Activation;
pub use data::{ArrayInput, Element, HostData};
pub use error::{Error, Result};
pub use initializer::Initializer;
pub use layers::{
    ActivationLayer, ActivationModule, AveragePooling1d, AveragePooling2d, BatchNormalization,
    BatchNormalizationLayer, Cell, Conv1d, Conv1dLayer, Conv2d, Conv2dLayer, CustomLayer,
    CustomModule, CustomObjects, CustomSpec, CustomWeights, Dense, DenseLayer, Dropout,
    DropoutLayer, Embedding, EmbeddingLayer, Flatten, FlattenLayer, GlobalAveragePooling1d,
    GlobalAveragePooling2d, GlobalMaxPooling1d, GlobalMaxPooling2d, GlobalPool2dLayer, Gru, Input,
    Layer, LayerNormalization, LayerNormalizationLayer, LayerSpec, Lstm, MaxPooling1d,
    MaxPooling2d, Padding, Pool1dLayer, Pool1dOptions, Pool2dLayer, Pool2dOptions, RecurrentLayer,
    Rescaling, RescalingLayer, Reshape, ReshapeLayer, RnnOptions, SimpleRnn, UpSampling2d,
    UpSampling2dLayer, WeightRef, WeightSpec, ZeroPadding2d, ZeroPadding2dLayer,
};
pub use model::{Model, ModelInfo};
pub use regularizer::Regularizer;
pub use samples::{DEVICE_DATA_LIMIT, Samples};
pub use sequential::Sequential;
pub use shape::{Shape, format_dims};
pub use summary::{LayerInfo, Summary, readable_bytes, thousands};
pub use tensor::DynTensor;
pub use weights_file::{CONFIG_KEY, load_model, load_model_with};
