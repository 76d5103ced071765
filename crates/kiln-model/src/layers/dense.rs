//! `Dense`: the fully connected layer.

use serde::{Deserialize, Serialize};

use super::weights::add_kernel_and_bias;
use super::{Layer, WeightBuilder, Weights, config_of, only, setters};
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
            units,
            activation: Activation::Linear,
            use_bias: true,
            kernel_initializer: Initializer::GlorotUniform,
            bias_initializer: Initializer::Zeros,
            kernel_regularizer: None,
            bias_regularizer: None,
        }
    }
}

setters!(Dense {
    /// Sets the activation.
    activation: Activation,
    /// Whether to add a bias.
    use_bias: bool,
    /// Sets the kernel initializer.
    kernel_initializer: Initializer,
    /// Sets the bias initializer.
    bias_initializer: Initializer,
    /// Adds a penalty on the kernel to the training loss (Keras `kernel_regularizer`).
    kernel_regularizer: Option<Regularizer>,
    /// Adds a penalty on the bias to the training loss (Keras `bias_regularizer`).
    bias_regularizer: Option<Regularizer>,
});

impl Layer for Dense {
    fn class_name(&self) -> &str {
        "Dense"
    }

    fn config(&self) -> serde_json::Value {
        config_of(self)
    }

    fn output_shape(&self, inputs: &[Shape]) -> Result<Shape, String> {
        let input = only(inputs)?;
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

    fn build(&self, inputs: &[Shape], weights: &mut WeightBuilder) -> Result<(), String> {
        let fan_in = only(inputs)?.last().unwrap_or(0);
        add_kernel_and_bias(
            weights,
            vec![fan_in, self.units],
            (self.kernel_initializer, self.bias_initializer),
            (self.kernel_regularizer, self.bias_regularizer),
            self.use_bias,
        )
    }

    fn call(
        &self,
        inputs: Vec<DynTensor>,
        weights: &Weights<'_>,
        training: bool,
    ) -> Result<DynTensor, String> {
        let (z, activation) = self.call_pre_activation(inputs, weights, training)?;
        Ok(crate::dyn_map!(z, t => activation.apply(t)))
    }

    fn call_pre_activation(
        &self,
        inputs: Vec<DynTensor>,
        weights: &Weights<'_>,
        _training: bool,
    ) -> Result<(DynTensor, Activation), String> {
        let x = only(inputs)?;
        let w = weights.at::<2>(0)?;
        let b = weights.optional::<1>("bias")?;
        let z = crate::dyn_map!(x, t => burn::tensor::module::linear(t, w.clone(), b.clone()));
        Ok((z, self.activation))
    }
}
