//! Metrics with Keras's names, accumulated on the device across batches.

use std::str::FromStr;

use burn::tensor::{Device, Tensor};
use kiln_model::Activation;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::loss::{Loss, Targets, probabilities};

/// A metric, by Keras's name. `Accuracy` (`"accuracy"`) is resolved from the loss when the
/// model is compiled, as Keras does: categorical, sparse categorical or binary accuracy.
///
/// # Examples
/// ```
/// use kiln_train::Metric;
/// assert_eq!("accuracy".parse::<Metric>()?, Metric::Accuracy);
/// assert_eq!("mae".parse::<Metric>()?, Metric::MeanAbsoluteError);
/// # Ok::<(), kiln_train::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Metric {
    /// Resolved from the loss (see the type's docs); reported as `accuracy`.
    Accuracy,
    /// `argmax(p) == argmax(y)`.
    CategoricalAccuracy,
    /// `argmax(p) == y` for integer class ids.
    SparseCategoricalAccuracy,
    /// `(p > 0.5) == y`.
    BinaryAccuracy,
    /// Mean absolute error, reported as `mae`.
    MeanAbsoluteError,
    /// Mean squared error, reported as `mse`.
    MeanSquaredError,
}

impl Metric {
    const NAMES: [(&'static str, Metric); 10] = [
        ("accuracy", Metric::Accuracy),
        ("acc", Metric::Accuracy),
        ("categorical_accuracy", Metric::CategoricalAccuracy),
        (
            "sparse_categorical_accuracy",
            Metric::SparseCategoricalAccuracy,
        ),
        ("binary_accuracy", Metric::BinaryAccuracy),
        ("mae", Metric::MeanAbsoluteError),
        ("mean_absolute_error", Metric::MeanAbsoluteError),
        ("mse", Metric::MeanSquaredError),
        ("mean_squared_error", Metric::MeanSquaredError),
        ("binaryaccuracy", Metric::BinaryAccuracy),
    ];

    /// The name under which the metric appears in logs and `History`.
    pub fn name(self) -> &'static str {
        match self {
            Metric::Accuracy => "accuracy",
            Metric::CategoricalAccuracy => "categorical_accuracy",
            Metric::SparseCategoricalAccuracy => "sparse_categorical_accuracy",
            Metric::BinaryAccuracy => "binary_accuracy",
            Metric::MeanAbsoluteError => "mae",
            Metric::MeanSquaredError => "mse",
        }
    }

    /// The concrete metric `Accuracy` stands for with this loss (others are returned as-is).
    pub fn resolve(self, loss: Loss, output_units: usize) -> Metric {
        match (self, loss) {
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
                valid: Self::NAMES[..9].iter().map(|(n, _)| *n).collect(),
            })
    }
}

/// Anything `compile` accepts as a metric: a [`Metric`] or a Keras name.
pub trait IntoMetric {
    /// Resolves to a metric.
    ///
    /// # Errors
    /// [`Error::UnknownName`] for an unknown name.
    fn into_metric(self) -> Result<Metric>;
}

impl IntoMetric for Metric {
    fn into_metric(self) -> Result<Metric> {
        Ok(self)
    }
}

impl IntoMetric for &str {
    fn into_metric(self) -> Result<Metric> {
        self.parse()
    }
}

/// A compiled metric: the name it reports under and the rule it computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CompiledMetric {
    pub(crate) name: &'static str,
    pub(crate) rule: Metric,
}

/// Running sums of the loss and metrics over an epoch, kept on the device.
///
/// Each value is a weighted sum (per-sample values added up) so that the mean over all samples
/// seen is `sum / samples`, as Keras's `update_state`/`result` give.
pub(crate) struct Accumulator {
    loss_sum: Tensor<1>,
    metric_sums: Vec<Tensor<1>>,
    pub(crate) samples: usize,
}

impl Accumulator {
    pub(crate) fn new(metrics: usize, device: &Device) -> Self {
        Self {
            loss_sum: Tensor::zeros([1], device),
            metric_sums: (0..metrics).map(|_| Tensor::zeros([1], device)).collect(),
            samples: 0,
        }
    }

    /// Adds a batch: its mean loss (detached) and the metric values of its predictions.
    pub(crate) fn update(
        &mut self,
        loss: Tensor<1>,
        z: Tensor<2>,
        act: Activation,
        y: &Targets,
        metrics: &[CompiledMetric],
        samples: usize,
    ) {
        self.loss_sum = self.loss_sum.clone() + loss * samples as f32;
        for (sum, metric) in self.metric_sums.iter_mut().zip(metrics) {
            *sum = sum.clone() + metric_sum(metric.rule, z.clone(), act, y);
        }
        self.samples += samples;
    }

    /// Reads the means back to the host: `(loss, metric values)`.
    pub(crate) fn read(&self) -> Result<(f64, Vec<f64>)> {
        let n = self.samples.max(1) as f64;
        let mut all = vec![self.loss_sum.clone()];
        all.extend(self.metric_sums.iter().cloned());
        let values = Tensor::cat(all, 0)
            .into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .map_err(|e| Error::Readback(format!("{e:?}")))?;
        let loss = f64::from(values[0]) / n;
        Ok((
            loss,
            values[1..].iter().map(|v| f64::from(*v) / n).collect(),
        ))
    }
}

/// The metric summed over the samples of a batch (`[1]`); rows of multi-row samples are
/// averaged per sample by the caller's flattening.
fn metric_sum(rule: Metric, z: Tensor<2>, act: Activation, y: &Targets) -> Tensor<1> {
    let [rows, features] = z.dims();
    match (rule, y) {
        (Metric::CategoricalAccuracy | Metric::Accuracy, Targets::Dense(y)) => {
            z.argmax(1).equal(y.clone().argmax(1)).float().sum()
        }
        (Metric::SparseCategoricalAccuracy | Metric::Accuracy, Targets::Sparse(ids)) => {
            z.argmax(1).reshape([rows]).equal(ids.clone()).float().sum()
        }
        (Metric::BinaryAccuracy, Targets::Dense(y)) => {
            let predicted = probabilities(z, act).greater_elem(0.5).float();
            predicted.equal(y.clone()).float().sum() / features as f32
        }
        (Metric::MeanAbsoluteError, Targets::Dense(y)) => {
            (probabilities(z, act) - y.clone()).abs().sum() / features as f32
        }
        (Metric::MeanSquaredError, Targets::Dense(y)) => {
            (probabilities(z, act) - y.clone()).square().sum() / features as f32
        }
        // `compile`/`fit` reject a metric that does not fit the targets before training.
        (_, _) => Tensor::zeros([1], &z.device()),
    }
}
