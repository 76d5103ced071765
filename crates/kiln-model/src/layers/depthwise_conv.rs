//! `DepthwiseConv1d`, `DepthwiseConv2d`: one convolution per input channel (Keras
//! `DepthwiseConv1D`, `DepthwiseConv2D`), and the core `SeparableConv*` share.

use burn::tensor::Tensor;
use burn::tensor::ops::ConvOptions;
use serde::{Deserialize, Serialize};

use super::conv_utils::{
    Geometry, Padding, axis, channels_last, default_format, no_causal, ones, pair, single,
};
use super::conv2d::conv_nhwc;
use super::kernel::activated;
use super::{Layer, WeightBuilder, WeightSpec, Weights, config_of, only, setters};
use crate::activation::Activation;
use crate::initializer::Initializer;
use crate::regularizer::Regularizer;
use crate::shape::Shape;
use crate::tensor::DynTensor;

fn one() -> usize {
    1
}

/// The output size and padding of a 2-D window over `[h, w]`.
pub(crate) fn window(
    [h, w]: [usize; 2],
    kernel: [usize; 2],
    strides: [usize; 2],
    dilation: [usize; 2],
    padding: Padding,
    class: &str,
) -> Geometry {
    if kernel.contains(&0) || strides.contains(&0) || dilation.contains(&0) {
        return Err("kernel_size, strides and dilation_rate must be at least 1".into());
    }
    no_causal(padding, class)?;
    let mut out = [0; 2];
    let mut pads = [(0, 0); 2];
    for (i, size) in [h, w].into_iter().enumerate() {
        let (o, p) = axis(size, kernel[i], strides[i], dilation[i], padding).ok_or_else(|| {
            format!(
                "the {kernel:?} window (dilation {dilation:?}) does not fit in ({h}, {w}) with \
                 `valid` padding"
            )
        })?;
        out[i] = o;
        pads[i] = p;
    }
    Ok((out, pads))
}

/// The depthwise convolution of `x` `[b, h, w, c]` by `kernel` `[kh, kw, c, m]` (Keras's
/// layout): channel `c`'s `m` outputs at `c·m + j`, a grouped convolution with one group per
/// channel.
pub(crate) fn depthwise_nhwc(
    x: Tensor<4>,
    kernel: Tensor<4>,
    bias: Option<Tensor<1>>,
    strides: [usize; 2],
    padding: [(usize, usize); 2],
    dilation: [usize; 2],
) -> Tensor<4> {
    let [kh, kw, c, m] = kernel.dims();
    let kernel = kernel.reshape([kh, kw, 1, c * m]);
    conv_nhwc(
        x,
        kernel,
        bias,
        ConvOptions::new_with_padding(strides, padding, dilation, c),
    )
}

/// The weights of a depthwise step: `depthwise_kernel` `[.., c, depth_multiplier]`.
pub(crate) fn declare_depthwise(
    weights: &mut WeightBuilder,
    shape: Vec<usize>,
    initializer: Initializer,
    regularizer: Option<Regularizer>,
) -> Result<(), String> {
    let spec = WeightSpec::new("depthwise_kernel", shape, initializer).regularizer(regularizer);
    weights.add_weight(spec)?;
    Ok(())
}

