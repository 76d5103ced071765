//! `UpSampling2d`: nearest-neighbour repetition of rows and columns.

use serde::{Deserialize, Serialize};

use super::conv_utils::{channels_last, default_format, pair};
use super::{Layer, Weights, config_of, only};
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
            size: [size; 2],
            interpolation: nearest(),
            data_format: default_format(),
        }
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
        let input = only(inputs)?;
        if self.interpolation != "nearest" {
            return Err(format!(
                "interpolation `{}` is not supported; use nearest",
                self.interpolation
            ));
        }
        if self.size.contains(&0) {
            return Err(format!("size must be at least 1, got {:?}", self.size));
        }
        let &[h, w, c] = input.dims() else {
            return Err(format!(
                "UpSampling2D needs images (None, height, width, channels), got {input}"
            ));
        };
        match (h.checked_mul(self.size[0]), w.checked_mul(self.size[1])) {
            (Some(h), Some(w)) => Ok(Shape(vec![h, w, c])),
            _ => Err(format!("size {:?} is too large for {input}", self.size)),
        }
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
        let [b, h, w, c] = x.dims();
        let [sh, sw] = self.size;
        // [b, h, 1, w, 1, c] -> repeat -> [b, h*sh, w*sw, c], via two rank-5 steps.
        let rows = x
            .reshape([b, h, 1, w * c])
            .repeat_dim(2, sh)
            .reshape([b, h * sh, w, c]);
        let cols = rows.reshape([b, h * sh, w, 1, c]).repeat_dim(3, sw);
        Ok(DynTensor::R4(cols.reshape([b, h * sh, w * sw, c])))
    }
}
