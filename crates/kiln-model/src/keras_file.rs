//! Keras 3's `.keras` file: a zip of `metadata.json`, `config.json` (the architecture, as
//! `keras.saving.serialize_keras_object` writes it, with `compile_config`) and
//! `model.weights.h5` (the weights in Keras's layout, see [`crate::keras_weights`]).

use std::io::{Cursor, Read, Write};
use std::path::Path;

use burn::tensor::Device;
use ndarray::ArrayD;
use serde_json::{Value, json};
use zip::write::SimpleFileOptions;

use crate::error::{Error, Result};
use crate::keras_weights::{self, ExtraDatasets};
use crate::layers::CustomObjects;
use crate::model::{Model, ModelConfig};

/// The Keras version whose file format Kiln reads and writes.
pub const KERAS_VERSION: &str = "3.15.1";

/// The most bytes one entry of a `.keras` zip may hold once unpacked (16 GiB: the weights of
/// [`MAX_WEIGHT_VALUES`](crate::MAX_WEIGHT_VALUES) values), checked while reading so that a
/// zip claiming less cannot unpack to more.
pub const MAX_ENTRY_BYTES: u64 = 1 << 34;

/// One optimizer variable as a Keras file holds it: `iterations` is an integer, the learning
/// rate and the per-variable slots are floats.
#[derive(Debug, Clone, PartialEq)]
pub enum OptimizerVariable {
    /// An integer variable (`iterations`, int64 in Keras).
    Int(ArrayD<i64>),
    /// A float variable.
    Float(ArrayD<f32>),
}

impl OptimizerVariable {
    /// The shape.
    pub fn shape(&self) -> &[usize] {
        match self {
            OptimizerVariable::Int(a) => a.shape(),
            OptimizerVariable::Float(a) => a.shape(),
        }
    }
}

/// What a `.keras` file holds besides the built model: the training setup Keras saved
/// (`compile_config`: optimizer, loss, metrics) and the optimizer's variables, in Keras's order
/// (`optimizer/vars/0`, `1`, ...: the iteration count, then each variable's slots).
#[derive(Debug)]
pub struct KerasArchive {
    /// The model, with its weights.
    pub model: Model,
    /// `compile_config` from `config.json`, when the model was compiled (`null` or `{}`
    /// otherwise are `None`).
    pub compile_config: Option<Value>,
    /// The optimizer's variables, when the file holds them.
    pub optimizer_variables: Vec<OptimizerVariable>,
}

fn zip_error(path: &Path) -> impl FnOnce(zip::result::ZipError) -> Error + '_ {
    move |source| Error::Zip {
        path: path.to_path_buf(),
        source,
    }
}

fn invalid(path: &Path, reason: impl Into<String>) -> Error {
    Error::KerasFile {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// Reads one zip entry, refusing more than [`MAX_ENTRY_BYTES`] whatever its header says.
fn entry(archive: &mut zip::ZipArchive<Cursor<&[u8]>>, path: &Path, name: &str) -> Result<Vec<u8>> {
    let file = match archive.by_name(name) {
        Ok(f) => f,
        Err(zip::result::ZipError::FileNotFound) => {
            return Err(invalid(path, format!("the archive has no `{name}`")));
        }
        Err(e) => return Err(zip_error(path)(e)),
    };
    let mut out = Vec::new();
    file.take(MAX_ENTRY_BYTES + 1)
        .read_to_end(&mut out)
        .map_err(|e| invalid(path, format!("cannot unpack `{name}`: {e}")))?;
    if out.len() as u64 > MAX_ENTRY_BYTES {
        return Err(invalid(
            path,
            format!("`{name}` unpacks to more than {MAX_ENTRY_BYTES} bytes"),
        ));
    }
    Ok(out)
}

fn open_archive<'a>(path: &Path, bytes: &'a [u8]) -> Result<zip::ZipArchive<Cursor<&'a [u8]>>> {
    zip::ZipArchive::new(Cursor::new(bytes)).map_err(zip_error(path))
}

/// The archive's `model.weights.h5`, opened, and the path that names it in errors.
fn weights_file(
    archive: &mut zip::ZipArchive<Cursor<&[u8]>>,
    path: &Path,
) -> Result<(hdf5_pure::File, std::path::PathBuf)> {
    let bytes = entry(archive, path, "model.weights.h5")?;
    let h5_path = path.join("model.weights.h5");
    Ok((keras_weights::open(&h5_path, bytes)?, h5_path))
}

