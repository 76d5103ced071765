//! `ConvLstm1d` and `ConvLstm2d`: LSTMs whose input and recurrent transformations are
//! convolutions (Keras `ConvLSTM1D`, `ConvLSTM2D`).

use burn::tensor::Tensor;
use burn::tensor::ops::ConvOptions;
use serde::{Deserialize, Serialize};

use super::conv_utils::{Padding, axis, channels_last, default_format, pair};
use super::conv2d::conv_nhwc;
use super::{Layer, Mask, MaskPolicy, WeightBuilder, WeightSpec, Weights, config_of, only};
use crate::activation::Activation;
use crate::constraint::Constraint;
use crate::initializer::Initializer;
use crate::regularizer::Regularizer;
use crate::shape::Shape;
use crate::tensor::DynTensor;

fn tanh() -> Activation {
    Activation::Tanh
}

fn sigmoid() -> Activation {
    Activation::Sigmoid
}

fn orthogonal() -> Initializer {
    Initializer::Orthogonal { gain: 1.0 }
}

/// What ConvLSTM1D and ConvLSTM2D share (Keras's `ConvLSTM` options), for windows of
/// `[height, width]` (1-D: height 1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConvLstmOptions {
    /// Output channels (of the state).
    pub filters: usize,
    /// Applied to the candidate and the cell state (default tanh).
    #[serde(
        default = "tanh",
        deserialize_with = "crate::layers::activation_or_null"
    )]
    pub activation: Activation,
    /// Applied to the gates (default sigmoid).
    #[serde(
        default = "sigmoid",
        deserialize_with = "crate::layers::activation_or_null"
    )]
    pub recurrent_activation: Activation,
    /// `valid` (default) or `same`, for the input convolution; the recurrent one is `same`.
    #[serde(default)]
    pub padding: Padding,
    /// Only `channels_last`.
    #[serde(default = "default_format", deserialize_with = "channels_last")]
    pub data_format: String,
    /// Whether to add biases (default true).
    #[serde(default = "crate::layers::yes")]
    pub use_bias: bool,
    /// Input kernel initializer (default glorot-uniform).
    #[serde(default = "crate::layers::glorot")]
    pub kernel_initializer: Initializer,
    /// Recurrent kernel initializer (default orthogonal).
    #[serde(default = "orthogonal")]
    pub recurrent_initializer: Initializer,
    /// Bias initializer (default zeros).
    #[serde(default)]
    pub bias_initializer: Initializer,
    /// Start the forget gate's bias at one (default true).
    #[serde(default = "crate::layers::yes")]
    pub unit_forget_bias: bool,
    /// Penalty on the input kernel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel_regularizer: Option<Regularizer>,
    /// Penalty on the recurrent kernel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recurrent_regularizer: Option<Regularizer>,
    /// Penalty on the bias.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bias_regularizer: Option<Regularizer>,
    /// Projection of the input kernel after each optimizer step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel_constraint: Option<Constraint>,
    /// Projection of the recurrent kernel after each optimizer step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recurrent_constraint: Option<Constraint>,
    /// Projection of the bias after each optimizer step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bias_constraint: Option<Constraint>,
    /// Fraction of the inputs dropped in training (one mask per gate and sequence).
    #[serde(default)]
    pub dropout: f32,
    /// Fraction of the state dropped before the recurrent convolution in training.
    #[serde(default)]
    pub recurrent_dropout: f32,
    /// Output every step instead of the last.
    #[serde(default)]
    pub return_sequences: bool,
    /// Run over the steps in reverse order.
    #[serde(default)]
    pub go_backwards: bool,
    /// Also give the final states h and c (Keras `return_state`; use `apply_outputs`).
    #[serde(default)]
    pub return_state: bool,
    /// Not supported (must be false).
    #[serde(default)]
    pub stateful: bool,
}

impl ConvLstmOptions {
    fn new(filters: usize) -> Self {
        Self {
            filters,
            activation: Activation::Tanh,
            recurrent_activation: Activation::Sigmoid,
            padding: Padding::Valid,
            data_format: default_format(),
            use_bias: true,
            kernel_initializer: Initializer::GlorotUniform,
            recurrent_initializer: orthogonal(),
            bias_initializer: Initializer::Zeros,
            unit_forget_bias: true,
            kernel_regularizer: None,
            recurrent_regularizer: None,
            bias_regularizer: None,
            kernel_constraint: None,
            recurrent_constraint: None,
            bias_constraint: None,
            dropout: 0.0,
            recurrent_dropout: 0.0,
            return_sequences: false,
            go_backwards: false,
            return_state: false,
            stateful: false,
        }
    }

