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
    /// `max(0, x) + min(0, exp(x) - 1)` (Keras `celu`, alpha 1).
    Celu,
    /// `exp(x)`.
    Exponential,
    /// `x` where `|x| > 0.5`, else 0 (Keras `hard_shrink`).
    HardShrink,
    /// `x · relu6(x + 3) / 6` (Keras `hard_silu`, also `"hard_swish"`).
    HardSilu,
    /// `clip(x, -1, 1)`.
    HardTanh,
    /// `log(sigmoid(x))`, computed stably.
    LogSigmoid,
    /// `x · tanh(softplus(x))`.
    Mish,
    /// `x - 0.5` above 0.5, `x + 0.5` below -0.5, else 0 (Keras `soft_shrink`).
    SoftShrink,
    /// 0 below -1, `x` above 1, `(x + 1)² / 4` between (Keras `sparse_plus`).
    SparsePlus,
    /// 0 below -1, 1 above 1, `(x + 1) / 2` between (Keras `sparse_sigmoid`).
    SparseSigmoid,
    /// The Euclidean projection onto the simplex over the last axis (Keras `sparsemax`): like
    /// softmax, but with exact zeros. Kiln computes the paper's threshold, as Keras does after
    /// keras-team/keras#23469; Keras 3.15.1 itself gives rows that do not sum to 1 where more
    /// than one entry is non-zero (keras-team/keras#23425).
    Sparsemax,
    /// `(x + sqrt(x² + 4)) / 2` (Keras `squareplus`, b 4).
    Squareplus,
    /// `x - tanh(x)`.
    TanhShrink,
}

impl Activation {
    /// Every activation with its Keras name.
    pub const ALL: [(Activation, &'static str); 28] = [
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
        (Activation::Celu, "celu"),
        (Activation::Exponential, "exponential"),
        (Activation::HardShrink, "hard_shrink"),
        (Activation::HardSilu, "hard_silu"),
        (Activation::HardTanh, "hard_tanh"),
        (Activation::LogSigmoid, "log_sigmoid"),
        (Activation::Mish, "mish"),
        (Activation::SoftShrink, "soft_shrink"),
        (Activation::SparsePlus, "sparse_plus"),
        (Activation::SparseSigmoid, "sparse_sigmoid"),
        (Activation::Sparsemax, "sparsemax"),
        (Activation::Squareplus, "squareplus"),
        (Activation::TanhShrink, "tanh_shrink"),
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
            Activation::Celu => x.clone().clamp_min(0.0) + (x.clamp_max(0.0).exp() - 1.0),
            Activation::Exponential => x.exp(),
            Activation::HardShrink => {
                let keep = x.clone().abs().greater_elem(0.5);
                x.clone().zeros_like().mask_where(keep, x)
            }
            Activation::HardSilu => x.clone() * act::relu6(x + 3.0) / 6.0,
            Activation::HardTanh => x.clamp(-1.0, 1.0),
            // log(sigmoid(x)) = min(x, 0) - log1p(exp(-|x|)).
            Activation::LogSigmoid => x.clone().clamp_max(0.0) - x.abs().neg().exp().log1p(),
            Activation::Mish => x.clone() * act::tanh(act::softplus(x, 1.0)),
            Activation::SoftShrink => (x.clone() - 0.5).clamp_min(0.0) + (x + 0.5).clamp_max(0.0),
            Activation::SparsePlus => {
                let mid = (x.clone() + 1.0).powi_scalar(2) / 4.0;
                let low = x.clone().lower_equal_elem(-1.0);
                let high = x.clone().greater_equal_elem(1.0);
                mid.mask_fill(low, 0.0).mask_where(high, x)
            }
            Activation::SparseSigmoid => ((x + 1.0) / 2.0).clamp(0.0, 1.0),
            Activation::Sparsemax => sparsemax(x),
            Activation::Squareplus => (x.clone() + (x.powi_scalar(2) + 4.0).sqrt()) / 2.0,
            Activation::TanhShrink => x.clone() - act::tanh(x),
        }
    }
}

/// Sparsemax over the last axis (Martins & Astudillo 2016, Keras's `sparsemax`): with `z`
/// sorted in decreasing order, `k` the number of entries with `1 + j·z_j > Σ_{i≤j} z_i`, and
/// `τ = (Σ_{i≤k} z_i - 1) / k`, the output is `max(x - τ, 0)`.
fn sparsemax<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    let last = D - 1;
    let n = x.dims()[last];
    let device = x.device();
    let sorted = x.clone().sort_descending(last);
    let cumulative = sorted.clone().cumsum(last);
    let mut ranks_shape = [1usize; D];
    ranks_shape[last] = n;
    let ranks = Tensor::<1>::from_floats(
        burn::tensor::TensorData::new((1..=n).map(|j| j as f32).collect::<Vec<_>>(), [n]),
        &device,
    )
    .reshape(ranks_shape);
    let support = (sorted.clone() * ranks + 1.0).greater(cumulative).float();
    let k = support.clone().sum_dim(last);
    // Σ_{i≤k} z_i: the support is a prefix of the sorted values.
    let total = (sorted * support).sum_dim(last);
    let tau = (total - 1.0) / k;
    (x - tau).clamp_min(0.0)
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
        if s.eq_ignore_ascii_case("hard_swish") {
            return Ok(Activation::HardSilu);
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
