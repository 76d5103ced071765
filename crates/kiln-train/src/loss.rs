//! Losses with Keras's names and formulas (mean over the batch).

use std::str::FromStr;

use burn::tensor::activation::{log_softmax, sigmoid, softmax, softplus};
use burn::tensor::{Int, Tensor, TensorData};
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
    /// Binary cross-entropy scaled by `(1 - p_t)^γ` (focal, Lin et al.), optionally weighted
    /// by `α` for positives and `1 - α` for negatives (`apply_class_balancing`).
    BinaryFocalCrossentropy,
    /// Categorical cross-entropy scaled by `α·(1 - p)^γ` per class.
    CategoricalFocalCrossentropy,
    /// `1 - 2·Σ y·p / (Σ y + Σ p + ε)`, over the whole batch (Keras's `axis=None`) or per row.
    Dice,
    /// `1 - Σ y·p / (Σ y·p + α·Σ y·(1-p) + β·Σ (1-y)·p + ε)`, over the whole batch or per row.
    Tversky,
    /// Circle loss (Sun et al. 2020) on L2-normalized embeddings `[rows, d]` with integer labels
    /// `[rows]`: pulls same-label pairs together and pushes others apart (`gamma` 80, margin
    /// `alpha` 0.4); rows without a same-label partner do not count.
    Circle,
    /// Connectionist temporal classification: logits `[rows, time, classes]` against label
    /// sequences `[rows, max_len]` padded with 0, class 0 being the blank.
    Ctc,
}

/// How a batch's per-sample losses become the number `fit` minimizes (Keras `reduction`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Reduction {
    /// `Σ loss·w / rows` (Keras's default; `"mean"` is the same).
    #[default]
    SumOverBatchSize,
    /// `Σ loss·w`.
    Sum,
    /// `Σ loss·w / Σ w`.
    MeanWithSampleWeight,
    /// No reduction: one loss per sample ([`LossConfig::call`]); `fit` refuses it, as
    /// Keras's JAX backend cannot differentiate a vector.
    None,
}

impl Reduction {
    /// Keras's name.
    pub fn name(self) -> &'static str {
        match self {
            Reduction::SumOverBatchSize => "sum_over_batch_size",
            Reduction::Sum => "sum",
            Reduction::MeanWithSampleWeight => "mean_with_sample_weight",
            Reduction::None => "none",
        }
    }
}

