//! Metrics with Keras's names, accumulated on the device across batches.

use std::str::FromStr;

use burn::tensor::{Device, Int, Tensor, TensorData};
use kiln_model::Activation;
use serde::{Deserialize, Serialize};

use crate::custom::{CustomMetric, CustomMetricFn, StatefulMetric, StatefulMetricFn};
use crate::error::{Error, Result};
use crate::loss::{LossConfig, Targets, probabilities};

/// A metric, by Keras's name. `Accuracy` (`"accuracy"`) is resolved from the loss when the
/// model is compiled, as Keras does: categorical, sparse categorical or binary accuracy.
/// Options (threshold, `k`, thresholds of AUC) are set with the builder methods, which return a
/// [`MetricConfig`].
///
/// # Examples
/// ```
/// use kiln_train::Metric;
/// assert_eq!("accuracy".parse::<Metric>()?, Metric::Accuracy);
/// assert_eq!("mae".parse::<Metric>()?, Metric::MeanAbsoluteError);
/// let top2 = Metric::TopKCategoricalAccuracy.k(2);
/// assert_eq!(top2.k, 2);
/// # Ok::<(), kiln_train::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Metric {
    /// Resolved from the loss (see the type's docs); reported as `accuracy`.
    Accuracy,
    /// `y_pred == y_true` element-wise (Keras's `keras.metrics.Accuracy` object).
    #[doc(alias = "keras.metrics.Accuracy")]
    ExactMatch,
    /// `argmax(p) == argmax(y)`.
    CategoricalAccuracy,
    /// `argmax(p) == y` for integer class ids.
    SparseCategoricalAccuracy,
    /// `(p > threshold) == y` (threshold 0.5).
    BinaryAccuracy,
    /// The true class (one-hot) is among the `k` largest predictions (k 5).
    TopKCategoricalAccuracy,
    /// The true class id is among the `k` largest predictions (k 5).
    SparseTopKCategoricalAccuracy,
    /// Area under the ROC curve (200 thresholds, interpolation).
    #[doc(alias = "AUC")]
    Auc,
    /// `tp / (tp + fp)` at a threshold (0.5).
    Precision,
    /// `tp / (tp + fn)` at a threshold (0.5).
    Recall,
    /// Mean absolute error, reported as `mae`.
    MeanAbsoluteError,
    /// Mean squared error, reported as `mse`.
    MeanSquaredError,
    /// Root of the mean squared error, reported as `root_mean_squared_error`.
    RootMeanSquaredError,
    /// Count of predictions above each threshold whose target is true (thresholds 0.5).
    TruePositives,
    /// Count of predictions above each threshold whose target is false.
    FalsePositives,
    /// Count of predictions at or below each threshold whose target is false.
    TrueNegatives,
    /// Count of predictions at or below each threshold whose target is true.
    FalseNegatives,
    /// F1 per class, or averaged (`average`: micro, macro, weighted).
    F1Score,
    /// F-beta per class, or averaged.
    FBetaScore,
    /// Intersection over union of the chosen classes (`target_class_ids`), from class ids.
    #[doc(alias = "IoU")]
    Iou,
    /// Mean IoU over all classes, from class ids.
    #[doc(alias = "MeanIoU")]
    MeanIou,
    /// IoU of 0/1 targets against `p >= threshold`.
    #[doc(alias = "BinaryIoU")]
    BinaryIou,
    /// IoU of the chosen classes from one-hot targets and the predictions' argmax.
    #[doc(alias = "OneHotIoU")]
    OneHotIou,
    /// Mean IoU over all classes from one-hot targets and the predictions' argmax.
    #[doc(alias = "OneHotMeanIoU")]
    OneHotMeanIou,
    /// Coefficient of determination, per output averaged (`class_aggregation`), adjusted for
    /// `num_regressors`.
    R2Score,
    /// The best precision over thresholds whose recall is at least `value`.
    PrecisionAtRecall,
    /// The best recall over thresholds whose precision is at least `value`.
    RecallAtPrecision,
    /// The best sensitivity over thresholds whose specificity is at least `value`.
    SensitivityAtSpecificity,
    /// The best specificity over thresholds whose sensitivity is at least `value`.
    SpecificityAtSensitivity,
    /// Mean binary cross-entropy (the loss, as a metric).
    BinaryCrossentropy,
    /// Mean categorical cross-entropy.
    CategoricalCrossentropy,
    /// Mean sparse categorical cross-entropy.
    SparseCategoricalCrossentropy,
    /// Mean KL divergence.
    KlDivergence,
    /// Mean Poisson loss.
    Poisson,
    /// Mean log-cosh error, reported as `logcosh`.
    LogCoshError,
    /// Mean absolute percentage error.
    MeanAbsolutePercentageError,
    /// Mean squared logarithmic error.
    MeanSquaredLogarithmicError,
    /// Mean cosine similarity (positive, unlike the loss).
    CosineSimilarity,
    /// Mean hinge loss.
    Hinge,
    /// Mean squared hinge loss.
    SquaredHinge,
    /// Mean categorical hinge loss.
    CategoricalHinge,
}

/// How F1/F-beta scores of the classes are combined (Keras `average`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Average {
    /// One value per class (Keras `average=None`); logged as `f1_score_0`, `f1_score_1`, ...
    #[default]
    None,
    /// From the counts summed over classes.
    Micro,
    /// The mean of the per-class scores.
    Macro,
    /// The per-class scores weighted by their true-count.
    Weighted,
}

/// How R² of several outputs is combined (Keras `class_aggregation`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ClassAggregation {
    /// The mean over outputs.
    #[default]
    UniformAverage,
    /// Weighted by each output's variance.
    VarianceWeightedAverage,
    /// One value per output.
    None,
}

