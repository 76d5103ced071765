//! Losses with Keras's names and formulas (mean over the batch).

use std::str::FromStr;

use burn::tensor::activation::{log_sigmoid, log_softmax, sigmoid, softmax};
use burn::tensor::{Int, Tensor};
use kiln_model::Activation;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Keras's clipping bound for probabilities.
pub(crate) const EPSILON: f32 = 1e-7;

/// A loss function, by Keras's name.
///
/// Cross-entropies take probabilities, as Keras's default `from_logits=False`; when the model
/// ends in softmax (sigmoid) Kiln computes them from the pre-activation values with a stable
/// log-softmax (log-sigmoid), as Keras does.
///
/// # Examples
/// ```
/// use kiln_train::Loss;
/// let loss: Loss = "sparse_categorical_crossentropy".parse()?;
/// assert_eq!(loss, Loss::SparseCategoricalCrossentropy);
/// assert!("crossentropy".parse::<Loss>().unwrap_err().to_string().contains("valid names"));
/// # Ok::<(), kiln_train::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Loss {
    /// `-Σ y·log(p)` over the last axis; `y` one-hot.
    CategoricalCrossentropy,
    /// As categorical, with integer class ids as targets.
    SparseCategoricalCrossentropy,
    /// `-mean(y·log(p) + (1-y)·log(1-p))` over the last axis.
    BinaryCrossentropy,
    /// `mean((y - p)²)` over the last axis.
    MeanSquaredError,
    /// `mean(|y - p|)` over the last axis.
    MeanAbsoluteError,
}

impl Loss {
    const NAMES: [(&'static str, Loss); 9] = [
        ("categorical_crossentropy", Loss::CategoricalCrossentropy),
        (
            "sparse_categorical_crossentropy",
            Loss::SparseCategoricalCrossentropy,
        ),
        ("binary_crossentropy", Loss::BinaryCrossentropy),
        ("mean_squared_error", Loss::MeanSquaredError),
        ("mse", Loss::MeanSquaredError),
        ("mean_absolute_error", Loss::MeanAbsoluteError),
        ("mae", Loss::MeanAbsoluteError),
        ("categoricalcrossentropy", Loss::CategoricalCrossentropy),
        (
            "sparsecategoricalcrossentropy",
            Loss::SparseCategoricalCrossentropy,
        ),
    ];

    /// Keras's name (`"categorical_crossentropy"`).
    pub fn name(self) -> &'static str {
        match self {
            Loss::CategoricalCrossentropy => "categorical_crossentropy",
            Loss::SparseCategoricalCrossentropy => "sparse_categorical_crossentropy",
            Loss::BinaryCrossentropy => "binary_crossentropy",
            Loss::MeanSquaredError => "mean_squared_error",
            Loss::MeanAbsoluteError => "mean_absolute_error",
        }
    }

    /// Whether targets are integer class ids.
    pub fn is_sparse(self) -> bool {
        self == Loss::SparseCategoricalCrossentropy
    }

    /// The mean loss of a batch, `[1]`.
    ///
    /// `z` is the model's output before its last activation `act`, flattened to
    /// `[rows, features]`; `y` holds the matching targets.
    pub(crate) fn compute(self, z: Tensor<2>, act: Activation, y: &Targets) -> Tensor<1> {
        let per_row = match (self, y) {
            (Loss::CategoricalCrossentropy, Targets::Dense(y)) => {
                -(log_probs(z, act) * y.clone()).sum_dim(1)
            }
            (Loss::SparseCategoricalCrossentropy, Targets::Sparse(ids)) => {
                let rows = ids.dims()[0];
                -log_probs(z, act).gather(1, ids.clone().reshape([rows, 1]))
            }
            (Loss::BinaryCrossentropy, Targets::Dense(y)) => {
                let (log_p, log_1mp) = binary_logs(z, act);
                -(log_p * y.clone() + log_1mp * (y.clone().neg() + 1.0)).mean_dim(1)
            }
            (Loss::MeanSquaredError, Targets::Dense(y)) => {
                (act.apply(z) - y.clone()).square().mean_dim(1)
            }
            (Loss::MeanAbsoluteError, Targets::Dense(y)) => {
                (act.apply(z) - y.clone()).abs().mean_dim(1)
            }
            // `fit` checks the targets' kind before training starts.
            (_, Targets::Dense(y)) => (act.apply(z) - y.clone()).square().mean_dim(1),
            (_, Targets::Sparse(ids)) => ids.clone().float().reshape([ids.dims()[0], 1]) * 0.0,
        };
        per_row.mean()
    }
}

