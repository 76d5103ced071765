//! `Cropping1d`, `Cropping2d`, `Cropping3d`: cells cut off the edges of sequences, images and
//! volumes (Keras `Cropping1D`, `Cropping2D`, `Cropping3D`).

use serde::{Deserialize, Serialize};

use super::conv_utils::{channels_last, default_format, ones, padding_pairs, pair};
use super::{Layer, Weights, config_of, only};
use crate::shape::Shape;
use crate::tensor::DynTensor;

fn keep(size: usize, [a, b]: [usize; 2], what: &str) -> Result<usize, String> {
    size.checked_sub(a)
        .and_then(|n| n.checked_sub(b))
        .filter(|&n| n > 0)
        .ok_or_else(|| format!("cropping {a} + {b} leaves nothing of the {size} {what}"))
}

/// Cuts `cropping = [start, end]` steps off each sequence `(None, steps, features)` (Keras
/// `layers.Cropping1D`, default `(1, 1)`).
///
/// # Examples
/// ```
/// use kiln_model::{Cropping1d, Input, Sequential};
/// let model = Sequential::new().add(Input::new([10, 3])).add(Cropping1d::new([2, 1]))
///     .build(&burn::tensor::Device::flex())?;
/// assert_eq!(model.output_shape().to_string(), "(None, 7, 3)");
/// # Ok::<(), kiln_model::Error>(())
/// ```
#[doc(alias = "Cropping1D")]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cropping1d {
    /// Steps cut at the start and at the end.
    #[serde(default = "ones", deserialize_with = "pair")]
    pub cropping: [usize; 2],
}

impl Cropping1d {
    /// Cuts `cropping[0]` steps at the start, `cropping[1]` at the end.
    pub fn new(cropping: [usize; 2]) -> Self {
        Self { cropping }
    }
}

impl Layer for Cropping1d {
    fn class_name(&self) -> &str {
        "Cropping1D"
    }

    fn config(&self) -> serde_json::Value {
        config_of(self)
    }

    fn output_shape(&self, inputs: &[Shape]) -> Result<Shape, String> {
        let input = only(inputs)?;
        let &[steps, features] = input.dims() else {
            return Err(format!(
                "Cropping1D needs sequences (None, steps, features), got {input}"
            ));
        };
        Ok(Shape(vec![keep(steps, self.cropping, "steps")?, features]))
    }

    fn call(
        &self,
        inputs: Vec<DynTensor>,
        _weights: &Weights<'_>,
        _training: bool,
    ) -> Result<DynTensor, String> {
        let DynTensor::R3(x) = only(inputs)? else {
            return Err("Cropping1D needs a batch of sequences [batch, steps, features]".into());
        };
        let [b, t, f] = x.dims();
        let n = keep(t, self.cropping, "steps")?;
        let start = self.cropping[0];
        Ok(DynTensor::R3(x.slice([0..b, start..start + n, 0..f])))
    }
}

/// Cuts `[[top, bottom], [left, right]]` rows and columns off each image (Keras
/// `layers.Cropping2D`; a number or a pair is symmetric).
///
/// # Examples
/// ```
/// use kiln_model::{Cropping2d, Input, Sequential};
/// let model = Sequential::new().add(Input::new([28, 28, 1])).add(Cropping2d::new([[2, 2], [4, 0]]))
///     .build(&burn::tensor::Device::flex())?;
/// assert_eq!(model.output_shape().to_string(), "(None, 24, 24, 1)");
/// # Ok::<(), kiln_model::Error>(())
/// ```
#[doc(alias = "Cropping2D")]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cropping2d {
    /// `[[top, bottom], [left, right]]`.
    #[serde(default, deserialize_with = "padding_pairs")]
    pub cropping: [[usize; 2]; 2],
    /// Only `channels_last`.
    #[serde(default = "default_format", deserialize_with = "channels_last")]
    pub data_format: String,
}

impl Cropping2d {
    /// Cuts `[[top, bottom], [left, right]]`.
    pub fn new(cropping: [[usize; 2]; 2]) -> Self {
        Self {
            cropping,
            data_format: default_format(),
        }
    }
}

impl Layer for Cropping2d {
    fn class_name(&self) -> &str {
        "Cropping2D"
    }

