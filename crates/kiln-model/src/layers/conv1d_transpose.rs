//! `Conv1dTranspose`: the transposed 1-D convolution (Keras `Conv1DTranspose`), which
//! upsamples channels-last sequences by its stride.

use serde::{Deserialize, Serialize};

use super::conv_utils::{Padding, channels_last, default_format, single};
use super::conv2d_transpose::Conv2dTranspose;
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

/// A transposed 1-D convolution over sequences `[batch, steps, channels]` (Keras
/// `Conv1DTranspose`): each step spreads over `kernel_size` output steps, `strides` apart, so
/// the sequence grows by the stride. Kernel `[k, filters, in]` (Keras's layout), glorot-uniform;
/// bias zeros. It runs as the 2-D transposed convolution over a height of one.
///
/// # Examples
/// ```
/// use kiln_model::{Conv1dTranspose, Input, Padding, Sequential};
/// let model = Sequential::new().add(Input::new([5, 2]))
///     .add(Conv1dTranspose::new(3, 3).strides(2).padding(Padding::Same))
///     .build(&burn::tensor::Device::flex())?;
/// assert_eq!(model.output_shape().to_string(), "(None, 10, 3)");
/// assert_eq!(model.count_params(), 3 * 3 * 2 + 3);
/// # Ok::<(), kiln_model::Error>(())
/// ```
#[doc(alias = "Conv1DTranspose")]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Conv1dTranspose {
    /// Number of output channels.
    pub filters: usize,
    /// Kernel length.
    #[serde(deserialize_with = "single")]
    pub kernel_size: usize,
    /// Upsampling stride (default 1).
    #[serde(default = "one", deserialize_with = "single")]
    pub strides: usize,
    /// `valid` (default) or `same`.
    #[serde(default)]
    pub padding: Padding,
    /// Extra steps at the end (below the stride); `None` for Keras's inferred amount.
    #[serde(default, deserialize_with = "optional_single")]
    pub output_padding: Option<usize>,
    /// Spacing of the kernel taps (default 1).
    #[serde(default = "one", deserialize_with = "single")]
    pub dilation_rate: usize,
    /// Activation, bias, initializers and regularizers.
    #[serde(flatten)]
    pub kernel: KernelOptions,
    /// Only `channels_last`.
    #[serde(default = "default_format", deserialize_with = "channels_last")]
    pub data_format: String,
}

fn optional_single<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<usize>, D::Error> {
    super::conv_utils::optional_single(d)
}

impl Conv1dTranspose {
    /// `filters` output channels, kernel length `kernel_size`, stride 1, `valid` padding.
    pub fn new(filters: usize, kernel_size: usize) -> Self {
        Self {
            filters,
            kernel_size,
            strides: 1,
            padding: Padding::Valid,
            output_padding: None,
            dilation_rate: 1,
            kernel: KernelOptions::default(),
            data_format: default_format(),
        }
    }

    /// The same convolution over images of height one.
    fn as_2d(&self) -> Conv2dTranspose {
        let mut two = Conv2dTranspose::new(self.filters, 1)
            .kernel_size([1, self.kernel_size])
            .strides([1, self.strides])
            .padding(self.padding)
            .dilation_rate([1, self.dilation_rate]);
        two.output_padding = self.output_padding.map(|p| [0, p]);
        two
    }
}

setters!(Conv1dTranspose {
    /// Sets the upsampling stride.
    strides: usize,
    /// Sets the padding.
    padding: Padding,
    /// Sets the extra steps at the end (below the stride).
    output_padding: Option<usize>,
    /// Sets the dilation.
    dilation_rate: usize,
});
kernel_setters!(Conv1dTranspose);

impl Layer for Conv1dTranspose {
    fn class_name(&self) -> &str {
        "Conv1DTranspose"
    }

    fn config(&self) -> serde_json::Value {
        config_of(self)
    }

    fn output_shape(&self, inputs: &[Shape]) -> Result<Shape, String> {
        let input = only(inputs)?;
        let &[steps, c] = input.dims() else {
            return Err(format!(
                "Conv1DTranspose needs sequences (None, steps, channels), got {input}"
            ));
        };
        let ([_, steps], _) = self
            .as_2d()
            .geometry(&Shape(vec![1, steps, c]))
            .map_err(|e| e.replace("Conv2DTranspose", "Conv1DTranspose"))?;
        Ok(Shape(vec![steps, self.filters]))
    }

    fn build(&self, inputs: &[Shape], weights: &mut WeightBuilder) -> Result<(), String> {
        let c = only(inputs)?.last().unwrap_or(0);
        self.kernel.declare_units(
            weights,
            vec![self.kernel_size, self.filters, c],
            self.filters,
        )
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
        let DynTensor::R3(x) = only(inputs)? else {
            return Err("Conv1DTranspose needs a batch of sequences [batch, steps, c]".into());
        };
        let y = self.as_2d().forward(
            x.unsqueeze_dim::<4>(1),
            weights.at::<3>(0)?.unsqueeze_dim::<4>(0),
            weights.optional::<1>("bias")?,
        )?;
        let [b, _, steps, filters] = y.dims();
        Ok((
            DynTensor::R3(y.reshape([b, steps, filters])),
            self.kernel.activation,
        ))
    }
}
