//! `CenterCrop`: the central `height × width` box of each image (Keras `layers.CenterCrop`).

use serde::{Deserialize, Serialize};

use super::conv_utils::{channels_last, default_format};
use super::image_resize::{Method, aspect_crop, resize};
use super::resizing::image_dims;
use super::{Layer, Weights, config_of, only};
use crate::shape::Shape;
use crate::tensor::DynTensor;

/// Keeps the central `height × width` box of images `(None, h, w, c)` (Keras
/// `layers.CenterCrop`): rows from `(h - height) / 2` (rounded down, so an odd difference drops
/// the extra row at the bottom), columns likewise. An image smaller than the box along either
/// axis is resized as Keras does (`smart_resize`: the largest centered box of the target's
/// aspect ratio, then bilinear to `height × width`).
///
/// # Examples
/// ```
/// use kiln_model::{CenterCrop, Input, Sequential};
/// let model = Sequential::new().add(Input::new([6, 8, 3])).add(CenterCrop::new(4, 4))
///     .build(&burn::tensor::Device::flex())?;
/// assert_eq!(model.output_shape().to_string(), "(None, 4, 4, 3)");
/// # Ok::<(), kiln_model::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CenterCrop {
    /// Output height.
    pub height: usize,
    /// Output width.
    pub width: usize,
    /// Only `channels_last`.
    #[serde(default = "default_format", deserialize_with = "channels_last")]
    pub data_format: String,
}

impl CenterCrop {
    /// The central `height × width` box.
    pub fn new(height: usize, width: usize) -> Self {
        Self {
            height,
            width,
            data_format: default_format(),
        }
    }
}

impl Layer for CenterCrop {
    fn class_name(&self) -> &str {
        "CenterCrop"
    }

    fn config(&self) -> serde_json::Value {
        config_of(self)
    }

    fn output_shape(&self, inputs: &[Shape]) -> Result<Shape, String> {
        let [_, _, c] = image_dims("CenterCrop", only(inputs)?, [self.height, self.width])?;
        Ok(Shape(vec![self.height, self.width, c]))
    }

    fn call(
        &self,
        inputs: Vec<DynTensor>,
        _weights: &Weights<'_>,
        _training: bool,
    ) -> Result<DynTensor, String> {
        let DynTensor::R4(x) = only(inputs)? else {
            return Err("CenterCrop needs a batch of images [batch, h, w, c]".into());
        };
        let [_, h, w, _] = x.dims();
        let size = [self.height, self.width];
        if h >= self.height && w >= self.width {
            let (sh, sw) = ((h - self.height) / 2, (w - self.width) / 2);
            return Ok(DynTensor::R4(
                x.narrow(1, sh, self.height).narrow(2, sw, self.width),
            ));
        }
        let [sh, sw, ch, cw] = aspect_crop(h, w, size);
        let x = x.narrow(1, sh, ch).narrow(2, sw, cw);
        Ok(DynTensor::R4(resize(x, size, Method::Bilinear, false)))
    }
}
