//! `compile` and the compiled model: `fit`, `evaluate`, `predict`.

use std::collections::BTreeMap;

use burn::tensor::{Device, Int, Tensor, TensorData};
use kiln_model::{ArrayInput, Model, Samples, Summary};
use ndarray::ArrayD;

use crate::error::{Error, Result};
use crate::loss::{IntoLoss, LossConfig, Targets};
use crate::metric::{Accumulator, CompiledMetric, IntoMetric};
use crate::optimizer::{IntoOptimizer, Optimizer, OptimizerState};
use crate::targets::{features, rows_features, targets};

/// Keras's default batch size for `fit`, `evaluate` and `predict`.
pub const DEFAULT_BATCH_SIZE: usize = 32;

/// `model.compile(optimizer, loss, metrics)`: turns a built model into one that can be trained.
///
/// Compiling consumes the model and returns a [`CompiledModel`], so calling `fit` on a model
/// that was never compiled is a compile-time error rather than Keras's run-time one.
pub trait Compile {
    /// Sets the optimizer, loss and metrics (objects or Keras names).
    ///
    /// # Errors
    /// [`Error::UnknownName`] for an unknown name; [`Error::InvalidOption`] when a metric cannot
    /// apply to this loss (e.g. `sparse_categorical_accuracy` with one-hot targets).
    ///
    /// # Examples
    /// ```
    /// use kiln_model::{Dense, Input, Sequential};
    /// use kiln_train::{Compile, Loss, Metric, Optimizer};
    /// let model = Sequential::new().add(Input::new([4])).add(Dense::new(3))
    ///     .build(&burn::tensor::Device::flex())?;
    /// let model = model.compile("adam", "sparse_categorical_crossentropy", ["accuracy"])?;
    /// assert_eq!(model.metrics_names(), ["loss", "accuracy"]);
    /// # Ok::<(), kiln_train::Error>(())
    /// ```
    fn compile<M: IntoMetric>(
        self,
        optimizer: impl IntoOptimizer,
        loss: impl IntoLoss,
        metrics: impl IntoIterator<Item = M>,
    ) -> Result<CompiledModel>;
}

impl Compile for Model {
    fn compile<M: IntoMetric>(
        self,
        optimizer: impl IntoOptimizer,
        loss: impl IntoLoss,
        metrics: impl IntoIterator<Item = M>,
    ) -> Result<CompiledModel> {
        let (inputs, outputs) = (self.input_names(), self.output_names());
        if inputs.len() != 1 || outputs.len() != 1 {
            return Err(Error::InvalidOption {
                option: "model",
                reason: format!(
                    "compile takes a model of one input and one output for now; this one has \
                     inputs {inputs:?} and outputs {outputs:?} (use `predict_many` for \
                     inference)"
                ),
            });
        }
        let optimizer = optimizer.into_optimizer()?;
        let loss = loss.into_loss()?;
        let units = self.output_shape().last().unwrap_or(1);
        let mut compiled = Vec::new();
        for m in metrics {
            let metric = CompiledMetric::new(m.into_metric()?, &loss, units);
            if metric.rule.custom.is_none() && metric.rule.is_sparse() != loss.is_sparse() {
                let sparse = metric.rule.is_sparse();
                return Err(Error::InvalidOption {
                    option: "metrics",
                    reason: format!(
                        "`{}` needs {} targets, but `{}` takes {}",
                        metric.name,
                        if sparse { "integer class id" } else { "float" },
                        loss.name(),
                        if loss.is_sparse() {
                            "integer class ids"
                        } else {
                            "float targets"
                        }
                    ),
                });
            }
            compiled.push(metric);
        }
        let device = self.device().clone().without_autodiff();
        let train_device = device.clone().autodiff();
        Ok(CompiledModel {
            model: burn::module::Module::train(self.fork_to(&train_device)),
            optimizer: OptimizerState::new(optimizer),
            loss,
            metrics: compiled,
            device,
        })
    }
}

