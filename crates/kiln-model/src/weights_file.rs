//! Weights and whole models on disk, the format chosen by the extension: Kiln's safetensors
//! (`.safetensors`, Keras-style names `dense/kernel`), Keras 3's `.keras` and `.weights.h5`, and
//! legacy Keras 2 `.h5` (read). Every file is written atomically.

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

use burn::tensor::Device;
use ndarray::ArrayD;
use safetensors::tensor::{Dtype, SafeTensors, TensorView};

use crate::error::{Error, Result};
use crate::layers::CustomObjects;
use crate::model::Model;

/// Metadata key holding the architecture JSON in a file written by [`Model::save`].
pub const CONFIG_KEY: &str = "kiln_config";

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Writes `bytes` to `path` through a temporary file in the same folder
/// (`.<name>.kiln-tmp-XXXXXX`), synced, then renamed over `path`: a crash leaves the old file or
/// the new one, never a half-written one, and the next write to the same path removes the
/// temporary file the crash left.
///
/// # Errors
/// [`Error::Io`] naming `path` when the folder cannot be written.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    // What an interrupted write to the same path left behind goes first (best effort).
    let prefix = format!(".{name}.kiln-tmp-");
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_name().to_string_lossy().starts_with(&prefix) {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
    let mut tmp = tempfile::Builder::new()
        .prefix(&prefix)
        .tempfile_in(dir)
        .map_err(io(path))?;
    tmp.write_all(bytes).map_err(io(path))?;
    tmp.as_file().sync_all().map_err(io(path))?;
    tmp.persist(path).map_err(|e| Error::Io {
        path: path.to_path_buf(),
        source: e.error,
    })?;
    Ok(())
}

/// The file formats, told apart by the extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    /// Kiln's own: safetensors, the architecture in its metadata.
    Safetensors,
    /// Keras 3's zip.
    Keras,
    /// Keras 3's weights file.
    WeightsH5,
    /// Keras 2 / tf.keras HDF5 (read only).
    LegacyH5,
}

impl Format {
    pub(crate) fn of(path: &Path) -> Option<Format> {
        let name = path.file_name()?.to_str()?.to_ascii_lowercase();
        if name.ends_with(".weights.h5") {
            Some(Format::WeightsH5)
        } else if name.ends_with(".keras") {
            Some(Format::Keras)
        } else if name.ends_with(".h5") || name.ends_with(".hdf5") {
            Some(Format::LegacyH5)
        } else if name.ends_with(".safetensors") {
            Some(Format::Safetensors)
        } else {
            None
        }
    }
}

fn unsupported(path: &Path, supported: &'static str) -> Error {
    Error::UnsupportedFormat {
        path: path.to_path_buf(),
        supported,
    }
}

fn serialize(model: &Model, metadata: Option<HashMap<String, String>>) -> Result<Vec<u8>> {
    let names = model.weight_names();
    let weights = model.get_weights()?;
    let bytes: Vec<Vec<u8>> = weights
        .iter()
        .map(|w| w.iter().flat_map(|v| v.to_le_bytes()).collect())
        .collect();
    let mut views = Vec::with_capacity(names.len());
    for ((name, w), b) in names.iter().zip(&weights).zip(&bytes) {
        let view = TensorView::new(Dtype::F32, w.shape().to_vec(), b)
            .map_err(|e| Error::WeightsFile(format!("{name}: {e}")))?;
        views.push((name.clone(), view));
    }
    safetensors::serialize(views, metadata).map_err(|e| Error::WeightsFile(e.to_string()))
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(io(path))
}

fn parse<'a>(path: &Path, bytes: &'a [u8]) -> Result<SafeTensors<'a>> {
    SafeTensors::deserialize(bytes).map_err(|e| {
        Error::WeightsFile(format!(
            "{} is not a valid safetensors file: {e}",
            path.display()
        ))
    })
}

