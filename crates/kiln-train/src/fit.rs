//! `fit`: Keras's training loop.

use burn::optim::GradientsParams;
use burn::tensor::Tensor;
use kiln_model::{ArrayInput, HostData};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use crate::arrays::{Arrays, IntoArrays};
use crate::callbacks::{Callback, CallbackContext, Logs, RunState, run_hooks};
use crate::compiled::{
    BatchHook, CompiledModel, DEFAULT_BATCH_SIZE, Tally, Values, check_counts, evaluate_batches,
    named,
};
use crate::error::{Error, Result};
use crate::history::History;
use crate::progress::{Progress, Verbosity};
use crate::targets::{rows_features, slice};

/// Where validation data comes from; the variants exclude each other by construction.
#[derive(Clone, Default)]
pub enum Validation<'a> {
    /// No validation.
    #[default]
    None,
    /// The last fraction of the training samples, taken before shuffling (Keras
    /// `validation_split`).
    Split(f32),
    /// Separate data (Keras `validation_data=(x, y)`).
    Data(&'a dyn ArrayInput, &'a dyn ArrayInput),
    /// Separate data with sample weights (Keras `validation_data=(x, y, sample_weight)`).
    WeightedData(&'a dyn ArrayInput, &'a dyn ArrayInput, &'a dyn ArrayInput),
    /// Separate data for a model of several inputs or outputs, one array each.
    Many(Arrays<'a>, Arrays<'a>),
}

impl std::fmt::Debug for Validation<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Validation::None => write!(f, "None"),
            Validation::Split(s) => write!(f, "Split({s})"),
            Validation::Data(..) => write!(f, "Data(..)"),
            Validation::WeightedData(..) => write!(f, "WeightedData(..)"),
            Validation::Many(..) => write!(f, "Many(..)"),
        }
    }
}

/// The options of `fit`, with Keras's defaults: 1 epoch, batch size 32, shuffled, verbose.
///
/// # Examples
/// ```
/// use kiln_train::FitOptions;
/// let x_val = ndarray::Array2::<f32>::zeros((4, 3));
/// let y_val = ndarray::Array1::<u8>::zeros(4);
/// let options = FitOptions::new().epochs(10).batch_size(64).validation_data(&x_val, &y_val);
/// assert_eq!(options.epochs, 10);
/// ```
pub struct FitOptions<'a> {
    /// Passes over the training data.
    pub epochs: usize,
    /// Samples per update; the last batch of an epoch keeps the remainder.
    pub batch_size: usize,
    /// Reshuffle the training samples each epoch.
    pub shuffle: bool,
    /// Seed of the shuffling and, at each epoch's start, of the device's random numbers
    /// (dropout and noise layers; derived from the seed and the epoch, so a run is reproducible
    /// and one resumed by `BackupAndRestore` matches an uninterrupted one). `None` draws a
    /// shuffle seed and leaves the device's generator alone. On flex the device seed is
    /// process-wide.
    pub seed: Option<u64>,
    /// What to print.
    pub verbose: Verbosity,
    /// Validation data, if any.
    pub validation: Validation<'a>,
    /// Callbacks, called in order at each hook.
    pub callbacks: Vec<&'a mut dyn Callback>,
    /// Weight of each class in the training loss and metrics (Keras `class_weight`).
    pub class_weight: Option<std::collections::BTreeMap<usize, f32>>,
    /// Weight of each training sample (Keras `sample_weight`), `[n]`.
    pub sample_weight: Option<&'a dyn ArrayInput>,
    /// The epoch to start at, for resuming (Keras `initial_epoch`; `epochs` is the last).
    pub initial_epoch: usize,
    /// Validate every this many epochs (Keras `validation_freq`, default 1).
    pub validation_freq: usize,
    /// Batch size of validation (default: `batch_size`).
    pub validation_batch_size: Option<usize>,
    /// Batches per epoch (Keras `steps_per_epoch`); `None` is one pass over the data.
    pub steps_per_epoch: Option<usize>,
}

