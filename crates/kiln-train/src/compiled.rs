//! `compile` and the compiled model: `fit`, `evaluate`, `predict`.

use std::collections::BTreeMap;

use burn::tensor::{Device, Tensor};
use kiln_model::{ArrayInput, Model, Samples, Summary};
use ndarray::ArrayD;

use crate::arrays::IntoArrays;
use crate::batches::{DeviceBatch, EvalBatches};
use crate::error::{Error, Result};
use crate::loss::{IntoLoss, LossConfig, Targets};
use crate::metric::{Accumulator, CompiledMetric, IntoMetric, MetricConfig};
use crate::optimizer::{IntoOptimizer, Optimizer, OptimizerState};
use crate::targets::{rows_features, targets};

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
        let loss = loss.into_loss()?;
        let metrics: Vec<MetricConfig> = metrics
            .into_iter()
            .map(IntoMetric::into_metric)
            .collect::<Result<_>>()?;
        // Keras: one loss (and one metric list) for a model of several outputs applies to each.
        let outputs = self
            .output_names()
            .into_iter()
            .map(|name| Output::new(name, loss.clone())?.metrics(metrics.clone()))
            .collect::<Result<Vec<_>>>()?;
        CompiledModel::compile_outputs(self, optimizer, outputs)
    }
}

/// One output's loss, weight and metrics, for [`CompiledModel::compile_outputs`] (Keras's
/// `loss={"name": ..}`, `loss_weights={"name": ..}`, `metrics={"name": [..]}`).
///
/// # Examples
/// ```
/// use kiln_model::{Activation, Apply, Dense, Functional, Input, LayerExt};
/// use kiln_train::{CompiledModel, Output};
/// let x = Input::new([6]).tensor()?;
/// let h = Dense::new(8).activation(Activation::Relu).apply(&x)?;
/// let reg = Dense::new(1).name("reg").apply(&h)?;
/// let cls = Dense::new(3).activation(Activation::Softmax).name("cls").apply(&h)?;
/// let model = Functional::new(&x, [&reg, &cls])?.build(&burn::tensor::Device::flex())?;
/// let model = CompiledModel::compile_outputs(model, "adam", [
///     Output::new("reg", "mse")?.loss_weight(0.5).metrics(["mae"])?,
///     Output::new("cls", "sparse_categorical_crossentropy")?.loss_weight(2.0).metrics(["accuracy"])?,
/// ])?;
/// assert_eq!(model.metrics_names(), ["loss", "reg_loss", "reg_mae", "cls_loss", "cls_accuracy"]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct Output {
    name: String,
    loss: LossConfig,
    weight: f32,
    metrics: Vec<MetricConfig>,
}

impl Output {
    /// The output named `name` (its layer's name) trained with `loss`, weight 1, no metrics.
    ///
    /// # Errors
    /// [`Error::UnknownName`] for an unknown loss name.
    pub fn new(name: impl Into<String>, loss: impl IntoLoss) -> Result<Self> {
        Ok(Self {
            name: name.into(),
            loss: loss.into_loss()?,
            weight: 1.0,
            metrics: Vec::new(),
        })
    }

    /// Its weight in the total loss (Keras `loss_weights`).
    pub fn loss_weight(mut self, weight: f32) -> Self {
        self.weight = weight;
        self
    }

    /// Its metrics.
    ///
    /// # Errors
    /// [`Error::UnknownName`] for an unknown metric name.
    pub fn metrics<M: IntoMetric>(mut self, metrics: impl IntoIterator<Item = M>) -> Result<Self> {
        self.metrics = metrics
            .into_iter()
            .map(IntoMetric::into_metric)
            .collect::<Result<_>>()?;
        Ok(self)
    }
}

/// One output as training sees it: its loss, weight, metrics and the prefix of its log names.
#[derive(Debug, Clone)]
pub(crate) struct Head {
    /// `""` for a model of one output, else `"<output>_"`.
    pub(crate) prefix: String,
    pub(crate) loss: LossConfig,
    pub(crate) weight: f32,
    pub(crate) metrics: Vec<CompiledMetric>,
}