    fn check(&self, class: &str) -> Result<(), String> {
        if self.filters == 0 {
            return Err("filters must be at least 1".into());
        }
        if self.padding == Padding::Causal {
            return Err(format!("{class} takes `valid` or `same` padding"));
        }
        for (rate, name) in [
            (self.dropout, "dropout"),
            (self.recurrent_dropout, "recurrent_dropout"),
        ] {
            if !(0.0..1.0).contains(&rate) {
                return Err(format!("{name} must be in [0, 1), got {rate}"));
            }
        }
        if self.stateful {
            return Err(format!(
                "{class} option stateful is not supported by Kiln yet"
            ));
        }
        Ok(())
    }
}

/// The window of one ConvLSTM, as 2-D (height 1 for ConvLSTM1D).
#[derive(Debug, Clone, Copy)]
struct Window {
    kernel: [usize; 2],
    strides: [usize; 2],
    dilation: [usize; 2],
}

impl Window {
    /// The output size and the input convolution's padding for an input `[h, w]`.
    fn geometry(&self, hw: [usize; 2], padding: Padding) -> super::conv_utils::Geometry {
        if self.kernel.contains(&0) || self.strides.contains(&0) || self.dilation.contains(&0) {
            return Err("kernel_size, strides and dilation_rate must be at least 1".into());
        }
        if self.strides.iter().any(|&s| s > 1) && self.dilation.iter().any(|&d| d > 1) {
            return Err(
                "strides > 1 and dilation_rate > 1 cannot be combined (as in Keras)".into(),
            );
        }
        let mut out = [0; 2];
        let mut pads = [(0, 0); 2];
        for i in 0..2 {
            let (o, p) = axis(
                hw[i],
                self.kernel[i],
                self.strides[i],
                self.dilation[i],
                padding,
            )
            .ok_or_else(|| format!("the {:?} window does not fit in {hw:?}", self.kernel))?;
            out[i] = o;
            pads[i] = p;
        }
        Ok((out, pads))
    }

    /// `same` padding of the recurrent convolution (stride 1, no dilation).
    fn same(&self, hw: [usize; 2]) -> [(usize, usize); 2] {
        let mut pads = [(0, 0); 2];
        for i in 0..2 {
            if let Some((_, p)) = axis(hw[i], self.kernel[i], 1, 1, Padding::Same) {
                pads[i] = p;
            }
        }
        pads
    }
}

/// Declares `kernel` `[kernel.., in, 4·filters]`, `recurrent_kernel` `[kernel.., filters,
/// 4·filters]` and `bias` `[4·filters]` (the forget gate's part at one with `unit_forget_bias`).
fn declare(
    o: &ConvLstmOptions,
    window: &[usize],
    channels: usize,
    weights: &mut WeightBuilder,
) -> Result<(), String> {
    let f = o.filters;
    let width = f.checked_mul(4).ok_or("filters overflow")?;
    let shape =
        |inner: usize| -> Vec<usize> { window.iter().copied().chain([inner, width]).collect() };
    weights.add_weight(
        WeightSpec::new("kernel", shape(channels), o.kernel_initializer)
            .regularizer(o.kernel_regularizer)
            .constraint(o.kernel_constraint.clone()),
    )?;
    weights.add_weight(
        WeightSpec::new("recurrent_kernel", shape(f), o.recurrent_initializer)
            .regularizer(o.recurrent_regularizer)
            .constraint(o.recurrent_constraint.clone()),
    )?;
    if o.use_bias {
        let mut bias = WeightSpec::new("bias", [width], o.bias_initializer)
            .regularizer(o.bias_regularizer)
            .constraint(o.bias_constraint.clone());
        if o.unit_forget_bias {
            bias = bias.ones_at(f..2 * f);
        }
        weights.add_weight(bias)?;
    }
    Ok(())
}