impl std::fmt::Debug for FitOptions<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FitOptions")
            .field("epochs", &self.epochs)
            .field("batch_size", &self.batch_size)
            .field("shuffle", &self.shuffle)
            .field("seed", &self.seed)
            .field("verbose", &self.verbose)
            .field("validation", &self.validation)
            .field("callbacks", &self.callbacks.len())
            .finish()
    }
}

impl Default for FitOptions<'_> {
    fn default() -> Self {
        Self {
            epochs: 1,
            batch_size: DEFAULT_BATCH_SIZE,
            shuffle: true,
            seed: None,
            verbose: Verbosity::ProgressBar,
            validation: Validation::None,
            callbacks: Vec::new(),
            class_weight: None,
            sample_weight: None,
            initial_epoch: 0,
            validation_freq: 1,
            validation_batch_size: None,
            steps_per_epoch: None,
        }
    }
}

impl<'a> FitOptions<'a> {
    /// Keras's defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the number of epochs.
    pub fn epochs(mut self, epochs: usize) -> Self {
        self.epochs = epochs;
        self
    }

    /// Sets the batch size.
    pub fn batch_size(mut self, batch_size: usize) -> Self {
        self.batch_size = batch_size;
        self
    }

    /// Whether to shuffle each epoch.
    pub fn shuffle(mut self, shuffle: bool) -> Self {
        self.shuffle = shuffle;
        self
    }

    /// Seeds the shuffling and the per-epoch device random numbers, for reproducible runs.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Sets the verbosity (`0`, `1`, `2` as Keras, or a [`Verbosity`]).
    pub fn verbose(mut self, verbose: impl Into<Verbosity>) -> Self {
        self.verbose = verbose.into();
        self
    }

    /// Validates on the last `fraction` of the training data (Keras `validation_split`).
    pub fn validation_split(mut self, fraction: f32) -> Self {
        self.validation = Validation::Split(fraction);
        self
    }

    /// Adds a callback (Keras `callbacks=[...]`); it stays yours to inspect after `fit`.
    pub fn callback(mut self, callback: &'a mut dyn Callback) -> Self {
        self.callbacks.push(callback);
        self
    }

    /// Weighs each training sample's loss (and metrics) by its class's weight (Keras
    /// `class_weight={0: 1.0, 1: 5.0}`); every class in the labels needs a weight.
    pub fn class_weight(mut self, weights: impl IntoIterator<Item = (usize, f32)>) -> Self {
        self.class_weight = Some(weights.into_iter().collect());
        self
    }

    /// Weighs each training sample's loss (and metrics) (Keras `sample_weight`), `[n]`.
    pub fn sample_weight(mut self, weights: &'a dyn ArrayInput) -> Self {
        self.sample_weight = Some(weights);
        self
    }

    /// Starts at this epoch (Keras `initial_epoch`), e.g. to resume; `epochs` stays the index
    /// of the last epoch plus one, as in Keras.
    pub fn initial_epoch(mut self, epoch: usize) -> Self {
        self.initial_epoch = epoch;
        self
    }

    /// Validates every `freq` epochs (Keras `validation_freq`).
    pub fn validation_freq(mut self, freq: usize) -> Self {
        self.validation_freq = freq.max(1);
        self
    }

    /// Batch size for validation (Keras `validation_batch_size`).
    pub fn validation_batch_size(mut self, batch_size: usize) -> Self {
        self.validation_batch_size = Some(batch_size);
        self
    }

    /// Ends each epoch after `steps` batches (Keras `steps_per_epoch`). As in Keras 3 with
    /// arrays, the epochs walk one shuffled pass over the data, each continuing where the last
    /// stopped; `fit` fails at the start if `steps × epochs` needs more batches than one pass
    /// has (Keras would stop with a warning when the data runs out).
    pub fn steps_per_epoch(mut self, steps: usize) -> Self {
        self.steps_per_epoch = Some(steps);
        self
    }

    /// Validates on separate data (Keras `validation_data`).
    pub fn validation_data(mut self, x: &'a dyn ArrayInput, y: &'a dyn ArrayInput) -> Self {
        self.validation = Validation::Data(x, y);
        self
    }