/// A model with its optimizer, loss and metrics: Keras's compiled model.
pub struct CompiledModel {
    /// The model, on the autodiff device.
    pub(crate) model: Model,
    pub(crate) optimizer: OptimizerState,
    pub(crate) loss: LossConfig,
    pub(crate) metrics: Vec<CompiledMetric>,
    /// The plain (non-autodiff) device data lives on.
    pub(crate) device: Device,
}

impl std::fmt::Debug for CompiledModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompiledModel")
            .field("model", &self.model.name())
            .field("optimizer", &self.optimizer.config)
            .field("loss", &self.loss)
            .field("metrics", &self.metrics_names())
            .finish()
    }
}

/// Values by name (`loss`, each metric), as `evaluate` returns them.
pub type Scores = BTreeMap<String, f64>;

impl CompiledModel {
    /// The model (its weights as trained so far), for inference.
    pub fn model(&self) -> Model {
        use burn::module::Module;
        self.model.valid()
    }

    /// Keras's summary table.
    pub fn summary(&self) -> Summary {
        self.model.summary()
    }

    /// The loss and its options.
    pub fn loss(&self) -> LossConfig {
        self.loss.clone()
    }

    /// The optimizer's configuration.
    pub fn optimizer(&self) -> &Optimizer {
        &self.optimizer.config
    }

    /// The optimizer, to change e.g. the learning rate between `fit` calls.
    pub fn optimizer_mut(&mut self) -> &mut Optimizer {
        &mut self.optimizer.config
    }

    /// Updates applied so far (Keras's `optimizer.iterations`).
    pub fn iterations(&self) -> u64 {
        self.optimizer.iterations
    }

    /// `["loss", metric names...]`, the keys of `evaluate` and `History`.
    pub fn metrics_names(&self) -> Vec<&str> {
        std::iter::once("loss")
            .chain(self.metrics.iter().map(|m| m.name.as_str()))
            .collect()
    }

    /// The weights as host arrays in Keras order.
    ///
    /// # Errors
    /// [`Error::Model`] when a value cannot be read back.
    pub fn get_weights(&self) -> Result<Vec<ArrayD<f32>>> {
        Ok(self.model.get_weights()?)
    }

    /// Replaces the weights (Keras order).
    ///
    /// # Errors
    /// [`Error::Model`] naming a weight whose shape differs.
    pub fn set_weights(&mut self, weights: &[ArrayD<f32>]) -> Result<()> {
        self.model = self.model.clone().set_weights(weights)?;
        Ok(())
    }

    /// Predicts outputs for `x` in batches of 32 (Keras's `predict`).
    ///
    /// # Errors
    /// [`Error::Model`] when `x` does not match the input shape.
    pub fn predict(&self, x: &impl ArrayInput) -> Result<ArrayD<f32>> {
        Ok(self.model().predict(x, DEFAULT_BATCH_SIZE)?)
    }

    /// One update on exactly this batch (Keras's `train_on_batch`); returns the batch's loss
    /// and metrics, computed with the weights before the update.
    ///
    /// # Errors
    /// As `fit`.
    pub fn train_on_batch(&mut self, x: &impl ArrayInput, y: &impl ArrayInput) -> Result<Scores> {
        let n = x.samples().max(1);
        let options = crate::fit::FitOptions::new()
            .batch_size(n)
            .shuffle(false)
            .verbose(0);
        let history = self.fit(x, y, options)?;
        Ok(history
            .history
            .iter()
            .filter_map(|(k, v)| v.last().map(|v| (k.clone(), *v)))
            .collect())
    }

    /// Loss and metrics of one batch without updating (Keras's `test_on_batch`).
    ///
    /// # Errors
    /// As `evaluate`.
    pub fn test_on_batch(&self, x: &impl ArrayInput, y: &impl ArrayInput) -> Result<Scores> {
        let n = x.samples().max(1);
        self.evaluate_with_batch_size(x, y, n)
    }