/// The compiled metrics of one output, checked against its loss.
fn compile_metrics(
    metrics: Vec<MetricConfig>,
    loss: &LossConfig,
    units: usize,
) -> Result<Vec<CompiledMetric>> {
    let mut compiled = Vec::new();
    for m in metrics {
        m.validate()?;
        check_class_ids(&m, loss.is_sparse(), units)?;
        let metric = CompiledMetric::new(m, loss, units);
        if !metric.rule.is_user_defined() && !metric.rule.metric.accepts_targets(loss.is_sparse()) {
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
    Ok(compiled)
}

/// The IoU metrics compare one class id per target value with one per prediction: both sides
/// must give as many (Keras fails at the first batch; Kiln at `compile`).
fn check_class_ids(m: &MetricConfig, sparse_targets: bool, units: usize) -> Result<()> {
    use crate::metric::Metric;
    let iou = matches!(
        m.metric,
        Metric::Iou
            | Metric::MeanIou
            | Metric::BinaryIou
            | Metric::OneHotIou
            | Metric::OneHotMeanIou
    );
    if !iou || m.is_user_defined() {
        return Ok(());
    }
    let bad = |reason: String| {
        Err(Error::InvalidOption {
            option: "metrics",
            reason: format!("{}: {reason}", m.name()),
        })
    };
    // The confusion matrix is counted densely: num_classes² sums.
    if !(1..=1024).contains(&m.num_classes) {
        return bad(format!(
            "num_classes must be in 1..=1024, got {}",
            m.num_classes
        ));
    }
    if let Some(id) = m
        .target_class_ids
        .iter()
        .flatten()
        .find(|&&id| id >= m.num_classes)
    {
        return bad(format!(
            "target class {id} is not below num_classes {}",
            m.num_classes
        ));
    }
    if matches!(m.metric, Metric::Iou | Metric::MeanIou) {
        let per_target = if sparse_targets || !m.sparse_y_true {
            1
        } else {
            units
        };
        let per_prediction = if m.sparse_y_pred { units } else { 1 };
        if per_target != per_prediction {
            return bad(format!(
                "{per_target} class id(s) per target against {per_prediction} per prediction \
                 (an output of {units} values with sparse_y_pred={}): set sparse_y_pred=false \
                 for scores, or give one id per output value",
                m.sparse_y_pred
            ));
        }
    }
    Ok(())
}

/// A model with its optimizer, loss and metrics: Keras's compiled model.
pub struct CompiledModel {
    /// The model, on the autodiff device.
    pub(crate) model: Model,
    pub(crate) optimizer: OptimizerState,
    /// One per model output, in output order.
    pub(crate) heads: Vec<Head>,
    /// The plain (non-autodiff) device data lives on.
    pub(crate) device: Device,
}

impl std::fmt::Debug for CompiledModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompiledModel")
            .field("model", &self.model.name())
            .field("optimizer", &self.optimizer.config)
            .field(
                "losses",
                &self.heads.iter().map(|h| h.loss.name()).collect::<Vec<_>>(),
            )
            .field("metrics", &self.metrics_names())
            .finish()
    }
}

/// Values by name (`loss`, each metric), as `evaluate` returns them.
pub type Scores = BTreeMap<String, f64>;

