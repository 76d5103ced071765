//! `SimpleRnn`, `Lstm` and `Gru`: the recurrent layer specs (Keras `SimpleRNN`, `LSTM`, `GRU`).

use serde::{Deserialize, Serialize};

use super::recurrent::{Cell, Recurrence};
use super::{Layer, Mask, MaskPolicy, WeightBuilder, WeightSpec, Weights, config_of, setters};
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

fn tanh_or_null<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Activation, D::Error> {
    crate::layers::activation_or_null(d)
}

/// What every recurrent layer has (Keras's shared `RNN` options).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RnnOptions {
    /// Size of the state and of each output.
    pub units: usize,
    /// Applied to the candidate state and output (default tanh).
    #[serde(default = "tanh", deserialize_with = "tanh_or_null")]
    pub activation: Activation,
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
    /// Penalty on the input kernel (default none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel_regularizer: Option<Regularizer>,
    /// Penalty on the recurrent kernel (default none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recurrent_regularizer: Option<Regularizer>,
    /// Penalty on the bias (default none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bias_regularizer: Option<Regularizer>,
    /// Projection of the input kernel after each optimizer step (default none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel_constraint: Option<Constraint>,
    /// Projection of the recurrent kernel after each optimizer step (default none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recurrent_constraint: Option<Constraint>,
    /// Projection of the bias after each optimizer step (default none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bias_constraint: Option<Constraint>,
    /// Output every step `[batch, steps, units]` instead of the last `[batch, units]`.
    #[serde(default)]
    pub return_sequences: bool,
    /// Run over the steps in reverse order (outputs in that order, as Keras).
    #[serde(default)]
    pub go_backwards: bool,
    /// At a masked step, output zeros instead of the previous output (Keras
    /// `zero_output_for_mask`, default false; `Bidirectional` sets it to `return_sequences`).
    #[serde(default)]
    pub zero_output_for_mask: bool,
    /// Also give the final states: `[output, h]` (and `c` for an LSTM), applied with
    /// `apply_outputs` (Keras `return_state`).
    #[serde(default)]
    pub return_state: bool,
    /// Not supported (must be false).
    #[serde(default)]
    pub stateful: bool,
    /// Fraction of the inputs dropped in training, the same mask at every step (default 0).
    #[serde(default)]
    pub dropout: f32,
    /// Fraction of the state dropped before the recurrent matmul in training, the same mask
    /// at every step (default 0; LSTM and GRU then draw one mask per gate, as Keras).
    #[serde(default)]
    pub recurrent_dropout: f32,
}

impl RnnOptions {
    fn new(units: usize) -> Self {
        Self {
            units,
            activation: Activation::Tanh,
            use_bias: true,
            kernel_initializer: Initializer::GlorotUniform,
            recurrent_initializer: orthogonal(),
            bias_initializer: Initializer::Zeros,
            kernel_regularizer: None,
            recurrent_regularizer: None,
            bias_regularizer: None,
            kernel_constraint: None,
            recurrent_constraint: None,
            bias_constraint: None,
            return_sequences: false,
            go_backwards: false,
            zero_output_for_mask: false,
            return_state: false,
            stateful: false,
            dropout: 0.0,
            recurrent_dropout: 0.0,
        }
    }

