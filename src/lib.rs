//! # Kiln
//!
//! A Keras-like high-level deep-learning API for Rust, built on [burn](https://burn.dev):
//! what a Keras user writes, with Keras's defaults and numbers, on burn's CPU and GPU backends.
//!
//! ```
//! use kiln::prelude::*;
//!
//! # fn main() -> kiln::Result<()> {
//! let ((x_train, y_train), (x_test, y_test)) = kiln::datasets::mnist::load_data()?;
//! # let x_train = x_train.slice(ndarray::s![..512, .., ..]).to_owned();
//! # let y_train = y_train.slice(ndarray::s![..512]).to_owned();
//! # let x_test = x_test.slice(ndarray::s![..256, .., ..]).to_owned();
//! # let y_test = y_test.slice(ndarray::s![..256]).to_owned();
//! let (x_train, x_test) = (scale_pixels(&x_train), scale_pixels(&x_test));
//! let (y_train, y_test) = (to_categorical(y_train.view(), Some(10))?,
//!                          to_categorical(y_test.view(), Some(10))?);
//!
//! let device = kiln::device("flex")?;
//! let mut model = Sequential::new()
//!     .add(Input::new([28, 28]))
//!     .add(Flatten::new())
//!     .add(Dense::new(128).activation(Activation::Relu))
//!     .add(Dense::new(10).activation(Activation::Softmax))
//!     .build(&device)?
//!     .compile(Optimizer::adam(), Loss::CategoricalCrossentropy, [Metric::Accuracy])?;
//! println!("{}", model.summary());
//! let history = model.fit(&x_train, &y_train, FitOptions::new().epochs(2).batch_size(32)
//!     .validation_data(&x_test, &y_test))?;
//! let scores = model.evaluate(&x_test, &y_test)?;
//! println!("test accuracy {:.4}", scores["accuracy"]);
//! # assert!(history.last("val_accuracy").is_some());
//! # Ok(())
//! # }
//! ```
//!
//! - [`model`]: layers, `Sequential`, `summary`, architecture JSON, weights.
//! - [`train`]: `compile`, `fit`, `evaluate`, `predict`, optimizers, losses, metrics.
//! - [`datasets`]: MNIST with checksums and cache, `to_categorical`, `scale_pixels` (and `normalize`, Keras's L2), splits.
//! - [`Backend`]/[`device`]: the burn backend, chosen by Cargo feature and at run time.

mod backend;
mod error;

pub use backend::{BACKEND_ENV, Backend, BackendError, device};
pub use error::{Error, Result, error_chain, error_chain_string};

pub use burn;
pub use kiln_datasets as datasets;
pub use kiln_model as model;
pub use kiln_train as train;

/// The names most programs use.
pub mod prelude {
    pub use crate::{Backend, device};
    pub use burn::tensor::Device;
    pub use kiln_datasets::{scale_pixels, to_categorical, train_test_split};
    pub use kiln_model::{
        Activation, ActivationLayer, Add, Apply, Average, AveragePooling1d, AveragePooling2d,
        BatchNormalization, Bidirectional, Concatenate, Conv1d, Conv2d, Conv2dTranspose,
        Cropping1d, Cropping2d, Dense, Dot, Dropout, Elu, Embedding, Flatten, Functional,
        GlobalAveragePooling1d, GlobalAveragePooling2d, GlobalMaxPooling1d, GlobalMaxPooling2d,
        GroupNormalization, Gru, Identity, Initializer, Input, LayerExt, LayerNormalization,
        LayerSpec, LeakyRelu, Lstm, MaxPooling1d, MaxPooling2d, Maximum, MergeMode, Minimum, Model,
        MultiHeadAttention, Multiply, Padding, Regularizer, Rescaling, Reshape, Sequential, Shape,
        SimpleRnn, Subtract, SymbolicTensor, UnitNormalization,
    };
    pub use kiln_train::{
        Compile, CompiledModel, FitOptions, History, Loss, Metric, Optimizer, Validation, Verbosity,
    };
}
