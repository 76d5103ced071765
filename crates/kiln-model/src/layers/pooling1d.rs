//! `MaxPooling1d` and `AveragePooling1d` over channels-last sequences.

use burn::module::Module;
use serde::{Deserialize, Serialize};

use super::conv_utils::{Padding, axis, channels_last, default_format, optional_single, single};
use super::pooling2d::Pool2dLayer;
use crate::shape::Shape;
use crate::tensor::DynTensor;

fn two() -> usize {
    2
}

/// The options both 1-D poolings share (Keras `pool_size`, `strides`, `padding`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pool1dOptions {
    /// The layer's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
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
        axis(steps, self.pool_size, stride, 1, self.padding)
            .ok_or_else(|| format!("the window of {} does not fit in {input}", self.pool_size))
    }

    fn output_shape(&self, input: &Shape, class: &str) -> Result<Shape, String> {
        let (steps, _) = self.geometry(input, class)?;
        Ok(Shape(vec![steps, input.last().unwrap_or(0)]))
    }

    fn built(&self, input: &Shape, max: bool) -> Pool1dLayer {
        let (_, padding) = self.geometry(input, "").unwrap_or((0, (0, 0)));
        let stride = self.strides.unwrap_or(self.pool_size);
        Pool1dLayer {
            inner: Pool2dLayer::new(max, [1, self.pool_size], [1, stride], [(0, 0), padding]),
        }
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
            /// A `pool_size` window, stride equal to it, `valid` padding.
            pub fn new(pool_size: usize) -> Self {
                Self(Pool1dOptions {
                    name: None,
                    pool_size,
                    strides: None,
                    padding: Padding::Valid,
                    data_format: default_format(),
                })
            }

            /// Sets the stride.
            pub fn strides(mut self, strides: usize) -> Self {
                self.0.strides = Some(strides);
                self
            }

            /// Sets the padding.
            pub fn padding(mut self, padding: Padding) -> Self {
                self.0.padding = padding;
                self
            }

            /// Sets the layer name.
            pub fn name(mut self, name: impl Into<String>) -> Self {
                self.0.name = Some(name.into());
                self
            }

            pub(crate) fn output_shape(&self, input: &Shape) -> Result<Shape, String> {
                self.0.output_shape(input, $keras)
            }

            pub(crate) fn build(&self, input: &Shape) -> Pool1dLayer {
                self.0.built(input, $max)
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

/// A built 1-D pooling (no weights): a 2-D pooling over a height of one.
#[derive(Module, Debug)]
pub struct Pool1dLayer {
    inner: Pool2dLayer,
}

impl Pool1dLayer {
    /// Pools `[batch, steps, c]`.
    pub fn forward(&self, x: DynTensor) -> DynTensor {
        let DynTensor::R3(x) = x else {
            return x;
        };
        let y = self.inner.pool(x.unsqueeze_dim::<4>(1));
        let [b, _, steps, c] = y.dims();
        DynTensor::R3(y.reshape([b, steps, c]))
    }
}
