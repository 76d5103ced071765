//! Layer specs (what the user writes, serializable) and built layers (burn modules).

mod activation_layer;
mod batch_normalization;
mod conv1d;
mod conv2d;
mod conv_utils;
mod custom;
mod dense;
mod dropout;
mod embedding;
mod flatten;
mod global_pooling;
mod init;
mod input;
mod layer_normalization;
mod pooling1d;
mod pooling2d;
mod recurrent;
mod rescaling;
mod reshape;
mod rnn;
mod up_sampling2d;
mod zero_padding2d;

pub use activation_layer::{ActivationLayer, ActivationModule};
pub use batch_normalization::{BatchNormalization, BatchNormalizationLayer};
pub use conv_utils::Padding;
pub use conv1d::{Conv1d, Conv1dLayer};
pub use conv2d::{Conv2d, Conv2dLayer};
pub use custom::{CustomLayer, CustomModule, CustomObjects, CustomSpec, CustomWeights, WeightSpec};
pub use dense::{Dense, DenseLayer};
pub use dropout::{Dropout, DropoutLayer};
pub use embedding::{Embedding, EmbeddingLayer};
pub use flatten::{Flatten, FlattenLayer};
pub use global_pooling::{
    GlobalAveragePooling1d, GlobalAveragePooling2d, GlobalMaxPooling1d, GlobalMaxPooling2d,
    GlobalPool2dLayer,
};
pub use input::Input;
pub use layer_normalization::{LayerNormalization, LayerNormalizationLayer};
pub use pooling1d::{AveragePooling1d, MaxPooling1d, Pool1dLayer, Pool1dOptions};
pub use pooling2d::{AveragePooling2d, MaxPooling2d, Pool2dLayer, Pool2dOptions};
pub use recurrent::{Cell, RecurrentLayer};
pub use rescaling::{Rescaling, RescalingLayer};
pub use reshape::{Reshape, ReshapeLayer};
pub use rnn::{Gru, Lstm, RnnOptions, SimpleRnn};
pub use up_sampling2d::{UpSampling2d, UpSampling2dLayer};
pub use zero_padding2d::{ZeroPadding2d, ZeroPadding2dLayer};

use burn::module::{Module, Param, RunningState};
use burn::tensor::{Device, Tensor};
use rand::rngs::StdRng;
use serde::{Deserialize, Deserializer, Serialize};

use crate::activation::Activation;
use crate::error::Result;
use crate::initializer::Initializer;
use crate::regularizer::Regularizer;
use crate::shape::Shape;
use crate::tensor::DynTensor;

pub(crate) fn yes() -> bool {
    true
}

pub(crate) fn glorot() -> Initializer {
    Initializer::GlorotUniform
}

pub(crate) fn activation_or_null<'de, D: Deserializer<'de>>(d: D) -> Result<Activation, D::Error> {
    let name: Option<String> = Option::deserialize(d)?;
    match name {
        None => Ok(Activation::Linear),
        Some(n) => n.parse().map_err(serde::de::Error::custom),
    }
}

