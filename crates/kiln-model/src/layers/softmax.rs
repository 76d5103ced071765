//! `Softmax`: softmax over an axis, as a layer (Keras `Softmax`).

use burn::tensor::activation::softmax;
use serde::{Deserialize, Serialize};

use super::conv_utils::{last_axis, sample_axis};
use super::{Layer, Weights, config_of, only, setters};
use crate::shape::Shape;
use crate::tensor::DynTensor;

/// `exp(x) / Σ exp(x)` along `axis` (Keras `layers.Softmax`, the last axis by default; the
/// batch axis is axis 0, so `1` is the first axis of a sample). Masks are not supported.
///
/// # Examples
/// ```
/// use kiln_model::{Input, Sequential, Softmax};
/// let model = Sequential::new().add(Input::new([2, 3])).add(Softmax::new().axis(1))
///     .build(&burn::tensor::Device::flex())?;
/// let y = model.predict(&ndarray::Array3::<f32>::zeros((1, 2, 3)), 32)?;
/// assert!(y.iter().all(|v| (v - 0.5).abs() < 1e-6));
/// # Ok::<(), kiln_model::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Softmax {
    /// The axis (default -1, the last), counting the batch axis as 0.
    #[serde(
        default = "last_axis",
        deserialize_with = "super::conv_utils::single_axis"
    )]
    pub axis: i64,
}

impl Default for Softmax {
    fn default() -> Self {
        Self { axis: last_axis() }
    }
}

impl Softmax {
    /// Over the last axis.
    pub fn new() -> Self {
        Self::default()
    }
}

setters!(Softmax {
    /// Sets the axis.
    axis: i64,
});

impl Layer for Softmax {
    fn class_name(&self) -> &str {
        "Softmax"
    }

    /// Keras's `Softmax` applies a mask of its own shape (attention scores); a step mask from
    /// `Masking` or `Embedding(mask_zero)` is refused when the model is built (Keras would
    /// broadcast it against the wrong axes).
    fn mask_policy(&self) -> crate::layers::MaskPolicy {
        crate::layers::MaskPolicy::Own
    }

    fn output_masked(&self, _inputs: &[Shape], masked: &[bool]) -> Result<bool, String> {
        if masked.first() == Some(&true) {
            return Err(
                "its input carries a step mask (from Masking or Embedding(mask_zero)), \
                        which Keras's Softmax would broadcast against the wrong axes; use the \
                        previous layer's `activation=\"softmax\"` instead"
                    .into(),
            );
        }
        Ok(false)
    }

    fn config(&self) -> serde_json::Value {
        config_of(self)
    }

    fn output_shape(&self, inputs: &[Shape]) -> Result<Shape, String> {
        let shape = only(inputs)?;
        sample_axis(self.axis, shape.rank() + 1)?;
        Ok(shape.clone())
    }

    fn call(
        &self,
        inputs: Vec<DynTensor>,
        _weights: &Weights<'_>,
        _training: bool,
    ) -> Result<DynTensor, String> {
        let x = only(inputs)?;
        let axis = sample_axis(self.axis, x.rank())?;
        Ok(crate::dyn_map!(x, t => softmax(t, axis)))
    }
}
