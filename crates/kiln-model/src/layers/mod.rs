//! Layers: one file per layer (options with Keras's defaults, shape rule, weights, forward,
//! config), all behind the one [`Layer`] interface, and the registry that reads them back from
//! Keras-shaped JSON.

mod activation_layer;
mod batch_normalization;
mod concatenate;
mod conv1d;
mod conv2d;
mod conv_utils;
mod custom;
mod dense;
mod dot;
mod dropout;
mod embedding;
mod flatten;
mod global_pooling;
mod input;
mod layer;
mod layer_normalization;
mod merge;
mod pooling1d;
mod pooling2d;
mod recurrent;
mod registry;
mod rescaling;
mod reshape;
mod rnn;
mod up_sampling2d;
mod weights;
mod zero_padding2d;

pub use activation_layer::ActivationLayer;
pub use batch_normalization::BatchNormalization;
pub use concatenate::Concatenate;
pub use conv_utils::Padding;
pub use conv1d::Conv1d;
pub use conv2d::Conv2d;
pub use custom::CustomObjects;
pub use dense::Dense;
pub use dot::Dot;
pub use dropout::Dropout;
pub use embedding::Embedding;
pub use flatten::Flatten;
pub use global_pooling::{
    GlobalAveragePooling1d, GlobalAveragePooling2d, GlobalMaxPooling1d, GlobalMaxPooling2d,
};
pub use input::{Input, InputLayer};
pub use layer::{IntoOnly, Layer, LayerExt, LayerSpec, only};
pub use layer_normalization::LayerNormalization;
pub use merge::{Add, Average, Maximum, Minimum, Multiply, Subtract};
pub use pooling1d::{AveragePooling1d, MaxPooling1d, Pool1dOptions};
pub use pooling2d::{AveragePooling2d, MaxPooling2d, Pool2dOptions};
pub use recurrent::Cell;
pub use rescaling::Rescaling;
pub use reshape::Reshape;
pub use rnn::{Gru, Lstm, RnnOptions, SimpleRnn};
pub use up_sampling2d::UpSampling2d;
pub use weights::{MAX_WEIGHT_VALUES, Variable, WeightBuilder, WeightSpec, Weights};
pub use zero_padding2d::ZeroPadding2d;

pub(crate) use registry::builtin;
pub use registry::builtin_class_names;

use serde::{Deserialize, Deserializer};

use crate::activation::Activation;
use crate::initializer::Initializer;

pub(crate) fn yes() -> bool {
    true
}

pub(crate) fn glorot() -> Initializer {
    Initializer::GlorotUniform
}

pub(crate) fn activation_or_null<'de, D: Deserializer<'de>>(
    d: D,
) -> std::result::Result<Activation, D::Error> {
    let name: Option<String> = Option::deserialize(d)?;
    match name {
        None => Ok(Activation::Linear),
        Some(n) => n.parse().map_err(serde::de::Error::custom),
    }
}

/// A built-in layer's config: its options as serde writes them.
pub(crate) fn config_of<T: serde::Serialize>(layer: &T) -> serde_json::Value {
    serde_json::to_value(layer).unwrap_or_default()
}

/// Builder methods for a layer's options, written once: `field: Type` takes the value,
/// `field: Option<Type>` takes a `Type` and stores `Some`. A `[path]` reaches options kept in
/// a nested struct.
macro_rules! setters {
    ($ty:ty $([$($path:tt).+])? { $($body:tt)* }) => {
        impl $ty {
            $crate::layers::setters!(@items [$($($path).+)?] $($body)*);
        }
    };
    (@items [$($path:tt).*]) => {};
    (@items [$($path:tt).*] $(#[$doc:meta])* $field:ident: Option<$t:ty>, $($rest:tt)*) => {
        $(#[$doc])*
        pub fn $field(mut self, value: $t) -> Self {
            self$(.$path)*.$field = Some(value);
            self
        }
        $crate::layers::setters!(@items [$($path).*] $($rest)*);
    };
    (@items [$($path:tt).*] $(#[$doc:meta])* $field:ident: $t:ty, $($rest:tt)*) => {
        $(#[$doc])*
        pub fn $field(mut self, value: $t) -> Self {
            self$(.$path)*.$field = value;
            self
        }
        $crate::layers::setters!(@items [$($path).*] $($rest)*);
    };
}
pub(crate) use setters;
