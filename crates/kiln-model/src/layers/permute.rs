//! `Permute`: the axes of each sample reordered (Keras `Permute`).

use serde::{Deserialize, Serialize};

use super::{Layer, Weights, config_of, only};
use crate::shape::Shape;
use crate::tensor::DynTensor;

/// Reorders the axes of each sample: `dims` is a permutation of `1..=rank` (Keras
/// `layers.Permute`; the batch axis stays first). `Permute([2, 1])` transposes a sequence
/// `(steps, features)` into `(features, steps)`.
///
/// # Examples
/// ```
/// use kiln_model::{Input, Permute, Sequential};
/// let model = Sequential::new().add(Input::new([10, 64])).add(Permute::new([2, 1]))
///     .build(&burn::tensor::Device::flex())?;
/// assert_eq!(model.output_shape().to_string(), "(None, 64, 10)");
/// # Ok::<(), kiln_model::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Permute {
    /// The new order of the sample's axes, counted from 1.
    pub dims: Vec<usize>,
}

impl Permute {
    /// The axes in the order `dims` (1-based).
    pub fn new(dims: impl Into<Vec<usize>>) -> Self {
        Self { dims: dims.into() }
    }

    fn check(&self, rank: usize) -> Result<(), String> {
        let mut sorted = self.dims.clone();
        sorted.sort_unstable();
        if sorted != (1..=rank).collect::<Vec<_>>() {
            return Err(format!(
                "dims {:?} must be a permutation of 1..={rank} for samples of rank {rank}",
                self.dims
            ));
        }
        Ok(())
    }
}

impl Layer for Permute {
    fn class_name(&self) -> &str {
        "Permute"
    }

    fn config(&self) -> serde_json::Value {
        config_of(self)
    }

    fn output_shape(&self, inputs: &[Shape]) -> Result<Shape, String> {
        let shape = only(inputs)?;
        self.check(shape.rank())?;
        Ok(Shape(
            self.dims.iter().map(|&d| shape.dims()[d - 1]).collect(),
        ))
    }

    fn call(
        &self,
        inputs: Vec<DynTensor>,
        _weights: &Weights<'_>,
        _training: bool,
    ) -> Result<DynTensor, String> {
        let x = only(inputs)?;
        self.check(x.rank() - 1)?;
        let d = &self.dims;
        let axis = |i: usize| d[i] as isize;
        Ok(match x {
            DynTensor::R2(t) => DynTensor::R2(t),
            DynTensor::R3(t) => DynTensor::R3(t.permute([0, axis(0), axis(1)])),
            DynTensor::R4(t) => DynTensor::R4(t.permute([0, axis(0), axis(1), axis(2)])),
            DynTensor::R5(t) => DynTensor::R5(t.permute([0, axis(0), axis(1), axis(2), axis(3)])),
        })
    }
}
