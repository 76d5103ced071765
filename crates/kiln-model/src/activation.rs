//! Activation functions, by their Keras names and with Keras's formulas.

use std::fmt;
use std::str::FromStr;

use burn::tensor::Tensor;
use burn::tensor::activation as act;
use serde::{Deserialize, Serialize};

use crate::error::Error;

/// An activation function applied element-wise (or over the last axis for the softmaxes).
///
/// Parses from Keras's string names (`"relu"`, `"softmax"`, ...; `"swish"` is `silu`).
///
/// # Examples
/// ```
/// use kiln_model::Activation;
/// let a: Activation = "relu".parse()?;
/// assert_eq!(a, Activation::Relu);
/// assert!("relux".parse::<Activation>().unwrap_err().to_string().contains("valid names"));
/// # Ok::<(), kiln_model::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Activation {
    /// `x` (Keras `"linear"`, the default).
    #[default]
    Linear,
    /// `max(x, 0)`.
    Relu,
    /// `1 / (1 + exp(-x))`.
    Sigmoid,
    /// `tanh(x)`.
    Tanh,
    /// `exp(x) / sum(exp(x))` over the last axis.
    Softmax,
    /// `log(softmax(x))` over the last axis.
    LogSoftmax,
    /// `x` if `x > 0`, else `exp(x) - 1`.
    Elu,
    /// Scaled ELU with alpha 1.6732632423543772, scale 1.0507009873554805.
    Selu,
    /// Exact Gaussian error linear unit, `x * Φ(x)` (erf form).
    Gelu,
    /// `x * sigmoid(x)` (also Keras `"swish"`).
    #[serde(alias = "swish")]
    Silu,
    /// `log(1 + exp(x))`.
    Softplus,
    /// `x / (1 + |x|)`.
    Softsign,
    /// `x` if `x > 0`, else `0.2 * x` (Keras 3's default slope).
    LeakyRelu,
    /// `min(max(x, 0), 6)`.
    Relu6,
    /// `clip(x / 6 + 0.5, 0, 1)` (Keras 3's form).
    HardSigmoid,
}

impl Activation {
    /// Every activation with its Keras name.
    pub const ALL: [(Activation, &'static str); 15] = [
        (Activation::Linear, "linear"),
        (Activation::Relu, "relu"),
        (Activation::Sigmoid, "sigmoid"),
        (Activation::Tanh, "tanh"),
        (Activation::Softmax, "softmax"),
        (Activation::LogSoftmax, "log_softmax"),
        (Activation::Elu, "elu"),
        (Activation::Selu, "selu"),
        (Activation::Gelu, "gelu"),
        (Activation::Silu, "silu"),
        (Activation::Softplus, "softplus"),
        (Activation::Softsign, "softsign"),
        (Activation::LeakyRelu, "leaky_relu"),
        (Activation::Relu6, "relu6"),
        (Activation::HardSigmoid, "hard_sigmoid"),
    ];

    /// The Keras name (`"relu"`).
    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(a, _)| *a == self)
            .map_or("linear", |(_, n)| n)
    }

    /// Applies the activation to a tensor of any rank (softmaxes over the last axis).
    pub fn apply<const D: usize>(self, x: Tensor<D>) -> Tensor<D> {
        match self {
            Activation::Linear => x,
            Activation::Relu => act::relu(x),
            Activation::Sigmoid => act::sigmoid(x),
            Activation::Tanh => act::tanh(x),
            Activation::Softmax => act::softmax(x, D - 1),
            Activation::LogSoftmax => act::log_softmax(x, D - 1),
            Activation::Elu => act::elu(x, 1.0),
            Activation::Selu => act::selu(x),
            Activation::Gelu => act::gelu(x),
            Activation::Silu => act::silu(x),
            Activation::Softplus => act::softplus(x, 1.0),
            Activation::Softsign => act::softsign(x),
            Activation::LeakyRelu => act::leaky_relu(x, 0.2),
            Activation::Relu6 => act::relu6(x),
            Activation::HardSigmoid => act::hard_sigmoid(x, 1.0 / 6.0, 0.5),
        }
    }
}

impl fmt::Display for Activation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Activation {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("swish") {
            return Ok(Activation::Silu);
        }
        if s.is_empty() || s.eq_ignore_ascii_case("none") {
            return Ok(Activation::Linear);
        }
        Self::ALL
            .iter()
            .find(|(_, n)| n.eq_ignore_ascii_case(s))
            .map(|(a, _)| *a)
            .ok_or_else(|| Error::UnknownName {
                kind: "activation",
                name: s.to_string(),
                valid: Self::ALL.iter().map(|(_, n)| *n).collect(),
            })
    }
}
