//! `Conv2d`: 2-D convolution over channels-last images.

use burn::tensor::Tensor;
use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;
use serde::{Deserialize, Serialize};

use super::conv_utils::{Geometry, Padding, axis, channels_last, default_format, ones, pair};
use super::kernel::{KernelOptions, activated, kernel_setters};
use super::{Layer, WeightBuilder, Weights, config_of, only, setters};
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
    /// Channel groups (default 1): input and filters split into `groups` parts, each filter
    /// seeing only its part's channels; the kernel is `[kh, kw, in / groups, filters]`.
    #[serde(default = "super::conv_utils::one")]
    pub groups: usize,
    /// Activation, bias, initializers and regularizers.
    #[serde(flatten)]
    pub kernel: KernelOptions,
    /// Only `channels_last`.
    #[serde(default = "default_format", deserialize_with = "channels_last")]
    pub data_format: String,
}

impl Conv2d {
    /// `filters` outputs with a square `kernel_size` window, stride 1, `valid` padding.
    pub fn new(filters: usize, kernel_size: usize) -> Self {
        Self {
            filters,
            kernel_size: [kernel_size; 2],
            strides: [1, 1],
            padding: Padding::Valid,
            dilation_rate: [1, 1],
            groups: 1,
            kernel: KernelOptions::default(),
            data_format: default_format(),
        }
    }

    fn geometry(&self, input: &Shape) -> Geometry {
        let &[h, w, c] = input.dims() else {
            return Err(format!(
                "Conv2D needs images (None, height, width, channels), got {input}"
            ));
        };
        super::conv_utils::no_causal(self.padding, "Conv2D")?;
        super::conv_utils::check_groups(self.groups, c, self.filters)?;
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
}

setters!(Conv2d {
    /// Sets a non-square window.
    kernel_size: [usize; 2],
    /// Sets the strides.
    strides: [usize; 2],
    /// Sets the padding.
    padding: Padding,
    /// Sets the dilation.
    dilation_rate: [usize; 2],
    /// Sets the channel groups.
    groups: usize,
});
kernel_setters!(Conv2d);

impl Layer for Conv2d {
    fn class_name(&self) -> &str {
        "Conv2D"
    }

    fn config(&self) -> serde_json::Value {
        config_of(self)
    }

    fn output_shape(&self, inputs: &[Shape]) -> Result<Shape, String> {
        let ([oh, ow], _) = self.geometry(only(inputs)?)?;
        Ok(Shape(vec![oh, ow, self.filters]))
    }

    fn build(&self, inputs: &[Shape], weights: &mut WeightBuilder) -> Result<(), String> {
        let c = only(inputs)?.last().unwrap_or(0);
        let [kh, kw] = self.kernel_size;
        let per_group = c / self.groups.max(1);
        self.kernel
            .declare(weights, vec![kh, kw, per_group, self.filters])
    }

    fn call(
        &self,
        inputs: Vec<DynTensor>,
        weights: &Weights<'_>,
        training: bool,
    ) -> Result<DynTensor, String> {
        // On the flex backend a ReLU runs in the convolution's own pass.
        #[cfg(feature = "flex")]
        if self.groups == 1
            && self.kernel.activation == Activation::Relu
            && let [DynTensor::R4(x)] = inputs.as_slice()
        {
            let [_, h, w, c] = x.dims();
            let (_, pads) = self.geometry(&Shape(vec![h, w, c]))?;
            let kernel = weights.at::<4>(0)?;
            let bias = weights.optional::<1>("bias")?;
            let options = (self.strides, pads, self.dilation_rate);
            if let Some(y) = crate::fast::conv2d::conv2d(x, &kernel, bias.as_ref(), options, true) {
                return Ok(DynTensor::R4(y));
            }
        }
        activated(self.call_pre_activation(inputs, weights, training))
    }

    fn call_pre_activation(
        &self,
        inputs: Vec<DynTensor>,
        weights: &Weights<'_>,
        _training: bool,
    ) -> Result<(DynTensor, Activation), String> {
        let DynTensor::R4(x) = only(inputs)? else {
            return Err("Conv2D needs a batch of images [batch, h, w, c]".into());
        };
        let [_, h, w, c] = x.dims();
        let (_, pads) = self.geometry(&Shape(vec![h, w, c]))?;
        let y = conv_nhwc(
            x,
            weights.at::<4>(0)?,
            weights.optional::<1>("bias")?,
            ConvOptions::new_with_padding(self.strides, pads, self.dilation_rate, self.groups),
        );
        Ok((DynTensor::R4(y), self.kernel.activation))
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
    #[cfg(feature = "flex")]
    if options.groups == 1 {
        let geometry = (options.stride, options.padding, options.dilation);
        if let Some(y) = crate::fast::conv2d::conv2d(&x, &kernel, bias.as_ref(), geometry, false) {
            return y;
        }
    }
    conv_nhwc_portable(x, kernel, bias, options)
}

/// [`conv_nhwc`] through burn's `conv2d` on any backend (the fast path's reference).
pub(crate) fn conv_nhwc_portable(
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
