//! `GlobalAveragePooling1d/2d` and `GlobalMaxPooling1d/2d`: one value per channel.

use burn::module::Module;
use serde::{Deserialize, Serialize};

use super::conv_utils::{channels_last, default_format};
use crate::shape::Shape;
use crate::tensor::DynTensor;

macro_rules! global_spec {
    ($name:ident, $keras:literal, $rank:literal, $what:literal, $doc:literal) => {
        #[doc = $doc]
        #[doc(alias = $keras)]
        #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
        pub struct $name {
            /// The layer's name.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub name: Option<String>,
            /// Only `channels_last`.
            #[serde(default = "default_format", deserialize_with = "channels_last")]
            pub data_format: String,
        }

        impl $name {
            /// The layer.
            pub fn new() -> Self {
                Self {
                    name: None,
                    data_format: default_format(),
                }
            }

            /// Sets the layer name.
            pub fn name(mut self, name: impl Into<String>) -> Self {
                self.name = Some(name.into());
                self
            }

            pub(crate) fn output_shape(&self, input: &Shape) -> Result<Shape, String> {
                match input.dims() {
                    dims if dims.len() == $rank => Ok(Shape(vec![dims[$rank - 1]])),
                    _ => Err(format!("{} needs {}, got {input}", $keras, $what)),
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
    "Mean over height and width: `[batch, h, w, c]` → `[batch, c]` (Keras `GlobalAveragePooling2D`)."
);
global_spec!(
    GlobalMaxPooling2d,
    "GlobalMaxPooling2D",
    3,
    "images (None, height, width, channels)",
    "Max over height and width: `[batch, h, w, c]` → `[batch, c]` (Keras `GlobalMaxPooling2D`)."
);

global_spec!(
    GlobalAveragePooling1d,
    "GlobalAveragePooling1D",
    2,
    "sequences (None, steps, channels)",
    "Mean over the steps: `[batch, steps, c]` → `[batch, c]` (Keras `GlobalAveragePooling1D`)."
);
global_spec!(
    GlobalMaxPooling1d,
    "GlobalMaxPooling1D",
    2,
    "sequences (None, steps, channels)",
    "Max over the steps: `[batch, steps, c]` → `[batch, c]` (Keras `GlobalMaxPooling1D`)."
);

/// A built global pooling (no weights), 1-D or 2-D by the input's rank.
#[derive(Module, Debug)]
pub struct GlobalPool2dLayer {
    #[module(skip)]
    pub(crate) max: bool,
}

impl GlobalPool2dLayer {
    /// Pools `[batch, h, w, c]` or `[batch, steps, c]` to `[batch, c]`.
    pub fn forward(&self, x: DynTensor) -> DynTensor {
        let flat = match x {
            DynTensor::R4(x) => {
                let [b, h, w, c] = x.dims();
                x.reshape([b, h * w, c])
            }
            DynTensor::R3(x) => x,
            other => return other,
        };
        let [b, _, c] = flat.dims();
        let y = if self.max {
            flat.max_dim(1)
        } else {
            flat.mean_dim(1)
        };
        DynTensor::R2(y.reshape([b, c]))
    }
}
