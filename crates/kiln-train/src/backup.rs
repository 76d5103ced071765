//! `BackupAndRestore`: resume a `fit` that was interrupted (killed, crashed, preempted) from
//! the last completed epoch.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use kiln_model::OptimizerVariable;
use ndarray::{ArrayD, IxDyn};
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use serde::{Deserialize, Serialize};

use crate::callbacks::{Callback, CallbackContext, Logs, ensure_writable_dir};
use crate::error::{Error, Result, io_error};
use crate::history::History;

/// The backup file's name in the backup folder.
pub const BACKUP_FILE: &str = "backup.safetensors";
/// The previous backup, kept with [`BackupAndRestore::double_checkpoint`].
pub const PREVIOUS_BACKUP_FILE: &str = "backup.previous.safetensors";
const METADATA_KEY: &str = "kiln_backup";
const FORMAT_VERSION: u32 = 1;

/// Backs up the training state after every epoch and, when `fit` starts with a backup in the
/// folder, restores it and goes on from the epoch after it (Keras
/// `keras.callbacks.BackupAndRestore(backup_dir)`: `save_freq="epoch"`, `double_checkpoint`
/// false, `delete_checkpoint` true).
///
/// The backup is one file, written atomically: the weights, the optimizer's state (iterations
/// and slots), the epoch and the History so far. A process killed at any moment leaves the
/// backup of the last completed epoch; running the same `fit` again resumes from it and, with
/// [`FitOptions::seed`](crate::FitOptions::seed), ends with the same weights and History as a
/// run that was never interrupted (the shuffles and, on backends whose random numbers can be
/// seeded, dropout masks are drawn from the seed and the epoch). When training ends normally
/// the backup is deleted (unless [`delete_checkpoint`](Self::delete_checkpoint)`(false)`).
///
/// Kiln backs up at epoch ends only (Keras's `save_freq` may also count batches); the state of
/// other callbacks (EarlyStopping's patience, ...) is not in the backup, as in Keras.
///
/// # Examples
/// ```
/// use kiln_model::{Dense, Input, Sequential};
/// use kiln_train::{BackupAndRestore, Compile, FitOptions};
/// let x = ndarray::Array2::<f32>::from_shape_fn((32, 3), |(i, j)| ((i + j) % 5) as f32);
/// let y = ndarray::Array2::<f32>::from_shape_fn((32, 1), |(i, _)| (i % 3) as f32);
/// let dir = tempfile::tempdir().expect("a temporary folder");
/// let mut model = Sequential::new().add(Input::new([3])).add(Dense::new(1)).seed(0)
///     .build(&burn::tensor::Device::flex())?.compile("adam", "mse", ["mae"])?;
/// let mut backup = BackupAndRestore::new(dir.path());
/// let history = model.fit(&x, &y, FitOptions::new().epochs(3).verbose(0).seed(1)
///     .callback(&mut backup))?;
/// assert_eq!(history.epoch, [0, 1, 2]);
/// assert!(!dir.path().join(kiln_train::BACKUP_FILE).exists(), "deleted at the end");
/// # Ok::<(), kiln_train::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct BackupAndRestore {
    backup_dir: PathBuf,
    double_checkpoint: bool,
    delete_checkpoint: bool,
    restored_epoch: Option<usize>,
}

/// What the backup file's metadata holds besides the tensors.
#[derive(Debug, Serialize, Deserialize)]
struct Metadata {
    version: u32,
    /// The last completed epoch (0-based).
    epoch: usize,
    history: History,
    optimizer: String,
    weights: usize,
    variables: usize,
}

impl BackupAndRestore {
    /// Backs up into `backup_dir` (created when missing).
    pub fn new(backup_dir: impl Into<PathBuf>) -> Self {
        Self {
            backup_dir: backup_dir.into(),
            double_checkpoint: false,
            delete_checkpoint: true,
            restored_epoch: None,
        }
    }

    /// Keep the previous epoch's backup too, and fall back to it when the latest one cannot be
    /// read (Keras `double_checkpoint`).
    pub fn double_checkpoint(mut self, keep: bool) -> Self {
        self.double_checkpoint = keep;
        self
    }

    /// Delete the backup when training ends normally (Keras `delete_checkpoint`, default
    /// true).
    pub fn delete_checkpoint(mut self, delete: bool) -> Self {
        self.delete_checkpoint = delete;
        self
    }

    /// The last completed epoch (0-based) of the backup the last `fit` resumed from, if any.
    pub fn restored_epoch(&self) -> Option<usize> {
        self.restored_epoch
    }

