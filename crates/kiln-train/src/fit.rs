//! `fit`: Keras's training loop.

use burn::optim::GradientsParams;
use burn::tensor::Tensor;
use kiln_datasets::{Batch, BoxError, Dataset, HostArray};
use kiln_model::{ArrayInput, HostData};
use rand::SeedableRng;
use rand::rngs::StdRng;

use crate::arrays::{Arrays, IntoArrays};
use crate::batches::{ArrayBatches, BatchChecker, DeviceBatch, EvalBatches, TrainBatches};
use crate::callbacks::{Callback, CallbackContext, Logs, RunState, run_hooks};
use crate::compiled::{
    BatchHook, CompiledModel, DEFAULT_BATCH_SIZE, Tally, Values, check_counts, evaluate_batches,
    named,
};
use crate::error::{Error, Result};
use crate::history::History;
use crate::mask_weights::masked_row_weights;
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
    /// A data set of validation batches (Keras `validation_data=py_dataset`), for
    /// [`fit_dataset`](CompiledModel::fit_dataset) and [`fit_iter`](CompiledModel::fit_iter).
    Dataset(&'a dyn Dataset),
}

impl std::fmt::Debug for Validation<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Validation::None => write!(f, "None"),
            Validation::Split(s) => write!(f, "Split({s})"),
            Validation::Data(..) => write!(f, "Data(..)"),
            Validation::WeightedData(..) => write!(f, "WeightedData(..)"),
            Validation::Many(..) => write!(f, "Many(..)"),
            Validation::Dataset(d) => write!(f, "Dataset({} batches)", d.len()),
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

    /// Validates on a data set's batches (Keras `validation_data=py_dataset`), when training
    /// from a data set or an iterator.
    pub fn validation_dataset(mut self, data: &'a dyn Dataset) -> Self {
        self.validation = Validation::Dataset(data);
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
        options: FitOptions<'_>,
    ) -> Result<History> {
        check_options(&options)?;
        let several = self.heads.len() > 1;
        if several && (options.sample_weight.is_some() || options.class_weight.is_some()) {
            return Err(Error::InvalidOption {
                option: "sample_weight",
                reason: "sample and class weights take a model of one output for now".into(),
            });
        }
        if matches!(options.validation, Validation::Dataset(_)) {
            return Err(Error::InvalidOption {
                option: "validation_data",
                reason: "a validation Dataset needs training from a Dataset too (fit_dataset); \
                         give validation arrays with validation_data"
                    .into(),
            });
        }
        let xs = x
            .into_arrays()
            .resolve_inputs(&self.model.input_names(), "x")?;
        let ys = y.into_arrays().resolve(&self.model.output_names(), "y")?;
        let n_all = xs.first().map_or(0, HostArray::len);
        for y in &ys {
            check_counts(n_all, y.len(), "")?;
        }
        let all_weights = match ys.first() {
            Some(y) if !several => {
                let given = match options.sample_weight {
                    Some(sw) => {
                        let sw = sw.host_data();
                        if sw.values.len() != y.len() {
                            return Err(Error::InvalidOption {
                                option: "sample_weight",
                                reason: format!(
                                    "has {} values for {} samples",
                                    sw.values.len(),
                                    y.len()
                                ),
                            });
                        }
                        check_weights(&sw.values, "sample_weight")?;
                        Some(sw.values)
                    }
                    None => None,
                };
                sample_weights(given, options.class_weight.as_ref(), y)?
            }
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
        let n = xs.first().map_or(0, HostArray::len);
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
                // With a split the weights cover all samples; the validation ones are last.
                let vw = val_weights.map(|w| {
                    let count = vx.first().map_or(0, HostArray::len);
                    if split {
                        w[w.len().saturating_sub(count)..].to_vec()
                    } else {
                        w
                    }
                });
                Some(self.array_validation(&model, vx, vy, vw)?)
            }
            None => None,
        };
        let xs = self.device_inputs(&model, "x", xs)?;
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
        let mut arrays = ArrayBatches {
            xs,
            ys,
            weights,
            per,
            n,
            batch_size: options.batch_size,
            shuffle: options.shuffle,
            rng: seeded(options.seed),
            one_pass: None,
            steps,
            initial_epoch: options.initial_epoch,
            device,
        };
        // With steps_per_epoch, every epoch takes its batches from one shuffled pass.
        if options.steps_per_epoch.is_some() {
            arrays.one_pass = Some(arrays.shuffled_order());
        }
        self.train_loop(TrainBatches::Arrays(arrays), val, options)
    }

    /// Trains the model on a [`Dataset`] read batch by batch (Keras's `fit(py_dataset)`): each
    /// epoch takes its batches in order (a shuffled order with `shuffle`, the default, as
    /// Keras shuffles a `PyDataset`'s batch indices), then calls
    /// [`Dataset::on_epoch_end`]. Batches are loaded on [`Dataset::workers`] threads when it
    /// asks for more than one. Each batch is checked against the model when it arrives.
    ///
    /// `batch_size`, `sample_weight` and `validation_split` do not apply (the data set makes
    /// the batches and their weights); `steps_per_epoch` takes the first that many batches of
    /// each epoch's order. Validation may be arrays or another data set
    /// ([`FitOptions::validation_dataset`]).
    ///
    /// # Errors
    /// As [`fit`](CompiledModel::fit); [`Error::Dataset`] when the data set fails to give a
    /// batch and [`Error::BadBatch`] when a batch does not fit the model, both after the
    /// callbacks' `on_train_end`, with the cause kept.
    ///
    /// # Examples
    /// ```
    /// use kiln_datasets::{ArrayDataset, Dataset};
    /// use kiln_model::{Activation, Dense, Input, Sequential};
    /// use kiln_train::{Compile, FitOptions};
    ///
    /// let x = ndarray::Array2::from_shape_fn((64, 2), |(i, j)| ((i * 7 + j * 3) % 10) as u8);
    /// let y: Vec<u8> = (0..64).map(|i| (x[[i, 0]] > x[[i, 1]]) as u8).collect();
    /// let mut data = ArrayDataset::new(x, y, 16).with_workers(2, 4);
    /// let mut model = Sequential::new()
    ///     .add(Input::new([2]))
    ///     .add(Dense::new(2).activation(Activation::Softmax))
    ///     .build(&burn::tensor::Device::flex())?
    ///     .compile("adam", "sparse_categorical_crossentropy", ["accuracy"])?;
    /// let history = model.fit_dataset(&mut data, FitOptions::new().epochs(2).verbose(0))?;
    /// assert_eq!(history.get("loss").map(|l| l.len()), Some(2));
    /// # Ok::<(), kiln_train::Error>(())
    /// ```
    pub fn fit_dataset(
        &mut self,
        data: &mut dyn Dataset,
        options: FitOptions<'_>,
    ) -> Result<History> {
        check_options(&options)?;
        if options.sample_weight.is_some() {
            return Err(Error::InvalidOption {
                option: "sample_weight",
                reason: "a Dataset gives its weights with each batch (Batch::sample_weight)".into(),
            });
        }
        let len = data.len();
        if len == 0 {
            return Err(Error::InvalidOption {
                option: "x",
                reason: "the data set has no batches".into(),
            });
        }
        let steps = match options.steps_per_epoch {
            Some(s) if s == 0 || s > len => {
                return Err(Error::InvalidOption {
                    option: "steps_per_epoch",
                    reason: format!("must be in 1..={len}, the data set's batches; got {s}"),
                });
            }
            Some(s) => s,
            None => len,
        };
        let val = self.dataset_validation(&options.validation)?;
        let checker = BatchChecker::new(self, options.class_weight.clone());
        let train = TrainBatches::Dataset {
            data,
            checker,
            shuffle: options.shuffle,
            rng: seeded(options.seed),
            steps,
        };
        self.train_loop(train, val, options)
    }

    /// Trains the model on an iterator of batches (Keras's `fit(generator,
    /// steps_per_epoch=...)`): each epoch takes the next `steps_per_epoch` batches (required).
    /// When the iterator ends early, training stops after that epoch with a warning, as
    /// Keras's "your input ran out of data".
    ///
    /// # Errors
    /// As [`fit_dataset`](CompiledModel::fit_dataset); [`Error::InvalidOption`] without
    /// `steps_per_epoch`.
    ///
    /// # Examples
    /// ```
    /// use kiln_datasets::Batch;
    /// use kiln_model::{Dense, Input, Sequential};
    /// use kiln_train::{Compile, FitOptions};
    ///
    /// let mut model = Sequential::new().add(Input::new([1])).add(Dense::new(1))
    ///     .build(&burn::tensor::Device::flex())?
    ///     .compile("sgd", "mse", Vec::<&str>::new())?;
    /// // y = 2x, forever.
    /// let batches = (0..).map(|i| {
    ///     let x: Vec<f32> = (0..8).map(|j| ((i * 8 + j) % 10) as f32 / 10.0).collect();
    ///     let y: Vec<f32> = x.iter().map(|v| 2.0 * v).collect();
    ///     let x = ndarray::Array2::from_shape_vec((8, 1), x)?;
    ///     Ok(Batch::new(x, ndarray::Array2::from_shape_vec((8, 1), y)?))
    /// });
    /// let history = model.fit_iter(batches, FitOptions::new().epochs(3).steps_per_epoch(5).verbose(0))?;
    /// assert_eq!(history.get("loss").map(|l| l.len()), Some(3));
    /// # Ok::<(), kiln_train::Error>(())
    /// ```
    pub fn fit_iter<I>(&mut self, batches: I, options: FitOptions<'_>) -> Result<History>
    where
        I: IntoIterator<Item = std::result::Result<Batch, BoxError>>,
    {
        check_options(&options)?;
        let Some(steps) = options.steps_per_epoch.filter(|&s| s > 0) else {
            return Err(Error::InvalidOption {
                option: "steps_per_epoch",
                reason: "an iterator of batches needs steps_per_epoch of at least 1 (its length \
                         is not known)"
                    .into(),
            });
        };
        if options.sample_weight.is_some() {
            return Err(Error::InvalidOption {
                option: "sample_weight",
                reason: "an iterator gives its weights with each batch (Batch::sample_weight)"
                    .into(),
            });
        }
        let val = self.dataset_validation(&options.validation)?;
        let checker = BatchChecker::new(self, options.class_weight.clone());
        let mut iter = batches.into_iter();
        let train = TrainBatches::Iter {
            batches: &mut iter,
            checker,
            steps,
            taken: 0,
        };
        self.train_loop(train, val, options)
    }

    /// Validation for training from a data set or an iterator: arrays or a data set.
    fn dataset_validation<'v>(
        &self,
        validation: &Validation<'v>,
    ) -> Result<Option<EvalBatches<'v>>> {
        let model = self.model.clone();
        let (inputs, outputs) = (model.input_names(), model.output_names());
        match validation {
            Validation::None => Ok(None),
            Validation::Split(_) => Err(Error::InvalidOption {
                option: "validation_split",
                reason: "a data set cannot be split (Keras refuses it too); give validation \
                         data or a validation data set"
                    .into(),
            }),
            Validation::Dataset(data) => Ok(Some(EvalBatches::Dataset {
                data: *data,
                checker: BatchChecker::new(self, None),
            })),
            Validation::Data(vx, vy) => Ok(Some(self.array_validation(
                &model,
                vec![vx.host_array()],
                vec![vy.host_data()],
                None,
            )?)),
            Validation::WeightedData(vx, vy, w) => {
                let w = w.host_data().values;
                check_weights(&w, "validation sample_weight")?;
                Ok(Some(self.array_validation(
                    &model,
                    vec![vx.host_array()],
                    vec![vy.host_data()],
                    Some(w),
                )?))
            }
            Validation::Many(vx, vy) => Ok(Some(self.array_validation(
                &model,
                vx.resolve_inputs(&inputs, "validation x")?,
                vy.resolve(&outputs, "validation y")?,
                None,
            )?)),
        }
    }

    /// Validation arrays checked and on the device.
    fn array_validation(
        &self,
        model: &kiln_model::Model,
        vx: Vec<HostArray>,
        vy: Vec<HostData>,
        vw: Option<Vec<f32>>,
    ) -> Result<EvalBatches<'static>> {
        let count = vx.first().map_or(0, HostArray::len);
        for v in &vx {
            check_counts(count, v.len(), "validation ")?;
        }
        for v in &vy {
            check_counts(count, v.len(), "validation ")?;
        }
        let ys = self.device_targets(model, "validation y", &vy, count)?;
        let weights = match vw {
            Some(w) => {
                if w.len() != count {
                    return Err(Error::InvalidOption {
                        option: "validation sample_weight",
                        reason: format!("has {} values for {count} samples", w.len()),
                    });
                }
                let per = ys.first().map_or(1, |y| y.rows() / count.max(1));
                Some(per_row_weights(&w, per, &self.device))
            }
            None => None,
        };
        Ok(EvalBatches::Arrays {
            xs: self.device_inputs(model, "validation x", vx)?,
            ys,
            weights,
        })
    }

    /// Keras's training loop over `train`'s batches, validating on `val`.
    fn train_loop(
        &mut self,
        mut train: TrainBatches<'_>,
        val: Option<EvalBatches<'_>>,
        mut options: FitOptions<'_>,
    ) -> Result<History> {
        let device = self.device.clone();
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
        let steps = train.steps();
        let mut progress = Progress::new(options.verbose);
        let mut history = History::default();
        let mut slot = Some(self.model.clone());
        let callbacks = &mut options.callbacks;
        let lost = || Error::Readback("the model was lost after a failed step".into());
        // Runs `hook` on every callback with the current model and optimizer.
        // Batch hooks cost a read of the logs per batch: only for callbacks that have them.
        let batch_hooks = callbacks.iter().any(|cb| cb.batch_hooks());
        let mut hooks =
            |slot: &mut Option<kiln_model::Model>,
             optimizer: &mut crate::optimizer::OptimizerState,
             history: &mut History,
             next_epoch: &mut usize,
             hook: &mut dyn FnMut(&mut dyn Callback, &mut CallbackContext<'_>) -> Result<()>|
             -> Result<bool> {
                let model = slot.as_mut().ok_or_else(lost)?;
                let run = Some(RunState {
                    history,
                    next_epoch,
                });
                run_hooks(callbacks, model, optimizer, run, hook)
            };
        let heads = self.heads.clone();
        let result = (|| -> Result<()> {
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
            for _ in options.initial_epoch..first_epoch.min(options.epochs) {
                train.skip_epoch();
            }
            let epochs_result = (|| -> Result<()> {
                for epoch in first_epoch..options.epochs {
                    let epoch_start = std::time::Instant::now();
                    // With a seed, each epoch's random layers (dropout, noise) draw from the
                    // seed and the epoch, so a run is reproducible and a resumed one matches.
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
                    let mut acc = Tally::new(&heads, &device);
                    let mut nan_stop = false;
                    let optimizer = &mut self.optimizer;
                    let ran_out = train.epoch(epoch, &mut |step, batch| {
                        if batch_hooks {
                            let mut next = epoch;
                            stop_requested |= hooks(
                                &mut slot,
                                optimizer,
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
                        let DeviceBatch {
                            xs,
                            ys,
                            weights,
                            len,
                        } = batch;
                        let model = slot.take().ok_or_else(lost)?;
                        let pass = model.forward_for_loss(xs, true)?;
                        let (zs, acts) = (pass.outputs, pass.activations);
                        let mut masks = pass.masks.into_iter();
                        // Keras adds the weight penalties and the losses the layers added
                        // (activity regularizers) to the loss it minimizes and reports.
                        let mut loss: Option<Tensor<1>> =
                            sum_losses(model.regularization_loss(), pass.added_loss);
                        let mut parts = Vec::with_capacity(heads.len());
                        let several = heads.len() > 1;
                        for (k, ((head, z), yb)) in heads.iter().zip(zs).zip(ys).enumerate() {
                            let given = if k == 0 { weights.clone() } else { None };
                            // An output's mask weighs its rows (Keras's apply_mask).
                            let (lw, wb) = masked_row_weights(
                                given,
                                masks.next().flatten(),
                                head.loss.reduction,
                            );
                            let z = rows_features(z);
                            let head_loss =
                                head.loss
                                    .compute_weighted(z.clone(), acts[k], &yb, lw.as_ref());
                            let weighted = if several {
                                head_loss.clone() * head.weight
                            } else {
                                head_loss.clone()
                            };
                            loss = Some(match loss {
                                Some(total) => total + weighted,
                                None => weighted,
                            });
                            let rows = yb.rows();
                            parts.push((
                                head_loss.detach().inner(),
                                z.detach().inner(),
                                acts[k],
                                yb,
                                rows,
                                wb,
                            ));
                        }
                        let loss = loss.ok_or_else(|| {
                            Error::Readback("the model has no output to train".into())
                        })?;
                        // With a LossScale the gradients are of the scaled loss (unscaled again
                        // in apply_gradients); the loss reported stays unscaled.
                        let scaled = optimizer.scale_loss(loss.clone());
                        let grads = GradientsParams::from_grads(scaled.backward(), &model);
                        acc.update(loss.detach().inner(), len, parts, &heads);
                        let mut next = optimizer.apply_gradients(model, grads);
                        // Keras projects constrained weights after each step.
                        if next.has_constraints() {
                            next = next.apply_constraints()?;
                        }
                        slot = Some(next);
                        if batch_hooks {
                            let values = acc.read(&heads)?;
                            let logs: Logs = named(&heads, &values, "").into_iter().collect();
                            let mut next = epoch;
                            stop_requested |= hooks(
                                &mut slot,
                                optimizer,
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
                                return Ok(false);
                            }
                        }
                        if progress.due(step + 1) {
                            let values = acc.read(&heads)?;
                            if !values.loss.is_finite() && terminate_on_nan {
                                nan_stop = true;
                                return Ok(false);
                            }
                            check_finite(values.loss, epoch)?;
                            let logs: Vec<_> = named(&heads, &values, "").into_iter().collect();
                            progress.draw(step + 1, &logs);
                        }
                        Ok(true)
                    })?;
                    let values = acc.read(&heads)?;
                    let loss = values.loss;
                    if !loss.is_finite() && terminate_on_nan {
                        nan_stop = true;
                    }
                    if !nan_stop {
                        check_finite(loss, epoch)?;
                    }
                    let mut logs: Vec<(String, f64)> =
                        named(&heads, &values, "").into_iter().collect();
                    let validate = (epoch + 1) % options.validation_freq == 0;
                    if let (Some(vdata), false, true) = (&val, nan_stop, validate) {
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
                        let mut test_batch = |batch: usize,
                                              values: Option<&Values>|
                         -> Result<()> {
                            let logs: Option<Logs> =
                                values.map(|v| named(&heads, v, "").into_iter().collect());
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
                        let vv = evaluate_batches(&heads, &device, &valid, vdata, vbs, hook)?;
                        logs.extend(named(&heads, &vv, "val_"));
                        let test_logs: Logs = named(&heads, &vv, "").into_iter().collect();
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
                    if ran_out {
                        if options.verbose != Verbosity::Silent {
                            println!(
                                "Your input ran out of data; interrupting training. Make sure \
                                 that your data can give at least steps_per_epoch * epochs \
                                 batches ({steps} * {})",
                                options.epochs
                            );
                        }
                        break;
                    }
                    if stop || stop_requested {
                        break;
                    }
                }
                Ok(())
            })();
            // Keras: `optimizer.finalize_variable_values` (the moving average, with `use_ema`).
            if epochs_result.is_ok()
                && let Some(model) = slot.take()
            {
                slot = Some(self.optimizer.finalize_variable_values(model));
            }
            // The callbacks end even when training failed (a data set's error), as long as
            // there is a model to show them.
            if slot.is_some() {
                let mut next = options.epochs;
                let ended = hooks(
                    &mut slot,
                    &mut self.optimizer,
                    &mut history,
                    &mut next,
                    &mut |cb, ctx| cb.on_train_end(ctx),
                );
                epochs_result?;
                ended?;
                return Ok(());
            }
            epochs_result
        })();
        if let Some(model) = slot {
            self.model = model;
        }
        result.map(|()| history)
    }
}

/// The checks every `fit` makes on its options first.
fn check_options(options: &FitOptions<'_>) -> Result<()> {
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
    Ok(())
}

/// The shuffling generator: from the seed, or drawn.
fn seeded(seed: Option<u64>) -> StdRng {
    match seed {
        Some(s) => StdRng::seed_from_u64(s),
        None => StdRng::from_os_rng(),
    }
}

/// The weight of each sample from the given weights and `class_weight` (multiplied when both
/// are given), or `None`.
pub(crate) fn sample_weights(
    given: Option<Vec<f32>>,
    class_weight: Option<&std::collections::BTreeMap<usize, f32>>,
    y: &HostData,
) -> Result<Option<Vec<f32>>> {
    let n = y.len();
    let mut weights: Option<Vec<f32>> = given;
    if let Some(cw) = class_weight {
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
pub(crate) fn per_row_weights(
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
pub(crate) fn row_indices(
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
    Vec<HostArray>,
    Vec<HostData>,
    Option<(Vec<HostArray>, Vec<HostData>)>,
);

impl CompiledModel {
    /// The training arrays and the validation ones (separate, or the last samples of each).
    fn split_validation(
        &self,
        xs: Vec<HostArray>,
        ys: Vec<HostData>,
        validation: &Validation<'_>,
    ) -> Result<Split> {
        let (inputs, outputs) = (self.model.input_names(), self.model.output_names());
        match validation {
            Validation::None | Validation::Dataset(_) => Ok((xs, ys, None)),
            Validation::Data(vx, vy) | Validation::WeightedData(vx, vy, _) => {
                Ok((xs, ys, Some((vec![vx.host_array()], vec![vy.host_data()]))))
            }
            Validation::Many(vx, vy) => Ok((
                xs,
                ys,
                Some((
                    vx.resolve_inputs(&inputs, "validation x")?,
                    vy.resolve(&outputs, "validation y")?,
                )),
            )),
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
                let n = xs.first().map_or(0, HostArray::len);
                let at = ((n as f64) * (1.0 - f64::from(fraction))).ceil() as usize;
                let at = at.min(n);
                if at == n {
                    return Err(Error::InvalidOption {
                        option: "validation_split",
                        reason: format!("{fraction} of {n} samples leaves no validation sample"),
                    });
                }
                let inputs = |range: std::ops::Range<usize>| -> Vec<HostArray> {
                    xs.iter()
                        .map(|a| a.slice_rows(range.start, range.len()))
                        .collect()
                };
                let targets = |range: std::ops::Range<usize>| -> Vec<HostData> {
                    ys.iter().map(|a| slice(a, range.clone())).collect()
                };
                Ok((
                    inputs(0..at),
                    targets(0..at),
                    Some((inputs(at..n), targets(at..n))),
                ))
            }
        }
    }
}

/// Two optional loss terms summed.
pub(crate) fn sum_losses(a: Option<Tensor<1>>, b: Option<Tensor<1>>) -> Option<Tensor<1>> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a + b),
        (a, b) => a.or(b),
    }
}