/// One layer as the user describes it: Keras's class name and config. A list of these is the
/// architecture of a `Sequential`; it serializes to Keras-shaped JSON
/// (`{"class_name": "Dense", "config": {"name": "dense", "units": 128, ...}}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "class_name", content = "config")]
#[non_exhaustive]
pub enum LayerSpec {
    /// See [`Input`].
    #[serde(rename = "InputLayer")]
    Input(Input),
    /// See [`Flatten`].
    Flatten(Flatten),
    /// See [`Dense`].
    Dense(Dense),
    /// See [`Reshape`].
    Reshape(Reshape),
    /// See [`ActivationLayer`].
    #[serde(rename = "Activation")]
    Activation(ActivationLayer),
    /// See [`Conv2d`].
    #[serde(rename = "Conv2D")]
    Conv2d(Conv2d),
    /// See [`MaxPooling2d`].
    #[serde(rename = "MaxPooling2D")]
    MaxPooling2d(MaxPooling2d),
    /// See [`AveragePooling2d`].
    #[serde(rename = "AveragePooling2D")]
    AveragePooling2d(AveragePooling2d),
    /// See [`GlobalAveragePooling2d`].
    #[serde(rename = "GlobalAveragePooling2D")]
    GlobalAveragePooling2d(GlobalAveragePooling2d),
    /// See [`GlobalMaxPooling2d`].
    #[serde(rename = "GlobalMaxPooling2D")]
    GlobalMaxPooling2d(GlobalMaxPooling2d),
    /// See [`Dropout`].
    Dropout(Dropout),
    /// See [`Rescaling`].
    Rescaling(Rescaling),
    /// See [`LayerNormalization`].
    LayerNormalization(LayerNormalization),
    /// See [`Embedding`].
    Embedding(Embedding),
    /// See [`ZeroPadding2d`].
    #[serde(rename = "ZeroPadding2D")]
    ZeroPadding2d(ZeroPadding2d),
    /// See [`UpSampling2d`].
    #[serde(rename = "UpSampling2D")]
    UpSampling2d(UpSampling2d),
    /// See [`BatchNormalization`].
    BatchNormalization(BatchNormalization),
    /// See [`Conv1d`].
    #[serde(rename = "Conv1D")]
    Conv1d(Conv1d),
    /// See [`MaxPooling1d`].
    #[serde(rename = "MaxPooling1D")]
    MaxPooling1d(MaxPooling1d),
    /// See [`AveragePooling1d`].
    #[serde(rename = "AveragePooling1D")]
    AveragePooling1d(AveragePooling1d),
    /// See [`GlobalAveragePooling1d`].
    #[serde(rename = "GlobalAveragePooling1D")]
    GlobalAveragePooling1d(GlobalAveragePooling1d),
    /// See [`GlobalMaxPooling1d`].
    #[serde(rename = "GlobalMaxPooling1D")]
    GlobalMaxPooling1d(GlobalMaxPooling1d),
    /// See [`SimpleRnn`].
    #[serde(rename = "SimpleRNN")]
    SimpleRnn(SimpleRnn),
    /// See [`Lstm`].
    #[serde(rename = "LSTM")]
    Lstm(Lstm),
    /// See [`Gru`].
    #[serde(rename = "GRU")]
    Gru(Gru),
    /// A user-defined layer (see [`CustomLayer`]); serialized by `Sequential` with its own
    /// class name and config.
    #[serde(skip)]
    Custom(CustomSpec),
}

impl<L: CustomLayer> From<L> for LayerSpec {
    fn from(layer: L) -> Self {
        LayerSpec::Custom(CustomSpec::new(layer))
    }
}

impl From<CustomSpec> for LayerSpec {
    fn from(spec: CustomSpec) -> Self {
        LayerSpec::Custom(spec)
    }
}

macro_rules! spec_from {
    ($($t:ident),*) => {$(
        impl From<$t> for LayerSpec {
            fn from(spec: $t) -> Self {
                LayerSpec::$t(spec)
            }
        }
    )*};
}
spec_from!(
    Input,
    Flatten,
    Dense,
    Reshape,
    Conv2d,
    MaxPooling2d,
    AveragePooling2d,
    GlobalAveragePooling2d,
    GlobalMaxPooling2d,
    Dropout,
    Rescaling,
    LayerNormalization,
    Embedding,
    ZeroPadding2d,
    UpSampling2d,
    BatchNormalization,
    Conv1d,
    MaxPooling1d,
    AveragePooling1d,
    GlobalAveragePooling1d,
    GlobalMaxPooling1d,
    SimpleRnn,
    Lstm,
    Gru
);

impl From<ActivationLayer> for LayerSpec {
    fn from(spec: ActivationLayer) -> Self {
        LayerSpec::Activation(spec)
    }
}

impl LayerSpec {
    /// Keras's class name (`"Dense"`), or a custom layer's own.
    pub fn class_name(&self) -> &str {
        match self {
            LayerSpec::Custom(s) => s.layer.class_name(),
            LayerSpec::Input(_) => "InputLayer",
            LayerSpec::Flatten(_) => "Flatten",
            LayerSpec::Dense(_) => "Dense",
            LayerSpec::Reshape(_) => "Reshape",
            LayerSpec::Activation(_) => "Activation",
            LayerSpec::Conv2d(_) => "Conv2D",
            LayerSpec::MaxPooling2d(_) => "MaxPooling2D",
            LayerSpec::AveragePooling2d(_) => "AveragePooling2D",
            LayerSpec::GlobalAveragePooling2d(_) => "GlobalAveragePooling2D",
            LayerSpec::GlobalMaxPooling2d(_) => "GlobalMaxPooling2D",
            LayerSpec::Dropout(_) => "Dropout",
            LayerSpec::Rescaling(_) => "Rescaling",
            LayerSpec::LayerNormalization(_) => "LayerNormalization",
            LayerSpec::Embedding(_) => "Embedding",
            LayerSpec::ZeroPadding2d(_) => "ZeroPadding2D",
            LayerSpec::UpSampling2d(_) => "UpSampling2D",
            LayerSpec::BatchNormalization(_) => "BatchNormalization",
            LayerSpec::Conv1d(_) => "Conv1D",
            LayerSpec::MaxPooling1d(_) => "MaxPooling1D",
            LayerSpec::AveragePooling1d(_) => "AveragePooling1D",
            LayerSpec::GlobalAveragePooling1d(_) => "GlobalAveragePooling1D",
            LayerSpec::GlobalMaxPooling1d(_) => "GlobalMaxPooling1D",
            LayerSpec::SimpleRnn(_) => "SimpleRNN",
            LayerSpec::Lstm(_) => "LSTM",
            LayerSpec::Gru(_) => "GRU",
        }
    }