    /// The backup file.
    pub fn path(&self) -> PathBuf {
        self.backup_dir.join(BACKUP_FILE)
    }

    fn previous_path(&self) -> PathBuf {
        self.backup_dir.join(PREVIOUS_BACKUP_FILE)
    }

    /// The newest readable backup: the latest, or with `double_checkpoint` the previous one
    /// when the latest is unreadable.
    fn read_backup(&self) -> Result<Option<(PathBuf, Backup)>> {
        let mut candidates = vec![self.path()];
        if self.double_checkpoint {
            candidates.push(self.previous_path());
        }
        let mut first_error = None;
        for path in candidates {
            if !path.exists() {
                continue;
            }
            match read(&path) {
                Ok(backup) => return Ok(Some((path, backup))),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(None),
        }
    }
}

fn corrupt(path: &Path, reason: impl Into<String>) -> Error {
    Error::Backup {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

fn parse<'a>(path: &Path, bytes: &'a [u8]) -> Result<(SafeTensors<'a>, Metadata)> {
    let (_, header) = SafeTensors::read_metadata(bytes)
        .map_err(|e| corrupt(path, format!("not a valid backup file: {e}")))?;
    let json = header
        .metadata()
        .as_ref()
        .and_then(|m| m.get(METADATA_KEY))
        .ok_or_else(|| corrupt(path, "no Kiln backup metadata"))?;
    let metadata: Metadata = serde_json::from_str(json)
        .map_err(|e| corrupt(path, format!("unreadable backup metadata: {e}")))?;
    if metadata.version != FORMAT_VERSION {
        return Err(corrupt(
            path,
            format!(
                "backup format version {} (this Kiln reads {FORMAT_VERSION})",
                metadata.version
            ),
        ));
    }
    let file = SafeTensors::deserialize(bytes)
        .map_err(|e| corrupt(path, format!("not a valid backup file: {e}")))?;
    Ok((file, metadata))
}

/// A backup file read and decoded.
struct Backup {
    metadata: Metadata,
    weights: Vec<ArrayD<f32>>,
    variables: Vec<OptimizerVariable>,
}

fn read(path: &Path) -> Result<Backup> {
    let bytes = std::fs::read(path).map_err(io_error(path))?;
    let (file, metadata) = parse(path, &bytes)?;
    if file.len() != metadata.weights + metadata.variables {
        return Err(corrupt(
            path,
            format!(
                "the metadata lists {} weights and {} optimizer variables, the file holds {} \
                 tensors",
                metadata.weights,
                metadata.variables,
                file.len()
            ),
        ));
    }
    let view = |kind: &str, i: usize| {
        let name = tensor_name(kind, i);
        file.tensor(&name)
            .map(|v| (name.clone(), v))
            .map_err(|_| corrupt(path, format!("`{name}` is missing")))
    };
    let weights = (0..metadata.weights)
        .map(|i| view("model", i).and_then(|(name, v)| f32_values(path, &v, &name)))
        .collect::<Result<Vec<_>>>()?;
    let variables = (0..metadata.variables)
        .map(|i| view("optimizer", i).and_then(|(name, v)| variable(path, &v, &name)))
        .collect::<Result<Vec<_>>>()?;
    Ok(Backup {
        metadata,
        weights,
        variables,
    })
}

fn tensor_name(kind: &str, i: usize) -> String {
    format!("{kind}/{i:06}")
}

fn f32_values(path: &Path, view: &TensorView<'_>, name: &str) -> Result<ArrayD<f32>> {
    if view.dtype() != Dtype::F32 {
        return Err(corrupt(
            path,
            format!("`{name}` is {:?}, not F32", view.dtype()),
        ));
    }
    let values: Vec<f32> = view
        .data()
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    ArrayD::from_shape_vec(IxDyn(view.shape()), values)
        .map_err(|e| corrupt(path, format!("`{name}`: {e}")))
}

fn variable(path: &Path, view: &TensorView<'_>, name: &str) -> Result<OptimizerVariable> {
    if view.dtype() == Dtype::I64 {
        let values: Vec<i64> = view
            .data()
            .chunks_exact(8)
            .map(|c| i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
            .collect();
        let array = ArrayD::from_shape_vec(IxDyn(view.shape()), values)
            .map_err(|e| corrupt(path, format!("`{name}`: {e}")))?;
        return Ok(OptimizerVariable::Int(array));
    }
    f32_values(path, view, name).map(OptimizerVariable::Float)
}

impl Callback for BackupAndRestore {
    fn on_train_begin(&mut self, ctx: &mut CallbackContext<'_>) -> Result<()> {
        self.restored_epoch = None;
        if ctx.optimizer.config.custom.is_some() {
            return Err(Error::InvalidOption {
                option: "BackupAndRestore",
                reason: "a custom optimizer rule's state cannot be backed up".into(),
            });
        }
        // The folder must be writable before the first step, not after the first epoch.
        ensure_writable_dir(&self.backup_dir)?;
        let Some((path, backup)) = self.read_backup()? else {
            return Ok(());
        };
        let Backup {
            metadata,
            weights,
            variables,
        } = backup;
        if metadata.optimizer != ctx.optimizer.config.name() {
            return Err(corrupt(
                &path,
                format!(
                    "the backup is of a `{}` optimizer, this model is compiled with `{}`",
                    metadata.optimizer,
                    ctx.optimizer.config.name()
                ),
            ));
        }
        let expected = ctx.model.weight_names().len();
        if weights.len() != expected {
            return Err(corrupt(
                &path,
                format!(
                    "the backup holds {} weights, this model has {expected}",
                    weights.len()
                ),
            ));
        }
        // Checked by shape before anything changes; the optimizer state checks its own.
        let restored = ctx.model.clone().set_weights(&weights)?;
        let device = restored.device().clone();
        ctx.optimizer
            .set_keras_variables(&restored.trainable_params(), &variables, &device)?;
        *ctx.model = restored;
        if let Some(run) = ctx.run.as_mut() {
            *run.history = metadata.history;
            *run.next_epoch = metadata.epoch + 1;
        }
        self.restored_epoch = Some(metadata.epoch);
        Ok(())
    }

    fn on_epoch_end(
        &mut self,
        epoch: usize,
        _logs: &Logs,
        ctx: &mut CallbackContext<'_>,
    ) -> Result<()> {
        let weights = ctx.model.get_weights()?;
        let variables = ctx
            .optimizer
            .keras_variables(&ctx.model.trainable_params())?;
        let history = ctx
            .run
            .as_ref()
            .map(|r| r.history.clone())
            .unwrap_or_default();
        let metadata = Metadata {
            version: FORMAT_VERSION,
            epoch,
            history,
            optimizer: ctx.optimizer.config.name().to_string(),
            weights: weights.len(),
            variables: variables.len(),
        };
        let mut buffers: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = Vec::new();
        for (i, w) in weights.iter().enumerate() {
            let bytes = w.iter().flat_map(|v| v.to_le_bytes()).collect();
            buffers.push((
                tensor_name("model", i),
                Dtype::F32,
                w.shape().to_vec(),
                bytes,
            ));
        }
        for (i, v) in variables.iter().enumerate() {
            let (dtype, bytes) = match v {
                OptimizerVariable::Int(a) => {
                    (Dtype::I64, a.iter().flat_map(|x| x.to_le_bytes()).collect())
                }
                OptimizerVariable::Float(a) => {
                    (Dtype::F32, a.iter().flat_map(|x| x.to_le_bytes()).collect())
                }
            };
            buffers.push((
                tensor_name("optimizer", i),
                dtype,
                v.shape().to_vec(),
                bytes,
            ));
        }
        let path = self.path();
        let mut views = Vec::with_capacity(buffers.len());
        for (name, dtype, shape, bytes) in &buffers {
            let view = TensorView::new(*dtype, shape.clone(), bytes)
                .map_err(|e| corrupt(&path, format!("`{name}`: {e}")))?;
            views.push((name.clone(), view));
        }
        let json = serde_json::to_string(&metadata).map_err(Error::Json)?;
        let info = HashMap::from([(METADATA_KEY.to_string(), json)]);
        let bytes =
            safetensors::serialize(views, Some(info)).map_err(|e| corrupt(&path, e.to_string()))?;
        if self.double_checkpoint && path.exists() {
            let previous = self.previous_path();
            std::fs::rename(&path, &previous).map_err(io_error(&previous))?;
        }
        kiln_model::write_atomic(&path, &bytes)?;
        Ok(())
    }

    fn on_train_end(&mut self, _ctx: &mut CallbackContext<'_>) -> Result<()> {
        if self.delete_checkpoint {
            for path in [self.path(), self.previous_path()] {
                if path.exists() {
                    std::fs::remove_file(&path).map_err(io_error(&path))?;
                }
            }
        }
        Ok(())
    }
}