fn weights_from(model: &Model, path: &Path, file: &SafeTensors<'_>) -> Result<Vec<ArrayD<f32>>> {
    let mut out = Vec::new();
    let expected = model.get_weights()?;

    for (name, current) in model.weight_names().iter().zip(&expected) {
        let view = file.tensor(name).map_err(|_| Error::MissingWeight {
            weight: name.clone(),
            path: path.to_path_buf(),
        })?;
        if view.dtype() != Dtype::F32 {
            return Err(Error::WeightsFile(format!(
                "weight `{name}` is {:?}, expected F32",
                view.dtype()
            )));
        }
        if view.shape() != current.shape() {
            return Err(Error::WeightMismatch {
                weight: name.clone(),
                expected: current.shape().to_vec(),
                actual: view.shape().to_vec(),
            });
        }
        let values: Vec<f32> = view
            .data()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        let array = ArrayD::from_shape_vec(view.shape().to_vec(), values)
            .map_err(|e| Error::WeightsFile(format!("{name}: {e}")))?;
        out.push(array);
    }
    // Every weight the model has is there; anything more is a file of another model.
    let names = model.weight_names();
    let mut held = file.names();
    held.sort_unstable();
    if let Some(extra) = held.iter().find(|n| !names.iter().any(|m| m == *n)) {
        return Err(Error::UnexpectedWeight {
            weight: (*extra).to_string(),
            path: path.to_path_buf(),
        });
    }
    Ok(out)
}

impl Model {
    /// Saves the weights, atomically, in the format the extension names: `.safetensors`
    /// (Kiln's, names as Keras names them, `dense/kernel`) or `.weights.h5` (Keras 3's
    /// `model.save_weights` layout, which Keras's `model.load_weights` reads).
    ///
    /// # Errors
    /// [`Error::UnsupportedFormat`] for another extension; [`Error::Io`] naming the path when
    /// it cannot be written.
    ///
    /// # Examples
    /// ```
    /// use kiln_model::{Dense, Input, Sequential};
    /// let device = burn::tensor::Device::flex();
    /// let model = Sequential::new().add(Input::new([3])).add(Dense::new(2)).build(&device)?;
    /// let dir = tempfile::tempdir().expect("a temporary folder");
    /// for name in ["w.safetensors", "w.weights.h5"] {
    ///     model.save_weights(dir.path().join(name))?;
    ///     let copy = Sequential::new().add(Input::new([3])).add(Dense::new(2)).build(&device)?
    ///         .load_weights(dir.path().join(name))?;
    ///     assert_eq!(copy.get_weights()?, model.get_weights()?);
    /// }
    /// # Ok::<(), kiln_model::Error>(())
    /// ```
    pub fn save_weights(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let bytes = match Format::of(path) {
            Some(Format::Safetensors) => serialize(self, None)?,
            Some(Format::WeightsH5) => crate::keras_weights::write_weights(self, &[], Vec::new())?,
            _ => return Err(unsupported(path, ".safetensors or .weights.h5")),
        };
        write_atomic(path, &bytes)
    }

    /// Loads weights saved by [`save_weights`](Model::save_weights) or by Keras's
    /// `model.save_weights` (`.weights.h5`), or taken from a `.keras` file, checking every name
    /// and shape first.
    ///
    /// # Errors
    /// [`Error::MissingWeight`] or [`Error::WeightMismatch`] naming the weight;
    /// [`Error::WeightsFile`], [`Error::Hdf5`], [`Error::KerasFile`] for a truncated or
    /// corrupt file; [`Error::UnsupportedFormat`]; [`Error::Io`].
    pub fn load_weights(self, path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let format = Format::of(path);
        if !matches!(
            format,
            Some(Format::Safetensors | Format::WeightsH5 | Format::Keras | Format::LegacyH5)
        ) {
            return Err(unsupported(
                path,
                ".safetensors, .weights.h5, .keras or .h5",
            ));
        }
        let bytes = read(path)?;
        let weights = match format {
            Some(Format::WeightsH5) => {
                let file = crate::keras_weights::open(path, bytes)?;
                crate::keras_weights::read_weights(&self, &file, path)?
            }
            Some(Format::Keras) => crate::keras_file::read_weights(&self, path, &bytes)?,
            Some(Format::LegacyH5) => crate::legacy_h5::read_weights(&self, path, bytes)?,
            _ => {
                let file = parse(path, &bytes)?;
                weights_from(&self, path, &file)?
            }
        };
        self.set_weights(&weights)
    }