impl CompiledModel {
    /// `model.compile(optimizer, loss={..}, loss_weights={..}, metrics={..})` for a model of
    /// several outputs: one [`Output`] per model output, by name, in any order. The total loss
    /// is the sum of each output's loss times its weight (plus weight penalties); logs are named
    /// as Keras names them: `loss`, `<output>_loss`, `<output>_<metric>`, `val_...`.
    ///
    /// # Errors
    /// [`Error::InvalidOption`] when an output has no entry, or an entry names no output; a
    /// metric that cannot apply to its output's loss.
    pub fn compile_outputs(
        model: Model,
        optimizer: impl IntoOptimizer,
        outputs: impl IntoIterator<Item = Output>,
    ) -> Result<Self> {
        let optimizer = optimizer.into_optimizer()?;
        optimizer.validate()?;
        let given: Vec<Output> = outputs.into_iter().collect();
        let names = model.output_names();
        let shapes = model.output_shapes();
        if let Some(extra) = given.iter().find(|o| !names.contains(&o.name)) {
            return Err(Error::InvalidOption {
                option: "loss",
                reason: format!(
                    "the model has no output `{}`; its outputs are {}",
                    extra.name,
                    names.join(", ")
                ),
            });
        }
        let mut heads = Vec::with_capacity(names.len());
        for (name, shape) in names.iter().zip(&shapes) {
            let mut matching = given.iter().filter(|o| &o.name == name);
            let output = match (matching.next(), matching.next()) {
                (Some(o), None)
                    if o.loss.loss == crate::loss::Loss::Ctc && !o.metrics.is_empty() =>
                {
                    return Err(Error::InvalidOption {
                        option: "metrics",
                        reason: format!(
                            "output `{name}` is trained with CTC, whose targets are label \
                             sequences, not one target per output value: metrics cannot \
                             compare them"
                        ),
                    });
                }
                (Some(o), None) if o.loss.reduction == crate::loss::Reduction::None => {
                    return Err(Error::InvalidOption {
                        option: "reduction",
                        reason: format!(
                            "the loss of output `{name}` has reduction `none` (one value per \
                             sample); training needs one number (use `sum_over_batch_size`, \
                             `sum` or `mean_with_sample_weight`)"
                        ),
                    });
                }
                (Some(o), None) => o.clone(),
                (None, _) => {
                    return Err(Error::InvalidOption {
                        option: "loss",
                        reason: format!("output `{name}` has no loss"),
                    });
                }
                (Some(_), Some(_)) => {
                    return Err(Error::InvalidOption {
                        option: "loss",
                        reason: format!("output `{name}` is given twice"),
                    });
                }
            };
            let units = shape.last().unwrap_or(1);
            heads.push(Head {
                prefix: if names.len() == 1 {
                    String::new()
                } else {
                    format!("{name}_")
                },
                metrics: compile_metrics(output.metrics, &output.loss, units)?,
                loss: output.loss,
                weight: output.weight,
            });
        }
        let device = model.device().clone().without_autodiff();
        let train_device = device.clone().autodiff();
        let mut optimizer = OptimizerState::new(optimizer);
        optimizer.describe(model.trainable_variables());
        Ok(CompiledModel {
            model: burn::module::Module::train(model.fork_to(&train_device)),
            optimizer,
            heads,
            device,
        })
    }

    /// The model (its weights as trained so far), for inference.
    pub fn model(&self) -> Model {
        use burn::module::Module;
        self.model.valid()
    }

    /// Keras's summary table.
    pub fn summary(&self) -> Summary {
        self.model.summary()
    }

    /// The loss and its options (the first output's, for a model of several).
    pub fn loss(&self) -> LossConfig {
        self.heads[0].loss.clone()
    }

    /// The optimizer's configuration.
    pub fn optimizer(&self) -> &Optimizer {
        &self.optimizer.config
    }

    /// The optimizer with its state (Keras's `model.optimizer` and its variables: iterations,
    /// slots by name, the loss scale).
    pub fn optimizer_state(&self) -> &OptimizerState {
        &self.optimizer
    }

    /// The optimizer, to change e.g. the learning rate between `fit` calls.
    pub fn optimizer_mut(&mut self) -> &mut Optimizer {
        &mut self.optimizer.config
    }

    /// Updates applied so far (Keras's `optimizer.iterations`).
    pub fn iterations(&self) -> u64 {
        self.optimizer.updates()
    }

    /// `["loss", metric names...]`, the keys of `evaluate` and `History`; for several outputs
    /// `["loss", "<output>_loss", "<output>_<metric>", ...]` in output order.
    pub fn metrics_names(&self) -> Vec<String> {
        let mut out = vec!["loss".to_string()];
        let several = self.heads.len() > 1;
        for head in &self.heads {
            if several {
                out.push(format!("{}loss", head.prefix));
            }
            out.extend(
                head.metrics
                    .iter()
                    .map(|m| format!("{}{}", head.prefix, m.name)),
            );
        }
        out
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
    pub fn train_on_batch<'a>(
        &mut self,
        x: impl IntoArrays<'a>,
        y: impl IntoArrays<'a>,
    ) -> Result<Scores> {
        let (x, y) = (x.into_arrays(), y.into_arrays());
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
    pub fn test_on_batch<'a>(
        &self,
        x: impl IntoArrays<'a>,
        y: impl IntoArrays<'a>,
    ) -> Result<Scores> {
        let x = x.into_arrays();
        let n = x.samples().max(1);
        self.evaluate_many(x, y, n)
    }

