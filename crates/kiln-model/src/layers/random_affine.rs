//! `RandomTranslation`, `RandomZoom`, `RandomRotation`: images moved, scaled or turned by a
//! random amount while training, resampled with Keras's fill modes (Keras's layers of the same
//! names).

use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use super::conv_utils::{channels_last, default_format};
use super::image_transform::{Factor, Fill, affine, check_interpolation, transforms, uniform};
use super::resizing::image_dims;
use super::{Layer, Weights, config_of, only};
use crate::shape::Shape;
use crate::tensor::DynTensor;

/// A `(lower, upper)` range.
type Bounds = (f32, f32);

fn reflect() -> String {
    "reflect".into()
}

fn bilinear() -> String {
    "bilinear".into()
}

/// The options the three layers share, with Keras's defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AffineOptions {
    /// `reflect` (default), `wrap`, `nearest` or `constant`.
    #[serde(default = "reflect")]
    pub fill_mode: String,
    /// `bilinear` (default) or `nearest`.
    #[serde(default = "bilinear")]
    pub interpolation: String,
    /// The value outside the image with `fill_mode="constant"` (default 0).
    #[serde(default)]
    pub fill_value: f32,
    /// Keras's seed (kept in the config; Kiln draws from the device's generator, which `fit`
    /// seeds per epoch).
    #[serde(default)]
    pub seed: Option<u64>,
    /// Only `channels_last` (Keras's default); `channels_first` in a config is an error.
    #[serde(default = "default_format", deserialize_with = "channels_last")]
    pub data_format: String,
}

impl Default for AffineOptions {
    fn default() -> Self {
        Self {
            fill_mode: reflect(),
            interpolation: bilinear(),
            fill_value: 0.0,
            seed: None,
            data_format: default_format(),
        }
    }
}

impl AffineOptions {
    fn check(&self) -> Result<(Fill, bool), String> {
        Ok((
            Fill::parse(&self.fill_mode)?,
            check_interpolation(&self.interpolation)?,
        ))
    }

    fn apply(&self, x: Tensor<4>, m: Tensor<2>) -> Result<Tensor<4>, String> {
        let (fill, bilinear) = self.check()?;
        Ok(affine(x, m, fill, bilinear, self.fill_value))
    }
}

macro_rules! affine_setters {
    ($ty:ty) => {
        impl $ty {
            /// Sets how outside pixels are made (`reflect`, `wrap`, `nearest`, `constant`).
            pub fn fill_mode(mut self, mode: impl Into<String>) -> Self {
                self.options.fill_mode = mode.into();
                self
            }
            /// Sets the interpolation (`bilinear`, `nearest`).
            pub fn interpolation(mut self, interpolation: impl Into<String>) -> Self {
                self.options.interpolation = interpolation.into();
                self
            }
            /// Sets the value outside the image with `fill_mode("constant")`.
            pub fn fill_value(mut self, value: f32) -> Self {
                self.options.fill_value = value;
                self
            }
        }
    };
}

fn images(class: &str, inputs: Vec<DynTensor>) -> Result<Tensor<4>, String> {
    match only(inputs)? {
        DynTensor::R4(x) => Ok(x),
        _ => Err(format!("{class} needs a batch of images [batch, h, w, c]")),
    }
}

/// Moves each image by a random fraction of its height and width while training (Keras
/// `layers.RandomTranslation`): `height_factor` `f` draws the shift from `[-f, f] × height`
/// (or give `[lower, upper]`; positive moves down), `width_factor` likewise (positive moves
/// right). Inference passes images unchanged.
///
/// # Examples
/// ```
/// use kiln_model::{Input, RandomTranslation, Sequential};
/// let model = Sequential::new().add(Input::new([8, 8, 1]))
///     .add(RandomTranslation::new(0.1, 0.1).fill_mode("constant"))
///     .build(&burn::tensor::Device::flex())?;
/// assert_eq!(model.output_shape().to_string(), "(None, 8, 8, 1)");
/// # Ok::<(), kiln_model::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RandomTranslation {
    /// Vertical shift, as a fraction of the height.
    pub height_factor: Factor,
    /// Horizontal shift, as a fraction of the width.
    pub width_factor: Factor,
    /// Fill mode, interpolation, fill value, seed.
    #[serde(flatten)]
    pub options: AffineOptions,
}

