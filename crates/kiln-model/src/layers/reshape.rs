//! `Reshape`: gives each sample a new shape with the same number of values.

use serde::{Deserialize, Serialize};

use super::{Layer, Weights, config_of, only};
use crate::shape::Shape;
use crate::tensor::{DynTensor, MAX_RANK};

/// Reshapes each sample to `target_shape` (Keras `Reshape`); one axis may be `-1`, inferred
/// from the number of values ([`Reshape::inferred`]).
///
/// # Examples
/// ```
/// use kiln_model::{Input, Reshape, Sequential};
/// let model = Sequential::new().add(Input::new([12])).add(Reshape::new([3, 4]))
///     .build(&burn::tensor::Device::flex())?;
/// assert_eq!(model.output_shape().to_string(), "(None, 3, 4)");
/// let model = Sequential::new().add(Input::new([12])).add(Reshape::inferred([-1, 2]))
///     .build(&burn::tensor::Device::flex())?;
/// assert_eq!(model.output_shape().to_string(), "(None, 6, 2)");
/// # Ok::<(), kiln_model::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reshape {
    /// The shape of one output sample (batch axis left out); one entry may be `-1`.
    pub target_shape: Vec<i64>,
}

impl Reshape {
    /// Reshapes to `target_shape`.
    pub fn new(target_shape: impl Into<Shape>) -> Self {
        Self {
            target_shape: target_shape.into().0.iter().map(|&d| d as i64).collect(),
        }
    }

    /// Reshapes to `target_shape` with one axis `-1`, inferred from the number of values
    /// (Keras `Reshape((-1, 2))`).
    pub fn inferred(target_shape: impl Into<Vec<i64>>) -> Self {
        Self {
            target_shape: target_shape.into(),
        }
    }

    /// The target for `size` values per sample, the `-1` resolved.
    fn resolve(&self, size: usize) -> Result<Vec<usize>, String> {
        let unknown = self.target_shape.iter().filter(|&&d| d == -1).count();
        if unknown > 1 || self.target_shape.iter().any(|&d| d < -1 || d == 0) {
            return Err(format!(
                "target_shape {:?}: every axis must be at least 1, with at most one -1",
                self.target_shape
            ));
        }
        let known = self
            .target_shape
            .iter()
            .filter(|&&d| d > 0)
            .try_fold(1usize, |n, &d| n.checked_mul(d as usize))
            .ok_or_else(|| format!("target_shape {:?} overflows", self.target_shape))?;
        let inferred = if unknown == 1 {
            if known == 0 || !size.is_multiple_of(known) {
                return Err(format!(
                    "cannot reshape {size} values to {:?}: {size} is not a multiple of {known}",
                    self.target_shape
                ));
            }
            size / known
        } else {
            0
        };
        Ok(self
            .target_shape
            .iter()
            .map(|&d| if d == -1 { inferred } else { d as usize })
            .collect())
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
        let target = Shape(self.resolve(input.size())?);
        let size = target.0.iter().try_fold(1usize, |n, &d| n.checked_mul(d));
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
        let size = x.dims()[1..].iter().product();
        let dims: Vec<usize> = std::iter::once(batch).chain(self.resolve(size)?).collect();
        x.reshape(&dims).map_err(|e| e.to_string())
    }
}
