//! Keras 3's weights layout: the HDF5 file inside a `.keras` zip (`model.weights.h5`) and a
//! `.weights.h5` file, read and written through the pure-Rust `hdf5-pure` crate.
//!
//! Keras (`keras.saving.saving_lib`) keeps one group per layer under `layers/`, named by the
//! layer's class in snake case with a counter per class, in `model.layers` order
//! (`layers/dense`, `layers/dense_1`, ...; a `Sequential` leaves out its `InputLayer`), and
//! each layer's variables as datasets `vars/0`, `vars/1`, ... (trainable ones first, each in
//! creation order). A recurrent layer keeps them in its cell (`layers/lstm/cell/vars`), a
//! nested model its layers under its own group (`layers/functional/layers/dense/vars`). Every
//! `vars` group carries the layer's name in an attribute `name`.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use hdf5_pure::{AttrValue, DType, FileBuilder, FinishedGroup, GroupBuilder};
use ndarray::ArrayD;

use crate::error::{Error, Result};
use crate::graph::{Graph, Plan};
use crate::keras_file::OptimizerVariable;
use crate::layers::{MAX_WEIGHT_VALUES, WeightBuilder, snake_case};
use crate::model::{Model, ModelConfig};

/// One layer's `vars` group: its path, the layer's name and how many weights it holds.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct VarsGroup {
    pub(crate) path: String,
    pub(crate) layer: String,
    pub(crate) count: usize,
}

/// Where every weight of a model sits in Keras's weights file.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Layout {
    /// Every layer's `vars` group, nested layers included.
    pub(crate) groups: Vec<VarsGroup>,
    /// The dataset of each weight, in [`Model::get_weights`] order.
    pub(crate) weights: Vec<String>,
}

/// Keras's group of each layer of `graph` (`layers/dense_1`), in `model.layers` order; `None`
/// for a `Sequential`'s `InputLayer`, which Keras's `Sequential.layers` leaves out.
pub(crate) fn layer_groups(graph: &Graph, sequential: bool) -> Vec<Option<String>> {
    let mut used: HashMap<String, usize> = HashMap::new();
    (0..graph.layers.len())
        .map(|i| {
            if sequential && graph.is_input_layer(i) {
                return None;
            }
            let base = snake_case(graph.layers[i].class_name());
            let seen = used.entry(base.clone()).or_insert(0);
            let name = match *seen {
                0 => base,
                n => format!("{base}_{n}"),
            };
            *seen += 1;
            Some(format!("layers/{name}"))
        })
        .collect()
}

/// The layout of `plan`'s weights.
pub(crate) fn layout(plan: &Plan, sequential: bool) -> Layout {
    let mut out = Layout {
        groups: Vec::new(),
        weights: Vec::new(),
    };
    let groups = layer_groups(&plan.graph, sequential);
    for (i, declared) in plan.weights.iter().enumerate() {
        let Some(group) = &groups[i] else { continue };
        let vars = plan.graph.layers[i].layer().keras_vars_path();
        walk(declared, group, vars, plan.graph.layer_name(i), &mut out);
    }
    out
}

fn walk(declared: &WeightBuilder, group: &str, vars: &str, layer: &str, out: &mut Layout) {
    let path = format!("{group}/{vars}");
    let trainable = declared.own.iter().filter(|w| w.trainable).count();
    let (mut t, mut n) = (0, trainable);
    for w in &declared.own {
        let k = if w.trainable { &mut t } else { &mut n };
        out.weights.push(format!("{path}/{k}"));
        *k += 1;
    }
    out.groups.push(VarsGroup {
        path,
        layer: layer.to_string(),
        count: declared.own.len(),
    });
    for (name, sub) in &declared.sublayers {
        let sub_group = match sub.keras_group.as_deref() {
            // A nested Sequential's InputLayer: no group, no weights.
            Some("") => continue,
            Some(g) => format!("{group}/{g}"),
            None => format!("{group}/{name}"),
        };
        let sub_vars = sub.keras_vars.as_deref().unwrap_or("vars");
        walk(sub, &sub_group, sub_vars, name, out);
    }
}

impl Model {
    /// Where each weight sits in Keras's weights file.
    pub(crate) fn keras_layout(&self) -> Layout {
        layout(
            self.plan(),
            matches!(self.config(), ModelConfig::Sequential(_)),
        )
    }
}

fn h5_error(path: &Path) -> impl FnOnce(hdf5_pure::Error) -> Error + '_ {
    move |source| Error::Hdf5 {
        path: path.to_path_buf(),
        source,
    }
}

/// Opens HDF5 `bytes` (read from `path`, named in errors).
pub(crate) fn open(path: &Path, bytes: Vec<u8>) -> Result<hdf5_pure::File> {
    if !hdf5_pure::is_hdf5_bytes(&bytes) {
        return Err(Error::KerasFile {
            path: path.to_path_buf(),
            reason: "not an HDF5 file (no HDF5 signature)".into(),
        });
    }
    hdf5_pure::File::from_bytes(bytes).map_err(h5_error(path))
}

