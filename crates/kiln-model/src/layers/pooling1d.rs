//! `MaxPooling1d` and `AveragePooling1d` over channels-last sequences.

use serde::{Deserialize, Serialize};

use super::conv_utils::{Padding, axis, channels_last, default_format, optional_single, single};
use super::pooling2d::Pool2d;
use super::{Layer, Weights, config_of, only, setters};
use crate::shape::Shape;
use crate::tensor::DynTensor;

fn two() -> usize {
    2
}

/// The options both 1-D poolings share (Keras `pool_size`, `strides`, `padding`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pool1dOptions {
    /// Window length (default 2).
    #[serde(default = "two", deserialize_with = "single")]
    pub pool_size: usize,
    /// Step; `None` (Keras `null`) means the pool size.
    #[serde(default, deserialize_with = "optional_single")]
    pub strides: Option<usize>,
    /// `valid` (default) or `same`.
    #[serde(default)]
    pub padding: Padding,
    /// Only `channels_last`.
    #[serde(default = "default_format", deserialize_with = "channels_last")]
    pub data_format: String,
}

impl Pool1dOptions {
    fn geometry(&self, input: &Shape, class: &str) -> Result<(usize, (usize, usize)), String> {
        let &[steps, _c] = input.dims() else {
            return Err(format!(
                "{class} needs sequences (None, steps, channels), got {input}"
            ));
        };
        let stride = self.strides.unwrap_or(self.pool_size);
        if self.pool_size == 0 || stride == 0 {
            return Err("pool_size and strides must be at least 1".into());
        }
        super::conv_utils::no_causal(self.padding, class)?;
        axis(steps, self.pool_size, stride, 1, self.padding)
            .ok_or_else(|| format!("the window of {} does not fit in {input}", self.pool_size))
    }

    fn output_shape(&self, input: &Shape, class: &str) -> Result<Shape, String> {
        let (steps, _) = self.geometry(input, class)?;
        Ok(Shape(vec![steps, input.last().unwrap_or(0)]))
    }
}

macro_rules! pool_spec {
    ($name:ident, $keras:literal, $doc:literal, $max:expr) => {
        #[doc = $doc]
        #[doc(alias = $keras)]
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Pool1dOptions);

        impl $name {
            /// A `pool_size` window, stride equal to the window, `valid` padding.
            pub fn new(pool_size: usize) -> Self {
                Self(Pool1dOptions {
                    pool_size,
                    strides: None,
                    padding: Padding::Valid,
                    data_format: default_format(),
                })
            }
        }

        setters!($name [0] {
            /// Sets the stride (default: the window).
            strides: Option<usize>,
            /// Sets the padding.
            padding: Padding,
        });

        impl Layer for $name {
            fn class_name(&self) -> &str {
                $keras
            }

            fn config(&self) -> serde_json::Value {
                config_of(self)
            }

            fn output_shape(&self, inputs: &[Shape]) -> Result<Shape, String> {
                self.0.output_shape(only(inputs)?, $keras)
            }

            /// Runs as a 2-D pooling over a height of one.
            fn call(
                &self,
                inputs: Vec<DynTensor>,
                _weights: &Weights<'_>,
                _training: bool,
            ) -> Result<DynTensor, String> {
                let DynTensor::R3(x) = only(inputs)? else {
                    return Err(format!("{} needs a batch of sequences [batch, steps, c]", $keras));
                };
                let [b, steps, c] = x.dims();
                let (_, padding) = self.0.geometry(&Shape(vec![steps, c]), $keras)?;
                let stride = self.0.strides.unwrap_or(self.0.pool_size);
                let pool = Pool2d {
                    max: $max,
                    pool_size: [1, self.0.pool_size],
                    strides: [1, stride],
                    padding: [(0, 0), padding],
                };
                let y = pool.pool(x.unsqueeze_dim::<4>(1));
                let [_, _, steps, c] = y.dims();
                Ok(DynTensor::R3(y.reshape([b, steps, c])))
            }
        }
    };
}

pool_spec!(
    MaxPooling1d,
    "MaxPooling1D",
    "Max over windows of sequences `[batch, steps, c]` (Keras `MaxPooling1D`).",
    true
);
pool_spec!(
    AveragePooling1d,
    "AveragePooling1D",
    "Mean over windows of sequences `[batch, steps, c]` (Keras `AveragePooling1D`; with `same` padding the mean is over the real cells only).",
    false
);