    /// The stem of Keras's automatic names (`"dense"` gives `dense`, `dense_1`, ...).
    pub fn base_name(&self) -> std::borrow::Cow<'static, str> {
        std::borrow::Cow::Borrowed(match self {
            LayerSpec::Custom(s) => return std::borrow::Cow::Owned(s.base_name()),
            LayerSpec::Input(_) => "input_layer",
            LayerSpec::Flatten(_) => "flatten",
            LayerSpec::Dense(_) => "dense",
            LayerSpec::Reshape(_) => "reshape",
            LayerSpec::Activation(_) => "activation",
            LayerSpec::Conv2d(_) => "conv2d",
            LayerSpec::MaxPooling2d(_) => "max_pooling2d",
            LayerSpec::AveragePooling2d(_) => "average_pooling2d",
            LayerSpec::GlobalAveragePooling2d(_) => "global_average_pooling2d",
            LayerSpec::GlobalMaxPooling2d(_) => "global_max_pooling2d",
            LayerSpec::Dropout(_) => "dropout",
            LayerSpec::Rescaling(_) => "rescaling",
            LayerSpec::LayerNormalization(_) => "layer_normalization",
            LayerSpec::Embedding(_) => "embedding",
            LayerSpec::ZeroPadding2d(_) => "zero_padding2d",
            LayerSpec::UpSampling2d(_) => "up_sampling2d",
            LayerSpec::BatchNormalization(_) => "batch_normalization",
            LayerSpec::Conv1d(_) => "conv1d",
            LayerSpec::MaxPooling1d(_) => "max_pooling1d",
            LayerSpec::AveragePooling1d(_) => "average_pooling1d",
            LayerSpec::GlobalAveragePooling1d(_) => "global_average_pooling1d",
            LayerSpec::GlobalMaxPooling1d(_) => "global_max_pooling1d",
            LayerSpec::SimpleRnn(_) => "simple_rnn",
            LayerSpec::Lstm(_) => "lstm",
            LayerSpec::Gru(_) => "gru",
        })
    }

    /// The layer's name, once given or assigned.
    pub fn name(&self) -> Option<&str> {
        match self {
            LayerSpec::Input(s) => s.name.as_deref(),
            LayerSpec::Flatten(s) => s.name.as_deref(),
            LayerSpec::Dense(s) => s.name.as_deref(),
            LayerSpec::Reshape(s) => s.name.as_deref(),
            LayerSpec::Activation(s) => s.name.as_deref(),
            LayerSpec::Conv2d(s) => s.name.as_deref(),
            LayerSpec::MaxPooling2d(s) => s.0.name.as_deref(),
            LayerSpec::AveragePooling2d(s) => s.0.name.as_deref(),
            LayerSpec::GlobalAveragePooling2d(s) => s.name.as_deref(),
            LayerSpec::GlobalMaxPooling2d(s) => s.name.as_deref(),
            LayerSpec::Dropout(s) => s.name.as_deref(),
            LayerSpec::Rescaling(s) => s.name.as_deref(),
            LayerSpec::LayerNormalization(s) => s.name.as_deref(),
            LayerSpec::Embedding(s) => s.name.as_deref(),
            LayerSpec::ZeroPadding2d(s) => s.name.as_deref(),
            LayerSpec::UpSampling2d(s) => s.name.as_deref(),
            LayerSpec::BatchNormalization(s) => s.name.as_deref(),
            LayerSpec::Conv1d(s) => s.name.as_deref(),
            LayerSpec::MaxPooling1d(s) => s.0.name.as_deref(),
            LayerSpec::AveragePooling1d(s) => s.0.name.as_deref(),
            LayerSpec::GlobalAveragePooling1d(s) => s.name.as_deref(),
            LayerSpec::GlobalMaxPooling1d(s) => s.name.as_deref(),
            LayerSpec::SimpleRnn(s) => s.options.name.as_deref(),
            LayerSpec::Lstm(s) => s.options.name.as_deref(),
            LayerSpec::Gru(s) => s.options.name.as_deref(),
            LayerSpec::Custom(s) => s.name.as_deref(),
        }
    }

    pub(crate) fn set_name(&mut self, name: String) {
        let slot = match self {
            LayerSpec::Input(s) => &mut s.name,
            LayerSpec::Flatten(s) => &mut s.name,
            LayerSpec::Dense(s) => &mut s.name,
            LayerSpec::Reshape(s) => &mut s.name,
            LayerSpec::Activation(s) => &mut s.name,
            LayerSpec::Conv2d(s) => &mut s.name,
            LayerSpec::MaxPooling2d(s) => &mut s.0.name,
            LayerSpec::AveragePooling2d(s) => &mut s.0.name,
            LayerSpec::GlobalAveragePooling2d(s) => &mut s.name,
            LayerSpec::GlobalMaxPooling2d(s) => &mut s.name,
            LayerSpec::Dropout(s) => &mut s.name,
            LayerSpec::Rescaling(s) => &mut s.name,
            LayerSpec::LayerNormalization(s) => &mut s.name,
            LayerSpec::Embedding(s) => &mut s.name,
            LayerSpec::ZeroPadding2d(s) => &mut s.name,
            LayerSpec::UpSampling2d(s) => &mut s.name,
            LayerSpec::BatchNormalization(s) => &mut s.name,
            LayerSpec::Conv1d(s) => &mut s.name,
            LayerSpec::MaxPooling1d(s) => &mut s.0.name,
            LayerSpec::AveragePooling1d(s) => &mut s.0.name,
            LayerSpec::GlobalAveragePooling1d(s) => &mut s.name,
            LayerSpec::GlobalMaxPooling1d(s) => &mut s.name,
            LayerSpec::SimpleRnn(s) => &mut s.options.name,
            LayerSpec::Lstm(s) => &mut s.options.name,
            LayerSpec::Gru(s) => &mut s.options.name,
            LayerSpec::Custom(s) => &mut s.name,
        };
        *slot = Some(name);
    }

    /// The output shape for an input shape, or why the input does not fit.
    pub(crate) fn output_shape(&self, input: &Shape) -> Result<Shape, String> {
        match self {
            LayerSpec::Input(s) => Ok(s.shape()),
            LayerSpec::Flatten(s) => s.output_shape(input),
            LayerSpec::Dense(s) => s.output_shape(input),
            LayerSpec::Reshape(s) => s.output_shape(input),
            LayerSpec::Activation(s) => s.output_shape(input),
            LayerSpec::Conv2d(s) => s.output_shape(input),
            LayerSpec::MaxPooling2d(s) => s.output_shape(input),
            LayerSpec::AveragePooling2d(s) => s.output_shape(input),
            LayerSpec::GlobalAveragePooling2d(s) => s.output_shape(input),
            LayerSpec::GlobalMaxPooling2d(s) => s.output_shape(input),
            LayerSpec::Dropout(s) => s.output_shape(input),
            LayerSpec::Rescaling(s) => s.output_shape(input),
            LayerSpec::LayerNormalization(s) => s.output_shape(input),
            LayerSpec::Embedding(s) => s.output_shape(input),
            LayerSpec::ZeroPadding2d(s) => s.output_shape(input),
            LayerSpec::UpSampling2d(s) => s.output_shape(input),
            LayerSpec::BatchNormalization(s) => s.output_shape(input),
            LayerSpec::Conv1d(s) => s.output_shape(input),
            LayerSpec::MaxPooling1d(s) => s.output_shape(input),
            LayerSpec::AveragePooling1d(s) => s.output_shape(input),
            LayerSpec::GlobalAveragePooling1d(s) => s.output_shape(input),
            LayerSpec::GlobalMaxPooling1d(s) => s.output_shape(input),
            LayerSpec::SimpleRnn(s) => s.output_shape(input),
            LayerSpec::Lstm(s) => s.output_shape(input),
            LayerSpec::Gru(s) => s.output_shape(input),
            LayerSpec::Custom(s) => s.layer.output_shape(input),
        }
    }

    /// `(trainable, non_trainable)` parameter counts for an input shape.
    pub(crate) fn param_counts(&self, input: &Shape) -> (usize, usize) {
        match self {
            LayerSpec::Dense(s) => (s.param_count(input), 0),
            LayerSpec::Conv2d(s) => (s.param_count(input), 0),
            LayerSpec::LayerNormalization(s) => (s.param_count(input), 0),
            LayerSpec::Embedding(s) => (s.param_count(), 0),
            LayerSpec::BatchNormalization(s) => s.param_counts(input),
            LayerSpec::Conv1d(s) => (s.param_count(input), 0),
            LayerSpec::SimpleRnn(s) => (s.param_count(input), 0),
            LayerSpec::Lstm(s) => (s.param_count(input), 0),
            LayerSpec::Gru(s) => (s.param_count(input), 0),
            LayerSpec::Custom(s) => (s.param_count(input), 0),
            _ => (0, 0),
        }
    }

    /// Builds the layer's module; `None` for `Input`, which has none.
    pub(crate) fn build(&self, input: &Shape, rng: &mut StdRng, device: &Device) -> Option<Layer> {
        match self {
            LayerSpec::Input(_) => None,
            LayerSpec::Flatten(_) => Some(Layer::Flatten(FlattenLayer::default())),
            LayerSpec::Dense(s) => Some(Layer::Dense(s.build(input, rng, device))),
            LayerSpec::Reshape(s) => {
                Some(Layer::Reshape(ReshapeLayer::new(s.target_shape.clone())))
            }
            LayerSpec::Activation(s) => Some(Layer::Activation(ActivationModule {
                activation: s.activation,
            })),
            LayerSpec::Conv2d(s) => Some(Layer::Conv2d(s.build(input, rng, device))),
            LayerSpec::MaxPooling2d(s) => Some(Layer::Pool2d(s.build(input))),
            LayerSpec::AveragePooling2d(s) => Some(Layer::Pool2d(s.build(input))),
            LayerSpec::GlobalAveragePooling2d(_) => {
                Some(Layer::GlobalPool2d(GlobalPool2dLayer { max: false }))
            }
            LayerSpec::GlobalMaxPooling2d(_) => {
                Some(Layer::GlobalPool2d(GlobalPool2dLayer { max: true }))
            }
            LayerSpec::Dropout(s) => Some(Layer::Dropout(DropoutLayer { rate: s.rate })),
            LayerSpec::LayerNormalization(s) => {
                Some(Layer::LayerNormalization(s.build(input, device)))
            }
            LayerSpec::Embedding(s) => Some(Layer::Embedding(s.build(rng, device))),
            LayerSpec::Rescaling(s) => Some(Layer::Rescaling(RescalingLayer {
                scale: s.scale,
                offset: s.offset,
            })),
            LayerSpec::ZeroPadding2d(s) => Some(Layer::ZeroPadding2d(ZeroPadding2dLayer {
                padding: s.padding,
            })),
            LayerSpec::UpSampling2d(s) => {
                Some(Layer::UpSampling2d(UpSampling2dLayer { size: s.size }))
            }
            LayerSpec::BatchNormalization(s) => {
                Some(Layer::BatchNormalization(s.build(input, rng, device)))
            }
            LayerSpec::Conv1d(s) => Some(Layer::Conv1d(s.build(input, rng, device))),
            LayerSpec::MaxPooling1d(s) => Some(Layer::Pool1d(s.build(input))),
            LayerSpec::AveragePooling1d(s) => Some(Layer::Pool1d(s.build(input))),
            LayerSpec::GlobalAveragePooling1d(_) => {
                Some(Layer::GlobalPool2d(GlobalPool2dLayer { max: false }))
            }
            LayerSpec::GlobalMaxPooling1d(_) => {
                Some(Layer::GlobalPool2d(GlobalPool2dLayer { max: true }))
            }
            LayerSpec::SimpleRnn(s) => Some(Layer::Recurrent(s.build(input, rng, device))),
            LayerSpec::Lstm(s) => Some(Layer::Recurrent(s.build(input, rng, device))),
            LayerSpec::Gru(s) => Some(Layer::Recurrent(s.build(input, rng, device))),
            LayerSpec::Custom(s) => Some(Layer::Custom(s.build(input, rng, device))),
        }
    }
}

