//! `LayerNormalization`: normalizes each sample over its last axis.

use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use super::{Layer, WeightBuilder, WeightSpec, Weights, config_of, only, setters};
use crate::initializer::Initializer;
use crate::shape::Shape;
use crate::tensor::DynTensor;

fn epsilon() -> f32 {
    1e-3
}

/// `(x - mean) / sqrt(var + ε) · gamma + beta` over the last axis, with the biased variance
/// (Keras `LayerNormalization`: ε 1e-3, `center` and `scale` on).
///
/// # Examples
/// ```
/// use kiln_model::{Input, LayerNormalization, Sequential};
/// let model = Sequential::new().add(Input::new([4])).add(LayerNormalization::new())
///     .build(&burn::tensor::Device::flex())?;
/// assert_eq!(model.count_params(), 8);
/// # Ok::<(), kiln_model::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayerNormalization {
    /// Added to the variance (default 1e-3).
    #[serde(default = "epsilon")]
    pub epsilon: f32,
    /// Add the learned offset `beta` (default true).
    #[serde(default = "crate::layers::yes")]
    pub center: bool,
    /// Multiply by the learned `gamma` (default true).
    #[serde(default = "crate::layers::yes")]
    pub scale: bool,
}

impl Default for LayerNormalization {
    fn default() -> Self {
        Self::new()
    }
}

impl LayerNormalization {
    /// Keras's defaults.
    pub fn new() -> Self {
        Self {
            epsilon: epsilon(),
            center: true,
            scale: true,
        }
    }
}

setters!(LayerNormalization {
    /// Sets epsilon.
    epsilon: f32,
    /// Whether to learn an offset `beta`.
    center: bool,
    /// Whether to learn a scale `gamma`.
    scale: bool,
});

impl Layer for LayerNormalization {
    fn class_name(&self) -> &str {
        "LayerNormalization"
    }

    fn config(&self) -> serde_json::Value {
        config_of(self)
    }

    fn output_shape(&self, inputs: &[Shape]) -> Result<Shape, String> {
        Ok(only(inputs)?.clone())
    }

    fn build(&self, inputs: &[Shape], weights: &mut WeightBuilder) -> Result<(), String> {
        let d = only(inputs)?.last().unwrap_or(0);
        if self.scale {
            weights.add_weight(WeightSpec::new("gamma", [d], Initializer::Ones))?;
        }
        if self.center {
            weights.add_weight(WeightSpec::new("beta", [d], Initializer::Zeros))?;
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
        let last = D - 1;
        let d = x.dims()[last];
        let mean = x.clone().mean_dim(last);
        let centered = x - mean;
        let var = centered.clone().square().mean_dim(last);
        let mut y = centered / (var + self.epsilon).sqrt();
        let mut ones = [1usize; D];
        ones[last] = d;
        if let Some(g) = weights.optional::<1>("gamma")? {
            y = y * g.reshape(ones);
        }
        if let Some(b) = weights.optional::<1>("beta")? {
            y = y + b.reshape(ones);
        }
        Ok(y)
    }
}
