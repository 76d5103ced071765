//! The Functional API: symbolic tensors from [`Input`], layers applied to them, and
//! [`Functional`], a model from its inputs to its outputs (Keras `keras.Model(inputs, outputs)`).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use burn::tensor::Device;
use rand::SeedableRng;
use rand::rngs::StdRng;

use crate::error::{Error, Result};
use crate::graph::{Graph, Node, Plan};
use crate::layers::{Input, Layer, LayerSpec, WeightBuilder, Weights};
use crate::model::{Model, ModelConfig};
use crate::shape::Shape;
use crate::tensor::DynTensor;

/// A tensor of a model being described (Keras's `KerasTensor`): the output of an [`Input`] or
/// of a layer applied to other symbolic tensors. It knows its sample shape and how it was made.
#[derive(Clone)]
pub struct SymbolicTensor(Arc<SymbolicNode>);

struct SymbolicNode {
    layer: LayerSpec,
    inputs: Vec<SymbolicTensor>,
    shape: Shape,
    /// Which output of the layer's call: 0, or k > 0 for output k (then `inputs` is the call).
    part: usize,
    /// Creation order (every node is made after its inputs).
    id: usize,
}

impl std::fmt::Debug for SymbolicTensor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "<SymbolicTensor shape={} from {}>",
            self.0.shape,
            self.0.layer.class_name()
        )
    }
}

impl SymbolicTensor {
    /// The shape of one sample (batch axis left out).
    pub fn shape(&self) -> &Shape {
        &self.0.shape
    }

    /// The layer that produced it.
    pub fn layer(&self) -> &LayerSpec {
        &self.0.layer
    }

    /// The tensor of an `InputLayer` spec.
    pub(crate) fn input(spec: LayerSpec) -> Result<Self> {
        let shape = spec.layer.output_shape(&[]).map_err(Error::InvalidModel)?;
        Ok(SymbolicTensor::new(spec, Vec::new(), shape))
    }

    fn is_input(&self) -> bool {
        self.0.inputs.is_empty()
    }

    fn new(layer: LayerSpec, inputs: Vec<SymbolicTensor>, shape: Shape) -> Self {
        Self::part_of(layer, inputs, shape, 0)
    }

    fn part_of(layer: LayerSpec, inputs: Vec<SymbolicTensor>, shape: Shape, part: usize) -> Self {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        SymbolicTensor(Arc::new(SymbolicNode {
            layer,
            inputs,
            shape,
            part,
            id: NEXT.fetch_add(1, Ordering::Relaxed),
        }))
    }
}

/// The tensors a layer is applied to, or a model's inputs or outputs: one (`&x`), an array
/// (`[&a, &b]`) or a slice of them.
#[derive(Debug, Clone)]
pub struct Tensors(Vec<SymbolicTensor>);

impl From<&SymbolicTensor> for Tensors {
    fn from(t: &SymbolicTensor) -> Self {
        Tensors(vec![t.clone()])
    }
}

impl<const N: usize> From<[&SymbolicTensor; N]> for Tensors {
    fn from(ts: [&SymbolicTensor; N]) -> Self {
        Tensors(ts.into_iter().cloned().collect())
    }
}

impl From<&[SymbolicTensor]> for Tensors {
    fn from(ts: &[SymbolicTensor]) -> Self {
        Tensors(ts.to_vec())
    }
}

impl From<&Vec<SymbolicTensor>> for Tensors {
    fn from(ts: &Vec<SymbolicTensor>) -> Self {
        Tensors(ts.clone())
    }
}

impl From<Vec<SymbolicTensor>> for Tensors {
    fn from(ts: Vec<SymbolicTensor>) -> Self {
        Tensors(ts)
    }
}

