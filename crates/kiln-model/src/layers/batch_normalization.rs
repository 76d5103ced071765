//! `BatchNormalization`: normalizes each feature with batch statistics while training and with
//! moving statistics at inference.

use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use super::{
    Layer, Mask, MaskPolicy, WeightBuilder, WeightSpec, Weights, config_of, only, setters,
};
use crate::initializer::Initializer;
use crate::shape::Shape;
use crate::tensor::DynTensor;

fn momentum() -> f32 {
    0.99
}

fn epsilon() -> f32 {
    1e-3
}

fn minus_one() -> i64 {
    -1
}

fn ones() -> Initializer {
    Initializer::Ones
}

/// Normalizes the feature axis, the last by default (Keras `BatchNormalization`: momentum 0.99, ε 1e-3, `center` and
/// `scale` on).
///
/// In training (`fit`, or [`Model::call`](crate::Model::call) with `training = true`) the output
/// uses the batch mean and biased batch variance over every axis but the last, and the moving
/// statistics move towards them: `moving = moving · momentum + batch · (1 − momentum)`. At
/// inference (`predict`, `evaluate`) the moving statistics are used. `gamma` and `beta` are
/// trainable; `moving_mean` and `moving_variance` are weights too (saved, loaded, in
/// `get_weights`) but not trainable, and `summary` counts them as such.
///
/// # Examples
/// ```
/// use kiln_model::{BatchNormalization, Input, Sequential};
/// let model = Sequential::new().add(Input::new([8, 8, 3])).add(BatchNormalization::new())
///     .build(&burn::tensor::Device::flex())?;
/// let summary = model.summary();
/// assert_eq!((summary.trainable_params(), summary.non_trainable_params()), (6, 6));
/// # Ok::<(), kiln_model::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchNormalization {
    /// The feature axis (`-1`, the last, Keras's default; the batch axis is 0).
    #[serde(
        default = "minus_one",
        deserialize_with = "super::conv_utils::single_axis"
    )]
    pub axis: i64,
    /// How much of the old moving statistics each training step keeps (default 0.99).
    #[serde(default = "momentum")]
    pub momentum: f32,
    /// Added to the variance (default 1e-3).
    #[serde(default = "epsilon")]
    pub epsilon: f32,
    /// Add the learned offset `beta` (default true).
    #[serde(default = "crate::layers::yes")]
    pub center: bool,
    /// Multiply by the learned `gamma` (default true).
    #[serde(default = "crate::layers::yes")]
    pub scale: bool,
    /// How `beta` is filled (default zeros).
    #[serde(default)]
    pub beta_initializer: Initializer,
    /// How `gamma` is filled (default ones).
    #[serde(default = "ones")]
    pub gamma_initializer: Initializer,
    /// How `moving_mean` is filled (default zeros).
    #[serde(default)]
    pub moving_mean_initializer: Initializer,
    /// How `moving_variance` is filled (default ones).
    #[serde(default = "ones")]
    pub moving_variance_initializer: Initializer,
}

impl Default for BatchNormalization {
    fn default() -> Self {
        Self::new()
    }
}

impl BatchNormalization {
    /// Keras's defaults.
    pub fn new() -> Self {
        Self {
            axis: -1,
            momentum: momentum(),
            epsilon: epsilon(),
            center: true,
            scale: true,
            beta_initializer: Initializer::Zeros,
            gamma_initializer: Initializer::Ones,
            moving_mean_initializer: Initializer::Zeros,
            moving_variance_initializer: Initializer::Ones,
        }
    }
}

setters!(BatchNormalization {
    /// Sets the feature axis (the batch axis is 0; negative from the end).
    axis: i64,
    /// Sets the momentum of the moving statistics.
    momentum: f32,
    /// Sets epsilon.
    epsilon: f32,
    /// Whether to learn an offset `beta`.
    center: bool,
    /// Whether to learn a scale `gamma`.
    scale: bool,
});

impl Layer for BatchNormalization {
    fn class_name(&self) -> &str {
        "BatchNormalization"
    }

    fn config(&self) -> serde_json::Value {
        config_of(self)
    }

    fn output_shape(&self, inputs: &[Shape]) -> Result<Shape, String> {
        let input = only(inputs)?;
        self.feature_axis(input.rank() + 1)?;
        if !(0.0..=1.0).contains(&self.momentum) {
            return Err(format!("momentum must be in [0, 1], got {}", self.momentum));
        }
        Ok(input.clone())
    }

    fn build(&self, inputs: &[Shape], weights: &mut WeightBuilder) -> Result<(), String> {
        let input = only(inputs)?;
        let axis = self.feature_axis(input.rank() + 1)?;
        let c = input.dims()[axis - 1];
        if self.scale {
            weights.add_weight(WeightSpec::new("gamma", [c], self.gamma_initializer))?;
        }
        if self.center {
            weights.add_weight(WeightSpec::new("beta", [c], self.beta_initializer))?;
        }
        let mean = WeightSpec::new("moving_mean", [c], self.moving_mean_initializer);
        weights.add_weight(mean.non_trainable())?;
        let var = WeightSpec::new("moving_variance", [c], self.moving_variance_initializer);
        weights.add_weight(var.non_trainable())?;
        Ok(())
    }

