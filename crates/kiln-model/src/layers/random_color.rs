//! `RandomContrast`, `RandomBrightness`: each image's contrast or brightness changed by a random
//! amount while training, clipped to the pixels' value range (Keras's layers of the same names).

use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use super::conv_utils::{channels_last, default_format};
use super::image_transform::{Factor, uniform};
use super::resizing::image_dims;
use super::{Layer, Weights, config_of, only};
use crate::shape::Shape;
use crate::tensor::DynTensor;

fn pixels() -> [f32; 2] {
    [0.0, 255.0]
}

fn check_range([lo, hi]: [f32; 2]) -> Result<(), String> {
    if lo.is_finite() && hi.is_finite() && lo < hi {
        Ok(())
    } else {
        Err(format!(
            "value_range must be [low, high] with low < high, got [{lo}, {hi}]"
        ))
    }
}

fn images(class: &str, inputs: Vec<DynTensor>) -> Result<Tensor<4>, String> {
    match only(inputs)? {
        DynTensor::R4(x) => Ok(x),
        _ => Err(format!("{class} needs a batch of images [batch, h, w, c]")),
    }
}

/// Scales each image's contrast by a random factor while training (Keras
/// `layers.RandomContrast`): `factor` `f` draws it from `[1 - f, 1 + f]` (or `[lower, upper]`
/// gives `[1 - lower, 1 + upper]`); each channel moves away from or towards its mean over the
/// image, `(x - mean) · factor + mean`, clipped to `value_range` (default `[0, 255]`).
/// Inference passes images unchanged.
///
/// # Examples
/// ```
/// use kiln_model::{Input, RandomContrast, Sequential};
/// let model = Sequential::new().add(Input::new([8, 8, 3])).add(RandomContrast::new(0.2))
///     .build(&burn::tensor::Device::flex())?;
/// assert_eq!(model.output_shape().to_string(), "(None, 8, 8, 3)");
/// # Ok::<(), kiln_model::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RandomContrast {
    /// How far the contrast factor strays from 1.
    pub factor: Factor,
    /// The pixels' range, for clipping (default `[0, 255]`).
    #[serde(default = "pixels")]
    pub value_range: [f32; 2],
    /// Keras's seed (kept in the config; Kiln draws from the device's generator).
    #[serde(default)]
    pub seed: Option<u64>,
    /// Only `channels_last` (Keras's default); `channels_first` in a config is an error.
    #[serde(default = "default_format", deserialize_with = "channels_last")]
    pub data_format: String,
}

impl RandomContrast {
    /// Contrast factors in `[1 - factor, 1 + factor]`.
    pub fn new(factor: impl Into<Factor>) -> Self {
        Self {
            factor: factor.into(),
            value_range: pixels(),
            seed: None,
            data_format: default_format(),
        }
    }

    /// Sets the pixels' range (`[0, 1]` for scaled images).
    pub fn value_range(mut self, range: [f32; 2]) -> Self {
        self.value_range = range;
        self
    }

    fn range(&self) -> Result<(f32, f32), String> {
        let (lower, upper) = match self.factor.0.as_slice() {
            [f] => (*f, *f),
            [lo, hi] => (*lo, *hi),
            other => {
                return Err(format!(
                    "factor must be a number or [lower, upper], got {other:?}"
                ));
            }
        };
        if !(lower.is_finite() && upper.is_finite() && (0.0..=1.0).contains(&lower) && upper >= 0.0)
        {
            return Err(format!(
                "factor must be >= 0 (and its lower bound <= 1), got [{lower}, {upper}]"
            ));
        }
        check_range(self.value_range)?;
        Ok((1.0 - lower, 1.0 + upper))
    }
}