/// A built layer: a burn module holding the layer's weights.
#[derive(Module, Debug)]
#[non_exhaustive]
pub enum Layer {
    /// A built [`Flatten`].
    Flatten(FlattenLayer),
    /// A built [`Dense`].
    Dense(DenseLayer),
    /// A built [`Reshape`].
    Reshape(ReshapeLayer),
    /// A built [`ActivationLayer`].
    Activation(ActivationModule),
    /// A built [`Conv2d`].
    Conv2d(Conv2dLayer),
    /// A built [`MaxPooling2d`] or [`AveragePooling2d`].
    Pool2d(Pool2dLayer),
    /// A built [`GlobalAveragePooling2d`] or [`GlobalMaxPooling2d`].
    GlobalPool2d(GlobalPool2dLayer),
    /// A built [`Dropout`].
    Dropout(DropoutLayer),
    /// A built [`Rescaling`].
    Rescaling(RescalingLayer),
    /// A built [`LayerNormalization`].
    LayerNormalization(LayerNormalizationLayer),
    /// A built [`Embedding`].
    Embedding(EmbeddingLayer),
    /// A built [`ZeroPadding2d`].
    ZeroPadding2d(ZeroPadding2dLayer),
    /// A built [`UpSampling2d`].
    UpSampling2d(UpSampling2dLayer),
    /// A built [`BatchNormalization`].
    BatchNormalization(BatchNormalizationLayer),
    /// A built [`Conv1d`].
    Conv1d(Conv1dLayer),
    /// A built [`MaxPooling1d`] or [`AveragePooling1d`].
    Pool1d(Pool1dLayer),
    /// A built [`SimpleRnn`], [`Lstm`] or [`Gru`].
    Recurrent(RecurrentLayer),
    /// A built [`CustomLayer`].
    Custom(CustomModule),
}