impl Input {
    /// The symbolic tensor of this input (Keras `keras.Input(shape=...)`), to apply layers to.
    ///
    /// # Errors
    /// [`Error::InvalidModel`] for a shape with no axis or an unknown size.
    ///
    /// # Examples
    /// ```
    /// use kiln_model::{Activation, Apply, Dense, Functional, Input};
    /// let inputs = Input::new([784]).tensor()?;
    /// let hidden = Dense::new(64).activation(Activation::Relu).apply(&inputs)?;
    /// let outputs = Dense::new(10).activation(Activation::Softmax).apply(&hidden)?;
    /// let model = Functional::new(&inputs, &outputs)?.build(&burn::tensor::Device::flex())?;
    /// assert_eq!(model.count_params(), 784 * 64 + 64 + 64 * 10 + 10);
    /// # Ok::<(), kiln_model::Error>(())
    /// ```
    pub fn tensor(self) -> Result<SymbolicTensor> {
        SymbolicTensor::input(LayerSpec::from(self))
    }
}

impl LayerSpec {
    /// Applies the layer to symbolic tensors (Keras `layer(x)`), giving its output. Applying
    /// the same spec (or a clone of it) again shares the layer and its weights.
    ///
    /// # Errors
    /// [`Error::IncompatibleShape`] (or `IncompatibleShapes`) when the layer cannot take these
    /// inputs, naming the layer and the shapes.
    ///
    /// # Examples
    /// ```
    /// use kiln_model::{Apply, Dense, Functional, Input, LayerSpec, Subtract};
    /// let shared = LayerSpec::new(Dense::new(4)).name("shared");
    /// let (left, right) = (Input::new([3]).tensor()?, Input::new([3]).tensor()?);
    /// let diff = Subtract::new().apply([&shared.apply(&left)?, &shared.apply(&right)?])?;
    /// let model = Functional::new([&left, &right], &diff)?;
    /// assert_eq!(model.summary().total_params(), 3 * 4 + 4); // one set of weights
    /// # Ok::<(), kiln_model::Error>(())
    /// ```
    pub fn apply(&self, inputs: impl Into<Tensors>) -> Result<SymbolicTensor> {
        let mut outputs = self.apply_outputs(inputs)?;
        if outputs.len() > 1 {
            return Err(Error::InvalidModel(format!(
                "`{}` gives {} outputs (Keras returns a list): use `apply_outputs`",
                self.name.as_deref().unwrap_or(self.class_name()),
                outputs.len()
            )));
        }
        outputs
            .pop()
            .ok_or_else(|| Error::InvalidModel("a layer gave no output".into()))
    }

    /// Applies a layer that gives several outputs (Keras's list result:
    /// `LSTM(return_state=True)(x)` is `[output, h, c]`), giving one tensor per output; for a
    /// layer of one output, that one.
    ///
    /// # Errors
    /// As [`apply`](LayerSpec::apply).
    ///
    /// # Examples
    /// ```
    /// use kiln_model::{Functional, Input, LayerSpec, Lstm};
    /// let x = Input::new([5, 3]).tensor()?;
    /// let outs = LayerSpec::new(Lstm::new(4).return_state(true)).apply_outputs(&x)?;
    /// let [out, h, c] = outs.as_slice() else { unreachable!() };
    /// assert_eq!(h.shape().dims(), &[4]);
    /// let model = Functional::new(&x, [out, h, c])?;
    /// assert_eq!(model.output_names(), ["lstm", "lstm", "lstm"]);
    /// # Ok::<(), kiln_model::Error>(())
    /// ```
    pub fn apply_outputs(&self, inputs: impl Into<Tensors>) -> Result<Vec<SymbolicTensor>> {
        let inputs = inputs.into().0;
        let shapes: Vec<Shape> = inputs.iter().map(|t| t.shape().clone()).collect();
        let name = self
            .name
            .clone()
            .unwrap_or_else(|| self.class_name().to_string());
        if self.class_name() == "InputLayer" {
            return Err(Error::InvalidModel(format!(
                "`{name}` is an Input; use `Input::tensor` to start a graph"
            )));
        }
        let shape = self
            .layer
            .output_shape(&shapes)
            .map_err(|reason| match &shapes[..] {
                [one] => Error::IncompatibleShape {
                    layer: name.clone(),
                    input: one.clone(),
                    reason,
                },
                many => Error::IncompatibleShapes {
                    layer: name.clone(),
                    inputs: many.to_vec(),
                    reason,
                },
            })?;
        let all = self
            .layer
            .output_shapes(&shapes)
            .map_err(Error::InvalidModel)?;
        let call = SymbolicTensor::new(self.clone(), inputs, shape);
        let mut outputs = vec![call.clone()];
        for (k, extra) in all.into_iter().flatten().enumerate().skip(1) {
            outputs.push(SymbolicTensor::part_of(
                self.clone(),
                vec![call.clone()],
                extra,
                k,
            ));
        }
        Ok(outputs)
    }
}

