//! `Conv2dTranspose`: the transposed 2-D convolution (Keras `Conv2DTranspose`), which upsamples
//! channels-last images by its strides.

use burn::tensor::Tensor;
use burn::tensor::module::conv_transpose2d;
use burn::tensor::ops::ConvTransposeOptions;
use serde::{Deserialize, Serialize};

use super::conv_utils::{Padding, channels_last, default_format, ones, pair};
use super::kernel::{KernelOptions, activated, kernel_setters};
use super::{Layer, WeightBuilder, Weights, config_of, only, setters};
use crate::activation::Activation;
use crate::initializer::Initializer;
use crate::regularizer::Regularizer;
use crate::shape::Shape;
use crate::tensor::DynTensor;

/// The transposed convolution of a channels-last image (Keras `Conv2DTranspose`): each input
/// pixel spreads through the kernel onto a `strides`-times larger output, the gradient of a
/// `Conv2D` with the same options. Kernel `[kh, kw, filters, channels]` (Keras's layout: the
/// output channels before the input ones), bias `[filters]`. With `padding="same"` the output
/// is the input times the strides; with `"valid"`, `(in - 1)·stride + max(kernel, stride)`.
/// `output_padding` (Keras's, at most `stride - 1`) adds rows and columns at the end.
///
/// # Examples
/// ```
/// use kiln_model::{Conv2dTranspose, Input, Padding, Sequential};
/// let model = Sequential::new()
///     .add(Input::new([7, 7, 8]))
///     .add(Conv2dTranspose::new(4, 3).strides([2, 2]).padding(Padding::Same))
///     .build(&burn::tensor::Device::flex())?;
/// assert_eq!(model.output_shape().to_string(), "(None, 14, 14, 4)");
/// assert_eq!(model.count_params(), 3 * 3 * 4 * 8 + 4);
/// # Ok::<(), kiln_model::Error>(())
/// ```
#[doc(alias = "Conv2DTranspose")]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Conv2dTranspose {
    /// Output channels.
    pub filters: usize,
    /// Kernel height and width.
    #[serde(deserialize_with = "pair")]
    pub kernel_size: [usize; 2],
    /// Upsampling factors (default 1).
    #[serde(default = "ones", deserialize_with = "pair")]
    pub strides: [usize; 2],
    /// `valid` (default) or `same`.
    #[serde(default)]
    pub padding: Padding,
    /// Extra rows and columns at the end of the output (Keras's `output_padding`; `None`
    /// infers it).
    #[serde(default)]
    pub output_padding: Option<[usize; 2]>,
    /// Kernel dilation (default 1).
    #[serde(default = "ones", deserialize_with = "pair")]
    pub dilation_rate: [usize; 2],
    /// Activation, bias and initializers.
    #[serde(flatten)]
    pub kernel: KernelOptions,
    /// Only `channels_last`.
    #[serde(default = "default_format", deserialize_with = "channels_last")]
    pub data_format: String,
}

/// Per axis: the output size, and where it starts in the full transposed convolution (the
/// rows it crops there) — as Keras's JAX backend pads the dilated input.
pub(crate) fn axis(
    input: usize,
    kernel: usize,
    stride: usize,
    dilation: usize,
    padding: Padding,
    output_padding: Option<usize>,
) -> Option<(usize, usize)> {
    // Checked throughout: the sizes may come from a file (None when they overflow).
    let dk = kernel
        .checked_sub(1)?
        .checked_mul(dilation)?
        .checked_add(1)?;
    let (left, right) = match padding {
        Padding::Valid => {
            let op = output_padding.unwrap_or(dk.max(stride) - dk);
            (dk - 1, (dk - 1).checked_add(op)?)
        }
        Padding::Same => {
            let pad_len = match output_padding {
                None => stride.checked_add(dk)?.checked_sub(2)?,
                Some(op) => dk.checked_add(dk % 2)?.checked_add(op)?.checked_sub(2)?,
            };
            let left = (pad_len / 2 + pad_len % 2).min(dk - 1);
            (left, pad_len - left)
        }
        Padding::Causal => return None,
    };
    let out = input
        .checked_sub(1)?
        .checked_mul(stride)?
        .checked_add(2 + left)?
        .checked_add(right)?
        .checked_sub(dk)?;
    Some((out, dk - 1 - left))
}

