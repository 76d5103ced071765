//! `Dropout`: zeroes a random fraction of values while training.

use serde::{Deserialize, Serialize};

use super::{Layer, Weights, config_of, only};
use crate::shape::Shape;
use crate::tensor::DynTensor;

/// Sets a random `rate` of the values to 0 during training and scales the rest by
/// `1 / (1 - rate)`; the identity at inference (Keras `Dropout`).
///
/// # Examples
/// ```
/// use kiln_model::Dropout;
/// assert_eq!(Dropout::new(0.5).rate, 0.5);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dropout {
    /// The fraction of values dropped, in `[0, 1)`.
    pub rate: f64,
}

impl Dropout {
    /// Drops `rate` of the values while training.
    pub fn new(rate: f64) -> Self {
        Self { rate }
    }
}

impl Layer for Dropout {
    fn class_name(&self) -> &str {
        "Dropout"
    }

    /// Keeps its input's mask (Keras `supports_masking`).
    fn mask_policy(&self) -> crate::layers::MaskPolicy {
        crate::layers::MaskPolicy::Keep
    }

    fn config(&self) -> serde_json::Value {
        config_of(self)
    }

    fn output_shape(&self, inputs: &[Shape]) -> Result<Shape, String> {
        if !(0.0..1.0).contains(&self.rate) {
            return Err(format!("rate must be in [0, 1), got {}", self.rate));
        }
        Ok(only(inputs)?.clone())
    }

    fn call(
        &self,
        inputs: Vec<DynTensor>,
        _weights: &Weights<'_>,
        training: bool,
    ) -> Result<DynTensor, String> {
        let x = only(inputs)?;
        if !training || self.rate == 0.0 {
            return Ok(x);
        }
        let keep = 1.0 - self.rate;
        let scale = (1.0 / keep) as f32;
        let device = x.device();
        Ok(crate::dyn_map!(x, t => {
            let mask = crate::bernoulli::mask(t.shape(), keep, &device);
            t * mask * scale
        }))
    }
}
