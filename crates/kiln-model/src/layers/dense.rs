//! `Dense`: the fully connected layer.

use serde::{Deserialize, Serialize};

use super::kernel::{KernelOptions, activated, kernel_setters};
use super::{Layer, WeightBuilder, Weights, config_of, only};
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
    /// Activation, bias, initializers and regularizers.
    #[serde(flatten)]
    pub kernel: KernelOptions,
}

impl Dense {
    /// A dense layer with `units` outputs, no activation, a bias, Keras's initializers.
    pub fn new(units: usize) -> Self {
        Self {
            units,
            kernel: KernelOptions::default(),
        }
    }
}

kernel_setters!(Dense);

impl Layer for Dense {
    fn class_name(&self) -> &str {
        "Dense"
    }

    /// Keeps its input's mask (Keras `supports_masking`).
    fn mask_policy(&self) -> crate::layers::MaskPolicy {
        crate::layers::MaskPolicy::Keep
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
        self.kernel.declare(weights, vec![fan_in, self.units])
    }

    fn call(
        &self,
        inputs: Vec<DynTensor>,
        weights: &Weights<'_>,
        training: bool,
    ) -> Result<DynTensor, String> {
        activated(self.call_pre_activation(inputs, weights, training))
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
        Ok((z, self.kernel.activation))
    }
}