/// `model`'s weights from a `.keras` file's bytes, without building its architecture.
pub(crate) fn read_weights(model: &Model, path: &Path, bytes: &[u8]) -> Result<Vec<ArrayD<f32>>> {
    let mut archive = open_archive(path, bytes)?;
    let (file, h5_path) = weights_file(&mut archive, path)?;
    keras_weights::read_weights(model, &file, &h5_path)
}

/// Reads a `.keras` file's bytes (`path` names it in errors) onto `device`.
pub(crate) fn read(
    path: &Path,
    bytes: &[u8],
    device: &Device,
    custom: &CustomObjects,
) -> Result<KerasArchive> {
    let mut archive = open_archive(path, bytes)?;
    let config = entry(&mut archive, path, "config.json")?;
    let config =
        String::from_utf8(config).map_err(|_| invalid(path, "`config.json` is not UTF-8 text"))?;
    let mut value: Value = serde_json::from_str(&config).map_err(Error::Config)?;
    let (file, h5_path) = weights_file(&mut archive, path)?;
    let config = if with_assets(&mut value, &mut archive, path, &file, &h5_path)? {
        value.to_string()
    } else {
        config
    };
    let model = ModelConfig::from_json_with(&config, custom)?.build(device)?;
    let weights = keras_weights::read_weights(&model, &file, &h5_path)?;
    let model = model.set_weights(&weights)?;
    let compile_config = match value.get("compile_config") {
        Some(Value::Object(m)) if !m.is_empty() => Some(Value::Object(m.clone())),
        _ => None,
    };
    let optimizer_variables = optimizer_variables(&file, &h5_path)?;
    Ok(KerasArchive {
        model,
        compile_config,
        optimizer_variables,
    })
}

/// The most bytes a vocabulary file in a `.keras` file's assets may hold (1 GiB).
pub const MAX_VOCABULARY_BYTES: u64 = 1 << 30;

/// The Keras classes that keep a learned vocabulary in the file's assets
/// (`assets/layers/<layer>/vocabulary.txt`) and, for `tf_idf`, their IDF weights as
/// `idf_weights` in the weights file (a `TextVectorization` in its `_lookup_layer`).
const VOCABULARY_CLASSES: [&str; 3] = ["TextVectorization", "StringLookup", "IntegerLookup"];

/// Puts the vocabularies (and IDF weights) that Keras keeps outside the config back into the
/// configs of the model's string layers, as Keras's `load_assets` does; whether any was.
///
/// # Errors
/// [`Error::KerasFile`] for a vocabulary that is missing, too large or not UTF-8, or an
/// IDF vector that cannot be read.
fn with_assets(
    value: &mut Value,
    archive: &mut zip::ZipArchive<Cursor<&[u8]>>,
    path: &Path,
    file: &hdf5_pure::File,
    h5_path: &Path,
) -> Result<bool> {
    let sequential = value["class_name"].as_str() == Some("Sequential");
    let Some(layers) = value["config"]["layers"].as_array_mut() else {
        return Ok(false);
    };
    let mut used: std::collections::HashMap<String, usize> = Default::default();
    let mut changed = false;
    for layer in layers {
        let class = layer["class_name"].as_str().unwrap_or_default().to_string();
        if sequential && class == "InputLayer" {
            continue;
        }
        let base = crate::layers::snake_case(&class);
        let seen = used.entry(base.clone()).or_insert(0);
        let group = match *seen {
            0 => format!("layers/{base}"),
            n => format!("layers/{base}_{n}"),
        };
        *seen += 1;
        let config = &mut layer["config"];
        if !VOCABULARY_CLASSES.contains(&class.as_str()) || !config["vocabulary"].is_null() {
            continue;
        }
        let asset = format!("assets/{group}/vocabulary.txt");
        let bytes = match archive.by_name(&asset) {
            Ok(f) => {
                let mut out = Vec::new();
                f.take(MAX_VOCABULARY_BYTES + 1)
                    .read_to_end(&mut out)
                    .map_err(|e| invalid(path, format!("cannot unpack `{asset}`: {e}")))?;
                out
            }
            // A layer never adapted has no vocabulary file (Keras refuses to call it).
            Err(zip::result::ZipError::FileNotFound) => continue,
            Err(e) => return Err(zip_error(path)(e)),
        };
        if bytes.len() as u64 > MAX_VOCABULARY_BYTES {
            return Err(invalid(
                path,
                format!("`{asset}` holds more than {MAX_VOCABULARY_BYTES} bytes"),
            ));
        }
        let text = String::from_utf8(bytes)
            .map_err(|_| invalid(path, format!("`{asset}` is not UTF-8 text")))?;
        let tokens: Vec<Value> = if class == "IntegerLookup" {
            text.split('\n')
                .map(|t| {
                    t.trim().parse::<i64>().map(Value::from).map_err(|_| {
                        invalid(path, format!("`{asset}`: {t:?} is not an integer token"))
                    })
                })
                .collect::<Result<_>>()?
        } else {
            text.split('\n')
                .map(|t| Value::String(t.to_string()))
                .collect()
        };
        config["vocabulary"] = Value::Array(tokens);
        if config["output_mode"].as_str() == Some("tf_idf") && config["idf_weights"].is_null() {
            let inner = if class == "TextVectorization" {
                "/_lookup_layer"
            } else {
                ""
            };
            let dataset = format!("{group}{inner}/vars/idf_weights");
            let shape = file
                .dataset(&dataset)
                .and_then(|d| d.shape())
                .map_err(|_| invalid(path, format!("no `{dataset}` for a tf_idf layer")))?;
            let shape: Vec<usize> = shape
                .iter()
                .map(|&d| usize::try_from(d).unwrap_or(usize::MAX))
                .collect();
            let idf = keras_weights::read_dataset(file, h5_path, &dataset, "idf_weights", &shape)?;
            config["idf_weights"] = idf.iter().map(|&v| Value::from(f64::from(v))).collect();
        }
        changed = true;
    }
    Ok(changed)
}