impl RandomTranslation {
    /// Shifts by up to `height_factor` of the height and `width_factor` of the width.
    pub fn new(height_factor: impl Into<Factor>, width_factor: impl Into<Factor>) -> Self {
        Self {
            height_factor: height_factor.into(),
            width_factor: width_factor.into(),
            options: AffineOptions::default(),
        }
    }
}
affine_setters!(RandomTranslation);

impl Layer for RandomTranslation {
    fn class_name(&self) -> &str {
        "RandomTranslation"
    }
    fn config(&self) -> serde_json::Value {
        config_of(self)
    }
    fn output_shape(&self, inputs: &[Shape]) -> Result<Shape, String> {
        let input = only(inputs)?;
        image_dims("RandomTranslation", input, [1, 1])?;
        self.height_factor.bounds("height_factor", (-1.0, 1.0))?;
        self.width_factor.bounds("width_factor", (-1.0, 1.0))?;
        self.options.check()?;
        Ok(input.clone())
    }
    fn call(
        &self,
        inputs: Vec<DynTensor>,
        _weights: &Weights<'_>,
        training: bool,
    ) -> Result<DynTensor, String> {
        let x = images("RandomTranslation", inputs)?;
        if !training {
            return Ok(DynTensor::R4(x));
        }
        let [b, h, w, _] = x.dims();
        let device = x.device();
        let dy = uniform(
            b,
            self.height_factor.bounds("height_factor", (-1.0, 1.0))?,
            &device,
        ) * h as f32;
        let dx = uniform(
            b,
            self.width_factor.bounds("width_factor", (-1.0, 1.0))?,
            &device,
        ) * w as f32;
        let (one, zero) = (
            Tensor::<1>::ones([b], &device),
            Tensor::<1>::zeros([b], &device),
        );
        let m = transforms([one.clone(), zero.clone(), dx.neg(), zero, one, dy.neg()]);
        Ok(DynTensor::R4(self.options.apply(x, m)?))
    }
}

/// Zooms each image in or out by a random amount while training (Keras `layers.RandomZoom`):
/// `height_factor` `f` draws the vertical zoom from `1 + [-f, f]` (positive zooms out, as
/// Keras), `width_factor` the horizontal one (`None`: the same draw, keeping the aspect ratio).
/// Inference passes images unchanged.
///
/// # Examples
/// ```
/// use kiln_model::{Input, RandomZoom, Sequential};
/// let model = Sequential::new().add(Input::new([8, 8, 1])).add(RandomZoom::new(0.2))
///     .build(&burn::tensor::Device::flex())?;
/// assert_eq!(model.output_shape().to_string(), "(None, 8, 8, 1)");
/// # Ok::<(), kiln_model::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RandomZoom {
    /// Vertical zoom range, as a fraction.
    pub height_factor: Factor,
    /// Horizontal zoom range (`None`: follow the vertical draw).
    #[serde(default)]
    pub width_factor: Option<Factor>,
    /// Fill mode, interpolation, fill value, seed.
    #[serde(flatten)]
    pub options: AffineOptions,
}

impl RandomZoom {
    /// Zooms by up to `height_factor` both ways, keeping the aspect ratio.
    pub fn new(height_factor: impl Into<Factor>) -> Self {
        Self {
            height_factor: height_factor.into(),
            width_factor: None,
            options: AffineOptions::default(),
        }
    }

    /// Draws the horizontal zoom separately.
    pub fn width_factor(mut self, factor: impl Into<Factor>) -> Self {
        self.width_factor = Some(factor.into());
        self
    }

    fn ranges(&self) -> Result<(Bounds, Option<Bounds>), String> {
        let limit = (-1.0, f32::MAX);
        Ok((
            self.height_factor.bounds("height_factor", limit)?,
            self.width_factor
                .as_ref()
                .map(|f| f.bounds("width_factor", limit))
                .transpose()?,
        ))
    }
}
affine_setters!(RandomZoom);