/// `layer.apply(&x)` for any layer value (a fresh layer each time; apply a [`LayerSpec`] to
/// share one).
pub trait Apply: Into<LayerSpec> {
    /// As [`LayerSpec::apply`].
    ///
    /// # Errors
    /// As [`LayerSpec::apply`].
    fn apply(self, inputs: impl Into<Tensors>) -> Result<SymbolicTensor> {
        self.into().apply(inputs)
    }
}

impl<L: Layer> Apply for L {}
impl Apply for Functional {}
impl Apply for crate::Sequential {}

/// A model described as a graph from its inputs to its outputs (Keras's Functional
/// `keras.Model(inputs, outputs)`): several named inputs and outputs, shared layers, any
/// intermediate tensor as an output, models used as layers. The architecture, not yet weights:
/// [`build`](Functional::build) makes a [`Model`].
///
/// # Examples
/// A residual block:
/// ```
/// use kiln_model::{Activation, ActivationLayer, Add, Apply, Dense, Functional, Input};
/// let x = Input::new([8]).tensor()?;
/// let h = Dense::new(8).activation(Activation::Relu).apply(&x)?;
/// let h = Dense::new(8).apply(&h)?;
/// let y = ActivationLayer::new(Activation::Relu).apply(&Add::new().apply([&x, &h])?)?;
/// let model = Functional::new(&x, &y)?.name("residual");
/// println!("{}", model.summary());
/// let model = model.seed(1).build(&burn::tensor::Device::flex())?;
/// assert_eq!(model.output_shape().dims(), &[8]);
/// # Ok::<(), kiln_model::Error>(())
/// ```
#[doc(alias = "Model")]
#[derive(Debug, Clone, PartialEq)]
pub struct Functional {
    /// The model's name (Keras: `functional`).
    pub name: String,
    pub(crate) plan: Plan,
    /// Seed for the weight initializers; `None` draws a fresh one at each `build`.
    pub seed: Option<u64>,
}

