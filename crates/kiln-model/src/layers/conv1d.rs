//! `Conv1d`: 1-D convolution over channels-last sequences.

use burn::tensor::ops::ConvOptions;
use serde::{Deserialize, Serialize};

use super::conv_utils::{Padding, axis, channels_last, default_format, single};
use super::conv2d::conv_nhwc;
use super::kernel::{KernelOptions, activated, kernel_setters};
use super::{Layer, WeightBuilder, Weights, config_of, only, setters};
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
    /// Channel groups (default 1): input and filters split into `groups` parts, each filter
    /// seeing only its part's channels; the kernel is `[k, in / groups, filters]`.
    #[serde(default = "one")]
    pub groups: usize,
    /// Activation, bias, initializers and regularizers.
    #[serde(flatten)]
    pub kernel: KernelOptions,
    /// Only `channels_last`.
    #[serde(default = "default_format", deserialize_with = "channels_last")]
    pub data_format: String,
}

impl Conv1d {
    /// `filters` outputs with a `kernel_size` window, stride 1, `valid` padding.
    pub fn new(filters: usize, kernel_size: usize) -> Self {
        Self {
            filters,
            kernel_size,
            strides: 1,
            padding: Padding::Valid,
            dilation_rate: 1,
            groups: 1,
            kernel: KernelOptions::default(),
            data_format: default_format(),
        }
    }

    fn geometry(&self, input: &Shape) -> Result<(usize, (usize, usize)), String> {
        let &[steps, c] = input.dims() else {
            return Err(format!(
                "Conv1D needs sequences (None, steps, channels), got {input}"
            ));
        };
        super::conv_utils::check_groups(self.groups, c, self.filters)?;
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
}

setters!(Conv1d {
    /// Sets the stride.
    strides: usize,
    /// Sets the padding.
    padding: Padding,
    /// Sets the dilation.
    dilation_rate: usize,
    /// Sets the channel groups.
    groups: usize,
});
kernel_setters!(Conv1d);

impl Layer for Conv1d {
    fn class_name(&self) -> &str {
        "Conv1D"
    }

    fn config(&self) -> serde_json::Value {
        config_of(self)
    }

    fn output_shape(&self, inputs: &[Shape]) -> Result<Shape, String> {
        let (steps, _) = self.geometry(only(inputs)?)?;
        Ok(Shape(vec![steps, self.filters]))
    }

    fn build(&self, inputs: &[Shape], weights: &mut WeightBuilder) -> Result<(), String> {
        let c = only(inputs)?.last().unwrap_or(0);
        let per_group = c / self.groups.max(1);
        self.kernel
            .declare(weights, vec![self.kernel_size, per_group, self.filters])
    }

    fn call(
        &self,
        inputs: Vec<DynTensor>,
        weights: &Weights<'_>,
        training: bool,
    ) -> Result<DynTensor, String> {
        activated(self.call_pre_activation(inputs, weights, training))
    }

    /// The convolution runs as a 2-D convolution over a height of one.
    fn call_pre_activation(
        &self,
        inputs: Vec<DynTensor>,
        weights: &Weights<'_>,
        _training: bool,
    ) -> Result<(DynTensor, Activation), String> {
        let DynTensor::R3(x) = only(inputs)? else {
            return Err("Conv1D needs a batch of sequences [batch, steps, c]".into());
        };
        let [b, steps, c] = x.dims();
        let (_, padding) = self.geometry(&Shape(vec![steps, c]))?;
        let options = ConvOptions::new_with_padding(
            [1, self.strides],
            [(0, 0), padding],
            [1, self.dilation_rate],
            self.groups,
        );
        let y = conv_nhwc(
            x.unsqueeze_dim::<4>(1),
            weights.at::<3>(0)?.unsqueeze_dim::<4>(0),
            weights.optional::<1>("bias")?,
            options,
        );
        let [_, _, steps, filters] = y.dims();
        Ok((
            DynTensor::R3(y.reshape([b, steps, filters])),
            self.kernel.activation,
        ))
    }
}