impl Metric {
    /// Keras's class names (`keras.metrics.X`).
    pub(crate) const CLASSES: [(&'static str, Metric); 40] = [
        ("Accuracy", Metric::ExactMatch),
        ("CategoricalAccuracy", Metric::CategoricalAccuracy),
        (
            "SparseCategoricalAccuracy",
            Metric::SparseCategoricalAccuracy,
        ),
        ("BinaryAccuracy", Metric::BinaryAccuracy),
        ("TopKCategoricalAccuracy", Metric::TopKCategoricalAccuracy),
        (
            "SparseTopKCategoricalAccuracy",
            Metric::SparseTopKCategoricalAccuracy,
        ),
        ("AUC", Metric::Auc),
        ("Precision", Metric::Precision),
        ("Recall", Metric::Recall),
        ("MeanAbsoluteError", Metric::MeanAbsoluteError),
        ("MeanSquaredError", Metric::MeanSquaredError),
        ("RootMeanSquaredError", Metric::RootMeanSquaredError),
        ("TruePositives", Metric::TruePositives),
        ("FalsePositives", Metric::FalsePositives),
        ("TrueNegatives", Metric::TrueNegatives),
        ("FalseNegatives", Metric::FalseNegatives),
        ("F1Score", Metric::F1Score),
        ("FBetaScore", Metric::FBetaScore),
        ("IoU", Metric::Iou),
        ("MeanIoU", Metric::MeanIou),
        ("BinaryIoU", Metric::BinaryIou),
        ("OneHotIoU", Metric::OneHotIou),
        ("OneHotMeanIoU", Metric::OneHotMeanIou),
        ("R2Score", Metric::R2Score),
        ("PrecisionAtRecall", Metric::PrecisionAtRecall),
        ("RecallAtPrecision", Metric::RecallAtPrecision),
        ("SensitivityAtSpecificity", Metric::SensitivityAtSpecificity),
        ("SpecificityAtSensitivity", Metric::SpecificityAtSensitivity),
        ("BinaryCrossentropy", Metric::BinaryCrossentropy),
        ("CategoricalCrossentropy", Metric::CategoricalCrossentropy),
        (
            "SparseCategoricalCrossentropy",
            Metric::SparseCategoricalCrossentropy,
        ),
        ("KLDivergence", Metric::KlDivergence),
        ("Poisson", Metric::Poisson),
        ("LogCoshError", Metric::LogCoshError),
        (
            "MeanAbsolutePercentageError",
            Metric::MeanAbsolutePercentageError,
        ),
        (
            "MeanSquaredLogarithmicError",
            Metric::MeanSquaredLogarithmicError,
        ),
        ("CosineSimilarity", Metric::CosineSimilarity),
        ("Hinge", Metric::Hinge),
        ("SquaredHinge", Metric::SquaredHinge),
        ("CategoricalHinge", Metric::CategoricalHinge),
    ];

    /// Keras's class name (`"F1Score"`); `Accuracy` (resolved from the loss) has none.
    pub fn keras_class(self) -> Option<&'static str> {
        Self::CLASSES
            .iter()
            .find(|(_, m)| *m == self)
            .map(|(c, _)| *c)
    }

    const NAMES: [(&'static str, Metric); 48] = [
        ("accuracy", Metric::Accuracy),
        ("categorical_accuracy", Metric::CategoricalAccuracy),
        (
            "sparse_categorical_accuracy",
            Metric::SparseCategoricalAccuracy,
        ),
        ("binary_accuracy", Metric::BinaryAccuracy),
        (
            "top_k_categorical_accuracy",
            Metric::TopKCategoricalAccuracy,
        ),
        (
            "sparse_top_k_categorical_accuracy",
            Metric::SparseTopKCategoricalAccuracy,
        ),
        ("auc", Metric::Auc),
        ("precision", Metric::Precision),
        ("recall", Metric::Recall),
        ("mae", Metric::MeanAbsoluteError),
        ("mse", Metric::MeanSquaredError),
        ("root_mean_squared_error", Metric::RootMeanSquaredError),
        ("true_positives", Metric::TruePositives),
        ("false_positives", Metric::FalsePositives),
        ("true_negatives", Metric::TrueNegatives),
        ("false_negatives", Metric::FalseNegatives),
        ("f1_score", Metric::F1Score),
        ("fbeta_score", Metric::FBetaScore),
        ("iou", Metric::Iou),
        ("mean_iou", Metric::MeanIou),
        ("binary_iou", Metric::BinaryIou),
        ("one_hot_iou", Metric::OneHotIou),
        ("one_hot_mean_iou", Metric::OneHotMeanIou),
        ("r2_score", Metric::R2Score),
        ("precision_at_recall", Metric::PrecisionAtRecall),
        ("recall_at_precision", Metric::RecallAtPrecision),
        (
            "sensitivity_at_specificity",
            Metric::SensitivityAtSpecificity,
        ),
        (
            "specificity_at_sensitivity",
            Metric::SpecificityAtSensitivity,
        ),
        ("binary_crossentropy", Metric::BinaryCrossentropy),
        ("categorical_crossentropy", Metric::CategoricalCrossentropy),
        (
            "sparse_categorical_crossentropy",
            Metric::SparseCategoricalCrossentropy,
        ),
        ("kl_divergence", Metric::KlDivergence),
        ("poisson", Metric::Poisson),
        ("logcosh", Metric::LogCoshError),
        (
            "mean_absolute_percentage_error",
            Metric::MeanAbsolutePercentageError,
        ),
        (
            "mean_squared_logarithmic_error",
            Metric::MeanSquaredLogarithmicError,
        ),
        ("cosine_similarity", Metric::CosineSimilarity),
        ("hinge", Metric::Hinge),
        ("squared_hinge", Metric::SquaredHinge),
        ("categorical_hinge", Metric::CategoricalHinge),
        ("acc", Metric::Accuracy),
        ("mean_absolute_error", Metric::MeanAbsoluteError),
        ("mean_squared_error", Metric::MeanSquaredError),
        ("rmse", Metric::RootMeanSquaredError),
        ("binaryaccuracy", Metric::BinaryAccuracy),
        ("categoricalaccuracy", Metric::CategoricalAccuracy),
        (
            "sparsecategoricalaccuracy",
            Metric::SparseCategoricalAccuracy,
        ),
        ("exact_match", Metric::ExactMatch),
    ];

    /// The name under which the metric appears in logs and `History`.
    pub fn name(self) -> &'static str {
        Self::NAMES
            .iter()
            .find(|(_, m)| *m == self)
            .map_or("metric", |(n, _)| n)
    }

    /// The concrete metric `Accuracy` stands for with this loss (others are returned as-is).
    pub fn resolve(self, loss: &LossConfig, output_units: usize) -> Metric {
        use crate::loss::Loss;
        match (self, loss.loss) {
            (Metric::Accuracy, Loss::CategoricalCrossentropy) => Metric::CategoricalAccuracy,
            (Metric::Accuracy, Loss::SparseCategoricalCrossentropy) => {
                Metric::SparseCategoricalAccuracy
            }
            (Metric::Accuracy, Loss::BinaryCrossentropy) => Metric::BinaryAccuracy,
            (Metric::Accuracy, _) if output_units == 1 => Metric::BinaryAccuracy,
            (Metric::Accuracy, _) => Metric::CategoricalAccuracy,
            (other, _) => other,
        }
    }

    /// Whether the metric takes integer class ids as targets.
    pub fn is_sparse(self) -> bool {
        matches!(
            self,
            Metric::SparseCategoricalAccuracy
                | Metric::SparseTopKCategoricalAccuracy
                | Metric::SparseCategoricalCrossentropy
        )
    }

    /// Whether the metric works with targets of this kind (integer ids or floats): IoU and
    /// MeanIoU take ids either way.
    pub fn accepts_targets(self, sparse: bool) -> bool {
        matches!(self, Metric::Iou | Metric::MeanIou) || self.is_sparse() == sparse
    }