impl Layer {
    /// Runs the layer on a batch; `training` turns on training-only behaviour (dropout).
    ///
    /// # Errors
    /// Only when a tensor rank is unsupported, which `build`'s shape inference rules out.
    pub fn forward(&self, x: DynTensor, training: bool) -> Result<DynTensor> {
        Ok(match self {
            Layer::Flatten(l) => l.forward(x),
            Layer::Dense(l) => l.forward(x),
            Layer::Reshape(l) => l.forward(x)?,
            Layer::Activation(l) => l.forward(x),
            Layer::Conv2d(l) => l.forward(x),
            Layer::Pool2d(l) => l.forward(x),
            Layer::GlobalPool2d(l) => l.forward(x),
            Layer::Dropout(l) => l.forward(x, training),
            Layer::Rescaling(l) => l.forward(x),
            Layer::LayerNormalization(l) => l.forward(x),
            Layer::Embedding(l) => l.forward(x)?,
            Layer::ZeroPadding2d(l) => l.forward(x),
            Layer::UpSampling2d(l) => l.forward(x),
            Layer::BatchNormalization(l) => l.forward(x, training),
            Layer::Conv1d(l) => l.forward(x),
            Layer::Pool1d(l) => l.forward(x),
            Layer::Recurrent(l) => l.forward(x),
            Layer::Custom(l) => l.forward(x, training).map_err(|reason| {
                crate::error::Error::InvalidModel(format!(
                    "custom layer {}: {reason}",
                    l.layer().class_name()
                ))
            })?,
        })
    }