macro_rules! depthwise_layer {
    (
        $(#[$doc:meta])* $ty:ident, $class:literal, $kernel_ty:ty, $de:literal,
        $default_stride:literal, $rank_what:literal
    ) => {
        $(#[$doc])*
        #[doc(alias = $class)]
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        pub struct $ty {
            /// The window.
            #[serde(deserialize_with = $de)]
            pub kernel_size: $kernel_ty,
            /// The step (default 1).
            #[serde(default = $default_stride, deserialize_with = $de)]
            pub strides: $kernel_ty,
            /// `valid` (default) or `same`.
            #[serde(default)]
            pub padding: Padding,
            /// Outputs per input channel (default 1).
            #[serde(default = "one")]
            pub depth_multiplier: usize,
            /// Spacing of the kernel taps (default 1).
            #[serde(default = $default_stride, deserialize_with = $de)]
            pub dilation_rate: $kernel_ty,
            /// Applied to the output (default linear).
            #[serde(default, deserialize_with = "crate::layers::activation_or_null")]
            pub activation: Activation,
            /// Whether to add a bias (default true).
            #[serde(default = "crate::layers::yes")]
            pub use_bias: bool,
            /// How the depthwise kernel is filled (default glorot-uniform).
            #[serde(default = "crate::layers::glorot")]
            pub depthwise_initializer: Initializer,
            /// How the bias is filled (default zeros).
            #[serde(default)]
            pub bias_initializer: Initializer,
            /// Penalty on the depthwise kernel.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub depthwise_regularizer: Option<Regularizer>,
            /// Penalty on the bias.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub bias_regularizer: Option<Regularizer>,
            /// Only `channels_last`.
            #[serde(default = "default_format", deserialize_with = "channels_last")]
            pub data_format: String,
        }

        setters!($ty {
            /// Sets the strides.
            strides: $kernel_ty,
            /// Sets the padding.
            padding: Padding,
            /// Sets the outputs per input channel.
            depth_multiplier: usize,
            /// Sets the dilation.
            dilation_rate: $kernel_ty,
            /// Sets the activation.
            activation: Activation,
            /// Whether to add a bias.
            use_bias: bool,
            /// Sets the depthwise kernel's initializer.
            depthwise_initializer: Initializer,
            /// Sets the bias initializer.
            bias_initializer: Initializer,
            /// Adds a penalty on the depthwise kernel.
            depthwise_regularizer: Option<Regularizer>,
            /// Adds a penalty on the bias.
            bias_regularizer: Option<Regularizer>,
        });

        impl Layer for $ty {
            fn class_name(&self) -> &str {
                $class
            }

            fn config(&self) -> serde_json::Value {
                config_of(self)
            }

            fn output_shape(&self, inputs: &[Shape]) -> Result<Shape, String> {
                let input = only(inputs)?;
                let (spatial, c) = self.spatial(input)?;
                let (out, _) = self.geometry(spatial)?;
                let channels = c
                    .checked_mul(self.depth_multiplier)
                    .filter(|&n| n > 0)
                    .ok_or("depth_multiplier must be at least 1")?;
                let mut dims = self.spatial_out(out);
                dims.push(channels);
                Ok(Shape(dims))
            }

            fn build(&self, inputs: &[Shape], weights: &mut WeightBuilder) -> Result<(), String> {
                let (_, c) = self.spatial(only(inputs)?)?;
                let mut shape = self.kernel_dims();
                shape.extend([c, self.depth_multiplier]);
                declare_depthwise(
                    weights,
                    shape,
                    self.depthwise_initializer,
                    self.depthwise_regularizer,
                )?;
                if self.use_bias {
                    let bias = WeightSpec::new(
                        "bias",
                        [c * self.depth_multiplier],
                        self.bias_initializer,
                    );
                    weights.add_weight(bias.regularizer(self.bias_regularizer))?;
                }
                Ok(())
            }

            fn call(
                &self,
                inputs: Vec<DynTensor>,
                weights: &Weights<'_>,
                training: bool,
            ) -> Result<DynTensor, String> {
                activated(self.call_pre_activation(inputs, weights, training))
            }

            fn call_pre_activation(
                &self,
                inputs: Vec<DynTensor>,
                weights: &Weights<'_>,
                _training: bool,
            ) -> Result<(DynTensor, Activation), String> {
                let x = only(inputs)?;
                let y = self.forward(x, weights)?;
                Ok((y, self.activation))
            }
        }
    };
}

depthwise_layer!(
    /// A depthwise 2-D convolution over images `[batch, h, w, c]` (Keras `DepthwiseConv2D`):
    /// each input channel has its own `depth_multiplier` filters, and sees no other channel —
    /// MobileNet's building block. Kernel `depthwise_kernel` `[kh, kw, c, depth_multiplier]`
    /// (Keras's layout); output channels `c · depth_multiplier`.
    ///
    /// # Examples
    /// ```
    /// use kiln_model::{DepthwiseConv2d, Input, Sequential};
    /// let model = Sequential::new().add(Input::new([8, 8, 3]))
    ///     .add(DepthwiseConv2d::new(3).depth_multiplier(2))
    ///     .build(&burn::tensor::Device::flex())?;
    /// assert_eq!(model.output_shape().to_string(), "(None, 6, 6, 6)");
    /// assert_eq!(model.count_params(), 3 * 3 * 3 * 2 + 6);
    /// # Ok::<(), kiln_model::Error>(())
    /// ```
    DepthwiseConv2d, "DepthwiseConv2D", [usize; 2], "pair", "ones", "images"
);

depthwise_layer!(
    /// A depthwise 1-D convolution over sequences `[batch, steps, c]` (Keras
    /// `DepthwiseConv1D`). Kernel `depthwise_kernel` `[k, c, depth_multiplier]`.
    ///
    /// # Examples
    /// ```
    /// use kiln_model::{DepthwiseConv1d, Input, Sequential};
    /// let model = Sequential::new().add(Input::new([10, 4]))
    ///     .add(DepthwiseConv1d::new(3))
    ///     .build(&burn::tensor::Device::flex())?;
    /// assert_eq!(model.output_shape().to_string(), "(None, 8, 4)");
    /// # Ok::<(), kiln_model::Error>(())
    /// ```
    DepthwiseConv1d, "DepthwiseConv1D", usize, "single", "one", "sequences"
);

impl DepthwiseConv2d {
    /// A square `kernel_size` window, one filter per channel, stride 1, `valid` padding.
    pub fn new(kernel_size: usize) -> Self {
        Self {
            kernel_size: [kernel_size; 2],
            strides: [1, 1],
            padding: Padding::Valid,
            depth_multiplier: 1,
            dilation_rate: [1, 1],
            activation: Activation::Linear,
            use_bias: true,
            depthwise_initializer: Initializer::GlorotUniform,
            bias_initializer: Initializer::Zeros,
            depthwise_regularizer: None,
            bias_regularizer: None,
            data_format: default_format(),
        }
    }

    fn spatial(&self, input: &Shape) -> Result<([usize; 2], usize), String> {
        match *input.dims() {
            [h, w, c] => Ok(([h, w], c)),
            _ => Err(format!(
                "DepthwiseConv2D needs images (None, height, width, channels), got {input}"
            )),
        }
    }

    fn geometry(&self, spatial: [usize; 2]) -> Geometry {
        window(
            spatial,
            self.kernel_size,
            self.strides,
            self.dilation_rate,
            self.padding,
            "DepthwiseConv2D",
        )
    }

    fn spatial_out(&self, out: [usize; 2]) -> Vec<usize> {
        out.to_vec()
    }

    fn kernel_dims(&self) -> Vec<usize> {
        self.kernel_size.to_vec()
    }

    fn forward(&self, x: DynTensor, weights: &Weights<'_>) -> Result<DynTensor, String> {
        let DynTensor::R4(x) = x else {
            return Err("DepthwiseConv2D needs a batch of images [batch, h, w, c]".into());
        };
        let [_, h, w, _] = x.dims();
        let (_, pads) = self.geometry([h, w])?;
        Ok(DynTensor::R4(depthwise_nhwc(
            x,
            weights.at::<4>(0)?,
            weights.optional::<1>("bias")?,
            self.strides,
            pads,
            self.dilation_rate,
        )))
    }
}

impl DepthwiseConv1d {
    /// A `kernel_size` window, one filter per channel, stride 1, `valid` padding.
    pub fn new(kernel_size: usize) -> Self {
        Self {
            kernel_size,
            strides: 1,
            padding: Padding::Valid,
            depth_multiplier: 1,
            dilation_rate: 1,
            activation: Activation::Linear,
            use_bias: true,
            depthwise_initializer: Initializer::GlorotUniform,
            bias_initializer: Initializer::Zeros,
            depthwise_regularizer: None,
            bias_regularizer: None,
            data_format: default_format(),
        }
    }

    fn spatial(&self, input: &Shape) -> Result<([usize; 2], usize), String> {
        match *input.dims() {
            [steps, c] => Ok(([1, steps], c)),
            _ => Err(format!(
                "DepthwiseConv1D needs sequences (None, steps, channels), got {input}"
            )),
        }
    }

    fn geometry(&self, spatial: [usize; 2]) -> Geometry {
        window(
            spatial,
            [1, self.kernel_size],
            [1, self.strides],
            [1, self.dilation_rate],
            self.padding,
            "DepthwiseConv1D",
        )
    }

    fn spatial_out(&self, out: [usize; 2]) -> Vec<usize> {
        vec![out[1]]
    }

    fn kernel_dims(&self) -> Vec<usize> {
        vec![self.kernel_size]
    }

    fn forward(&self, x: DynTensor, weights: &Weights<'_>) -> Result<DynTensor, String> {
        let DynTensor::R3(x) = x else {
            return Err("DepthwiseConv1D needs a batch of sequences [batch, steps, c]".into());
        };
        let [b, steps, _] = x.dims();
        let (_, pads) = self.geometry([1, steps])?;
        let y = depthwise_nhwc(
            x.unsqueeze_dim::<4>(1),
            weights.at::<3>(0)?.unsqueeze_dim::<4>(0),
            weights.optional::<1>("bias")?,
            [1, self.strides],
            pads,
            [1, self.dilation_rate],
        );
        let [_, _, out, channels] = y.dims();
        Ok(DynTensor::R3(y.reshape([b, out, channels])))
    }
}
