//! Architecture JSON in Keras 3's format: layers as `{"class_name", "config"}`, and Functional
//! models as `layers` with `inbound_nodes`, `input_layers` and `output_layers`.

use std::collections::HashMap;

use serde_json::{Value, json};

use crate::error::{Error, Result};
use crate::functional::{Functional, SymbolicTensor};
use crate::graph::Plan;
use crate::layers::{CustomObjects, LayerSpec, builtin};
use crate::sequential::Sequential;

/// One layer from `{"class_name": .., "config": {..}}`: a custom class registered in `custom`,
/// a nested `Sequential` or `Functional` model, or a built-in layer.
///
/// # Errors
/// [`Error::UnknownLayer`] for a class Kiln does not have; [`Error::LayerConfig`] for a config
/// the layer cannot take.
pub(crate) fn layer_from_value(value: &Value, custom: &CustomObjects) -> Result<LayerSpec> {
    let class = value
        .get("class_name")
        .and_then(Value::as_str)
        .unwrap_or("");
    let empty = Value::Object(serde_json::Map::new());
    let config = value.get("config").unwrap_or(&empty);
    let bad = |reason: String| Error::LayerConfig {
        class_name: class.to_string(),
        name: config
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
        reason,
    };
    let mut spec = if let Some(made) = custom.make(class, config) {
        LayerSpec::from_arc(made.map_err(bad)?)
    } else {
        match class {
            "Sequential" => LayerSpec::from(Sequential::from_value(value, custom)?),
            "Functional" | "Model" => LayerSpec::from(Functional::from_value(value, custom)?),
            _ => {
                let make = builtin(class).ok_or_else(|| Error::UnknownLayer {
                    class_name: class.to_string(),
                    layer: config
                        .get("name")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string(),
                })?;
                LayerSpec::from_arc(make(config).map_err(bad)?)
            }
        }
    };
    // Options Kiln does not have yet must be left at Keras's default (null), not dropped.
    let kept = spec.layer().config();
    for (key, value) in config.as_object().into_iter().flatten() {
        let unsupported = key != "activity_regularizer"
            && (key.ends_with("_constraint") || key.ends_with("_regularizer"))
            && kept.get(key).is_none();
        if unsupported && !value.is_null() {
            return Err(bad(format!("the option `{key}` is not supported yet")));
        }
    }
    if let Some(name) = config.get("name").and_then(Value::as_str) {
        spec.name = Some(name.to_string());
    }
    if let Some(trainable) = config.get("trainable").and_then(Value::as_bool) {
        spec.trainable = trainable;
    }
    match config.get("activity_regularizer") {
        None | Some(Value::Null) => {}
        Some(r) => {
            spec.activity_regularizer =
                Some(serde_json::from_value(r.clone()).map_err(|e| bad(e.to_string()))?);
        }
    }
    Ok(spec)
}

/// Kiln's `seed` key, when present.
pub(crate) fn take_seed(config: &Value) -> Result<Option<u64>> {
    match config.get("seed") {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v.as_u64().map(Some).ok_or_else(|| {
            Error::InvalidModel(format!("`seed` must be a non-negative integer, got {v}"))
        }),
    }
}

/// For every node, its index among its layer's calls (Keras's `node_index`; a further output
/// of a call has its call's).
fn node_indices(plan: &Plan) -> Vec<usize> {
    let mut seen: HashMap<usize, usize> = HashMap::new();
    let nodes = &plan.graph.nodes;
    let mut out = Vec::with_capacity(nodes.len());
    for n in nodes {
        let index = match n.inputs.first() {
            Some(&call) if n.part > 0 => out.get(call).copied().unwrap_or(0),
            _ => {
                let k = seen.entry(n.layer).or_insert(0);
                *k += 1;
                *k - 1
            }
        };
        out.push(index);
    }
    out
}

/// `(layer name, node index, tensor index)` of a node's output (Keras's `keras_history`).
pub(crate) fn history(plan: &Plan, node: usize) -> (String, usize, usize) {
    let index = node_indices(plan)[node];
    let part = plan.graph.nodes[node].part;
    (plan.graph.node_name(node).to_string(), index, part)
}

