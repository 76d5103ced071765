//! `Flatten`: collapses every axis but the batch axis.

use burn::module::Module;
use serde::{Deserialize, Serialize};

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
pub struct Flatten {
    /// The layer's name (Keras: `flatten`, `flatten_1`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl Flatten {
    /// A flatten layer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the layer name.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    pub(crate) fn output_shape(&self, input: &Shape) -> Result<Shape, String> {
        if input.rank() == 0 {
            return Err("Flatten needs at least one axis after the batch axis".into());
        }
        Ok(Shape(vec![input.size()]))
    }
}

/// The built `Flatten` (no weights).
#[derive(Module, Debug, Default)]
pub struct FlattenLayer {}

impl FlattenLayer {
    /// Collapses every axis after the batch axis.
    pub fn forward(&self, x: DynTensor) -> DynTensor {
        DynTensor::R2(x.flatten())
    }
}
