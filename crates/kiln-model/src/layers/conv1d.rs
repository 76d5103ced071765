//! `Conv1d`: 1-D convolution over channels-last sequences.

use burn::module::{Module, Param};
use burn::tensor::Device;
use burn::tensor::Tensor;
use burn::tensor::ops::ConvOptions;
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};

use super::conv_utils::{Padding, axis, channels_last, default_format, single};
use super::conv2d::conv_nhwc;
use super::init::weight;
use crate::activation::Activation;
use crate::initializer::Initializer;
use crate::regularizer::Regularizer;
use crate::shape::Shape;
use crate::tensor::DynTensor;

fn one() -> usize {
    1
}

/// A 1-D convolution over sequences `[batch, steps, channels]` (Keras `Conv1D`, channels-last).
/// Kernel `[kernel_size, in, filters]` (Keras's layout), glorot-uniform; bias zeros.
///
/// # Examples
/// ```
/// use kiln_model::{Activation, Conv1d, Input, Sequential};
/// let model = Sequential::new().add(Input::new([100, 8]))
///     .add(Conv1d::new(16, 5).activation(Activation::Relu))
///     .build(&burn::tensor::Device::flex())?;
/// assert_eq!(model.output_shape().to_string(), "(None, 96, 16)");
/// assert_eq!(model.count_params(), 5 * 8 * 16 + 16);
/// # Ok::<(), kiln_model::Error>(())
/// ```
#[doc(alias = "Conv1D")]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Conv1d {
    /// The layer's name (Keras: `conv1d`, `conv1d_1`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Number of output channels.
    pub filters: usize,
    /// Window length.
    #[serde(deserialize_with = "single")]
    pub kernel_size: usize,
    /// Step (default 1).
    #[serde(default = "one", deserialize_with = "single")]
    pub strides: usize,
    /// `valid` (default) or `same`.
    #[serde(default)]
    pub padding: Padding,
    /// Spacing of the kernel taps (default 1).
    #[serde(default = "one", deserialize_with = "single")]
    pub dilation_rate: usize,
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

impl Conv1d {
    /// `filters` outputs with a `kernel_size` window, stride 1, `valid` padding.
    pub fn new(filters: usize, kernel_size: usize) -> Self {
        Self {
            name: None,
            filters,
            kernel_size,
            strides: 1,
            padding: Padding::Valid,
            dilation_rate: 1,
            activation: Activation::Linear,
            use_bias: true,
            kernel_initializer: Initializer::GlorotUniform,
            bias_initializer: Initializer::Zeros,
            kernel_regularizer: None,
            bias_regularizer: None,
            data_format: default_format(),
        }
    }

    /// Sets the stride.
    pub fn strides(mut self, strides: usize) -> Self {
        self.strides = strides;
        self
    }

    /// Sets the padding.
    pub fn padding(mut self, padding: Padding) -> Self {
        self.padding = padding;
        self
    }

    /// Sets the dilation.
    pub fn dilation_rate(mut self, rate: usize) -> Self {
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

    /// Sets the layer name.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    fn geometry(&self, input: &Shape) -> Result<(usize, (usize, usize)), String> {
        let &[steps, _c] = input.dims() else {
            return Err(format!(
                "Conv1D needs sequences (None, steps, channels), got {input}"
            ));
        };
        if self.filters == 0
            || self.kernel_size == 0
            || self.strides == 0
            || self.dilation_rate == 0
        {
            return Err(
                "filters, kernel_size, strides and dilation_rate must be at least 1".into(),
            );
        }
        axis(
            steps,
            self.kernel_size,
            self.strides,
            self.dilation_rate,
            self.padding,
        )
        .ok_or_else(|| {
            format!(
                "the window of {} (dilation {}) does not fit in {input} with `valid` padding",
                self.kernel_size, self.dilation_rate
            )
        })
    }

    pub(crate) fn output_shape(&self, input: &Shape) -> Result<Shape, String> {
        let (steps, _) = self.geometry(input)?;
        Ok(Shape(vec![steps, self.filters]))
    }

    pub(crate) fn param_count(&self, input: &Shape) -> usize {
        let c = input.last().unwrap_or(0);
        self.kernel_size * c * self.filters + if self.use_bias { self.filters } else { 0 }
    }

    pub(crate) fn build(&self, input: &Shape, rng: &mut StdRng, device: &Device) -> Conv1dLayer {
        let c = input.last().unwrap_or(0);
        let k = self.kernel_size;
        let fans = (k * c, k * self.filters);
        let kernel = weight(
            self.kernel_initializer,
            [k, c, self.filters],
            fans,
            rng,
            device,
        );
        let bias = self
            .use_bias
            .then(|| weight(self.bias_initializer, [self.filters], fans, rng, device));
        let (_, padding) = self.geometry(input).unwrap_or((0, (0, 0)));
        Conv1dLayer {
            kernel,
            bias,
            activation: self.activation,
            stride: self.strides,
            dilation: self.dilation_rate,
            padding,
            kernel_regularizer: self.kernel_regularizer,
            bias_regularizer: self.bias_regularizer,
        }
    }
}

/// The built `Conv1d`: `kernel` `[kernel_size, in, filters]` and optional `bias` `[filters]`.
#[derive(Module, Debug)]
pub struct Conv1dLayer {
    /// `[kernel_size, in, filters]`, Keras's layout.
    pub kernel: Param<Tensor<3>>,
    /// `[filters]`.
    pub bias: Option<Param<Tensor<1>>>,
    /// Applied to the output.
    #[module(skip)]
    pub activation: Activation,
    #[module(skip)]
    stride: usize,
    #[module(skip)]
    dilation: usize,
    #[module(skip)]
    padding: (usize, usize),
    #[module(skip)]
    pub(crate) kernel_regularizer: Option<Regularizer>,
    #[module(skip)]
    pub(crate) bias_regularizer: Option<Regularizer>,
}

impl Conv1dLayer {
    /// The convolution before the activation; `x` is `[batch, steps, c]`. Runs as a 2-D
    /// convolution over a height of one.
    pub fn pre_activation(&self, x: DynTensor) -> DynTensor {
        let DynTensor::R3(x) = x else {
            return x;
        };
        let [b, _, _] = x.dims();
        let options = ConvOptions::new_with_padding(
            [1, self.stride],
            [(0, 0), self.padding],
            [1, self.dilation],
            1,
        );
        let y = conv_nhwc(
            x.unsqueeze_dim::<4>(1),
            self.kernel.val().unsqueeze_dim::<4>(0),
            self.bias.as_ref().map(|b| b.val()),
            options,
        );
        let [_, _, steps, filters] = y.dims();
        DynTensor::R3(y.reshape([b, steps, filters]))
    }

    /// `activation(conv(x) + bias)`.
    pub fn forward(&self, x: DynTensor) -> DynTensor {
        let a = self.activation;
        crate::dyn_map!(self.pre_activation(x), t => a.apply(t))
    }
}