/// Keras 3's `Functional.get_config()`.
pub(crate) fn functional_config(model: &Functional) -> Value {
    let plan = &model.plan;
    let g = &plan.graph;
    let indices = node_indices(plan);
    let tensor = |node: usize| {
        let mut shape = vec![Value::Null];
        shape.extend(plan.shapes[node].dims().iter().map(|&d| json!(d)));
        json!({
            "class_name": "__keras_tensor__",
            "config": {
                "shape": shape,
                "dtype": "float32",
                "keras_history": [g.node_name(node), indices[node], g.nodes[node].part],
            }
        })
    };
    let layers: Vec<Value> = g
        .layers
        .iter()
        .enumerate()
        .map(|(i, spec)| {
            let mut entry = spec.to_value();
            let inbound: Vec<Value> = g
                .nodes
                .iter()
                .filter(|n| n.layer == i && !n.inputs.is_empty() && n.part == 0)
                .map(|n| {
                    // Inputs Keras takes by keyword (`initial_state=[..]`) go to the kwargs.
                    let (positional, keyword) = match spec.layer().keyword_inputs(n.inputs.len()) {
                        Some((first, keys)) if n.inputs.len() > first => {
                            (&n.inputs[..first], Some((keys, &n.inputs[first..])))
                        }
                        _ => (&n.inputs[..], None),
                    };
                    let args = match positional {
                        [one] => vec![tensor(*one)],
                        many if spec.layer().inputs_as_list() => {
                            vec![Value::Array(many.iter().map(|&j| tensor(j)).collect())]
                        }
                        many => many.iter().map(|&j| tensor(j)).collect(),
                    };
                    let mut kwargs = spec.layer().call_options();
                    if let Some((keys, rest)) = keyword {
                        // A keyword named once is one tensor (`key=`), more often a list
                        // (`initial_state=[h, c]`).
                        for key in keys.iter().copied() {
                            let tensors: Vec<Value> = keys
                                .iter()
                                .zip(rest)
                                .filter(|(k, _)| **k == key)
                                .map(|(_, &j)| tensor(j))
                                .collect();
                            let value = match <[Value; 1]>::try_from(tensors) {
                                Ok([one]) if key != "initial_state" => one,
                                Ok([one]) => Value::Array(vec![one]),
                                Err(many) => Value::Array(many),
                            };
                            kwargs.insert(key.to_string(), value);
                        }
                    }
                    json!({"args": args, "kwargs": kwargs})
                })
                .collect();
            // Where Keras finds the class (a nested model is not in `keras.layers`).
            let (module, registered) = match spec.class_name() {
                "Sequential" => ("keras", Value::Null),
                "Functional" => ("keras.src.models.functional", json!("Functional")),
                _ => ("keras.layers", Value::Null),
            };
            entry["module"] = json!(module);
            entry["registered_name"] = registered;
            entry["name"] = json!(g.layer_name(i));
            entry["inbound_nodes"] = Value::Array(inbound);
            entry
        })
        .collect();
    let ends = |nodes: &[usize]| -> Vec<Value> {
        nodes
            .iter()
            .map(|&n| json!([g.node_name(n), indices[n], g.nodes[n].part]))
            .collect()
    };
    let mut config = json!({
        "name": model.name,
        "trainable": true,
        "layers": layers,
        "input_layers": ends(&g.inputs),
        "output_layers": ends(&g.outputs),
    });
    if let Some(seed) = model.seed {
        config["seed"] = json!(seed);
    }
    config
}