/// The IDF weights of the model's `tf_idf` string layers where Keras keeps them
/// (`layers/string_lookup/vars/idf_weights`; a `TextVectorization` in its `_lookup_layer`).
fn idf_datasets(model: &Model) -> ExtraDatasets {
    let graph = &model.plan().graph;
    let sequential = matches!(model.config(), ModelConfig::Sequential(_));
    let groups = keras_weights::layer_groups(graph, sequential);
    let mut out: ExtraDatasets = Vec::new();
    for (spec, group) in graph.layers.iter().zip(groups) {
        let (Some(group), class) = (group, spec.class_name()) else {
            continue;
        };
        let config = spec.layer().config();
        if !VOCABULARY_CLASSES.contains(&class) || config["output_mode"].as_str() != Some("tf_idf")
        {
            continue;
        }
        let idf: Vec<f32> = config["idf_weights"]
            .as_array()
            .map(|w| {
                w.iter()
                    .filter_map(Value::as_f64)
                    .map(|v| v as f32)
                    .collect()
            })
            .unwrap_or_default();
        let inner = if class == "TextVectorization" {
            "/_lookup_layer"
        } else {
            ""
        };
        let n = idf.len();
        if let Ok(array) = ArrayD::from_shape_vec(vec![n], idf) {
            out.push((
                format!("{group}{inner}/vars/idf_weights"),
                OptimizerVariable::Float(array),
            ));
        }
    }
    out
}

/// The datasets of `optimizer/vars`, in Keras's numeric order (`0`, `1`, ..., `10`).
fn optimizer_variables(file: &hdf5_pure::File, path: &Path) -> Result<Vec<OptimizerVariable>> {
    let Ok(group) = file.group("optimizer/vars") else {
        return Ok(Vec::new());
    };
    let names = group.datasets().map_err(|source| Error::Hdf5 {
        path: path.to_path_buf(),
        source,
    })?;
    let mut indices: Vec<usize> = Vec::with_capacity(names.len());
    for name in &names {
        let i = name.parse().map_err(|_| {
            invalid(
                path,
                format!("`optimizer/vars/{name}` is not a numbered variable"),
            )
        })?;
        indices.push(i);
    }
    indices.sort_unstable();
    indices
        .iter()
        .map(|i| {
            let dataset = format!("optimizer/vars/{i}");
            let ds = file.dataset(&dataset).map_err(|source| Error::Hdf5 {
                path: path.to_path_buf(),
                source,
            })?;
            let h5 = |source| Error::Hdf5 {
                path: path.to_path_buf(),
                source,
            };
            let shape: Vec<usize> = ds
                .shape()
                .map_err(h5)?
                .iter()
                .map(|&d| usize::try_from(d).unwrap_or(usize::MAX))
                .collect();
            let integer = matches!(
                ds.dtype().map_err(h5)?,
                hdf5_pure::DType::I64
                    | hdf5_pure::DType::I32
                    | hdf5_pure::DType::U32
                    | hdf5_pure::DType::U64
            );
            if !integer {
                return keras_weights::read_dataset(file, path, &dataset, &dataset, &shape)
                    .map(OptimizerVariable::Float);
            }
            let size = shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d));
            if size.is_none_or(|n| n > crate::MAX_WEIGHT_VALUES) {
                return Err(invalid(path, format!("`{dataset}` is too large")));
            }
            let values = ds.read_i64().map_err(h5)?;
            ArrayD::from_shape_vec(shape, values)
                .map(OptimizerVariable::Int)
                .map_err(|e| invalid(path, format!("`{dataset}`: {e}")))
        })
        .collect()
}

