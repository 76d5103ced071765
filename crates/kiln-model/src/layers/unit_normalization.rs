//! `UnitNormalization`: each vector scaled to unit L2 norm (Keras `UnitNormalization`).

use serde::{Deserialize, Serialize};

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
    #[serde(default = "last", deserialize_with = "super::conv_utils::single_axis")]
    pub axis: i64,
}

fn last() -> i64 {
    -1
}

impl Default for UnitNormalization {
    fn default() -> Self {
        Self { axis: last() }
    }
}

impl UnitNormalization {
    /// Along the last axis.
    pub fn new() -> Self {
        Self::default()
    }

    fn resolve(&self, rank: usize) -> Result<usize, String> {
        let r = rank as i64;
        let a = if self.axis < 0 { self.axis + r } else { self.axis };
        if a <= 0 || a >= r {
            return Err(format!(
                "axis {} is not an axis of a sample of rank {} (the batch axis is 0)",
                self.axis,
                rank - 1
            ));
        }
        Ok(a as usize)
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

    fn config(&self) -> serde_json::Value {
        config_of(self)
    }

    fn output_shape(&self, inputs: &[Shape]) -> Result<Shape, String> {
        let shape = only(inputs)?;
        self.resolve(shape.rank() + 1)?;
        Ok(shape.clone())
    }

    fn call(
        &self,
        inputs: Vec<DynTensor>,
        _weights: &Weights<'_>,
        _training: bool,
    ) -> Result<DynTensor, String> {
        let x = only(inputs)?;
        let axis = self.resolve(x.rank())?;
        Ok(crate::dyn_map!(x, t => {
            let norm = t.clone().square().sum_dim(axis).clamp_min(1e-12).sqrt();
            t / norm
        }))
    }
}
