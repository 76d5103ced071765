//! `LayerNormalization`: normalizes each sample over its last axis.

use burn::module::{Module, Param};
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

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
    /// The layer's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
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
            name: None,
            epsilon: epsilon(),
            center: true,
            scale: true,
        }
    }

    /// Sets epsilon.
    pub fn epsilon(mut self, epsilon: f32) -> Self {
        self.epsilon = epsilon;
        self
    }

    /// Sets the layer name.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    pub(crate) fn output_shape(&self, input: &Shape) -> Result<Shape, String> {
        Ok(input.clone())
    }

    pub(crate) fn param_count(&self, input: &Shape) -> usize {
        let d = input.last().unwrap_or(0);
        d * (usize::from(self.center) + usize::from(self.scale))
    }

    pub(crate) fn build(&self, input: &Shape, device: &Device) -> LayerNormalizationLayer {
        let d = input.last().unwrap_or(0);
        LayerNormalizationLayer {
            gamma: self
                .scale
                .then(|| Param::from_tensor(Tensor::ones([d], device))),
            beta: self
                .center
                .then(|| Param::from_tensor(Tensor::zeros([d], device))),
            epsilon: self.epsilon,
        }
    }
}

/// The built `LayerNormalization`: `gamma` and `beta`, `[last_dim]` each when present.
#[derive(Module, Debug)]
pub struct LayerNormalizationLayer {
    /// Scale, `[last_dim]`.
    pub gamma: Option<Param<Tensor<1>>>,
    /// Offset, `[last_dim]`.
    pub beta: Option<Param<Tensor<1>>>,
    #[module(skip)]
    epsilon: f32,
}

impl LayerNormalizationLayer {
    fn normalize<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        let last = D - 1;
        let mean = x.clone().mean_dim(last);
        let centered = x - mean;
        let var = centered.clone().square().mean_dim(last);
        let mut y = centered / (var + self.epsilon).sqrt();
        let mut ones = [1usize; D];
        if let Some(g) = &self.gamma {
            ones[last] = g.val().dims()[0];
            y = y * g.val().reshape(ones);
        }
        if let Some(b) = &self.beta {
            ones[last] = b.val().dims()[0];
            y = y + b.val().reshape(ones);
        }
        y
    }

    /// Normalizes over the last axis.
    pub fn forward(&self, x: DynTensor) -> DynTensor {
        crate::dyn_map!(x, t => self.normalize(t))
    }
}
