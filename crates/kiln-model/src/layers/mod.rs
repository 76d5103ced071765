//! Layers: one file per layer (options with Keras's defaults, shape rule, weights, forward,
//! config), all behind the one [`Layer`] interface, and the registry that reads them back from
//! Keras-shaped JSON.

mod conv_utils;
mod custom;
mod image_resize;
mod image_transform;
mod input;
mod kernel;
mod lambda;
mod layer;
mod recurrent;
mod registry;
mod weights;

/// The built-in layers: each line is a layer's file and the classes it defines with their
/// Keras class names. It declares the module, re-exports the types and registers the classes
/// for reading configs, so adding a layer is its file and one line here.
macro_rules! builtin_layers {
    ($($file:ident::{$($ty:ident => $class:literal $(by $make:path)?),+ $(,)?}),+ $(,)?) => {
        $(mod $file; pub use $file::{$($ty),+};)+

        /// Every built-in class: its Keras name and its reader (serde's, or the layer's own
        /// `by` function).
        pub(crate) const BUILTIN: &[(&str, registry::Make)] = &[
            ("InputLayer", registry::keras::<InputLayer>),
            $($(($class, builtin_layers!(@make $ty $(, $make)?)),)+)+
        ];
    };
    (@make $ty:ident) => { registry::keras::<$ty> };
    (@make $ty:ident, $make:path) => { $make };
}

builtin_layers! {
    activation_layer::{ActivationLayer => "Activation"},
    activity_regularization::{ActivityRegularization => "ActivityRegularization"},
    alpha_dropout::{AlphaDropout => "AlphaDropout"},
    attention::{AdditiveAttention => "AdditiveAttention", Attention => "Attention"},
    batch_normalization::{BatchNormalization => "BatchNormalization"},
    bidirectional::{Bidirectional => "Bidirectional"},
    category_encoding::{CategoryEncoding => "CategoryEncoding"},
    center_crop::{CenterCrop => "CenterCrop"},
    concatenate::{Concatenate => "Concatenate"},
    conv1d::{Conv1d => "Conv1D"},
    conv_lstm::{ConvLstm1d => "ConvLSTM1D", ConvLstm2d => "ConvLSTM2D"},
    conv1d_transpose::{Conv1dTranspose => "Conv1DTranspose"},
    conv2d::{Conv2d => "Conv2D"},
    conv2d_transpose::{Conv2dTranspose => "Conv2DTranspose"},
    conv3d::{Conv3d => "Conv3D"},
    conv3d_transpose::{Conv3dTranspose => "Conv3DTranspose"},
    cropping::{Cropping1d => "Cropping1D", Cropping2d => "Cropping2D", Cropping3d => "Cropping3D"},
    dense::{Dense => "Dense"},
    depthwise_conv::{DepthwiseConv1d => "DepthwiseConv1D", DepthwiseConv2d => "DepthwiseConv2D"},
    discretization::{Discretization => "Discretization"},
    dot::{Dot => "Dot"},
    dropout::{Dropout => "Dropout"},
    einsum_dense::{EinsumDense => "EinsumDense"},
    elu::{Elu => "ELU"},
    embedding::{Embedding => "Embedding"},
    flatten::{Flatten => "Flatten"},
    gaussian_dropout::{GaussianDropout => "GaussianDropout"},
    gaussian_noise::{GaussianNoise => "GaussianNoise"},
    group_normalization::{GroupNormalization => "GroupNormalization"},
    grouped_query_attention::{GroupedQueryAttention => "GroupQueryAttention"},
    hashing::{Hashing => "Hashing" by hashing::read},
    identity::{Identity => "Identity"},
    index_lookup::{
        IntegerLookup => "IntegerLookup" by index_lookup::read::<i64>,
        StringLookup => "StringLookup" by index_lookup::read::<String>,
    },
    global_pooling::{
        GlobalAveragePooling1d => "GlobalAveragePooling1D",
        GlobalAveragePooling2d => "GlobalAveragePooling2D",
        GlobalMaxPooling1d => "GlobalMaxPooling1D",
        GlobalMaxPooling2d => "GlobalMaxPooling2D",
        GlobalAveragePooling3d => "GlobalAveragePooling3D",
        GlobalMaxPooling3d => "GlobalMaxPooling3D",
    },
    layer_normalization::{LayerNormalization => "LayerNormalization"},
    masking::{Masking => "Masking"},
    leaky_relu::{LeakyRelu => "LeakyReLU"},
    multi_head_attention::{MultiHeadAttention => "MultiHeadAttention"},
    normalization::{Normalization => "Normalization"},
    merge::{
        Add => "Add",
        Average => "Average",
        Maximum => "Maximum",
        Minimum => "Minimum",
        Multiply => "Multiply",
        Subtract => "Subtract",
    },
    pooling1d::{AveragePooling1d => "AveragePooling1D", MaxPooling1d => "MaxPooling1D"},
    pooling2d::{AveragePooling2d => "AveragePooling2D", MaxPooling2d => "MaxPooling2D"},
    pooling3d::{AveragePooling3d => "AveragePooling3D", MaxPooling3d => "MaxPooling3D"},
    permute::{Permute => "Permute"},
    prelu::{PRelu => "PReLU"},
    random_affine::{
        RandomRotation => "RandomRotation",
        RandomTranslation => "RandomTranslation",
        RandomZoom => "RandomZoom",
    },
    random_color::{RandomBrightness => "RandomBrightness", RandomContrast => "RandomContrast"},
    random_crop::{RandomCrop => "RandomCrop"},
    random_flip::{RandomFlip => "RandomFlip"},
    relu::{Relu => "ReLU"},
    repeat_vector::{RepeatVector => "RepeatVector"},
    rescaling::{Rescaling => "Rescaling"},
    reshape::{Reshape => "Reshape"},
    resizing::{Resizing => "Resizing"},
    rms_normalization::{RmsNormalization => "RMSNormalization"},
    rnn::{Gru => "GRU", Lstm => "LSTM", SimpleRnn => "SimpleRNN"},
    separable_conv::{SeparableConv1d => "SeparableConv1D", SeparableConv2d => "SeparableConv2D"},
    softmax::{Softmax => "Softmax"},
    spatial_dropout::{
        SpatialDropout1d => "SpatialDropout1D",
        SpatialDropout2d => "SpatialDropout2D",
        SpatialDropout3d => "SpatialDropout3D",
    },
    text_vectorization::{TextVectorization => "TextVectorization" by text_vectorization::read},
    time_distributed::{TimeDistributed => "TimeDistributed"},
    unit_normalization::{UnitNormalization => "UnitNormalization"},
    up_sampling::{
        UpSampling1d => "UpSampling1D",
        UpSampling2d => "UpSampling2D",
        UpSampling3d => "UpSampling3D",
    },
    zero_padding::{
        ZeroPadding1d => "ZeroPadding1D",
        ZeroPadding2d => "ZeroPadding2D",
        ZeroPadding3d => "ZeroPadding3D",
    },
}

