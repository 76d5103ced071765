//! `Rescaling`: `x · scale + offset`, e.g. pixels 0..255 to 0..1 inside the model.

use burn::module::Module;
use serde::{Deserialize, Serialize};

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
    /// The layer's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Multiplier.
    pub scale: f32,
    /// Added after scaling (default 0).
    #[serde(default)]
    pub offset: f32,
}

impl Rescaling {
    /// `x · scale`.
    pub fn new(scale: f32) -> Self {
        Self {
            name: None,
            scale,
            offset: 0.0,
        }
    }

    /// Sets the offset.
    pub fn offset(mut self, offset: f32) -> Self {
        self.offset = offset;
        self
    }

    /// Sets the layer name.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    pub(crate) fn output_shape(&self, input: &Shape) -> Result<Shape, String> {
        Ok(input.clone())
    }
}

/// The built `Rescaling` (no weights).
#[derive(Module, Debug)]
pub struct RescalingLayer {
    #[module(skip)]
    pub(crate) scale: f32,
    #[module(skip)]
    pub(crate) offset: f32,
}

impl RescalingLayer {
    /// `x · scale + offset`.
    pub fn forward(&self, x: DynTensor) -> DynTensor {
        let (scale, offset) = (self.scale, self.offset);
        if offset == 0.0 {
            crate::dyn_map!(x, t => t * scale)
        } else {
            crate::dyn_map!(x, t => t * scale + offset)
        }
    }
}