    /// Validation data for a model of several inputs or outputs: one array per input and per
    /// output, by position or by name (Keras `validation_data=([x1, x2], {"out": y})`).
    pub fn validation_data_many(mut self, x: impl IntoArrays<'a>, y: impl IntoArrays<'a>) -> Self {
        self.validation = Validation::Many(x.into_arrays(), y.into_arrays());
        self
    }

    /// Validates on separate data weighted per sample (Keras
    /// `validation_data=(x, y, sample_weight)`): the validation loss and metrics are weighted
    /// as the training ones are.
    pub fn validation_data_weighted(
        mut self,
        x: &'a dyn ArrayInput,
        y: &'a dyn ArrayInput,
        sample_weight: &'a dyn ArrayInput,
    ) -> Self {
        self.validation = Validation::WeightedData(x, y, sample_weight);
        self
    }
}

impl CompiledModel {
    /// Trains the model (Keras's `fit`): `epochs` passes over `(x, y)` in batches, with the
    /// optimizer's update after each batch.
    ///
    /// The training data goes to the device once; each step gathers its batch there. The
    /// per-epoch `loss` and metrics are means over every sample of the epoch, each computed
    /// with the weights of the step that processed it (what Keras reports).
    ///
    /// # Errors
    /// Before any training: [`Error::Model`] (`DataShape`) when `x` does not match the input,
    /// [`Error::TargetShape`]/[`Error::LabelOutOfRange`] when `y` does not fit the output and
    /// loss, [`Error::InvalidOption`] for bad options. During training:
    /// [`Error::NonFiniteLoss`] when the loss becomes NaN or infinite.
    ///
    /// # Examples
    /// ```
    /// use kiln_model::{Activation, Dense, Input, Sequential};
    /// use kiln_train::{Compile, FitOptions};
    /// use ndarray::{Array1, Array2};
    ///
    /// let x = Array2::from_shape_fn((64, 2), |(i, j)| ((i * 7 + j * 3) % 10) as f32 / 10.0);
    /// let y = Array1::from_shape_fn(64, |i| (x[[i, 0]] > x[[i, 1]]) as u8);
    /// let mut model = Sequential::new()
    ///     .add(Input::new([2]))
    ///     .add(Dense::new(2).activation(Activation::Softmax))
    ///     .seed(0)
    ///     .build(&burn::tensor::Device::flex())?
    ///     .compile("adam", "sparse_categorical_crossentropy", ["accuracy"])?;
    /// let history = model.fit(&x, &y, FitOptions::new().epochs(3).verbose(0).seed(1))?;
    /// assert_eq!(history.get("loss").map(|l| l.len()), Some(3));
    /// # Ok::<(), kiln_train::Error>(())
    /// ```
    ///
    /// A model of several inputs or outputs takes one array each, by position (`(&x1, &x2)`,
    /// a slice of `&dyn ArrayInput`) or by name (`[("features", &x1 as &dyn ArrayInput), ..]`),
    /// as Keras takes lists and dicts.
    pub fn fit<'a>(
        &mut self,
        x: impl IntoArrays<'a>,
        y: impl IntoArrays<'a>,
        mut options: FitOptions<'_>,
    ) -> Result<History> {
        if options.batch_size == 0 {
            return Err(Error::InvalidOption {
                option: "batch_size",
                reason: "must be at least 1".into(),
            });
        }
        if options.validation_freq == 0 {
            return Err(Error::InvalidOption {
                option: "validation_freq",
                reason: "must be at least 1 (validate every that many epochs)".into(),
            });
        }
        let several = self.heads.len() > 1;
        if several && (options.sample_weight.is_some() || options.class_weight.is_some()) {
            return Err(Error::InvalidOption {
                option: "sample_weight",
                reason: "sample and class weights take a model of one output for now".into(),
            });
        }
        let xs = x.into_arrays().resolve(&self.model.input_names(), "x")?;
        let ys = y.into_arrays().resolve(&self.model.output_names(), "y")?;
        let n_all = xs.first().map_or(0, HostData::len);
        for y in &ys {
            check_counts(n_all, y.len(), "")?;
        }
        let all_weights = match ys.first() {
            Some(y) if !several => row_weights(&options, y)?,
            _ => None,
        };
        // Keras weighs validation by `sample_weight` only (never `class_weight`): the split's
        // part of it with `validation_split`, or the third element of `validation_data`.
        let val_weights: Option<Vec<f32>> = match &options.validation {
            Validation::Split(_) => options.sample_weight.map(|w| w.host_data().values),
            Validation::WeightedData(_, _, w) => Some(w.host_data().values),
            _ => None,
        };
        if let Some(w) = &val_weights {
            check_weights(w, "validation sample_weight")?;
        }
        let split = matches!(options.validation, Validation::Split(_));
        let (xs, ys, validation) = self.split_validation(xs, ys, &options.validation)?;
        let n = xs.first().map_or(0, HostData::len);
        if n == 0 {
            return Err(Error::InvalidOption {
                option: "x",
                reason: "no training samples".into(),
            });
        }
        // Everything is checked and on the device before the first step.
        let device = self.device.clone();
        let model = self.model.clone();
        let ys = self.device_targets(&model, "y", &ys, n)?;
        let per: Vec<usize> = ys.iter().map(|y| y.rows() / n.max(1)).collect();
        // The training part (validation_split keeps the first samples).
        let weights = all_weights.map(|w| per_row_weights(&w[..n], per[0], &device));
        let val = match validation {
            Some((vx, vy)) => {
                let count = vx.first().map_or(0, HostData::len);
                let vy = self.device_targets(&model, "validation y", &vy, count)?;
                let vw = match val_weights {
                    Some(w) => {
                        // With a split the weights cover all samples; the validation ones are last.
                        let w = if split {
                            &w[w.len().saturating_sub(count)..]
                        } else {
                            &w[..]
                        };
                        if w.len() != count {
                            return Err(Error::InvalidOption {
                                option: "validation sample_weight",
                                reason: format!("has {} values for {count} samples", w.len()),
                            });
                        }
                        Some(per_row_weights(w, vy[0].rows() / count.max(1), &device))
                    }
                    None => None,
                };
                Some((self.device_inputs(&model, "validation x", vx)?, vy, vw))
            }
            None => None,
        };
        let xs = self.device_inputs(&model, "x", xs)?;
        let mut logged: Vec<String> = self.metrics_names();
        if val.is_some() {
            logged.extend(self.metrics_names().iter().map(|n| format!("val_{n}")));
        }
        for cb in &options.callbacks {
            if let Some(monitor) = cb.monitor()
                && !logged.iter().any(|l| l == monitor)
            {
                return Err(Error::UnknownMonitor {
                    monitor: monitor.to_string(),
                    valid: logged,
                });
            }
        }
        let terminate_on_nan = options.callbacks.iter().any(|c| c.terminates_on_nan());
        let per_pass = n.div_ceil(options.batch_size);
        let steps = options.steps_per_epoch.unwrap_or(per_pass);
        if let Some(s) = options.steps_per_epoch {
            let needed = s.checked_mul(options.epochs.saturating_sub(options.initial_epoch));
            if s == 0 || needed.is_none_or(|needed| needed > per_pass) {
                let needed =
                    needed.map_or_else(|| "more than usize::MAX".into(), |n| n.to_string());
                return Err(Error::InvalidOption {
                    option: "steps_per_epoch",
                    reason: format!(
                        "{s} steps x {} epochs need {needed} batches, but one pass over the {n} \
                         training samples gives {per_pass} batches of {}; lower steps_per_epoch \
                         or epochs (Keras would stop when the data runs out)",
                        options.epochs.saturating_sub(options.initial_epoch),
                        options.batch_size
                    ),
                });
            }
        }
        let mut rng = match options.seed {
            Some(s) => StdRng::seed_from_u64(s),
            None => StdRng::from_os_rng(),
        };
        // With steps_per_epoch, every epoch takes its batches from one shuffled pass.
        let shuffled = |rng: &mut StdRng| {
            let mut order: Vec<i64> = (0..n as i64).collect();
            if options.shuffle {
                order.shuffle(rng);
            }
            order
        };
        let one_pass = options.steps_per_epoch.map(|_| shuffled(&mut rng));
        let mut progress = Progress::new(options.verbose);
        let mut history = History::default();
        let mut slot = Some(self.model.clone());
        let callbacks = &mut options.callbacks;
        let result = (|| -> Result<()> {
            let lost = || Error::Readback("the model was lost after a failed step".into());
            // Runs `hook` on every callback with the current model and optimizer.
            // Batch hooks cost a read of the logs per batch: only for callbacks that have them.
            let batch_hooks = callbacks.iter().any(|cb| cb.batch_hooks());
            let mut hooks = |slot: &mut Option<kiln_model::Model>,
                             optimizer: &mut crate::optimizer::OptimizerState,
                             history: &mut History,
                             next_epoch: &mut usize,
                             hook: &mut dyn FnMut(
                &mut dyn Callback,
                &mut CallbackContext<'_>,
            ) -> Result<()>|
             -> Result<bool> {
                let model = slot.as_mut().ok_or_else(lost)?;
                let run = Some(RunState {
                    history,
                    next_epoch,
                });
                run_hooks(callbacks, model, optimizer, run, hook)
            };
            // A stop asked for from a batch or test hook (Keras's `model.stop_training`).
            let mut stop_requested = false;
            // BackupAndRestore may move the start past epochs a killed run completed.
            let mut first_epoch = options.initial_epoch;
            hooks(
                &mut slot,
                &mut self.optimizer,
                &mut history,
                &mut first_epoch,
                &mut |cb, ctx| cb.on_train_begin(ctx),
            )?;
            // The shuffles of the skipped epochs, so a resumed run draws what an uninterrupted
            // one would have.
            if one_pass.is_none() {
                for _ in options.initial_epoch..first_epoch.min(options.epochs) {
                    shuffled(&mut rng);
                }
            }
            for epoch in first_epoch..options.epochs {
                let epoch_start = std::time::Instant::now();
                // With a seed, each epoch's random layers (dropout, noise) draw from the seed
                // and the epoch, so a run is reproducible and a resumed one matches.
                if let Some(seed) = options.seed {
                    device.seed(epoch_seed(seed, epoch));
                }
                let mut next = epoch;
                hooks(
                    &mut slot,
                    &mut self.optimizer,
                    &mut history,
                    &mut next,
                    &mut |cb, ctx| cb.on_epoch_begin(epoch, ctx),
                )?;
                progress.begin_epoch(epoch + 1, options.epochs, steps);
                let (order, first_step) = match &one_pass {
                    Some(order) => (order.clone(), (epoch - options.initial_epoch) * steps),
                    None => (shuffled(&mut rng), 0),
                };
                let device_order = self.order(order.clone());
                let mut acc = Tally::new(&self.heads, &device);
                let mut nan_stop = false;
                for step in 0..steps {
                    if batch_hooks {
                        let mut next = epoch;
                        stop_requested |= hooks(
                            &mut slot,
                            &mut self.optimizer,
                            &mut history,
                            &mut next,
                            &mut |cb, ctx| {
                                if cb.batch_hooks() {
                                    cb.on_train_batch_begin(step, ctx)
                                } else {
                                    Ok(())
                                }
                            },
                        )?;
                    }
                    let start = (first_step + step) * options.batch_size;
                    let len = options.batch_size.min(n - start);
                    let idx = device_order.clone().narrow(0, start, len);
                    let xb = xs
                        .iter()
                        .map(|x| x.rows(&order[start..start + len], idx.clone()))
                        .collect::<std::result::Result<Vec<_>, _>>()?;
                    let model = slot.take().ok_or_else(lost)?;
                    let (zs, acts) = model.forward_pre_activation_many(xb, true)?;
                    // Keras adds the weight penalties to the loss it minimizes and reports.
                    let mut loss: Option<Tensor<1>> = model.regularization_loss();
                    let mut parts = Vec::with_capacity(self.heads.len());
                    for (k, (head, z)) in self.heads.iter().zip(zs).enumerate() {
                        let row_idx = if per[k] == 1 {
                            idx.clone()
                        } else {
                            row_indices(idx.clone(), per[k])
                        };
                        let wb = weights
                            .as_ref()
                            .map(|w| w.clone().select(0, row_idx.clone()));
                        let yb = ys[k].select(row_idx);
                        let z = rows_features(z);
                        let head_loss =
                            head.loss
                                .compute_weighted(z.clone(), acts[k], &yb, wb.as_ref());
                        let weighted = if several {
                            head_loss.clone() * head.weight
                        } else {
                            head_loss.clone()
                        };
                        loss = Some(match loss {
                            Some(total) => total + weighted,
                            None => weighted,
                        });
                        parts.push((
                            head_loss.detach().inner(),
                            z.detach().inner(),
                            acts[k],
                            yb,
                            len * per[k],
                            wb,
                        ));
                    }
                    let loss = loss.ok_or_else(|| {
                        Error::Readback("the model has no output to train".into())
                    })?;
                    // With a LossScale the gradients are of the scaled loss (unscaled again in
                    // apply_gradients); the loss reported stays unscaled.
                    let scaled = self.optimizer.scale_loss(loss.clone());
                    let grads = GradientsParams::from_grads(scaled.backward(), &model);
                    acc.update(loss.detach().inner(), len, parts, &self.heads);
                    slot = Some(self.optimizer.apply_gradients(model, grads));
                    if batch_hooks {
                        let values = acc.read(&self.heads)?;
                        let logs: Logs = self.named(&values, "").into_iter().collect();
                        let mut next = epoch;
                        stop_requested |= hooks(
                            &mut slot,
                            &mut self.optimizer,
                            &mut history,
                            &mut next,
                            &mut |cb, ctx| {
                                if cb.batch_hooks() {
                                    cb.on_train_batch_end(step, &logs, ctx)
                                } else {
                                    Ok(())
                                }
                            },
                        )?;
                        if stop_requested {
                            break;
                        }
                    }
                    if progress.due(step + 1) {
                        let values = acc.read(&self.heads)?;
                        if !values.loss.is_finite() && terminate_on_nan {
                            nan_stop = true;
                            break;
                        }
                        check_finite(values.loss, epoch)?;
                        let logs: Vec<_> = self.named(&values, "").into_iter().collect();
                        progress.draw(step + 1, &logs);
                    }
                }
                let values = acc.read(&self.heads)?;
                let loss = values.loss;
                if !loss.is_finite() && terminate_on_nan {
                    nan_stop = true;
                }
                if !nan_stop {
                    check_finite(loss, epoch)?;
                }
                let mut logs: Vec<(String, f64)> = self.named(&values, "").into_iter().collect();
                let validate = (epoch + 1) % options.validation_freq == 0;
                if let (Some((vx, vy, vw)), false, true) = (&val, nan_stop, validate) {
                    use burn::module::Module;
                    let mut next = epoch;
                    stop_requested |= hooks(
                        &mut slot,
                        &mut self.optimizer,
                        &mut history,
                        &mut next,
                        &mut |cb, ctx| cb.on_test_begin(ctx),
                    )?;
                    let vbs = options.validation_batch_size.unwrap_or(options.batch_size);
                    let valid = slot.as_ref().ok_or_else(lost)?.valid();
                    let heads = &self.heads;
                    let mut test_batch = |batch: usize, values: Option<&Values>| -> Result<()> {
                        let logs: Option<Logs> =
                            values.map(|v| named(heads, v, "").into_iter().collect());
                        let mut next = epoch;
                        stop_requested |= hooks(
                            &mut slot,
                            &mut self.optimizer,
                            &mut history,
                            &mut next,
                            &mut |cb, ctx| match (&logs, cb.batch_hooks()) {
                                (_, false) => Ok(()),
                                (None, true) => cb.on_test_batch_begin(batch, ctx),
                                (Some(logs), true) => cb.on_test_batch_end(batch, logs, ctx),
                            },
                        )?;
                        Ok(())
                    };
                    let hook: Option<BatchHook<'_>> = if batch_hooks {
                        Some(&mut test_batch)
                    } else {
                        None
                    };
                    let vv = evaluate_batches(
                        heads,
                        &self.device,
                        (&valid, vx, vy, vw.as_ref()),
                        vbs,
                        hook,
                    )?;
                    logs.extend(self.named(&vv, "val_"));
                    let test_logs: Logs = self.named(&vv, "").into_iter().collect();
                    stop_requested |= hooks(
                        &mut slot,
                        &mut self.optimizer,
                        &mut history,
                        &mut next,
                        &mut |cb, ctx| cb.on_test_end(&test_logs, ctx),
                    )?;
                }
                progress.end_epoch(&logs);
                history.push_timed(epoch, &logs, epoch_start.elapsed().as_secs_f64());
                if nan_stop {
                    if options.verbose != Verbosity::Silent {
                        println!(
                            "Epoch {}: invalid loss ({loss}), terminating training",
                            epoch + 1
                        );
                    }
                    break;
                }
                let map: Logs = logs.into_iter().collect();
                let stop = hooks(
                    &mut slot,
                    &mut self.optimizer,
                    &mut history,
                    &mut next,
                    &mut |cb, ctx| cb.on_epoch_end(epoch, &map, ctx),
                )?;
                if stop || stop_requested {
                    break;
                }
            }
            // Keras: `optimizer.finalize_variable_values` (the moving average, with `use_ema`).
            if let Some(model) = slot.take() {
                slot = Some(self.optimizer.finalize_variable_values(model));
            }
            let mut next = options.epochs;
            hooks(
                &mut slot,
                &mut self.optimizer,
                &mut history,
                &mut next,
                &mut |cb, ctx| cb.on_train_end(ctx),
            )?;
            Ok(())
        })();
        if let Some(model) = slot {
            self.model = model;
        }
        result.map(|()| history)
    }
}