    /// Training mode only when training and the layer is trainable: a frozen
    /// BatchNormalization runs in inference mode, as in Keras.
    fn call(
        &self,
        inputs: Vec<DynTensor>,
        weights: &Weights<'_>,
        training: bool,
    ) -> Result<DynTensor, String> {
        let training = training && weights.trainable();
        let x = only(inputs)?;
        let (axis, last) = (self.feature_axis(x.rank())?, x.rank() - 1);
        // The feature axis last, normalized, and back.
        Ok(crate::dyn_try_map!(x, t => self
            .normalize(t.swap_dims(axis, last), None, weights, training)?
            .swap_dims(axis, last)))
    }

    /// The output keeps the input's mask; in training the batch moments are over the unmasked
    /// steps (Keras's masked `_moments`).
    fn mask_policy(&self) -> MaskPolicy {
        MaskPolicy::Own
    }

    fn output_masked(&self, _inputs: &[Shape], masked: &[bool]) -> Result<bool, String> {
        Ok(masked.first() == Some(&true))
    }

    fn call_masked(
        &self,
        inputs: Vec<DynTensor>,
        masks: &[Option<Mask>],
        weights: &Weights<'_>,
        training: bool,
    ) -> Result<(DynTensor, Option<Mask>), String> {
        let mask = masks.first().cloned().flatten();
        let x = only(inputs)?;
        let last = self.feature_axis(x.rank())? + 1 == x.rank();
        let y = match (x, &mask) {
            (DynTensor::R3(t), Some(m)) if last => {
                let training = training && weights.trainable();
                let [b, steps, _] = t.dims();
                let rows = m.clone().reshape([b * steps, 1]);
                DynTensor::R3(self.normalize(t, Some(rows), weights, training)?)
            }
            (_, Some(_)) => {
                return Err("a masked BatchNormalization normalizes the last axis only".into());
            }
            (x, None) => self.call(vec![x], weights, training)?,
        };
        Ok((y, mask))
    }
}

impl BatchNormalization {
    /// The feature axis of a batch of `rank` axes (batch included), from `axis`.
    fn feature_axis(&self, rank: usize) -> Result<usize, String> {
        let r = rank as i64;
        let axis = if self.axis < 0 {
            self.axis + r
        } else {
            self.axis
        };
        if !(1..r).contains(&axis) {
            return Err(format!(
                "axis {} is not a feature axis of inputs of rank {rank} (use 1..{} or a \
                 negative axis)",
                self.axis,
                rank - 1
            ));
        }
        Ok(axis as usize)
    }

    fn normalize<const D: usize>(
        &self,
        x: Tensor<D>,
        row_mask: Option<Tensor<2>>,
        weights: &Weights<'_>,
        training: bool,
    ) -> Result<Tensor<D>, String> {
        let dims = x.dims();
        let c = dims[D - 1];
        let rows: usize = dims[..D - 1].iter().product();
        let x = x.reshape([rows, c]);
        let (mean, var) = if training {
            let (mean, var) = match row_mask {
                // Keras: Σ x·m / (Σ m + 1e-7) and Σ m·(x - mean)² / (Σ m + 1e-7).
                Some(m) => {
                    let count = m.clone().sum_dim(0) + 1e-7;
                    let mean = (x.clone() * m.clone()).sum_dim(0) / count.clone();
                    let var = ((x.clone() - mean.clone()).square() * m).sum_dim(0) / count;
                    (mean, var)
                }
                None => {
                    let mean = x.clone().mean_dim(0);
                    let var = (x.clone() - mean.clone()).square().mean_dim(0);
                    (mean, var)
                }
            };
            let keep = self.momentum;
            for (name, batch) in [("moving_mean", &mean), ("moving_variance", &var)] {
                let moving = weights.get::<1>(name)?;
                weights.assign(
                    name,
                    moving * keep + batch.clone().reshape([c]) * (1.0 - keep),
                )?;
            }
            (mean, var)
        } else {
            (
                weights.get::<1>("moving_mean")?.reshape([1, c]),
                weights.get::<1>("moving_variance")?.reshape([1, c]),
            )
        };
        let mut y = (x - mean) / (var + self.epsilon).sqrt();
        if let Some(g) = weights.optional::<1>("gamma")? {
            y = y * g.reshape([1, c]);
        }
        if let Some(b) = weights.optional::<1>("beta")? {
            y = y + b.reshape([1, c]);
        }
        Ok(y.reshape(dims))
    }
}