    /// Outputs for one batch (Keras's `predict_on_batch`).
    ///
    /// # Errors
    /// As `predict`.
    pub fn predict_on_batch(&self, x: &impl ArrayInput) -> Result<ArrayD<f32>> {
        let n = x.samples().max(1);
        Ok(self.model().predict(x, n)?)
    }

    /// The loss and metrics over `(x, y)`, in batches of 32 (Keras's `evaluate`), averaged
    /// over samples.
    ///
    /// # Errors
    /// Shape or label errors as in `fit`.
    pub fn evaluate(&self, x: &impl ArrayInput, y: &impl ArrayInput) -> Result<Scores> {
        self.evaluate_with_batch_size(x, y, DEFAULT_BATCH_SIZE)
    }

    /// As [`evaluate`](CompiledModel::evaluate) with another batch size.
    ///
    /// # Errors
    /// As `evaluate`, and [`Error::InvalidOption`] for a zero batch size.
    pub fn evaluate_with_batch_size(
        &self,
        x: &impl ArrayInput,
        y: &impl ArrayInput,
        batch_size: usize,
    ) -> Result<Scores> {
        let model = self.model();
        let (x, y) = (x.host_data(), y.host_data());
        check_counts(x.len(), y.len(), "")?;
        let ys = targets(&model, &self.loss, "y", &y, &self.device)?;
        let xs = features(&model, "x", x, &self.device)?;
        let (loss, values) = self.evaluate_tensors(&model, &xs, &ys, batch_size, None)?;
        Ok(self.named(loss, &values, ""))
    }

    pub(crate) fn evaluate_tensors(
        &self,
        model: &Model,
        x: &Samples,
        y: &Targets,
        batch_size: usize,
        weights: Option<&Tensor<1>>,
    ) -> Result<(f64, Vec<f64>)> {
        if batch_size == 0 {
            return Err(Error::InvalidOption {
                option: "batch_size",
                reason: "must be at least 1".into(),
            });
        }
        let n = x.len();
        let mut acc = Accumulator::new(&self.metrics, &self.device);
        let rows_per_sample = y.rows() / n.max(1);
        for start in (0..n).step_by(batch_size) {
            let len = batch_size.min(n - start);
            let (z, act) = model.forward_pre_activation(x.range(start, len)?, false)?;
            let z = rows_features(z);
            let yb = y.narrow(start * rows_per_sample, len * rows_per_sample);
            let rows = len * rows_per_sample;
            let wb = weights.map(|w| w.clone().narrow(0, start * rows_per_sample, rows));
            let mut loss = self.loss.compute_weighted(z.clone(), act, &yb, wb.as_ref());
            if let Some(penalty) = model.regularization_loss() {
                loss = loss + penalty;
            }
            acc.update_weighted(loss, z, act, &yb, &self.metrics, rows, wb.as_ref());
        }
        acc.read(&self.metrics)
    }

    pub(crate) fn named(&self, loss: f64, values: &[f64], prefix: &str) -> Scores {
        let mut out = Scores::new();
        out.insert(format!("{prefix}loss"), loss);
        for (m, v) in self.metrics.iter().zip(values) {
            out.insert(format!("{prefix}{}", m.name), *v);
        }
        out
    }

    /// Uploads a shuffled order (or `0..n`) as an index tensor.
    pub(crate) fn order(&self, order: Vec<i64>) -> Tensor<1, Int> {
        let n = order.len();
        Tensor::<1, Int>::from_data(TensorData::new(order, [n]), &self.device)
    }
}

pub(crate) fn check_counts(x: usize, y: usize, prefix: &str) -> Result<()> {
    if x != y {
        return Err(Error::InvalidOption {
            option: "y",
            reason: format!("{prefix}x has {x} samples but {prefix}y has {y}"),
        });
    }
    Ok(())
}
