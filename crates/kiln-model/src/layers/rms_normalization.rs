//! `RMSNormalization`: each sample divided by its root mean square (Keras `RMSNormalization`).

use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use super::layer_normalization::{
    broadcast, int_or_list, last, mean_over, resolve_axes, weight_shape, write_axes,
};
use super::{Layer, WeightBuilder, WeightSpec, Weights, config_of, only, setters};
use crate::initializer::Initializer;
use crate::shape::Shape;
use crate::tensor::DynTensor;

fn epsilon() -> f32 {
    1e-6
}

/// `x / sqrt(mean(x²) + ε) · scale` over the `axis` of each sample (Zhang & Sennrich's RMSNorm,
/// Keras `layers.RMSNormalization`: the last axis, ε 1e-6, a learned `scale` of the normalized
/// axes' shape, initialized to ones). Unlike `LayerNormalization(rms_scaling=True)`, the mean
/// square is not centered.
///
/// # Examples
/// ```
/// use kiln_model::{Input, RmsNormalization, Sequential};
/// let model = Sequential::new().add(Input::new([4])).add(RmsNormalization::new())
///     .build(&burn::tensor::Device::flex())?;
/// let y = model.predict(&ndarray::array![[1.0f32, -1.0, 1.0, -1.0]], 32)?;
/// assert!((y[[0, 0]] - 1.0).abs() < 1e-5);
/// # Ok::<(), kiln_model::Error>(())
/// ```
#[doc(alias = "RMSNormalization")]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RmsNormalization {
    /// The normalized axes (batch axis 0; negative from the end; default the last).
    #[serde(
        default = "last",
        deserialize_with = "int_or_list",
        serialize_with = "write_axes"
    )]
    pub axis: Vec<i64>,
    /// Added to the mean square (default 1e-6).
    #[serde(default = "epsilon")]
    pub epsilon: f32,
}

impl Default for RmsNormalization {
    fn default() -> Self {
        Self::new()
    }
}

impl RmsNormalization {
    /// Keras's defaults: the last axis, ε 1e-6.
    pub fn new() -> Self {
        Self {
            axis: last(),
            epsilon: epsilon(),
        }
    }
}

setters!(RmsNormalization {
    /// Sets the normalized axes.
    axis: Vec<i64>,
    /// Sets ε.
    epsilon: f32,
});

impl Layer for RmsNormalization {
    fn class_name(&self) -> &str {
        "RMSNormalization"
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
        weights.add_weight(WeightSpec::new("scale", shape, Initializer::Ones))?;
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

impl RmsNormalization {
    fn normalize<const D: usize>(
        &self,
        x: Tensor<D>,
        weights: &Weights<'_>,
    ) -> Result<Tensor<D>, String> {
        let dims = x.dims();
        let axes = resolve_axes(&self.axis, &Shape(dims[1..].to_vec()))?;
        let inv = (mean_over(x.clone().square(), &axes) + self.epsilon)
            .sqrt()
            .recip();
        Ok(x * inv * broadcast(weights.flat("scale")?, dims, &axes))
    }
}