    /// Checks the inputs: a sequence, then optionally the initial states (Keras's
    /// `initial_state`, each `(units,)`: h, and c for an LSTM).
    fn sequence<'a>(
        &self,
        inputs: &'a [Shape],
        cell: Cell,
        class: &str,
    ) -> Result<&'a Shape, String> {
        let states = if cell == Cell::Lstm { 2 } else { 1 };
        let Some((input, initial)) = inputs.split_first() else {
            return Err(format!("{class} takes a sequence"));
        };
        if !initial.is_empty() {
            if initial.len() != states {
                return Err(format!(
                    "{class} takes a sequence and {states} initial state{} (`initial_state`), got \
                     {} inputs",
                    if states == 1 { "" } else { "s" },
                    inputs.len()
                ));
            }
            if let Some(bad) = initial.iter().find(|s| s.dims() != [self.units]) {
                return Err(format!(
                    "an initial state must be ({},), one value per unit, got {bad}",
                    self.units
                ));
            }
        }
        Ok(input)
    }

    fn output_shape(&self, input: &Shape, class: &str) -> Result<Shape, String> {
        let &[steps, _features] = input.dims() else {
            return Err(format!(
                "{class} needs sequences (None, steps, features), got {input}"
            ));
        };
        if self.units == 0 {
            return Err("units must be at least 1".into());
        }
        for (rate, name) in [
            (self.dropout, "dropout"),
            (self.recurrent_dropout, "recurrent_dropout"),
        ] {
            if !(0.0..1.0).contains(&rate) {
                return Err(format!("{name} must be in [0, 1), got {rate}"));
            }
        }
        let unsupported = [(self.stateful, "stateful")];
        if let Some((_, option)) = unsupported.iter().find(|(on, _)| *on) {
            return Err(format!(
                "{class} option `{option}` is not supported by Kiln yet"
            ));
        }
        Ok(Shape(if self.return_sequences {
            vec![steps, self.units]
        } else {
            vec![self.units]
        }))
    }

    /// Declares `kernel`, `recurrent_kernel` and `bias` in Keras's layouts.
    fn declare(
        &self,
        input: &Shape,
        cell: Cell,
        unit_forget_bias: bool,
        weights: &mut WeightBuilder,
    ) -> Result<(), String> {
        let (features, u) = (input.last().unwrap_or(0), self.units);
        let width = u
            .checked_mul(cell.gates())
            .ok_or_else(|| format!("{u} units are too many"))?;
        let kernel = WeightSpec::new("kernel", [features, width], self.kernel_initializer);
        weights.add_weight(
            kernel
                .regularizer(self.kernel_regularizer)
                .constraint(self.kernel_constraint.clone()),
        )?;
        let recurrent = WeightSpec::new("recurrent_kernel", [u, width], self.recurrent_initializer);
        weights.add_weight(
            recurrent
                .regularizer(self.recurrent_regularizer)
                .constraint(self.recurrent_constraint.clone()),
        )?;
        if self.use_bias {
            let shape = match cell {
                Cell::Gru { reset_after: true } => vec![2, width],
                _ => vec![width],
            };
            let mut bias = WeightSpec::new("bias", shape, self.bias_initializer)
                .regularizer(self.bias_regularizer)
                .constraint(self.bias_constraint.clone());
            if cell == Cell::Lstm && unit_forget_bias {
                // Keras: the forget gate's bias starts at one.
                bias = bias.ones_at(u..2 * u);
            }
            weights.add_weight(bias)?;
        }
        Ok(())
    }

    fn recurrence(&self, cell: Cell, recurrent_activation: Activation) -> Recurrence {
        Recurrence {
            cell,
            units: self.units,
            activation: self.activation,
            recurrent_activation,
            return_sequences: self.return_sequences,
            go_backwards: self.go_backwards,
            zero_output_for_mask: self.zero_output_for_mask,
            dropout: self.dropout,
            recurrent_dropout: self.recurrent_dropout,
        }
    }
}

/// The sequence and the initial states (`[batch, units]` each) among a layer's inputs.
fn split_states(
    inputs: Vec<DynTensor>,
) -> Result<(DynTensor, Vec<burn::tensor::Tensor<2>>), String> {
    let mut it = inputs.into_iter();
    let x = it.next().ok_or("a recurrent layer takes a sequence")?;
    let states = it
        .map(|s| match s {
            DynTensor::R2(t) => Ok(t),
            _ => Err("an initial state must be [batch, units]".to_string()),
        })
        .collect::<Result<_, _>>()?;
    Ok((x, states))
}

