//! Layer specs (what the user writes, serializable) and built layers (burn modules).

mod activation_layer;
mod dense;
mod flatten;
mod input;
mod reshape;

pub use activation_layer::{ActivationLayer, ActivationModule};
pub use dense::{Dense, DenseLayer};
pub use flatten::{Flatten, FlattenLayer};
pub use input::Input;
pub use reshape::{Reshape, ReshapeLayer};

use burn::module::Module;
use burn::tensor::Device;
use rand::rngs::StdRng;
use serde::{Deserialize, Deserializer, Serialize};

use crate::activation::Activation;
use crate::error::Result;
use crate::shape::Shape;
use crate::tensor::DynTensor;

pub(crate) fn yes() -> bool {
    true
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
spec_from!(Input, Flatten, Dense, Reshape);

impl From<ActivationLayer> for LayerSpec {
    fn from(spec: ActivationLayer) -> Self {
        LayerSpec::Activation(spec)
    }
}

impl LayerSpec {
    /// Keras's class name (`"Dense"`).
    pub fn class_name(&self) -> &'static str {
        match self {
            LayerSpec::Input(_) => "InputLayer",
            LayerSpec::Flatten(_) => "Flatten",
            LayerSpec::Dense(_) => "Dense",
            LayerSpec::Reshape(_) => "Reshape",
            LayerSpec::Activation(_) => "Activation",
        }
    }

    /// The stem of Keras's automatic names (`"dense"` gives `dense`, `dense_1`, ...).
    pub fn base_name(&self) -> &'static str {
        match self {
            LayerSpec::Input(_) => "input_layer",
            LayerSpec::Flatten(_) => "flatten",
            LayerSpec::Dense(_) => "dense",
            LayerSpec::Reshape(_) => "reshape",
            LayerSpec::Activation(_) => "activation",
        }
    }

    /// The layer's name, once given or assigned.
    pub fn name(&self) -> Option<&str> {
        match self {
            LayerSpec::Input(s) => s.name.as_deref(),
            LayerSpec::Flatten(s) => s.name.as_deref(),
            LayerSpec::Dense(s) => s.name.as_deref(),
            LayerSpec::Reshape(s) => s.name.as_deref(),
            LayerSpec::Activation(s) => s.name.as_deref(),
        }
    }

    pub(crate) fn set_name(&mut self, name: String) {
        let slot = match self {
            LayerSpec::Input(s) => &mut s.name,
            LayerSpec::Flatten(s) => &mut s.name,
            LayerSpec::Dense(s) => &mut s.name,
            LayerSpec::Reshape(s) => &mut s.name,
            LayerSpec::Activation(s) => &mut s.name,
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
        }
    }

    /// `(trainable, non_trainable)` parameter counts for an input shape.
    pub(crate) fn param_counts(&self, input: &Shape) -> (usize, usize) {
        match self {
            LayerSpec::Dense(s) => (s.param_count(input), 0),
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
}

impl Layer {
    /// Runs the layer on a batch.
    ///
    /// # Errors
    /// Only when a tensor rank is unsupported, which `build`'s shape inference rules out.
    pub fn forward(&self, x: DynTensor) -> Result<DynTensor> {
        Ok(match self {
            Layer::Flatten(l) => l.forward(x),
            Layer::Dense(l) => l.forward(x),
            Layer::Reshape(l) => l.forward(x)?,
            Layer::Activation(l) => l.forward(x),
        })
    }

    /// Runs the layer without its final activation, and returns that activation, so a loss can
    /// fuse it (softmax + cross-entropy as log-softmax). Layers without one return `Linear`.
    ///
    /// # Errors
    /// As [`Layer::forward`].
    pub fn forward_pre_activation(&self, x: DynTensor) -> Result<(DynTensor, Activation)> {
        Ok(match self {
            Layer::Dense(l) => (l.pre_activation(x), l.activation),
            Layer::Activation(l) => (x, l.activation),
            other => (other.forward(x)?, Activation::Linear),
        })
    }
}