/// `config.json` for `model`, as `keras.saving.serialize_keras_object` writes it.
pub(crate) fn config_value(model: &Model, compile_config: Option<Value>) -> Result<Value> {
    model.config().check_saveable()?;
    let compile_config = compile_config.unwrap_or(Value::Object(Default::default()));
    Ok(match model.config() {
        ModelConfig::Sequential(s) => {
            let input = model.input_shape();
            let mut batch: Vec<Value> = vec![Value::Null];
            batch.extend(input.dims().iter().map(|&d| json!(d)));
            json!({
                "module": "keras",
                "class_name": "Sequential",
                "config": s.to_value(),
                "registered_name": null,
                "build_config": {"input_shape": batch},
                "compile_config": compile_config,
            })
        }
        ModelConfig::Functional(f) => {
            let mut value: Value = serde_json::from_str(&f.to_json()?).map_err(Error::Config)?;
            value["build_config"] = json!({"input_shape": null});
            value["compile_config"] = compile_config;
            value
        }
    })
}

/// An optimizer's variables as a `.keras` file stores them: all of them under
/// `optimizer/vars`, in Keras's order, and, for a wrapper (Keras's `LossScaleOptimizer`), the
/// wrapped optimizer's own again under `optimizer/inner_optimizer/vars`.
#[derive(Debug, Clone, PartialEq)]
pub struct OptimizerVariables {
    /// The optimizer's name (`"adam"`, `"loss_scale_optimizer"`).
    pub name: String,
    /// Every variable, the wrapper's first.
    pub variables: Vec<OptimizerVariable>,
    /// A wrapped optimizer: its name and the index in `variables` where its own start.
    pub inner: Option<(String, usize)>,
}

/// `model` as the bytes of a `.keras` file, with `compile_config` and the optimizer's
/// variables when given.
pub(crate) fn write(
    model: &Model,
    compile_config: Option<Value>,
    optimizer: Option<OptimizerVariables>,
) -> Result<Vec<u8>> {
    let config = serde_json::to_string_pretty(&config_value(model, compile_config)?)
        .map_err(Error::Config)?;
    let metadata = json!({
        "keras_version": KERAS_VERSION,
        "kiln_version": env!("CARGO_PKG_VERSION"),
    })
    .to_string();
    let (groups, extra): (Vec<(String, String)>, ExtraDatasets) =
        match optimizer {
            Some(OptimizerVariables {
                name,
                variables,
                inner,
            }) => {
                let mut groups = vec![("optimizer/vars".to_string(), name)];
                let mut extra: ExtraDatasets = Vec::new();
                if let Some((inner_name, start)) = inner {
                    groups.push(("optimizer/inner_optimizer/vars".to_string(), inner_name));
                    extra.extend(
                        variables.iter().skip(start).enumerate().map(|(i, v)| {
                            (format!("optimizer/inner_optimizer/vars/{i}"), v.clone())
                        }),
                    );
                }
                extra.extend(
                    variables
                        .into_iter()
                        .enumerate()
                        .map(|(i, v)| (format!("optimizer/vars/{i}"), v)),
                );
                (groups, extra)
            }
            None => (Vec::new(), Vec::new()),
        };
    let mut extra = extra;
    extra.extend(idf_datasets(model));
    let weights = keras_weights::write_weights(model, &groups, extra)?;
    let out = Path::new("model.keras");
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    // The JSON deflated; the weights stored, as Keras stores them, so that h5py seeks in
    // them without unpacking.
    let deflated =
        SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    let stored = SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Stored)
        .large_file(weights.len() as u64 >= u64::from(u32::MAX));
    for (name, bytes, options) in [
        ("metadata.json", metadata.as_bytes(), deflated),
        ("config.json", config.as_bytes(), deflated),
        ("model.weights.h5", weights.as_slice(), stored),
    ] {
        zip.start_file(name, options).map_err(zip_error(out))?;
        zip.write_all(bytes).map_err(|source| Error::Io {
            path: out.to_path_buf(),
            source,
        })?;
    }
    Ok(zip.finish().map_err(zip_error(out))?.into_inner())
}
