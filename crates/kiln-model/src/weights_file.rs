//! Weights and whole models on disk: safetensors files with Keras-style names
//! (`dense/kernel`), written atomically.

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

/// Writes `bytes` to `path` through a temporary file in the same folder, synced, then renamed
/// over `path`: a crash leaves the old file or the new one, never a half-written one.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(io(path))?;
    tmp.write_all(bytes).map_err(io(path))?;
    tmp.as_file().sync_all().map_err(io(path))?;
    tmp.persist(path).map_err(|e| Error::Io {
        path: path.to_path_buf(),
        source: e.error,
    })?;
    Ok(())
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
    Ok(out)
}

impl Model {
    /// Saves the weights to a safetensors file, named as Keras names them (`dense/kernel`),
    /// in Keras's layouts. The file is written atomically.
    ///
    /// # Errors
    /// [`Error::Io`] naming the path when it cannot be written.
    ///
    /// # Examples
    /// ```
    /// use kiln_model::{Dense, Input, Sequential};
    /// let device = burn::tensor::Device::flex();
    /// let model = Sequential::new().add(Input::new([3])).add(Dense::new(2)).build(&device)?;
    /// let path = std::env::temp_dir().join("kiln-doc-weights.safetensors");
    /// model.save_weights(&path)?;
    /// let copy = Sequential::new().add(Input::new([3])).add(Dense::new(2)).build(&device)?
    ///     .load_weights(&path)?;
    /// assert_eq!(copy.get_weights()?, model.get_weights()?);
    /// # Ok::<(), kiln_model::Error>(())
    /// ```
    pub fn save_weights(&self, path: impl AsRef<Path>) -> Result<()> {
        write_atomic(path.as_ref(), &serialize(self, None)?)
    }

    /// Loads weights saved by [`save_weights`](Model::save_weights) (or any safetensors file
    /// with the same names and shapes), checking every name and shape first.
    ///
    /// # Errors
    /// [`Error::MissingWeight`] or [`Error::WeightMismatch`] naming the weight;
    /// [`Error::WeightsFile`] for a truncated or corrupt file; [`Error::Io`].
    pub fn load_weights(self, path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let bytes = read(path)?;
        let file = parse(path, &bytes)?;
        let weights = weights_from(&self, path, &file)?;
        self.set_weights(&weights)
    }

    /// Saves architecture and weights in one safetensors file (the architecture JSON in its
    /// metadata), atomically; [`load_model`] reads it back.
    ///
    /// # Errors
    /// As [`save_weights`](Model::save_weights).
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let config = self.config().to_json()?;
        let metadata = HashMap::from([(CONFIG_KEY.to_string(), config)]);
        write_atomic(path.as_ref(), &serialize(self, Some(metadata))?)
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
