//! Callbacks: Keras's hook points in `fit`, and the stock callbacks with Keras's defaults.

use std::io::Write;
use std::path::{Path, PathBuf};

use kiln_model::Model;
use ndarray::ArrayD;

use crate::error::{Error, Result, io_error};
use crate::history::History;
use crate::optimizer::OptimizerState;

/// What a callback may look at and change during `fit`.
pub struct CallbackContext<'a> {
    /// The model being trained (its current weights).
    pub model: &'a mut Model,
    /// The optimizer with its state (Keras's `model.optimizer`: the configuration, e.g. to
    /// change the learning rate, and its `iterations` and slots).
    pub optimizer: &'a mut OptimizerState,
    /// Set to `true` to stop training after this epoch (Keras's `model.stop_training`).
    pub stop_training: bool,
    /// What only `fit` has: the History so far and the epoch to run next.
    pub(crate) run: Option<RunState<'a>>,
}

/// The parts of a running `fit` that [`crate::BackupAndRestore`] restores.
pub(crate) struct RunState<'a> {
    /// The History so far.
    pub(crate) history: &'a mut History,
    /// The next epoch to run (0-based); set in `on_train_begin` to resume.
    pub(crate) next_epoch: &'a mut usize,
}

/// A hook of one kind, run on each callback in turn.
pub(crate) type Hook<'h> =
    &'h mut dyn FnMut(&mut dyn Callback, &mut CallbackContext<'_>) -> Result<()>;

/// Runs `hook` on every callback, in order, with the model and optimizer being trained and,
/// inside `fit`, its History and next epoch; whether one of them asked to stop.
///
/// # Errors
/// The first callback's error, the later ones not run.
pub(crate) fn run_hooks(
    callbacks: &mut [&mut dyn Callback],
    model: &mut Model,
    optimizer: &mut OptimizerState,
    run: Option<RunState<'_>>,
    hook: Hook<'_>,
) -> Result<bool> {
    let mut ctx = CallbackContext {
        model,
        optimizer,
        stop_training: false,
        run,
    };
    for cb in callbacks.iter_mut() {
        hook(&mut **cb, &mut ctx)?;
    }
    Ok(ctx.stop_training)
}

impl<'a> CallbackContext<'a> {
    /// A context outside `fit` (to drive a callback from a custom loop or a test).
    pub fn new(model: &'a mut Model, optimizer: &'a mut OptimizerState) -> Self {
        Self {
            model,
            optimizer,
            stop_training: false,
            run: None,
        }
    }
}

/// Per-epoch values by name (`loss`, `accuracy`, `val_loss`, ...).
pub type Logs = std::collections::BTreeMap<String, f64>;

/// A hook into `fit` (Keras's `keras.callbacks.Callback`). Every method has an empty default.
pub trait Callback {
    /// The quantity the callback watches, checked against what `fit` produces before the first
    /// step (an unknown name is an error listing the valid ones; Keras only warns).
    fn monitor(&self) -> Option<&str> {
        None
    }

    /// Before the first epoch.
    ///
    /// # Errors
    /// A callback's own failure stops `fit` with it.
    fn on_train_begin(&mut self, _ctx: &mut CallbackContext<'_>) -> Result<()> {
        Ok(())
    }

    /// Before each epoch (0-based).
    ///
    /// # Errors
    /// As [`Callback::on_train_begin`].
    fn on_epoch_begin(&mut self, _epoch: usize, _ctx: &mut CallbackContext<'_>) -> Result<()> {
        Ok(())
    }

    /// After each epoch (0-based) with its logs.
    ///
    /// # Errors
    /// As [`Callback::on_train_begin`].
    fn on_epoch_end(
        &mut self,
        _epoch: usize,
        _logs: &Logs,
        _ctx: &mut CallbackContext<'_>,
    ) -> Result<()> {
        Ok(())
    }

    /// After the last epoch.
    ///
    /// # Errors
    /// As [`Callback::on_train_begin`].
    fn on_train_end(&mut self, _ctx: &mut CallbackContext<'_>) -> Result<()> {
        Ok(())
    }

