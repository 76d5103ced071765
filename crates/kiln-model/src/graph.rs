//! The graph every model is: layers, the nodes that connect them, shape inference over it, and
//! one forward pass. A `Sequential` is a chain of it; a `Functional` any directed acyclic graph.

use std::cell::RefCell;

use burn::tensor::Tensor;

use crate::activation::Activation;
use crate::error::{Error, Result};
use crate::layers::{LayerSpec, Mask, MaskPolicy, Variable, WeightBuilder, Weights};
use crate::shape::Shape;
use crate::tensor::DynTensor;

/// One call of a layer: which layer, on which nodes' outputs (each node has one output).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Node {
    /// Index into [`Graph::layers`].
    pub(crate) layer: usize,
    /// Indices of the nodes whose outputs it takes, in order; empty for an input.
    pub(crate) inputs: Vec<usize>,
    /// Which output of its layer's call it is: 0 for the call itself; k > 0 for output k of a
    /// layer that gives several (Keras's list outputs: `return_state`), a node whose one input
    /// is the call (node `inputs[0]`).
    pub(crate) part: usize,
}

impl Node {
    /// A call of `layer` on `inputs` (its first output).
    pub(crate) fn call(layer: usize, inputs: Vec<usize>) -> Self {
        Self {
            layer,
            inputs,
            part: 0,
        }
    }
}

/// Layers (in Keras's `model.layers` order, each named) and their nodes in an order where every
/// node comes after its inputs.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Graph {
    pub(crate) layers: Vec<LayerSpec>,
    pub(crate) nodes: Vec<Node>,
    /// Input nodes, in the model's input order.
    pub(crate) inputs: Vec<usize>,
    /// Output nodes, in the model's output order.
    pub(crate) outputs: Vec<usize>,
}

/// A graph with its shapes inferred and its weights declared.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Plan {
    pub(crate) graph: Graph,
    /// The output shape of each node.
    pub(crate) shapes: Vec<Shape>,
    /// The declared weights of each layer.
    pub(crate) weights: Vec<WeightBuilder>,
    /// Per model input, the node its device data enters at: the input node, or the host layer
    /// it feeds (whose output, computed on the host, is what the device receives).
    pub(crate) feeds: Vec<usize>,
    /// Whether each node's output carries a mask (Keras's `_keras_mask`), `[batch, steps]`.
    pub(crate) masked: Vec<bool>,
    /// Whether each node is a call of a layer that gives several outputs.
    pub(crate) multi: Vec<bool>,
}

impl Graph {
    /// The name of layer `i` (every layer of a graph is named when the graph is made).
    pub(crate) fn layer_name(&self, i: usize) -> &str {
        self.layers[i].name.as_deref().unwrap_or("")
    }

    /// The name of node `n`'s layer.
    pub(crate) fn node_name(&self, n: usize) -> &str {
        self.layer_name(self.nodes[n].layer)
    }

    /// Whether layer `i` is an input.
    pub(crate) fn is_input_layer(&self, i: usize) -> bool {
        self.layers[i].class_name() == "InputLayer"
    }