fn dropout_masks(
    count: usize,
    shape: [usize; 4],
    rate: f32,
    device: &burn::tensor::Device,
) -> Vec<Tensor<4>> {
    let keep = f64::from(1.0 - rate);
    (0..count)
        .map(|_| crate::bernoulli::mask::<4>(shape, keep, device) * (1.0 / keep) as f32)
        .collect()
}

/// The recurrence over `x` `[b, t, h, w, c]` with 2-D kernels `[kh, kw, in, 4f]`: the last
/// state `[b, h', w', f]`, or every step's `[b, t, h', w', f]`.
#[allow(clippy::too_many_arguments)]
fn run(
    o: &ConvLstmOptions,
    window: Window,
    x: Tensor<5>,
    kernel: Tensor<4>,
    recurrent: Tensor<4>,
    bias: Option<Tensor<1>>,
    mask: Option<&Mask>,
    training: bool,
) -> Result<(Tensor<5>, Tensor<4>, Tensor<4>), String> {
    let [b, t, h, w, c] = x.dims();
    let f = o.filters;
    let ([oh, ow], pads) = window.geometry([h, w], o.padding)?;
    let device = x.device();
    let input_options = ConvOptions::new_with_padding(window.strides, pads, window.dilation, 1);
    let frames = x.reshape([b * t, h, w, c]);
    // The input convolution of every step at once (one per gate with dropout masks).
    let xw = if training && o.dropout > 0.0 {
        let masks = dropout_masks(4, [b, h, w, c], o.dropout, &device);
        let parts: Vec<Tensor<4>> = masks
            .into_iter()
            .enumerate()
            .map(|(g, m)| {
                let masked = frames.clone().reshape([b, t, h, w, c]) * m.unsqueeze_dim::<5>(1);
                conv_nhwc(
                    masked.reshape([b * t, h, w, c]),
                    kernel.clone().narrow(3, g * f, f),
                    bias.clone().map(|bb| bb.narrow(0, g * f, f)),
                    input_options.clone(),
                )
            })
            .collect();
        Tensor::cat(parts, 3)
    } else {
        conv_nhwc(frames, kernel, bias, input_options)
    };
    let xw = xw.reshape([b, t, oh, ow, 4 * f]);
    let recurrent_options = ConvOptions::new_with_padding([1, 1], window.same([oh, ow]), [1, 1], 1);
    let state_masks = if training && o.recurrent_dropout > 0.0 {
        dropout_masks(4, [b, oh, ow, f], o.recurrent_dropout, &device)
    } else {
        Vec::new()
    };
    let mut hs = Tensor::<4>::zeros([b, oh, ow, f], &device);
    let mut cs = Tensor::<4>::zeros([b, oh, ow, f], &device);
    let (act, gate) = (o.activation, o.recurrent_activation);
    let order: Vec<usize> = if o.go_backwards {
        (0..t).rev().collect()
    } else {
        (0..t).collect()
    };
    let mut outputs = Vec::with_capacity(if o.return_sequences { t } else { 0 });
    for step in order {
        let xt = xw.clone().narrow(1, step, 1).reshape([b, oh, ow, 4 * f]);
        let hw = if state_masks.is_empty() {
            conv_nhwc(
                hs.clone(),
                recurrent.clone(),
                None,
                recurrent_options.clone(),
            )
        } else {
            Tensor::cat(
                state_masks
                    .iter()
                    .enumerate()
                    .map(|(g, m)| {
                        conv_nhwc(
                            hs.clone() * m.clone(),
                            recurrent.clone().narrow(3, g * f, f),
                            None,
                            recurrent_options.clone(),
                        )
                    })
                    .collect(),
                3,
            )
        };
        let z = xt + hw;
        let block = |i: usize| z.clone().narrow(3, i * f, f);
        let i = gate.apply(block(0));
        let fg = gate.apply(block(1));
        let c_new = fg * cs.clone() + i * act.apply(block(2));
        let og = gate.apply(block(3));
        let h_new = og * act.apply(c_new.clone());
        let (h_next, c_next) = match mask {
            Some(m) => {
                let keep = m.clone().narrow(1, step, 1).reshape([b, 1, 1, 1]);
                (
                    hs.clone() + (h_new - hs.clone()) * keep.clone(),
                    cs.clone() + (c_new - cs.clone()) * keep,
                )
            }
            None => (h_new, c_new),
        };
        hs = h_next;
        cs = c_next;
        if o.return_sequences {
            outputs.push(hs.clone().unsqueeze_dim::<5>(1));
        }
    }
    let y = if o.return_sequences {
        Tensor::cat(outputs, 1)
    } else {
        hs.clone().unsqueeze_dim::<5>(1)
    };
    Ok((y, hs, cs))
}