/// Reads one float dataset of `expected` shape, checking its shape and type first.
pub(crate) fn read_dataset(
    file: &hdf5_pure::File,
    source: &Path,
    dataset: &str,
    weight: &str,
    expected: &[usize],
) -> Result<ArrayD<f32>> {
    let ds = file.dataset(dataset).map_err(|_| Error::MissingWeight {
        weight: format!("{weight} (`{dataset}`)"),
        path: source.to_path_buf(),
    })?;
    let shape = ds.shape().map_err(h5_error(source))?;
    let actual: Vec<usize> = shape
        .iter()
        .map(|&d| usize::try_from(d).unwrap_or(usize::MAX))
        .collect();
    if actual != expected {
        return Err(Error::WeightMismatch {
            weight: format!("{weight} (`{dataset}` in {})", source.display()),
            expected: expected.to_vec(),
            actual,
        });
    }
    let size: usize = expected.iter().product();
    if size > MAX_WEIGHT_VALUES {
        return Err(Error::KerasFile {
            path: source.to_path_buf(),
            reason: format!("`{dataset}` holds more than {MAX_WEIGHT_VALUES} values"),
        });
    }
    match ds.dtype().map_err(h5_error(source))? {
        DType::F32 | DType::F64 | DType::U16 => {}
        other => {
            return Err(Error::KerasFile {
                path: source.to_path_buf(),
                reason: format!("`{dataset}` holds {other:?}, not floating-point values"),
            });
        }
    }
    let values = ds.read_f32().map_err(h5_error(source))?;
    if values.len() != size {
        return Err(Error::KerasFile {
            path: source.to_path_buf(),
            reason: format!(
                "`{dataset}` holds {} values, its shape {expected:?} needs {size}",
                values.len()
            ),
        });
    }
    ArrayD::from_shape_vec(expected.to_vec(), values).map_err(|e| Error::KerasFile {
        path: source.to_path_buf(),
        reason: format!("`{dataset}`: {e}"),
    })
}

/// Reads `model`'s weights from a Keras 3 weights file, in [`Model::get_weights`] order:
/// every layer's group must hold exactly the weights the layer has, of the same shapes.
pub(crate) fn read_weights(
    model: &Model,
    file: &hdf5_pure::File,
    source: &Path,
) -> Result<Vec<ArrayD<f32>>> {
    let layout = model.keras_layout();
    for group in &layout.groups {
        let held = match file.group(&group.path) {
            // Numbered variables only: a lookup's `idf_weights` sits beside them by name
            // (read with its vocabulary when the file is opened).
            Ok(g) => g
                .datasets()
                .map_err(h5_error(source))?
                .iter()
                .filter(|n| n.parse::<usize>().is_ok())
                .count(),
            Err(_) => 0,
        };
        if held != group.count {
            return Err(Error::KerasFile {
                path: source.to_path_buf(),
                reason: format!(
                    "`{}` holds {held} weights, but layer `{}` has {}",
                    group.path, group.layer, group.count
                ),
            });
        }
    }
    let names = model.weight_names();
    let current = model.weight_shapes();
    layout
        .weights
        .iter()
        .zip(names.iter().zip(&current))
        .map(|(dataset, (name, shape))| read_dataset(file, source, dataset, name, shape))
        .collect()
}

/// One group of the file being written.
#[derive(Default)]
struct Node {
    name: Option<String>,
    datasets: Vec<(String, OptimizerVariable)>,
    groups: BTreeMap<String, Node>,
}

impl Node {
    fn at(&mut self, path: &str) -> &mut Node {
        path.split('/')
            .filter(|p| !p.is_empty())
            .fold(self, |node, part| {
                node.groups.entry(part.to_string()).or_default()
            })
    }

    fn finish(self, mut group: GroupBuilder) -> FinishedGroup {
        if let Some(name) = self.name {
            group.set_attr("name", AttrValue::VarLenString(name));
        }
        for (name, values) in &self.datasets {
            let dataset = group.create_dataset(name);
            let shape: Vec<u64> = match values {
                OptimizerVariable::Float(a) => {
                    dataset.with_f32_data(&a.iter().copied().collect::<Vec<_>>());
                    a.shape().iter().map(|&d| d as u64).collect()
                }
                // Keras 3's `iteration` is int32.
                OptimizerVariable::Int(a) => {
                    let values: Vec<i32> = a
                        .iter()
                        .map(|&v| i32::try_from(v).unwrap_or(i32::MAX))
                        .collect();
                    dataset.with_i32_data(&values);
                    a.shape().iter().map(|&d| d as u64).collect()
                }
            };
            dataset.with_shape(&shape);
        }
        for (name, node) in self.groups {
            let child = group.create_group(&name);
            group.add_group(node.finish(child));
        }
        group.finish()
    }
}

/// Where a dataset path splits into its group and its own name.
fn split(path: &str) -> (&str, &str) {
    path.rsplit_once('/').unwrap_or(("", path))
}

/// Extra datasets to write beside a model's weights (an optimizer's variables).
pub(crate) type ExtraDatasets = Vec<(String, OptimizerVariable)>;

/// `model`'s weights as a Keras 3 weights file (HDF5 bytes), plus `extra` datasets and the
/// named groups they belong to (`optimizer/vars` named `adam`).
pub(crate) fn write_weights(
    model: &Model,
    extra_groups: &[(String, String)],
    extra: ExtraDatasets,
) -> Result<Vec<u8>> {
    let layout = model.keras_layout();
    let mut root = Node::default();
    for group in &layout.groups {
        root.at(&group.path).name = Some(group.layer.clone());
    }
    root.at("vars").name = Some(model.name().to_string());
    for (path, name) in extra_groups {
        root.at(path).name = Some(name.clone());
    }
    let weights = model
        .get_weights()?
        .into_iter()
        .map(OptimizerVariable::Float);
    let all = layout.weights.into_iter().zip(weights).chain(extra);
    for (path, values) in all {
        let (group, name) = split(&path);
        root.at(group).datasets.push((name.to_string(), values));
    }
    let mut file = FileBuilder::new();
    for (name, node) in root.groups {
        let group = file.create_group(&name);
        file.add_group(node.finish(group));
    }
    file.finish().map_err(|source| Error::Hdf5 {
        path: "model.weights.h5".into(),
        source,
    })
}
