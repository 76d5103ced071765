//! `Concatenate`: joins its inputs along one axis.

use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use super::{Layer, Mask, MaskPolicy, Weights, config_of, setters};
use crate::shape::Shape;
use crate::tensor::{DynTensor, DynTensors};

fn last() -> i64 {
    -1
}

/// Joins its inputs along `axis` (Keras `Concatenate`; `-1`, the last, by default; the batch
/// axis is 0 and cannot be joined). The inputs agree on every other axis.
///
/// # Examples
/// ```
/// use kiln_model::{Apply, Concatenate, Input};
/// let a = Input::new([2, 3]).tensor()?;
/// let b = Input::new([2, 5]).tensor()?;
/// assert_eq!(Concatenate::new().apply([&a, &b])?.shape().dims(), &[2, 8]);
/// let c = Input::new([4, 3]).tensor()?;
/// assert_eq!(Concatenate::new().axis(1).apply([&a, &c])?.shape().dims(), &[6, 3]);
/// # Ok::<(), kiln_model::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Concatenate {
    /// The axis joined, counted with the batch axis as 0; negative from the end.
    #[serde(default = "last")]
    pub axis: i64,
}

impl Default for Concatenate {
    fn default() -> Self {
        Self::new()
    }
}

impl Concatenate {
    /// Joins along the last axis.
    pub fn new() -> Self {
        Self { axis: -1 }
    }

    /// The axis of a sample of rank `rank` (batch axis excluded) that is joined, from 0.
    fn sample_axis(&self, rank: usize) -> Result<usize, String> {
        let full = rank as i64 + 1;
        let axis = if self.axis < 0 {
            self.axis + full
        } else {
            self.axis
        };
        if axis < 1 || axis >= full {
            return Err(format!(
                "axis {} is not a sample axis of inputs of rank {full} (use 1..{full} or a \
                 negative axis)",
                self.axis
            ));
        }
        Ok(axis as usize - 1)
    }
}

setters!(Concatenate {
    /// Sets the axis joined (Keras counts the batch axis as 0).
    axis: i64,
});

impl Layer for Concatenate {
    fn class_name(&self) -> &str {
        "Concatenate"
    }

    fn config(&self) -> serde_json::Value {
        config_of(self)
    }

    fn output_shape(&self, inputs: &[Shape]) -> Result<Shape, String> {
        let Some((first, rest)) = inputs.split_first() else {
            return Err("Concatenate takes at least 2 inputs, got 0".into());
        };
        if rest.is_empty() {
            return Err("Concatenate takes at least 2 inputs, got 1".into());
        }
        let axis = self.sample_axis(first.rank())?;
        let mut out = first.0.clone();
        for shape in rest {
            let agree = shape.rank() == first.rank()
                && (0..first.rank()).all(|i| i == axis || shape.dims()[i] == first.dims()[i]);
            if !agree {
                return Err(format!(
                    "Concatenate on axis {} needs inputs that agree on every other axis, got \
                     {first} and {shape}",
                    self.axis
                ));
            }
            out[axis] = out[axis]
                .checked_add(shape.dims()[axis])
                .ok_or_else(|| format!("the joined axis of {first} and {shape} overflows"))?;
        }
        Ok(Shape(out))
    }

    fn call(
        &self,
        inputs: Vec<DynTensor>,
        _weights: &Weights<'_>,
        _training: bool,
    ) -> Result<DynTensor, String> {
        let group = DynTensors::group(inputs)?;
        let rank = match &group {
            DynTensors::R2(_) => 1,
            DynTensors::R3(_) => 2,
            DynTensors::R4(_) => 3,
            DynTensors::R5(_) => 4,
        };
        let axis = self.sample_axis(rank)? + 1;
        Ok(crate::dyn_group_map!(group, v => Tensor::cat(v, axis)))
    }

    /// Keras's `Concatenate.compute_mask`: an input without a mask counts as all real; joined
    /// along the steps the masks are joined, along the features a step is real where any
    /// input's is.
    fn mask_policy(&self) -> MaskPolicy {
        MaskPolicy::Own
    }

    fn output_masked(&self, inputs: &[Shape], masked: &[bool]) -> Result<bool, String> {
        Ok(masked.iter().any(|&m| m) && inputs.iter().all(|s| s.rank() == 2))
    }

    fn call_masked(
        &self,
        inputs: Vec<DynTensor>,
        masks: &[Option<Mask>],
        weights: &Weights<'_>,
        training: bool,
    ) -> Result<(DynTensor, Option<Mask>), String> {
        let steps: Vec<[usize; 3]> = inputs
            .iter()
            .filter_map(|x| match x {
                DynTensor::R3(t) => Some(t.dims()),
                _ => None,
            })
            .collect();
        let y = self.call(inputs, weights, training)?;
        if steps.len() != masks.len() || masks.iter().all(Option::is_none) {
            return Ok((y, None));
        }
        let full: Vec<Mask> = masks
            .iter()
            .zip(&steps)
            .map(|(m, &[b, t, _])| {
                m.clone()
                    .unwrap_or_else(|| Tensor::ones([b, t], &y.device()))
            })
            .collect();
        let mask = if self.sample_axis(2)? == 0 {
            Tensor::cat(full, 1)
        } else {
            full.into_iter()
                .reduce(|a, b| a.max_pair(b))
                .ok_or("Concatenate needs inputs")?
        };
        Ok((y, Some(mask)))
    }
}