macro_rules! conv_lstm_layer {
    ($name:ident, $keras:literal, $rank:literal, $what:literal) => {
        impl $name {
            fn window(&self) -> Window {
                let (k, s, d) = (
                    self.kernel_size.to_vec(),
                    self.strides.to_vec(),
                    self.dilation_rate.to_vec(),
                );
                let two = |v: &[usize]| {
                    if v.len() == 1 {
                        [1, v[0]]
                    } else {
                        [v[0], v[1]]
                    }
                };
                Window {
                    kernel: two(&k),
                    strides: two(&s),
                    dilation: two(&d),
                }
            }

            fn check_input(
                &self,
                input: &Shape,
            ) -> Result<(usize, [usize; 2], [usize; 2]), String> {
                self.options.check($keras)?;
                let dims = input.dims();
                if dims.len() != $rank + 2 {
                    return Err(format!("{} needs {}, got {input}", $keras, $what));
                }
                let steps = dims[0];
                let hw = if $rank == 1 {
                    [1, dims[1]]
                } else {
                    [dims[1], dims[2]]
                };
                let (out, _) = self.window().geometry(hw, self.options.padding)?;
                Ok((steps, hw, out))
            }
        }

        impl Layer for $name {
            fn class_name(&self) -> &str {
                $keras
            }

            fn config(&self) -> serde_json::Value {
                config_of(self)
            }

            fn output_shape(&self, inputs: &[Shape]) -> Result<Shape, String> {
                let (steps, _, out) = self.check_input(only(inputs)?)?;
                let space: Vec<usize> = if $rank == 1 {
                    vec![out[1]]
                } else {
                    out.to_vec()
                };
                let mut dims = Vec::new();
                if self.options.return_sequences {
                    dims.push(steps);
                }
                dims.extend(space);
                dims.push(self.options.filters);
                Ok(Shape(dims))
            }

            fn build(&self, inputs: &[Shape], weights: &mut WeightBuilder) -> Result<(), String> {
                let input = only(inputs)?;
                self.check_input(input)?;
                let c = input.last().unwrap_or(0);
                declare(&self.options, &self.kernel_size, c, weights)
            }

            /// Keras keeps a recurrent layer's weights in its cell: `cell/vars`.
            fn keras_vars_path(&self) -> &str {
                "cell/vars"
            }

            fn call(
                &self,
                inputs: Vec<DynTensor>,
                weights: &Weights<'_>,
                training: bool,
            ) -> Result<DynTensor, String> {
                Ok(self.call_masked(inputs, &[], weights, training)?.0)
            }

            /// Masked steps keep the states, as `LSTM`; the output keeps the mask with
            /// `return_sequences`.
            fn mask_policy(&self) -> MaskPolicy {
                MaskPolicy::Own
            }

            fn output_masked(&self, _inputs: &[Shape], masked: &[bool]) -> Result<bool, String> {
                Ok(masked.first() == Some(&true) && self.options.return_sequences)
            }

            fn call_masked(
                &self,
                inputs: Vec<DynTensor>,
                masks: &[Option<Mask>],
                weights: &Weights<'_>,
                training: bool,
            ) -> Result<(DynTensor, Option<Mask>), String> {
                super::layer::first_output(self.call_outputs(inputs, masks, weights, training))
            }

            /// With `return_state`: `[output, h, c]`, the states of the last step's shape.
            fn output_shapes(&self, inputs: &[Shape]) -> Result<Option<Vec<Shape>>, String> {
                if !self.options.return_state {
                    return Ok(None);
                }
                let out = self.output_shape(inputs)?;
                let (_, _, space) = self.check_input(only(inputs)?)?;
                let mut state: Vec<usize> = if $rank == 1 {
                    vec![space[1]]
                } else {
                    space.to_vec()
                };
                state.push(self.options.filters);
                Ok(Some(vec![out, Shape(state.clone()), Shape(state)]))
            }

            fn call_outputs(
                &self,
                inputs: Vec<DynTensor>,
                masks: &[Option<Mask>],
                weights: &Weights<'_>,
                training: bool,
            ) -> Result<(Vec<DynTensor>, Option<Mask>), String> {
                let x = only(inputs)?;
                let dims = x.dims();
                let x5: Tensor<5> = match x {
                    DynTensor::R5(t) if $rank == 2 => t,
                    DynTensor::R4(t) if $rank == 1 => {
                        let [b, s, w, c] = t.dims();
                        t.reshape([b, s, 1, w, c])
                    }
                    _ => return Err(format!("{} needs {}", $keras, $what)),
                };
                let k = weights.flat("kernel")?;
                let r = weights.flat("recurrent_kernel")?;
                let window = self.window();
                let [kh, kw] = window.kernel;
                let c = dims[dims.len() - 1];
                let f = self.options.filters;
                let kernel = k.reshape([kh, kw, c, 4 * f]);
                let recurrent = r.reshape([kh, kw, f, 4 * f]);
                let bias = if self.options.use_bias {
                    Some(weights.flat("bias")?)
                } else {
                    None
                };
                let mask = masks.first().cloned().flatten();
                let (y, hs, cs) = run(
                    &self.options,
                    window,
                    x5,
                    kernel,
                    recurrent,
                    bias,
                    mask.as_ref(),
                    training,
                )?;
                let [b, t, oh, ow, _] = y.dims();
                let out = match ($rank, self.options.return_sequences) {
                    (1, true) => DynTensor::R4(y.reshape([b, t, ow, f])),
                    (1, false) => DynTensor::R3(y.reshape([b, ow, f])),
                    (_, true) => DynTensor::R5(y),
                    (_, false) => DynTensor::R4(y.reshape([b, oh, ow, f])),
                };
                let out_mask = if self.options.return_sequences {
                    mask
                } else {
                    None
                };
                let state = |t: Tensor<4>| match $rank {
                    1 => DynTensor::R3(t.reshape([b, ow, f])),
                    _ => DynTensor::R4(t),
                };
                let mut outputs = vec![out];
                if self.options.return_state {
                    outputs.push(state(hs));
                    outputs.push(state(cs));
                }
                Ok((outputs, out_mask))
            }
        }
    };
}