    /// Whether `fit` calls this callback's batch hooks. Keras calls them only for callbacks
    /// that override them; Rust cannot see that, so a callback with batch hooks says so here
    /// (each batch then costs one read of the running logs from the device).
    fn batch_hooks(&self) -> bool {
        false
    }

    /// Before each training batch (0-based within the epoch); only when
    /// [`batch_hooks`](Callback::batch_hooks) is true.
    ///
    /// # Errors
    /// As [`Callback::on_train_begin`].
    fn on_train_batch_begin(
        &mut self,
        _batch: usize,
        _ctx: &mut CallbackContext<'_>,
    ) -> Result<()> {
        Ok(())
    }

    /// After each training batch, with the epoch's running logs so far (Keras: the mean loss
    /// and metrics over the batches of this epoch); only when
    /// [`batch_hooks`](Callback::batch_hooks) is true. Setting `ctx.stop_training` stops
    /// after this batch (the epoch still ends, with its validation and `on_epoch_end`).
    ///
    /// # Errors
    /// As [`Callback::on_train_begin`].
    fn on_train_batch_end(
        &mut self,
        _batch: usize,
        _logs: &Logs,
        _ctx: &mut CallbackContext<'_>,
    ) -> Result<()> {
        Ok(())
    }

    /// Before the validation pass at an epoch's end (Keras `on_test_begin`).
    ///
    /// # Errors
    /// As [`Callback::on_train_begin`].
    fn on_test_begin(&mut self, _ctx: &mut CallbackContext<'_>) -> Result<()> {
        Ok(())
    }

    /// After the validation pass, with its logs (`val_` names without the prefix, as Keras).
    ///
    /// # Errors
    /// As [`Callback::on_train_begin`].
    fn on_test_end(&mut self, _logs: &Logs, _ctx: &mut CallbackContext<'_>) -> Result<()> {
        Ok(())
    }

    /// Before each batch of a validation pass or of
    /// [`evaluate_with_callbacks`](crate::CompiledModel::evaluate_with_callbacks); only when
    /// [`batch_hooks`](Callback::batch_hooks) is true.
    ///
    /// # Errors
    /// As [`Callback::on_train_begin`].
    fn on_test_batch_begin(&mut self, _batch: usize, _ctx: &mut CallbackContext<'_>) -> Result<()> {
        Ok(())
    }

    /// After each such batch, with the pass's running logs (no `val_` prefix).
    ///
    /// # Errors
    /// As [`Callback::on_train_begin`].
    fn on_test_batch_end(
        &mut self,
        _batch: usize,
        _logs: &Logs,
        _ctx: &mut CallbackContext<'_>,
    ) -> Result<()> {
        Ok(())
    }

    /// Before [`predict_with_callbacks`](crate::CompiledModel::predict_with_callbacks).
    ///
    /// # Errors
    /// As [`Callback::on_train_begin`].
    fn on_predict_begin(&mut self, _ctx: &mut CallbackContext<'_>) -> Result<()> {
        Ok(())
    }

    /// Before each prediction batch; only when [`batch_hooks`](Callback::batch_hooks) is true.
    ///
    /// # Errors
    /// As [`Callback::on_train_begin`].
    fn on_predict_batch_begin(
        &mut self,
        _batch: usize,
        _ctx: &mut CallbackContext<'_>,
    ) -> Result<()> {
        Ok(())
    }

    /// After each prediction batch, with its outputs; only when
    /// [`batch_hooks`](Callback::batch_hooks) is true.
    ///
    /// # Errors
    /// As [`Callback::on_train_begin`].
    fn on_predict_batch_end(
        &mut self,
        _batch: usize,
        _outputs: &ndarray::ArrayD<f32>,
        _ctx: &mut CallbackContext<'_>,
    ) -> Result<()> {
        Ok(())
    }

