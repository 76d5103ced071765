//! `ZeroPadding2d`: zeros around images.

use burn::module::Module;
use burn::tensor::ops::PadMode;
use serde::{Deserialize, Deserializer, Serialize};

use super::conv_utils::{channels_last, default_format};
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
    /// The layer's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `[[top, bottom], [left, right]]`.
    #[serde(deserialize_with = "padding_pairs")]
    pub padding: [[usize; 2]; 2],
    /// Only `channels_last`.
    #[serde(default = "default_format", deserialize_with = "channels_last")]
    pub data_format: String,
}

fn padding_pairs<'de, D: Deserializer<'de>>(d: D) -> Result<[[usize; 2]; 2], D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Repr {
        One(usize),
        Two([usize; 2]),
        Four([[usize; 2]; 2]),
    }
    Ok(match Repr::deserialize(d)? {
        Repr::One(p) => [[p, p], [p, p]],
        Repr::Two([h, w]) => [[h, h], [w, w]],
        Repr::Four(p) => p,
    })
}

impl ZeroPadding2d {
    /// `padding` cells on every side.
    pub fn new(padding: usize) -> Self {
        Self {
            name: None,
            padding: [[padding; 2]; 2],
            data_format: default_format(),
        }
    }

    /// `[[top, bottom], [left, right]]`.
    pub fn pairs(mut self, padding: [[usize; 2]; 2]) -> Self {
        self.padding = padding;
        self
    }

    /// Sets the layer name.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    pub(crate) fn output_shape(&self, input: &Shape) -> Result<Shape, String> {
        let &[h, w, c] = input.dims() else {
            return Err(format!(
                "ZeroPadding2D needs images (None, height, width, channels), got {input}"
            ));
        };
        let [[t, b], [l, r]] = self.padding;
        Ok(Shape(vec![h + t + b, w + l + r, c]))
    }
}

/// The built `ZeroPadding2d` (no weights).
#[derive(Module, Debug)]
pub struct ZeroPadding2dLayer {
    #[module(skip)]
    pub(crate) padding: [[usize; 2]; 2],
}

impl ZeroPadding2dLayer {
    /// Pads `[batch, h, w, c]`.
    pub fn forward(&self, x: DynTensor) -> DynTensor {
        let DynTensor::R4(x) = x else {
            return x;
        };
        let [[t, b], [l, r]] = self.padding;
        DynTensor::R4(x.pad([(0, 0), (t, b), (l, r), (0, 0)], PadMode::Constant(0.0)))
    }
}
