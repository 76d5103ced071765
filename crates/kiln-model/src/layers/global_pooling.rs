//! `GlobalAveragePooling1d/2d` and `GlobalMaxPooling1d/2d`: one value per channel.

use serde::{Deserialize, Serialize};

use super::conv_utils::{channels_last, default_format};
use super::{Layer, Weights, config_of, only};
use crate::shape::Shape;
use crate::tensor::DynTensor;

macro_rules! global_spec {
    ($name:ident, $keras:literal, $rank:literal, $what:literal, $max:literal, $doc:literal) => {
        #[doc = $doc]
        #[doc(alias = $keras)]
        #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
        pub struct $name {
            /// Only `channels_last`.
            #[serde(default = "default_format", deserialize_with = "channels_last")]
            pub data_format: String,
        }

        impl $name {
            /// Pools over every axis between the batch and the channels.
            pub fn new() -> Self {
                Self {
                    data_format: default_format(),
                }
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
                global_pool(only(inputs)?, $max)
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
    GlobalAveragePooling1d,
    "GlobalAveragePooling1D",
    2,
    "sequences (None, steps, channels)",
    false,
    "Mean over the steps: `[batch, steps, c]` → `[batch, c]` (Keras `GlobalAveragePooling1D`)."
);
global_spec!(
    GlobalMaxPooling1d,
    "GlobalMaxPooling1D",
    2,
    "sequences (None, steps, channels)",
    true,
    "Max over the steps: `[batch, steps, c]` → `[batch, c]` (Keras `GlobalMaxPooling1D`)."
);

/// Max or mean over every axis between the batch and the channels.
fn global_pool(x: DynTensor, max: bool) -> Result<DynTensor, String> {
    let flat = match x {
        DynTensor::R4(x) => {
            let [b, h, w, c] = x.dims();
            x.reshape([b, h * w, c])
        }
        DynTensor::R3(x) => x,
        _ => return Err("global pooling needs sequences or images".into()),
    };
    let [b, _, c] = flat.dims();
    let y = if max {
        flat.max_dim(1)
    } else {
        flat.mean_dim(1)
    };
    Ok(DynTensor::R2(y.reshape([b, c])))
}
