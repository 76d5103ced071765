//! Losses with Keras's names and formulas (mean over the batch).

use std::str::FromStr;

use burn::tensor::activation::{log_softmax, sigmoid, softmax, softplus};
use burn::tensor::{Int, Tensor};
use kiln_model::Activation;
use serde::{Deserialize, Serialize};

use crate::custom::{CustomLoss, CustomLossFn};
use crate::error::{Error, Result};

/// Keras's clipping bound for probabilities.
pub(crate) const EPSILON: f32 = 1e-7;

/// A loss function, by Keras's name. Options (`from_logits`, `label_smoothing`, Huber's
/// `delta`) are set with the builder methods, which return a [`LossConfig`].
///
/// Cross-entropies take probabilities, as Keras's default `from_logits=False`. When the model
/// ends in softmax, categorical cross-entropies are computed from the pre-activation values
/// with a stable log-softmax. Binary cross-entropy after a sigmoid uses Keras's clipped
/// probabilities (`[1e-7, 1 - 1e-7]`), as Keras's JAX backend does: the fused log-sigmoid form
/// differs from Keras's numbers once outputs saturate (measured on the `training-mlp-bce`
/// fixture: 2.4e-4 in the first epoch's loss).
///
/// # Examples
/// ```
/// use kiln_train::Loss;
/// let loss: Loss = "sparse_categorical_crossentropy".parse()?;
/// assert_eq!(loss, Loss::SparseCategoricalCrossentropy);
/// let smoothed = Loss::CategoricalCrossentropy.label_smoothing(0.1);
/// assert_eq!(smoothed.label_smoothing, 0.1);
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
    /// `100·mean(|y - p| / max(|y|, ε))`.
    MeanAbsolutePercentageError,
    /// `mean((log(max(p, ε) + 1) - log(max(y, ε) + 1))²)`.
    MeanSquaredLogarithmicError,
    /// Quadratic below `delta` (default 1), linear above.
    Huber,
    /// `Σ y·log(y / p)`, both clipped to `[ε, 1]`.
    KlDivergence,
    /// `mean(p - y·log(p + ε))`.
    Poisson,
    /// `mean(max(1 - y·p, 0))`, 0/1 labels mapped to -1/1.
    Hinge,
    /// `mean(max(1 - y·p, 0)²)`, 0/1 labels mapped to -1/1.
    SquaredHinge,
    /// `max(0, 1 + max((1 - y)·p) - Σ y·p)`.
    CategoricalHinge,
    /// `mean(log(cosh(p - y)))`.
    LogCosh,
    /// `-Σ normalize(y)·normalize(p)` (negative cosine similarity).
    CosineSimilarity,
}

impl Loss {
    /// A user-defined loss for `compile` (Keras: passing a function as `loss`). Targets are
    /// checked as for `mean_squared_error` (the output's shape, as floats).
    pub fn custom(loss: impl CustomLoss) -> LossConfig {
        LossConfig {
            custom: Some(CustomLossFn(std::sync::Arc::new(loss))),
            ..Loss::MeanSquaredError.config()
        }
    }

    const NAMES: [(&'static str, Loss); 26] = [
        ("categorical_crossentropy", Loss::CategoricalCrossentropy),
        (
            "sparse_categorical_crossentropy",
            Loss::SparseCategoricalCrossentropy,
        ),
        ("binary_crossentropy", Loss::BinaryCrossentropy),
        ("mean_squared_error", Loss::MeanSquaredError),
        ("mean_absolute_error", Loss::MeanAbsoluteError),
        (
            "mean_absolute_percentage_error",
            Loss::MeanAbsolutePercentageError,
        ),
        (
            "mean_squared_logarithmic_error",
            Loss::MeanSquaredLogarithmicError,
        ),
        ("huber", Loss::Huber),
        ("kl_divergence", Loss::KlDivergence),
        ("poisson", Loss::Poisson),
        ("hinge", Loss::Hinge),
        ("squared_hinge", Loss::SquaredHinge),
        ("categorical_hinge", Loss::CategoricalHinge),
        ("log_cosh", Loss::LogCosh),
        ("cosine_similarity", Loss::CosineSimilarity),
        ("mse", Loss::MeanSquaredError),
        ("mae", Loss::MeanAbsoluteError),
        ("mape", Loss::MeanAbsolutePercentageError),
        ("msle", Loss::MeanSquaredLogarithmicError),
        ("kld", Loss::KlDivergence),
        ("kullback_leibler_divergence", Loss::KlDivergence),
        ("logcosh", Loss::LogCosh),
        ("huber_loss", Loss::Huber),
        ("categoricalcrossentropy", Loss::CategoricalCrossentropy),
        (
            "sparsecategoricalcrossentropy",
            Loss::SparseCategoricalCrossentropy,
        ),
        ("binarycrossentropy", Loss::BinaryCrossentropy),
    ];

    /// Keras's name (`"categorical_crossentropy"`).
    pub fn name(self) -> &'static str {
        Self::NAMES
            .iter()
            .find(|(_, l)| *l == self)
            .map_or("loss", |(n, _)| n)
    }