    /// Infers every node's output shape and declares every layer's weights (on its first call;
    /// a shared layer's later calls must need the same weights).
    ///
    /// # Errors
    /// [`Error::IncompatibleShape`] naming the first layer that cannot take its inputs.
    pub(crate) fn plan(self) -> Result<Plan> {
        let mut shapes: Vec<Shape> = Vec::with_capacity(self.nodes.len());
        let mut masked: Vec<bool> = Vec::with_capacity(self.nodes.len());
        // Every output's shape of the calls of layers that give several.
        let mut all_outputs: Vec<Option<Vec<Shape>>> = Vec::with_capacity(self.nodes.len());
        let mut weights: Vec<Option<WeightBuilder>> = vec![None; self.layers.len()];
        let limit = crate::limits::max_model_values();
        let mut total = 0usize;
        for node in &self.nodes {
            let spec = &self.layers[node.layer];
            let name = self.layer_name(node.layer).to_string();
            if node.part > 0 {
                let shape = node
                    .inputs
                    .first()
                    .and_then(|&call| all_outputs[call].as_ref())
                    .and_then(|all| all.get(node.part))
                    .cloned()
                    .ok_or_else(|| {
                        Error::InvalidModel(format!("`{name}` has no output {}", node.part))
                    })?;
                shapes.push(shape);
                masked.push(false);
                all_outputs.push(None);
                continue;
            }
            let inputs: Vec<Shape> = node.inputs.iter().map(|&i| shapes[i].clone()).collect();
            let fail = |reason: String| incompatible(&name, &inputs, reason);
            let out = spec.layer.output_shape(&inputs).map_err(fail)?;
            let all = spec.layer.output_shapes(&inputs).map_err(fail)?;
            if let Some(all) = &all {
                for extra in all.iter().skip(1) {
                    if extra.rank() + 1 > crate::tensor::MAX_RANK || extra.size() > limit {
                        return Err(fail(format!("its output {extra} is too large")));
                    }
                }
            }
            all_outputs.push(all);
            if out.rank() + 1 > crate::tensor::MAX_RANK {
                return Err(fail(format!(
                    "its output {out} has rank {}; Kiln passes ranks 2 to {} between layers",
                    out.rank() + 1,
                    crate::tensor::MAX_RANK
                )));
            }
            if out.size() > limit {
                return Err(Error::ModelTooLarge {
                    layer: name,
                    what: "one sample's output",
                    values: out.size(),
                    limit,
                });
            }
            let mut declared = WeightBuilder::default();
            spec.layer.build(&inputs, &mut declared).map_err(fail)?;
            match &weights[node.layer] {
                None => {
                    total = declared
                        .flat()
                        .iter()
                        .try_fold(total, |t, (_, w)| w.size().and_then(|n| t.checked_add(n)))
                        .unwrap_or(usize::MAX);
                    if total > limit {
                        return Err(Error::ModelTooLarge {
                            layer: name,
                            what: "the weights so far",
                            values: total,
                            limit,
                        });
                    }
                    weights[node.layer] = Some(declared);
                }
                Some(first) if *first == declared => {}
                Some(_) => {
                    return Err(fail(
                        "a shared layer must be called on inputs that need the same weights as \
                         its first call"
                            .into(),
                    ));
                }
            }
            let in_masked: Vec<bool> = node.inputs.iter().map(|&i| masked[i]).collect();
            let carries = match spec.layer.mask_policy() {
                MaskPolicy::Drop => false,
                // A kept mask is per step: the output is still a sequence of those steps.
                MaskPolicy::Keep => {
                    in_masked.first() == Some(&true)
                        && out.rank() == 2
                        && inputs[0].rank() == 2
                        && out.dims()[0] == inputs[0].dims()[0]
                }
                MaskPolicy::Own => spec
                    .layer
                    .output_masked(&inputs, &in_masked)
                    .map_err(fail)?,
            };
            if carries && out.rank() != 2 {
                return Err(fail(format!(
                    "its output {out} would carry a mask; Kiln's masks are per step of \
                     sequences (steps, features)"
                )));
            }
            masked.push(carries);
            shapes.push(out);
        }
        let weights = weights.into_iter().map(Option::unwrap_or_default).collect();
        let feeds = self.host_feeds(&shapes)?;
        let multi = all_outputs.iter().map(Option::is_some).collect();
        Ok(Plan {
            graph: self,
            shapes,
            weights,
            feeds,
            masked,
            multi,
        })
    }