    /// After the last prediction batch.
    ///
    /// # Errors
    /// As [`Callback::on_train_begin`].
    fn on_predict_end(&mut self, _ctx: &mut CallbackContext<'_>) -> Result<()> {
        Ok(())
    }

    /// Whether a NaN or infinite loss should end training quietly (TerminateOnNaN) instead of
    /// failing `fit` with `Error::NonFiniteLoss`.
    fn terminates_on_nan(&self) -> bool {
        false
    }
}

/// Whether lower or higher values of a monitored quantity are better.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// From the name, as Keras: `max` for accuracies and AUC, `min` otherwise.
    #[default]
    Auto,
    /// Lower is better.
    Min,
    /// Higher is better.
    Max,
}

impl Mode {
    fn maximize(self, monitor: &str) -> bool {
        match self {
            Mode::Min => false,
            Mode::Max => true,
            Mode::Auto => {
                let m = monitor.trim_start_matches("val_");
                m.contains("acc")
                    || m.starts_with("auc")
                    || m.starts_with("precision")
                    || m.starts_with("recall")
            }
        }
    }
}

fn improves(maximize: bool, min_delta: f64, current: f64, reference: Option<f64>) -> bool {
    match reference {
        None => true,
        Some(r) if maximize => current - min_delta > r,
        Some(r) => current + min_delta < r,
    }
}

/// Stops training when a monitored quantity stops improving (Keras `EarlyStopping`: monitor
/// `val_loss`, `min_delta` 0, `patience` 0, no baseline, `restore_best_weights` false).
///
/// # Examples
/// ```
/// use kiln_train::EarlyStopping;
/// let mut stop = EarlyStopping::new().patience(3).restore_best_weights(true);
/// assert_eq!(stop.stopped_epoch(), None);
/// ```
#[derive(Debug, Clone)]
pub struct EarlyStopping {
    monitor: String,
    min_delta: f64,
    patience: usize,
    mode: Mode,
    baseline: Option<f64>,
    restore_best_weights: bool,
    start_from_epoch: usize,
    wait: usize,
    best: Option<f64>,
    best_epoch: Option<usize>,
    best_weights: Option<Vec<ArrayD<f32>>>,
    stopped_epoch: Option<usize>,
}

impl Default for EarlyStopping {
    fn default() -> Self {
        Self::new()
    }
}

impl EarlyStopping {
    /// Keras's defaults.
    pub fn new() -> Self {
        Self {
            monitor: "val_loss".into(),
            min_delta: 0.0,
            patience: 0,
            mode: Mode::Auto,
            baseline: None,
            restore_best_weights: false,
            start_from_epoch: 0,
            wait: 0,
            best: None,
            best_epoch: None,
            best_weights: None,
            stopped_epoch: None,
        }
    }

    /// The quantity to watch.
    pub fn monitor(mut self, name: impl Into<String>) -> Self {
        self.monitor = name.into();
        self
    }

    /// The smallest change that counts as an improvement (absolute).
    pub fn min_delta(mut self, d: f64) -> Self {
        self.min_delta = d.abs();
        self
    }

    /// Epochs without improvement before stopping.
    pub fn patience(mut self, p: usize) -> Self {
        self.patience = p;
        self
    }

    /// Whether lower or higher is better.
    pub fn mode(mut self, mode: Mode) -> Self {
        self.mode = mode;
        self
    }

    /// A value the quantity must beat for the wait to reset.
    pub fn baseline(mut self, b: f64) -> Self {
        self.baseline = Some(b);
        self
    }

    /// Restore the weights of the best epoch when stopping.
    pub fn restore_best_weights(mut self, r: bool) -> Self {
        self.restore_best_weights = r;
        self
    }

    /// Ignore the first epochs (warm-up).
    pub fn start_from_epoch(mut self, e: usize) -> Self {
        self.start_from_epoch = e;
        self
    }

    /// The 0-based epoch at which training was stopped, if it was.
    pub fn stopped_epoch(&self) -> Option<usize> {
        self.stopped_epoch
    }