    /// The loss a loss-valued metric averages (with the metric's `from_logits` and
    /// `label_smoothing`), `None` for the others.
    fn as_loss(self) -> Option<crate::loss::Loss> {
        use crate::loss::Loss;
        Some(match self {
            Metric::BinaryCrossentropy => Loss::BinaryCrossentropy,
            Metric::CategoricalCrossentropy => Loss::CategoricalCrossentropy,
            Metric::SparseCategoricalCrossentropy => Loss::SparseCategoricalCrossentropy,
            Metric::KlDivergence => Loss::KlDivergence,
            Metric::Poisson => Loss::Poisson,
            Metric::LogCoshError => Loss::LogCosh,
            Metric::MeanAbsolutePercentageError => Loss::MeanAbsolutePercentageError,
            Metric::MeanSquaredLogarithmicError => Loss::MeanSquaredLogarithmicError,
            Metric::CosineSimilarity => Loss::CosineSimilarity,
            Metric::Hinge => Loss::Hinge,
            Metric::SquaredHinge => Loss::SquaredHinge,
            Metric::CategoricalHinge => Loss::CategoricalHinge,
            // Listed, not `_`: a new metric has to say whether it is a loss.
            Metric::Accuracy
            | Metric::ExactMatch
            | Metric::CategoricalAccuracy
            | Metric::SparseCategoricalAccuracy
            | Metric::BinaryAccuracy
            | Metric::TopKCategoricalAccuracy
            | Metric::SparseTopKCategoricalAccuracy
            | Metric::Auc
            | Metric::Precision
            | Metric::Recall
            | Metric::MeanAbsoluteError
            | Metric::MeanSquaredError
            | Metric::RootMeanSquaredError
            | Metric::TruePositives
            | Metric::FalsePositives
            | Metric::TrueNegatives
            | Metric::FalseNegatives
            | Metric::F1Score
            | Metric::FBetaScore
            | Metric::Iou
            | Metric::MeanIou
            | Metric::BinaryIou
            | Metric::OneHotIou
            | Metric::OneHotMeanIou
            | Metric::R2Score
            | Metric::PrecisionAtRecall
            | Metric::RecallAtPrecision
            | Metric::SensitivityAtSpecificity
            | Metric::SpecificityAtSensitivity => return None,
        })
    }

    /// A user-defined metric for `compile` (Keras: passing a function in `metrics`): the
    /// weighted mean of its per-sample values over the epoch.
    pub fn stateful(metric: impl StatefulMetric) -> MetricConfig {
        MetricConfig {
            stateful: Some(StatefulMetricFn(std::sync::Arc::new(metric))),
            ..Metric::MeanSquaredError.config()
        }
    }

    /// A user-defined metric for `compile` (Keras: passing a function in `metrics`): the
    /// weighted mean of its per-sample values over the epoch.
    pub fn custom(metric: impl CustomMetric) -> MetricConfig {
        MetricConfig {
            custom: Some(CustomMetricFn(std::sync::Arc::new(metric))),
            ..Metric::MeanSquaredError.config()
        }
    }

    /// This metric with Keras's default options.
    pub fn config(self) -> MetricConfig {
        MetricConfig {
            metric: self,
            custom: None,
            stateful: None,
            threshold: 0.5,
            k: 5,
            num_thresholds: 200,
            thresholds: None,
            average: Average::None,
            beta: 1.0,
            f_threshold: None,
            num_classes: 2,
            target_class_ids: None,
            ignore_class: None,
            sparse_y_true: true,
            sparse_y_pred: true,
            class_aggregation: ClassAggregation::UniformAverage,
            num_regressors: 0,
            value: 0.5,
            from_logits: false,
            label_smoothing: 0.0,
        }
    }

    /// Sets the decision threshold (binary accuracy, precision, recall).
    pub fn threshold(self, t: f32) -> MetricConfig {
        self.config().threshold(t)
    }

    /// Sets `k` (top-k accuracies).
    pub fn k(self, k: usize) -> MetricConfig {
        self.config().k(k)
    }
}

/// A metric with its options, as Keras's metric objects.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricConfig {
    /// Which metric (`MeanSquaredError`'s slot for a custom metric).
    pub metric: Metric,
    /// A user-defined metric, which replaces `metric`'s formula (see [`Metric::custom`]).
    #[serde(skip)]
    pub custom: Option<CustomMetricFn>,
    /// A user-defined metric with its own state, which replaces `metric` (see
    /// [`Metric::stateful`]).
    #[serde(skip)]
    pub stateful: Option<StatefulMetricFn>,
    /// Decision threshold for binary accuracy, precision and recall (default 0.5).
    pub threshold: f32,
    /// `k` of the top-k accuracies (default 5).
    pub k: usize,
    /// Thresholds of AUC and of the `*AtRecall`-style metrics (default 200).
    pub num_thresholds: usize,
    /// Several thresholds for the counts (`TruePositives(thresholds=[...])`): one value each.
    #[serde(default)]
    pub thresholds: Option<Vec<f32>>,
    /// F1/F-beta: how classes are combined (Keras's default: one value per class).
    #[serde(default)]
    pub average: Average,
    /// F-beta's `beta` (1 for F1).
    #[serde(default = "one")]
    pub beta: f32,
    /// F1/F-beta's threshold; `None` (Keras's default) counts each row's largest prediction
    /// as its positive.
    #[serde(default)]
    pub f_threshold: Option<f32>,
    /// IoU metrics: the number of classes.
    #[serde(default = "two")]
    pub num_classes: usize,
    /// IoU metrics: the classes averaged over (all when `None`).
    #[serde(default)]
    pub target_class_ids: Option<Vec<usize>>,
    /// IoU metrics: a class id whose samples are left out.
    #[serde(default)]
    pub ignore_class: Option<i64>,
    /// IoU: targets are class ids (else one-hot, argmax taken).
    #[serde(default = "yes")]
    pub sparse_y_true: bool,
    /// IoU: predictions are class ids (else scores, argmax taken).
    #[serde(default = "yes")]
    pub sparse_y_pred: bool,
    /// R²: how outputs are combined.
    #[serde(default)]
    pub class_aggregation: ClassAggregation,
    /// R²: independent variables for the adjusted score (0: plain R²).
    #[serde(default)]
    pub num_regressors: usize,
    /// The constraint of the `*AtRecall`-style metrics (the recall, precision, specificity
    /// or sensitivity to reach).
    #[serde(default = "half")]
    pub value: f32,
    /// Loss-valued metrics: predictions are logits.
    #[serde(default)]
    pub from_logits: bool,
    /// Loss-valued metrics: target smoothing.
    #[serde(default)]
    pub label_smoothing: f32,
}

fn one() -> f32 {
    1.0
}
fn two() -> usize {
    2
}
fn yes() -> bool {
    true
}
fn half() -> f32 {
    0.5
}

impl MetricConfig {
    /// The name it reports under (a custom metric's own).
    pub fn name(&self) -> &str {
        match (&self.custom, &self.stateful) {
            (Some(c), _) => c.0.name(),
            (None, Some(s)) => s.0.name(),
            (None, None) => self.metric.name(),
        }
    }

    /// Whether the user wrote it (a custom or stateful metric).
    pub fn is_user_defined(&self) -> bool {
        self.custom.is_some() || self.stateful.is_some()
    }

    /// Whether it needs integer class-id targets.
    pub fn is_sparse(&self) -> bool {
        !self.is_user_defined() && self.metric.is_sparse()
    }

