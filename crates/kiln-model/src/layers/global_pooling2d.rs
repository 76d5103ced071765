//! `GlobalAveragePooling2d` and `GlobalMaxPooling2d`: one value per channel.

use burn::module::Module;
use serde::{Deserialize, Serialize};

use super::conv_utils::{channels_last, default_format};
use crate::shape::Shape;
use crate::tensor::DynTensor;

macro_rules! global_spec {
    ($name:ident, $keras:literal, $doc:literal) => {
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
                    &[_, _, c] => Ok(Shape(vec![c])),
                    _ => Err(format!(
                        "{} needs images (None, height, width, channels), got {input}",
                        $keras
                    )),
                }
            }
        }
    };
}

global_spec!(
    GlobalAveragePooling2d,
    "GlobalAveragePooling2D",
    "Mean over height and width: `[batch, h, w, c]` → `[batch, c]` (Keras `GlobalAveragePooling2D`)."
);
global_spec!(
    GlobalMaxPooling2d,
    "GlobalMaxPooling2D",
    "Max over height and width: `[batch, h, w, c]` → `[batch, c]` (Keras `GlobalMaxPooling2D`)."
);

/// A built global pooling (no weights).
#[derive(Module, Debug)]
pub struct GlobalPool2dLayer {
    #[module(skip)]
    pub(crate) max: bool,
}

impl GlobalPool2dLayer {
    /// Pools `[batch, h, w, c]` to `[batch, c]`.
    pub fn forward(&self, x: DynTensor) -> DynTensor {
        let DynTensor::R4(x) = x else {
            return x;
        };
        let [b, h, w, c] = x.dims();
        let flat = x.reshape([b, h * w, c]);
        let y = if self.max {
            flat.max_dim(1)
        } else {
            flat.mean_dim(1)
        };
        DynTensor::R2(y.reshape([b, c]))
    }
}