    /// The 0-based epoch with the best value so far.
    pub fn best_epoch(&self) -> Option<usize> {
        self.best_epoch
    }
}

impl Callback for EarlyStopping {
    fn monitor(&self) -> Option<&str> {
        Some(&self.monitor)
    }

    fn on_train_begin(&mut self, _ctx: &mut CallbackContext<'_>) -> Result<()> {
        self.wait = 0;
        self.best = None;
        self.best_epoch = None;
        self.best_weights = None;
        self.stopped_epoch = None;
        Ok(())
    }

    fn on_epoch_end(
        &mut self,
        epoch: usize,
        logs: &Logs,
        ctx: &mut CallbackContext<'_>,
    ) -> Result<()> {
        let Some(&current) = logs.get(&self.monitor) else {
            return Ok(());
        };
        if epoch < self.start_from_epoch {
            return Ok(());
        }
        let maximize = self.mode.maximize(&self.monitor);
        if self.restore_best_weights && self.best_weights.is_none() {
            self.best_weights = Some(ctx.model.get_weights()?);
        }
        self.wait += 1;
        if improves(maximize, self.min_delta, current, self.best) {
            self.best = Some(current);
            self.best_epoch = Some(epoch);
            if self.restore_best_weights {
                self.best_weights = Some(ctx.model.get_weights()?);
            }
            if improves(maximize, self.min_delta, current, self.baseline) {
                self.wait = 0;
                return Ok(());
            }
        }
        if self.wait >= self.patience && epoch > 0 {
            self.stopped_epoch = Some(epoch);
            ctx.stop_training = true;
            if let Some(weights) = self
                .best_weights
                .take()
                .filter(|_| self.restore_best_weights)
            {
                let model = ctx.model.clone().set_weights(&weights)?;
                *ctx.model = model;
            }
        }
        Ok(())
    }
}

/// Saves the model (or its weights) after epochs (Keras `ModelCheckpoint`: monitor `val_loss`,
/// every epoch unless `save_best_only`). The path may hold Keras's patterns, e.g.
/// `"ckpt-{epoch:02d}-{val_loss:.2f}.safetensors"`. Files are written atomically.
#[derive(Debug, Clone)]
pub struct ModelCheckpoint {
    filepath: String,
    monitor: String,
    save_best_only: bool,
    save_weights_only: bool,
    mode: Mode,
    best: Option<f64>,
    saved: Vec<PathBuf>,
}

impl ModelCheckpoint {
    /// Saves to `filepath` (a pattern) after every epoch.
    pub fn new(filepath: impl Into<String>) -> Self {
        Self {
            filepath: filepath.into(),
            monitor: "val_loss".into(),
            save_best_only: false,
            save_weights_only: false,
            mode: Mode::Auto,
            best: None,
            saved: Vec::new(),
        }
    }

    /// The quantity that decides "best".
    pub fn monitor(mut self, name: impl Into<String>) -> Self {
        self.monitor = name.into();
        self
    }

    /// Save only when the monitored quantity improves.
    pub fn save_best_only(mut self, b: bool) -> Self {
        self.save_best_only = b;
        self
    }

    /// Save weights only (`save_weights`) instead of the whole model (`save`).
    pub fn save_weights_only(mut self, b: bool) -> Self {
        self.save_weights_only = b;
        self
    }

    /// Whether lower or higher is better.
    pub fn mode(mut self, mode: Mode) -> Self {
        self.mode = mode;
        self
    }

    /// The files written so far, in order.
    pub fn saved(&self) -> &[PathBuf] {
        &self.saved
    }
}

/// The widest field [`format_path`] fills (a file name holds at most 255 bytes).
pub const MAX_FIELD_WIDTH: usize = 255;

