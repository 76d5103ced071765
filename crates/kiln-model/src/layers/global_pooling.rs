//! `GlobalAveragePooling1d/2d/3d` and `GlobalMaxPooling1d/2d/3d`: one value per channel.

use serde::{Deserialize, Serialize};

use super::conv_utils::{channels_last, default_format};
use super::{Layer, Mask, MaskPolicy, Weights, config_of, only};
use crate::shape::Shape;
use crate::tensor::DynTensor;

macro_rules! global_spec {
    ($name:ident, $keras:literal, $rank:literal, $what:literal, $max:literal, $doc:literal) => {
        global_spec!($name, $keras, $rank, $what, $max, $doc, false);
    };
    ($name:ident, $keras:literal, $rank:literal, $what:literal, $max:literal, $doc:literal,
     $masks:literal) => {
        #[doc = $doc]
        #[doc(alias = $keras)]
        #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
        pub struct $name {
            /// Only `channels_last`.
            #[serde(default = "default_format", deserialize_with = "channels_last")]
            pub data_format: String,
            /// Keep the pooled axes with size 1 (Keras's `keepdims`, default false):
            /// `[batch, 1, .., 1, c]` instead of `[batch, c]`.
            #[serde(default)]
            pub keepdims: bool,
        }

        impl $name {
            /// Pools over every axis between the batch and the channels.
            pub fn new() -> Self {
                Self {
                    data_format: default_format(),
                    keepdims: false,
                }
            }

            /// Keeps the pooled axes with size 1.
            pub fn keepdims(mut self, keepdims: bool) -> Self {
                self.keepdims = keepdims;
                self
            }
        }

        impl Layer for $name {
            fn class_name(&self) -> &str {
                $keras
            }

            fn config(&self) -> serde_json::Value {
                config_of(self)
            }

            fn output_shape(&self, inputs: &[Shape]) -> Result<Shape, String> {
                let input = only(inputs)?;
                match input.dims() {
                    dims if dims.len() == $rank && self.keepdims => {
                        let mut out = vec![1; $rank];
                        out[$rank - 1] = dims[$rank - 1];
                        Ok(Shape(out))
                    }
                    dims if dims.len() == $rank => Ok(Shape(vec![dims[$rank - 1]])),
                    _ => Err(format!("{} needs {}, got {input}", $keras, $what)),
                }
            }

            fn call(
                &self,
                inputs: Vec<DynTensor>,
                _weights: &Weights<'_>,
                _training: bool,
            ) -> Result<DynTensor, String> {
                global_pool(only(inputs)?, $max, self.keepdims)
            }

            /// `GlobalAveragePooling1D` averages the unmasked steps only; the others drop masks.
            fn mask_policy(&self) -> MaskPolicy {
                if $masks {
                    MaskPolicy::Own
                } else {
                    MaskPolicy::Drop
                }
            }

            fn call_masked(
                &self,
                inputs: Vec<DynTensor>,
                masks: &[Option<Mask>],
                _weights: &Weights<'_>,
                _training: bool,
            ) -> Result<(DynTensor, Option<Mask>), String> {
                let x = only(inputs)?;
                match (x, masks.first().cloned().flatten()) {
                    (DynTensor::R3(x), Some(mask)) => {
                        Ok((masked_mean(x, mask, self.keepdims), None))
                    }
                    (x, _) => Ok((global_pool(x, $max, self.keepdims)?, None)),
                }
            }
        }
    };
}

global_spec!(
    GlobalAveragePooling2d,
    "GlobalAveragePooling2D",
    3,
    "images (None, height, width, channels)",
    false,
    "Mean over height and width: `[batch, h, w, c]` → `[batch, c]` (Keras `GlobalAveragePooling2D`)."
);
global_spec!(
    GlobalMaxPooling2d,
    "GlobalMaxPooling2D",
    3,
    "images (None, height, width, channels)",
    true,
    "Max over height and width: `[batch, h, w, c]` → `[batch, c]` (Keras `GlobalMaxPooling2D`)."
);

global_spec!(
    GlobalAveragePooling3d,
    "GlobalAveragePooling3D",
    4,
    "volumes (None, d1, d2, d3, channels)",
    false,
    "Mean over the three spatial axes: `[batch, d1, d2, d3, c]` → `[batch, c]` (Keras `GlobalAveragePooling3D`)."
);
global_spec!(
    GlobalMaxPooling3d,
    "GlobalMaxPooling3D",
    4,
    "volumes (None, d1, d2, d3, channels)",
    true,
    "Max over the three spatial axes: `[batch, d1, d2, d3, c]` → `[batch, c]` (Keras `GlobalMaxPooling3D`)."
);

global_spec!(
    GlobalAveragePooling1d,
    "GlobalAveragePooling1D",
    2,
    "sequences (None, steps, channels)",
    false,
    "Mean over the steps: `[batch, steps, c]` → `[batch, c]` (Keras `GlobalAveragePooling1D`); \
     with a mask (`Masking`, `Embedding(mask_zero)`), over the unmasked steps only.",
    true
);
global_spec!(
    GlobalMaxPooling1d,
    "GlobalMaxPooling1D",
    2,
    "sequences (None, steps, channels)",
    true,
    "Max over the steps: `[batch, steps, c]` → `[batch, c]` (Keras `GlobalMaxPooling1D`)."
);

/// Keras's masked `GlobalAveragePooling1D`: `Σ x·m / Σ m` over the steps (a sequence with every
/// step masked gives 0/0, NaN, as in Keras).
fn masked_mean(x: burn::tensor::Tensor<3>, mask: Mask, keepdims: bool) -> DynTensor {
    let [b, _, c] = x.dims();
    let m = mask.unsqueeze_dim::<3>(2);
    let mean = (x * m.clone()).sum_dim(1) / m.sum_dim(1);
    if keepdims {
        DynTensor::R3(mean)
    } else {
        DynTensor::R2(mean.reshape([b, c]))
    }
}

/// Max or mean over every axis between the batch and the channels.
fn global_pool(x: DynTensor, max: bool, keepdims: bool) -> Result<DynTensor, String> {
    let rank = x.rank();
    let flat = match x {
        DynTensor::R5(x) => {
            let [b, d1, d2, d3, c] = x.dims();
            x.reshape([b, d1 * d2 * d3, c])
        }
        DynTensor::R4(x) => {
            let [b, h, w, c] = x.dims();
            x.reshape([b, h * w, c])
        }
        DynTensor::R3(x) => x,
        DynTensor::R2(_) => return Err("global pooling needs sequences, images or volumes".into()),
    };
    let [b, _, c] = flat.dims();
    let y = if max {
        flat.max_dim(1)
    } else {
        flat.mean_dim(1)
    };
    Ok(match (keepdims, rank) {
        (true, 3) => DynTensor::R3(y.reshape([b, 1, c])),
        (true, 4) => DynTensor::R4(y.reshape([b, 1, 1, c])),
        (true, _) => DynTensor::R5(y.reshape([b, 1, 1, 1, c])),
        (false, _) => DynTensor::R2(y.reshape([b, c])),
    })
}