impl FromStr for Reduction {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        Ok(match s {
            "sum_over_batch_size" | "mean" | "auto" => Reduction::SumOverBatchSize,
            "sum" => Reduction::Sum,
            "mean_with_sample_weight" => Reduction::MeanWithSampleWeight,
            "none" => Reduction::None,
            _ => {
                return Err(Error::UnknownName {
                    kind: "loss reduction",
                    name: s.to_string(),
                    valid: vec![
                        "sum_over_batch_size",
                        "mean",
                        "sum",
                        "mean_with_sample_weight",
                        "none",
                    ],
                });
            }
        })
    }
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

    const NAMES: [(&'static str, Loss); 32] = [
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
        ("binary_focal_crossentropy", Loss::BinaryFocalCrossentropy),
        (
            "categorical_focal_crossentropy",
            Loss::CategoricalFocalCrossentropy,
        ),
        ("dice", Loss::Dice),
        ("tversky", Loss::Tversky),
        ("circle", Loss::Circle),
        ("ctc", Loss::Ctc),
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
        let (alpha, beta) = match self {
            Loss::Tversky => (0.5, 0.5),
            Loss::Circle => (0.4, 0.0),
            _ => (0.25, 0.0),
        };
        let gamma = if self == Loss::Circle { 80.0 } else { 2.0 };
        LossConfig {
            loss: self,
            custom: None,
            from_logits: false,
            label_smoothing: 0.0,
            delta: 1.0,
            alpha,
            beta,
            gamma,
            apply_class_balancing: false,
            per_sample: false,
            reduction: Reduction::SumOverBatchSize,
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
    /// Focal losses' class weight (0.25); Tversky's weight of false negatives (0.5).
    #[serde(default)]
    pub alpha: f32,
    /// Tversky's weight of false positives (0.5).
    #[serde(default)]
    pub beta: f32,
    /// Focal losses' focusing power (2).
    #[serde(default = "default_gamma")]
    pub gamma: f32,
    /// Binary focal: weight positives by `α`, negatives by `1 - α`.
    #[serde(default)]
    pub apply_class_balancing: bool,
    /// Dice and Tversky: one value per sample (Keras `axis=1`) instead of one over the
    /// whole batch (`axis=None`, the default).
    #[serde(default)]
    pub per_sample: bool,
    /// How per-sample losses are reduced (Keras `reduction`).
    #[serde(default)]
    pub reduction: Reduction,
}

fn default_gamma() -> f32 {
    2.0
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

    /// Sets `alpha` (focal: class weight; Tversky: false-negative weight).
    pub fn alpha(mut self, alpha: f32) -> Self {
        self.alpha = alpha;
        self
    }

    /// Sets Tversky's `beta` (false-positive weight).
    pub fn beta(mut self, beta: f32) -> Self {
        self.beta = beta;
        self
    }

    /// Sets the focal losses' `gamma`.
    pub fn gamma(mut self, gamma: f32) -> Self {
        self.gamma = gamma;
        self
    }

    /// Sets binary focal's `apply_class_balancing`.
    pub fn apply_class_balancing(mut self, on: bool) -> Self {
        self.apply_class_balancing = on;
        self
    }

    /// Dice/Tversky per sample (Keras `axis=1`) rather than over the batch.
    pub fn per_sample(mut self, on: bool) -> Self {
        self.per_sample = on;
        self
    }

    /// Sets the reduction.
    pub fn reduction(mut self, reduction: Reduction) -> Self {
        self.reduction = reduction;
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
        let f = |key: &str| config.get(key).and_then(serde_json::Value::as_f64);
        if let Some(v) = f("delta") {
            out.delta = v as f32;
        }
        if let Some(v) = f("alpha") {
            out.alpha = v as f32;
        }
        if let Some(v) = f("beta") {
            out.beta = v as f32;
        }
        if let Some(v) = f("gamma") {
            out.gamma = v as f32;
        }
        if let Some(v) = f("margin") {
            out.alpha = v as f32;
        }
        if config
            .get("remove_diagonal")
            .and_then(serde_json::Value::as_bool)
            == Some(false)
        {
            return Err(Error::InvalidOption {
                option: "remove_diagonal",
                reason: "Circle with remove_diagonal=False is not supported yet".into(),
            });
        }
        if let Some(v) = config
            .get("apply_class_balancing")
            .and_then(serde_json::Value::as_bool)
        {
            out.apply_class_balancing = v;
        }
        match config.get("axis") {
            None | Some(serde_json::Value::Null) => {}
            Some(axis) if matches!(out.loss, Loss::Dice | Loss::Tversky) => {
                let single = match axis {
                    serde_json::Value::Array(list) if list.len() == 1 => list[0].as_i64(),
                    other => other.as_i64(),
                };
                match single {
                    Some(1 | -1) => out.per_sample = true,
                    _ => {
                        return Err(Error::InvalidOption {
                            option: "axis",
                            reason: format!(
                                "{} over axis {axis}: Kiln has the whole batch (None) or each \
                                 sample (1)",
                                out.loss.name()
                            ),
                        });
                    }
                }
            }
            Some(_) => {}
        }
        if let Some(r) = config.get("reduction").and_then(serde_json::Value::as_str) {
            out.reduction = r.parse()?;
        }
        Ok(out)
    }

    /// The loss of `y_pred` (`[rows, features]`, after the model's last activation) against
    /// `y`, reduced by [`reduction`](LossConfig::reduction) (Keras's `loss(y_true, y_pred)`):
    /// one value, or one per sample with [`Reduction::None`]. CTC takes the logits flattened
    /// to `[rows·time, classes]` and dense label rows `[rows, max_len]`; Circle the labels as
    /// ids or one per row.
    ///
    /// # Errors
    /// [`Error::InvalidOption`] when the targets cannot go with the predictions (CTC's steps
    /// not a whole number per label row, sparse CTC labels, a Circle label count that is not
    /// one per row).
    pub fn call(&self, y: &Targets, y_pred: Tensor<2>) -> Result<Tensor<1>> {
        let rows = y_pred.dims()[0];
        let bad = |reason: String| {
            Err(Error::InvalidOption {
                option: "loss",
                reason,
            })
        };
        match (self.loss, y) {
            (Loss::Ctc, Targets::Sparse(_)) => {
                return bad("CTC takes label rows [rows, max_len] (Targets::Dense)".into());
            }
            (Loss::Ctc, Targets::Dense(labels)) => {
                let n = labels.dims()[0];
                if n == 0 || !rows.is_multiple_of(n) {
                    return bad(format!(
                        "CTC: {rows} prediction rows do not split into {n} label rows"
                    ));
                }
            }
            (Loss::Circle, _) if y.dense().dims()[0] != rows => {
                return bad(format!(
                    "Circle takes one label per embedding: {} labels for {rows} rows",
                    y.dense().dims()[0]
                ));
            }
            _ => {}
        }
        let per_row = self.per_row(y_pred, Activation::Linear, y);
        Ok(self.reduce(per_row, None))
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
        let per_row = self.per_row(z, act, y);
        self.reduce(per_row, weights)
    }

    /// Keras's `reduce_values`: the per-row losses (times the weights) reduced.
    fn reduce(&self, per_row: Tensor<1>, weights: Option<&Tensor<1>>) -> Tensor<1> {
        if self.loss == Loss::Circle && self.reduction == Reduction::SumOverBatchSize {
            // Keras masks rows whose loss is 0 (no same-label partner): the mean of the rest.
            let counted = per_row.clone().greater_elem(0.0).float();
            let weighted = match weights {
                Some(w) => per_row * w.clone(),
                None => per_row,
            };
            let n = counted.sum().clamp_min(1.0);
            return weighted.sum() / n;
        }
        let rows = per_row.dims()[0] as f32;
        let weighted = match weights {
            Some(w) => per_row * w.clone(),
            None => per_row,
        };
        match self.reduction {
            Reduction::None => weighted,
            Reduction::Sum => weighted.sum(),
            Reduction::SumOverBatchSize => weighted.sum() / rows,
            Reduction::MeanWithSampleWeight => match weights {
                Some(w) => {
                    let total = w.clone().sum();
                    // Keras's divide_no_nan: 0 when the weights sum to 0.
                    let safe = total.clone().equal_elem(0.0).float() + total.clone();
                    weighted.sum() / safe * total.not_equal_elem(0.0).float()
                }
                None => weighted.sum() / rows,
            },
        }
    }

    /// The loss of each row, `[rows]`.
    pub fn per_row(&self, z: Tensor<2>, act: Activation, y: &Targets) -> Tensor<1> {
        if let Some(custom) = &self.custom {
            let rows = z.dims()[0];
            return custom.0.call(y.dense(), act.apply(z)).reshape([rows]);
        }
        match self.loss {
            Loss::Circle => return self.circle(act.apply(z), y),
            Loss::Ctc => return ctc(act.apply(z), y),
            _ => {}
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
            Loss::BinaryFocalCrossentropy => {
                let y = if s > 0.0 { y * (1.0 - s) + 0.5 * s } else { y };
                let p = if self.from_logits {
                    sigmoid(act.apply(z))
                } else {
                    act.apply(z)
                };
                let one_minus_y = y.clone().neg() + 1.0;
                let clipped = p.clone().clamp(EPSILON, 1.0 - EPSILON);
                let bce = -(clipped.clone().log() * y.clone()
                    + (clipped.neg() + 1.0).log() * one_minus_y.clone());
                let p_t = y.clone() * p.clone() + one_minus_y.clone() * (p.neg() + 1.0);
                let mut focal = (p_t.neg() + 1.0).powf_scalar(self.gamma) * bce;
                if self.apply_class_balancing {
                    focal = focal * (y * self.alpha + one_minus_y * (1.0 - self.alpha));
                }
                focal.mean_dim(1)
            }
            Loss::CategoricalFocalCrossentropy => {
                let y = if s > 0.0 {
                    y * (1.0 - s) + s / classes
                } else {
                    y
                };
                let p = if self.from_logits {
                    softmax(act.apply(z), 1)
                } else {
                    act.apply(z)
                };
                let p = p.clone() / p.sum_dim(1);
                let p = p.clamp(EPSILON, 1.0 - EPSILON);
                let cce = -(y * p.clone().log());
                let factor = (p.neg() + 1.0).powf_scalar(self.gamma) * self.alpha;
                (factor * cce).sum_dim(1)
            }
            // Handled in `per_row` (they need the targets as labels, not as rows).
            Loss::Circle | Loss::Ctc => {
                let rows = z.dims()[0];
                Tensor::zeros([rows, 1], &z.device())
            }
            Loss::Dice | Loss::Tversky => {
                let p = act.apply(z);
                let rows = p.dims()[0];
                // Keras's `axis=None`: one value over the whole batch, the same for each row.
                let sum = |t: Tensor<2>| {
                    if self.per_sample {
                        t.sum_dim(1)
                    } else {
                        t.sum().reshape([1, 1]).expand([rows, 1])
                    }
                };
                let intersection = sum(y.clone() * p.clone());
                let ratio = if self.loss == Loss::Dice {
                    (intersection * 2.0) / (sum(y) + sum(p) + EPSILON)
                } else {
                    // Keras's names: `fp = Σ (1-p)·y`, `fn = Σ p·(1-y)`.
                    let fp = sum((p.clone().neg() + 1.0) * y.clone());
                    let fn_ = sum(p * (y.neg() + 1.0));
                    intersection.clone()
                        / (intersection + fp * self.alpha + fn_ * self.beta + EPSILON)
                };
                ratio.neg() + 1.0
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

impl LossConfig {
    /// Circle loss per row; `e` `[rows, d]` embeddings (Keras expects them L2-normalized).
    fn circle(&self, e: Tensor<2>, y: &Targets) -> Tensor<1> {
        let [rows, _] = e.dims();
        let device = e.device();
        let labels = y.dense().reshape([rows, 1]);
        let (gamma, margin) = (self.gamma, self.alpha);
        let distance = (e.clone().matmul(e.transpose()).neg() + 1.0).clamp_min(0.0);
        let same = labels
            .clone()
            .expand([rows, rows])
            .equal(labels.transpose().expand([rows, rows]));
        let eye = Tensor::<2>::eye(rows, &device).bool();
        let positive = same.clone().bool_and(eye.bool_not()).float();
        let negative = same.bool_not().float();
        let pos_weights = ((distance.clone() + margin) * positive.clone()).clamp_min(0.0);
        let neg_weights =
            ((distance.clone().neg() + (1.0 + margin)) * negative.clone()).clamp_min(0.0);
        let pos = pos_weights * (distance.clone().neg() + margin) * -gamma;
        let neg = neg_weights * (distance.neg() + (1.0 - margin)) * gamma;
        let p_loss = masked_logsumexp(pos, positive.clone());
        let n_loss = masked_logsumexp(neg, negative.clone());
        // A row without a partner on either side has an empty sum (-inf): its loss is 0.
        let valid = positive
            .sum_dim(1)
            .greater_elem(0.0)
            .bool_and(negative.sum_dim(1).greater_elem(0.0))
            .reshape([rows]);
        let loss = softplus(p_loss + n_loss, 1.0);
        loss.clone().zeros_like().mask_where(valid, loss)
    }
}

/// `log Σ exp(x)` over the entries of each row where `mask` is 1, `[rows]`; a very negative
/// number for a row with none (never NaN, so its gradient stays finite).
fn masked_logsumexp(x: Tensor<2>, mask: Tensor<2>) -> Tensor<1> {
    let [rows, _] = x.dims();
    let lowest = x.clone().mask_fill(mask.clone().equal_elem(0.0), -1e30);
    let top = lowest.clone().max_dim(1);
    let sum = ((lowest - top.clone()).exp() * mask).sum_dim(1);
    (sum.clamp_min(1e-30).log() + top).reshape([rows])
}

/// Keras's `log_epsilon` for an impossible path in CTC.
const CTC_NEG: f32 = -1e5;

/// CTC negative log-likelihood per sample (Graves et al. 2006): `z` is the logits flattened
/// to `[rows·time, classes]`, `y` the label sequences `[rows, max_len]` padded with 0 (the
/// blank); every sample uses all `time` steps, as Keras's `ctc`.
fn ctc(z: Tensor<2>, y: &Targets) -> Tensor<1> {
    let labels = y.dense();
    let [rows, max_len] = labels.dims();
    let [flat, classes] = z.dims();
    let device = z.device();
    let time = flat / rows.max(1);
    let log_probs = log_softmax(z.reshape([rows, time, classes]), 2);
    // The extended sequence: blank, l1, blank, l2, ..., blank (s = 2·max_len + 1 states).
    let states = 2 * max_len + 1;
    let odd: Vec<i64> = (0..states)
        .map(|s| (s.saturating_sub(1) / 2) as i64)
        .collect();
    let odd = Tensor::<1, Int>::from_data(TensorData::new(odd, [states]), &device);
    let is_label: Vec<f32> = (0..states).map(|s| (s % 2) as f32).collect();
    let is_label = Tensor::<1>::from_data(TensorData::new(is_label, [states]), &device)
        .reshape([1, states])
        .expand([rows, states]);
    let label_ids = labels.clone().int();
    let extended = label_ids
        .gather(1, odd.reshape([1, states]).expand([rows, states]))
        .float()
        * is_label;
    let index = extended.clone().int();
    let emit = log_probs.gather(
        2,
        index
            .reshape([rows, 1, states])
            .expand([rows, time, states]),
    );
    // A skip from s-2 to s is allowed onto a label that differs from the one two back.
    let back2 = Tensor::cat(
        vec![
            Tensor::<2>::full([rows, 2.min(states)], -1.0, &device),
            extended.clone().narrow(1, 0, states.saturating_sub(2)),
        ],
        1,
    );
    let skip = extended
        .clone()
        .not_equal_elem(0.0)
        .bool_and(extended.not_equal(back2))
        .float();
    let neg = |n: usize| Tensor::<2>::full([rows, n], CTC_NEG, &device);
    let first_two: Vec<f32> = (0..states)
        .map(|s| if s < 2 { 0.0 } else { CTC_NEG })
        .collect();
    let start = Tensor::<1>::from_data(TensorData::new(first_two, [states]), &device)
        .reshape([1, states])
        .expand([rows, states]);
    let step = |t: usize| emit.clone().narrow(1, t, 1).reshape([rows, states]);
    let mut alpha = start + step(0);
    for t in 1..time {
        let shift1 = Tensor::cat(vec![neg(1), alpha.clone().narrow(1, 0, states - 1)], 1);
        let shift2 = if states > 2 {
            Tensor::cat(vec![neg(2), alpha.clone().narrow(1, 0, states - 2)], 1)
        } else {
            neg(states)
        };
        // Disallowed skips take Keras's impossible-path value.
        let shift2 = shift2 * skip.clone() + (skip.clone().neg() + 1.0) * CTC_NEG;
        let top = alpha
            .clone()
            .max_pair(shift1.clone())
            .max_pair(shift2.clone());
        let sum = (alpha - top.clone()).exp()
            + (shift1 - top.clone()).exp()
            + (shift2 - top.clone()).exp();
        alpha = sum.log() + top + step(t);
    }
    // End in the last label or the blank after it: states 2L and 2L - 1.
    let lengths = labels.not_equal_elem(0.0).float().sum_dim(1).int();
    let last = lengths.clone() * 2;
    let before = (lengths * 2 - 1).clamp_min(0);
    let a = alpha.clone().gather(1, last);
    let b = alpha.gather(1, before.clone());
    // With no labels, only the all-blank path (state 0) ends the sequence.
    let has_labels = before.greater_elem(0).float();
    let b = b.clone() * has_labels.clone() + (has_labels.neg() + 1.0) * CTC_NEG;
    let top = a.clone().max_pair(b.clone());
    let total = ((a - top.clone()).exp() + (b - top.clone()).exp()).log() + top;
    total.neg().reshape([rows])
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
                valid: Self::NAMES[..21].iter().map(|(n, _)| *n).collect(),
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