impl Functional {
    /// The model from `inputs` to `outputs`. Unnamed layers get Keras's automatic names
    /// (`dense`, `dense_1`, ... in the order the layers were made).
    ///
    /// # Errors
    /// [`Error::NotConnected`] when an output depends on an input that is not among `inputs`;
    /// [`Error::UnusedInput`] when an input does not lead to any output;
    /// [`Error::DuplicateName`] when two layers have one name.
    pub fn new(inputs: impl Into<Tensors>, outputs: impl Into<Tensors>) -> Result<Self> {
        let (inputs, outputs) = (inputs.into().0, outputs.into().0);
        if outputs.is_empty() || inputs.is_empty() {
            return Err(Error::InvalidModel(
                "a model needs at least one input and one output".into(),
            ));
        }
        let mut names = Names::default();
        for t in &inputs {
            if !t.is_input() {
                return Err(Error::InvalidModel(format!(
                    "model inputs must come from `Input::tensor`; `{}` is the output of a layer",
                    names.describe(t)
                )));
            }
        }
        let input_ids: HashSet<usize> = inputs.iter().map(|t| t.0.id).collect();
        // Every node reachable from the outputs, stopping at the inputs.
        let mut reached: HashMap<usize, SymbolicTensor> = HashMap::new();
        for out in &outputs {
            let mut stack = vec![out.clone()];
            while let Some(t) = stack.pop() {
                if reached.contains_key(&t.0.id) {
                    continue;
                }
                if t.is_input() && !input_ids.contains(&t.0.id) {
                    return Err(Error::NotConnected {
                        output: names.describe(out),
                        input: names.describe(&t),
                    });
                }
                if !input_ids.contains(&t.0.id) {
                    stack.extend(t.0.inputs.iter().cloned());
                }
                reached.insert(t.0.id, t);
            }
        }
        for t in &inputs {
            if !reached.contains_key(&t.0.id) {
                return Err(Error::UnusedInput {
                    input: names.describe(t),
                });
            }
        }
        // Nodes in creation order: each after its inputs.
        let mut nodes: Vec<SymbolicTensor> = reached.into_values().collect();
        nodes.sort_by_key(|t| t.0.id);
        let position: HashMap<usize, usize> =
            nodes.iter().enumerate().map(|(i, t)| (t.0.id, i)).collect();
        // Distinct layer objects, named in creation order.
        let mut layers: Vec<LayerSpec> = Vec::new();
        let mut layer_of: HashMap<usize, usize> = HashMap::new();
        for t in &nodes {
            let spec = &t.0.layer;
            if let std::collections::hash_map::Entry::Vacant(e) = layer_of.entry(spec.id) {
                e.insert(layers.len());
                layers.push(spec.clone());
            }
        }
        let mut order: Vec<usize> = (0..layers.len()).collect();
        order.sort_by_key(|&i| layers[i].id);
        for &i in &order {
            if let Some(name) = &layers[i].name
                && !names.taken.insert(name.clone())
            {
                return Err(Error::DuplicateName { name: name.clone() });
            }
        }
        for &i in &order {
            if layers[i].name.is_none() {
                let name = names.fresh(&layers[i].base_name());
                layers[i].name = Some(name);
            }
        }
        let graph_nodes: Vec<Node> = nodes
            .iter()
            .map(|t| Node {
                layer: layer_of[&t.0.layer.id],
                inputs: if input_ids.contains(&t.0.id) {
                    Vec::new()
                } else {
                    t.0.inputs.iter().map(|i| position[&i.0.id]).collect()
                },
                part: t.0.part,
            })
            .collect();
        let graph = Graph {
            layers,
            nodes: graph_nodes,
            inputs: inputs.iter().map(|t| position[&t.0.id]).collect(),
            outputs: outputs.iter().map(|t| position[&t.0.id]).collect(),
        };
        let graph = keras_layer_order(graph);
        Ok(Self {
            name: "functional".into(),
            plan: graph.plan()?,
            seed: None,
        })
    }

    /// Sets the model's name.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Seeds the weight initializers, so `build` gives the same weights every time (and on
    /// every backend: weights are drawn on the host).
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// The input names (the `Input` layers' names), in input order.
    pub fn input_names(&self) -> Vec<String> {
        let g = &self.plan.graph;
        g.inputs
            .iter()
            .map(|&n| g.node_name(n).to_string())
            .collect()
    }

    /// The output names (Keras `model.output_names`: the producing layers' names), in order.
    pub fn output_names(&self) -> Vec<String> {
        let g = &self.plan.graph;
        g.outputs
            .iter()
            .map(|&n| g.node_name(n).to_string())
            .collect()
    }

    /// The layers, in Keras's `model.layers` order (inputs included, as in Keras).
    pub fn layers(&self) -> &[LayerSpec] {
        &self.plan.graph.layers
    }

    /// Keras's summary table (with the "Connected to" column).
    pub fn summary(&self) -> crate::Summary {
        crate::summary::functional_summary(&self.name, &self.plan)
    }

    /// Creates the weights on `device` (Keras initializers, drawn on the host from the seed).
    ///
    /// # Errors
    /// None in practice: shapes were checked when the model was described.
    pub fn build(&self, device: &Device) -> Result<Model> {
        Ok(build_plan(
            &self.plan,
            self.seed,
            ModelConfig::Functional(self.clone()),
            device,
        ))
    }
}

