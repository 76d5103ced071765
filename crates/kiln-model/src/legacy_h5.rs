//! Legacy Keras HDF5 files (`model.save("model.h5")` in Keras 2 / tf.keras, and Keras 3's
//! `legacy_h5_format`), read only: the architecture in the root attribute `model_config`, the
//! weights in `model_weights/<layer name>/<weight name>`, listed in order by each layer
//! group's `weight_names` attribute (the layer's trainable weights, then its non-trainable
//! ones). A weights-only file (`save_weights("w.h5")`) has the layer groups at its root.

use std::collections::HashMap;
use std::path::Path;

use burn::tensor::Device;
use hdf5_pure::{AttrValue, Group};
use ndarray::ArrayD;

use crate::error::{Error, Result};
use crate::keras_weights::{open, read_dataset};
use crate::layers::CustomObjects;
use crate::model::{Model, ModelConfig};

fn invalid(path: &Path, reason: impl Into<String>) -> Error {
    Error::KerasFile {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

fn attrs(group: &Group, path: &Path) -> Result<HashMap<String, AttrValue>> {
    group.attrs().map_err(|source| Error::Hdf5 {
        path: path.to_path_buf(),
        source,
    })
}

/// A list attribute, which h5py splits into `name0`, `name1`, ... when it is large.
fn strings(attrs: &HashMap<String, AttrValue>, name: &str) -> Option<Vec<String>> {
    if let Some(v) = attrs.get(name) {
        return v.as_strings().map(<[String]>::to_vec);
    }
    let mut out = Vec::new();
    let mut k = 0;
    while let Some(v) = attrs.get(&format!("{name}{k}")) {
        out.extend(v.as_strings()?.iter().cloned());
        k += 1;
    }
    (k > 0).then_some(out)
}

/// Loads a legacy `.h5` model file (architecture and weights) onto `device`.
pub(crate) fn load_model(path: &Path, device: &Device, custom: &CustomObjects) -> Result<Model> {
    let bytes = std::fs::read(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let file = open(path, bytes)?;
    let root = attrs(&file.root(), path)?;
    let config = root
        .get("model_config")
        .and_then(AttrValue::as_str)
        .ok_or_else(|| {
            invalid(
                path,
                "no `model_config` attribute: a weights-only file; build the model and use \
                 load_weights",
            )
        })?;
    let model = ModelConfig::from_json_with(config, custom)?.build(device)?;
    let weights = weights_of(&model, &file, path)?;
    model.set_weights(&weights)
}

/// Reads `model`'s weights from a legacy `.h5` file's bytes.
pub(crate) fn read_weights(model: &Model, path: &Path, bytes: Vec<u8>) -> Result<Vec<ArrayD<f32>>> {
    let file = open(path, bytes)?;
    weights_of(model, &file, path)
}

fn weights_of(model: &Model, file: &hdf5_pure::File, path: &Path) -> Result<Vec<ArrayD<f32>>> {
    let base = if file.group("model_weights").is_ok() {
        "model_weights"
    } else {
        ""
    };
    let names = model.weight_names();
    let shapes = model.weight_shapes();
    let trainable = model.weight_declared_trainable();
    let mut out: Vec<Option<ArrayD<f32>>> = vec![None; names.len()];
    // The weights of each top-level layer, at their positions in `get_weights` order.
    let mut by_layer: Vec<(String, Vec<usize>)> = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let layer = name.split('/').next().unwrap_or_default().to_string();
        match by_layer.last_mut() {
            Some((l, v)) if *l == layer => v.push(i),
            _ => by_layer.push((layer, vec![i])),
        }
    }
    for (layer, mut positions) in by_layer {
        // Keras's legacy order: trainable weights first, then the rest, each in order.
        positions.sort_by_key(|&i| !trainable[i]);
        let group_path = if base.is_empty() {
            layer.clone()
        } else {
            format!("{base}/{layer}")
        };
        let group = file.group(&group_path).map_err(|_| Error::MissingWeight {
            weight: format!("{layer} (group `{group_path}`)"),
            path: path.to_path_buf(),
        })?;
        let held = strings(&attrs(&group, path)?, "weight_names").unwrap_or_default();
        if held.len() != positions.len() {
            return Err(invalid(
                path,
                format!(
                    "`{group_path}` lists {} weights, but layer `{layer}` has {}",
                    held.len(),
                    positions.len()
                ),
            ));
        }
        for (weight, &i) in held.iter().zip(&positions) {
            let dataset = format!("{group_path}/{weight}");
            out[i] = Some(read_dataset(file, path, &dataset, &names[i], &shapes[i])?);
        }
    }
    out.into_iter()
        .zip(&names)
        .map(|(w, name)| {
            w.ok_or_else(|| Error::MissingWeight {
                weight: name.clone(),
                path: path.to_path_buf(),
            })
        })
        .collect()
}