/// The `(layer name, node index)` pairs a Keras inbound node refers to, in argument order:
/// Keras 3's `{"args": [tensor | [tensors]], "kwargs": {}}` or Keras 2's
/// `[[name, node, tensor, kwargs], ...]`.
fn inbound_refs(node: &Value) -> Result<Call> {
    fn history(t: &Value) -> Option<(String, usize, usize)> {
        let h = t.get("config")?.get("keras_history")?.as_array()?;
        Some((
            h.first()?.as_str()?.to_string(),
            h.get(1)?.as_u64()? as usize,
            h.get(2).and_then(Value::as_u64).unwrap_or(0) as usize,
        ))
    }
    let bad = || Error::InvalidModel(format!("cannot read the inbound node {node}"));
    // Call options: `training` is dropped (Kiln's `fit` and `predict` decide the mode), masks
    // too (Kiln derives them from the graph; `mask_ops` checked what they are), and Keras's
    // null and false defaults; the rest go to the layer (`with_call_options`), which refuses
    // what it does not take (a tensor passed by keyword such as `attention_mask=`).
    let mut options = CallOptions::new();
    // Tensors passed by keyword (`initial_state=[h, c]`): the layer says whether it takes them.
    let mut keywords: Vec<(String, Vec<Ref>)> = Vec::new();
    if let Some(kwargs) = node.get("kwargs").and_then(Value::as_object) {
        for (key, value) in kwargs {
            let dropped = match key.as_str() {
                "training" | "mask" => true,
                _ => value.is_null() || *value == Value::Bool(false),
            };
            if dropped {
                continue;
            }
            let tensors: Vec<&Value> = match value {
                Value::Array(list) => list.iter().collect(),
                one => vec![one],
            };
            let refs: Option<Vec<Ref>> = tensors.iter().map(|t| history(t)).collect();
            match refs {
                Some(refs) if !refs.is_empty() => keywords.push((key.clone(), refs)),
                _ => {
                    options.insert(key.clone(), value.clone());
                }
            }
        }
    }
    if let Some(args) = node.get("args").and_then(Value::as_array) {
        let mut out = Vec::new();
        for arg in args {
            match arg {
                Value::Array(list) => {
                    for t in list {
                        out.push(history(t).ok_or_else(bad)?);
                    }
                }
                Value::Object(_) => out.push(history(arg).ok_or_else(bad)?),
                _ => {}
            }
        }
        return Ok(Call {
            refs: out,
            options,
            keywords,
        });
    }
    let list = node.as_array().ok_or_else(bad)?;
    let refs = list
        .iter()
        .map(|r| {
            let r = r.as_array().ok_or_else(bad)?;
            let name = r.first().and_then(Value::as_str).ok_or_else(bad)?;
            let index = r.get(1).and_then(Value::as_u64).ok_or_else(bad)?;
            let tensor = r.get(2).and_then(Value::as_u64).unwrap_or(0);
            Ok((name.to_string(), index as usize, tensor as usize))
        })
        .collect::<Result<_>>()?;
    Ok(Call {
        refs,
        options,
        keywords: Vec::new(),
    })
}

/// The keyword arguments of one layer call that Kiln keeps (`use_causal_mask`).
type CallOptions = serde_json::Map<String, Value>;

/// One call of a layer read from a config: the tensors it takes by position, its options, and
/// the tensors it takes by keyword.
struct Call {
    refs: Vec<Ref>,
    options: CallOptions,
    keywords: Vec<(String, Vec<Ref>)>,
}

/// A tensor of the config: `(layer name, node index, tensor index)` (Keras's `keras_history`).
type Ref = (String, usize, usize);

/// The layer names of a tensor argument: a tensor, or a list of tensors.
fn tensor_names(arg: &Value, out: &mut Vec<String>) {
    match arg {
        Value::Array(list) => list.iter().for_each(|a| tensor_names(a, out)),
        Value::Object(_) => {
            if let Some(name) = arg
                .get("config")
                .and_then(|c| c.get("keras_history"))
                .and_then(|h| h.get(0))
                .and_then(Value::as_str)
            {
                out.push(name.to_string());
            }
        }
        _ => {}
    }
}