/// Creates the weights of every layer of `plan`.
pub(crate) fn build_plan(
    plan: &Plan,
    seed: Option<u64>,
    config: ModelConfig,
    device: &Device,
) -> Model {
    let mut rng = match seed {
        Some(seed) => StdRng::seed_from_u64(seed),
        None => StdRng::from_os_rng(),
    };
    let vars = plan
        .weights
        .iter()
        .map(|w| w.create(&mut rng, device))
        .collect();
    Model::from_parts(vars, config, plan.clone(), device.clone())
}

/// Layer names taken in one model, and Keras's automatic names (`dense`, `dense_1`, ...).
#[derive(Default)]
pub(crate) struct Names {
    pub(crate) taken: HashSet<String>,
}

impl Names {
    pub(crate) fn fresh(&mut self, base: &str) -> String {
        let mut name = base.to_string();
        let mut k = 0;
        while self.taken.contains(&name) {
            k += 1;
            name = format!("{base}_{k}");
        }
        self.taken.insert(name.clone());
        name
    }

    fn describe(&self, t: &SymbolicTensor) -> String {
        let spec = &t.0.layer;
        match &spec.name {
            Some(name) => name.clone(),
            None => format!("{} {}", spec.class_name(), t.0.shape),
        }
    }
}

/// Orders the layers as Keras's `model.layers` (`functional.map_graph`): by depth from the
/// outputs, deepest (the inputs) first; within a depth, by when a walk from the outputs first
/// met them. Weights (`get_weights`) follow this order.
/// The call a node belongs to: itself, or for a further output of a call, that call (Keras
/// has one node per call, its outputs tensors of it).
fn call_of(g: &Graph, node: usize) -> usize {
    match &g.nodes[node] {
        n if n.part > 0 => n.inputs.first().copied().unwrap_or(node),
        _ => node,
    }
}

fn keras_layer_order(mut g: Graph) -> Graph {
    let n = g.nodes.len();
    // Keras's `_build_map`: depth-first from each output; layers numbered when first met,
    // nodes listed when finished.
    let mut layer_index: HashMap<usize, usize> = HashMap::new();
    let mut finished = vec![false; n];
    let mut post_order = Vec::with_capacity(n);
    fn visit(
        g: &Graph,
        node: usize,
        finished: &mut [bool],
        post_order: &mut Vec<usize>,
        layer_index: &mut HashMap<usize, usize>,
    ) {
        if finished[node] {
            return;
        }
        let layer = g.nodes[node].layer;
        let next = layer_index.len();
        layer_index.entry(layer).or_insert(next);
        for &i in &g.nodes[node].inputs {
            visit(g, call_of(g, i), finished, post_order, layer_index);
        }
        finished[node] = true;
        post_order.push(node);
    }
    for &o in &g.outputs {
        visit(
            &g,
            call_of(&g, o),
            &mut finished,
            &mut post_order,
            &mut layer_index,
        );
    }
    let mut node_depth: HashMap<usize, usize> = HashMap::new();
    let mut layer_depth: HashMap<usize, usize> = HashMap::new();
    for &node in post_order.iter().rev() {
        let layer = g.nodes[node].layer;
        let depth =
            (*node_depth.get(&node).unwrap_or(&0)).max(*layer_depth.get(&layer).unwrap_or(&0));
        layer_depth.insert(layer, depth);
        node_depth.insert(node, depth);
        for &parent in &g.nodes[node].inputs {
            let d = node_depth.entry(call_of(&g, parent)).or_insert(0);
            *d = (*d).max(depth + 1);
        }
    }
    let mut order: Vec<usize> = (0..g.layers.len()).collect();
    order.sort_by_key(|l| {
        (
            std::cmp::Reverse(*layer_depth.get(l).unwrap_or(&0)),
            *layer_index.get(l).unwrap_or(&usize::MAX),
        )
    });
    let mut new_index = vec![0; g.layers.len()];
    for (new, &old) in order.iter().enumerate() {
        new_index[old] = new;
    }
    let layers = order.iter().map(|&old| g.layers[old].clone()).collect();
    g.layers = layers;
    for node in &mut g.nodes {
        node.layer = new_index[node.layer];
    }
    g
}