/// The weight of each sample from `class_weight` and `sample_weight` (multiplied when both
/// are given), or `None`.
fn row_weights(options: &FitOptions<'_>, y: &HostData) -> Result<Option<Vec<f32>>> {
    let n = y.len();
    let mut weights: Option<Vec<f32>> = None;
    if let Some(sw) = options.sample_weight {
        let sw = sw.host_data();
        if sw.values.len() != n {
            return Err(Error::InvalidOption {
                option: "sample_weight",
                reason: format!("has {} values for {n} samples", sw.values.len()),
            });
        }
        check_weights(&sw.values, "sample_weight")?;
        weights = Some(sw.values);
    }
    if let Some(cw) = &options.class_weight {
        for (class, w) in cw {
            if !(w.is_finite() && *w >= 0.0) {
                return Err(Error::InvalidOption {
                    option: "class_weight",
                    reason: format!(
                        "the weight of class {class} is {w}; weights must be finite and not negative"
                    ),
                });
            }
        }
        let per = y.sample_dims().iter().product::<usize>().max(1);
        let mut out = Vec::with_capacity(n);
        for i in 0..n {
            let row = &y.values[i * per..(i + 1) * per];
            // Class ids, one-hot rows (argmax) or a single 0/1 column.
            let class = if per == 1 {
                row[0].round().max(0.0) as usize
            } else {
                row.iter()
                    .enumerate()
                    .fold(
                        (0, f32::MIN),
                        |best, (j, v)| if *v > best.1 { (j, *v) } else { best },
                    )
                    .0
            };
            let w = cw
                .get(&class)
                .copied()
                .ok_or_else(|| Error::InvalidOption {
                    option: "class_weight",
                    reason: format!(
                        "no weight for class {class} (sample {i}); give every class a weight"
                    ),
                })?;
            out.push(w);
        }
        weights = Some(match weights {
            Some(sw) => sw.iter().zip(&out).map(|(a, b)| a * b).collect(),
            None => out,
        });
    }
    Ok(weights)
}