impl Layer for RandomZoom {
    fn class_name(&self) -> &str {
        "RandomZoom"
    }
    fn config(&self) -> serde_json::Value {
        config_of(self)
    }
    fn output_shape(&self, inputs: &[Shape]) -> Result<Shape, String> {
        let input = only(inputs)?;
        image_dims("RandomZoom", input, [1, 1])?;
        self.ranges()?;
        self.options.check()?;
        Ok(input.clone())
    }
    fn call(
        &self,
        inputs: Vec<DynTensor>,
        _weights: &Weights<'_>,
        training: bool,
    ) -> Result<DynTensor, String> {
        let x = images("RandomZoom", inputs)?;
        if !training {
            return Ok(DynTensor::R4(x));
        }
        let [b, h, w, _] = x.dims();
        let device = x.device();
        let (hr, wr) = self.ranges()?;
        let zy = uniform(b, (1.0 + hr.0, 1.0 + hr.1), &device);
        let zx = match wr {
            Some(wr) => uniform(b, (1.0 + wr.0, 1.0 + wr.1), &device),
            None => zy.clone(),
        };
        // Input = zoom · (output - centre) + centre.
        let (cx, cy) = ((w as f32 - 1.0) / 2.0, (h as f32 - 1.0) / 2.0);
        let ox = (zx.clone().neg() + 1.0) * cx;
        let oy = (zy.clone().neg() + 1.0) * cy;
        let zero = Tensor::<1>::zeros([b], &device);
        let m = transforms([zx, zero.clone(), ox, zero, zy, oy]);
        Ok(DynTensor::R4(self.options.apply(x, m)?))
    }
}

/// Turns each image about its centre by a random angle while training (Keras
/// `layers.RandomRotation`): `factor` `f` draws the angle from `[-f, f] × 2π` (or give
/// `[lower, upper]`; positive turns counter-clockwise). Inference passes images unchanged.
///
/// # Examples
/// ```
/// use kiln_model::{Input, RandomRotation, Sequential};
/// let model = Sequential::new().add(Input::new([8, 8, 1])).add(RandomRotation::new(0.1))
///     .build(&burn::tensor::Device::flex())?;
/// assert_eq!(model.output_shape().to_string(), "(None, 8, 8, 1)");
/// # Ok::<(), kiln_model::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RandomRotation {
    /// The angle range, as a fraction of a full turn.
    pub factor: Factor,
    /// Fill mode, interpolation, fill value, seed.
    #[serde(flatten)]
    pub options: AffineOptions,
}

impl RandomRotation {
    /// Turns by up to `factor` of a full turn either way.
    pub fn new(factor: impl Into<Factor>) -> Self {
        Self {
            factor: factor.into(),
            options: AffineOptions::default(),
        }
    }
}
affine_setters!(RandomRotation);

impl Layer for RandomRotation {
    fn class_name(&self) -> &str {
        "RandomRotation"
    }
    fn config(&self) -> serde_json::Value {
        config_of(self)
    }
    fn output_shape(&self, inputs: &[Shape]) -> Result<Shape, String> {
        let input = only(inputs)?;
        image_dims("RandomRotation", input, [1, 1])?;
        self.factor.bounds("factor", (-1.0, 1.0))?;
        self.options.check()?;
        Ok(input.clone())
    }
    fn call(
        &self,
        inputs: Vec<DynTensor>,
        _weights: &Weights<'_>,
        training: bool,
    ) -> Result<DynTensor, String> {
        let x = images("RandomRotation", inputs)?;
        if !training {
            return Ok(DynTensor::R4(x));
        }
        let [b, h, w, _] = x.dims();
        let device = x.device();
        let (lo, hi) = self.factor.bounds("factor", (-1.0, 1.0))?;
        let turn = 2.0 * std::f32::consts::PI;
        let angle = uniform(b, (lo * turn, hi * turn), &device);
        let (cos, sin) = (angle.clone().cos(), angle.sin());
        let (wm, hm) = (w as f32 - 1.0, h as f32 - 1.0);
        // Keras's rotation about the centre.
        let ox = (cos.clone() * wm - sin.clone() * hm).neg().add_scalar(wm) / 2.0;
        let oy = (sin.clone() * wm + cos.clone() * hm).neg().add_scalar(hm) / 2.0;
        let m = transforms([cos.clone(), sin.clone().neg(), ox, sin, cos, oy]);
        Ok(DynTensor::R4(self.options.apply(x, m)?))
    }
}
