//! `MaxPooling2d` and `AveragePooling2d` over channels-last images.

use burn::tensor::Tensor;
use burn::tensor::module::{avg_pool2d, max_pool2d};
use burn::tensor::ops::{AvgPoolOptions, MaxPoolOptions};
use serde::{Deserialize, Serialize};

use super::conv_utils::{
    Geometry, Padding, axis, channels_last, default_format, optional_pair, pair,
};
use super::{Layer, Weights, config_of, only, setters};
use crate::shape::Shape;
use crate::tensor::DynTensor;

fn two() -> [usize; 2] {
    [2, 2]
}

/// The options both 2-D poolings share (Keras `pool_size`, `strides`, `padding`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pool2dOptions {
    /// Window `[height, width]` (default 2x2).
    #[serde(default = "two", deserialize_with = "pair")]
    pub pool_size: [usize; 2],
    /// Step; `None` (Keras `null`) means the pool size.
    #[serde(default, deserialize_with = "optional_pair")]
    pub strides: Option<[usize; 2]>,
    /// `valid` (default) or `same`.
    #[serde(default)]
    pub padding: Padding,
    /// Only `channels_last`.
    #[serde(default = "default_format", deserialize_with = "channels_last")]
    pub data_format: String,
}

impl Pool2dOptions {
    fn new(pool_size: usize) -> Self {
        Self {
            pool_size: [pool_size; 2],
            strides: None,
            padding: Padding::Valid,
            data_format: default_format(),
        }
    }

    pub(crate) fn strides(&self) -> [usize; 2] {
        self.strides.unwrap_or(self.pool_size)
    }

    pub(crate) fn geometry(&self, input: &Shape, class: &str) -> Geometry {
        let &[h, w, _c] = input.dims() else {
            return Err(format!(
                "{class} needs images (None, height, width, channels), got {input}"
            ));
        };
        let strides = self.strides();
        if self.pool_size.contains(&0) || strides.contains(&0) {
            return Err("pool_size and strides must be at least 1".into());
        }
        super::conv_utils::no_causal(self.padding, class)?;
        let mut out = [0; 2];
        let mut pads = [(0, 0); 2];
        for (i, size) in [h, w].into_iter().enumerate() {
            let (o, p) =
                axis(size, self.pool_size[i], strides[i], 1, self.padding).ok_or_else(|| {
                    format!("the {:?} window does not fit in {input}", self.pool_size)
                })?;
            out[i] = o;
            pads[i] = p;
        }
        Ok((out, pads))
    }

    fn output_shape(&self, input: &Shape, class: &str) -> Result<Shape, String> {
        let ([oh, ow], _) = self.geometry(input, class)?;
        Ok(Shape(vec![oh, ow, input.last().unwrap_or(0)]))
    }
}

macro_rules! pool_spec {
    ($name:ident, $keras:literal, $doc:literal, $max:expr) => {
        #[doc = $doc]
        #[doc(alias = $keras)]
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Pool2dOptions);

        impl $name {
            /// A square `pool_size` window, strides equal to the window, `valid` padding.
            pub fn new(pool_size: usize) -> Self {
                Self(Pool2dOptions::new(pool_size))
            }
        }

        setters!($name [0] {
            /// Sets the strides (default: the window).
            strides: Option<[usize; 2]>,
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

            fn call(
                &self,
                inputs: Vec<DynTensor>,
                _weights: &Weights<'_>,
                _training: bool,
            ) -> Result<DynTensor, String> {
                let DynTensor::R4(x) = only(inputs)? else {
                    return Err(format!("{} needs a batch of images [batch, h, w, c]", $keras));
                };
                let [_, h, w, c] = x.dims();
                let (_, padding) = self.0.geometry(&Shape(vec![h, w, c]), $keras)?;
                let pool = Pool2d {
                    max: $max,
                    pool_size: self.0.pool_size,
                    strides: self.0.strides(),
                    padding,
                };
                Ok(DynTensor::R4(pool.pool(x)))
            }
        }
    };
}

pool_spec!(
    MaxPooling2d,
    "MaxPooling2D",
    "Max over windows of images `[batch, h, w, c]` (Keras `MaxPooling2D`; padded cells are ignored).",
    true
);
pool_spec!(
    AveragePooling2d,
    "AveragePooling2D",
    "Mean over windows of images `[batch, h, w, c]` (Keras `AveragePooling2D`; with `same` padding the mean is over the real cells only).",
    false
);

/// One 2-D pooling over `[batch, h, w, c]` (run through burn's NCHW kernels).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Pool2d {
    pub(crate) max: bool,
    pub(crate) pool_size: [usize; 2],
    pub(crate) strides: [usize; 2],
    pub(crate) padding: [(usize, usize); 2],
}

impl Pool2d {
    pub(crate) fn pool(&self, x: Tensor<4>) -> Tensor<4> {
        #[cfg(feature = "flex")]
        if self.max
            && let Some(y) =
                crate::fast::max_pool2d::max_pool2d(&x, self.pool_size, self.strides, self.padding)
        {
            return y;
        }
        let x = x.permute([0, 3, 1, 2]);
        let y = if self.max {
            let options = MaxPoolOptions::new(self.pool_size)
                .with_stride(self.strides)
                .with_padding_pairs(self.padding);
            max_pool2d(x, options)
        } else {
            let options = AvgPoolOptions::new(self.pool_size)
                .with_stride(self.strides)
                .with_padding_pairs(self.padding)
                .with_count_include_pad(false);
            avg_pool2d(x, options)
        };
        y.permute([0, 2, 3, 1])
    }
}
