//! A custom training step (Keras's `train_step` / `test_step` overrides) run by
//! [`fit_step`] with `fit`'s epochs, shuffling, validation, callbacks, History and progress bar.

use burn::tensor::{Int, Tensor, TensorData};
use kiln_model::{DynTensor, HostData, Model, Samples};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use crate::arrays::IntoArrays;
use crate::callbacks::{Callback, CallbackContext, Logs, RunState, run_hooks};
use crate::error::{Error, Result};
use crate::fit::{FitOptions, Validation};
use crate::history::History;
use crate::optimizer::OptimizerState;
use crate::progress::Progress;

/// One batch of a custom step: a slice of each array given to [`fit_step`] (in that order,
/// `[rows, ...]`, on the device of the step's model), shuffled as `fit` shuffles.
#[derive(Debug, Clone)]
pub struct Batch {
    /// The arrays' rows of this batch.
    pub arrays: Vec<DynTensor>,
    /// How many rows.
    pub rows: usize,
}

/// What one step reports: named scalars `[1]` on the device (detached). [`fit_step`] logs each
/// name's mean over the epoch's batches, as a Keras `Mean` tracker updated once per step.
pub type StepLogs = Vec<(String, Tensor<1>)>;

/// A training step written by the user (Keras: overriding `train_step`, with `test_step` for
/// validation): any number of models, optimizers and losses. [`fit_step`] runs it.
///
/// # Examples
/// A regression trained by hand: forward, loss, gradients, one optimizer step.
/// ```
/// use burn::optim::GradientsParams;
/// use kiln_model::{Dense, DynTensor, Input, Model, Sequential};
/// use kiln_train::{fit_step, Batch, FitOptions, Optimizer, OptimizerState, StepLogs, TrainStep};
/// use ndarray::Array2;
///
/// struct Regression { model: Model, optimizer: OptimizerState }
///
/// impl Regression {
///     fn loss(&self, batch: &Batch) -> kiln_train::Result<burn::tensor::Tensor<1>> {
///         let (DynTensor::R2(x), DynTensor::R2(y)) = (&batch.arrays[0], &batch.arrays[1]) else {
///             return Err(kiln_train::Error::Readback("expected matrices".into()));
///         };
///         let DynTensor::R2(p) = self.model.forward(DynTensor::R2(x.clone()))? else {
///             return Err(kiln_train::Error::Readback("expected a matrix".into()));
///         };
///         Ok((p - y.clone()).square().mean())
///     }
/// }
///
/// impl TrainStep for Regression {
///     fn model_and_optimizer(&mut self) -> (&mut Model, &mut OptimizerState) {
///         (&mut self.model, &mut self.optimizer)
///     }
///     fn train_step(&mut self, batch: Batch) -> kiln_train::Result<StepLogs> {
///         let loss = self.loss(&batch)?;
///         let grads = GradientsParams::from_grads(loss.backward(), &self.model);
///         self.model = self.optimizer.apply_gradients(self.model.clone(), grads);
///         Ok(vec![("loss".into(), loss.detach())])
///     }
/// }
///
/// let device = burn::tensor::Device::flex().autodiff();
/// let model = Sequential::new().add(Input::new([2])).add(Dense::new(1)).seed(0).build(&device)?;
/// let mut step = Regression { model, optimizer: OptimizerState::new(Optimizer::sgd().learning_rate(0.1)) };
/// let x = Array2::from_shape_fn((64, 2), |(i, j)| ((i + j) % 7) as f32 / 7.0);
/// let y = Array2::from_shape_fn((64, 1), |(i, _)| x[[i, 0]] - 2.0 * x[[i, 1]]);
/// let history = fit_step(&mut step, (&x, &y), FitOptions::new().epochs(30).verbose(0))?;
/// let loss = history.get("loss").unwrap();
/// assert!(loss[29] < 0.1 * loss[0], "{loss:?}");
/// # Ok::<(), kiln_train::Error>(())
/// ```
pub trait TrainStep {
    /// The model and optimizer callbacks see (Keras's `self` and `self.optimizer`): what
    /// `ModelCheckpoint` saves, `EarlyStopping` restores and `LearningRateScheduler` changes.
    fn model_and_optimizer(&mut self) -> (&mut Model, &mut OptimizerState);