    /// Runs the layer without its final activation, and returns that activation, so a loss can
    /// fuse it (softmax + cross-entropy as log-softmax). Layers without one return `Linear`.
    ///
    /// # Errors
    /// As [`Layer::forward`].
    pub fn forward_pre_activation(
        &self,
        x: DynTensor,
        training: bool,
    ) -> Result<(DynTensor, Activation)> {
        Ok(match self {
            Layer::Dense(l) => (l.pre_activation(x), l.activation),
            Layer::Conv2d(l) => (l.pre_activation(x), l.activation),
            Layer::Conv1d(l) => (l.pre_activation(x), l.activation),
            Layer::Activation(l) => (x, l.activation),
            other => (other.forward(x, training)?, Activation::Linear),
        })
    }

    /// The weights in Keras's order with their short names (`kernel`, `bias`).
    pub fn weights(&self) -> Vec<(&str, WeightRef<'_>)> {
        let mut out = Vec::new();
        match self {
            Layer::Dense(l) => {
                out.push(("kernel", WeightRef::R2(&l.kernel)));
                if let Some(b) = &l.bias {
                    out.push(("bias", WeightRef::R1(b)));
                }
            }
            Layer::Conv2d(l) => {
                out.push(("kernel", WeightRef::R4(&l.kernel)));
                if let Some(b) = &l.bias {
                    out.push(("bias", WeightRef::R1(b)));
                }
            }
            Layer::LayerNormalization(l) => {
                if let Some(g) = &l.gamma {
                    out.push(("gamma", WeightRef::R1(g)));
                }
                if let Some(b) = &l.beta {
                    out.push(("beta", WeightRef::R1(b)));
                }
            }
            Layer::Embedding(l) => out.push(("embeddings", WeightRef::R2(&l.embeddings))),
            Layer::BatchNormalization(l) => {
                if let Some(g) = &l.gamma {
                    out.push(("gamma", WeightRef::R1(g)));
                }
                if let Some(b) = &l.beta {
                    out.push(("beta", WeightRef::R1(b)));
                }
                out.push(("moving_mean", WeightRef::State(&l.moving_mean)));
                out.push(("moving_variance", WeightRef::State(&l.moving_variance)));
            }
            Layer::Conv1d(l) => {
                out.push(("kernel", WeightRef::R3(&l.kernel)));
                if let Some(b) = &l.bias {
                    out.push(("bias", WeightRef::R1(b)));
                }
            }
            Layer::Recurrent(l) => {
                out.push(("kernel", WeightRef::R2(&l.kernel)));
                out.push(("recurrent_kernel", WeightRef::R2(&l.recurrent_kernel)));
                if let Some(b) = &l.bias {
                    out.push(("bias", WeightRef::R1(b)));
                }
                if let Some(b) = &l.gru_bias {
                    out.push(("bias", WeightRef::R2(b)));
                }
            }
            Layer::Custom(l) => {
                for (param, (name, shape)) in l.weights.iter().zip(&l.shapes) {
                    out.push((name.as_str(), WeightRef::Flat(param, shape)));
                }
            }
            _ => {}
        }
        out
    }

