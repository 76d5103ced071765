//! `Conv2d`: 2-D convolution over channels-last images.

use burn::module::{Module, Param};
use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Device, Tensor};
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};

use super::conv_utils::{Geometry, Padding, axis, channels_last, default_format, ones, pair};
use super::init::weight;
use crate::activation::Activation;
use crate::initializer::Initializer;
use crate::regularizer::Regularizer;
use crate::shape::Shape;
use crate::tensor::DynTensor;

/// A 2-D convolution over images `[batch, height, width, channels]` (Keras `Conv2D`,
/// channels-last). Kernel `[kh, kw, in, filters]` (Keras's layout), glorot-uniform; bias zeros.
///
/// # Examples
/// ```
/// use kiln_model::{Activation, Conv2d, Input, Sequential};
/// let model = Sequential::new().add(Input::new([28, 28, 1]))
///     .add(Conv2d::new(32, 3).activation(Activation::Relu))
///     .build(&burn::tensor::Device::flex())?;
/// assert_eq!(model.output_shape().to_string(), "(None, 26, 26, 32)");
/// assert_eq!(model.count_params(), 320);
/// # Ok::<(), kiln_model::Error>(())
/// ```
#[doc(alias = "Conv2D")]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Conv2d {
    /// The layer's name (Keras: `conv2d`, `conv2d_1`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Number of output channels.
    pub filters: usize,
    /// Window `[height, width]`.
    #[serde(deserialize_with = "pair")]
    pub kernel_size: [usize; 2],
    /// Step `[height, width]` (default 1).
    #[serde(default = "ones", deserialize_with = "pair")]
    pub strides: [usize; 2],
    /// `valid` (default) or `same`.
    #[serde(default)]
    pub padding: Padding,
    /// Spacing of the kernel taps (default 1).
    #[serde(default = "ones", deserialize_with = "pair")]
    pub dilation_rate: [usize; 2],
    /// Applied to the output (default linear).
    #[serde(default, deserialize_with = "crate::layers::activation_or_null")]
    pub activation: Activation,
    /// Whether to add a bias (default true).
    #[serde(default = "crate::layers::yes")]
    pub use_bias: bool,
    /// Kernel initializer (default glorot-uniform).
    #[serde(default = "crate::layers::glorot")]
    pub kernel_initializer: Initializer,
    /// Bias initializer (default zeros).
    #[serde(default)]
    pub bias_initializer: Initializer,
    /// Penalty on the kernel added to the training loss (default none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel_regularizer: Option<Regularizer>,
    /// Penalty on the bias added to the training loss (default none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bias_regularizer: Option<Regularizer>,
    /// Only `channels_last`.
    #[serde(default = "default_format", deserialize_with = "channels_last")]
    pub data_format: String,
}

impl Conv2d {
    /// `filters` outputs with a square `kernel_size` window, stride 1, `valid` padding.
    pub fn new(filters: usize, kernel_size: usize) -> Self {
        Self {
            name: None,
            filters,
            kernel_size: [kernel_size; 2],
            strides: [1, 1],
            padding: Padding::Valid,
            dilation_rate: [1, 1],
            activation: Activation::Linear,
            use_bias: true,
            kernel_initializer: Initializer::GlorotUniform,
            bias_initializer: Initializer::Zeros,
            kernel_regularizer: None,
            bias_regularizer: None,
            data_format: default_format(),
        }
    }

    /// Sets a non-square window.
    pub fn kernel_size(mut self, size: [usize; 2]) -> Self {
        self.kernel_size = size;
        self
    }

    /// Sets the strides.
    pub fn strides(mut self, strides: [usize; 2]) -> Self {
        self.strides = strides;
        self
    }

    /// Sets the padding.
    pub fn padding(mut self, padding: Padding) -> Self {
        self.padding = padding;
        self
    }

    /// Sets the dilation.
    pub fn dilation_rate(mut self, rate: [usize; 2]) -> Self {
        self.dilation_rate = rate;
        self
    }

    /// Sets the activation.
    pub fn activation(mut self, activation: Activation) -> Self {
        self.activation = activation;
        self
    }

    /// Whether to add a bias.
    pub fn use_bias(mut self, use_bias: bool) -> Self {
        self.use_bias = use_bias;
        self
    }

    /// Adds a penalty on the kernel to the training loss (Keras `kernel_regularizer`).
    pub fn kernel_regularizer(mut self, regularizer: Regularizer) -> Self {
        self.kernel_regularizer = Some(regularizer);
        self
    }

    /// Adds a penalty on the bias to the training loss (Keras `bias_regularizer`).
    pub fn bias_regularizer(mut self, regularizer: Regularizer) -> Self {
        self.bias_regularizer = Some(regularizer);
        self
    }

