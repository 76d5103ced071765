//! `UpSampling1d`, `UpSampling2d`, `UpSampling3d`: sequences, images and volumes made larger by
//! repeating steps, rows, columns (or, for images, by interpolating), Keras
//! `UpSampling1D/2D/3D`.

use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use super::conv_utils::{channels_last, default_format, pair, single, triple};
use super::image_resize::{Method, resize};
use super::{Layer, Weights, config_of, only};
use crate::shape::Shape;
use crate::tensor::DynTensor;

fn two() -> usize {
    2
}

fn two_two() -> [usize; 2] {
    [2, 2]
}

fn two_three() -> [usize; 3] {
    [2, 2, 2]
}

fn nearest() -> String {
    "nearest".into()
}

/// Repeats every entry along `axis` `times` times (`[a, b, c]` → `[a, a, b, b, c, c]`),
/// through a rank-3 view: everything up to the axis, the copies, everything after.
fn repeat_axis<const D: usize>(x: Tensor<D>, axis: usize, times: usize) -> Tensor<D> {
    if times == 1 {
        return x;
    }
    let dims = x.dims();
    let outer: usize = dims[..=axis].iter().product();
    let inner: usize = dims[axis + 1..].iter().product();
    let mut out = dims;
    out[axis] *= times;
    x.reshape([outer, 1, inner])
        .repeat_dim(1, times)
        .reshape(out)
}

/// The sample shape with axis `i` (of the sample) multiplied by `sizes[i]`, the last axis (the
/// channels) kept.
fn grown(input: &Shape, sizes: &[usize], class: &str, what: &str) -> Result<Shape, String> {
    if input.rank() != sizes.len() + 1 {
        return Err(format!("{class} needs {what}, got {input}"));
    }
    if sizes.contains(&0) {
        return Err(format!("size must be at least 1, got {sizes:?}"));
    }
    let mut out = input.dims().to_vec();
    for (d, &s) in out.iter_mut().zip(sizes) {
        *d = d
            .checked_mul(s)
            .ok_or_else(|| format!("size {sizes:?} is too large for {input}"))?;
    }
    Ok(Shape(out))
}

/// Repeats each step of sequences `[batch, steps, features]` `size` times (Keras
/// `UpSampling1D`, default 2).
///
/// # Examples
/// ```
/// use kiln_model::{Input, Sequential, UpSampling1d};
/// let model = Sequential::new().add(Input::new([3, 2])).add(UpSampling1d::new(3))
///     .build(&burn::tensor::Device::flex())?;
/// assert_eq!(model.output_shape().to_string(), "(None, 9, 2)");
/// # Ok::<(), kiln_model::Error>(())
/// ```
#[doc(alias = "UpSampling1D")]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UpSampling1d {
    /// Copies of each step (default 2).
    #[serde(default = "two", deserialize_with = "single")]
    pub size: usize,
}

impl UpSampling1d {
    /// Repeats each step `size` times.
    pub fn new(size: usize) -> Self {
        Self { size }
    }
}

impl Layer for UpSampling1d {
    fn class_name(&self) -> &str {
        "UpSampling1D"
    }

    fn config(&self) -> serde_json::Value {
        config_of(self)
    }

    fn output_shape(&self, inputs: &[Shape]) -> Result<Shape, String> {
        grown(
            only(inputs)?,
            &[self.size],
            "UpSampling1D",
            "sequences (None, steps, features)",
        )
    }

    fn call(
        &self,
        inputs: Vec<DynTensor>,
        _weights: &Weights<'_>,
        _training: bool,
    ) -> Result<DynTensor, String> {
        let DynTensor::R3(x) = only(inputs)? else {
            return Err("UpSampling1D needs a batch of sequences [batch, steps, features]".into());
        };
        Ok(DynTensor::R3(repeat_axis(x, 1, self.size)))
    }
}

/// Makes images `[batch, h, w, c]` `size[0]` times taller and `size[1]` times wider (Keras
/// `UpSampling2D`): `nearest` (default) repeats rows and columns; `bilinear`, `bicubic`,
/// `lanczos3` and `lanczos5` interpolate, as Keras's `ops.image.resize` on JAX (half-pixel
/// centers).
///
/// # Examples
/// ```
/// use kiln_model::{Input, Sequential, UpSampling2d};
/// let model = Sequential::new().add(Input::new([3, 4, 2])).add(UpSampling2d::new(2))
///     .build(&burn::tensor::Device::flex())?;
/// assert_eq!(model.output_shape().to_string(), "(None, 6, 8, 2)");
/// let smooth = UpSampling2d::new(2).interpolation("bilinear");
/// # Ok::<(), kiln_model::Error>(())
/// ```
#[doc(alias = "UpSampling2D")]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UpSampling2d {
    /// Repeats `[rows, columns]` (default 2x2).
    #[serde(default = "two_two", deserialize_with = "pair")]
    pub size: [usize; 2],
    /// `nearest` (default), `bilinear`, `bicubic`, `lanczos3` or `lanczos5`.
    #[serde(default = "nearest")]
    pub interpolation: String,
    /// Only `channels_last`.
    #[serde(default = "default_format", deserialize_with = "channels_last")]
    pub data_format: String,
}