    /// One array per output for one array per input (Keras's `predict([x1, x2])`), in
    /// batches of `batch_size`.
    ///
    /// # Errors
    /// As `predict`; a wrong number of arrays or an unknown name.
    pub fn predict_many<'a>(
        &self,
        x: impl IntoArrays<'a>,
        batch_size: usize,
    ) -> Result<Vec<ArrayD<f32>>> {
        let model = self.model();
        let xs = x.into_arrays().resolve(&model.input_names(), "x")?;
        let refs: Vec<&dyn ArrayInput> = xs.iter().map(|x| x as &dyn ArrayInput).collect();
        Ok(model.predict_many(&refs, batch_size)?)
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
        self.evaluate_many(x, y, batch_size)
    }

    /// `evaluate` with one array per input and per output, by position or by name (Keras's
    /// `model.evaluate([x1, x2], {"out": y})`).
    ///
    /// # Errors
    /// As `evaluate`; a wrong number of arrays or an unknown name.
    pub fn evaluate_many<'a>(
        &self,
        x: impl IntoArrays<'a>,
        y: impl IntoArrays<'a>,
        batch_size: usize,
    ) -> Result<Scores> {
        let model = self.model();
        let xs = x.into_arrays().resolve_inputs(&model.input_names(), "x")?;
        let ys = y.into_arrays().resolve(&model.output_names(), "y")?;
        let xs = self.device_inputs(&model, "x", xs)?;
        let ys = self.device_targets(&model, "y", &ys, xs[0].len())?;
        let values = self.evaluate_tensors(&model, xs, ys, batch_size, None)?;
        Ok(self.named(&values, ""))
    }

    /// Checks the inputs against the model and moves them to the device.
    pub(crate) fn device_inputs(
        &self,
        model: &Model,
        what: &str,
        xs: Vec<kiln_datasets::HostArray>,
    ) -> Result<Vec<Samples>> {
        let several = xs.len() > 1;
        let n = xs.first().map_or(0, kiln_datasets::HostArray::len);
        xs.into_iter()
            .enumerate()
            .map(|(k, x)| {
                let label = if several {
                    format!("{what}[{k}]")
                } else {
                    what.to_string()
                };
                check_counts(n, x.len(), "")?;
                let x = model.prepare_input(k, &label, x)?;
                Ok(Samples::from_array(x, &self.device)?)
            })
            .collect()
    }

    /// Checks each output's targets against it and its loss and moves them to the device.
    pub(crate) fn device_targets(
        &self,
        model: &Model,
        what: &'static str,
        ys: &[kiln_model::HostData],
        n: usize,
    ) -> Result<Vec<Targets>> {
        ys.iter()
            .zip(&self.heads)
            .enumerate()
            .map(|(k, (y, head))| {
                check_counts(n, y.len(), "")?;
                targets(model, k, &head.loss, what, y, &self.device)
            })
            .collect()
    }

    /// Loss and metrics over device data, in batches; `weights` (per target row) only for a
    /// model of one output.
    pub(crate) fn evaluate_tensors(
        &self,
        model: &Model,
        xs: Vec<Samples>,
        ys: Vec<Targets>,
        batch_size: usize,
        weights: Option<Tensor<1>>,
    ) -> Result<Values> {
        let data = EvalBatches::Arrays { xs, ys, weights };
        evaluate_batches(&self.heads, &self.device, model, &data, batch_size, None)
    }

    /// `{prefix}loss` and each output's `{prefix}{output}_loss`, `{prefix}{output}_{metric}`.
    pub(crate) fn named(&self, values: &Values, prefix: &str) -> Scores {
        named(&self.heads, values, prefix)
    }
}

/// The averages of one pass: the total loss, and each output's loss and metric values.
#[derive(Debug, Clone)]
pub(crate) struct Values {
    pub(crate) loss: f64,
    pub(crate) heads: Vec<(f64, Vec<Vec<f64>>)>,
}

/// One output's batch: its loss (unweighted), outputs as rows, activation, targets, rows and
/// row weights.
pub(crate) type Part = (
    Tensor<1>,
    Tensor<2>,
    kiln_model::Activation,
    Targets,
    usize,
    Option<Tensor<1>>,
);

/// Running sums on the device: the total loss, and per output its loss and metrics.
pub(crate) struct Tally {
    total: Accumulator,
    heads: Vec<Accumulator>,
}

impl Tally {
    pub(crate) fn new(heads: &[Head], device: &Device) -> Self {
        Self {
            total: Accumulator::new(&[], device),
            heads: heads
                .iter()
                .map(|h| Accumulator::new(&h.metrics, device))
                .collect(),
        }
    }