    /// Saves architecture and weights in one file, atomically, in the format the extension
    /// names: `.keras` (Keras 3's zip, which `keras.saving.load_model` reads) or `.safetensors`
    /// (Kiln's, the architecture in its metadata). [`load_model`] reads both back.
    ///
    /// # Errors
    /// [`Error::UnsupportedFormat`] for another extension (legacy `.h5` is read only); as
    /// [`save_weights`](Model::save_weights).
    ///
    /// # Examples
    /// ```
    /// use kiln_model::{Dense, Input, Sequential, load_model};
    /// let device = burn::tensor::Device::flex();
    /// let model = Sequential::new().add(Input::new([3])).add(Dense::new(2)).build(&device)?;
    /// let path = tempfile::tempdir().expect("a temporary folder").keep().join("m.keras");
    /// model.save(&path)?;
    /// assert_eq!(load_model(&path, &device)?.get_weights()?, model.get_weights()?);
    /// # Ok::<(), kiln_model::Error>(())
    /// ```
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        match Format::of(path) {
            Some(Format::Keras) => self.save_keras(path, None, None),
            Some(Format::Safetensors) => {
                let config = self.config().to_json()?;
                let metadata = HashMap::from([(CONFIG_KEY.to_string(), config)]);
                write_atomic(path, &serialize(self, Some(metadata))?)
            }
            _ => Err(unsupported(path, ".keras or .safetensors")),
        }
    }

    /// Saves a `.keras` file with a training setup: Keras's `compile_config` (optimizer, loss,
    /// metrics) and the optimizer's variables (under its name, `"adam"`, in Keras's order), so
    /// that Keras (or Kiln) resumes training where it stopped.
    ///
    /// # Errors
    /// As [`save`](Model::save).
    pub fn save_keras(
        &self,
        path: impl AsRef<Path>,
        compile_config: Option<serde_json::Value>,
        optimizer: Option<crate::keras_file::OptimizerVariables>,
    ) -> Result<()> {
        let path = path.as_ref();
        write_atomic(
            path,
            &crate::keras_file::write(self, compile_config, optimizer)?,
        )
    }
}

/// Loads a model saved with [`Model::save`] onto `device`.
///
/// # Errors
/// [`Error::WeightsFile`] when the file is corrupt or has no architecture; the errors of
/// [`Sequential::from_config`], [`Sequential::build`] and [`Model::load_weights`].
pub fn load_model(path: impl AsRef<Path>, device: &Device) -> Result<Model> {
    load_model_with(path, device, &CustomObjects::new())
}

/// As [`load_model`], for a model with custom layers: `custom` has their constructors (Keras's
/// `load_model(path, custom_objects=...)`).
///
/// # Errors
/// As [`load_model`].
pub fn load_model_with(
    path: impl AsRef<Path>,
    device: &Device,
    custom: &CustomObjects,
) -> Result<Model> {
    let path = path.as_ref();
    let format = Format::of(path);
    if format == Some(Format::Keras) {
        return Ok(load_keras(path, device, custom)?.model);
    }
    if format == Some(Format::LegacyH5) {
        return crate::legacy_h5::load_model(path, device, custom);
    }
    if format != Some(Format::Safetensors) {
        return Err(unsupported(path, ".keras, .h5 or .safetensors"));
    }
    let bytes = read(path)?;
    let (_, header) = SafeTensors::read_metadata(&bytes).map_err(|e| {
        Error::WeightsFile(format!(
            "{} is not a valid safetensors file: {e}",
            path.display()
        ))
    })?;
    let config = header
        .metadata()
        .as_ref()
        .and_then(|m| m.get(CONFIG_KEY))
        .ok_or_else(|| {
            Error::WeightsFile(format!(
                "{} holds weights only (no `{CONFIG_KEY}`); build the model and use load_weights",
                path.display()
            ))
        })?;
    let model = crate::model::ModelConfig::from_json_with(config, custom)?.build(device)?;
    let file = parse(path, &bytes)?;
    let weights = weights_from(&model, path, &file)?;
    model.set_weights(&weights)
}

/// Reads a `.keras` file onto `device` with what it holds besides the model: the training
/// setup (`compile_config`) and the optimizer's variables (`kiln_train` resumes from them).
///
/// # Errors
/// [`Error::Zip`] for a file that is not a zip; [`Error::KerasFile`] for one without
/// `config.json` or `model.weights.h5`, or whose weights do not fit the architecture;
/// [`Error::Hdf5`]; [`Error::UnknownLayer`] naming a class Kiln lacks; [`Error::Io`].
pub fn load_keras(
    path: impl AsRef<Path>,
    device: &Device,
    custom: &CustomObjects,
) -> Result<crate::keras_file::KerasArchive> {
    let path = path.as_ref();
    let bytes = read(path)?;
    crate::keras_file::read(path, &bytes, device, custom)
}
