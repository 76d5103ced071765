//! `GroupNormalization`: normalization over groups of channels (Keras `GroupNormalization`).

use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use super::{Layer, WeightBuilder, WeightSpec, Weights, config_of, only, setters};
use crate::initializer::Initializer;
use crate::shape::Shape;
use crate::tensor::DynTensor;

/// Splits the channels (the last axis) into `groups` and normalizes each group of each
/// sample over its channels and all other axes, then scales by `gamma` and shifts by `beta`
/// per channel (Keras `layers.GroupNormalization`: 32 groups, ε 1e-3; Wu & He 2018). With one
/// group it is LayerNormalization over everything; with one channel per group,
/// InstanceNormalization. Weights `gamma`, `beta` `[channels]`.
///
/// # Examples
/// ```
/// use kiln_model::{GroupNormalization, Input, Sequential};
/// let model = Sequential::new().add(Input::new([8, 8, 6])).add(GroupNormalization::new(3))
///     .build(&burn::tensor::Device::flex())?;
/// assert_eq!(model.count_params(), 12);
/// # Ok::<(), kiln_model::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupNormalization {
    /// How many groups the channels split into (default 32); must divide the channels.
    #[serde(default = "thirty_two")]
    pub groups: usize,
    /// The channels axis; only the last (`-1`).
    #[serde(default = "last", deserialize_with = "super::conv_utils::single_axis")]
    pub axis: i64,
    /// Added to the variance (default 1e-3).
    #[serde(default = "epsilon")]
    pub epsilon: f32,
    /// Whether to learn a shift `beta` (default true).
    #[serde(default = "crate::layers::yes")]
    pub center: bool,
    /// Whether to learn a scale `gamma` (default true).
    #[serde(default = "crate::layers::yes")]
    pub scale: bool,
    /// How `beta` starts (default zeros).
    #[serde(default)]
    pub beta_initializer: Initializer,
    /// How `gamma` starts (default ones).
    #[serde(default = "ones")]
    pub gamma_initializer: Initializer,
}

fn ones() -> Initializer {
    Initializer::Ones
}

fn thirty_two() -> usize {
    32
}

fn last() -> i64 {
    -1
}

fn epsilon() -> f32 {
    1e-3
}

impl GroupNormalization {
    /// `groups` groups, Keras's defaults otherwise.
    pub fn new(groups: usize) -> Self {
        Self {
            groups,
            axis: last(),
            epsilon: epsilon(),
            center: true,
            scale: true,
            beta_initializer: Initializer::Zeros,
            gamma_initializer: Initializer::Ones,
        }
    }

    fn normalize<const D: usize>(
        &self,
        x: Tensor<D>,
        weights: &Weights<'_>,
    ) -> Result<Tensor<D>, String> {
        let dims = x.dims();
        let (b, c) = (dims[0], dims[D - 1]);
        let g = self.groups;
        let spatial: usize = dims[1..D - 1].iter().product();
        let grouped = x.reshape([b, spatial, g, c / g]);
        let mean = grouped.clone().mean_dim(1).mean_dim(3);
        let centered = grouped - mean;
        let var = centered.clone().square().mean_dim(1).mean_dim(3);
        let mut y = (centered / (var + self.epsilon).sqrt()).reshape(dims);
        let mut shape = [1usize; D];
        shape[D - 1] = c;
        if let Some(gamma) = weights.optional::<1>("gamma")? {
            y = y * gamma.reshape(shape);
        }
        if let Some(beta) = weights.optional::<1>("beta")? {
            y = y + beta.reshape(shape);
        }
        Ok(y)
    }
}

setters!(GroupNormalization {
    /// Sets ε.
    epsilon: f32,
    /// Whether to learn a shift.
    center: bool,
    /// Whether to learn a scale.
    scale: bool,
});

impl Layer for GroupNormalization {
    fn class_name(&self) -> &str {
        "GroupNormalization"
    }

    /// Keeps its input's mask (Keras `supports_masking`).
    fn mask_policy(&self) -> crate::layers::MaskPolicy {
        crate::layers::MaskPolicy::Keep
    }

    fn config(&self) -> serde_json::Value {
        config_of(self)
    }

    fn output_shape(&self, inputs: &[Shape]) -> Result<Shape, String> {
        let shape = only(inputs)?;
        let c = shape.last().unwrap_or(0);
        if self.axis != -1 && self.axis != shape.rank() as i64 {
            return Err(format!(
                "GroupNormalization normalizes groups of the last axis only, got axis {}",
                self.axis
            ));
        }
        if self.groups == 0 || c % self.groups != 0 {
            return Err(format!(
                "groups {} must divide the {c} channels",
                self.groups
            ));
        }
        if !(self.epsilon >= 0.0 && self.epsilon.is_finite()) {
            return Err(format!("epsilon must be >= 0, got {}", self.epsilon));
        }
        Ok(shape.clone())
    }

    fn build(&self, inputs: &[Shape], weights: &mut WeightBuilder) -> Result<(), String> {
        let c = only(inputs)?.last().unwrap_or(0);
        if self.scale {
            weights.add_weight(WeightSpec::new("gamma", [c], self.gamma_initializer))?;
        }
        if self.center {
            weights.add_weight(WeightSpec::new("beta", [c], self.beta_initializer))?;
        }
        Ok(())
    }

    fn call(
        &self,
        inputs: Vec<DynTensor>,
        weights: &Weights<'_>,
        _training: bool,
    ) -> Result<DynTensor, String> {
        let x = only(inputs)?;
        Ok(match x {
            DynTensor::R2(t) => {
                let [b, c] = t.dims();
                let y = self.normalize(t.reshape([b, 1, c]), weights)?;
                DynTensor::R2(y.reshape([b, c]))
            }
            other => crate::dyn_try_map!(other, t => self.normalize(t, weights)?),
        })
    }
}
