//! `SpatialDropout1d`, `SpatialDropout2d`, `SpatialDropout3d`: whole feature maps dropped
//! while training (Keras `SpatialDropout1D/2D/3D`).

use serde::{Deserialize, Serialize};

use super::conv_utils::{channels_last, default_format};
use super::{Layer, Weights, config_of, only};
use crate::shape::Shape;
use crate::tensor::DynTensor;

#[allow(clippy::ptr_arg)] // serde's `skip_serializing_if` passes `&String`
fn always(_: &String) -> bool {
    true
}

#[allow(clippy::ptr_arg)]
fn never(_: &String) -> bool {
    false
}

/// The shape rule and forward shared by the three: `rank` is the sample rank (steps and
/// features for 1-D, ...).
fn spatial_shape(rate: f64, input: &Shape, rank: usize, class: &str) -> Result<Shape, String> {
    if !(0.0..=1.0).contains(&rate) {
        return Err(format!("rate must be in [0, 1], got {rate}"));
    }
    if input.rank() != rank {
        return Err(format!(
            "{class} needs samples of rank {rank} (spatial axes, then channels), got {input}"
        ));
    }
    Ok(input.clone())
}

/// While training, zeroes each channel of each sample with probability `rate` over all its
/// spatial positions, and scales the rest by `1 / (1 - rate)`.
fn drop_channels(x: DynTensor, rate: f64, training: bool) -> DynTensor {
    if !training || rate == 0.0 {
        return x;
    }
    let device = x.device();
    if rate >= 1.0 {
        return crate::dyn_map!(x, t => t.zeros_like());
    }
    let keep = 1.0 - rate;
    let scale = (1.0 / keep) as f32;
    crate::dyn_map!(x, t => {
        let dims = t.dims();
        let mut noise = dims;
        let last = noise.len() - 1;
        for d in &mut noise[1..last] {
            *d = 1;
        }
        let mask = crate::bernoulli::mask(noise, keep, &device);
        t * mask * scale
    })
}

macro_rules! spatial_dropout {
    ($(#[$doc:meta])* $ty:ident, $class:literal, $rank:literal, $variant:ident, $skip:literal) => {
        $(#[$doc])*
        #[doc(alias = $class)]
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        pub struct $ty {
            /// The fraction of channels dropped, in `[0, 1]`.
            pub rate: f64,
            /// Keras's seed (kept in the config; Kiln draws from the device's generator).
            #[serde(default)]
            pub seed: Option<u64>,
            /// Only `channels_last` (Keras's `SpatialDropout1D` has no such option and its
            /// config leaves it out).
            #[serde(
                default = "default_format",
                deserialize_with = "channels_last",
                skip_serializing_if = $skip
            )]
            pub data_format: String,
        }

        impl $ty {
            /// Drops a fraction `rate` of the channels while training.
            pub fn new(rate: f64) -> Self {
                Self { rate, seed: None, data_format: default_format() }
            }
        }

        impl Layer for $ty {
            fn class_name(&self) -> &str {
                $class
            }

            /// Keeps its input's mask (Keras `supports_masking`).
            fn mask_policy(&self) -> crate::layers::MaskPolicy {
                crate::layers::MaskPolicy::Keep
            }

            fn config(&self) -> serde_json::Value {
                config_of(self)
            }

            fn output_shape(&self, inputs: &[Shape]) -> Result<Shape, String> {
                spatial_shape(self.rate, only(inputs)?, $rank, $class)
            }

            fn call(
                &self,
                inputs: Vec<DynTensor>,
                _weights: &Weights<'_>,
                training: bool,
            ) -> Result<DynTensor, String> {
                let x = only(inputs)?;
                if !matches!(x, DynTensor::$variant(_)) {
                    return Err(format!("{} needs samples of rank {}", $class, $rank));
                }
                Ok(drop_channels(x, self.rate, training))
            }
        }
    };
}

spatial_dropout!(
    /// Drops whole channels of sequences `[batch, steps, channels]` while training (Keras
    /// `SpatialDropout1D`): one draw per sample and channel, kept for every step, so
    /// correlated neighbouring steps cannot stand in for a dropped one.
    ///
    /// # Examples
    /// ```
    /// use kiln_model::{Input, Sequential, SpatialDropout1d};
    /// let model = Sequential::new().add(Input::new([5, 3])).add(SpatialDropout1d::new(0.5))
    ///     .build(&burn::tensor::Device::flex())?;
    /// let x = ndarray::Array3::<f32>::ones((2, 5, 3));
    /// assert_eq!(model.predict(&x, 32)?, x.into_dyn()); // identity outside training
    /// # Ok::<(), kiln_model::Error>(())
    /// ```
    SpatialDropout1d, "SpatialDropout1D", 2, R3, "always"
);
spatial_dropout!(
    /// Drops whole channels of images `[batch, h, w, channels]` while training (Keras
    /// `SpatialDropout2D`).
    ///
    /// # Examples
    /// ```
    /// use kiln_model::{Input, Sequential, SpatialDropout2d};
    /// let model = Sequential::new().add(Input::new([4, 4, 3])).add(SpatialDropout2d::new(0.2))
    ///     .build(&burn::tensor::Device::flex())?;
    /// assert_eq!(model.output_shape().to_string(), "(None, 4, 4, 3)");
    /// # Ok::<(), kiln_model::Error>(())
    /// ```
    SpatialDropout2d, "SpatialDropout2D", 3, R4, "never"
);
spatial_dropout!(
    /// Drops whole channels of volumes `[batch, d1, d2, d3, channels]` while training (Keras
    /// `SpatialDropout3D`).
    ///
    /// # Examples
    /// ```
    /// use kiln_model::{Input, Sequential, SpatialDropout3d};
    /// let model = Sequential::new().add(Input::new([2, 2, 2, 3])).add(SpatialDropout3d::new(0.2))
    ///     .build(&burn::tensor::Device::flex())?;
    /// assert_eq!(model.output_shape().to_string(), "(None, 2, 2, 2, 3)");
    /// # Ok::<(), kiln_model::Error>(())
    /// ```
    SpatialDropout3d, "SpatialDropout3D", 4, R5, "never"
);

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Tensor;

    #[test]
    fn a_dropped_channel_is_zero_at_every_step_and_the_kept_ones_are_scaled() {
        let device = burn::tensor::Device::flex();
        let x = Tensor::<3>::ones([8, 6, 16], &device);
        let DynTensor::R3(y) = drop_channels(DynTensor::R3(x), 0.5, true) else {
            panic!("rank");
        };
        let values = y.into_data().try_to_vec::<f32>().unwrap_or_default();
        let (mut kept, mut dropped) = (0, 0);
        for b in 0..8 {
            for c in 0..16 {
                let column: Vec<f32> = (0..6).map(|t| values[(b * 6 + t) * 16 + c]).collect();
                assert!(column.iter().all(|&v| v == column[0]), "{column:?}");
                match column[0] {
                    0.0 => dropped += 1,
                    2.0 => kept += 1,
                    v => panic!("value {v}"),
                }
            }
        }
        // 128 draws at p = 0.5: both outcomes, far from all-or-nothing.
        assert!(kept > 30 && dropped > 30, "kept {kept}, dropped {dropped}");
    }
}
