//! `Identity`: passes its input through (Keras `Identity`).

use serde::{Deserialize, Serialize};

use super::{Layer, Weights, only};
use crate::shape::Shape;
use crate::tensor::DynTensor;

/// Returns its input unchanged (Keras `layers.Identity`: a placeholder, e.g. for a removed head).
///
/// # Examples
/// ```
/// use kiln_model::{Identity, Input, Sequential};
/// let model = Sequential::new().add(Input::new([3])).add(Identity::new())
///     .build(&burn::tensor::Device::flex())?;
/// assert_eq!(model.output_shape().to_string(), "(None, 3)");
/// # Ok::<(), kiln_model::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Identity {}

impl Identity {
    /// The identity.
    pub fn new() -> Self {
        Self {}
    }
}

impl Layer for Identity {
    fn class_name(&self) -> &str {
        "Identity"
    }

    /// Keeps its input's mask (Keras `supports_masking`).
    fn mask_policy(&self) -> crate::layers::MaskPolicy {
        crate::layers::MaskPolicy::Keep
    }

    fn output_shape(&self, inputs: &[Shape]) -> Result<Shape, String> {
        Ok(only(inputs)?.clone())
    }

    fn call(
        &self,
        inputs: Vec<DynTensor>,
        _weights: &Weights<'_>,
        _training: bool,
    ) -> Result<DynTensor, String> {
        only(inputs)
    }
}