    /// The nodes that consume node `n`'s output.
    fn consumers(&self, n: usize) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|&i| self.nodes[i].inputs.contains(&n))
            .collect()
    }

    /// Checks where the layers that run on the host sit (each directly on an input that feeds
    /// only it; a string input feeds only such layers) and gives each input's feed node.
    fn host_feeds(&self, shapes: &[Shape]) -> Result<Vec<usize>> {
        for (i, node) in self.nodes.iter().enumerate() {
            let spec = &self.layers[node.layer];
            if !spec.layer.runs_on_host() {
                continue;
            }
            let name = self.layer_name(node.layer).to_string();
            let inputs: Vec<Shape> = node.inputs.iter().map(|&j| shapes[j].clone()).collect();
            let fail = |reason: String| incompatible(&name, &inputs, reason);
            let [j] = node.inputs[..] else {
                return Err(fail("it runs on the host and takes one model input".into()));
            };
            if !self.inputs.contains(&j) {
                return Err(fail(format!(
                    "it runs on the host, on a model input's data, so it must be called \
                     directly on an Input, not on the output of `{}`",
                    self.node_name(j)
                )));
            }
            if self.consumers(j).len() > 1 {
                return Err(fail(format!(
                    "its input `{}` feeds other layers too; give each host layer an Input of \
                     its own",
                    self.node_name(j)
                )));
            }
            if shapes[i].rank() == 0 {
                return Err(fail(
                    "its output has one value per sample, shape (); Kiln's device layers take \
                     samples of at least one axis: use an input of shape (1,)"
                        .into(),
                ));
            }
        }
        let mut feeds = Vec::with_capacity(self.inputs.len());
        for &n in &self.inputs {
            let consumers = self.consumers(n);
            let string =
                self.layers[self.nodes[n].layer].layer.config()["dtype"].as_str() == Some("string");
            if string
                && let Some(&c) = consumers
                    .iter()
                    .find(|&&c| !self.layers[self.nodes[c].layer].layer.runs_on_host())
            {
                return Err(incompatible(
                    self.node_name(c),
                    &[shapes[n].clone()],
                    format!(
                        "it takes numbers, and `{}` is a string input: pass it through \
                         TextVectorization, StringLookup or Hashing first",
                        self.node_name(n)
                    ),
                ));
            }
            match consumers[..] {
                [c] if self.layers[self.nodes[c].layer].layer.runs_on_host() => feeds.push(c),
                _ => feeds.push(n),
            }
        }
        Ok(feeds)
    }
}

fn incompatible(layer: &str, inputs: &[Shape], reason: String) -> Error {
    match inputs {
        [one] => Error::IncompatibleShape {
            layer: layer.to_string(),
            input: one.clone(),
            reason,
        },
        many => Error::IncompatibleShapes {
            layer: layer.to_string(),
            inputs: many.to_vec(),
            reason,
        },
    }
}

/// What a forward pass returns: one tensor per output, per output the activation left out
/// when the pass was asked to stop before it (`Linear` otherwise), and per output its mask.
pub(crate) type Outputs = (Vec<DynTensor>, Vec<Activation>, Vec<Option<Mask>>);

impl Plan {
    /// The shapes of one sample of each input.
    pub(crate) fn input_shapes(&self) -> Vec<Shape> {
        self.graph
            .inputs
            .iter()
            .map(|&n| self.shapes[n].clone())
            .collect()
    }

    /// The shapes of one sample of each output.
    pub(crate) fn output_shapes(&self) -> Vec<Shape> {
        self.graph
            .outputs
            .iter()
            .map(|&n| self.shapes[n].clone())
            .collect()
    }

