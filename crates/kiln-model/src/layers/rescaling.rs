//! `Rescaling`: `x · scale + offset`, e.g. pixels 0..255 to 0..1 inside the model.

use serde::{Deserialize, Serialize};

use super::{Layer, Weights, config_of, only, setters};
use crate::shape::Shape;
use crate::tensor::DynTensor;

/// Multiplies by `scale` and adds `offset` (Keras `Rescaling`). With it a model takes raw `u8`
/// pixels, so the host keeps only the bytes and the device holds the only `f32` copy.
///
/// # Examples
/// ```
/// use kiln_model::{Input, Rescaling, Sequential};
/// let model = Sequential::new().add(Input::new([2])).add(Rescaling::new(1.0 / 255.0))
///     .build(&burn::tensor::Device::flex())?;
/// let y = model.predict(&ndarray::array![[0u8, 255]], 32)?;
/// assert_eq!(y.into_raw_vec_and_offset().0, vec![0.0, 1.0]);
/// # Ok::<(), kiln_model::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rescaling {
    /// Multiplier.
    pub scale: f32,
    /// Added after scaling (default 0).
    #[serde(default)]
    pub offset: f32,
}

impl Rescaling {
    /// Multiplies by `scale`.
    pub fn new(scale: f32) -> Self {
        Self { scale, offset: 0.0 }
    }
}

setters!(Rescaling {
    /// Sets the offset added after scaling.
    offset: f32,
});

impl Layer for Rescaling {
    fn class_name(&self) -> &str {
        "Rescaling"
    }

    fn config(&self) -> serde_json::Value {
        config_of(self)
    }

    fn output_shape(&self, inputs: &[Shape]) -> Result<Shape, String> {
        if !self.scale.is_finite() || !self.offset.is_finite() {
            return Err(format!(
                "scale and offset must be finite numbers, got {} and {}",
                self.scale, self.offset
            ));
        }
        Ok(only(inputs)?.clone())
    }

    fn call(
        &self,
        inputs: Vec<DynTensor>,
        _weights: &Weights<'_>,
        _training: bool,
    ) -> Result<DynTensor, String> {
        let (x, scale, offset) = (only(inputs)?, self.scale, self.offset);
        Ok(if offset == 0.0 {
            crate::dyn_map!(x, t => t * scale)
        } else {
            crate::dyn_map!(x, t => t * scale + offset)
        })
    }
}
