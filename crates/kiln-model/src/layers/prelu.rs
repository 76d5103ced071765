//! `PRelu`: the parametric rectified linear unit (Keras `PReLU`).

use serde::{Deserialize, Serialize};

use super::{Layer, WeightBuilder, WeightSpec, Weights, config_of, only, setters};
use crate::initializer::Initializer;
use crate::shape::Shape;
use crate::tensor::DynTensor;

/// `max(x, 0) + alpha · min(x, 0)` with a learned `alpha` per value of a sample (Keras
/// `layers.PReLU`; alpha starts at 0). `shared_axes` share one alpha along those axes
/// (`[1, 2]` on images: one alpha per channel). Weight `alpha`: the sample's shape, 1 on the
/// shared axes.
///
/// # Examples
/// ```
/// use kiln_model::{Input, PRelu, Sequential};
/// let model = Sequential::new().add(Input::new([4, 4, 3])).add(PRelu::new().shared_axes([1, 2]))
///     .build(&burn::tensor::Device::flex())?;
/// assert_eq!(model.count_params(), 3);
/// # Ok::<(), kiln_model::Error>(())
/// ```
#[doc(alias = "PReLU")]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PRelu {
    /// How alpha starts (default zeros).
    #[serde(default)]
    pub alpha_initializer: Initializer,
    /// Axes (1-based, of the sample with the batch as 0) that share one alpha.
    #[serde(default, deserialize_with = "shared")]
    pub shared_axes: Option<Vec<usize>>,
}

fn shared<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Vec<usize>>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Repr {
        One(usize),
        Many(Vec<usize>),
    }
    Ok(Option::<Repr>::deserialize(d)?.map(|r| match r {
        Repr::One(a) => vec![a],
        Repr::Many(a) => a,
    }))
}

impl Default for PRelu {
    fn default() -> Self {
        Self {
            alpha_initializer: Initializer::Zeros,
            shared_axes: None,
        }
    }
}

impl PRelu {
    /// One alpha per value, starting at 0.
    pub fn new() -> Self {
        Self::default()
    }

    fn alpha_shape(&self, input: &Shape) -> Result<Vec<usize>, String> {
        let mut shape = input.dims().to_vec();
        for &a in self.shared_axes.iter().flatten() {
            if a == 0 || a > shape.len() {
                return Err(format!(
                    "shared axis {a} is not an axis of a sample of rank {} (counted from 1)",
                    shape.len()
                ));
            }
            shape[a - 1] = 1;
        }
        Ok(shape)
    }
}

setters!(PRelu {
    /// Sets how alpha starts.
    alpha_initializer: Initializer,
});

impl PRelu {
    /// Shares alpha along these axes (1-based: `[1, 2]` on images gives one per channel).
    pub fn shared_axes(mut self, axes: impl Into<Vec<usize>>) -> Self {
        self.shared_axes = Some(axes.into());
        self
    }
}

impl Layer for PRelu {
    fn class_name(&self) -> &str {
        "PReLU"
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
        self.alpha_shape(shape)?;
        Ok(shape.clone())
    }

    fn build(&self, inputs: &[Shape], weights: &mut WeightBuilder) -> Result<(), String> {
        let shape = self.alpha_shape(only(inputs)?)?;
        weights.add_weight(WeightSpec::new("alpha", shape, self.alpha_initializer))?;
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
                let alpha = weights.at::<1>(0)?.unsqueeze_dim::<2>(0);
                DynTensor::R2(t.clone().clamp_min(0.0) + t.clamp_max(0.0) * alpha)
            }
            DynTensor::R3(t) => {
                let alpha = weights.at::<2>(0)?.unsqueeze_dim::<3>(0);
                DynTensor::R3(t.clone().clamp_min(0.0) + t.clamp_max(0.0) * alpha)
            }
            DynTensor::R4(t) => {
                let alpha = weights.at::<3>(0)?.unsqueeze_dim::<4>(0);
                DynTensor::R4(t.clone().clamp_min(0.0) + t.clamp_max(0.0) * alpha)
            }
            DynTensor::R5(t) => {
                let alpha = weights.at::<4>(0)?.unsqueeze_dim::<5>(0);
                DynTensor::R5(t.clone().clamp_min(0.0) + t.clamp_max(0.0) * alpha)
            }
        })
    }
}