    fn config(&self) -> serde_json::Value {
        config_of(self)
    }

    fn output_shape(&self, inputs: &[Shape]) -> Result<Shape, String> {
        let input = only(inputs)?;
        let &[h, w, c] = input.dims() else {
            return Err(format!(
                "Cropping2D needs images (None, height, width, channels), got {input}"
            ));
        };
        let [rows, cols] = self.cropping;
        Ok(Shape(vec![
            keep(h, rows, "rows")?,
            keep(w, cols, "columns")?,
            c,
        ]))
    }

    fn call(
        &self,
        inputs: Vec<DynTensor>,
        _weights: &Weights<'_>,
        _training: bool,
    ) -> Result<DynTensor, String> {
        let DynTensor::R4(x) = only(inputs)? else {
            return Err("Cropping2D needs a batch of images [batch, h, w, c]".into());
        };
        let [b, h, w, c] = x.dims();
        let [rows, cols] = self.cropping;
        let (nh, nw) = (keep(h, rows, "rows")?, keep(w, cols, "columns")?);
        Ok(DynTensor::R4(x.slice([
            0..b,
            rows[0]..rows[0] + nh,
            cols[0]..cols[0] + nw,
            0..c,
        ])))
    }
}

fn one_each() -> [[usize; 2]; 3] {
    [[1, 1]; 3]
}

/// Cuts `[[before, after]; 3]` cells off each volume `[batch, d1, d2, d3, c]` (Keras
/// `layers.Cropping3D`, default 1 on every side; a number or a triple is symmetric).
///
/// # Examples
/// ```
/// use kiln_model::{Cropping3d, Input, Sequential};
/// let model = Sequential::new().add(Input::new([4, 4, 4, 2]))
///     .add(Cropping3d::new([[1, 0], [0, 1], [1, 1]]))
///     .build(&burn::tensor::Device::flex())?;
/// assert_eq!(model.output_shape().to_string(), "(None, 3, 3, 2, 2)");
/// # Ok::<(), kiln_model::Error>(())
/// ```
#[doc(alias = "Cropping3D")]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cropping3d {
    /// `[[before, after]; 3]`, one pair per spatial axis.
    #[serde(
        default = "one_each",
        deserialize_with = "super::conv_utils::padding_triples"
    )]
    pub cropping: [[usize; 2]; 3],
    /// Only `channels_last`.
    #[serde(default = "default_format", deserialize_with = "channels_last")]
    pub data_format: String,
}

impl Cropping3d {
    /// Cuts `[[before, after]; 3]`.
    pub fn new(cropping: [[usize; 2]; 3]) -> Self {
        Self {
            cropping,
            data_format: default_format(),
        }
    }
}

impl Layer for Cropping3d {
    fn class_name(&self) -> &str {
        "Cropping3D"
    }

    fn config(&self) -> serde_json::Value {
        config_of(self)
    }

    fn output_shape(&self, inputs: &[Shape]) -> Result<Shape, String> {
        let input = only(inputs)?;
        let &[d1, d2, d3, c] = input.dims() else {
            return Err(format!(
                "Cropping3D needs volumes (None, d1, d2, d3, channels), got {input}"
            ));
        };
        let [a, b, e] = self.cropping;
        Ok(Shape(vec![
            keep(d1, a, "first axis")?,
            keep(d2, b, "second axis")?,
            keep(d3, e, "third axis")?,
            c,
        ]))
    }

    fn call(
        &self,
        inputs: Vec<DynTensor>,
        _weights: &Weights<'_>,
        _training: bool,
    ) -> Result<DynTensor, String> {
        let DynTensor::R5(x) = only(inputs)? else {
            return Err("Cropping3D needs a batch of volumes [batch, d1, d2, d3, c]".into());
        };
        let [b, d1, d2, d3, c] = x.dims();
        let [p, q, r] = self.cropping;
        let (n1, n2, n3) = (
            keep(d1, p, "first axis")?,
            keep(d2, q, "second axis")?,
            keep(d3, r, "third axis")?,
        );
        Ok(DynTensor::R5(x.slice([
            0..b,
            p[0]..p[0] + n1,
            q[0]..q[0] + n2,
            r[0]..r[0] + n3,
            0..c,
        ])))
    }
}