    /// Whether targets are integer class ids.
    pub fn is_sparse(self) -> bool {
        self == Loss::SparseCategoricalCrossentropy
    }

    /// This loss with Keras's default options.
    pub fn config(self) -> LossConfig {
        LossConfig {
            loss: self,
            custom: None,
            from_logits: false,
            label_smoothing: 0.0,
            delta: 1.0,
        }
    }

    /// The model outputs logits (cross-entropies).
    pub fn from_logits(self, from_logits: bool) -> LossConfig {
        self.config().from_logits(from_logits)
    }

    /// Smooths the targets (categorical and binary cross-entropy).
    pub fn label_smoothing(self, s: f32) -> LossConfig {
        self.config().label_smoothing(s)
    }

    /// Huber's threshold.
    pub fn delta(self, delta: f32) -> LossConfig {
        self.config().delta(delta)
    }
}

/// A loss with its options, as Keras's loss objects (`CategoricalCrossentropy(from_logits=True)`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LossConfig {
    /// Which loss (`MeanSquaredError`'s target rules for a custom loss).
    pub loss: Loss,
    /// A user-defined loss, which replaces `loss`'s formula (see [`Loss::custom`]).
    #[serde(skip)]
    pub custom: Option<CustomLossFn>,
    /// The model's outputs are logits (cross-entropies; default false).
    pub from_logits: bool,
    /// Target smoothing for categorical and binary cross-entropy (default 0).
    pub label_smoothing: f32,
    /// Huber's threshold (default 1).
    pub delta: f32,
}

impl LossConfig {
    /// Sets `from_logits`.
    pub fn from_logits(mut self, from_logits: bool) -> Self {
        self.from_logits = from_logits;
        self
    }

    /// Sets `label_smoothing`.
    pub fn label_smoothing(mut self, s: f32) -> Self {
        self.label_smoothing = s;
        self
    }

    /// Sets Huber's `delta`.
    pub fn delta(mut self, delta: f32) -> Self {
        self.delta = delta;
        self
    }

    /// Reads Keras's loss name and `get_config()` (`from_logits`, `label_smoothing`, `delta`).
    ///
    /// # Errors
    /// [`Error::UnknownName`] for a loss Kiln does not have.
    pub fn from_keras(name: &str, config: &serde_json::Value) -> Result<Self> {
        let mut out = name.parse::<Loss>()?.config();
        if let Some(v) = config
            .get("from_logits")
            .and_then(serde_json::Value::as_bool)
        {
            out.from_logits = v;
        }
        if let Some(v) = config
            .get("label_smoothing")
            .and_then(serde_json::Value::as_f64)
        {
            out.label_smoothing = v as f32;
        }
        if let Some(v) = config.get("delta").and_then(serde_json::Value::as_f64) {
            out.delta = v as f32;
        }
        Ok(out)
    }

    /// Keras's name of the loss (a custom loss's own).
    pub fn name(&self) -> &str {
        match &self.custom {
            Some(c) => c.0.name(),
            None => self.loss.name(),
        }
    }