/// Sample weights must be finite and not negative: a negative weight would make the loss reward
/// the error it should punish (Keras does not check; Kiln refuses).
pub(crate) fn check_weights(values: &[f32], option: &'static str) -> Result<()> {
    match values.iter().position(|w| !(w.is_finite() && *w >= 0.0)) {
        Some(i) => Err(Error::InvalidOption {
            option,
            reason: format!(
                "the weight of sample {i} is {}; weights must be finite and not negative",
                values[i]
            ),
        }),
        None => Ok(()),
    }
}

/// Sample weights on the device, each repeated for the `per` target rows of its sample.
fn per_row_weights(
    weights: &[f32],
    per: usize,
    device: &burn::tensor::Device,
) -> burn::tensor::Tensor<1> {
    let rows: Vec<f32> = weights
        .iter()
        .flat_map(|v| std::iter::repeat_n(*v, per))
        .collect();
    let len = rows.len();
    burn::tensor::Tensor::<1>::from_data(burn::tensor::TensorData::new(rows, [len]), device)
}

/// For targets with several rows per sample, the row indices of the samples `idx`.
fn row_indices(
    idx: burn::tensor::Tensor<1, burn::tensor::Int>,
    per: usize,
) -> burn::tensor::Tensor<1, burn::tensor::Int> {
    let n = idx.dims()[0];
    let device = idx.device();
    let base = idx.reshape([n, 1]) * per as i64;
    let offsets = burn::tensor::Tensor::<1, burn::tensor::Int>::arange(0..per as i64, &device)
        .reshape([1, per]);
    (base + offsets).reshape([n * per])
}