/// `log(p)` for the class probabilities: fused log-softmax after softmax, else Keras's
/// normalized and clipped probabilities.
fn log_probs(z: Tensor<2>, act: Activation) -> Tensor<2> {
    match act {
        Activation::Softmax => log_softmax(z, 1),
        Activation::LogSoftmax => z,
        other => {
            let p = other.apply(z);
            let p = p.clone() / p.sum_dim(1);
            p.clamp(EPSILON, 1.0 - EPSILON).log()
        }
    }
}

/// `(log p, log(1-p))`: fused log-sigmoid after sigmoid, else clipped probabilities.
fn binary_logs(z: Tensor<2>, act: Activation) -> (Tensor<2>, Tensor<2>) {
    match act {
        Activation::Sigmoid => (log_sigmoid(z.clone()), log_sigmoid(z.neg())),
        other => {
            let p = other.apply(z).clamp(EPSILON, 1.0 - EPSILON);
            (p.clone().log(), (p.neg() + 1.0).log())
        }
    }
}

/// Softmax/sigmoid kept for metrics that need probabilities.
pub(crate) fn probabilities(z: Tensor<2>, act: Activation) -> Tensor<2> {
    match act {
        Activation::Softmax => softmax(z, 1),
        Activation::Sigmoid => sigmoid(z),
        other => other.apply(z),
    }
}

impl FromStr for Loss {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let key = s.trim().to_ascii_lowercase();
        Self::NAMES
            .iter()
            .find(|(n, _)| *n == key)
            .map(|(_, l)| *l)
            .ok_or_else(|| Error::UnknownName {
                kind: "loss",
                name: s.to_string(),
                valid: Self::NAMES[..7].iter().map(|(n, _)| *n).collect(),
            })
    }
}

/// Anything `compile` accepts as a loss: a [`Loss`] or a Keras name.
pub trait IntoLoss {
    /// Resolves to a loss.
    ///
    /// # Errors
    /// [`Error::UnknownName`] for an unknown name.
    fn into_loss(self) -> Result<Loss>;
}

impl IntoLoss for Loss {
    fn into_loss(self) -> Result<Loss> {
        Ok(self)
    }
}

impl IntoLoss for &str {
    fn into_loss(self) -> Result<Loss> {
        self.parse()
    }
}

/// Targets on the device, `[rows, features]` floats or `[rows]` class ids.
#[derive(Debug, Clone)]
pub(crate) enum Targets {
    /// Float targets (one-hot, binary, regression).
    Dense(Tensor<2>),
    /// Integer class ids.
    Sparse(Tensor<1, Int>),
}

impl Targets {
    pub(crate) fn rows(&self) -> usize {
        match self {
            Targets::Dense(t) => t.dims()[0],
            Targets::Sparse(t) => t.dims()[0],
        }
    }

    pub(crate) fn select(&self, idx: Tensor<1, Int>) -> Targets {
        match self {
            Targets::Dense(t) => Targets::Dense(t.clone().select(0, idx)),
            Targets::Sparse(t) => Targets::Sparse(t.clone().select(0, idx)),
        }
    }

    pub(crate) fn narrow(&self, start: usize, len: usize) -> Targets {
        match self {
            Targets::Dense(t) => Targets::Dense(t.clone().narrow(0, start, len)),
            Targets::Sparse(t) => Targets::Sparse(t.clone().narrow(0, start, len)),
        }
    }
}