    /// The layer's weight penalties (Keras `kernel_regularizer`, ...), summed; `None` when the
    /// layer has none.
    pub fn regularization_loss(&self) -> Option<Tensor<1>> {
        fn term<const D: usize>(r: Option<Regularizer>, w: &Param<Tensor<D>>) -> Option<Tensor<1>> {
            r.map(|r| r.penalty(w.val()))
        }
        let terms = match self {
            Layer::Dense(l) => vec![
                term(l.kernel_regularizer, &l.kernel),
                l.bias.as_ref().and_then(|b| term(l.bias_regularizer, b)),
            ],
            Layer::Conv2d(l) => vec![
                term(l.kernel_regularizer, &l.kernel),
                l.bias.as_ref().and_then(|b| term(l.bias_regularizer, b)),
            ],
            Layer::Conv1d(l) => vec![
                term(l.kernel_regularizer, &l.kernel),
                l.bias.as_ref().and_then(|b| term(l.bias_regularizer, b)),
            ],
            Layer::Embedding(l) => vec![term(l.embeddings_regularizer, &l.embeddings)],
            Layer::Recurrent(l) => {
                let [k, r, b] = l.regularizers;
                vec![
                    term(k, &l.kernel),
                    term(r, &l.recurrent_kernel),
                    l.bias.as_ref().and_then(|bias| term(b, bias)),
                    l.gru_bias.as_ref().and_then(|bias| term(b, bias)),
                ]
            }
            _ => Vec::new(),
        };
        terms.into_iter().flatten().reduce(|a, b| a + b)
    }

    /// Mutable access to the weights, in [`Layer::weights`] order.
    pub(crate) fn weights_mut(&mut self) -> Vec<WeightMut<'_>> {
        let mut out = Vec::new();
        match self {
            Layer::Dense(l) => {
                out.push(WeightMut::R2(&mut l.kernel));
                if let Some(b) = &mut l.bias {
                    out.push(WeightMut::R1(b));
                }
            }
            Layer::Conv2d(l) => {
                out.push(WeightMut::R4(&mut l.kernel));
                if let Some(b) = &mut l.bias {
                    out.push(WeightMut::R1(b));
                }
            }
            Layer::LayerNormalization(l) => {
                if let Some(g) = &mut l.gamma {
                    out.push(WeightMut::R1(g));
                }
                if let Some(b) = &mut l.beta {
                    out.push(WeightMut::R1(b));
                }
            }
            Layer::Embedding(l) => out.push(WeightMut::R2(&mut l.embeddings)),
            Layer::BatchNormalization(l) => {
                if let Some(g) = &mut l.gamma {
                    out.push(WeightMut::R1(g));
                }
                if let Some(b) = &mut l.beta {
                    out.push(WeightMut::R1(b));
                }
                out.push(WeightMut::State(&mut l.moving_mean));
                out.push(WeightMut::State(&mut l.moving_variance));
            }
            Layer::Conv1d(l) => {
                out.push(WeightMut::R3(&mut l.kernel));
                if let Some(b) = &mut l.bias {
                    out.push(WeightMut::R1(b));
                }
            }
            Layer::Recurrent(l) => {
                out.push(WeightMut::R2(&mut l.kernel));
                out.push(WeightMut::R2(&mut l.recurrent_kernel));
                if let Some(b) = &mut l.bias {
                    out.push(WeightMut::R1(b));
                }
                if let Some(b) = &mut l.gru_bias {
                    out.push(WeightMut::R2(b));
                }
            }
            Layer::Custom(l) => {
                for (param, (_, shape)) in l.weights.iter_mut().zip(&l.shapes) {
                    out.push(WeightMut::Flat(param, shape.clone()));
                }
            }
            _ => {}
        }
        out
    }
}