    /// Sets the threshold.
    pub fn threshold(mut self, t: f32) -> Self {
        self.threshold = t;
        self
    }

    /// Sets `k`.
    pub fn k(mut self, k: usize) -> Self {
        self.k = k;
        self
    }

    /// Sets AUC's number of thresholds.
    pub fn num_thresholds(mut self, n: usize) -> Self {
        self.num_thresholds = n;
        self
    }

    /// Reads a Keras metric class name and `get_config()`.
    ///
    /// # Errors
    /// [`Error::UnknownName`] for a metric Kiln does not have; [`Error::InvalidOption`] for an
    /// option it does not support (AUC's `curve="PR"`, several thresholds).
    pub fn from_keras(class_name: &str, config: &serde_json::Value) -> Result<Self> {
        use serde_json::Value;
        let metric = match Metric::CLASSES.iter().find(|(c, _)| *c == class_name) {
            Some((_, m)) => *m,
            // Keras's wrapper of a function metric: the function's name says which.
            None if class_name == "MeanMetricWrapper" => {
                let name = config
                    .get("fn")
                    .and_then(|f| f.get("config").or(Some(f)))
                    .and_then(Value::as_str)
                    .unwrap_or("");
                name.parse()?
            }
            None => class_name.parse()?,
        };

        let mut out = metric.config();
        let f = |key: &str| config.get(key).and_then(Value::as_f64).map(|v| v as f32);
        let u = |key: &str| config.get(key).and_then(Value::as_u64).map(|v| v as usize);
        let b = |key: &str| config.get(key).and_then(Value::as_bool);
        let is_f_score = matches!(metric, Metric::F1Score | Metric::FBetaScore);
        if is_f_score {
            out.f_threshold = f("threshold");
        } else if let Some(t) = f("threshold") {
            out.threshold = t;
        }
        match config.get("thresholds") {
            Some(Value::Number(t)) => out.threshold = t.as_f64().unwrap_or(0.5) as f32,
            Some(Value::Array(list)) => {
                let list: Vec<f32> = list
                    .iter()
                    .filter_map(Value::as_f64)
                    .map(|v| v as f32)
                    .collect();
                let counts = matches!(
                    metric,
                    Metric::TruePositives
                        | Metric::FalsePositives
                        | Metric::TrueNegatives
                        | Metric::FalseNegatives
                );
                match list.as_slice() {
                    [t] => out.threshold = *t,
                    _ if counts => out.thresholds = Some(list),
                    _ => {
                        return Err(Error::InvalidOption {
                            option: "thresholds",
                            reason: format!(
                                "{class_name} takes one threshold (a list is supported by the \
                                 counts, TruePositives and the like)"
                            ),
                        });
                    }
                }
            }
            _ => {}
        }
        if let Some(k) = u("k") {
            out.k = k;
        }
        if let Some(n) = u("num_thresholds") {
            out.num_thresholds = n;
        }
        if let Some(a) = config.get("average") {
            out.average = match a.as_str() {
                None => Average::None,
                Some("micro") => Average::Micro,
                Some("macro") => Average::Macro,
                Some("weighted") => Average::Weighted,
                Some(other) => {
                    return Err(Error::InvalidOption {
                        option: "average",
                        reason: format!("`{other}`: valid are None, micro, macro, weighted"),
                    });
                }
            };
        }
        if let Some(beta) = f("beta") {
            out.beta = beta;
        }
        if let Some(n) = u("num_classes") {
            out.num_classes = n;
        }
        if metric == Metric::BinaryIou {
            out.num_classes = 2;
        }
        if let Some(ids) = config.get("target_class_ids").and_then(Value::as_array) {
            out.target_class_ids = Some(
                ids.iter()
                    .filter_map(Value::as_u64)
                    .map(|v| v as usize)
                    .collect(),
            );
        }
        out.ignore_class = config.get("ignore_class").and_then(Value::as_i64);
        out.sparse_y_true = b("sparse_y_true").unwrap_or(out.sparse_y_true);
        out.sparse_y_pred = b("sparse_y_pred").unwrap_or(out.sparse_y_pred);
        if let Some(agg) = config.get("class_aggregation") {
            out.class_aggregation = match agg.as_str() {
                Some("uniform_average") => ClassAggregation::UniformAverage,
                Some("variance_weighted_average") => ClassAggregation::VarianceWeightedAverage,
                None => ClassAggregation::None,
                Some(other) => {
                    return Err(Error::InvalidOption {
                        option: "class_aggregation",
                        reason: format!(
                            "`{other}`: valid are uniform_average, variance_weighted_average, None"
                        ),
                    });
                }
            };
        }
        if let Some(n) = u("num_regressors") {
            out.num_regressors = n;
        }
        for key in ["recall", "precision", "specificity", "sensitivity"] {
            if let Some(v) = f(key) {
                out.value = v;
            }
        }
        if config.get("class_id").is_some_and(|v| !v.is_null()) {
            return Err(Error::InvalidOption {
                option: "class_id",
                reason: format!("{class_name} over one class_id is not supported yet"),
            });
        }
        out.from_logits = b("from_logits").unwrap_or(false);
        out.label_smoothing = f("label_smoothing").unwrap_or(0.0);
        for (key, default) in [("curve", "ROC"), ("summation_method", "interpolation")] {
            if let Some(v) = config.get(key).and_then(Value::as_str)
                && v != default
            {
                return Err(Error::InvalidOption {
                    option: "metric",
                    reason: format!("AUC with {key}={v} is not supported yet"),
                });
            }
        }
        Ok(out)
    }
}

impl FromStr for Metric {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let key = s.trim().to_ascii_lowercase();
        Self::NAMES
            .iter()
            .find(|(n, _)| *n == key)
            .map(|(_, m)| *m)
            .ok_or_else(|| Error::UnknownName {
                kind: "metric",
                name: s.to_string(),
                valid: Self::NAMES[..40].iter().map(|(n, _)| *n).collect(),
            })
    }
}

/// Anything `compile` accepts as a metric: a [`Metric`], a [`MetricConfig`] or a Keras name.
pub trait IntoMetric {
    /// Resolves to a metric with its options.
    ///
    /// # Errors
    /// [`Error::UnknownName`] for an unknown name.
    fn into_metric(self) -> Result<MetricConfig>;
}

impl MetricConfig {
    /// Checks the options: AUC needs at least 2 thresholds, top-k a `k` of at least 1, a
    /// threshold must be a number.
    ///
    /// # Errors
    /// [`Error::InvalidOption`] naming the option.
    pub fn validate(&self) -> Result<()> {
        if self.metric == Metric::Auc && self.num_thresholds < 2 {
            return Err(Error::InvalidOption {
                option: "num_thresholds",
                reason: format!(
                    "AUC needs at least 2 thresholds, got {}",
                    self.num_thresholds
                ),
            });
        }
        let top_k = matches!(
            self.metric,
            Metric::TopKCategoricalAccuracy | Metric::SparseTopKCategoricalAccuracy
        );
        if top_k && self.k == 0 {
            return Err(Error::InvalidOption {
                option: "k",
                reason: "top-k accuracy needs k >= 1".into(),
            });
        }
        if !self.threshold.is_finite() {
            return Err(Error::InvalidOption {
                option: "threshold",
                reason: format!("must be a number, got {}", self.threshold),
            });
        }
        Ok(())
    }
}

