//! `Reshape`: gives each sample a new shape with the same number of values.

use burn::module::Module;
use serde::{Deserialize, Serialize};

use crate::shape::Shape;
use crate::tensor::DynTensor;

/// Reshapes each sample to `target_shape` (Keras `Reshape`; one `-1`-like unknown is not
/// supported: give every dimension).
///
/// # Examples
/// ```
/// use kiln_model::{Input, Reshape, Sequential};
/// let model = Sequential::new().add(Input::new([12])).add(Reshape::new([3, 4]))
///     .build(&burn::tensor::Device::flex())?;
/// assert_eq!(model.output_shape().to_string(), "(None, 3, 4)");
/// # Ok::<(), kiln_model::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reshape {
    /// The layer's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The new shape of one sample.
    pub target_shape: Vec<usize>,
}

impl Reshape {
    /// Reshapes each sample to `target_shape`.
    pub fn new(target_shape: impl Into<Shape>) -> Self {
        Self {
            name: None,
            target_shape: target_shape.into().0,
        }
    }

    /// Sets the layer name.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    pub(crate) fn output_shape(&self, input: &Shape) -> Result<Shape, String> {
        let target = Shape(self.target_shape.clone());
        if target.size() != input.size() || target.rank() == 0 || target.rank() > 3 {
            return Err(format!(
                "cannot reshape {} values to {target}; the target must hold the same number \
                 of values in 1 to 3 axes",
                input.size()
            ));
        }
        Ok(target)
    }
}

/// The built `Reshape` (no weights).
#[derive(Module, Debug)]
pub struct ReshapeLayer {
    #[module(skip)]
    target: Vec<usize>,
}

impl ReshapeLayer {
    pub(crate) fn new(target: Vec<usize>) -> Self {
        Self { target }
    }

    /// Reshapes each sample of the batch.
    pub fn forward(&self, x: DynTensor) -> crate::Result<DynTensor> {
        let batch = x.dims()[0];
        let dims: Vec<usize> = std::iter::once(batch)
            .chain(self.target.iter().copied())
            .collect();
        x.reshape(&dims)
    }
}