    /// Whether targets are integer class ids.
    pub fn is_sparse(&self) -> bool {
        self.loss.is_sparse()
    }

    /// The mean loss of a batch, `[1]`.
    ///
    /// `z` is the model's output before its last activation `act`, flattened to
    /// `[rows, features]`; `y` holds the matching targets.
    pub fn compute(&self, z: Tensor<2>, act: Activation, y: &Targets) -> Tensor<1> {
        self.per_row(z, act, y).mean()
    }

    /// The batch loss with per-row weights, reduced as Keras's `sum_over_batch_size`:
    /// `Σ loss_i·w_i / rows` (not divided by the sum of the weights).
    pub fn compute_weighted(
        &self,
        z: Tensor<2>,
        act: Activation,
        y: &Targets,
        weights: Option<&Tensor<1>>,
    ) -> Tensor<1> {
        match weights {
            None => self.compute(z, act, y),
            Some(w) => {
                let rows = w.dims()[0] as f32;
                (self.per_row(z, act, y) * w.clone()).sum() / rows
            }
        }
    }

    /// The loss of each row, `[rows]`.
    pub fn per_row(&self, z: Tensor<2>, act: Activation, y: &Targets) -> Tensor<1> {
        if let Some(custom) = &self.custom {
            let rows = z.dims()[0];
            return custom.0.call(y.dense(), act.apply(z)).reshape([rows]);
        }
        let per_row = match y {
            Targets::Sparse(ids) => {
                let rows = ids.dims()[0];
                let log_p = self.log_probs(z, act);
                -log_p.gather(1, ids.clone().reshape([rows, 1]))
            }
            Targets::Dense(y) => self.dense(z, act, y.clone()),
        };
        let rows = per_row.dims()[0];
        per_row.reshape([rows])
    }

    fn dense(&self, z: Tensor<2>, act: Activation, y: Tensor<2>) -> Tensor<2> {
        let classes = y.dims()[1] as f32;
        let s = self.label_smoothing;
        match self.loss {
            Loss::CategoricalCrossentropy | Loss::SparseCategoricalCrossentropy => {
                let y = if s > 0.0 {
                    y * (1.0 - s) + s / classes
                } else {
                    y
                };
                -(self.log_probs(z, act) * y).sum_dim(1)
            }
            Loss::BinaryCrossentropy => {
                let y = if s > 0.0 { y * (1.0 - s) + 0.5 * s } else { y };
                if self.from_logits {
                    // Stable form on logits: max(x, 0) - x·y + log(1 + exp(-|x|)).
                    let x = if self.from_logits { act.apply(z) } else { z };
                    let tail = softplus(x.clone().abs().neg(), 1.0);
                    (x.clone().clamp_min(0.0) - x * y + tail).mean_dim(1)
                } else {
                    let p = act.apply(z).clamp(EPSILON, 1.0 - EPSILON);
                    let one_minus_y = y.clone().neg() + 1.0;
                    -(p.clone().log() * y + (p.neg() + 1.0).log() * one_minus_y).mean_dim(1)
                }
            }
            Loss::MeanSquaredError => (act.apply(z) - y).square().mean_dim(1),
            Loss::MeanAbsoluteError => (act.apply(z) - y).abs().mean_dim(1),
            Loss::MeanAbsolutePercentageError => {
                let p = act.apply(z);
                ((y.clone() - p).abs() / y.abs().clamp_min(EPSILON)).mean_dim(1) * 100.0
            }
            Loss::MeanSquaredLogarithmicError => {
                let p = (act.apply(z).clamp_min(EPSILON) + 1.0).log();
                let t = (y.clamp_min(EPSILON) + 1.0).log();
                (p - t).square().mean_dim(1)
            }
            Loss::Huber => {
                let e = (act.apply(z) - y).abs();
                let quadratic = e.clone().clamp_max(self.delta);
                let linear = e - quadratic.clone();
                (quadratic.square() * 0.5 + linear * self.delta).mean_dim(1)
            }
            Loss::KlDivergence => {
                let p = act.apply(z).clamp(EPSILON, 1.0);
                let t = y.clamp(EPSILON, 1.0);
                (t.clone() * (t / p).log()).sum_dim(1)
            }
            Loss::Poisson => {
                let p = act.apply(z);
                (p.clone() - y * (p + EPSILON).log()).mean_dim(1)
            }
            Loss::Hinge | Loss::SquaredHinge => {
                let t = signed_labels(y);
                let margin = (-(t * act.apply(z)) + 1.0).clamp_min(0.0);
                if self.loss == Loss::Hinge {
                    margin.mean_dim(1)
                } else {
                    margin.square().mean_dim(1)
                }
            }
            Loss::CategoricalHinge => {
                let p = act.apply(z);
                let positive = (y.clone() * p.clone()).sum_dim(1);
                let negative = ((y.neg() + 1.0) * p).max_dim(1);
                (negative - positive + 1.0).clamp_min(0.0)
            }
            Loss::LogCosh => {
                let x = act.apply(z) - y;
                (x.clone() + softplus(x * -2.0, 1.0) - std::f32::consts::LN_2).mean_dim(1)
            }
            Loss::CosineSimilarity => {
                let p = l2_normalize(act.apply(z));
                -(l2_normalize(y) * p).sum_dim(1)
            }
        }
    }