/// Fills Keras's `{name}` / `{name:02d}` / `{name:.2f}` patterns (`epoch` is 1-based).
///
/// # Errors
/// [`Error::InvalidOption`] for an unclosed `{`, a name that is not logged, a format other
/// than these, or a width or precision over [`MAX_FIELD_WIDTH`].
pub fn format_path(pattern: &str, epoch: usize, logs: &Logs) -> Result<String> {
    fill_pattern(pattern, epoch, &|name| {
        logs.get(name).copied().ok_or_else(|| Error::InvalidOption {
            option: "filepath",
            reason: format!(
                "`{{{name}}}` is not a logged value; logged: epoch, {}",
                logs.keys().cloned().collect::<Vec<_>>().join(", ")
            ),
        })
    })
}

/// [`format_path`] with the logged values from `value_of` (the epoch is always `epoch + 1`).
fn fill_pattern(
    pattern: &str,
    epoch: usize,
    value_of: &dyn Fn(&str) -> Result<f64>,
) -> Result<String> {
    let mut out = String::new();
    let mut rest = pattern;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let end = rest[start..]
            .find('}')
            .ok_or_else(|| Error::InvalidOption {
                option: "filepath",
                reason: format!("unclosed `{{` in `{pattern}`"),
            })?
            + start;
        let field = &rest[start + 1..end];
        let (name, spec) = field.split_once(':').unwrap_or((field, ""));
        let value = if name == "epoch" {
            (epoch + 1) as f64
        } else {
            value_of(name)?
        };
        // A width or precision is a count of characters in a file name: at most 255.
        let count = |digits: &str, default: usize| -> Result<usize> {
            if digits.is_empty() {
                return Ok(default);
            }
            match digits.parse::<usize>() {
                Ok(n) if n <= MAX_FIELD_WIDTH => Ok(n),
                _ => Err(Error::InvalidOption {
                    option: "filepath",
                    reason: format!(
                        "`{{{field}}}` in `{pattern}`: `{digits}` is not a width or precision \
                         of 0 to {MAX_FIELD_WIDTH} characters"
                    ),
                }),
            }
        };
        // `02d`, or Python's bare width `02`.
        let int_width = spec.strip_suffix('d').or_else(|| {
            (!spec.is_empty() && spec.bytes().all(|b| b.is_ascii_digit())).then_some(spec)
        });
        let text = if let Some(width) = int_width {
            let zero = width.starts_with('0');
            let w = count(width.trim_start_matches('0'), 0)?;
            if zero {
                format!("{:0w$}", value as i64)
            } else {
                format!("{:w$}", value as i64)
            }
        } else if let Some(p) = spec.strip_prefix('.').and_then(|s| s.strip_suffix('f')) {
            let p = count(p, 6)?;
            format!("{value:.p$}")
        } else if !spec.is_empty() {
            return Err(Error::InvalidOption {
                option: "filepath",
                reason: format!(
                    "`{{{field}}}` in `{pattern}`: Kiln formats `{{name}}`, `{{name:02d}}` and \
                     `{{name:.4f}}`"
                ),
            });
        } else if name == "epoch" {
            format!("{}", value as i64)
        } else {
            format!("{value}")
        };
        out.push_str(&text);
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

impl ModelCheckpoint {
    /// The file patterns' checks that need no logs: the format of every field, the extension,
    /// and the folder (created when missing, as Keras does, and written to once).
    fn check(&self) -> Result<()> {
        // Every field formatted with a stand-in value: only the syntax is checked here.
        let sample = PathBuf::from(fill_pattern(&self.filepath, 0, &|_| Ok(0.0))?);
        let name = sample
            .file_name()
            .map(|n| n.to_string_lossy().to_ascii_lowercase())
            .unwrap_or_default();
        let allowed: &[&str] = if self.save_weights_only {
            &[".safetensors", ".weights.h5"]
        } else {
            &[".keras", ".safetensors"]
        };
        if !allowed.iter().any(|ext| name.ends_with(ext)) {
            return Err(Error::InvalidOption {
                option: "filepath",
                reason: format!(
                    "`{}` must end in {} to save {}",
                    self.filepath,
                    allowed.join(" or "),
                    if self.save_weights_only {
                        "weights"
                    } else {
                        "the model"
                    }
                ),
            });
        }
        // A folder without patterns is made and written to now, not after the first epoch.
        if let Some(dir) = Path::new(&self.filepath).parent()
            && !dir.as_os_str().is_empty()
            && !dir.to_string_lossy().contains('{')
        {
            ensure_writable_dir(dir)?;
        }
        Ok(())
    }
}

/// Makes `dir` when missing and writes (then removes) a file there, so that a callback that
/// saves finds an unwritable folder when `fit` starts, not after the first epoch.
pub(crate) fn ensure_writable_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(io_error(dir))?;
    let probe = dir.join(".kiln-write-probe");
    kiln_model::write_atomic(&probe, b"")?;
    std::fs::remove_file(&probe).map_err(io_error(&probe))
}