/// Keras records the masks its layers computed (`compute_mask`) as the `mask` argument of the
/// layers that take one, made by op layers of `keras.src.ops` (`NotEqual` for
/// `Embedding(mask_zero)`, `Any` for `Masking`, `LogicalOr` for merges, ...). Kiln derives the
/// same masks from the graph, so those ops are left out: the names of the op layers that only
/// make masks.
///
/// # Errors
/// [`Error::InvalidModel`] for a `mask` argument that is not such a derived mask (a mask the
/// user passed explicitly).
fn mask_ops(entries: &[Value]) -> Result<std::collections::HashSet<String>> {
    use std::collections::HashSet;
    let name = |e: &Value| {
        e.get("name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let is_op = |e: &Value| {
        e.get("module")
            .and_then(Value::as_str)
            .is_some_and(|m| m.starts_with("keras.src.ops") || m.starts_with("keras.ops"))
    };
    let ops: HashSet<String> = entries.iter().filter(|e| is_op(e)).map(name).collect();
    let nodes = |e: &Value| -> Vec<Value> {
        e.get("inbound_nodes")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let mut pending = Vec::new();
    for entry in entries {
        for node in nodes(entry) {
            if let Some(mask) = node.get("kwargs").and_then(|k| k.get("mask")) {
                let mut names = Vec::new();
                tensor_names(mask, &mut names);
                for n in names {
                    if !ops.contains(&n) {
                        return Err(Error::InvalidModel(format!(
                            "layer `{}` is called with `mask` = the output of `{n}`; Kiln \
                             derives masks from Masking and Embedding(mask_zero) and does not \
                             take explicit mask tensors yet",
                            name(entry)
                        )));
                    }
                    pending.push(n);
                }
            }
        }
    }
    // The ops a mask is made of, back to the first op.
    let mut derived = HashSet::new();
    while let Some(n) = pending.pop() {
        if !derived.insert(n.clone()) {
            continue;
        }
        if let Some(entry) = entries.iter().find(|e| name(e) == n) {
            for node in nodes(entry) {
                let mut names = Vec::new();
                if let Some(args) = node.get("args") {
                    tensor_names(args, &mut names);
                }
                pending.extend(names.into_iter().filter(|m| ops.contains(m)));
            }
        }
    }
    Ok(derived)
}

/// The tensors one call of a layer takes.
type Inbound = Vec<Ref>;

/// `[[name, node, tensor], ...]` of `input_layers`/`output_layers` (or a single such triple).
fn ends(value: Option<&Value>, what: &str) -> Result<Vec<Ref>> {
    let bad = || Error::InvalidModel(format!("cannot read `{what}` of the config"));
    let list = value.and_then(Value::as_array).ok_or_else(bad)?;
    let one = |v: &Value| -> Result<Ref> {
        let r = v.as_array().ok_or_else(bad)?;
        let name = r.first().and_then(Value::as_str).ok_or_else(bad)?;
        let index = r.get(1).and_then(Value::as_u64).ok_or_else(bad)?;
        let tensor = r.get(2).and_then(Value::as_u64).unwrap_or(0);
        Ok((name.to_string(), index as usize, tensor as usize))
    };
    if list.first().is_some_and(Value::is_string) {
        return Ok(vec![one(&Value::Array(list.clone()))?]);
    }
    list.iter().map(one).collect()
}

impl Functional {
    /// The architecture as Keras's JSON (`{"class_name": "Functional", "config": {"layers":
    /// [..with inbound_nodes..], "input_layers": .., "output_layers": ..}}`), which
    /// `keras.Model.from_config` reads for the layers both have.
    ///
    /// # Errors
    /// [`Error::Config`] (serialization does not fail in practice).
    pub fn to_json(&self) -> Result<String> {
        let value = json!({
            "module": "keras.src.models.functional",
            "class_name": "Functional",
            "config": functional_config(self),
            "registered_name": "Functional",
        });
        serde_json::to_string_pretty(&value).map_err(Error::Config)
    }

    /// Reads a Functional architecture: what `keras.Model.get_config()` (or `model.to_json()`,
    /// or a `.keras` file's `config.json`) holds, for the layers Kiln has, or Kiln's own.
    ///
    /// # Errors
    /// [`Error::UnknownLayer`], [`Error::LayerConfig`], and the errors of [`Functional::new`]
    /// and of shape inference.
    pub fn from_config(json: &str) -> Result<Self> {
        Self::from_config_with(json, &CustomObjects::new())
    }

    /// As [`from_config`](Functional::from_config), with custom layers.
    ///
    /// # Errors
    /// As [`from_config`](Functional::from_config).
    pub fn from_config_with(json: &str, custom: &CustomObjects) -> Result<Self> {
        let value: Value = serde_json::from_str(json).map_err(Error::Config)?;
        Self::from_value(&value, custom)
    }

    pub(crate) fn from_value(value: &Value, custom: &CustomObjects) -> Result<Self> {
        let config = match value.get("config") {
            Some(c) if value.get("layers").is_none() => c,
            _ => value,
        };
        let entries = config
            .get("layers")
            .and_then(Value::as_array)
            .ok_or_else(|| Error::InvalidModel("a Functional config needs `layers`".into()))?;
        let derived = mask_ops(entries)?;
        let mut layers: Vec<(String, LayerSpec, Vec<Inbound>)> = Vec::new();
        for entry in entries {
            if entry
                .get("name")
                .and_then(Value::as_str)
                .is_some_and(|n| derived.contains(n))
            {
                continue;
            }
            let spec = layer_from_value(entry, custom)?;
            let name = entry
                .get("name")
                .and_then(Value::as_str)
                .map(str::to_string)
                .or_else(|| spec.name.clone())
                .ok_or_else(|| Error::InvalidModel("a layer of the config has no name".into()))?;
            let mut spec = spec.name(name.clone());
            let calls: Vec<Call> = match entry.get("inbound_nodes").and_then(Value::as_array) {
                Some(nodes) => nodes.iter().map(inbound_refs).collect::<Result<_>>()?,
                None => Vec::new(),
            };
            // Tensors by keyword: one set of keywords per layer (Kiln keeps them as the layer's
            // inputs after the positional ones, in the layer's order).
            let keys = |c: &Call| {
                let mut k: Vec<String> = c.keywords.iter().map(|(key, _)| key.clone()).collect();
                k.sort();
                k
            };
            let first_keys = calls.first().map(keys).unwrap_or_default();
            let config_error = |reason: String| Error::LayerConfig {
                class_name: spec.class_name().to_string(),
                name: name.clone(),
                reason,
            };
            if calls.iter().any(|c| keys(c) != first_keys) {
                return Err(config_error(
                    "its calls pass tensors by different keywords; Kiln takes one set per layer"
                        .into(),
                ));
            }
            let order = if first_keys.is_empty() {
                Vec::new()
            } else {
                let (layer, order) = spec
                    .layer
                    .with_keyword_inputs(&first_keys)
                    .map_err(config_error)?;
                spec.layer = layer;
                order
            };
            let (nodes, options): (Vec<Inbound>, Vec<CallOptions>) = calls
                .into_iter()
                .map(|c| {
                    let mut refs = c.refs;
                    for key in &order {
                        if let Some((_, more)) = c.keywords.iter().find(|(k, _)| k == key) {
                            refs.extend(more.iter().cloned());
                        }
                    }
                    (refs, c.options)
                })
                .unzip();
            if let Some(first) = options.first().filter(|o| !o.is_empty()) {
                let fail = |reason: String| Error::LayerConfig {
                    class_name: spec.class_name().to_string(),
                    name: name.clone(),
                    reason,
                };
                if options.iter().any(|o| o != first) {
                    return Err(fail(
                        "its calls pass different keyword arguments; Kiln keeps them as layer \
                         options, one set per layer"
                            .into(),
                    ));
                }
                spec.layer = spec.layer.with_call_options(first).map_err(fail)?;
            } else if options.iter().any(|o| !o.is_empty()) {
                return Err(Error::LayerConfig {
                    class_name: spec.class_name().to_string(),
                    name: name.clone(),
                    reason: "its calls pass different keyword arguments".into(),
                });
            }
            layers.push((name, spec, nodes));
        }
        // Make the nodes in dependency order, as Keras's `process_node` does.
        let mut made: HashMap<Ref, SymbolicTensor> = HashMap::new();
        let mut next = vec![0usize; layers.len()];
        for (name, spec, nodes) in &layers {
            if nodes.is_empty() && spec.class_name() == "InputLayer" {
                made.insert((name.clone(), 0, 0), SymbolicTensor::input(spec.clone())?);
            }
        }
        loop {
            let mut progress = false;
            for (i, (name, spec, nodes)) in layers.iter().enumerate() {
                while let Some(refs) = nodes.get(next[i]) {
                    let Some(args) = refs
                        .iter()
                        .map(|r| made.get(r).cloned())
                        .collect::<Option<Vec<_>>>()
                    else {
                        break;
                    };
                    // Every output of the call (one, or Keras's list: `return_state`).
                    for (k, out) in spec.apply_outputs(args)?.into_iter().enumerate() {
                        made.insert((name.clone(), next[i], k), out);
                    }
                    next[i] += 1;
                    progress = true;
                }
            }
            if !progress {
                break;
            }
        }
        if let Some((i, (name, _, nodes))) = layers
            .iter()
            .enumerate()
            .find(|(i, (_, _, nodes))| next[*i] < nodes.len())
        {
            return Err(Error::InvalidModel(format!(
                "layer `{name}` takes tensors no layer of the config makes: {:?}",
                nodes[next[i]]
            )));
        }
        let find = |(name, index, tensor): Ref| {
            made.get(&(name.clone(), index, tensor))
                .cloned()
                .ok_or_else(|| {
                    Error::InvalidModel(format!(
                        "the config has no tensor `{name}`[{index}][{tensor}]"
                    ))
                })
        };
        let inputs = ends(config.get("input_layers"), "input_layers")?
            .into_iter()
            .map(find)
            .collect::<Result<Vec<_>>>()?;
        let outputs = ends(config.get("output_layers"), "output_layers")?
            .into_iter()
            .map(find)
            .collect::<Result<Vec<_>>>()?;
        let mut model = Functional::new(inputs, outputs)?;
        if let Some(name) = config.get("name").and_then(Value::as_str) {
            model.name = name.to_string();
        }
        model.seed = take_seed(config)?;
        Ok(model)
    }
}