impl UpSampling2d {
    /// Repeats rows and columns `size` times.
    pub fn new(size: usize) -> Self {
        Self {
            size: [size; 2],
            interpolation: nearest(),
            data_format: default_format(),
        }
    }

    /// Different factors for rows and columns.
    pub fn size(mut self, size: [usize; 2]) -> Self {
        self.size = size;
        self
    }

    /// Sets the interpolation (`nearest`, `bilinear`, `bicubic`, `lanczos3`, `lanczos5`).
    pub fn interpolation(mut self, interpolation: impl Into<String>) -> Self {
        self.interpolation = interpolation.into();
        self
    }
}

impl Layer for UpSampling2d {
    fn class_name(&self) -> &str {
        "UpSampling2D"
    }

    fn config(&self) -> serde_json::Value {
        config_of(self)
    }

    fn output_shape(&self, inputs: &[Shape]) -> Result<Shape, String> {
        if Method::parse(&self.interpolation).is_none() {
            return Err(format!(
                "interpolation `{}` is not one of nearest, bilinear, bicubic, lanczos3, lanczos5",
                self.interpolation
            ));
        }
        grown(
            only(inputs)?,
            &self.size,
            "UpSampling2D",
            "images (None, height, width, channels)",
        )
    }

    fn call(
        &self,
        inputs: Vec<DynTensor>,
        _weights: &Weights<'_>,
        _training: bool,
    ) -> Result<DynTensor, String> {
        let DynTensor::R4(x) = only(inputs)? else {
            return Err("UpSampling2D needs a batch of images [batch, h, w, c]".into());
        };
        let [sh, sw] = self.size;
        match Method::parse(&self.interpolation) {
            Some(Method::Nearest) | None => {
                Ok(DynTensor::R4(repeat_axis(repeat_axis(x, 1, sh), 2, sw)))
            }
            Some(method) => {
                let [_, h, w, _] = x.dims();
                Ok(DynTensor::R4(resize(x, [h * sh, w * sw], method, false)))
            }
        }
    }
}

/// Repeats each cell of volumes `[batch, d1, d2, d3, c]` `size[i]` times along spatial axis
/// `i` (Keras `UpSampling3D`, default 2x2x2).
///
/// # Examples
/// ```
/// use kiln_model::{Input, Sequential, UpSampling3d};
/// let model = Sequential::new().add(Input::new([1, 2, 3, 4])).add(UpSampling3d::new([1, 2, 3]))
///     .build(&burn::tensor::Device::flex())?;
/// assert_eq!(model.output_shape().to_string(), "(None, 1, 4, 9, 4)");
/// # Ok::<(), kiln_model::Error>(())
/// ```
#[doc(alias = "UpSampling3D")]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UpSampling3d {
    /// Copies along each spatial axis (default 2, 2, 2).
    #[serde(default = "two_three", deserialize_with = "triple")]
    pub size: [usize; 3],
    /// Only `channels_last`.
    #[serde(default = "default_format", deserialize_with = "channels_last")]
    pub data_format: String,
}

impl UpSampling3d {
    /// Repeats `size[i]` times along spatial axis `i`.
    pub fn new(size: [usize; 3]) -> Self {
        Self {
            size,
            data_format: default_format(),
        }
    }
}

impl Layer for UpSampling3d {
    fn class_name(&self) -> &str {
        "UpSampling3D"
    }

    fn config(&self) -> serde_json::Value {
        config_of(self)
    }

    fn output_shape(&self, inputs: &[Shape]) -> Result<Shape, String> {
        grown(
            only(inputs)?,
            &self.size,
            "UpSampling3D",
            "volumes (None, d1, d2, d3, channels)",
        )
    }

    fn call(
        &self,
        inputs: Vec<DynTensor>,
        _weights: &Weights<'_>,
        _training: bool,
    ) -> Result<DynTensor, String> {
        let DynTensor::R5(x) = only(inputs)? else {
            return Err("UpSampling3D needs a batch of volumes [batch, d1, d2, d3, c]".into());
        };
        let [a, b, c] = self.size;
        Ok(DynTensor::R5(repeat_axis(
            repeat_axis(repeat_axis(x, 1, a), 2, b),
            3,
            c,
        )))
    }
}