    /// `log(p)` for the class probabilities: log-softmax of logits (`from_logits`, or fused
    /// after a softmax), else Keras's normalized and clipped probabilities.
    fn log_probs(&self, z: Tensor<2>, act: Activation) -> Tensor<2> {
        if self.from_logits {
            return log_softmax(act.apply(z), 1);
        }
        match act {
            Activation::Softmax | Activation::LogSoftmax => log_softmax(z, 1),
            other => {
                let p = other.apply(z);
                let p = p.clone() / p.sum_dim(1);
                p.clamp(EPSILON, 1.0 - EPSILON).log()
            }
        }
    }
}

/// Keras maps labels that are all 0/1 to -1/1 for the hinge losses (checked on the device).
fn signed_labels(y: Tensor<2>) -> Tensor<2> {
    let all_01 = (y.clone() * (y.clone() - 1.0))
        .abs()
        .sum()
        .equal_elem(0.0)
        .float();
    let [rows, cols] = y.dims();
    let flag = all_01.reshape([1, 1]).expand([rows, cols]);
    y.clone() + flag * (y - 1.0)
}

/// `x / sqrt(max(Σ x², 1e-12))` over the last axis, as Keras's `normalize`.
fn l2_normalize(x: Tensor<2>) -> Tensor<2> {
    let norm = x.clone().square().sum_dim(1).clamp_min(1e-12).sqrt();
    x / norm
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
                valid: Self::NAMES[..15].iter().map(|(n, _)| *n).collect(),
            })
    }
}

/// Anything `compile` accepts as a loss: a [`Loss`] or a Keras name.
pub trait IntoLoss {
    /// Resolves to a loss with its options.
    ///
    /// # Errors
    /// [`Error::UnknownName`] for an unknown name.
    fn into_loss(self) -> Result<LossConfig>;
}

impl IntoLoss for Loss {
    fn into_loss(self) -> Result<LossConfig> {
        Ok(self.config())
    }
}

impl IntoLoss for LossConfig {
    fn into_loss(self) -> Result<LossConfig> {
        Ok(self)
    }
}

impl IntoLoss for &str {
    fn into_loss(self) -> Result<LossConfig> {
        Ok(self.parse::<Loss>()?.config())
    }
}

/// Targets on the device, `[rows, features]` floats or `[rows]` class ids.
#[allow(missing_docs)]
#[derive(Debug, Clone)]
pub enum Targets {
    /// Float targets (one-hot, binary, regression).
    Dense(Tensor<2>),
    /// Integer class ids.
    Sparse(Tensor<1, Int>),
}

impl Targets {
    /// As floats `[rows, features]`; class ids become `[rows, 1]`.
    pub fn dense(&self) -> Tensor<2> {
        match self {
            Targets::Dense(t) => t.clone(),
            Targets::Sparse(ids) => {
                let rows = ids.dims()[0];
                ids.clone().float().reshape([rows, 1])
            }
        }
    }

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
