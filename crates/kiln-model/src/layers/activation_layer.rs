//! `Activation` as a layer of its own.

use burn::module::Module;
use serde::{Deserialize, Serialize};

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
    /// The layer's name (Keras: `activation`, `activation_1`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The function applied.
    #[serde(deserialize_with = "crate::layers::activation_or_null")]
    pub activation: Activation,
}

impl ActivationLayer {
    /// A layer applying `activation`.
    pub fn new(activation: Activation) -> Self {
        Self {
            name: None,
            activation,
        }
    }

    /// Sets the layer name.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    pub(crate) fn output_shape(&self, input: &Shape) -> Result<Shape, String> {
        Ok(input.clone())
    }
}

/// The built activation layer (no weights).
#[derive(Module, Debug)]
pub struct ActivationModule {
    /// The function applied.
    #[module(skip)]
    pub activation: Activation,
}

impl ActivationModule {
    /// Applies the activation.
    pub fn forward(&self, x: DynTensor) -> DynTensor {
        let a = self.activation;
        crate::dyn_map!(x, t => a.apply(t))
    }
}