impl Callback for ModelCheckpoint {
    fn monitor(&self) -> Option<&str> {
        self.save_best_only.then_some(self.monitor.as_str())
    }

    fn on_train_begin(&mut self, _ctx: &mut CallbackContext<'_>) -> Result<()> {
        self.check()
    }

    fn on_epoch_end(
        &mut self,
        epoch: usize,
        logs: &Logs,
        ctx: &mut CallbackContext<'_>,
    ) -> Result<()> {
        if self.save_best_only {
            let Some(&current) = logs.get(&self.monitor) else {
                return Ok(());
            };
            if !improves(self.mode.maximize(&self.monitor), 0.0, current, self.best) {
                return Ok(());
            }
            self.best = Some(current);
        }
        let path = PathBuf::from(format_path(&self.filepath, epoch, logs)?);
        // Keras makes the folder (it may hold a pattern, e.g. `run-{epoch}/model.keras`).
        if let Some(dir) = path.parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir).map_err(io_error(dir))?;
        }
        let model = ctx.model.clone();
        if self.save_weights_only {
            model.save_weights(&path)?;
        } else {
            model.save(&path)?;
        }
        self.saved.push(path);
        Ok(())
    }
}

/// Writes each epoch's logs to a CSV file (Keras `CSVLogger`): a header `epoch,<names>` then
/// one row per epoch.
#[derive(Debug, Clone)]
pub struct CsvLogger {
    path: PathBuf,
    keys: Option<Vec<String>>,
}

impl CsvLogger {
    /// Logs to `path` (replaced at the start of training).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            keys: None,
        }
    }
}

impl Callback for CsvLogger {
    fn on_train_begin(&mut self, _ctx: &mut CallbackContext<'_>) -> Result<()> {
        self.keys = None;
        std::fs::write(&self.path, "").map_err(|e| Error::Io {
            path: self.path.clone(),
            source: e,
        })
    }

    fn on_epoch_end(
        &mut self,
        epoch: usize,
        logs: &Logs,
        _ctx: &mut CallbackContext<'_>,
    ) -> Result<()> {
        let io = |e| Error::Io {
            path: self.path.clone(),
            source: e,
        };
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&self.path)
            .map_err(io)?;
        let keys = self
            .keys
            .get_or_insert_with(|| logs.keys().cloned().collect());
        let mut text = String::new();
        if file.metadata().map(|m| m.len() == 0).unwrap_or(true) {
            text.push_str(&format!("epoch,{}\n", keys.join(",")));
        }
        let values: Vec<String> = keys
            .iter()
            .map(|k| logs.get(k).map(|v| v.to_string()).unwrap_or_default())
            .collect();
        text.push_str(&format!("{epoch},{}\n", values.join(",")));
        file.write_all(text.as_bytes()).map_err(|e| Error::Io {
            path: self.path.clone(),
            source: e,
        })
    }
}

/// Ends training quietly when the loss becomes NaN or infinite (Keras `TerminateOnNaN`),
/// instead of `fit` failing with `Error::NonFiniteLoss`.
#[derive(Debug, Clone, Copy, Default)]
pub struct TerminateOnNaN;

impl Callback for TerminateOnNaN {
    fn terminates_on_nan(&self) -> bool {
        true
    }
}

