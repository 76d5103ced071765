//! Metrics with Keras's names, accumulated on the device across batches.

use std::str::FromStr;

use burn::tensor::{Device, Int, Tensor, TensorData};
use kiln_model::Activation;
use serde::{Deserialize, Serialize};

use crate::custom::{CustomMetric, CustomMetricFn};
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
}

impl Metric {
    const NAMES: [(&'static str, Metric); 20] = [
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
            Metric::SparseCategoricalAccuracy | Metric::SparseTopKCategoricalAccuracy
        )
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
            threshold: 0.5,
            k: 5,
            num_thresholds: 200,
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
    /// Decision threshold for binary accuracy, precision and recall (default 0.5).
    pub threshold: f32,
    /// `k` of the top-k accuracies (default 5).
    pub k: usize,
    /// Thresholds of AUC (default 200).
    pub num_thresholds: usize,
}

impl MetricConfig {
    /// The name it reports under (a custom metric's own).
    pub fn name(&self) -> &str {
        match &self.custom {
            Some(c) => c.0.name(),
            None => self.metric.name(),
        }
    }

    /// Whether it needs integer class-id targets.
    pub fn is_sparse(&self) -> bool {
        self.custom.is_none() && self.metric.is_sparse()
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
        let metric = match class_name {
            "Accuracy" => Metric::ExactMatch,
            "TopKCategoricalAccuracy" => Metric::TopKCategoricalAccuracy,
            "SparseTopKCategoricalAccuracy" => Metric::SparseTopKCategoricalAccuracy,
            "AUC" => Metric::Auc,
            "MeanAbsoluteError" => Metric::MeanAbsoluteError,
            "MeanSquaredError" => Metric::MeanSquaredError,
            "RootMeanSquaredError" => Metric::RootMeanSquaredError,
            other => other.parse()?,
        };
        let mut out = metric.config();
        if let Some(t) = config.get("threshold").and_then(serde_json::Value::as_f64) {
            out.threshold = t as f32;
        }
        match config.get("thresholds") {
            Some(serde_json::Value::Number(t)) => out.threshold = t.as_f64().unwrap_or(0.5) as f32,
            Some(serde_json::Value::Array(_)) => {
                return Err(Error::InvalidOption {
                    option: "thresholds",
                    reason: "one threshold per metric is supported".into(),
                });
            }
            _ => {}
        }
        if let Some(k) = config.get("k").and_then(serde_json::Value::as_u64) {
            out.k = k as usize;
        }
        if let Some(n) = config
            .get("num_thresholds")
            .and_then(serde_json::Value::as_u64)
        {
            out.num_thresholds = n as usize;
        }
        for (key, default) in [("curve", "ROC"), ("summation_method", "interpolation")] {
            if let Some(v) = config.get(key).and_then(serde_json::Value::as_str)
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
                valid: Self::NAMES[..12].iter().map(|(n, _)| *n).collect(),
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
}

impl CompiledMetric {
    /// A metric reported under its own name, with `Accuracy` resolved for `loss`.
    pub fn new(config: MetricConfig, loss: &LossConfig, output_units: usize) -> Self {
        let name = config.name().to_string();
        let mut rule = config;
        if rule.custom.is_none() {
            rule.metric = rule.metric.resolve(loss, output_units);
        }
        Self { name, rule }
    }

    /// How many running sums the metric keeps.
    fn slots(&self) -> usize {
        match self.rule.metric {
            Metric::Precision | Metric::Recall => 2,
            Metric::Auc => 4 * self.rule.num_thresholds,
            _ => 1,
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
        if let Some(custom) = &m.custom {
            return weighted(
                custom
                    .0
                    .call(y.dense(), probabilities(z, act))
                    .reshape([rows]),
            );
        }
        match (m.metric, y) {
            (Metric::ExactMatch, Targets::Dense(y)) => {
                per_feature(probabilities(z, act).equal(y.clone()).float())
            }
            (Metric::ExactMatch, Targets::Sparse(ids)) => weighted(
                probabilities(z, act)
                    .reshape([rows])
                    .equal(ids.clone().float())
                    .float(),
            ),
            (Metric::CategoricalAccuracy | Metric::Accuracy, Targets::Dense(y)) => weighted(
                z.argmax(1)
                    .equal(y.clone().argmax(1))
                    .float()
                    .reshape([rows]),
            ),
            (Metric::SparseCategoricalAccuracy | Metric::Accuracy, Targets::Sparse(ids)) => {
                weighted(z.argmax(1).reshape([rows]).equal(ids.clone()).float())
            }
            (Metric::TopKCategoricalAccuracy, Targets::Dense(y)) => weighted(in_top_k(
                probabilities(z, act),
                y.clone().argmax(1).reshape([rows]),
                m.k,
            )),
            (Metric::SparseTopKCategoricalAccuracy, Targets::Sparse(ids)) => {
                weighted(in_top_k(probabilities(z, act), ids.clone(), m.k))
            }
            (Metric::BinaryAccuracy, Targets::Dense(y)) => {
                let predicted = probabilities(z, act).greater_elem(m.threshold).float();
                per_feature(predicted.equal(y.clone()).float())
            }
            (Metric::Precision | Metric::Recall, Targets::Dense(y)) => {
                let predicted =
                    element_weights(probabilities(z, act).greater_elem(m.threshold).float());
                let tp = (predicted.clone() * y.clone()).sum();
                let other = if m.metric == Metric::Precision {
                    (predicted * (y.clone().neg() + 1.0)).sum()
                } else {
                    let weighted_y = element_weights(y.clone());
                    (weighted_y.clone() - predicted * y.clone()).sum()
                };
                Tensor::cat(vec![tp, other], 0)
            }
            (Metric::Auc, Targets::Dense(y)) => {
                let t = m.num_thresholds.max(2);
                let eps = 1e-7f32;
                let thresholds: Vec<f32> = (0..t)
                    .map(|i| match i {
                        0 => -eps,
                        i if i == t - 1 => 1.0 + eps,
                        i => i as f32 / (t - 1) as f32,
                    })
                    .collect();
                let thr = Tensor::<2>::from_data(TensorData::new(thresholds, [1, t]), &device);
                let n = rows * features;
                let p = probabilities(z, act).reshape([n, 1]).expand([n, t]);
                let positive = p.greater(thr.expand([n, t])).float();
                // Each cell counts with its row's sample weight (Keras's weighted confusion).
                let weights = element_weights(Tensor::ones([rows, features], &device));
                let w = weights.reshape([n, 1]).expand([n, t]);
                let label = y.clone().reshape([n, 1]).expand([n, t]);
                let (pos_w, neg_w) = (label.clone() * w.clone(), (label.neg() + 1.0) * w);
                let tp = (positive.clone() * pos_w.clone()).sum_dim(0);
                let fp = (positive.clone() * neg_w.clone()).sum_dim(0);
                let fn_ = ((positive.clone().neg() + 1.0) * pos_w).sum_dim(0);
                let tn = ((positive.neg() + 1.0) * neg_w).sum_dim(0);
                Tensor::cat(vec![tp, fp, tn, fn_], 1).reshape([4 * t])
            }
            (Metric::MeanAbsoluteError, Targets::Dense(y)) => {
                per_feature((probabilities(z, act) - y.clone()).abs())
            }
            (Metric::MeanSquaredError | Metric::RootMeanSquaredError, Targets::Dense(y)) => {
                per_feature((probabilities(z, act) - y.clone()).square())
            }
            // `compile` rejects a metric whose target kind differs from the loss's.
            _ => Tensor::zeros([self.slots()], &device),
        }
    }

    /// The metric's value from its running sums over `samples` samples (the sum of the
    /// sample weights when there are weights).
    fn result(&self, sums: &[f64], samples: f64) -> f64 {
        let ratio = |a: f64, b: f64| if b == 0.0 { 0.0 } else { a / b };
        match self.rule.metric {
            Metric::Precision | Metric::Recall => ratio(sums[0], sums[0] + sums[1]),
            Metric::RootMeanSquaredError => ratio(sums[0], samples).sqrt(),
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
                (0..t - 1)
                    .map(|i| (fpr[i] - fpr[i + 1]) * (tpr[i] + tpr[i + 1]) / 2.0)
                    .sum()
            }
            _ => ratio(sums[0], samples),
        }
    }
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
    pub fn read(&self, metrics: &[CompiledMetric]) -> Result<(f64, Vec<f64>)> {
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
