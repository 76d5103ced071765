//! `RepeatVector`: a vector repeated into a sequence (Keras `RepeatVector`).

use serde::{Deserialize, Serialize};

use super::{Layer, Weights, config_of, only};
use crate::shape::Shape;
use crate::tensor::DynTensor;

/// `(None, features)` → `(None, n, features)`: the vector `n` times (Keras
/// `layers.RepeatVector`, the bridge from an encoder's state to a decoder's sequence).
///
/// # Examples
/// ```
/// use kiln_model::{Input, RepeatVector, Sequential};
/// let model = Sequential::new().add(Input::new([4])).add(RepeatVector::new(3))
///     .build(&burn::tensor::Device::flex())?;
/// assert_eq!(model.output_shape().to_string(), "(None, 3, 4)");
/// # Ok::<(), kiln_model::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RepeatVector {
    /// How many times.
    pub n: usize,
}

impl RepeatVector {
    /// `n` copies.
    pub fn new(n: usize) -> Self {
        Self { n }
    }
}

impl Layer for RepeatVector {
    fn class_name(&self) -> &str {
        "RepeatVector"
    }

    fn config(&self) -> serde_json::Value {
        config_of(self)
    }

    fn output_shape(&self, inputs: &[Shape]) -> Result<Shape, String> {
        let &[features] = only(inputs)?.dims() else {
            return Err(format!(
                "RepeatVector takes vectors (None, features), got {}",
                only(inputs)?
            ));
        };
        if self.n == 0 {
            return Err("n must be at least 1".into());
        }
        Ok(Shape(vec![self.n, features]))
    }

    fn call(
        &self,
        inputs: Vec<DynTensor>,
        _weights: &Weights<'_>,
        _training: bool,
    ) -> Result<DynTensor, String> {
        let DynTensor::R2(x) = only(inputs)? else {
            return Err("RepeatVector takes a batch of vectors [batch, features]".into());
        };
        Ok(DynTensor::R3(x.unsqueeze_dim::<3>(1).repeat_dim(1, self.n)))
    }
}