/// A convolutional LSTM over sequences of images (Keras `ConvLSTM2D`; Shi et al. 2015): input
/// `[batch, steps, h, w, c]`, gates i, f, c, o from a convolution of the step (`strides`,
/// `padding`, `dilation_rate`) plus a `same` convolution of the state; output the last state
/// `[batch, h', w', filters]` or every step's. Weights as Keras's: `kernel` `[kh, kw, c,
/// 4·filters]`, `recurrent_kernel` `[kh, kw, filters, 4·filters]`, `bias` `[4·filters]`
/// (forget gate at one). Masks, `dropout`, `recurrent_dropout`, `go_backwards` as `LSTM`.
///
/// # Examples
/// ```
/// use kiln_model::{ConvLstm2d, Input, Sequential};
/// let model = Sequential::new().add(Input::new([4, 8, 8, 1]))
///     .add(ConvLstm2d::new(3, 3).padding(kiln_model::Padding::Same))
///     .build(&burn::tensor::Device::flex())?;
/// assert_eq!(model.output_shape().to_string(), "(None, 8, 8, 3)");
/// assert_eq!(model.count_params(), 3 * 3 * 1 * 12 + 3 * 3 * 3 * 12 + 12);
/// # Ok::<(), kiln_model::Error>(())
/// ```
#[doc(alias = "ConvLSTM2D")]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConvLstm2d {
    /// The window `[kh, kw]`.
    #[serde(deserialize_with = "pair")]
    pub kernel_size: [usize; 2],
    /// Strides of the input convolution (default 1).
    #[serde(default = "super::conv_utils::ones", deserialize_with = "pair")]
    pub strides: [usize; 2],
    /// Dilation of the input convolution (default 1).
    #[serde(default = "super::conv_utils::ones", deserialize_with = "pair")]
    pub dilation_rate: [usize; 2],
    /// The shared options.
    #[serde(flatten)]
    pub options: ConvLstmOptions,
}

