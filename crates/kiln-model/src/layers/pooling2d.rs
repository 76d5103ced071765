//! `MaxPooling2d` and `AveragePooling2d` over channels-last images.

use burn::module::Module;
use burn::tensor::Tensor;
use burn::tensor::module::{avg_pool2d, max_pool2d};
use burn::tensor::ops::{AvgPoolOptions, MaxPoolOptions};
use serde::{Deserialize, Serialize};

use super::conv_utils::{
    Geometry, Padding, axis, channels_last, default_format, optional_pair, pair,
};
use crate::shape::Shape;
use crate::tensor::DynTensor;

fn two() -> [usize; 2] {
    [2, 2]
}

/// The options both 2-D poolings share (Keras `pool_size`, `strides`, `padding`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pool2dOptions {
    /// The layer's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
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
            name: None,
            pool_size: [pool_size; 2],
            strides: None,
            padding: Padding::Valid,
            data_format: default_format(),
        }
    }

    fn strides(&self) -> [usize; 2] {
        self.strides.unwrap_or(self.pool_size)
    }

    fn geometry(&self, input: &Shape, class: &str) -> Geometry {
        let &[h, w, _c] = input.dims() else {
            return Err(format!(
                "{class} needs images (None, height, width, channels), got {input}"
            ));
        };
        let strides = self.strides();
        if self.pool_size.contains(&0) || strides.contains(&0) {
            return Err("pool_size and strides must be at least 1".into());
        }
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

    fn built(&self, input: &Shape, max: bool) -> Pool2dLayer {
        let (_, padding) = self.geometry(input, "").unwrap_or(([0, 0], [(0, 0); 2]));
        Pool2dLayer {
            max,
            pool_size: self.pool_size,
            strides: self.strides(),
            padding,
        }
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
            /// A square `pool_size` window, strides equal to it, `valid` padding.
            pub fn new(pool_size: usize) -> Self {
                Self(Pool2dOptions::new(pool_size))
            }

            /// Sets the strides.
            pub fn strides(mut self, strides: [usize; 2]) -> Self {
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

            pub(crate) fn build(&self, input: &Shape) -> Pool2dLayer {
                self.0.built(input, $max)
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

/// A built 2-D pooling (no weights).
#[derive(Module, Debug)]
pub struct Pool2dLayer {
    #[module(skip)]
    max: bool,
    #[module(skip)]
    pool_size: [usize; 2],
    #[module(skip)]
    strides: [usize; 2],
    #[module(skip)]
    padding: [(usize, usize); 2],
}

impl Pool2dLayer {
    pub(crate) fn new(
        max: bool,
        pool_size: [usize; 2],
        strides: [usize; 2],
        padding: [(usize, usize); 2],
    ) -> Self {
        Self {
            max,
            pool_size,
            strides,
            padding,
        }
    }

    /// Pools `[batch, h, w, c]`.
    pub fn forward(&self, x: DynTensor) -> DynTensor {
        match x {
            DynTensor::R4(x) => DynTensor::R4(self.pool(x)),
            other => other,
        }
    }

    pub(crate) fn pool(&self, x: Tensor<4>) -> Tensor<4> {
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
