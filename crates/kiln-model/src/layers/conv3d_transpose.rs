//! `Conv3dTranspose`: the transposed 3-D convolution (Keras `Conv3DTranspose`), which
//! upsamples channels-last volumes by its strides.

use burn::tensor::Tensor;
use burn::tensor::module::conv_transpose3d;
use burn::tensor::ops::ConvTransposeOptions;
use serde::{Deserialize, Deserializer, Serialize};

use super::conv_utils::{Padding, channels_last, default_format, no_causal, triple};
use super::conv2d_transpose::axis;
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

/// Keras's `output_padding`: `null`, an int or a triple.
fn optional_triple<'de, D: Deserializer<'de>>(d: D) -> Result<Option<[usize; 3]>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Repr {
        One(usize),
        Three([usize; 3]),
    }
    Ok(Option::<Repr>::deserialize(d)?.map(|r| match r {
        Repr::One(v) => [v; 3],
        Repr::Three(v) => v,
    }))
}

/// A transposed 3-D convolution over volumes `[batch, d1, d2, d3, channels]` (Keras
/// `Conv3DTranspose`). Kernel `[k1, k2, k3, filters, in]` (Keras's layout), glorot-uniform;
/// bias zeros; `output_padding` (each below its stride) adds cells at the end.
///
/// # Examples
/// ```
/// use kiln_model::{Conv3dTranspose, Input, Sequential};
/// let model = Sequential::new().add(Input::new([2, 3, 3, 2]))
///     .add(Conv3dTranspose::new(4, 2).strides([2, 2, 2]))
///     .build(&burn::tensor::Device::flex())?;
/// assert_eq!(model.output_shape().to_string(), "(None, 4, 6, 6, 4)");
/// # Ok::<(), kiln_model::Error>(())
/// ```
#[doc(alias = "Conv3DTranspose")]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Conv3dTranspose {
    /// Number of output channels.
    pub filters: usize,
    /// Kernel `[k1, k2, k3]`.
    #[serde(deserialize_with = "triple")]
    pub kernel_size: [usize; 3],
    /// Upsampling strides (default 1).
    #[serde(default = "ones3", deserialize_with = "triple")]
    pub strides: [usize; 3],
    /// `valid` (default) or `same`.
    #[serde(default)]
    pub padding: Padding,
    /// Extra cells at the end per axis (each below its stride); `None` for Keras's inferred
    /// amount.
    #[serde(default, deserialize_with = "optional_triple")]
    pub output_padding: Option<[usize; 3]>,
    /// Spacing of the kernel taps (default 1).
    #[serde(default = "ones3", deserialize_with = "triple")]
    pub dilation_rate: [usize; 3],
    /// Activation, bias, initializers and regularizers.
    #[serde(flatten)]
    pub kernel: KernelOptions,
    /// Only `channels_last`.
    #[serde(default = "default_format", deserialize_with = "channels_last")]
    pub data_format: String,
}

impl Conv3dTranspose {
    /// `filters` output channels, a cubic kernel, strides 1, `valid` padding.
    pub fn new(filters: usize, kernel_size: usize) -> Self {
        Self {
            filters,
            kernel_size: [kernel_size; 3],
            strides: [1; 3],
            padding: Padding::Valid,
            output_padding: None,
            dilation_rate: [1; 3],
            kernel: KernelOptions::default(),
            data_format: default_format(),
        }
    }

    /// The output size per spatial axis and the cells cropped at the start.
    fn geometry(&self, input: &Shape) -> Result<([usize; 3], [usize; 3]), String> {
        let &[d1, d2, d3, _c] = input.dims() else {
            return Err(format!(
                "Conv3DTranspose needs volumes (None, d1, d2, d3, channels), got {input}"
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
        no_causal(self.padding, "Conv3DTranspose")?;
        if let Some(op) = self.output_padding
            && (0..3).any(|i| op[i] >= self.strides[i])
        {
            return Err(format!(
                "output_padding {op:?} must be smaller than the strides {:?}",
                self.strides
            ));
        }
        let mut out = [0; 3];
        let mut crop = [0; 3];
        for (i, size) in [d1, d2, d3].into_iter().enumerate() {
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
                    "the {:?} kernel (strides {:?}, dilation {:?}) on {input} gives a size past \
                     usize",
                    self.kernel_size, self.strides, self.dilation_rate
                )
            })?;
        }
        Ok((out, crop))
    }
}

setters!(Conv3dTranspose {
    /// Sets a non-cubic kernel.
    kernel_size: [usize; 3],
    /// Sets the upsampling strides.
    strides: [usize; 3],
    /// Sets the padding.
    padding: Padding,
    /// Sets the extra cells at the end (each below its stride).
    output_padding: Option<[usize; 3]>,
    /// Sets the dilation.
    dilation_rate: [usize; 3],
});
kernel_setters!(Conv3dTranspose);

impl Layer for Conv3dTranspose {
    fn class_name(&self) -> &str {
        "Conv3DTranspose"
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
        self.kernel
            .declare_units(weights, vec![k1, k2, k3, self.filters, c], self.filters)
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
            return Err("Conv3DTranspose needs a batch of volumes [batch, d1, d2, d3, c]".into());
        };
        let [_, d1, d2, d3, c] = x.dims();
        let (out, crop) = self.geometry(&Shape(vec![d1, d2, d3, c]))?;
        // The full transposed convolution (no padding), then Keras's window of it: cells
        // cropped at the start, and zeros where the window runs past the end.
        let full = conv_transpose3d(
            x.permute([0, 4, 1, 2, 3]),
            weights.at::<5>(0)?.permute([4, 3, 0, 1, 2]),
            None,
            ConvTransposeOptions::new(self.strides, [0; 3], [0; 3], self.dilation_rate, 1),
        );
        let [batch, filters, f1, f2, f3] = full.dims();
        let keep: Vec<usize> = (0..3)
            .map(|i| out[i].min([f1, f2, f3][i].saturating_sub(crop[i])))
            .collect();
        let mut y = full.slice([
            0..batch,
            0..filters,
            crop[0]..crop[0] + keep[0],
            crop[1]..crop[1] + keep[1],
            crop[2]..crop[2] + keep[2],
        ]);
        if (0..3).any(|i| keep[i] < out[i]) {
            let device = y.device();
            let padded = Tensor::<5>::zeros([batch, filters, out[0], out[1], out[2]], &device);
            y = padded.slice_assign(
                [0..batch, 0..filters, 0..keep[0], 0..keep[1], 0..keep[2]],
                y,
            );
        }
        let mut y = y.permute([0, 2, 3, 4, 1]);
        if let Some(bias) = weights.optional::<1>("bias")? {
            y = y + bias.reshape([1, 1, 1, 1, self.filters]);
        }
        Ok((DynTensor::R5(y), self.kernel.activation))
    }
}