impl IntoMetric for Metric {
    fn into_metric(self) -> Result<MetricConfig> {
        Ok(self.config())
    }
}

impl IntoMetric for MetricConfig {
    fn into_metric(self) -> Result<MetricConfig> {
        Ok(self)
    }
}

impl IntoMetric for &str {
    fn into_metric(self) -> Result<MetricConfig> {
        Ok(self.parse::<Metric>()?.config())
    }
}

/// A compiled metric: the name it reports under and the rule it computes.
#[derive(Debug, Clone, PartialEq)]
pub struct CompiledMetric {
    /// The name in logs and `History`.
    pub name: String,
    /// The rule, `Accuracy` resolved.
    pub rule: MetricConfig,
    /// The output's features per sample (classes, regression targets).
    pub units: usize,
}

/// `Σ a / (Σ b)`, 0 when the divisor is 0 (Keras's `divide_no_nan`).
fn ratio(a: f64, b: f64) -> f64 {
    if b == 0.0 { 0.0 } else { a / b }
}

/// Keras's `backend.epsilon()`.
const EPS: f64 = 1e-7;

impl CompiledMetric {
    /// A metric reported under its own name, with `Accuracy` resolved for `loss`, for an
    /// output of `output_units` features.
    pub fn new(config: MetricConfig, loss: &LossConfig, output_units: usize) -> Self {
        let name = config.name().to_string();
        let mut rule = config;
        if !rule.is_user_defined() {
            rule.metric = rule.metric.resolve(loss, output_units);
        }
        Self {
            name,
            rule,
            units: output_units.max(1),
        }
    }

    /// The thresholds of the counts (`[threshold]` unless several are given).
    fn count_thresholds(&self) -> Vec<f32> {
        self.rule
            .thresholds
            .clone()
            .unwrap_or_else(|| vec![self.rule.threshold])
    }

    /// The thresholds of the `*AtRecall`-style metrics: `0, 1/(n-1), ..., 1`.
    fn search_thresholds(&self) -> Vec<f32> {
        let n = self.rule.num_thresholds.max(2);
        (0..n)
            .map(|i| match i {
                0 => 0.0,
                i if i == n - 1 => 1.0,
                i => i as f32 / (n - 1) as f32,
            })
            .collect()
    }

    /// How many running sums the metric keeps.
    fn slots(&self) -> usize {
        let classes = self.units;
        if let Some(s) = &self.rule.stateful {
            return s.0.slots();
        }
        if self.rule.custom.is_some() {
            return 1;
        }
        match self.rule.metric {
            Metric::Precision | Metric::Recall => 2,
            Metric::Auc => 4 * self.rule.num_thresholds,
            Metric::TruePositives
            | Metric::FalsePositives
            | Metric::TrueNegatives
            | Metric::FalseNegatives => self.count_thresholds().len(),
            Metric::F1Score | Metric::FBetaScore => {
                if self.rule.average == Average::Micro {
                    4
                } else {
                    4 * classes
                }
            }
            Metric::Iou
            | Metric::MeanIou
            | Metric::BinaryIou
            | Metric::OneHotIou
            | Metric::OneHotMeanIou => self.rule.num_classes * self.rule.num_classes,
            Metric::R2Score => 4 * classes + 1,
            Metric::PrecisionAtRecall
            | Metric::RecallAtPrecision
            | Metric::SensitivityAtSpecificity
            | Metric::SpecificityAtSensitivity => 4 * self.rule.num_thresholds.max(2),
            Metric::Accuracy
            | Metric::ExactMatch
            | Metric::CategoricalAccuracy
            | Metric::SparseCategoricalAccuracy
            | Metric::BinaryAccuracy
            | Metric::TopKCategoricalAccuracy
            | Metric::SparseTopKCategoricalAccuracy
            | Metric::MeanAbsoluteError
            | Metric::MeanSquaredError
            | Metric::RootMeanSquaredError
            | Metric::BinaryCrossentropy
            | Metric::CategoricalCrossentropy
            | Metric::SparseCategoricalCrossentropy
            | Metric::KlDivergence
            | Metric::Poisson
            | Metric::LogCoshError
            | Metric::MeanAbsolutePercentageError
            | Metric::MeanSquaredLogarithmicError
            | Metric::CosineSimilarity
            | Metric::Hinge
            | Metric::SquaredHinge
            | Metric::CategoricalHinge => 1,
        }
    }