pub use bidirectional::MergeMode;
pub use conv_lstm::ConvLstmOptions;
pub use conv_utils::Padding;
pub use custom::CustomObjects;
pub use image_transform::Factor;
pub use input::{Input, InputLayer};
pub use kernel::KernelOptions;
pub use lambda::Lambda;
pub(crate) use layer::snake_case;
pub use layer::{IntoOnly, Layer, LayerExt, LayerSpec, Mask, MaskPolicy, only};
pub use pooling1d::Pool1dOptions;
pub use pooling2d::Pool2dOptions;
pub use pooling3d::Pool3dOptions;
pub use random_affine::AffineOptions;
pub use recurrent::Cell;
pub use registry::builtin_class_names;
pub use rescaling::PerChannel;
pub use rnn::RnnOptions;
pub use weights::{MAX_WEIGHT_VALUES, Variable, WeightBuilder, WeightSpec, Weights};

pub(crate) use registry::builtin;

use serde::{Deserialize, Deserializer};

use crate::activation::Activation;
use crate::initializer::Initializer;

/// [`Error::Unsaveable`](crate::Error::Unsaveable) for the first of `layers` that cannot be
/// written to a config.
pub(crate) fn check_saveable(layers: &[LayerSpec]) -> crate::error::Result<()> {
    for spec in layers {
        spec.layer()
            .saveable()
            .map_err(|reason| crate::error::Error::Unsaveable {
                layer: spec.layer_name().unwrap_or(spec.class_name()).to_string(),
                reason,
            })?;
    }
    Ok(())
}

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
    (@items [$($path:tt).*] $(#[$doc:meta])* $field:ident: String, $($rest:tt)*) => {
        $(#[$doc])*
        pub fn $field(mut self, value: impl Into<String>) -> Self {
            self$(.$path)*.$field = value.into();
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
