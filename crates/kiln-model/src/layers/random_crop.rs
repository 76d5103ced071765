//! `RandomCrop`: a random `height × width` window of each batch while training, the largest
//! centred window of that aspect ratio resized at inference (Keras `layers.RandomCrop`).

use burn::tensor::{Distribution, Tensor};
use serde::{Deserialize, Serialize};

use super::conv_utils::{channels_last, default_format};
use super::image_resize::{Method, aspect_crop, resize};
use super::resizing::image_dims;
use super::{Layer, Weights, config_of, only};
use crate::shape::Shape;
use crate::tensor::DynTensor;

/// Crops a random `height × width` window while training (Keras `layers.RandomCrop`: one
/// offset per batch, drawn from the device's generator). At inference, and while training on
/// images smaller than the window, it takes the largest centred box of the window's aspect
/// ratio and resizes it (bilinear) to `height × width`, as Keras does.
///
/// # Examples
/// ```
/// use kiln_model::{Input, RandomCrop, Sequential};
/// let model = Sequential::new().add(Input::new([32, 32, 3])).add(RandomCrop::new(24, 24))
///     .build(&burn::tensor::Device::flex())?;
/// assert_eq!(model.output_shape().to_string(), "(None, 24, 24, 3)");
/// # Ok::<(), kiln_model::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RandomCrop {
    /// Window height.
    pub height: usize,
    /// Window width.
    pub width: usize,
    /// Keras's seed (kept in the config; Kiln draws from the device's generator).
    #[serde(default)]
    pub seed: Option<u64>,
    /// Only `channels_last` (Keras's default); `channels_first` in a config is an error.
    #[serde(default = "default_format", deserialize_with = "channels_last")]
    pub data_format: String,
}

impl RandomCrop {
    /// Random `height × width` windows.
    pub fn new(height: usize, width: usize) -> Self {
        Self {
            height,
            width,
            seed: None,
            data_format: default_format(),
        }
    }
}

impl Layer for RandomCrop {
    fn class_name(&self) -> &str {
        "RandomCrop"
    }
    fn config(&self) -> serde_json::Value {
        config_of(self)
    }
    fn output_shape(&self, inputs: &[Shape]) -> Result<Shape, String> {
        let [_, _, c] = image_dims("RandomCrop", only(inputs)?, [self.height, self.width])?;
        Ok(Shape(vec![self.height, self.width, c]))
    }
    fn call(
        &self,
        inputs: Vec<DynTensor>,
        _weights: &Weights<'_>,
        training: bool,
    ) -> Result<DynTensor, String> {
        let DynTensor::R4(x) = only(inputs)? else {
            return Err("RandomCrop needs a batch of images [batch, h, w, c]".into());
        };
        let [_, h, w, _] = x.dims();
        let size = [self.height, self.width];
        if training && h >= self.height && w >= self.width {
            let draws = Tensor::<1>::random([2], Distribution::Uniform(0.0, 1.0), &x.device())
                .into_data()
                .try_to_vec::<f32>()
                .map_err(|e| format!("reading the crop offset: {e:?}"))?;
            let pick = |u: f32, room: usize| ((u * (room + 1) as f32) as usize).min(room);
            let (top, left) = (
                pick(draws[0], h - self.height),
                pick(draws[1], w - self.width),
            );
            return Ok(DynTensor::R4(
                x.narrow(1, top, self.height).narrow(2, left, self.width),
            ));
        }
        let [sh, sw, ch, cw] = aspect_crop(h, w, size);
        let x = x.narrow(1, sh, ch).narrow(2, sw, cw);
        Ok(DynTensor::R4(resize(x, size, Method::Bilinear, false)))
    }
}