/// The builder methods the three recurrent layers share (options in `self.options`).
macro_rules! rnn_layer {
    ($name:ident, $keras:literal) => {
        setters!($name [options] {
            /// Whether to return every step's output `(None, steps, units)` instead of the last.
            return_sequences: bool,
            /// Whether to read the sequence from its end.
            go_backwards: bool,
            /// Whether to give the final states too (Keras `return_state`; use `apply_outputs`).
            return_state: bool,
            /// Drops this fraction of the inputs in training (Keras `dropout`).
            dropout: f32,
            /// Drops this fraction of the state before the recurrent matmul in training.
            recurrent_dropout: f32,
            /// Sets the activation (default tanh).
            activation: Activation,
            /// Whether to add a bias.
            use_bias: bool,
            /// Sets the kernel initializer.
            kernel_initializer: Initializer,
            /// Sets the recurrent kernel initializer.
            recurrent_initializer: Initializer,
            /// Adds a penalty on the kernel to the training loss.
            kernel_regularizer: Option<Regularizer>,
            /// Adds a penalty on the recurrent kernel to the training loss.
            recurrent_regularizer: Option<Regularizer>,
            /// Adds a penalty on the bias to the training loss.
            bias_regularizer: Option<Regularizer>,
            /// Projects the input kernel after each optimizer step (Keras `kernel_constraint`).
            kernel_constraint: Option<Constraint>,
            /// Projects the recurrent kernel after each optimizer step.
            recurrent_constraint: Option<Constraint>,
            /// Projects the bias after each optimizer step.
            bias_constraint: Option<Constraint>,
        });

        impl Layer for $name {
            fn class_name(&self) -> &str {
                $keras
            }

            fn config(&self) -> serde_json::Value {
                config_of(self)
            }

            fn output_shape(&self, inputs: &[Shape]) -> Result<Shape, String> {
                let (cell, _, _) = self.parts();
                let input = self.options.sequence(inputs, cell, $keras)?;
                self.options.output_shape(input, $keras)
            }

            fn build(&self, inputs: &[Shape], weights: &mut WeightBuilder) -> Result<(), String> {
                let (cell, _, unit_forget_bias) = self.parts();
                let input = self.options.sequence(inputs, cell, $keras)?;
                self.options.declare(input, cell, unit_forget_bias, weights)
            }

            /// Initial states follow the sequence as inputs; Keras passes them as
            /// `initial_state=[..]`.
            fn keyword_inputs(&self, inputs: usize) -> Option<(usize, Vec<&'static str>)> {
                Some((1, vec!["initial_state"; inputs.saturating_sub(1)]))
            }

            fn with_keyword_inputs(
                &self,
                keywords: &[String],
            ) -> Result<(std::sync::Arc<dyn Layer>, Vec<String>), String> {
                match keywords {
                    [k] if k == "initial_state" => {
                        Ok((std::sync::Arc::new(self.clone()), keywords.to_vec()))
                    }
                    _ => Err(format!(
                        "{} takes tensors by keyword as `initial_state=` only",
                        $keras
                    )),
                }
            }

            /// Keras keeps a recurrent layer's weights in its cell: `layers/lstm/cell/vars`.
            fn keras_vars_path(&self) -> &str {
                "cell/vars"
            }

            fn call(
                &self,
                inputs: Vec<DynTensor>,
                weights: &Weights<'_>,
                training: bool,
            ) -> Result<DynTensor, String> {
                let (cell, recurrent_activation, _) = self.parts();
                let (x, initial) = split_states(inputs)?;
                Ok(self
                    .options
                    .recurrence(cell, recurrent_activation)
                    .run(x, &initial, None, weights, training)?
                    .y)
            }

            /// With `return_state`: `[output, h]`, and `c` for an LSTM (Keras's list).
            fn output_shapes(&self, inputs: &[Shape]) -> Result<Option<Vec<Shape>>, String> {
                if !self.options.return_state {
                    return Ok(None);
                }
                let (cell, _, _) = self.parts();
                let input = self.options.sequence(inputs, cell, $keras)?;
                let out = self.options.output_shape(input, $keras)?;
                let state = Shape(vec![self.options.units]);
                let states = if cell == Cell::Lstm { 2 } else { 1 };
                Ok(Some(
                    std::iter::once(out)
                        .chain(std::iter::repeat_n(state, states))
                        .collect(),
                ))
            }

            fn call_outputs(
                &self,
                inputs: Vec<DynTensor>,
                masks: &[Option<Mask>],
                weights: &Weights<'_>,
                training: bool,
            ) -> Result<(Vec<DynTensor>, Option<Mask>), String> {
                let (cell, recurrent_activation, _) = self.parts();
                let (x, initial) = split_states(inputs)?;
                let mask = masks.first().cloned().flatten();
                let ran = self
                    .options
                    .recurrence(cell, recurrent_activation)
                    .run(x, &initial, mask.as_ref(), weights, training)?;
                let mut outs = vec![ran.y];
                if self.options.return_state {
                    outs.push(DynTensor::R2(ran.h));
                    if cell == Cell::Lstm {
                        outs.push(DynTensor::R2(ran.c));
                    }
                }
                let out_mask = if self.options.return_sequences { mask } else { None };
                Ok((outs, out_mask))
            }

            /// Masked steps are skipped (states carried); with `return_sequences` the output
            /// keeps the mask.
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
                let (cell, recurrent_activation, _) = self.parts();
                let mask = masks.first().cloned().flatten();
                let (x, initial) = split_states(inputs)?;
                let y = self
                    .options
                    .recurrence(cell, recurrent_activation)
                    .run(x, &initial, mask.as_ref(), weights, training)?
                    .y;
                let out = if self.options.return_sequences { mask } else { None };
                Ok((y, out))
            }
        }
    };
}