/// The seed of an epoch's random numbers on the device (SplitMix64 of the two, so that
/// neighbouring epochs and seeds draw unrelated streams).
pub(crate) fn epoch_seed(seed: u64, epoch: usize) -> u64 {
    let mut z = seed
        ^ (epoch as u64)
            .wrapping_add(1)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn check_finite(loss: f64, epoch: usize) -> Result<()> {
    if loss.is_finite() {
        Ok(())
    } else {
        Err(Error::NonFiniteLoss {
            epoch: epoch + 1,
            value: loss,
        })
    }
}

type Split = (
    Vec<HostData>,
    Vec<HostData>,
    Option<(Vec<HostData>, Vec<HostData>)>,
);

impl CompiledModel {
    /// The training arrays and the validation ones (separate, or the last samples of each).
    fn split_validation(
        &self,
        xs: Vec<HostData>,
        ys: Vec<HostData>,
        validation: &Validation<'_>,
    ) -> Result<Split> {
        let (inputs, outputs) = (self.model.input_names(), self.model.output_names());
        let separate = |vx: Vec<HostData>, vy: Vec<HostData>| -> Result<Split> {
            let count = vx.first().map_or(0, HostData::len);
            for v in vx.iter().chain(&vy) {
                check_counts(count, v.len(), "validation ")?;
            }
            Ok((xs.clone(), ys.clone(), Some((vx, vy))))
        };
        match validation {
            Validation::None => Ok((xs, ys, None)),
            Validation::Data(vx, vy) | Validation::WeightedData(vx, vy, _) => {
                separate(vec![vx.host_data()], vec![vy.host_data()])
            }
            Validation::Many(vx, vy) => separate(
                vx.resolve(&inputs, "validation x")?,
                vy.resolve(&outputs, "validation y")?,
            ),
            // Keras treats a split of 0 as no split.
            Validation::Split(fraction) if *fraction == 0.0 => Ok((xs, ys, None)),
            Validation::Split(fraction) => {
                let fraction = *fraction;
                if !(fraction > 0.0 && fraction < 1.0) {
                    return Err(Error::InvalidOption {
                        option: "validation_split",
                        reason: format!("must be in (0, 1), got {fraction}"),
                    });
                }
                // Keras: the first ceil(n * (1 - split)) samples train, the rest validate.
                let n = xs.first().map_or(0, HostData::len);
                let at = ((n as f64) * (1.0 - f64::from(fraction))).ceil() as usize;
                let at = at.min(n);
                if at == n {
                    return Err(Error::InvalidOption {
                        option: "validation_split",
                        reason: format!("{fraction} of {n} samples leaves no validation sample"),
                    });
                }
                let part = |arrays: &[HostData], range: std::ops::Range<usize>| -> Vec<HostData> {
                    arrays.iter().map(|a| slice(a, range.clone())).collect()
                };
                Ok((
                    part(&xs, 0..at),
                    part(&ys, 0..at),
                    Some((part(&xs, at..n), part(&ys, at..n))),
                ))
            }
        }
    }
}
