//! `ActivityRegularization`: a penalty on the activations passing through (Keras
//! `ActivityRegularization`).

use serde::{Deserialize, Serialize};

use super::{Layer, Weights, config_of, only};
use crate::regularizer::Regularizer;
use crate::shape::Shape;
use crate::tensor::DynTensor;

/// Passes its input through unchanged and adds `l1·Σ|x| + l2·Σx²` of it, divided by the batch
/// size (as Keras 3), to the loss `fit` minimizes and `evaluate` reports (Keras
/// `layers.ActivityRegularization`; the same as `activity_regularizer` on the layer before).
///
/// # Examples
/// ```
/// use kiln_model::{ActivityRegularization, Dense, Input, Sequential};
/// let model = Sequential::new().add(Input::new([2])).add(ActivityRegularization::new(0.0, 0.5))
///     .build(&burn::tensor::Device::flex())?;
/// let x = burn::tensor::Tensor::<2>::from_floats([[1.0, -2.0], [3.0, 0.0]], model.device());
/// let (_, _, added) = model.forward_with_losses(vec![kiln_model::DynTensor::R2(x)], true)?;
/// let added: f32 = added.expect("a loss").into_scalar();
/// assert!((added - 0.5 * 14.0 / 2.0).abs() < 1e-6); // 0.5 * (1 + 4 + 9) / batch 2
/// # Ok::<(), kiln_model::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActivityRegularization {
    /// The L1 factor (default 0).
    #[serde(default)]
    pub l1: f32,
    /// The L2 factor (default 0).
    #[serde(default)]
    pub l2: f32,
}

impl ActivityRegularization {
    /// Penalizes the activations by `l1·Σ|x| + l2·Σx²` per sample.
    pub fn new(l1: f32, l2: f32) -> Self {
        Self { l1, l2 }
    }
}

impl Layer for ActivityRegularization {
    fn class_name(&self) -> &str {
        "ActivityRegularization"
    }

    /// Keeps its input's mask (Keras `supports_masking`).
    fn mask_policy(&self) -> crate::layers::MaskPolicy {
        crate::layers::MaskPolicy::Keep
    }

    fn config(&self) -> serde_json::Value {
        config_of(self)
    }

    fn output_shape(&self, inputs: &[Shape]) -> Result<Shape, String> {
        if !(self.l1 >= 0.0 && self.l2 >= 0.0) {
            return Err(format!(
                "l1 and l2 must be numbers >= 0, got {} and {}",
                self.l1, self.l2
            ));
        }
        Ok(only(inputs)?.clone())
    }

    fn call(
        &self,
        inputs: Vec<DynTensor>,
        weights: &Weights<'_>,
        _training: bool,
    ) -> Result<DynTensor, String> {
        let x = only(inputs)?;
        if self.l1 == 0.0 && self.l2 == 0.0 {
            return Ok(x);
        }
        let r = Regularizer::l1_l2(self.l1, self.l2);
        let batch = x.dims().first().copied().unwrap_or(1).max(1) as f32;
        let penalty = match &x {
            DynTensor::R2(t) => r.penalty(t.clone()),
            DynTensor::R3(t) => r.penalty(t.clone()),
            DynTensor::R4(t) => r.penalty(t.clone()),
            DynTensor::R5(t) => r.penalty(t.clone()),
        };
        weights.add_loss(penalty / batch);
        Ok(x)
    }
}