    /// One training step on a batch (Keras `train_step`): forward passes, losses, gradients
    /// and updates, returning what to log.
    ///
    /// # Errors
    /// Any error stops `fit_step` with it (after the callbacks' `on_train_end`).
    fn train_step(&mut self, batch: Batch) -> Result<StepLogs>;

    /// One validation step (Keras `test_step`): what to log, under the names `fit_step`
    /// prefixes with `val_`. Without it, validation data is an error.
    ///
    /// # Errors
    /// As [`train_step`](TrainStep::train_step).
    fn test_step(&mut self, batch: Batch) -> Result<StepLogs> {
        let _ = batch;
        Err(Error::InvalidOption {
            option: "validation",
            reason: "this TrainStep has no test_step, so it cannot validate".into(),
        })
    }
}

/// Running sums of step logs over an epoch, on the device until read.
struct Means {
    names: Vec<String>,
    sums: Vec<Tensor<1>>,
    steps: usize,
}

impl Means {
    fn new() -> Self {
        Self {
            names: Vec::new(),
            sums: Vec::new(),
            steps: 0,
        }
    }

    fn add(&mut self, logs: StepLogs) -> Result<()> {
        if self.steps == 0 {
            self.names = logs.iter().map(|(n, _)| n.clone()).collect();
            self.sums = logs.into_iter().map(|(_, v)| v.reshape([1])).collect();
        } else {
            let names: Vec<&String> = logs.iter().map(|(n, _)| n).collect();
            if names
                .iter()
                .map(|n| n.as_str())
                .ne(self.names.iter().map(String::as_str))
            {
                return Err(Error::InvalidOption {
                    option: "train_step",
                    reason: format!(
                        "a step logged {names:?}, the first step of the epoch {:?}: every step \
                         must log the same names",
                        self.names
                    ),
                });
            }
            for (sum, (_, v)) in self.sums.iter_mut().zip(logs) {
                *sum = sum.clone() + v.reshape([1]);
            }
        }
        self.steps += 1;
        Ok(())
    }

    fn read(&self, prefix: &str) -> Result<Vec<(String, f64)>> {
        if self.sums.is_empty() {
            return Ok(Vec::new());
        }
        let values = Tensor::cat(self.sums.clone(), 0)
            .try_into_data()
            .map_err(|e| Error::Readback(e.to_string()))?
            .convert::<f32>()
            .try_into_vec::<f32>()
            .map_err(|e| Error::Readback(format!("{e:?}")))?;
        let steps = self.steps.max(1) as f64;
        Ok(self
            .names
            .iter()
            .zip(values)
            .map(|(n, v)| (format!("{prefix}{n}"), f64::from(v) / steps))
            .collect())
    }
}

/// The device copies of some arrays, batched by row indices.
struct Data {
    samples: Vec<Samples>,
    len: usize,
}

impl Data {
    fn new(arrays: Vec<HostData>, device: &burn::tensor::Device, what: &str) -> Result<Self> {
        let len = arrays.first().map_or(0, HostData::len);
        if let Some(a) = arrays.iter().find(|a| a.len() != len) {
            return Err(Error::InvalidOption {
                option: "x",
                reason: format!(
                    "{what}: every array needs the same number of samples ({len}), one has {}",
                    a.len()
                ),
            });
        }
        let samples = arrays
            .into_iter()
            .map(|a| Samples::new(a, device))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        Ok(Self { samples, len })
    }

    fn batch(&self, order: &[i64], device: &burn::tensor::Device) -> Result<Batch> {
        let idx =
            Tensor::<1, Int>::from_data(TensorData::new(order.to_vec(), [order.len()]), device);
        let arrays = self
            .samples
            .iter()
            .map(|s| s.rows(order, idx.clone()))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        Ok(Batch {
            arrays,
            rows: order.len(),
        })
    }
}