    /// The increments of this batch, concatenated (`slots()` values).
    fn increments(
        &self,
        z: Tensor<2>,
        act: Activation,
        y: &Targets,
        weights: Option<&Tensor<1>>,
    ) -> Tensor<1> {
        let [rows, features] = z.dims();
        let device = z.device();
        let m = &self.rule;
        // Sums per-row values, each times its row's weight when there are weights.
        let weighted = |v: Tensor<1>| match weights {
            Some(w) => (v * w.clone()).sum(),
            None => v.sum(),
        };
        let per_feature = |t: Tensor<2>| weighted(t.sum_dim(1).reshape([rows]) / features as f32);
        let element_weights = |t: Tensor<2>| match weights {
            Some(w) => t * w.clone().reshape([rows, 1]).expand([rows, features]),
            None => t,
        };
        let row_weights = || match weights {
            Some(w) => w.clone().reshape([rows, 1]),
            None => Tensor::ones([rows, 1], &device),
        };
        if let Some(stateful) = &m.stateful {
            let sums = stateful.0.update_state(y.dense(), probabilities(z, act));
            // A wrong length would misalign every later metric's sums: pad or cut to `slots`.
            let (have, want) = (sums.dims()[0], self.slots());
            return if have == want {
                sums
            } else if have > want {
                sums.narrow(0, 0, want)
            } else {
                Tensor::cat(vec![sums, Tensor::zeros([want - have], &device)], 0)
            };
        }
        if let Some(custom) = &m.custom {
            return weighted(
                custom
                    .0
                    .call(y.dense(), probabilities(z, act))
                    .reshape([rows]),
            );
        }
        // `[rows]` class ids of the targets (one-hot: their argmax).
        let target_ids = || match y {
            Targets::Sparse(ids) => ids.clone(),
            Targets::Dense(t) => t.clone().argmax(1).reshape([rows]),
        };
        match m.metric {
            Metric::ExactMatch => match y {
                Targets::Dense(y) => per_feature(probabilities(z, act).equal(y.clone()).float()),
                Targets::Sparse(ids) => weighted(
                    probabilities(z, act)
                        .reshape([rows])
                        .equal(ids.clone().float())
                        .float(),
                ),
            },
            Metric::CategoricalAccuracy | Metric::SparseCategoricalAccuracy | Metric::Accuracy => {
                weighted(z.argmax(1).reshape([rows]).equal(target_ids()).float())
            }
            Metric::TopKCategoricalAccuracy | Metric::SparseTopKCategoricalAccuracy => {
                weighted(in_top_k(probabilities(z, act), target_ids(), m.k))
            }
            Metric::BinaryAccuracy => {
                let predicted = probabilities(z, act).greater_elem(m.threshold).float();
                per_feature(predicted.equal(y.dense()).float())
            }
            Metric::Precision | Metric::Recall => {
                let y = y.dense();
                let predicted =
                    element_weights(probabilities(z, act).greater_elem(m.threshold).float());
                let tp = (predicted.clone() * y.clone()).sum();
                let other = if m.metric == Metric::Precision {
                    (predicted * (y.neg() + 1.0)).sum()
                } else {
                    let weighted_y = element_weights(y.clone());
                    (weighted_y - predicted * y).sum()
                };
                Tensor::cat(vec![tp, other], 0)
            }
            Metric::Auc => {
                let t = m.num_thresholds.max(2);
                let eps = 1e-7f32;
                let thresholds: Vec<f32> = (0..t)
                    .map(|i| match i {
                        0 => -eps,
                        i if i == t - 1 => 1.0 + eps,
                        i => i as f32 / (t - 1) as f32,
                    })
                    .collect();
                let [tp, fp, tn, fn_] = confusion_at(
                    probabilities(z, act),
                    y.dense(),
                    element_weights,
                    &thresholds,
                );
                Tensor::cat(vec![tp, fp, tn, fn_], 1).reshape([4 * t])
            }
            Metric::PrecisionAtRecall
            | Metric::RecallAtPrecision
            | Metric::SensitivityAtSpecificity
            | Metric::SpecificityAtSensitivity => {
                let thresholds = self.search_thresholds();
                let t = thresholds.len();
                let [tp, fp, tn, fn_] = confusion_at(
                    probabilities(z, act),
                    y.dense(),
                    element_weights,
                    &thresholds,
                );
                Tensor::cat(vec![tp, fp, tn, fn_], 1).reshape([4 * t])
            }
            Metric::TruePositives
            | Metric::FalsePositives
            | Metric::TrueNegatives
            | Metric::FalseNegatives => {
                let thresholds = self.count_thresholds();
                let t = thresholds.len();
                // Keras casts the targets to bool.
                let y = y.dense().not_equal_elem(0.0).float();
                let [tp, fp, tn, fn_] =
                    confusion_at(probabilities(z, act), y, element_weights, &thresholds);
                let pick = match m.metric {
                    Metric::TruePositives => tp,
                    Metric::FalsePositives => fp,
                    Metric::TrueNegatives => tn,
                    _ => fn_,
                };
                pick.reshape([t])
            }
            Metric::F1Score | Metric::FBetaScore => {
                let p = probabilities(z, act);
                let predicted = match m.f_threshold {
                    Some(t) => p.greater_elem(t).float(),
                    None => {
                        let top = p.clone().max_dim(1).expand([rows, features]);
                        p.clone()
                            .greater_equal(top)
                            .float()
                            .mul(p.abs().greater_elem(1e-9).float())
                    }
                };
                let y = y.dense();
                let w = row_weights().expand([rows, features]);
                let tp = predicted.clone() * y.clone() * w.clone();
                let fp = predicted.clone() * (y.clone().neg() + 1.0) * w.clone();
                let fn_ = (predicted.neg() + 1.0) * y.clone() * w.clone();
                let support = y * w;
                let parts = [tp, fp, fn_, support];
                if m.average == Average::Micro {
                    Tensor::cat(parts.map(|t| t.sum()).to_vec(), 0)
                } else {
                    Tensor::cat(parts.map(|t| t.sum_dim(0)).to_vec(), 1).reshape([4 * features])
                }
            }
            Metric::Iou
            | Metric::MeanIou
            | Metric::BinaryIou
            | Metric::OneHotIou
            | Metric::OneHotMeanIou => {
                let c = m.num_classes;
                let p = probabilities(z, act);
                let n = rows * features;
                // Class ids, flattened over every element (Keras flattens both).
                let (truth, predicted): (Tensor<1>, Tensor<1>) = match m.metric {
                    Metric::BinaryIou => (
                        y.dense().reshape([n]),
                        p.greater_equal_elem(m.threshold).float().reshape([n]),
                    ),
                    Metric::OneHotIou | Metric::OneHotMeanIou => (
                        y.dense().argmax(1).float().reshape([rows]),
                        p.argmax(1).float().reshape([rows]),
                    ),
                    _ => {
                        let truth = match (y, m.sparse_y_true) {
                            (Targets::Sparse(ids), _) => ids.clone().float(),
                            (Targets::Dense(t), true) => {
                                t.clone().reshape([t.dims()[0] * t.dims()[1]])
                            }
                            (Targets::Dense(t), false) => {
                                t.clone().argmax(1).float().reshape([rows])
                            }
                        };
                        let predicted = if m.sparse_y_pred {
                            p.reshape([n])
                        } else {
                            p.argmax(1).float().reshape([rows])
                        };
                        (truth, predicted)
                    }
                };
                let k = truth.dims()[0];
                let per = k / rows.max(1);
                let w = row_weights().expand([rows, per.max(1)]).reshape([k]);
                // Ids outside `[0, c)` (and the ignored class) do not count, as in Keras.
                let inside = |ids: &Tensor<1>| {
                    ids.clone()
                        .greater_equal_elem(0.0)
                        .float()
                        .mul(ids.clone().lower_elem(c as f32).float())
                };
                let mut keep = inside(&truth).mul(inside(&predicted)) * w;
                if let Some(ignored) = m.ignore_class {
                    keep = keep.mul(truth.clone().not_equal_elem(ignored as f32).float());
                }
                let cell = truth.floor() * c as f32 + predicted.floor();
                let cells: Vec<f32> = (0..c * c).map(|i| i as f32).collect();
                let cells = Tensor::<2>::from_data(TensorData::new(cells, [1, c * c]), &device);
                let hits = cell
                    .reshape([k, 1])
                    .expand([k, c * c])
                    .equal(cells.expand([k, c * c]))
                    .float();
                (hits * keep.reshape([k, 1]).expand([k, c * c]))
                    .sum_dim(0)
                    .reshape([c * c])
            }
            Metric::R2Score => {
                let p = probabilities(z, act);
                let y = y.dense();
                let w = row_weights().expand([rows, features]);
                let wy = y.clone() * w.clone();
                let sum = wy.clone().sum_dim(0);
                let squared = (y.clone() * wy).sum_dim(0);
                let mse = ((y - p).square() * w.clone()).sum_dim(0);
                let count = w.sum_dim(0);
                let elements = Tensor::<1>::from_data(
                    TensorData::new(vec![(rows * features) as f32], [1]),
                    &device,
                );
                let columns =
                    Tensor::cat(vec![sum, squared, mse, count], 1).reshape([4 * features]);
                Tensor::cat(vec![columns, elements], 0)
            }
            Metric::MeanAbsoluteError => per_feature((probabilities(z, act) - y.dense()).abs()),
            Metric::MeanSquaredError | Metric::RootMeanSquaredError => {
                per_feature((probabilities(z, act) - y.dense()).square())
            }
            Metric::BinaryCrossentropy
            | Metric::CategoricalCrossentropy
            | Metric::SparseCategoricalCrossentropy
            | Metric::KlDivergence
            | Metric::Poisson
            | Metric::LogCoshError
            | Metric::MeanAbsolutePercentageError
            | Metric::MeanSquaredLogarithmicError
            | Metric::CosineSimilarity
            | Metric::Hinge
            | Metric::SquaredHinge
            | Metric::CategoricalHinge => {
                let Some(loss) = m.metric.as_loss() else {
                    return Tensor::zeros([1], &device);
                };
                let loss = loss
                    .config()
                    .from_logits(m.from_logits)
                    .label_smoothing(m.label_smoothing);
                let per_row = loss.per_row(z, act, y);
                // The cosine-similarity metric is positive; the loss is its negative.
                let per_row = if m.metric == Metric::CosineSimilarity {
                    per_row.neg()
                } else {
                    per_row
                };
                weighted(per_row)
            }
        }
    }

