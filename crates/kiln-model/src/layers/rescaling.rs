//! `Rescaling`: `x · scale + offset`, e.g. pixels 0..255 to 0..1 inside the model.

use burn::tensor::{Tensor, TensorData};
use serde::{Deserialize, Serialize};

use super::{Layer, Weights, config_of, only};
use crate::shape::Shape;
use crate::tensor::DynTensor;

/// Multiplies by `scale` and adds `offset` (Keras `Rescaling`). With it a model takes raw `u8`
/// pixels, so the host keeps only the bytes and the device holds the only `f32` copy.
///
/// # Examples
/// ```
/// use kiln_model::{Input, Rescaling, Sequential};
/// let model = Sequential::new().add(Input::new([2])).add(Rescaling::new(1.0 / 255.0))
///     .build(&burn::tensor::Device::flex())?;
/// let y = model.predict(&ndarray::array![[0u8, 255]], 32)?;
/// assert_eq!(y.into_raw_vec_and_offset().0, vec![0.0, 1.0]);
/// # Ok::<(), kiln_model::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rescaling {
    /// Multiplier: one number, or one per channel (the last axis).
    pub scale: PerChannel,
    /// Added after scaling (default 0): one number, or one per channel.
    #[serde(default)]
    pub offset: PerChannel,
}

/// One number for every value, or one per channel (the last axis), as Keras takes a float or a
/// list; written as a number when there is one.
#[derive(Debug, Clone, PartialEq)]
pub struct PerChannel(pub Vec<f32>);

impl Default for PerChannel {
    fn default() -> Self {
        PerChannel(vec![0.0])
    }
}

impl From<f32> for PerChannel {
    fn from(v: f32) -> Self {
        PerChannel(vec![v])
    }
}

impl From<Vec<f32>> for PerChannel {
    fn from(v: Vec<f32>) -> Self {
        PerChannel(v)
    }
}

impl Serialize for PerChannel {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0.as_slice() {
            [one] => s.serialize_f32(*one),
            many => many.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for PerChannel {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Either {
            One(f32),
            Many(Vec<f32>),
        }
        Ok(match Either::deserialize(d)? {
            Either::One(v) => PerChannel(vec![v]),
            Either::Many(v) => PerChannel(v),
        })
    }
}

impl Rescaling {
    /// Multiplies by `scale` (a number, or a `Vec` of one per channel).
    pub fn new(scale: impl Into<PerChannel>) -> Self {
        Self {
            scale: scale.into(),
            offset: PerChannel::default(),
        }
    }

    /// Sets the offset added after scaling (a number, or a `Vec` of one per channel).
    pub fn offset(mut self, offset: impl Into<PerChannel>) -> Self {
        self.offset = offset.into();
        self
    }
}

/// `x · scale + offset` with `values` (one, or one per channel) broadcast over the last axis.
fn affine<const D: usize>(x: Tensor<D>, scale: &[f32], offset: &[f32]) -> Tensor<D> {
    let dims = x.dims();
    let device = x.device();
    let per = |v: &[f32]| -> Tensor<D> {
        let mut shape = [1usize; D];
        shape[D - 1] = v.len();
        Tensor::<1>::from_data(TensorData::new(v.to_vec(), [v.len()]), &device)
            .reshape(shape)
            .expand(dims)
    };
    let scaled = match scale {
        [s] => x * *s,
        many => x * per(many),
    };
    match offset {
        [o] if *o == 0.0 => scaled,
        [o] => scaled + *o,
        many => scaled + per(many),
    }
}

impl Layer for Rescaling {
    fn class_name(&self) -> &str {
        "Rescaling"
    }

    /// Keeps its input's mask (Keras `supports_masking`).
    fn mask_policy(&self) -> crate::layers::MaskPolicy {
        crate::layers::MaskPolicy::Keep
    }

    fn config(&self) -> serde_json::Value {
        config_of(self)
    }

    fn output_shape(&self, inputs: &[Shape]) -> Result<Shape, String> {
        let input = only(inputs)?;
        let (scale, offset) = (&self.scale.0, &self.offset.0);
        if scale.iter().chain(offset).any(|v| !v.is_finite()) {
            return Err(format!(
                "scale and offset must be finite numbers, got {scale:?} and {offset:?}"
            ));
        }
        let channels = input.last().unwrap_or(1);
        for (what, v) in [("scale", scale), ("offset", offset)] {
            if v.is_empty() || (v.len() != 1 && v.len() != channels) {
                return Err(format!(
                    "{what} has {} values; give one, or one per channel ({channels})",
                    v.len()
                ));
            }
        }
        Ok(input.clone())
    }

    fn call(
        &self,
        inputs: Vec<DynTensor>,
        _weights: &Weights<'_>,
        _training: bool,
    ) -> Result<DynTensor, String> {
        let (x, scale, offset) = (only(inputs)?, &self.scale.0, &self.offset.0);
        Ok(crate::dyn_map!(x, t => affine(t, scale, offset)))
    }
}