/// Keeps rows `range` of `a`.
fn rows_of(a: &HostData, range: std::ops::Range<usize>) -> HostData {
    crate::targets::slice(a, range)
}

/// Runs a custom [`TrainStep`] as `fit` runs a compiled model (Keras's `fit` on a model that
/// overrides `train_step`): `data` is every array a step needs (inputs, targets, anything with
/// one row per sample), batched together; `options` as for `fit` (epochs, batch size, shuffle,
/// seed, verbosity, callbacks, `validation_split` or `validation_data` (its x and y become a
/// batch's two arrays), `validation_freq`, `initial_epoch`). Sample and class weights and
/// `steps_per_epoch` belong to the compiled `fit` and are refused here.
///
/// # Errors
/// [`Error::InvalidOption`] for options it cannot take or arrays of different lengths; any
/// error of a step or a callback.
pub fn fit_step<'a, S: TrainStep>(
    step: &mut S,
    data: impl IntoArrays<'a>,
    mut options: FitOptions<'_>,
) -> Result<History> {
    let refuse = |option: &'static str, what: &str| {
        Err(Error::InvalidOption {
            option,
            reason: format!("{what} belongs to the compiled model's `fit`, not `fit_step`"),
        })
    };
    if options.sample_weight.is_some() || options.class_weight.is_some() {
        return refuse("sample_weight", "weighting samples");
    }
    if options.steps_per_epoch.is_some() {
        return refuse("steps_per_epoch", "steps_per_epoch");
    }
    if options.batch_size == 0 || options.validation_freq == 0 {
        return Err(Error::InvalidOption {
            option: "batch_size",
            reason: "batch_size and validation_freq must be at least 1".into(),
        });
    }
    let device = step.model_and_optimizer().0.device().clone();
    let arrays = data.into_arrays().all();
    let total = arrays.first().map_or(0, HostData::len);
    let (train, val) = match &options.validation {
        Validation::None => (arrays, None),
        Validation::Split(f) if *f == 0.0 => (arrays, None),
        Validation::Split(f) => {
            if !(*f > 0.0 && *f < 1.0) {
                return Err(Error::InvalidOption {
                    option: "validation_split",
                    reason: format!("must be in (0, 1), got {f}"),
                });
            }
            // Keras keeps the last fraction, before shuffling.
            let cut = total - ((total as f64) * f64::from(*f)).floor() as usize;
            let train = arrays.iter().map(|a| rows_of(a, 0..cut)).collect();
            let val = arrays.iter().map(|a| rows_of(a, cut..total)).collect();
            (train, Some(val))
        }
        Validation::Data(vx, vy) => (arrays, Some(vec![vx.host_data(), vy.host_data()])),
        Validation::WeightedData(..) | Validation::Many(..) | Validation::Dataset(_) => {
            return refuse(
                "validation",
                "weighted, multi-array or Dataset validation data",
            );
        }
    };
    let train = Data::new(train, &device, "x")?;
    let val = val
        .map(|v| Data::new(v, &device, "validation data"))
        .transpose()?;
    let n = train.len;
    if n == 0 {
        return Err(Error::InvalidOption {
            option: "x",
            reason: "no training samples".into(),
        });
    }
    let steps = n.div_ceil(options.batch_size);
    let mut rng = match options.seed {
        Some(s) => StdRng::seed_from_u64(s),
        None => StdRng::from_os_rng(),
    };
    let mut progress = Progress::new(options.verbose);
    let mut history = History::default();
    let callbacks = &mut options.callbacks;
    let batch_hooks = callbacks.iter().any(|cb| cb.batch_hooks());
    let result = (|| -> Result<()> {
        let mut next_epoch = options.initial_epoch;
        let mut stop_requested = false;
        // Runs `hook` on every callback with the step's model and optimizer.
        let mut hooks =
            |step: &mut S,
             history: &mut History,
             next_epoch: &mut usize,
             hook: &mut dyn FnMut(&mut dyn Callback, &mut CallbackContext<'_>) -> Result<()>|
             -> Result<bool> {
                let (model, optimizer) = step.model_and_optimizer();
                let run = Some(RunState {
                    history,
                    next_epoch,
                });
                run_hooks(callbacks, model, optimizer, run, hook)
            };
        hooks(step, &mut history, &mut next_epoch, &mut |cb, ctx| {
            cb.on_train_begin(ctx)
        })?;
        for epoch in next_epoch..options.epochs {
            let started = std::time::Instant::now();
            if let Some(seed) = options.seed {
                device.seed(crate::fit::epoch_seed(seed, epoch));
            }
            let mut at = epoch;
            hooks(step, &mut history, &mut at, &mut |cb, ctx| {
                cb.on_epoch_begin(epoch, ctx)
            })?;
            progress.begin_epoch(epoch + 1, options.epochs, steps);
            let mut order: Vec<i64> = (0..n as i64).collect();
            if options.shuffle {
                order.shuffle(&mut rng);
            }
            let mut means = Means::new();
            for (k, rows) in order.chunks(options.batch_size).enumerate() {
                if batch_hooks {
                    let mut at = epoch;
                    stop_requested |= hooks(step, &mut history, &mut at, &mut |cb, ctx| {
                        if cb.batch_hooks() {
                            cb.on_train_batch_begin(k, ctx)
                        } else {
                            Ok(())
                        }
                    })?;
                }
                let batch = train.batch(rows, &device)?;
                means.add(step.train_step(batch)?)?;
                let due = progress.due(k + 1);
                if batch_hooks || due {
                    let logs = means.read("")?;
                    if due {
                        progress.draw(k + 1, &logs);
                    }
                    if batch_hooks {
                        let logs: Logs = logs.into_iter().collect();
                        let mut at = epoch;
                        stop_requested |= hooks(step, &mut history, &mut at, &mut |cb, ctx| {
                            if cb.batch_hooks() {
                                cb.on_train_batch_end(k, &logs, ctx)
                            } else {
                                Ok(())
                            }
                        })?;
                        if stop_requested {
                            break;
                        }
                    }
                }
            }
            let mut logs = means.read("")?;
            if let (Some(val), true) = (&val, (epoch + 1) % options.validation_freq == 0) {
                let mut at = epoch;
                stop_requested |= hooks(step, &mut history, &mut at, &mut |cb, ctx| {
                    cb.on_test_begin(ctx)
                })?;
                let size = options.validation_batch_size.unwrap_or(options.batch_size);
                let order: Vec<i64> = (0..val.len as i64).collect();
                let mut val_means = Means::new();
                for rows in order.chunks(size.max(1)) {
                    val_means.add(step.test_step(val.batch(rows, &device)?)?)?;
                }
                let test_logs: Logs = val_means.read("")?.into_iter().collect();
                logs.extend(val_means.read("val_")?);
                stop_requested |= hooks(step, &mut history, &mut at, &mut |cb, ctx| {
                    cb.on_test_end(&test_logs, ctx)
                })?;
            }
            // As `fit`: a loss that is no longer a number stops training with the epoch.
            if let Some((_, value)) = logs.iter().find(|(n, v)| n == "loss" && !v.is_finite()) {
                return Err(Error::NonFiniteLoss {
                    epoch: epoch + 1,
                    value: *value,
                });
            }
            progress.end_epoch(&logs);
            history.push_timed(epoch, &logs, started.elapsed().as_secs_f64());
            let map: Logs = logs.into_iter().collect();
            let mut at = epoch;
            let stop = hooks(step, &mut history, &mut at, &mut |cb, ctx| {
                cb.on_epoch_end(epoch, &map, ctx)
            })?;
            if stop || stop_requested {
                break;
            }
        }
        let mut at = options.epochs;
        hooks(step, &mut history, &mut at, &mut |cb, ctx| {
            cb.on_train_end(ctx)
        })?;
        Ok(())
    })();
    result.map(|()| history)
}