/// A weight of any rank, borrowed.
#[derive(Debug)]
pub enum WeightRef<'a> {
    /// A vector (bias).
    R1(&'a Param<Tensor<1>>),
    /// A matrix (Dense kernel).
    R2(&'a Param<Tensor<2>>),
    /// A rank-3 tensor.
    R3(&'a Param<Tensor<3>>),
    /// A rank-4 tensor (Conv2D kernel).
    R4(&'a Param<Tensor<4>>),
    /// A non-trainable vector updated by the forward pass (BatchNormalization's moving
    /// statistics).
    State(&'a RunningState<Tensor<1>>),
    /// A custom layer's weight, stored flat, and its shape.
    Flat(&'a Param<Tensor<1>>, &'a [usize]),
}

impl WeightRef<'_> {
    /// Whether the optimizer updates this weight (Keras `trainable_weights`).
    pub fn trainable(&self) -> bool {
        !matches!(self, WeightRef::State(_))
    }
}

impl WeightRef<'_> {
    /// The values and shape, read from the device.
    ///
    /// # Errors
    /// [`crate::Error::Readback`] when the device cannot return them.
    pub fn data(&self) -> Result<burn::tensor::TensorData> {
        let data = match self {
            WeightRef::R1(p) => p.val().try_into_data(),
            WeightRef::R2(p) => p.val().try_into_data(),
            WeightRef::R3(p) => p.val().try_into_data(),
            WeightRef::R4(p) => p.val().try_into_data(),
            WeightRef::State(s) => s.value_sync().try_into_data(),
            WeightRef::Flat(p, shape) => p.val().try_into_data().map(|data| {
                let dtype = data.dtype();
                burn::tensor::TensorData::from_bytes(data.into_bytes(), shape.to_vec(), dtype)
            }),
        };
        data.map_err(|e| crate::Error::Readback(e.to_string()))
    }

    /// The shape.
    pub fn dims(&self) -> Vec<usize> {
        match self {
            WeightRef::R1(p) => p.val().dims().to_vec(),
            WeightRef::R2(p) => p.val().dims().to_vec(),
            WeightRef::R3(p) => p.val().dims().to_vec(),
            WeightRef::R4(p) => p.val().dims().to_vec(),
            WeightRef::State(s) => s.value().dims().to_vec(),
            WeightRef::Flat(_, shape) => shape.to_vec(),
        }
    }
}

/// A weight of any rank, mutably borrowed.
pub(crate) enum WeightMut<'a> {
    R1(&'a mut Param<Tensor<1>>),
    R2(&'a mut Param<Tensor<2>>),
    R3(&'a mut Param<Tensor<3>>),
    R4(&'a mut Param<Tensor<4>>),
    State(&'a mut RunningState<Tensor<1>>),
    Flat(&'a mut Param<Tensor<1>>, Vec<usize>),
}

impl WeightMut<'_> {
    pub(crate) fn dims(&self) -> Vec<usize> {
        match self {
            WeightMut::R1(p) => p.val().dims().to_vec(),
            WeightMut::R2(p) => p.val().dims().to_vec(),
            WeightMut::R3(p) => p.val().dims().to_vec(),
            WeightMut::R4(p) => p.val().dims().to_vec(),
            WeightMut::State(s) => s.value().dims().to_vec(),
            WeightMut::Flat(_, shape) => shape.clone(),
        }
    }

    /// Replaces the value (same shape, checked by the caller), keeping the parameter's id.
    pub(crate) fn set(self, values: Vec<f32>) {
        fn replace<const D: usize>(p: &mut Param<Tensor<D>>, values: Vec<f32>) {
            let dims = p.val().dims();
            let device = p.val().device();
            let t = Tensor::<D>::from_data(burn::tensor::TensorData::new(values, dims), &device);
            let id = p.id;
            *p = Param::from_tensor(t);
            p.id = id;
        }
        match self {
            WeightMut::R1(p) => replace(p, values),
            WeightMut::R2(p) => replace(p, values),
            WeightMut::R3(p) => replace(p, values),
            WeightMut::R4(p) => replace(p, values),
            WeightMut::Flat(p, _) => replace(p, values),
            WeightMut::State(s) => {
                let value = s.value();
                let (dims, device) = (value.dims(), value.device());
                let data = burn::tensor::TensorData::new(values, dims);
                *s = RunningState::new(Tensor::from_data(data, &device));
            }
        }
    }
}