/// Multiplies the learning rate by `factor` when a quantity stops improving (Keras
/// `ReduceLROnPlateau`: monitor `val_loss`, factor 0.1, patience 10, min_delta 1e-4,
/// cooldown 0, min_lr 0).
#[derive(Debug, Clone)]
pub struct ReduceLrOnPlateau {
    monitor: String,
    factor: f32,
    patience: usize,
    min_delta: f64,
    cooldown: usize,
    min_lr: f32,
    mode: Mode,
    wait: usize,
    cooldown_left: usize,
    best: Option<f64>,
}

impl Default for ReduceLrOnPlateau {
    fn default() -> Self {
        Self::new()
    }
}

impl ReduceLrOnPlateau {
    /// Keras's defaults.
    pub fn new() -> Self {
        Self {
            monitor: "val_loss".into(),
            factor: 0.1,
            patience: 10,
            min_delta: 1e-4,
            cooldown: 0,
            min_lr: 0.0,
            mode: Mode::Auto,
            wait: 0,
            cooldown_left: 0,
            best: None,
        }
    }

    /// The quantity to watch.
    pub fn monitor(mut self, name: impl Into<String>) -> Self {
        self.monitor = name.into();
        self
    }

    /// The factor applied to the rate.
    pub fn factor(mut self, f: f32) -> Self {
        self.factor = f;
        self
    }

    /// Epochs without improvement before reducing.
    pub fn patience(mut self, p: usize) -> Self {
        self.patience = p;
        self
    }

    /// The lowest rate.
    pub fn min_lr(mut self, lr: f32) -> Self {
        self.min_lr = lr;
        self
    }
}

impl Callback for ReduceLrOnPlateau {
    fn monitor(&self) -> Option<&str> {
        Some(&self.monitor)
    }

    fn on_epoch_end(
        &mut self,
        _epoch: usize,
        logs: &Logs,
        ctx: &mut CallbackContext<'_>,
    ) -> Result<()> {
        let Some(&current) = logs.get(&self.monitor) else {
            return Ok(());
        };
        if self.cooldown_left > 0 {
            self.cooldown_left -= 1;
            self.wait = 0;
        }
        if improves(
            self.mode.maximize(&self.monitor),
            self.min_delta,
            current,
            self.best,
        ) {
            self.best = Some(current);
            self.wait = 0;
        } else if self.cooldown_left == 0 {
            self.wait += 1;
            if self.wait >= self.patience {
                let lr = ctx.optimizer.get_learning_rate();
                if lr > self.min_lr {
                    ctx.optimizer
                        .set_learning_rate((lr * self.factor).max(self.min_lr));
                    self.cooldown_left = self.cooldown;
                    self.wait = 0;
                }
            }
        }
        Ok(())
    }
}

/// Sets the learning rate at the start of each epoch from `schedule(epoch, lr)` (Keras
/// `LearningRateScheduler`).
pub struct LearningRateScheduler<F: FnMut(usize, f32) -> f32> {
    schedule: F,
}

impl<F: FnMut(usize, f32) -> f32> LearningRateScheduler<F> {
    /// Uses `schedule(epoch, current_lr) -> new_lr`.
    pub fn new(schedule: F) -> Self {
        Self { schedule }
    }
}

impl<F: FnMut(usize, f32) -> f32> Callback for LearningRateScheduler<F> {
    fn on_epoch_begin(&mut self, epoch: usize, ctx: &mut CallbackContext<'_>) -> Result<()> {
        let lr = (self.schedule)(epoch, ctx.optimizer.get_learning_rate());
        ctx.optimizer.set_learning_rate(lr);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_patterns_are_filled_as_keras_does() {
        let logs = Logs::from([("val_loss".to_string(), 0.12345)]);
        assert_eq!(
            format_path("ckpt-{epoch:02d}-{val_loss:.2f}.safetensors", 2, &logs).unwrap(),
            "ckpt-03-0.12.safetensors"
        );
        assert!(format_path("{acc}", 0, &logs).is_err());
    }
}
