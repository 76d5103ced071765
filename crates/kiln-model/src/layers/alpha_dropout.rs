//! `AlphaDropout`: dropout that keeps SELU's self-normalization (Keras `AlphaDropout`).

#[cfg(test)]
use burn::tensor::{Distribution, Tensor};
use serde::{Deserialize, Serialize};

use super::{Layer, Weights, config_of, only};
use crate::shape::Shape;
use crate::tensor::DynTensor;

/// SELU's `alpha` and `scale`.
const ALPHA: f64 = 1.673_263_242_354_377_3;
const SCALE: f64 = 1.050_700_987_355_480_5;

/// While training, sets a fraction `rate` of the values to SELU's negative saturation
/// `-alpha·scale` and applies the affine map that keeps the mean and variance (Keras
/// `layers.AlphaDropout`, for SELU networks); nothing at inference. `noise_shape` (Keras's,
/// `None` for the input's own size on that axis) shares one draw along axes of size 1.
///
/// # Examples
/// ```
/// use kiln_model::{AlphaDropout, Input, Sequential};
/// let model = Sequential::new().add(Input::new([3])).add(AlphaDropout::new(0.1))
///     .build(&burn::tensor::Device::flex())?;
/// let x = ndarray::Array2::<f32>::ones((2, 3));
/// assert_eq!(model.predict(&x, 32)?, x.into_dyn());
/// # Ok::<(), kiln_model::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlphaDropout {
    /// The fraction dropped, in `[0, 1]`.
    pub rate: f64,
    /// The shape of the drop mask, batch axis first (`None` entries: the input's size);
    /// `None` for the input's shape.
    #[serde(default)]
    pub noise_shape: Option<Vec<Option<usize>>>,
    /// Keras's seed (kept in the config; Kiln draws from the device's generator).
    #[serde(default)]
    pub seed: Option<u64>,
}

impl AlphaDropout {
    /// Drops a fraction `rate` while training.
    pub fn new(rate: f64) -> Self {
        Self {
            rate,
            noise_shape: None,
            seed: None,
        }
    }
}

impl Layer for AlphaDropout {
    fn class_name(&self) -> &str {
        "AlphaDropout"
    }

    /// Keeps its input's mask (Keras `supports_masking`).
    fn mask_policy(&self) -> crate::layers::MaskPolicy {
        crate::layers::MaskPolicy::Keep
    }

    fn config(&self) -> serde_json::Value {
        config_of(self)
    }

    fn output_shape(&self, inputs: &[Shape]) -> Result<Shape, String> {
        if !(0.0..=1.0).contains(&self.rate) {
            return Err(format!("rate must be in [0, 1], got {}", self.rate));
        }
        let input = only(inputs)?;
        if let Some(noise) = &self.noise_shape {
            let fits = noise.len() == input.rank() + 1
                && noise[1..]
                    .iter()
                    .zip(input.dims())
                    .all(|(n, &d)| n.is_none_or(|n| n == 1 || n == d));
            if !fits {
                return Err(format!(
                    "noise_shape {noise:?} does not fit the input {input} (each axis its size, \
                     1 or null)"
                ));
            }
        }
        Ok(input.clone())
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
        let rate = self.rate;
        let alpha_p = -ALPHA * SCALE;
        let a = ((1.0 - rate) * (1.0 + rate * alpha_p * alpha_p)).powf(-0.5);
        let b = -a * alpha_p * rate;
        let noise = self.noise_shape.clone();
        Ok(crate::dyn_map!(x, t => {
            let mut shape = t.dims();
            if let Some(noise) = &noise {
                for (s, n) in shape.iter_mut().zip(noise) {
                    if let Some(n) = n {
                        *s = (*n).min(*s);
                    }
                }
            }
            // Kept where a uniform draw is at least `rate`, as Keras.
            let kept = crate::bernoulli::mask(shape, 1.0 - rate, &device);
            let dropped = kept.clone().neg().add_scalar(1.0);
            let mixed = t * kept + dropped * (alpha_p as f32);
            mixed * (a as f32) + (b as f32)
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alpha_dropout_keeps_the_mean_and_variance_of_standard_normal_inputs() {
        let device = burn::tensor::Device::flex();
        let x = Tensor::<2>::random([400, 250], Distribution::Normal(0.0, 1.0), &device);
        let layer = AlphaDropout::new(0.2);
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
        assert!(mean.abs() < 0.02, "mean {mean}");
        assert!((var - 1.0).abs() < 0.03, "variance {var}");
        // A fifth of the values sit at the one dropped value a·(-alpha·scale) + b.
        let alpha_p = -ALPHA * SCALE;
        let a = ((0.8) * (1.0 + 0.2 * alpha_p * alpha_p)).powf(-0.5);
        let floor = (a * alpha_p - a * alpha_p * 0.2) as f32;
        let at_floor = v.iter().filter(|&&x| (x - floor).abs() < 1e-5).count() as f64 / n;
        assert!((at_floor - 0.2).abs() < 0.01, "{at_floor}");
    }
}
