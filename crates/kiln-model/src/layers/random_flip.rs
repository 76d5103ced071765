//! `RandomFlip`: images flipped left-right and/or upside down at random while training (Keras
//! `layers.RandomFlip`).

use burn::tensor::{Distribution, Tensor};
use serde::{Deserialize, Serialize};

use super::conv_utils::{channels_last, default_format};
use super::resizing::image_dims;
use super::{Layer, Weights, config_of, only};
use crate::shape::Shape;
use crate::tensor::DynTensor;

fn both() -> String {
    "horizontal_and_vertical".into()
}

/// Flips each image with probability 1/2 while training (Keras `layers.RandomFlip`):
/// `mode` `horizontal` (left-right), `vertical` (upside down) or `horizontal_and_vertical`
/// (default; each decided independently). At inference the images pass unchanged. The draws
/// come from the device's generator, which `fit` seeds per epoch with `FitOptions::seed`.
///
/// # Examples
/// ```
/// use kiln_model::{Input, RandomFlip, Sequential};
/// let model = Sequential::new().add(Input::new([8, 8, 3])).add(RandomFlip::new("horizontal"))
///     .build(&burn::tensor::Device::flex())?;
/// let x = ndarray::Array4::<f32>::ones((2, 8, 8, 3));
/// assert_eq!(model.predict(&x, 32)?, x.into_dyn()); // inference: unchanged
/// # Ok::<(), kiln_model::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RandomFlip {
    /// `horizontal`, `vertical` or `horizontal_and_vertical`.
    #[serde(default = "both")]
    pub mode: String,
    /// Keras's seed (kept in the config; Kiln draws from the device's generator).
    #[serde(default)]
    pub seed: Option<u64>,
    /// Only `channels_last` (Keras's default); `channels_first` in a config is an error.
    #[serde(default = "default_format", deserialize_with = "channels_last")]
    pub data_format: String,
}

impl RandomFlip {
    /// Flips in `mode` (`horizontal`, `vertical`, `horizontal_and_vertical`).
    pub fn new(mode: impl Into<String>) -> Self {
        Self {
            mode: mode.into(),
            seed: None,
            data_format: default_format(),
        }
    }

    fn axes(&self) -> Result<(bool, bool), String> {
        match self.mode.as_str() {
            "horizontal" => Ok((true, false)),
            "vertical" => Ok((false, true)),
            "horizontal_and_vertical" => Ok((true, true)),
            other => Err(format!(
                "mode `{other}` is not supported; use horizontal, vertical or \
                 horizontal_and_vertical"
            )),
        }
    }
}

/// `x` flipped along `axis` for the images where a coin says so.
fn maybe_flip(x: Tensor<4>, axis: usize) -> Tensor<4> {
    let dims = x.dims();
    let coin = Tensor::<1>::random([dims[0]], Distribution::Bernoulli(0.5), &x.device())
        .reshape([dims[0], 1, 1, 1])
        .expand(dims);
    let flipped = x.clone().flip([axis]);
    x.mask_where(coin.equal_elem(1.0), flipped)
}

impl Layer for RandomFlip {
    fn class_name(&self) -> &str {
        "RandomFlip"
    }

    fn config(&self) -> serde_json::Value {
        config_of(self)
    }

    fn output_shape(&self, inputs: &[Shape]) -> Result<Shape, String> {
        let input = only(inputs)?;
        image_dims("RandomFlip", input, [1, 1])?;
        self.axes()?;
        Ok(input.clone())
    }

    fn call(
        &self,
        inputs: Vec<DynTensor>,
        _weights: &Weights<'_>,
        training: bool,
    ) -> Result<DynTensor, String> {
        let DynTensor::R4(x) = only(inputs)? else {
            return Err("RandomFlip needs a batch of images [batch, h, w, c]".into());
        };
        if !training {
            return Ok(DynTensor::R4(x));
        }
        let (horizontal, vertical) = self.axes()?;
        let x = if horizontal { maybe_flip(x, 2) } else { x };
        let x = if vertical { maybe_flip(x, 1) } else { x };
        Ok(DynTensor::R4(x))
    }
}