impl Conv2dTranspose {
    /// `filters` output channels, a square kernel, strides 1, `valid` padding, no activation.
    pub fn new(filters: usize, kernel_size: usize) -> Self {
        Self {
            filters,
            kernel_size: [kernel_size; 2],
            strides: [1, 1],
            padding: Padding::Valid,
            output_padding: None,
            dilation_rate: [1, 1],
            kernel: KernelOptions::default(),
            data_format: default_format(),
        }
    }

    /// The output height and width, and the rows and columns cropped at the start.
    pub(crate) fn geometry(&self, input: &Shape) -> Result<([usize; 2], [usize; 2]), String> {
        let &[h, w, _c] = input.dims() else {
            return Err(format!(
                "Conv2DTranspose needs images (None, height, width, channels), got {input}"
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
        super::conv_utils::no_causal(self.padding, "Conv2DTranspose")?;
        if let Some(op) = self.output_padding
            && (0..2).any(|i| op[i] >= self.strides[i])
        {
            return Err(format!(
                "output_padding {op:?} must be smaller than the strides {:?}",
                self.strides
            ));
        }
        let mut out = [0; 2];
        let mut crop = [0; 2];
        for (i, size) in [h, w].into_iter().enumerate() {
            (out[i], crop[i]) = axis(
                size,
                self.kernel_size[i],
                self.strides[i],
                self.dilation_rate[i],
                self.padding,
                self.output_padding.map(|p| p[i]),
            )
            .ok_or_else(|| {
                format!(
                    "the {}x{} window (strides {:?}, dilation {:?}) on {input} gives a size \
                     past usize",
                    self.kernel_size[0], self.kernel_size[1], self.strides, self.dilation_rate
                )
            })?;
        }
        Ok((out, crop))
    }
}

setters!(Conv2dTranspose {
    /// Sets a non-square kernel.
    kernel_size: [usize; 2],
    /// Sets the upsampling strides.
    strides: [usize; 2],
    /// Sets the padding.
    padding: Padding,
    /// Sets the extra rows and columns at the end (each below its stride).
    output_padding: Option<[usize; 2]>,
    /// Sets the dilation.
    dilation_rate: [usize; 2],
});
kernel_setters!(Conv2dTranspose);

impl Layer for Conv2dTranspose {
    fn class_name(&self) -> &str {
        "Conv2DTranspose"
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
        self.kernel
            .declare_units(weights, vec![kh, kw, self.filters, c], self.filters)
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
        let DynTensor::R4(x) = only(inputs)? else {
            return Err("Conv2DTranspose needs a batch of images [batch, h, w, c]".into());
        };
        let y = self.forward(x, weights.at::<4>(0)?, weights.optional::<1>("bias")?)?;
        Ok((DynTensor::R4(y), self.kernel.activation))
    }
}

impl Conv2dTranspose {
    /// The transposed convolution of `x` `[b, h, w, c]` by `kernel` `[kh, kw, filters, c]`
    /// (Keras's layout), bias added, before the activation.
    pub(crate) fn forward(
        &self,
        x: Tensor<4>,
        kernel: Tensor<4>,
        bias: Option<Tensor<1>>,
    ) -> Result<Tensor<4>, String> {
        let [_, h, w, c] = x.dims();
        let ([oh, ow], [ch, cw]) = self.geometry(&Shape(vec![h, w, c]))?;
        // The full transposed convolution (no padding), then Keras's window of it: rows
        // cropped at the start, and zeros where the window runs past the end.
        let full = conv_transpose2d(
            x.permute([0, 3, 1, 2]),
            kernel.permute([3, 2, 0, 1]),
            None,
            ConvTransposeOptions::new(self.strides, [0, 0], [0, 0], self.dilation_rate, 1),
        );
        let [batch, filters, fh, fw] = full.dims();
        let keep_h = oh.min(fh.saturating_sub(ch));
        let keep_w = ow.min(fw.saturating_sub(cw));
        let mut y = full.slice([0..batch, 0..filters, ch..ch + keep_h, cw..cw + keep_w]);
        if keep_h < oh || keep_w < ow {
            let device = y.device();
            let mut padded = Tensor::<4>::zeros([batch, filters, oh, ow], &device);
            padded = padded.slice_assign([0..batch, 0..filters, 0..keep_h, 0..keep_w], y);
            y = padded;
        }
        let mut y = y.permute([0, 2, 3, 1]);
        if let Some(bias) = bias {
            y = y + bias.reshape([1, 1, 1, self.filters]);
        }
        Ok(y)
    }
}
