//! `Dense`: the fully connected layer.

use burn::module::{Module, Param};
use burn::tensor::{Device, Tensor};
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};

use super::init::weight;
use crate::activation::Activation;
use crate::initializer::Initializer;
use crate::regularizer::Regularizer;
use crate::shape::Shape;
use crate::tensor::DynTensor;

/// A fully connected layer, `activation(x · kernel + bias)`, applied to the last axis of an
/// input of any rank (Keras `Dense`). Kernel `[in, units]`, glorot-uniform; bias `[units]`, zeros.
///
/// # Examples
/// ```
/// use kiln_model::{Activation, Dense};
/// let layer = Dense::new(128).activation(Activation::Relu);
/// assert_eq!(layer.units, 128);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dense {
    /// The layer's name (Keras: `dense`, `dense_1`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Number of output features.
    pub units: usize,
    /// Applied to the output (default linear).
    #[serde(default, deserialize_with = "crate::layers::activation_or_null")]
    pub activation: Activation,
    /// Whether the layer adds a bias (default true).
    #[serde(default = "crate::layers::yes")]
    pub use_bias: bool,
    /// How the kernel is filled (default glorot-uniform).
    #[serde(default = "crate::layers::glorot")]
    pub kernel_initializer: Initializer,
    /// How the bias is filled (default zeros).
    #[serde(default)]
    pub bias_initializer: Initializer,
    /// Penalty on the kernel added to the training loss (default none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel_regularizer: Option<Regularizer>,
    /// Penalty on the bias added to the training loss (default none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bias_regularizer: Option<Regularizer>,
}

impl Dense {
    /// A dense layer with `units` outputs, no activation, a bias, Keras's initializers.
    pub fn new(units: usize) -> Self {
        Self {
            name: None,
            units,
            activation: Activation::Linear,
            use_bias: true,
            kernel_initializer: Initializer::GlorotUniform,
            bias_initializer: Initializer::Zeros,
            kernel_regularizer: None,
            bias_regularizer: None,
        }
    }

    /// Sets the activation.
    pub fn activation(mut self, activation: Activation) -> Self {
        self.activation = activation;
        self
    }

    /// Whether to add a bias.
    pub fn use_bias(mut self, use_bias: bool) -> Self {
        self.use_bias = use_bias;
        self
    }

    /// Sets the kernel initializer.
    pub fn kernel_initializer(mut self, init: Initializer) -> Self {
        self.kernel_initializer = init;
        self
    }

    /// Sets the bias initializer.
    pub fn bias_initializer(mut self, init: Initializer) -> Self {
        self.bias_initializer = init;
        self
    }

    /// Adds a penalty on the kernel to the training loss (Keras `kernel_regularizer`).
    pub fn kernel_regularizer(mut self, regularizer: Regularizer) -> Self {
        self.kernel_regularizer = Some(regularizer);
        self
    }

    /// Adds a penalty on the bias to the training loss (Keras `bias_regularizer`).
    pub fn bias_regularizer(mut self, regularizer: Regularizer) -> Self {
        self.bias_regularizer = Some(regularizer);
        self
    }

    /// Sets the layer name.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    pub(crate) fn output_shape(&self, input: &Shape) -> Result<Shape, String> {
        if self.units == 0 {
            return Err("units must be at least 1".into());
        }
        match input.last() {
            Some(features) if features > 0 => {
                let mut out = input.0.clone();
                if let Some(last) = out.last_mut() {
                    *last = self.units;
                }
                Ok(Shape(out))
            }
            _ => Err(format!(
                "Dense needs inputs (None, ..., features) with features >= 1, got {input}"
            )),
        }
    }

    pub(crate) fn param_count(&self, input: &Shape) -> usize {
        let fan_in = input.last().unwrap_or(0);
        fan_in * self.units + if self.use_bias { self.units } else { 0 }
    }

    pub(crate) fn build(&self, input: &Shape, rng: &mut StdRng, device: &Device) -> DenseLayer {
        let fan_in = input.last().unwrap_or(0);
        let fans = (fan_in, self.units);
        let kernel = weight(
            self.kernel_initializer,
            [fan_in, self.units],
            fans,
            rng,
            device,
        );
        let bias = self
            .use_bias
            .then(|| weight(self.bias_initializer, [self.units], fans, rng, device));
        DenseLayer {
            kernel,
            bias,
            activation: self.activation,
            kernel_regularizer: self.kernel_regularizer,
            bias_regularizer: self.bias_regularizer,
        }
    }
}

/// The built `Dense`: `kernel` `[in, units]` and optional `bias` `[units]`, as in Keras.
#[derive(Module, Debug)]
pub struct DenseLayer {
    /// `[in, units]`.
    pub kernel: Param<Tensor<2>>,
    /// `[units]`.
    pub bias: Option<Param<Tensor<1>>>,
    /// Applied after the affine map.
    #[module(skip)]
    pub activation: Activation,
    #[module(skip)]
    pub(crate) kernel_regularizer: Option<Regularizer>,
    #[module(skip)]
    pub(crate) bias_regularizer: Option<Regularizer>,
}

impl DenseLayer {
    /// The affine map without the activation, on the last axis.
    pub fn pre_activation(&self, x: DynTensor) -> DynTensor {
        let w = self.kernel.val();
        let b = self.bias.as_ref().map(|b| b.val());
        crate::dyn_map!(x, t => burn::tensor::module::linear(t, w.clone(), b.clone()))
    }

    /// `activation(x · kernel + bias)`.
    pub fn forward(&self, x: DynTensor) -> DynTensor {
        let activation = self.activation;
        crate::dyn_map!(self.pre_activation(x), t => activation.apply(t))
    }
}
