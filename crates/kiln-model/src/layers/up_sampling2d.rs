//! `UpSampling2d`: nearest-neighbour repetition of rows and columns.

use burn::module::Module;
use serde::{Deserialize, Serialize};

use super::conv_utils::{channels_last, default_format, pair};
use crate::shape::Shape;
use crate::tensor::DynTensor;

fn two() -> [usize; 2] {
    [2, 2]
}

fn nearest() -> String {
    "nearest".into()
}

/// Repeats each row `size[0]` times and each column `size[1]` times (Keras `UpSampling2D`,
/// `interpolation="nearest"`).
///
/// # Examples
/// ```
/// use kiln_model::{Input, Sequential, UpSampling2d};
/// let model = Sequential::new().add(Input::new([3, 4, 2])).add(UpSampling2d::new(2))
///     .build(&burn::tensor::Device::flex())?;
/// assert_eq!(model.output_shape().to_string(), "(None, 6, 8, 2)");
/// # Ok::<(), kiln_model::Error>(())
/// ```
#[doc(alias = "UpSampling2D")]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UpSampling2d {
    /// The layer's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Repeats `[rows, columns]` (default 2x2).
    #[serde(default = "two", deserialize_with = "pair")]
    pub size: [usize; 2],
    /// Only `nearest`.
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
            name: None,
            size: [size; 2],
            interpolation: nearest(),
            data_format: default_format(),
        }
    }

    /// Sets the layer name.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    pub(crate) fn output_shape(&self, input: &Shape) -> Result<Shape, String> {
        if self.interpolation != "nearest" {
            return Err(format!(
                "interpolation `{}` is not supported; use nearest",
                self.interpolation
            ));
        }
        let &[h, w, c] = input.dims() else {
            return Err(format!(
                "UpSampling2D needs images (None, height, width, channels), got {input}"
            ));
        };
        Ok(Shape(vec![h * self.size[0], w * self.size[1], c]))
    }
}

/// The built `UpSampling2d` (no weights).
#[derive(Module, Debug)]
pub struct UpSampling2dLayer {
    #[module(skip)]
    pub(crate) size: [usize; 2],
}

impl UpSampling2dLayer {
    /// Repeats rows and columns of `[batch, h, w, c]`.
    pub fn forward(&self, x: DynTensor) -> DynTensor {
        let DynTensor::R4(x) = x else {
            return x;
        };
        let [b, h, w, c] = x.dims();
        let [sh, sw] = self.size;
        // [b, h, 1, w, 1, c] -> repeat -> [b, h*sh, w*sw, c], via two rank-5 steps.
        let rows = x
            .reshape([b, h, 1, w * c])
            .repeat_dim(2, sh)
            .reshape([b, h * sh, w, c]);
        let cols = rows.reshape([b, h * sh, w, 1, c]).repeat_dim(3, sw);
        DynTensor::R4(cols.reshape([b, h * sh, w * sw, c]))
    }
}