/// A fully connected recurrence, `h = tanh(x·W + h·U + b)` (Keras `SimpleRNN`). Input
/// `[batch, steps, features]`; kernel `[features, units]`, recurrent kernel `[units, units]`
/// (orthogonal), bias `[units]`.
///
/// # Examples
/// ```
/// use kiln_model::{Input, Sequential, SimpleRnn};
/// let model = Sequential::new().add(Input::new([10, 3])).add(SimpleRnn::new(4))
///     .build(&burn::tensor::Device::flex())?;
/// assert_eq!(model.output_shape().to_string(), "(None, 4)");
/// assert_eq!(model.count_params(), 3 * 4 + 4 * 4 + 4);
/// # Ok::<(), kiln_model::Error>(())
/// ```
#[doc(alias = "SimpleRNN")]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimpleRnn {
    /// The shared recurrent options.
    #[serde(flatten)]
    pub options: RnnOptions,
}

impl SimpleRnn {
    /// `units` outputs, Keras's defaults.
    pub fn new(units: usize) -> Self {
        Self {
            options: RnnOptions::new(units),
        }
    }

    /// The cell, its recurrent activation and whether the forget bias starts at one.
    fn parts(&self) -> (Cell, Activation, bool) {
        (Cell::Simple, Activation::Linear, false)
    }
}

rnn_layer!(SimpleRnn, "SimpleRNN");

/// Long short-term memory (Keras `LSTM`): gates i, f, c, o in that order in every weight;
/// kernel `[features, 4·units]`, recurrent kernel `[units, 4·units]`, bias `[4·units]` with the
/// forget gate's part at one (`unit_forget_bias`).
///
/// # Examples
/// ```
/// use kiln_model::{Embedding, Input, Lstm, Sequential};
/// let model = Sequential::new().add(Input::new([20])).add(Embedding::new(1000, 16))
///     .add(Lstm::new(8)).build(&burn::tensor::Device::flex())?;
/// assert_eq!(model.output_shape().to_string(), "(None, 8)");
/// # Ok::<(), kiln_model::Error>(())
/// ```
#[doc(alias = "LSTM")]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Lstm {
    /// The shared recurrent options.
    #[serde(flatten)]
    pub options: RnnOptions,
    /// Applied to the gates (default sigmoid).
    #[serde(default = "sigmoid", deserialize_with = "tanh_or_null")]
    pub recurrent_activation: Activation,
    /// Start the forget gate's bias at one (default true).
    #[serde(default = "crate::layers::yes")]
    pub unit_forget_bias: bool,
}

impl Lstm {
    /// `units` outputs, Keras's defaults.
    pub fn new(units: usize) -> Self {
        Self {
            options: RnnOptions::new(units),
            recurrent_activation: Activation::Sigmoid,
            unit_forget_bias: true,
        }
    }

    /// The cell, its recurrent activation and whether the forget bias starts at one.
    fn parts(&self) -> (Cell, Activation, bool) {
        (Cell::Lstm, self.recurrent_activation, self.unit_forget_bias)
    }
}

rnn_layer!(Lstm, "LSTM");

/// Gated recurrent unit (Keras `GRU`): gates z, r, h in that order; with `reset_after` (Keras 3's
/// default) the bias is `[2, 3·units]` (input row, recurrent row), else `[3·units]`.
///
/// # Examples
/// ```
/// use kiln_model::{Gru, Input, Sequential};
/// let model = Sequential::new().add(Input::new([5, 3])).add(Gru::new(3).return_sequences(true))
///     .build(&burn::tensor::Device::flex())?;
/// assert_eq!(model.output_shape().to_string(), "(None, 5, 3)");
/// assert_eq!(model.count_params(), 3 * 9 + 3 * 9 + 2 * 9);
/// # Ok::<(), kiln_model::Error>(())
/// ```
#[doc(alias = "GRU")]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Gru {
    /// The shared recurrent options.
    #[serde(flatten)]
    pub options: RnnOptions,
    /// Applied to the gates (default sigmoid).
    #[serde(default = "sigmoid", deserialize_with = "tanh_or_null")]
    pub recurrent_activation: Activation,
    /// Apply the reset gate after the recurrent matmul (default true, as Keras 3).
    #[serde(default = "crate::layers::yes")]
    pub reset_after: bool,
}

impl Gru {
    /// `units` outputs, Keras's defaults.
    pub fn new(units: usize) -> Self {
        Self {
            options: RnnOptions::new(units),
            recurrent_activation: Activation::Sigmoid,
            reset_after: true,
        }
    }

    /// Keras `reset_after` (default true).
    pub fn reset_after(mut self, on: bool) -> Self {
        self.reset_after = on;
        self
    }

    fn cell(&self) -> Cell {
        Cell::Gru {
            reset_after: self.reset_after,
        }
    }

    /// The cell, its recurrent activation and whether the forget bias starts at one.
    fn parts(&self) -> (Cell, Activation, bool) {
        (self.cell(), self.recurrent_activation, false)
    }
}

rnn_layer!(Gru, "GRU");
