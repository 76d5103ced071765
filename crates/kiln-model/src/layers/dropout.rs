//! `Dropout`: zeroes a random fraction of values while training.

use burn::module::Module;
use burn::tensor::{Distribution, Tensor};
use serde::{Deserialize, Serialize};

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
    /// The layer's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Fraction of values dropped, in `[0, 1)`.
    pub rate: f64,
}

impl Dropout {
    /// Drops `rate` of the values while training.
    pub fn new(rate: f64) -> Self {
        Self { name: None, rate }
    }

    /// Sets the layer name.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    pub(crate) fn output_shape(&self, input: &Shape) -> Result<Shape, String> {
        if !(0.0..1.0).contains(&self.rate) {
            return Err(format!("rate must be in [0, 1), got {}", self.rate));
        }
        Ok(input.clone())
    }
}

/// The built `Dropout` (no weights).
#[derive(Module, Debug)]
pub struct DropoutLayer {
    #[module(skip)]
    pub(crate) rate: f64,
}

impl DropoutLayer {
    /// Drops values when `training`, else returns `x`.
    pub fn forward(&self, x: DynTensor, training: bool) -> DynTensor {
        if !training || self.rate == 0.0 {
            return x;
        }
        let keep = 1.0 - self.rate;
        let scale = (1.0 / keep) as f32;
        let device = x.device();
        crate::dyn_map!(x, t => {
            let mask = Tensor::random(t.shape(), Distribution::Bernoulli(keep), &device);
            t * mask * scale
        })
    }
}