    /// Sets the layer name.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    fn geometry(&self, input: &Shape) -> Geometry {
        let &[h, w, _c] = input.dims() else {
            return Err(format!(
                "Conv2D needs images (None, height, width, channels), got {input}"
            ));
        };
        if self.filters == 0
            || self.kernel_size.contains(&0)
            || self.strides.contains(&0)
            || self.dilation_rate.contains(&0)
        {
            return Err(
                "filters, kernel_size, strides and dilation_rate must be at least 1".into(),
            );
        }
        let mut out = [0; 2];
        let mut pads = [(0, 0); 2];
        for (i, size) in [h, w].into_iter().enumerate() {
            let (o, p) = axis(
                size,
                self.kernel_size[i],
                self.strides[i],
                self.dilation_rate[i],
                self.padding,
            )
            .ok_or_else(|| {
                format!(
                    "the {}x{} window (dilation {:?}) does not fit in {input} with `valid` padding",
                    self.kernel_size[0], self.kernel_size[1], self.dilation_rate
                )
            })?;
            out[i] = o;
            pads[i] = p;
        }
        Ok((out, pads))
    }

    pub(crate) fn output_shape(&self, input: &Shape) -> Result<Shape, String> {
        let ([oh, ow], _) = self.geometry(input)?;
        Ok(Shape(vec![oh, ow, self.filters]))
    }

    pub(crate) fn param_count(&self, input: &Shape) -> usize {
        let c = input.last().unwrap_or(0);
        let k = self.kernel_size[0] * self.kernel_size[1] * c * self.filters;
        k + if self.use_bias { self.filters } else { 0 }
    }

    pub(crate) fn build(&self, input: &Shape, rng: &mut StdRng, device: &Device) -> Conv2dLayer {
        let c = input.last().unwrap_or(0);
        let [kh, kw] = self.kernel_size;
        let fans = (kh * kw * c, kh * kw * self.filters);
        let dims = [kh, kw, c, self.filters];
        let kernel = weight(self.kernel_initializer, dims, fans, rng, device);
        let bias = self
            .use_bias
            .then(|| weight(self.bias_initializer, [self.filters], fans, rng, device));
        let (_, pads) = self.geometry(input).unwrap_or(([0, 0], [(0, 0); 2]));
        Conv2dLayer {
            kernel,
            bias,
            activation: self.activation,
            kernel_regularizer: self.kernel_regularizer,
            bias_regularizer: self.bias_regularizer,
            strides: self.strides,
            dilation: self.dilation_rate,
            padding: pads,
        }
    }
}

/// The built `Conv2d`: `kernel` `[kh, kw, in, filters]` and optional `bias` `[filters]`.
#[derive(Module, Debug)]
pub struct Conv2dLayer {
    /// `[kh, kw, in, filters]`, Keras's layout.
    pub kernel: Param<Tensor<4>>,
    /// `[filters]`.
    pub bias: Option<Param<Tensor<1>>>,
    /// Applied to the output.
    #[module(skip)]
    pub activation: Activation,
    #[module(skip)]
    pub(crate) kernel_regularizer: Option<Regularizer>,
    #[module(skip)]
    pub(crate) bias_regularizer: Option<Regularizer>,
    #[module(skip)]
    strides: [usize; 2],
    #[module(skip)]
    dilation: [usize; 2],
    #[module(skip)]
    padding: [(usize, usize); 2],
}

impl Conv2dLayer {
    /// The convolution before the activation; `x` is `[batch, h, w, c]`.
    pub fn pre_activation(&self, x: DynTensor) -> DynTensor {
        let DynTensor::R4(x) = x else {
            return x;
        };
        DynTensor::R4(conv_nhwc(
            x,
            self.kernel.val(),
            self.bias.as_ref().map(|b| b.val()),
            ConvOptions::new_with_padding(self.strides, self.padding, self.dilation, 1),
        ))
    }

    /// `activation(conv(x) + bias)`.
    pub fn forward(&self, x: DynTensor) -> DynTensor {
        let a = self.activation;
        crate::dyn_map!(self.pre_activation(x), t => a.apply(t))
    }
}

/// A convolution in Keras's layouts: `x` `[batch, h, w, c]`, `kernel` `[kh, kw, in, out]`;
/// burn's wants NCHW and `[out, in, kh, kw]`, so both are permuted around the call.
pub(crate) fn conv_nhwc(
    x: Tensor<4>,
    kernel: Tensor<4>,
    bias: Option<Tensor<1>>,
    options: ConvOptions<2>,
) -> Tensor<4> {
    let y = conv2d(
        x.permute([0, 3, 1, 2]),
        kernel.permute([3, 2, 0, 1]),
        bias,
        options,
    );
    y.permute([0, 2, 3, 1])
}