/// A model used as a layer of another model (Keras: a model is a layer): one output, its
/// layers as sublayers.
#[derive(Debug)]
pub(crate) struct Nested {
    pub(crate) config: ModelConfig,
    pub(crate) plan: std::result::Result<Plan, String>,
}

impl Nested {
    fn plan(&self) -> std::result::Result<&Plan, String> {
        self.plan.as_ref().map_err(Clone::clone)
    }
}

impl Layer for Nested {
    fn class_name(&self) -> &str {
        match self.config {
            ModelConfig::Sequential(_) => "Sequential",
            _ => "Functional",
        }
    }

    fn config(&self) -> serde_json::Value {
        match &self.config {
            ModelConfig::Sequential(s) => s.to_value(),
            ModelConfig::Functional(f) => crate::config::functional_config(f),
        }
    }

    fn output_shape(&self, inputs: &[Shape]) -> Result<Shape, String> {
        nested_output_shape(self.plan()?, inputs)
    }

    fn build(&self, _inputs: &[Shape], weights: &mut WeightBuilder) -> Result<(), String> {
        nested_build(
            self.plan()?,
            matches!(self.config, ModelConfig::Sequential(_)),
            weights,
        )
    }

    fn call(
        &self,
        inputs: Vec<DynTensor>,
        weights: &Weights<'_>,
        training: bool,
    ) -> Result<DynTensor, String> {
        nested_call(self.plan()?, inputs, weights, training)
    }

    fn saveable(&self) -> Result<(), String> {
        self.config.check_saveable().map_err(|e| e.to_string())
    }
}

/// A Functional model used as a layer of another model (named as the model).
impl From<Functional> for LayerSpec {
    fn from(model: Functional) -> Self {
        let plan = Ok(model.plan.clone());
        let name = model.name.clone();
        LayerSpec::new(Nested {
            config: ModelConfig::Functional(model),
            plan,
        })
        .name(name)
    }
}

pub(crate) fn nested_output_shape(
    plan: &Plan,
    inputs: &[Shape],
) -> std::result::Result<Shape, String> {
    let expected = plan.input_shapes();
    if inputs != expected.as_slice() {
        let show = |s: &[Shape]| {
            s.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        };
        return Err(format!(
            "the model takes inputs {}, got {}",
            show(&expected),
            show(inputs)
        ));
    }
    match plan.output_shapes().as_slice() {
        [one] => Ok(one.clone()),
        many => Err(format!(
            "a model used as a layer must have one output, this one has {}",
            many.len()
        )),
    }
}

pub(crate) fn nested_build(
    plan: &Plan,
    sequential: bool,
    weights: &mut WeightBuilder,
) -> Result<(), String> {
    let groups = crate::keras_weights::layer_groups(&plan.graph, sequential);
    for (i, declared) in plan.weights.iter().enumerate() {
        let mut sub = declared.clone();
        sub.frozen = !plan.graph.layers[i].trainable;
        sub.keras_group = Some(groups[i].clone().unwrap_or_default());
        let vars = plan.graph.layers[i].layer().keras_vars_path();
        if vars != "vars" {
            sub.keras_vars = Some(vars.to_string());
        }
        weights
            .sublayers
            .push((plan.graph.layer_name(i).to_string(), sub));
    }
    Ok(())
}

pub(crate) fn nested_call(
    plan: &Plan,
    inputs: Vec<DynTensor>,
    weights: &Weights<'_>,
    training: bool,
) -> Result<DynTensor, String> {
    let subs = (0..plan.weights.len())
        .map(|i| weights.sublayer(i))
        .collect::<Result<Vec<_>, String>>()?;
    let (mut outputs, _, _) = plan
        .run(
            inputs,
            training,
            weights.trainable(),
            false,
            false,
            weights.losses,
            |i| subs[i].vars,
        )
        .map_err(|e| e.to_string())?;
    outputs
        .pop()
        .ok_or_else(|| "the nested model has no output".to_string())
}