    /// The metric's values (one, or one per class or threshold) from its running sums over
    /// `samples` samples (the sum of the sample weights when there are weights).
    fn result(&self, sums: &[f64], samples: f64) -> Vec<f64> {
        if let Some(stateful) = &self.rule.stateful {
            return vec![stateful.0.result(sums)];
        }
        if self.rule.custom.is_some() {
            return vec![ratio(sums[0], samples)];
        }
        let m = &self.rule;
        match m.metric {
            Metric::Precision | Metric::Recall => vec![ratio(sums[0], sums[0] + sums[1])],
            Metric::RootMeanSquaredError => vec![ratio(sums[0], samples).sqrt()],
            Metric::Auc => {
                let t = sums.len() / 4;
                let (tp, fp, tn, fn_) = (
                    &sums[..t],
                    &sums[t..2 * t],
                    &sums[2 * t..3 * t],
                    &sums[3 * t..],
                );
                let tpr: Vec<f64> = (0..t).map(|i| ratio(tp[i], tp[i] + fn_[i])).collect();
                let fpr: Vec<f64> = (0..t).map(|i| ratio(fp[i], fp[i] + tn[i])).collect();
                vec![
                    (0..t - 1)
                        .map(|i| (fpr[i] - fpr[i + 1]) * (tpr[i] + tpr[i + 1]) / 2.0)
                        .sum(),
                ]
            }
            Metric::PrecisionAtRecall
            | Metric::RecallAtPrecision
            | Metric::SensitivityAtSpecificity
            | Metric::SpecificityAtSensitivity => {
                let t = sums.len() / 4;
                let at = |k: usize, i: usize| sums[k * t + i];
                let best = (0..t)
                    .map(|i| {
                        let (tp, fp, tn, fn_) = (at(0, i), at(1, i), at(2, i), at(3, i));
                        let recall = ratio(tp, tp + fn_);
                        let precision = ratio(tp, tp + fp);
                        let specificity = ratio(tn, tn + fp);
                        let (constrained, dependent) = match m.metric {
                            Metric::PrecisionAtRecall => (recall, precision),
                            Metric::RecallAtPrecision => (precision, recall),
                            Metric::SensitivityAtSpecificity => (specificity, recall),
                            _ => (recall, specificity),
                        };
                        if constrained >= f64::from(m.value) {
                            dependent
                        } else {
                            0.0
                        }
                    })
                    .fold(0.0, f64::max);
                vec![best]
            }
            Metric::TruePositives
            | Metric::FalsePositives
            | Metric::TrueNegatives
            | Metric::FalseNegatives => sums.to_vec(),
            Metric::F1Score | Metric::FBetaScore => {
                let c = sums.len() / 4;
                let beta2 = f64::from(m.beta) * f64::from(m.beta);
                let scores: Vec<f64> = (0..c)
                    .map(|i| {
                        let (tp, fp, fn_) = (sums[i], sums[c + i], sums[2 * c + i]);
                        let precision = tp / (tp + fp + EPS);
                        let recall = tp / (tp + fn_ + EPS);
                        precision * recall / (beta2 * precision + recall + EPS) * (1.0 + beta2)
                    })
                    .collect();
                match m.average {
                    Average::None => scores,
                    Average::Micro | Average::Macro => {
                        vec![scores.iter().sum::<f64>() / c.max(1) as f64]
                    }
                    Average::Weighted => {
                        let support = &sums[3 * c..];
                        let total: f64 = support.iter().sum::<f64>() + EPS;
                        vec![scores.iter().zip(support).map(|(f, s)| f * s / total).sum()]
                    }
                }
            }
            Metric::Iou
            | Metric::MeanIou
            | Metric::BinaryIou
            | Metric::OneHotIou
            | Metric::OneHotMeanIou => {
                let c = m.num_classes;
                let cell = |t: usize, p: usize| sums[t * c + p];
                let all: Vec<usize> = (0..c).collect();
                let targets = match m.metric {
                    Metric::MeanIou | Metric::OneHotMeanIou => all,
                    _ => m.target_class_ids.clone().unwrap_or(all),
                };
                let (mut total, mut valid) = (0.0, 0.0);
                for &k in targets.iter().filter(|&&k| k < c) {
                    let tp = cell(k, k);
                    let row: f64 = (0..c).map(|p| cell(k, p)).sum();
                    let col: f64 = (0..c).map(|t| cell(t, k)).sum();
                    let denominator = row + col - tp;
                    if denominator > 1e-9 {
                        total += tp / (denominator + EPS);
                        valid += 1.0;
                    }
                }
                vec![total / (valid + EPS)]
            }
            Metric::R2Score => {
                let c = (sums.len() - 1) / 4;
                let n = sums[4 * c];
                let (sum, squared, mse, count) = (
                    &sums[..c],
                    &sums[c..2 * c],
                    &sums[2 * c..3 * c],
                    &sums[3 * c..4 * c],
                );
                let totals: Vec<f64> = (0..c)
                    .map(|i| squared[i] - sum[i] * (sum[i] / count[i]))
                    .collect();
                let raw: Vec<f64> = (0..c)
                    .map(|i| {
                        let r = 1.0 - mse[i] / totals[i];
                        if r.is_infinite() { 0.0 } else { r }
                    })
                    .collect();
                let scores = match m.class_aggregation {
                    ClassAggregation::UniformAverage => {
                        vec![raw.iter().sum::<f64>() / c.max(1) as f64]
                    }
                    ClassAggregation::VarianceWeightedAverage => {
                        let weighted: f64 = totals.iter().zip(&raw).map(|(t, r)| t * r).sum();
                        vec![weighted / totals.iter().sum::<f64>()]
                    }
                    ClassAggregation::None => raw,
                };
                let k = m.num_regressors as f64;
                if m.num_regressors == 0 || k >= n - 1.0 {
                    scores
                } else {
                    scores
                        .into_iter()
                        .map(|r| 1.0 - (1.0 - r) * (n - 1.0) / (n - k - 1.0))
                        .collect()
                }
            }
            Metric::Accuracy
            | Metric::ExactMatch
            | Metric::CategoricalAccuracy
            | Metric::SparseCategoricalAccuracy
            | Metric::BinaryAccuracy
            | Metric::TopKCategoricalAccuracy
            | Metric::SparseTopKCategoricalAccuracy
            | Metric::MeanAbsoluteError
            | Metric::MeanSquaredError
            | Metric::BinaryCrossentropy
            | Metric::CategoricalCrossentropy
            | Metric::SparseCategoricalCrossentropy
            | Metric::KlDivergence
            | Metric::Poisson
            | Metric::LogCoshError
            | Metric::MeanAbsolutePercentageError
            | Metric::MeanSquaredLogarithmicError
            | Metric::CosineSimilarity
            | Metric::Hinge
            | Metric::SquaredHinge
            | Metric::CategoricalHinge => vec![ratio(sums[0], samples)],
        }
    }
}

