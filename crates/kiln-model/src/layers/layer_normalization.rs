//! `LayerNormalization`: normalizes each sample over some of its axes (the last by default).

use burn::tensor::Tensor;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::conv_utils::sample_axis;
use super::{Layer, WeightBuilder, WeightSpec, Weights, config_of, only, setters};
use crate::initializer::Initializer;
use crate::shape::Shape;
use crate::tensor::DynTensor;

fn epsilon() -> f32 {
    1e-3
}

pub(crate) fn last() -> Vec<i64> {
    vec![-1]
}

/// Reads Keras's `axis`: an int or a list of ints.
pub(crate) fn int_or_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<i64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Repr {
        One(i64),
        Many(Vec<i64>),
    }
    Ok(match Repr::deserialize(d)? {
        Repr::One(a) => vec![a],
        Repr::Many(a) => a,
    })
}

/// Writes one axis as an int (Keras's form), several as a list.
pub(crate) fn write_axes<S: Serializer>(axes: &[i64], s: S) -> Result<S::Ok, S::Error> {
    match axes {
        [one] => s.serialize_i64(*one),
        many => many.serialize(s),
    }
}

/// The axes (batch axis 0) of a sample of `input`'s shape that `axes` names, sorted, checked.
pub(crate) fn resolve_axes(axes: &[i64], input: &Shape) -> Result<Vec<usize>, String> {
    if axes.is_empty() {
        return Err("axis must name at least one axis".into());
    }
    let mut out = axes
        .iter()
        .map(|&a| sample_axis(a, input.rank() + 1))
        .collect::<Result<Vec<_>, _>>()?;
    out.sort_unstable();
    out.dedup();
    if out.len() != axes.len() {
        return Err(format!("axis {axes:?} names an axis twice"));
    }
    Ok(out)
}

/// The sizes of `input` (a sample) at `axes` (batch axis 0): a weight's shape.
pub(crate) fn weight_shape(axes: &[usize], input: &Shape) -> Vec<usize> {
    axes.iter().map(|&a| input.dims()[a - 1]).collect()
}

/// The mean of `x` over `axes`, kept as axes of size 1.
pub(crate) fn mean_over<const D: usize>(x: Tensor<D>, axes: &[usize]) -> Tensor<D> {
    axes.iter().fold(x, |t, &a| t.mean_dim(a))
}

/// A weight of shape `x[axes]` reshaped to broadcast against `x` (`dims`).
pub(crate) fn broadcast<const D: usize>(
    w: Tensor<1>,
    dims: [usize; D],
    axes: &[usize],
) -> Tensor<D> {
    let mut shape = [1usize; D];
    for &a in axes {
        shape[a] = dims[a];
    }
    w.reshape(shape)
}

/// `(x - mean) / sqrt(var + ε) · gamma + beta` over the `axis` of each sample (the last by
/// default), with the biased variance (Keras `LayerNormalization`: ε 1e-3, `center` and
/// `scale` on; `gamma` and `beta` have the shape of the normalized axes). `rms_scaling`
/// divides by `sqrt(var + ε)` without centering and uses `gamma` only, as Keras.
///
/// # Examples
/// ```
/// use kiln_model::{Input, LayerNormalization, Sequential};
/// let model = Sequential::new().add(Input::new([4])).add(LayerNormalization::new())
///     .build(&burn::tensor::Device::flex())?;
/// assert_eq!(model.count_params(), 8);
/// let images = Sequential::new().add(Input::new([5, 6, 3]))
///     .add(LayerNormalization::new().axis(vec![1, 2, 3]))
///     .build(&burn::tensor::Device::flex())?;
/// assert_eq!(images.count_params(), 2 * 5 * 6 * 3);
/// # Ok::<(), kiln_model::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayerNormalization {
    /// The normalized axes (batch axis 0; negative from the end; default the last).
    #[serde(
        default = "last",
        deserialize_with = "int_or_list",
        serialize_with = "write_axes"
    )]
    pub axis: Vec<i64>,
    /// Added to the variance (default 1e-3).
    #[serde(default = "epsilon")]
    pub epsilon: f32,
    /// Add `beta` (default true).
    #[serde(default = "crate::layers::yes")]
    pub center: bool,
    /// Multiply by `gamma` (default true).
    #[serde(default = "crate::layers::yes")]
    pub scale: bool,
    /// Scale by the standard deviation only, without centering (default false).
    #[serde(default)]
    pub rms_scaling: bool,
    /// How `beta` is filled (default zeros).
    #[serde(default)]
    pub beta_initializer: Initializer,
    /// How `gamma` is filled (default ones).
    #[serde(default = "ones")]
    pub gamma_initializer: Initializer,
}

fn ones() -> Initializer {
    Initializer::Ones
}

impl Default for LayerNormalization {
    fn default() -> Self {
        Self::new()
    }
}

impl LayerNormalization {
    /// Keras's defaults: the last axis, ε 1e-3, `center` and `scale` on.
    pub fn new() -> Self {
        Self {
            axis: last(),
            epsilon: epsilon(),
            center: true,
            scale: true,
            rms_scaling: false,
            beta_initializer: Initializer::Zeros,
            gamma_initializer: Initializer::Ones,
        }
    }
}

setters!(LayerNormalization {
    /// Sets the normalized axes.
    axis: Vec<i64>,
    /// Sets ε.
    epsilon: f32,
    /// Whether to add `beta`.
    center: bool,
    /// Whether to multiply by `gamma`.
    scale: bool,
    /// Scale without centering.
    rms_scaling: bool,
});

impl Layer for LayerNormalization {
    fn class_name(&self) -> &str {
        "LayerNormalization"
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
        resolve_axes(&self.axis, input)?;
        Ok(input.clone())
    }

    fn build(&self, inputs: &[Shape], weights: &mut WeightBuilder) -> Result<(), String> {
        let input = only(inputs)?;
        let shape = weight_shape(&resolve_axes(&self.axis, input)?, input);
        if self.scale || self.rms_scaling {
            weights.add_weight(WeightSpec::new(
                "gamma",
                shape.clone(),
                self.gamma_initializer,
            ))?;
        }
        if self.center && !self.rms_scaling {
            weights.add_weight(WeightSpec::new("beta", shape, self.beta_initializer))?;
        }
        Ok(())
    }

    fn call(
        &self,
        inputs: Vec<DynTensor>,
        weights: &Weights<'_>,
        _training: bool,
    ) -> Result<DynTensor, String> {
        Ok(crate::dyn_try_map!(only(inputs)?, t => self.normalize(t, weights)?))
    }
}

impl LayerNormalization {
    fn normalize<const D: usize>(
        &self,
        x: Tensor<D>,
        weights: &Weights<'_>,
    ) -> Result<Tensor<D>, String> {
        let dims = x.dims();
        let axes = resolve_axes(&self.axis, &Shape(dims[1..].to_vec()))?;
        let mean = mean_over(x.clone(), &axes);
        let centered = x.clone() - mean;
        let var = mean_over(centered.clone().square(), &axes);
        let inv = (var + self.epsilon).sqrt().recip();
        let mut y = if self.rms_scaling {
            x * inv
        } else {
            centered * inv
        };
        // The weights have the normalized axes' shape; flat, then broadcast.
        if self.scale || self.rms_scaling {
            y = y * broadcast(weights.flat("gamma")?, dims, &axes);
        }
        if self.center && !self.rms_scaling {
            y = y + broadcast(weights.flat("beta")?, dims, &axes);
        }
        Ok(y)
    }
}
