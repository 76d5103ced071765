//! `SeparableConv1d`, `SeparableConv2d`: a depthwise convolution then a pointwise (1×1) one
//! (Keras `SeparableConv1D`, `SeparableConv2D`).

use burn::tensor::ops::ConvOptions;
use serde::{Deserialize, Serialize};

use super::conv_utils::{Padding, channels_last, default_format, ones, pair, single};
use super::conv2d::conv_nhwc;
use super::depthwise_conv::{declare_depthwise, depthwise_nhwc, window};
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

macro_rules! separable_layer {
    ($(#[$doc:meta])* $ty:ident, $class:literal, $kernel_ty:ty, $de:literal, $default:literal) => {
        $(#[$doc])*
        #[doc(alias = $class)]
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        pub struct $ty {
            /// Number of output channels.
            pub filters: usize,
            /// The depthwise window.
            #[serde(deserialize_with = $de)]
            pub kernel_size: $kernel_ty,
            /// The step (default 1).
            #[serde(default = $default, deserialize_with = $de)]
            pub strides: $kernel_ty,
            /// `valid` (default) or `same`.
            #[serde(default)]
            pub padding: Padding,
            /// Depthwise outputs per input channel (default 1).
            #[serde(default = "one")]
            pub depth_multiplier: usize,
            /// Spacing of the depthwise kernel's taps (default 1).
            #[serde(default = $default, deserialize_with = $de)]
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
            /// How the pointwise kernel is filled (default glorot-uniform).
            #[serde(default = "crate::layers::glorot")]
            pub pointwise_initializer: Initializer,
            /// How the bias is filled (default zeros).
            #[serde(default)]
            pub bias_initializer: Initializer,
            /// Penalty on the depthwise kernel.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub depthwise_regularizer: Option<Regularizer>,
            /// Penalty on the pointwise kernel.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub pointwise_regularizer: Option<Regularizer>,
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
            /// Sets the depthwise outputs per input channel.
            depth_multiplier: usize,
            /// Sets the dilation.
            dilation_rate: $kernel_ty,
            /// Sets the activation.
            activation: Activation,
            /// Whether to add a bias.
            use_bias: bool,
            /// Sets the depthwise kernel's initializer.
            depthwise_initializer: Initializer,
            /// Sets the pointwise kernel's initializer.
            pointwise_initializer: Initializer,
            /// Sets the bias initializer.
            bias_initializer: Initializer,
            /// Adds a penalty on the depthwise kernel.
            depthwise_regularizer: Option<Regularizer>,
            /// Adds a penalty on the pointwise kernel.
            pointwise_regularizer: Option<Regularizer>,
            /// Adds a penalty on the bias.
            bias_regularizer: Option<Regularizer>,
        });

        impl $ty {
            /// The spatial axes as a 2-D window (a sequence is one row) and the channels.
            fn geometry2(&self, input: &Shape) -> Result<
                (Vec<usize>, [usize; 2], [usize; 2], [usize; 2], [(usize, usize); 2], usize),
                String,
            > {
                let (spatial, kernel, strides, dilation, c) = self.as_2d(input)?;
                let (out, pads) =
                    window(spatial, kernel, strides, dilation, self.padding, $class)?;
                let dims = if input.rank() == 2 { vec![out[1]] } else { out.to_vec() };
                Ok((dims, kernel, strides, dilation, pads, c))
            }
        }

        impl Layer for $ty {
            fn class_name(&self) -> &str {
                $class
            }

            fn config(&self) -> serde_json::Value {
                config_of(self)
            }

            fn output_shape(&self, inputs: &[Shape]) -> Result<Shape, String> {
                if self.filters == 0 || self.depth_multiplier == 0 {
                    return Err("filters and depth_multiplier must be at least 1".into());
                }
                let (mut dims, ..) = self.geometry2(only(inputs)?)?;
                dims.push(self.filters);
                Ok(Shape(dims))
            }

            fn build(&self, inputs: &[Shape], weights: &mut WeightBuilder) -> Result<(), String> {
                let input = only(inputs)?;
                let (_, kernel, _, _, _, c) = self.geometry2(input)?;
                let mut depthwise: Vec<usize> = if input.rank() == 2 {
                    vec![kernel[1]]
                } else {
                    kernel.to_vec()
                };
                let mut pointwise = vec![1; depthwise.len()];
                depthwise.extend([c, self.depth_multiplier]);
                pointwise.extend([c * self.depth_multiplier, self.filters]);
                declare_depthwise(
                    weights,
                    depthwise,
                    self.depthwise_initializer,
                    self.depthwise_regularizer,
                )?;
                let spec = WeightSpec::new("pointwise_kernel", pointwise, self.pointwise_initializer);
                weights.add_weight(spec.regularizer(self.pointwise_regularizer))?;
                if self.use_bias {
                    let bias = WeightSpec::new("bias", [self.filters], self.bias_initializer);
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
                let dims = x.dims();
                let sample = Shape(dims[1..].to_vec());
                let (_, _, strides, dilation, pads, c) = self.geometry2(&sample)?;
                let (x4, depthwise, pointwise) = match x {
                    DynTensor::R4(x) => (x, weights.at::<4>(0)?, weights.at::<4>(1)?),
                    DynTensor::R3(x) => (
                        x.unsqueeze_dim::<4>(1),
                        weights.at::<3>(0)?.unsqueeze_dim::<4>(0),
                        weights.at::<3>(1)?.unsqueeze_dim::<4>(0),
                    ),
                    _ => return Err(format!("{} needs sequences or images", $class)),
                };
                let _ = c;
                let mid = depthwise_nhwc(x4, depthwise, None, strides, pads, dilation);
                let y = conv_nhwc(
                    mid,
                    pointwise,
                    weights.optional::<1>("bias")?,
                    ConvOptions::new([1, 1], [0, 0], [1, 1], 1),
                );
                let out = if dims.len() == 3 {
                    let [b, _, steps, f] = y.dims();
                    DynTensor::R3(y.reshape([b, steps, f]))
                } else {
                    DynTensor::R4(y)
                };
                Ok((out, self.activation))
            }
        }
    };
}

separable_layer!(
    /// A depthwise separable 2-D convolution over images `[batch, h, w, c]` (Keras
    /// `SeparableConv2D`): a depthwise convolution (`depthwise_kernel`
    /// `[kh, kw, c, depth_multiplier]`) then a 1×1 one to `filters` channels
    /// (`pointwise_kernel` `[1, 1, c · depth_multiplier, filters]`) — Xception's building
    /// block, with far fewer weights than a full convolution.
    ///
    /// # Examples
    /// ```
    /// use kiln_model::{Input, SeparableConv2d, Sequential};
    /// let model = Sequential::new().add(Input::new([8, 8, 3]))
    ///     .add(SeparableConv2d::new(16, 3))
    ///     .build(&burn::tensor::Device::flex())?;
    /// assert_eq!(model.output_shape().to_string(), "(None, 6, 6, 16)");
    /// assert_eq!(model.count_params(), 3 * 3 * 3 + 3 * 16 + 16);
    /// # Ok::<(), kiln_model::Error>(())
    /// ```
    SeparableConv2d, "SeparableConv2D", [usize; 2], "pair", "ones"
);

separable_layer!(
    /// A depthwise separable 1-D convolution over sequences `[batch, steps, c]` (Keras
    /// `SeparableConv1D`): `depthwise_kernel` `[k, c, depth_multiplier]`, then
    /// `pointwise_kernel` `[1, c · depth_multiplier, filters]`.
    ///
    /// # Examples
    /// ```
    /// use kiln_model::{Input, SeparableConv1d, Sequential};
    /// let model = Sequential::new().add(Input::new([10, 4]))
    ///     .add(SeparableConv1d::new(8, 3))
    ///     .build(&burn::tensor::Device::flex())?;
    /// assert_eq!(model.output_shape().to_string(), "(None, 8, 8)");
    /// # Ok::<(), kiln_model::Error>(())
    /// ```
    SeparableConv1d, "SeparableConv1D", usize, "single", "one"
);

fn defaults<K: Copy>(filters: usize, kernel: K, unit: K) -> (usize, K, K, K) {
    (filters, kernel, unit, unit)
}

impl SeparableConv2d {
    /// `filters` outputs, a square `kernel_size` depthwise window, stride 1, `valid` padding.
    pub fn new(filters: usize, kernel_size: usize) -> Self {
        let (filters, kernel_size, strides, dilation_rate) =
            defaults(filters, [kernel_size; 2], [1, 1]);
        Self {
            filters,
            kernel_size,
            strides,
            padding: Padding::Valid,
            depth_multiplier: 1,
            dilation_rate,
            activation: Activation::Linear,
            use_bias: true,
            depthwise_initializer: Initializer::GlorotUniform,
            pointwise_initializer: Initializer::GlorotUniform,
            bias_initializer: Initializer::Zeros,
            depthwise_regularizer: None,
            pointwise_regularizer: None,
            bias_regularizer: None,
            data_format: default_format(),
        }
    }

    #[allow(clippy::type_complexity)]
    fn as_2d(
        &self,
        input: &Shape,
    ) -> Result<([usize; 2], [usize; 2], [usize; 2], [usize; 2], usize), String> {
        match *input.dims() {
            [h, w, c] => Ok((
                [h, w],
                self.kernel_size,
                self.strides,
                self.dilation_rate,
                c,
            )),
            _ => Err(format!(
                "SeparableConv2D needs images (None, height, width, channels), got {input}"
            )),
        }
    }
}

impl SeparableConv1d {
    /// `filters` outputs, a `kernel_size` depthwise window, stride 1, `valid` padding.
    pub fn new(filters: usize, kernel_size: usize) -> Self {
        let (filters, kernel_size, strides, dilation_rate) = defaults(filters, kernel_size, 1);
        Self {
            filters,
            kernel_size,
            strides,
            padding: Padding::Valid,
            depth_multiplier: 1,
            dilation_rate,
            activation: Activation::Linear,
            use_bias: true,
            depthwise_initializer: Initializer::GlorotUniform,
            pointwise_initializer: Initializer::GlorotUniform,
            bias_initializer: Initializer::Zeros,
            depthwise_regularizer: None,
            pointwise_regularizer: None,
            bias_regularizer: None,
            data_format: default_format(),
        }
    }

    #[allow(clippy::type_complexity)]
    fn as_2d(
        &self,
        input: &Shape,
    ) -> Result<([usize; 2], [usize; 2], [usize; 2], [usize; 2], usize), String> {
        match *input.dims() {
            [steps, c] => Ok((
                [1, steps],
                [1, self.kernel_size],
                [1, self.strides],
                [1, self.dilation_rate],
                c,
            )),
            _ => Err(format!(
                "SeparableConv1D needs sequences (None, steps, channels), got {input}"
            )),
        }
    }
}
