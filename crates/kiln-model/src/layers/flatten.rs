//! `Flatten`: collapses every axis but the batch axis.

use serde::{Deserialize, Serialize};

use super::{Layer, Weights, config_of, only};
use crate::shape::Shape;
use crate::tensor::DynTensor;

/// Flattens each sample to one axis: `(None, 28, 28)` → `(None, 784)` (Keras `Flatten`).
///
/// # Examples
/// ```
/// use kiln_model::{Flatten, Input, Sequential};
/// let model = Sequential::new().add(Input::new([4, 5])).add(Flatten::new())
///     .build(&burn::tensor::Device::flex())?;
/// assert_eq!(model.output_shape().to_string(), "(None, 20)");
/// # Ok::<(), kiln_model::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Flatten {}

impl Flatten {
    /// A flatten layer.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Layer for Flatten {
    fn class_name(&self) -> &str {
        "Flatten"
    }

    fn config(&self) -> serde_json::Value {
        config_of(self)
    }

    fn output_shape(&self, inputs: &[Shape]) -> Result<Shape, String> {
        let input = only(inputs)?;
        if input.rank() == 0 {
            return Err("Flatten needs at least one axis after the batch axis".into());
        }
        Ok(Shape(vec![input.size()]))
    }

    fn call(
        &self,
        inputs: Vec<DynTensor>,
        _weights: &Weights<'_>,
        _training: bool,
    ) -> Result<DynTensor, String> {
        Ok(DynTensor::R2(only(inputs)?.flatten()))
    }
}