    /// Runs the graph. `vars(i)` gives layer `i`'s stored weights; `trainable` is false inside a
    /// frozen model; `host_checked` says the inputs were checked on the host (`check_input`). With `split_activation`, each output node's layer stops before its final
    /// activation (returned), so a loss can fuse it.
    ///
    /// # Errors
    /// A layer's own error, naming it; a wrong number of inputs.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn run<'v>(
        &self,
        inputs: Vec<DynTensor>,
        training: bool,
        trainable: bool,
        host_checked: bool,
        split_activation: bool,
        losses: Option<&RefCell<Vec<Tensor<1>>>>,
        vars: impl Fn(usize) -> &'v [Variable],
    ) -> Result<Outputs> {
        let g = &self.graph;
        if inputs.len() != g.inputs.len() {
            return Err(Error::InvalidModel(format!(
                "the model takes {} inputs, got {}",
                g.inputs.len(),
                inputs.len()
            )));
        }
        // When each node's output is last needed, so it can be dropped then.
        let mut last_use = vec![0usize; g.nodes.len()];
        for (i, node) in g.nodes.iter().enumerate() {
            for &j in &node.inputs {
                last_use[j] = i;
            }
        }
        for &o in &g.outputs {
            last_use[o] = usize::MAX;
        }
        let mut values: Vec<Option<DynTensor>> = vec![None; g.nodes.len()];
        // Masks flow only where the plan found one.
        let any_mask = self.masked.iter().any(|&m| m);
        let mut masks: Vec<Option<Mask>> = vec![None; g.nodes.len()];
        // The further outputs of calls of layers that give several.
        let mut extras: Vec<Vec<DynTensor>> = vec![Vec::new(); g.nodes.len()];
        // Data enters at each input's feed node: the input itself, or the host layer whose
        // output (computed on the host) it is.
        for (&n, x) in self.feeds.iter().zip(inputs) {
            values[n] = Some(x);
        }
        let mut activations = vec![Activation::Linear; g.outputs.len()];
        for (i, node) in g.nodes.iter().enumerate() {
            if node.inputs.is_empty() || self.feeds.contains(&i) {
                continue;
            }
            if node.part > 0 {
                let value = node
                    .inputs
                    .first()
                    .and_then(|&call| extras[call].get(node.part - 1))
                    .cloned();
                values[i] = Some(value.ok_or_else(|| {
                    Error::InvalidModel(format!(
                        "output {} of `{}` was not computed",
                        node.part,
                        g.node_name(i)
                    ))
                })?);
                continue;
            }
            let mut args = Vec::with_capacity(node.inputs.len());
            let in_masks: Vec<Option<Mask>> = if any_mask {
                node.inputs.iter().map(|&j| masks[j].clone()).collect()
            } else {
                Vec::new()
            };
            for (k, &j) in node.inputs.iter().enumerate() {
                // Taken at its last use (the last time this node takes it: `[&x, &x]`).
                let again = node.inputs[k + 1..].contains(&j);
                let value = if last_use[j] == i && !again {
                    values[j].take()
                } else {
                    values[j].clone()
                };
                args.push(value.ok_or_else(|| {
                    Error::InvalidModel(format!(
                        "the input of `{}` was not computed",
                        g.node_name(i)
                    ))
                })?);
            }
            let spec = &g.layers[node.layer];
            let weights = Weights {
                vars: vars(node.layer),
                spec: &self.weights[node.layer],
                trainable: trainable && spec.trainable,
                host_checked: host_checked && node.inputs.iter().all(|j| self.feeds.contains(j)),
                losses,
            };
            let call_error = |reason: String| Error::LayerCall {
                layer: g.node_name(i).to_string(),
                reason,
            };
            // An output that feeds nothing else may stop before its activation.
            let split = split_activation && last_use[i] == usize::MAX && !feeds_others(g, i);
            let policy = spec.layer.mask_policy();
            let own_masks = any_mask
                && policy == MaskPolicy::Own
                && (self.masked[i] || in_masks.iter().any(Option::is_some));
            let y = if self.multi[i] {
                let (mut ys, mask) = spec
                    .layer
                    .call_outputs(args, &in_masks, &weights, training)
                    .map_err(call_error)?;
                masks[i] = if self.masked[i] { mask } else { None };
                if ys.is_empty() {
                    return Err(call_error("it gave no output".into()));
                }
                let first = ys.remove(0);
                extras[i] = ys;
                first
            } else if own_masks {
                let (y, mask) = spec
                    .layer
                    .call_masked(args, &in_masks, &weights, training)
                    .map_err(call_error)?;
                masks[i] = if self.masked[i] { mask } else { None };
                y
            } else if split {
                let (y, a) = spec
                    .layer
                    .call_pre_activation(args, &weights, training)
                    .map_err(call_error)?;
                for (k, &o) in g.outputs.iter().enumerate() {
                    if o == i {
                        activations[k] = a;
                    }
                }
                y
            } else {
                spec.layer
                    .call(args, &weights, training)
                    .map_err(call_error)?
            };
            // Keras's `activity_regularizer`: the output's penalty over the batch size.
            if let (Some(r), Some(sink)) = (&spec.activity_regularizer, losses) {
                let batch = y.dims().first().copied().unwrap_or(1).max(1) as f32;
                let penalty = match &y {
                    DynTensor::R2(t) => r.penalty(t.clone()),
                    DynTensor::R3(t) => r.penalty(t.clone()),
                    DynTensor::R4(t) => r.penalty(t.clone()),
                    DynTensor::R5(t) => r.penalty(t.clone()),
                };
                sink.borrow_mut().push(penalty / batch);
            }
            if any_mask && policy == MaskPolicy::Keep && self.masked[i] {
                masks[i] = in_masks.into_iter().next().flatten();
            }
            values[i] = Some(y);
        }
        let output_masks = g.outputs.iter().map(|&o| masks[o].clone()).collect();
        let outputs = g
            .outputs
            .iter()
            .map(|&o| {
                values[o]
                    .clone()
                    .ok_or_else(|| Error::InvalidModel("an output was not computed".into()))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok((outputs, activations, output_masks))
    }
}

/// Whether node `i` is the input of another node (an intermediate tensor that is also an output).
fn feeds_others(g: &Graph, i: usize) -> bool {
    g.nodes.iter().any(|n| n.inputs.contains(&i))
}
