//! `Activation` as a layer of its own.

use serde::{Deserialize, Serialize};

use super::kernel::activated;
use super::{Layer, Weights, config_of, only};
use crate::activation::Activation;
use crate::shape::Shape;
use crate::tensor::DynTensor;

/// Applies an activation function as a separate layer (Keras `layers.Activation`).
///
/// # Examples
/// ```
/// use kiln_model::{Activation, ActivationLayer, Input, Sequential};
/// let model = Sequential::new().add(Input::new([3, 4]))
///     .add(ActivationLayer::new(Activation::Softmax))
///     .build(&burn::tensor::Device::flex())?;
/// assert_eq!(model.output_shape().to_string(), "(None, 3, 4)");
/// # Ok::<(), kiln_model::Error>(())
/// ```
#[doc(alias = "Activation")]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActivationLayer {
    /// The function applied.
    #[serde(deserialize_with = "crate::layers::activation_or_null")]
    pub activation: Activation,
}

impl ActivationLayer {
    /// A layer applying `activation`.
    pub fn new(activation: Activation) -> Self {
        Self { activation }
    }
}

impl Layer for ActivationLayer {
    fn class_name(&self) -> &str {
        "Activation"
    }

    /// Keeps its input's mask (Keras `supports_masking`).
    fn mask_policy(&self) -> crate::layers::MaskPolicy {
        crate::layers::MaskPolicy::Keep
    }

    fn config(&self) -> serde_json::Value {
        config_of(self)
    }

    fn output_shape(&self, inputs: &[Shape]) -> Result<Shape, String> {
        Ok(only(inputs)?.clone())
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
        _weights: &Weights<'_>,
        _training: bool,
    ) -> Result<(DynTensor, Activation), String> {
        Ok((only(inputs)?, self.activation))
    }
}
