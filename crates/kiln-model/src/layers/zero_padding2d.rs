//! `ZeroPadding2d`: zeros around images.

use burn::tensor::ops::PadMode;
use serde::{Deserialize, Serialize};

use super::conv_utils::{channels_last, default_format};
use super::{Layer, Weights, config_of, only};
use crate::shape::Shape;
use crate::tensor::DynTensor;

/// Adds rows and columns of zeros around images `[batch, h, w, c]` (Keras `ZeroPadding2D`):
/// `padding` is `[[top, bottom], [left, right]]`.
///
/// # Examples
/// ```
/// use kiln_model::{Input, Sequential, ZeroPadding2d};
/// let model = Sequential::new().add(Input::new([4, 4, 1])).add(ZeroPadding2d::new(1))
///     .build(&burn::tensor::Device::flex())?;
/// assert_eq!(model.output_shape().to_string(), "(None, 6, 6, 1)");
/// # Ok::<(), kiln_model::Error>(())
/// ```
#[doc(alias = "ZeroPadding2D")]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ZeroPadding2d {
    /// `[[top, bottom], [left, right]]`.
    #[serde(deserialize_with = "super::conv_utils::padding_pairs")]
    pub padding: [[usize; 2]; 2],
    /// Only `channels_last`.
    #[serde(default = "default_format", deserialize_with = "channels_last")]
    pub data_format: String,
}

impl ZeroPadding2d {
    /// `padding` cells on every side.
    pub fn new(padding: usize) -> Self {
        Self {
            padding: [[padding; 2]; 2],
            data_format: default_format(),
        }
    }

    /// `[[top, bottom], [left, right]]`.
    pub fn pairs(mut self, padding: [[usize; 2]; 2]) -> Self {
        self.padding = padding;
        self
    }
}

impl Layer for ZeroPadding2d {
    fn class_name(&self) -> &str {
        "ZeroPadding2D"
    }

    fn config(&self) -> serde_json::Value {
        config_of(self)
    }

    fn output_shape(&self, inputs: &[Shape]) -> Result<Shape, String> {
        let input = only(inputs)?;
        let &[h, w, c] = input.dims() else {
            return Err(format!(
                "ZeroPadding2D needs images (None, height, width, channels), got {input}"
            ));
        };
        let [[t, b], [l, r]] = self.padding;
        let grow = |n: usize, a: usize, b: usize| n.checked_add(a)?.checked_add(b);
        match (grow(h, t, b), grow(w, l, r)) {
            (Some(h), Some(w)) => Ok(Shape(vec![h, w, c])),
            _ => Err(format!("padding {:?} is too large", self.padding)),
        }
    }

    fn call(
        &self,
        inputs: Vec<DynTensor>,
        _weights: &Weights<'_>,
        _training: bool,
    ) -> Result<DynTensor, String> {
        let DynTensor::R4(x) = only(inputs)? else {
            return Err("ZeroPadding2D needs a batch of images [batch, h, w, c]".into());
        };
        let [[t, b], [l, r]] = self.padding;
        Ok(DynTensor::R4(x.pad(
            [(0, 0), (t, b), (l, r), (0, 0)],
            PadMode::Constant(0.0),
        )))
    }
}
