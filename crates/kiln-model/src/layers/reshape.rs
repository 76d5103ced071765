//! `Reshape`: gives each sample a new shape with the same number of values.

use serde::{Deserialize, Serialize};

use super::{Layer, Weights, config_of, only};
use crate::shape::Shape;
use crate::tensor::{DynTensor, MAX_RANK};

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
    /// The shape of one output sample (batch axis left out).
    pub target_shape: Vec<usize>,
}

impl Reshape {
    /// Reshapes to `target_shape`.
    pub fn new(target_shape: impl Into<Shape>) -> Self {
        Self {
            target_shape: target_shape.into().0,
        }
    }
}

impl Layer for Reshape {
    fn class_name(&self) -> &str {
        "Reshape"
    }

    fn config(&self) -> serde_json::Value {
        config_of(self)
    }

    fn output_shape(&self, inputs: &[Shape]) -> Result<Shape, String> {
        let input = only(inputs)?;
        let target = Shape(self.target_shape.clone());
        let size = self
            .target_shape
            .iter()
            .try_fold(1usize, |n, &d| n.checked_mul(d));
        if size != Some(input.size()) || target.rank() == 0 || target.rank() >= MAX_RANK {
            return Err(format!(
                "cannot reshape {} values to {target}; the target must hold the same number \
                 of values in 1 to {} axes",
                input.size(),
                MAX_RANK - 1
            ));
        }
        Ok(target)
    }

    fn call(
        &self,
        inputs: Vec<DynTensor>,
        _weights: &Weights<'_>,
        _training: bool,
    ) -> Result<DynTensor, String> {
        let x = only(inputs)?;
        let batch = x.dims()[0];
        let dims: Vec<usize> = std::iter::once(batch)
            .chain(self.target_shape.iter().copied())
            .collect();
        x.reshape(&dims).map_err(|e| e.to_string())
    }
}
