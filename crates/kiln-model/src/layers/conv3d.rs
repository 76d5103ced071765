//! `Conv3d`: 3-D convolution over channels-last volumes (Keras `Conv3D`).

use burn::tensor::module::conv3d;
use burn::tensor::ops::ConvOptions;
use serde::{Deserialize, Serialize};

use super::conv_utils::{
    Padding, axis, channels_last, check_groups, default_format, no_causal, one, triple,
};
use super::kernel::{KernelOptions, activated, kernel_setters};
use super::{Layer, WeightBuilder, Weights, config_of, only, setters};
use crate::activation::Activation;
use crate::initializer::Initializer;
use crate::regularizer::Regularizer;
use crate::shape::Shape;
use crate::tensor::DynTensor;

fn ones3() -> [usize; 3] {
    [1; 3]
}

/// Output size and `(before, after)` padding per spatial axis, or why it does not fit.
type Geometry3 = Result<([usize; 3], [(usize, usize); 3]), String>;

/// A 3-D convolution over volumes `[batch, d1, d2, d3, channels]` (Keras `Conv3D`,
/// channels-last: video, medical scans). Kernel `[k1, k2, k3, in / groups, filters]`
/// (Keras's layout), glorot-uniform; bias zeros.
///
/// # Examples
/// ```
/// use kiln_model::{Conv3d, Input, Sequential};
/// let model = Sequential::new().add(Input::new([8, 16, 16, 1]))
///     .add(Conv3d::new(4, 3))
///     .build(&burn::tensor::Device::flex())?;
/// assert_eq!(model.output_shape().to_string(), "(None, 6, 14, 14, 4)");
/// assert_eq!(model.count_params(), 3 * 3 * 3 * 4 + 4);
/// # Ok::<(), kiln_model::Error>(())
/// ```
#[doc(alias = "Conv3D")]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Conv3d {
    /// Number of output channels.
    pub filters: usize,
    /// Window `[k1, k2, k3]`.
    #[serde(deserialize_with = "triple")]
    pub kernel_size: [usize; 3],
    /// Step per spatial axis (default 1).
    #[serde(default = "ones3", deserialize_with = "triple")]
    pub strides: [usize; 3],
    /// `valid` (default) or `same`.
    #[serde(default)]
    pub padding: Padding,
    /// Spacing of the kernel taps (default 1).
    #[serde(default = "ones3", deserialize_with = "triple")]
    pub dilation_rate: [usize; 3],
    /// Channel groups (default 1).
    #[serde(default = "one")]
    pub groups: usize,
    /// Activation, bias, initializers and regularizers.
    #[serde(flatten)]
    pub kernel: KernelOptions,
    /// Only `channels_last`.
    #[serde(default = "default_format", deserialize_with = "channels_last")]
    pub data_format: String,
}

impl Conv3d {
    /// `filters` outputs with a cubic `kernel_size` window, stride 1, `valid` padding.
    pub fn new(filters: usize, kernel_size: usize) -> Self {
        Self {
            filters,
            kernel_size: [kernel_size; 3],
            strides: [1; 3],
            padding: Padding::Valid,
            dilation_rate: [1; 3],
            groups: 1,
            kernel: KernelOptions::default(),
            data_format: default_format(),
        }
    }

    fn geometry(&self, input: &Shape) -> Geometry3 {
        let &[d1, d2, d3, c] = input.dims() else {
            return Err(format!(
                "Conv3D needs volumes (None, d1, d2, d3, channels), got {input}"
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
        no_causal(self.padding, "Conv3D")?;
        check_groups(self.groups, c, self.filters)?;
        let mut out = [0; 3];
        let mut pads = [(0, 0); 3];
        for (i, size) in [d1, d2, d3].into_iter().enumerate() {
            let (o, p) = axis(
                size,
                self.kernel_size[i],
                self.strides[i],
                self.dilation_rate[i],
                self.padding,
            )
            .ok_or_else(|| {
                format!(
                    "the {:?} window (dilation {:?}) does not fit in {input} with `valid` padding",
                    self.kernel_size, self.dilation_rate
                )
            })?;
            out[i] = o;
            pads[i] = p;
        }
        Ok((out, pads))
    }
}

setters!(Conv3d {
    /// Sets a non-cubic window.
    kernel_size: [usize; 3],
    /// Sets the strides.
    strides: [usize; 3],
    /// Sets the padding.
    padding: Padding,
    /// Sets the dilation.
    dilation_rate: [usize; 3],
    /// Sets the channel groups.
    groups: usize,
});
kernel_setters!(Conv3d);

impl Layer for Conv3d {
    fn class_name(&self) -> &str {
        "Conv3D"
    }

    fn config(&self) -> serde_json::Value {
        config_of(self)
    }

    fn output_shape(&self, inputs: &[Shape]) -> Result<Shape, String> {
        let ([a, b, c], _) = self.geometry(only(inputs)?)?;
        Ok(Shape(vec![a, b, c, self.filters]))
    }

    fn build(&self, inputs: &[Shape], weights: &mut WeightBuilder) -> Result<(), String> {
        let c = only(inputs)?.last().unwrap_or(0);
        let [k1, k2, k3] = self.kernel_size;
        let per_group = c / self.groups.max(1);
        self.kernel
            .declare(weights, vec![k1, k2, k3, per_group, self.filters])
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
        let DynTensor::R5(x) = only(inputs)? else {
            return Err("Conv3D needs a batch of volumes [batch, d1, d2, d3, c]".into());
        };
        let [_, d1, d2, d3, c] = x.dims();
        let (_, pads) = self.geometry(&Shape(vec![d1, d2, d3, c]))?;
        let options =
            ConvOptions::new_with_padding(self.strides, pads, self.dilation_rate, self.groups);
        // burn wants NCDHW and `[out, in, k1, k2, k3]`.
        let y = conv3d(
            x.permute([0, 4, 1, 2, 3]),
            weights.at::<5>(0)?.permute([4, 3, 0, 1, 2]),
            weights.optional::<1>("bias")?,
            options,
        );
        Ok((
            DynTensor::R5(y.permute([0, 2, 3, 4, 1])),
            self.kernel.activation,
        ))
    }
}
