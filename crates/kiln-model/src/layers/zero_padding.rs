//! `ZeroPadding1d`, `ZeroPadding2d`, `ZeroPadding3d`: zeros around sequences, images and
//! volumes (Keras `ZeroPadding1D/2D/3D`).

use burn::tensor::ops::PadMode;
use serde::{Deserialize, Serialize};

use super::conv_utils::{channels_last, default_format, pair};
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

fn grow(n: usize, [a, b]: [usize; 2]) -> Option<usize> {
    n.checked_add(a)?.checked_add(b)
}

/// Adds zeros at the start and end of sequences `[batch, steps, features]` (Keras
/// `ZeroPadding1D`, default 1 on each side): `padding` is `[start, end]`.
///
/// # Examples
/// ```
/// use kiln_model::{Input, Sequential, ZeroPadding1d};
/// let model = Sequential::new().add(Input::new([4, 2])).add(ZeroPadding1d::new([2, 1]))
///     .build(&burn::tensor::Device::flex())?;
/// assert_eq!(model.output_shape().to_string(), "(None, 7, 2)");
/// # Ok::<(), kiln_model::Error>(())
/// ```
#[doc(alias = "ZeroPadding1D")]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ZeroPadding1d {
    /// Steps of zeros `[start, end]`.
    #[serde(default = "super::conv_utils::ones", deserialize_with = "pair")]
    pub padding: [usize; 2],
    /// Only `channels_last`.
    #[serde(default = "default_format", deserialize_with = "channels_last")]
    pub data_format: String,
}

impl ZeroPadding1d {
    /// `padding[0]` steps of zeros at the start, `padding[1]` at the end.
    pub fn new(padding: [usize; 2]) -> Self {
        Self {
            padding,
            data_format: default_format(),
        }
    }
}

impl Layer for ZeroPadding1d {
    fn class_name(&self) -> &str {
        "ZeroPadding1D"
    }

    fn config(&self) -> serde_json::Value {
        config_of(self)
    }

    fn output_shape(&self, inputs: &[Shape]) -> Result<Shape, String> {
        let input = only(inputs)?;
        let &[steps, features] = input.dims() else {
            return Err(format!(
                "ZeroPadding1D needs sequences (None, steps, features), got {input}"
            ));
        };
        let steps = grow(steps, self.padding)
            .ok_or_else(|| format!("padding {:?} is too large", self.padding))?;
        Ok(Shape(vec![steps, features]))
    }

    fn call(
        &self,
        inputs: Vec<DynTensor>,
        _weights: &Weights<'_>,
        _training: bool,
    ) -> Result<DynTensor, String> {
        let DynTensor::R3(x) = only(inputs)? else {
            return Err("ZeroPadding1D needs a batch of sequences [batch, steps, features]".into());
        };
        let [a, b] = self.padding;
        Ok(DynTensor::R3(
            x.pad([(0, 0), (a, b), (0, 0)], PadMode::Constant(0.0)),
        ))
    }
}

/// Adds zeros around volumes `[batch, d1, d2, d3, channels]` (Keras `ZeroPadding3D`, default
/// 1 on every side): `padding` is `[[before, after]; 3]`, one pair per spatial axis.
///
/// # Examples
/// ```
/// use kiln_model::{Input, Sequential, ZeroPadding3d};
/// let model = Sequential::new().add(Input::new([2, 3, 4, 1])).add(ZeroPadding3d::new(1))
///     .build(&burn::tensor::Device::flex())?;
/// assert_eq!(model.output_shape().to_string(), "(None, 4, 5, 6, 1)");
/// # Ok::<(), kiln_model::Error>(())
/// ```
#[doc(alias = "ZeroPadding3D")]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ZeroPadding3d {
    /// `[[before, after]; 3]`, one pair per spatial axis.
    #[serde(
        default = "one_cell",
        deserialize_with = "super::conv_utils::padding_triples"
    )]
    pub padding: [[usize; 2]; 3],
    /// Only `channels_last`.
    #[serde(default = "default_format", deserialize_with = "channels_last")]
    pub data_format: String,
}

fn one_cell() -> [[usize; 2]; 3] {
    [[1, 1]; 3]
}

impl ZeroPadding3d {
    /// `padding` cells on every side.
    pub fn new(padding: usize) -> Self {
        Self {
            padding: [[padding; 2]; 3],
            data_format: default_format(),
        }
    }

    /// `[[before, after]; 3]`.
    pub fn pairs(mut self, padding: [[usize; 2]; 3]) -> Self {
        self.padding = padding;
        self
    }
}

impl Layer for ZeroPadding3d {
    fn class_name(&self) -> &str {
        "ZeroPadding3D"
    }

    fn config(&self) -> serde_json::Value {
        config_of(self)
    }

    fn output_shape(&self, inputs: &[Shape]) -> Result<Shape, String> {
        let input = only(inputs)?;
        let &[d1, d2, d3, c] = input.dims() else {
            return Err(format!(
                "ZeroPadding3D needs volumes (None, d1, d2, d3, channels), got {input}"
            ));
        };
        let [p1, p2, p3] = self.padding;
        match (grow(d1, p1), grow(d2, p2), grow(d3, p3)) {
            (Some(a), Some(b), Some(d)) => Ok(Shape(vec![a, b, d, c])),
            _ => Err(format!("padding {:?} is too large", self.padding)),
        }
    }

    fn call(
        &self,
        inputs: Vec<DynTensor>,
        _weights: &Weights<'_>,
        _training: bool,
    ) -> Result<DynTensor, String> {
        let DynTensor::R5(x) = only(inputs)? else {
            return Err("ZeroPadding3D needs a batch of volumes [batch, d1, d2, d3, c]".into());
        };
        let [[a, b], [c, d], [e, f]] = self.padding;
        Ok(DynTensor::R5(x.pad(
            [(0, 0), (a, b), (c, d), (e, f), (0, 0)],
            PadMode::Constant(0.0),
        )))
    }
}