impl ConvLstm2d {
    /// `filters` state channels, a square `kernel_size` window, Keras's defaults.
    pub fn new(filters: usize, kernel_size: usize) -> Self {
        Self {
            kernel_size: [kernel_size; 2],
            strides: [1, 1],
            dilation_rate: [1, 1],
            options: ConvLstmOptions::new(filters),
        }
    }
}

/// A convolutional LSTM over sequences of 1-D signals (Keras `ConvLSTM1D`): input
/// `[batch, steps, width, c]`, kernels `[k, c, 4·filters]` and `[k, filters, 4·filters]`;
/// otherwise as [`ConvLstm2d`].
///
/// # Examples
/// ```
/// use kiln_model::{ConvLstm1d, Input, Sequential};
/// let model = Sequential::new().add(Input::new([5, 10, 2]))
///     .add(ConvLstm1d::new(4, 3).return_sequences(true))
///     .build(&burn::tensor::Device::flex())?;
/// assert_eq!(model.output_shape().to_string(), "(None, 5, 8, 4)");
/// # Ok::<(), kiln_model::Error>(())
/// ```
#[doc(alias = "ConvLSTM1D")]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConvLstm1d {
    /// The window length.
    #[serde(deserialize_with = "single")]
    pub kernel_size: [usize; 1],
    /// Stride of the input convolution (default 1).
    #[serde(default = "one", deserialize_with = "single")]
    pub strides: [usize; 1],
    /// Dilation of the input convolution (default 1).
    #[serde(default = "one", deserialize_with = "single")]
    pub dilation_rate: [usize; 1],
    /// The shared options.
    #[serde(flatten)]
    pub options: ConvLstmOptions,
}

fn one() -> [usize; 1] {
    [1]
}

/// Keras's `3` or `[3]` as a one-element array.
fn single<'de, D: serde::Deserializer<'de>>(d: D) -> Result<[usize; 1], D::Error> {
    super::conv_utils::single(d).map(|n| [n])
}

impl ConvLstm1d {
    /// `filters` state channels, a `kernel_size` window, Keras's defaults.
    pub fn new(filters: usize, kernel_size: usize) -> Self {
        Self {
            kernel_size: [kernel_size],
            strides: [1],
            dilation_rate: [1],
            options: ConvLstmOptions::new(filters),
        }
    }
}

macro_rules! conv_lstm_setters {
    ($name:ident) => {
        super::setters!($name [options] {
            /// Sets the padding of the input convolution.
            padding: Padding,
            /// Returns every step's state.
            return_sequences: bool,
            /// Reads the sequence from its end.
            go_backwards: bool,
            /// Also gives the final states h and c (Keras `return_state`; use `apply_outputs`).
            return_state: bool,
            /// Sets the activation (default tanh).
            activation: Activation,
            /// Sets the gates' activation (default sigmoid).
            recurrent_activation: Activation,
            /// Whether to add a bias.
            use_bias: bool,
            /// Drops this fraction of the inputs in training.
            dropout: f32,
            /// Drops this fraction of the state in training.
            recurrent_dropout: f32,
            /// Sets the kernel initializer.
            kernel_initializer: Initializer,
            /// Sets the recurrent kernel initializer.
            recurrent_initializer: Initializer,
            /// Adds a penalty on the kernel.
            kernel_regularizer: Option<Regularizer>,
            /// Projects the kernel after each optimizer step.
            kernel_constraint: Option<Constraint>,
        });
    };
}

conv_lstm_setters!(ConvLstm2d);
conv_lstm_setters!(ConvLstm1d);

super::setters!(ConvLstm2d {
    /// Sets the strides of the input convolution.
    strides: [usize; 2],
    /// Sets the dilation of the input convolution.
    dilation_rate: [usize; 2],
});

conv_lstm_layer!(
    ConvLstm2d,
    "ConvLSTM2D",
    2,
    "sequences of images (None, steps, h, w, c)"
);
conv_lstm_layer!(
    ConvLstm1d,
    "ConvLSTM1D",
    1,
    "sequences of signals (None, steps, width, c)"
);