    /// Adds a batch of `samples` samples: the total loss and each output's part.
    pub(crate) fn update(
        &mut self,
        total: Tensor<1>,
        samples: usize,
        parts: Vec<Part>,
        heads: &[Head],
    ) {
        self.total.add_loss(total, samples);
        for ((acc, head), (loss, z, act, y, rows, w)) in self.heads.iter_mut().zip(heads).zip(parts)
        {
            acc.update_weighted(loss, z, act, &y, &head.metrics, rows, w.as_ref());
        }
    }

    /// The averages so far (read back from the device).
    pub(crate) fn read(&self, heads: &[Head]) -> Result<Values> {
        let (loss, _) = self.total.read(&[])?;
        let heads = self
            .heads
            .iter()
            .zip(heads)
            .map(|(acc, head)| acc.read(&head.metrics))
            .collect::<Result<Vec<_>>>()?;
        Ok(Values { loss, heads })
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

/// What a hook on an evaluation batch is told: before it (`None`) or after it, with the
/// pass's running values.
pub(crate) type BatchHook<'h> = &'h mut dyn FnMut(usize, Option<&Values>) -> Result<()>;

/// The loss and metrics of `model` over the batches of `data`; `hook` runs around each batch
/// (the running values are read back only when there is a hook).
pub(crate) fn evaluate_batches(
    heads: &[Head],
    device: &Device,
    model: &Model,
    data: &EvalBatches<'_>,
    batch_size: usize,
    mut hook: Option<BatchHook<'_>>,
) -> Result<Values> {
    if batch_size == 0 {
        return Err(Error::InvalidOption {
            option: "batch_size",
            reason: "must be at least 1".into(),
        });
    }
    let mut tally = Tally::new(heads, device);
    data.each(batch_size, &mut |batch, b| {
        if let Some(hook) = hook.as_mut() {
            hook(batch, None)?;
        }
        let DeviceBatch {
            xs,
            ys,
            weights,
            len,
        } = b;
        let pass = model.forward_for_loss(xs, false)?;
        let (zs, acts) = (pass.outputs, pass.activations);
        let mut masks = pass.masks.into_iter();
        let mut total: Option<Tensor<1>> =
            crate::fit::sum_losses(model.regularization_loss(), pass.added_loss);
        let mut parts = Vec::with_capacity(heads.len());
        for (k, ((head, z), yb)) in heads.iter().zip(zs).zip(ys).enumerate() {
            let z = rows_features(z);
            let rows = yb.rows();
            let given = if k == 0 { weights.clone() } else { None };
            // An output's mask weighs its rows (Keras's apply_mask).
            let (lw, wb) = crate::mask_weights::masked_row_weights(
                given,
                masks.next().flatten(),
                head.loss.reduction,
            );
            let loss = head
                .loss
                .compute_weighted(z.clone(), acts[k], &yb, lw.as_ref());
            let weighted = loss.clone() * head.weight;
            total = Some(match total {
                Some(t) => t + weighted,
                None => weighted,
            });
            parts.push((loss, z, acts[k], yb, rows, wb));
        }
        if let Some(total) = total {
            tally.update(total, len, parts, heads);
        }
        if let Some(hook) = hook.as_mut() {
            hook(batch, Some(&tally.read(heads)?))?;
        }
        Ok(true)
    })?;
    tally.read(heads)
}

/// `{prefix}loss` and each output's `{prefix}{output}_loss`, `{prefix}{output}_{metric}`.
pub(crate) fn named(heads: &[Head], values: &Values, prefix: &str) -> Scores {
    let mut out = Scores::new();
    out.insert(format!("{prefix}loss"), values.loss);
    let several = heads.len() > 1;
    for (head, (loss, metrics)) in heads.iter().zip(&values.heads) {
        if several {
            out.insert(format!("{prefix}{}loss", head.prefix), *loss);
        }
        for (m, values) in head.metrics.iter().zip(metrics) {
            match values.as_slice() {
                [v] => {
                    out.insert(format!("{prefix}{}{}", head.prefix, m.name), *v);
                }
                // One value per class or threshold: `f1_score_0`, `f1_score_1`, ...
                several => {
                    for (i, v) in several.iter().enumerate() {
                        out.insert(format!("{prefix}{}{}_{i}", head.prefix, m.name), *v);
                    }
                }
            }
        }
    }
    out
}