impl Layer for RandomContrast {
    fn class_name(&self) -> &str {
        "RandomContrast"
    }
    fn config(&self) -> serde_json::Value {
        config_of(self)
    }
    fn output_shape(&self, inputs: &[Shape]) -> Result<Shape, String> {
        let input = only(inputs)?;
        image_dims("RandomContrast", input, [1, 1])?;
        self.range()?;
        Ok(input.clone())
    }
    fn call(
        &self,
        inputs: Vec<DynTensor>,
        _weights: &Weights<'_>,
        training: bool,
    ) -> Result<DynTensor, String> {
        let x = images("RandomContrast", inputs)?;
        if !training {
            return Ok(DynTensor::R4(x));
        }
        let dims = x.dims();
        let factor = uniform(dims[0], self.range()?, &x.device())
            .reshape([dims[0], 1, 1, 1])
            .expand(dims);
        let mean = x.clone().mean_dim(1).mean_dim(2).expand(dims);
        let [lo, hi] = self.value_range;
        Ok(DynTensor::R4(
            ((x - mean.clone()) * factor + mean).clamp(lo, hi),
        ))
    }
}

/// Adds a random brightness to each image while training (Keras `layers.RandomBrightness`):
/// `factor` `f` draws the change from `[-f, f]` of the value range (or `[lower, upper]`, both in
/// `[-1, 1]`), the same for every channel, then clips to `value_range` (default `[0, 255]`).
/// Inference passes images unchanged.
///
/// # Examples
/// ```
/// use kiln_model::{Input, RandomBrightness, Sequential};
/// let model = Sequential::new().add(Input::new([8, 8, 3])).add(RandomBrightness::new(0.2))
///     .build(&burn::tensor::Device::flex())?;
/// assert_eq!(model.output_shape().to_string(), "(None, 8, 8, 3)");
/// # Ok::<(), kiln_model::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RandomBrightness {
    /// The brightness change, as a fraction of the value range.
    pub factor: Factor,
    /// The pixels' range (default `[0, 255]`).
    #[serde(default = "pixels")]
    pub value_range: [f32; 2],
    /// Keras's seed (kept in the config; Kiln draws from the device's generator).
    #[serde(default)]
    pub seed: Option<u64>,
    /// Only `channels_last` (Keras's default); `channels_first` in a config is an error.
    #[serde(default = "default_format", deserialize_with = "channels_last")]
    pub data_format: String,
}

impl RandomBrightness {
    /// Brightness changes in `[-factor, factor]` of the value range.
    pub fn new(factor: impl Into<Factor>) -> Self {
        Self {
            factor: factor.into(),
            value_range: pixels(),
            seed: None,
            data_format: default_format(),
        }
    }

    /// Sets the pixels' range (`[0, 1]` for scaled images).
    pub fn value_range(mut self, range: [f32; 2]) -> Self {
        self.value_range = range;
        self
    }
}

impl Layer for RandomBrightness {
    fn class_name(&self) -> &str {
        "RandomBrightness"
    }
    fn config(&self) -> serde_json::Value {
        config_of(self)
    }
    fn output_shape(&self, inputs: &[Shape]) -> Result<Shape, String> {
        let input = only(inputs)?;
        image_dims("RandomBrightness", input, [1, 1])?;
        self.factor.bounds("factor", (-1.0, 1.0))?;
        check_range(self.value_range)?;
        Ok(input.clone())
    }
    fn call(
        &self,
        inputs: Vec<DynTensor>,
        _weights: &Weights<'_>,
        training: bool,
    ) -> Result<DynTensor, String> {
        let x = images("RandomBrightness", inputs)?;
        if !training {
            return Ok(DynTensor::R4(x));
        }
        let dims = x.dims();
        let [lo, hi] = self.value_range;
        let delta = uniform(
            dims[0],
            self.factor.bounds("factor", (-1.0, 1.0))?,
            &x.device(),
        )
        .mul_scalar(hi - lo)
        .reshape([dims[0], 1, 1, 1])
        .expand(dims);
        Ok(DynTensor::R4((x + delta).clamp(lo, hi)))
    }
}
