//! `GaussianDropout`: values multiplied by normal noise of mean 1 while training (Keras
//! `GaussianDropout`).

use burn::tensor::{Distribution, Tensor};
use serde::{Deserialize, Serialize};

use super::{Layer, Weights, config_of, only};
use crate::shape::Shape;
use crate::tensor::DynTensor;

/// Multiplies every value by noise drawn from `N(1, rate / (1 - rate))` while training, and
/// does nothing at inference (Keras `layers.GaussianDropout`): dropout's mean and variance
/// without its zeros.
///
/// # Examples
/// ```
/// use kiln_model::{GaussianDropout, Input, Sequential};
/// let model = Sequential::new().add(Input::new([3])).add(GaussianDropout::new(0.2))
///     .build(&burn::tensor::Device::flex())?;
/// let x = ndarray::Array2::<f32>::ones((2, 3));
/// assert_eq!(model.predict(&x, 32)?, x.into_dyn());
/// # Ok::<(), kiln_model::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GaussianDropout {
    /// The equivalent dropout rate, in `[0, 1)`.
    pub rate: f64,
    /// Keras's seed (kept in the config; Kiln draws from the device's generator).
    #[serde(default)]
    pub seed: Option<u64>,
}

impl GaussianDropout {
    /// Noise of the variance of dropout at `rate`, while training.
    pub fn new(rate: f64) -> Self {
        Self { rate, seed: None }
    }
}

impl Layer for GaussianDropout {
    fn class_name(&self) -> &str {
        "GaussianDropout"
    }

    /// Keeps its input's mask (Keras `supports_masking`).
    fn mask_policy(&self) -> crate::layers::MaskPolicy {
        crate::layers::MaskPolicy::Keep
    }

    fn config(&self) -> serde_json::Value {
        config_of(self)
    }

    fn output_shape(&self, inputs: &[Shape]) -> Result<Shape, String> {
        if !(0.0..1.0).contains(&self.rate) {
            return Err(format!("rate must be in [0, 1), got {}", self.rate));
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
        if !training || self.rate == 0.0 {
            return Ok(x);
        }
        let device = x.device();
        let stddev = (self.rate / (1.0 - self.rate)).sqrt();
        Ok(crate::dyn_map!(x, t => {
            let noise = Tensor::random(t.shape(), Distribution::Normal(1.0, stddev), &device);
            t * noise
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
    fn training_multiplies_by_noise_of_mean_one_and_dropout_variance() {
        // rate 0.2: variance of the factor 0.2 / 0.8 = 0.25, so of 2·factor 1.0.
        let (mean, var) = moments(&GaussianDropout::new(0.2), 2.0);
        assert!((mean - 2.0).abs() < 0.02, "mean {mean}");
        assert!((var - 1.0).abs() < 0.03, "variance {var}");
    }
}
