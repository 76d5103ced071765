//! `UnitNormalization`: each vector scaled to unit L2 norm (Keras `UnitNormalization`).

use serde::{Deserialize, Serialize};

use super::conv_utils::{last_axis, sample_axis};
use super::{Layer, Weights, config_of, only, setters};
use crate::shape::Shape;
use crate::tensor::DynTensor;

/// `x / sqrt(max(Σ x², 1e-12))` along `axis` (Keras `layers.UnitNormalization`, the last axis
/// by default; the batch axis is 0).
///
/// # Examples
/// ```
/// use kiln_model::{Input, Sequential, UnitNormalization};
/// let model = Sequential::new().add(Input::new([2])).add(UnitNormalization::new())
///     .build(&burn::tensor::Device::flex())?;
/// let y = model.predict(&ndarray::array![[3.0f32, 4.0]], 32)?;
/// assert_eq!(y.into_raw_vec_and_offset().0, vec![0.6, 0.8]);
/// # Ok::<(), kiln_model::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnitNormalization {
    /// The axis (default -1), counting the batch axis as 0.
    #[serde(
        default = "last_axis",
        deserialize_with = "super::conv_utils::single_axis"
    )]
    pub axis: i64,
}

impl Default for UnitNormalization {
    fn default() -> Self {
        Self { axis: last_axis() }
    }
}

impl UnitNormalization {
    /// Along the last axis.
    pub fn new() -> Self {
        Self::default()
    }
}

setters!(UnitNormalization {
    /// Sets the axis.
    axis: i64,
});

impl Layer for UnitNormalization {
    fn class_name(&self) -> &str {
        "UnitNormalization"
    }

    /// Keeps its input's mask (Keras `supports_masking`).
    fn mask_policy(&self) -> crate::layers::MaskPolicy {
        crate::layers::MaskPolicy::Keep
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
        Ok(crate::dyn_map!(x, t => {
            let norm = t.clone().square().sum_dim(axis).clamp_min(1e-12).sqrt();
            t / norm
        }))
    }
}
