//! `GaussianNoise`: zero-mean normal noise added while training (Keras `GaussianNoise`).

use burn::tensor::{Distribution, Tensor};
use serde::{Deserialize, Serialize};

use super::{Layer, Weights, config_of, only};
use crate::shape::Shape;
use crate::tensor::DynTensor;

/// Adds noise drawn from `N(0, stddev²)` to every value while training, and nothing at
/// inference (Keras `layers.GaussianNoise`): a regularizer, and a way to augment real-valued
/// inputs.
///
/// # Examples
/// ```
/// use kiln_model::{GaussianNoise, Input, Sequential};
/// let model = Sequential::new().add(Input::new([3])).add(GaussianNoise::new(0.1))
///     .build(&burn::tensor::Device::flex())?;
/// let x = ndarray::Array2::<f32>::ones((2, 3));
/// assert_eq!(model.predict(&x, 32)?, x.into_dyn());
/// # Ok::<(), kiln_model::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GaussianNoise {
    /// The noise's standard deviation, at least 0.
    pub stddev: f64,
    /// Keras's seed (kept in the config; Kiln draws from the device's generator).
    #[serde(default)]
    pub seed: Option<u64>,
}

impl GaussianNoise {
    /// Noise of standard deviation `stddev` while training.
    pub fn new(stddev: f64) -> Self {
        Self { stddev, seed: None }
    }
}

impl Layer for GaussianNoise {
    fn class_name(&self) -> &str {
        "GaussianNoise"
    }

    /// Keeps its input's mask (Keras `supports_masking`).
    fn mask_policy(&self) -> crate::layers::MaskPolicy {
        crate::layers::MaskPolicy::Keep
    }

    fn config(&self) -> serde_json::Value {
        config_of(self)
    }

    fn output_shape(&self, inputs: &[Shape]) -> Result<Shape, String> {
        if !(self.stddev >= 0.0 && self.stddev.is_finite()) {
            return Err(format!("stddev must be a number >= 0, got {}", self.stddev));
        }
        Ok(only(inputs)?.clone())
    }

    fn call(
        &self,
        inputs: Vec<DynTensor>,
        _weights: &Weights<'_>,
        training: bool,
    ) -> Result<DynTensor, String> {
        let x = only(inputs)?;
        if !training || self.stddev == 0.0 {
            return Ok(x);
        }
        let device = x.device();
        let stddev = self.stddev;
        Ok(crate::dyn_map!(x, t => {
            let noise = Tensor::random(t.shape(), Distribution::Normal(0.0, stddev), &device);
            t + noise
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The mean and variance of the layer's training output on a constant input.
    fn moments(layer: &dyn Layer, value: f32) -> (f64, f64) {
        let device = burn::tensor::Device::flex();
        let x = Tensor::<2>::ones([300, 300], &device) * value;
        let spec = crate::layers::WeightBuilder::default();
        let weights = Weights {
            vars: &[],
            spec: &spec,
            trainable: false,
            host_checked: false,
            losses: None,
        };
        let Ok(DynTensor::R2(y)) = layer.call(vec![DynTensor::R2(x)], &weights, true) else {
            panic!("call");
        };
        let v = y.into_data().try_to_vec::<f32>().unwrap_or_default();
        let n = v.len() as f64;
        let mean = v.iter().map(|&x| f64::from(x)).sum::<f64>() / n;
        let var = v
            .iter()
            .map(|&x| (f64::from(x) - mean).powi(2))
            .sum::<f64>()
            / n;
        (mean, var)
    }

    #[test]
    fn training_adds_noise_of_the_given_deviation() {
        let (mean, var) = moments(&GaussianNoise::new(0.5), 2.0);
        assert!((mean - 2.0).abs() < 0.01, "mean {mean}");
        assert!((var - 0.25).abs() < 0.01, "variance {var}");
    }
}