/// `[tp, fp, tn, fn]`, each `[1, thresholds]`: `p > t` against the 0/1 labels, every element
/// counted with its row's weight.
fn confusion_at(
    p: Tensor<2>,
    y: Tensor<2>,
    element_weights: impl Fn(Tensor<2>) -> Tensor<2>,
    thresholds: &[f32],
) -> [Tensor<2>; 4] {
    let [rows, features] = p.dims();
    let device = p.device();
    let t = thresholds.len();
    let n = rows * features;
    let thr = Tensor::<2>::from_data(TensorData::new(thresholds.to_vec(), [1, t]), &device);
    let p = p.reshape([n, 1]).expand([n, t]);
    let positive = p.greater(thr.expand([n, t])).float();
    let weights = element_weights(Tensor::ones([rows, features], &device));
    let w = weights.reshape([n, 1]).expand([n, t]);
    let label = y.reshape([n, 1]).expand([n, t]);
    let (pos_w, neg_w) = (label.clone() * w.clone(), (label.neg() + 1.0) * w);
    let tp = (positive.clone() * pos_w.clone()).sum_dim(0);
    let fp = (positive.clone() * neg_w.clone()).sum_dim(0);
    let fn_ = ((positive.clone().neg() + 1.0) * pos_w).sum_dim(0);
    let tn = ((positive.neg() + 1.0) * neg_w).sum_dim(0);
    [tp, fp, tn, fn_]
}

/// 1 for each row whose true class is among the `k` largest predictions, else 0; `[rows]`.
fn in_top_k(p: Tensor<2>, ids: Tensor<1, Int>, k: usize) -> Tensor<1> {
    let [rows, classes] = p.dims();
    let true_value = p.clone().gather(1, ids.reshape([rows, 1]));
    let larger = p
        .greater(true_value.expand([rows, classes]))
        .float()
        .sum_dim(1);
    larger.lower_elem(k as f32).float().reshape([rows])
}

/// Running sums of the loss and metrics over an epoch, kept on the device.
///
/// Each value is a weighted sum (per-sample values added up) so that the mean over all samples
/// seen is `sum / samples`, as Keras's `update_state`/`result` give.
pub struct Accumulator {
    loss_sum: Tensor<1>,
    weight_sum: Tensor<1>,
    metric_sums: Vec<Tensor<1>>,
    /// Samples (rows) seen.
    pub samples: usize,
}

impl Accumulator {
    /// Empty sums for `metrics`.
    pub fn new(metrics: &[CompiledMetric], device: &Device) -> Self {
        Self {
            loss_sum: Tensor::zeros([1], device),
            weight_sum: Tensor::zeros([1], device),
            metric_sums: metrics
                .iter()
                .map(|m| Tensor::zeros([m.slots()], device))
                .collect(),
            samples: 0,
        }
    }

    /// Adds a batch's mean loss only, for `samples` samples.
    pub fn add_loss(&mut self, loss: Tensor<1>, samples: usize) {
        self.loss_sum = self.loss_sum.clone() + loss * samples as f32;
        self.samples += samples;
    }

    /// Adds a batch: its mean loss (detached) and the metric values of its predictions.
    pub fn update(
        &mut self,
        loss: Tensor<1>,
        z: Tensor<2>,
        act: Activation,
        y: &Targets,
        metrics: &[CompiledMetric],
        samples: usize,
    ) {
        self.loss_sum = self.loss_sum.clone() + loss * samples as f32;
        self.update_metrics(z, act, y, metrics, samples);
    }

    /// As [`Accumulator::update`], with per-row weights for the metrics (Keras passes
    /// `sample_weight`/`class_weight` to compiled metrics too).
    #[allow(clippy::too_many_arguments)]
    pub fn update_weighted(
        &mut self,
        loss: Tensor<1>,
        z: Tensor<2>,
        act: Activation,
        y: &Targets,
        metrics: &[CompiledMetric],
        samples: usize,
        weights: Option<&Tensor<1>>,
    ) {
        self.loss_sum = self.loss_sum.clone() + loss * samples as f32;
        self.add_metrics(z, act, y, metrics, samples, weights);
    }

    /// Adds a batch's metric values only.
    pub fn update_metrics(
        &mut self,
        z: Tensor<2>,
        act: Activation,
        y: &Targets,
        metrics: &[CompiledMetric],
        samples: usize,
    ) {
        self.add_metrics(z, act, y, metrics, samples, None);
    }

    fn add_metrics(
        &mut self,
        z: Tensor<2>,
        act: Activation,
        y: &Targets,
        metrics: &[CompiledMetric],
        samples: usize,
        weights: Option<&Tensor<1>>,
    ) {
        for (sum, metric) in self.metric_sums.iter_mut().zip(metrics) {
            *sum = sum.clone() + metric.increments(z.clone(), act, y, weights);
        }
        self.weight_sum = match weights {
            Some(w) => self.weight_sum.clone() + w.clone().sum(),
            None => self.weight_sum.clone() + samples as f32,
        };
        self.samples += samples;
    }

    /// Reads the means back to the host: `(loss, metric values)`.
    ///
    /// # Errors
    /// [`Error::Readback`] when the device cannot return the values.
    pub fn read(&self, metrics: &[CompiledMetric]) -> Result<(f64, Vec<Vec<f64>>)> {
        let n = self.samples.max(1) as f64;
        let mut all = vec![self.loss_sum.clone(), self.weight_sum.clone()];
        all.extend(self.metric_sums.iter().cloned());
        let values = Tensor::cat(all, 0)
            .try_into_data()
            .map_err(|e| Error::Readback(e.to_string()))?
            .convert::<f32>()
            .try_into_vec::<f32>()
            .map_err(|e| Error::Readback(format!("{e:?}")))?;
        let values: Vec<f64> = values.into_iter().map(f64::from).collect();
        let loss = values[0] / n;
        let weight_total = values[1];
        let mut offset = 2;
        let mut out = Vec::with_capacity(metrics.len());
        for m in metrics {
            let k = m.slots();
            out.push(m.result(&values[offset..offset + k], weight_total));
            offset += k;
        }
        Ok((loss, out))
    }
}
