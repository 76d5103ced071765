//! `SimpleRnn`, `Lstm` and `Gru`: the recurrent layer specs (Keras `SimpleRNN`, `LSTM`, `GRU`).

use burn::tensor::Device;
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};

use super::init::weight;
use super::recurrent::{Cell, RecurrentLayer};
use crate::activation::Activation;
use crate::initializer::Initializer;
use crate::regularizer::Regularizer;
use crate::shape::Shape;

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
    /// The layer's name (Keras: `simple_rnn`, `lstm`, `gru`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
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
    /// Output every step `[batch, steps, units]` instead of the last `[batch, units]`.
    #[serde(default)]
    pub return_sequences: bool,
    /// Run over the steps in reverse order (outputs in that order, as Keras).
    #[serde(default)]
    pub go_backwards: bool,
    /// Not supported (must be false): Kiln returns outputs only.
    #[serde(default)]
    pub return_state: bool,
    /// Not supported (must be false).
    #[serde(default)]
    pub stateful: bool,
    /// Not supported (must be 0).
    #[serde(default)]
    pub dropout: f32,
    /// Not supported (must be 0).
    #[serde(default)]
    pub recurrent_dropout: f32,
}

impl RnnOptions {
    fn new(units: usize) -> Self {
        Self {
            name: None,
            units,
            activation: Activation::Tanh,
            use_bias: true,
            kernel_initializer: Initializer::GlorotUniform,
            recurrent_initializer: orthogonal(),
            bias_initializer: Initializer::Zeros,
            kernel_regularizer: None,
            recurrent_regularizer: None,
            bias_regularizer: None,
            return_sequences: false,
            go_backwards: false,
            return_state: false,
            stateful: false,
            dropout: 0.0,
            recurrent_dropout: 0.0,
        }
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
        let unsupported = [
            (self.return_state, "return_state"),
            (self.stateful, "stateful"),
            (self.dropout != 0.0, "dropout"),
            (self.recurrent_dropout != 0.0, "recurrent_dropout"),
        ];
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

    fn param_count(&self, input: &Shape, cell: Cell) -> usize {
        let (features, u, g) = (input.last().unwrap_or(0), self.units, cell.gates());
        let bias = match cell {
            _ if !self.use_bias => 0,
            Cell::Gru { reset_after: true } => 2 * g * u,
            _ => g * u,
        };
        features * g * u + u * g * u + bias
    }

    fn build(
        &self,
        input: &Shape,
        cell: Cell,
        recurrent_activation: Activation,
        unit_forget_bias: bool,
        rng: &mut StdRng,
        device: &Device,
    ) -> RecurrentLayer {
        let (features, u) = (input.last().unwrap_or(0), self.units);
        let width = u * cell.gates();
        let kernel = weight(
            self.kernel_initializer,
            [features, width],
            (features, width),
            rng,
            device,
        );
        let recurrent_kernel = weight(
            self.recurrent_initializer,
            [u, width],
            (u, width),
            rng,
            device,
        );
        let (mut bias, mut gru_bias) = (None, None);
        if self.use_bias {
            match cell {
                Cell::Gru { reset_after: true } => {
                    gru_bias = Some(weight(
                        self.bias_initializer,
                        [2, width],
                        (2, width),
                        rng,
                        device,
                    ));
                }
                Cell::Lstm if unit_forget_bias => {
                    // Keras: the forget gate's bias starts at one.
                    let b = self.bias_initializer.sample(width, width, width, rng);
                    let values: Vec<f32> = b
                        .iter()
                        .enumerate()
                        .map(|(i, v)| if (u..2 * u).contains(&i) { 1.0 } else { *v })
                        .collect();
                    let t = burn::tensor::Tensor::<1>::from_data(
                        burn::tensor::TensorData::new(values, [width]),
                        device,
                    );
                    bias = Some(burn::module::Param::from_tensor(t));
                }
                _ => {
                    bias = Some(weight(
                        self.bias_initializer,
                        [width],
                        (width, width),
                        rng,
                        device,
                    ))
                }
            }
        }
        RecurrentLayer {
            kernel,
            recurrent_kernel,
            bias,
            gru_bias,
            cell,
            units: u,
            activation: self.activation,
            recurrent_activation,
            return_sequences: self.return_sequences,
            go_backwards: self.go_backwards,
            regularizers: [
                self.kernel_regularizer,
                self.recurrent_regularizer,
                self.bias_regularizer,
            ],
        }
    }
}

macro_rules! options_setters {
    () => {
        /// Output every step (`[batch, steps, units]`), as Keras's `return_sequences=True`.
        pub fn return_sequences(mut self, on: bool) -> Self {
            self.options.return_sequences = on;
            self
        }

        /// Run over the steps in reverse order.
        pub fn go_backwards(mut self, on: bool) -> Self {
            self.options.go_backwards = on;
            self
        }

        /// Sets the activation (default tanh).
        pub fn activation(mut self, activation: Activation) -> Self {
            self.options.activation = activation;
            self
        }

        /// Adds a penalty on the input kernel to the training loss.
        pub fn kernel_regularizer(mut self, regularizer: Regularizer) -> Self {
            self.options.kernel_regularizer = Some(regularizer);
            self
        }

        /// Adds a penalty on the recurrent kernel to the training loss.
        pub fn recurrent_regularizer(mut self, regularizer: Regularizer) -> Self {
            self.options.recurrent_regularizer = Some(regularizer);
            self
        }

        /// Sets the layer name.
        pub fn name(mut self, name: impl Into<String>) -> Self {
            self.options.name = Some(name.into());
            self
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

    options_setters!();

    pub(crate) fn output_shape(&self, input: &Shape) -> Result<Shape, String> {
        self.options.output_shape(input, "SimpleRNN")
    }

    pub(crate) fn param_count(&self, input: &Shape) -> usize {
        self.options.param_count(input, Cell::Simple)
    }

    pub(crate) fn build(&self, input: &Shape, rng: &mut StdRng, device: &Device) -> RecurrentLayer {
        self.options
            .build(input, Cell::Simple, Activation::Linear, false, rng, device)
    }
}

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

    options_setters!();

    pub(crate) fn output_shape(&self, input: &Shape) -> Result<Shape, String> {
        self.options.output_shape(input, "LSTM")
    }

    pub(crate) fn param_count(&self, input: &Shape) -> usize {
        self.options.param_count(input, Cell::Lstm)
    }

    pub(crate) fn build(&self, input: &Shape, rng: &mut StdRng, device: &Device) -> RecurrentLayer {
        self.options.build(
            input,
            Cell::Lstm,
            self.recurrent_activation,
            self.unit_forget_bias,
            rng,
            device,
        )
    }
}

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

    options_setters!();

    fn cell(&self) -> Cell {
        Cell::Gru {
            reset_after: self.reset_after,
        }
    }

    pub(crate) fn output_shape(&self, input: &Shape) -> Result<Shape, String> {
        self.options.output_shape(input, "GRU")
    }

    pub(crate) fn param_count(&self, input: &Shape) -> usize {
        self.options.param_count(input, self.cell())
    }

    pub(crate) fn build(&self, input: &Shape, rng: &mut StdRng, device: &Device) -> RecurrentLayer {
        self.options.build(
            input,
            self.cell(),
            self.recurrent_activation,
            false,
            rng,
            device,
        )
    }
}
