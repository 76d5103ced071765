//! `Model`: a built `Sequential` or `Functional`, a burn module with its weights.

use std::sync::Arc;

use burn::module::Module;
use burn::tensor::{Device, Tensor, TensorData};
use kiln_datasets::HostArray;
use ndarray::ArrayD;

use crate::activation::Activation;
use crate::data::{ArrayInput, HostData};
use crate::error::{Error, Result};
use crate::functional::Functional;
use crate::graph::Plan;
use crate::layers::{CustomObjects, Variable};
use crate::samples::Samples;
use crate::sequential::Sequential;
use crate::shape::{Shape, format_dims};
use crate::summary::Summary;
use crate::tensor::DynTensor;

/// The architecture a model was built from: a `Sequential` or a `Functional`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ModelConfig {
    /// A stack of layers.
    Sequential(Sequential),
    /// A graph of layers.
    Functional(Functional),
}

impl ModelConfig {
    /// The model's name.
    pub fn name(&self) -> &str {
        match self {
            ModelConfig::Sequential(s) => &s.name,
            ModelConfig::Functional(f) => &f.name,
        }
    }

    /// The architecture as Keras-shaped JSON.
    ///
    /// # Errors
    /// [`Error::Config`] (serialization does not fail in practice).
    pub fn to_json(&self) -> Result<String> {
        self.check_saveable()?;
        match self {
            ModelConfig::Sequential(s) => s.to_json(),
            ModelConfig::Functional(f) => f.to_json(),
        }
    }

    /// Checks that every layer (nested ones included) can be written to a config.
    ///
    /// # Errors
    /// [`Error::Unsaveable`] naming the first layer that cannot (a `Lambda`).
    pub fn check_saveable(&self) -> Result<()> {
        let layers = match self {
            ModelConfig::Sequential(s) => &s.layers[..],
            ModelConfig::Functional(f) => f.layers(),
        };
        crate::layers::check_saveable(layers)
    }

    /// Reads either kind from JSON (Keras's `get_config()` or Kiln's own): a config with
    /// `input_layers` (or `"class_name": "Functional"`) is Functional, otherwise Sequential.
    ///
    /// # Errors
    /// As [`Sequential::from_config_with`] and [`Functional::from_config_with`].
    pub fn from_json_with(json: &str, custom: &CustomObjects) -> Result<Self> {
        let value: serde_json::Value = serde_json::from_str(json).map_err(Error::Config)?;
        let config = value.get("config").unwrap_or(&value);
        let functional = value.get("class_name").and_then(|c| c.as_str()) == Some("Functional")
            || config.get("input_layers").is_some();
        Ok(if functional {
            ModelConfig::Functional(Functional::from_config_with(json, custom)?)
        } else {
            ModelConfig::Sequential(Sequential::from_config_with(json, custom)?)
        })
    }

    /// Builds it on `device`.
    ///
    /// # Errors
    /// As the kind's `build`.
    pub fn build(&self, device: &Device) -> Result<Model> {
        match self {
            ModelConfig::Sequential(s) => s.build(device),
            ModelConfig::Functional(f) => f.build(device),
        }
    }
}

/// What a built model knows besides its weights: the architecture and its inferred graph.
#[derive(Debug)]
pub(crate) struct ModelInfo {
    pub(crate) config: ModelConfig,
    pub(crate) plan: Plan,
}

/// A built model: its layers' weights as burn parameters, and the graph that connects them.
///
/// `Model` is a burn [`Module`], so burn's tools (device moves, `valid()`, records) apply.
#[derive(Module, Debug)]
pub struct Model {
    vars: Vec<Vec<Variable>>,
    #[module(skip)]
    info: Arc<ModelInfo>,
    #[module(skip)]
    device: Device,
}

/// Finds the first value of some data (flat index, value) for which a predicate holds.
type FindValue<'a> = dyn Fn(&dyn Fn(f32) -> bool) -> Option<(usize, f32)> + 'a;

/// One forward pass as a loss sees it ([`Model::forward_for_loss`]).
#[derive(Debug, Clone)]
pub struct LossPass {
    /// One batch per output, each stopped before its final activation.
    pub outputs: Vec<DynTensor>,
    /// Per output, the activation left out (`Linear` where none was).
    pub activations: Vec<Activation>,
    /// The sum of the losses the layers added in this pass, `None` when none did.
    pub added_loss: Option<Tensor<1>>,
    /// Per output, its mask `[batch, steps]` (1 real step, 0 padding), where it has one.
    pub masks: Vec<Option<crate::layers::Mask>>,
}

impl Model {
    pub(crate) fn from_parts(
        vars: Vec<Vec<Variable>>,
        config: ModelConfig,
        plan: Plan,
        device: Device,
    ) -> Self {
        Self {
            vars,
            info: Arc::new(ModelInfo { config, plan }),
            device,
        }
    }

    pub(crate) fn plan(&self) -> &Plan {
        &self.info.plan
    }

    /// The device the model was built for.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Moves the model to another device (e.g. `device.clone().autodiff()` for training),
    /// as a fresh copy with its own autodiff graph.
    pub fn fork_to(self, device: &Device) -> Self {
        let mut model = self.fork(device);
        model.device = device.clone();
        model
    }

    /// The architecture it was built from.
    pub fn config(&self) -> &ModelConfig {
        &self.info.config
    }

    /// The model's name.
    pub fn name(&self) -> &str {
        self.info.config.name()
    }

    /// The shape of one sample of the (first) input.
    pub fn input_shape(&self) -> &Shape {
        &self.plan().shapes[self.plan().graph.inputs[0]]
    }

    /// The shape of one sample of the (first) output.
    pub fn output_shape(&self) -> &Shape {
        &self.plan().shapes[self.plan().graph.outputs[0]]
    }

    /// The shapes of one sample of each input, in input order.
    pub fn input_shapes(&self) -> Vec<Shape> {
        self.plan().input_shapes()
    }

    /// The shapes of one sample of each output, in output order.
    pub fn output_shapes(&self) -> Vec<Shape> {
        self.plan().output_shapes()
    }

    /// The input names (the `Input` layers' names), in input order.
    pub fn input_names(&self) -> Vec<String> {
        let g = &self.plan().graph;
        g.inputs
            .iter()
            .map(|&n| g.node_name(n).to_string())
            .collect()
    }

    /// The element type each input takes, as Keras names it (`"float32"` unless its
    /// [`Input`](crate::Input) says otherwise, e.g. `"int32"` for token ids), in input order.
    pub fn input_dtypes(&self) -> Vec<String> {
        let g = &self.plan().graph;
        g.inputs
            .iter()
            .map(|&n| {
                g.layers[g.nodes[n].layer].layer().config()["dtype"]
                    .as_str()
                    .unwrap_or("float32")
                    .to_string()
            })
            .collect()
    }

    /// The output names (the producing layers' names, Keras `model.output_names`).
    pub fn output_names(&self) -> Vec<String> {
        let g = &self.plan().graph;
        g.outputs
            .iter()
            .map(|&n| g.node_name(n).to_string())
            .collect()
    }

    /// The layer names, in Keras's `model.layers` order (a Functional model's inputs included).
    pub fn layer_names(&self) -> Vec<String> {
        let g = &self.plan().graph;
        (0..g.layers.len())
            .map(|i| g.layer_name(i).to_string())
            .collect()
    }

    /// Keras's summary table; print it with `println!("{}", model.summary())`.
    pub fn summary(&self) -> Summary {
        match &self.info.config {
            ModelConfig::Sequential(s) => crate::summary::sequential_summary(&s.name, self.plan()),
            ModelConfig::Functional(f) => crate::summary::functional_summary(&f.name, self.plan()),
        }
    }

    /// The number of weights (trainable and not).
    pub fn count_params(&self) -> usize {
        self.summary().total_params()
    }

    fn run(
        &self,
        inputs: Vec<DynTensor>,
        training: bool,
        split_activation: bool,
        losses: Option<&std::cell::RefCell<Vec<Tensor<1>>>>,
    ) -> Result<crate::graph::Outputs> {
        // Data reaches the model through `check_input` (predict, fit) or the caller's own
        // checks (`forward`): layers fed by inputs trust them.
        self.plan().run(
            inputs,
            training,
            true,
            true,
            split_activation,
            losses,
            |i| &self.vars[i],
        )
    }

    /// Runs a single-input, single-output model on a batch in inference mode.
    ///
    /// # Errors
    /// [`Error::InvalidModel`] for a model with several inputs or outputs (use
    /// [`Model::forward_many`]); a layer's error for data of the wrong rank (check data with
    /// [`Model::check_input`] first).
    pub fn forward(&self, x: DynTensor) -> Result<DynTensor> {
        single(self.forward_many(vec![x], false)?)
    }

    /// Runs the model on a batch of each input, giving a batch of each output; `training`
    /// turns on training-only behaviour (dropout, batch statistics).
    ///
    /// # Errors
    /// A wrong number of inputs; a layer's error for data of the wrong rank.
    pub fn forward_many(&self, inputs: Vec<DynTensor>, training: bool) -> Result<Vec<DynTensor>> {
        Ok(self.run(inputs, training, false, None)?.0)
    }

    /// Runs the model but stops each output before its layer's final activation, returning it.
    /// Losses use this to fuse softmax with cross-entropy (a stable log-softmax), as Keras does.
    /// `training` turns on training-only behaviour (dropout).
    ///
    /// # Errors
    /// As [`Model::forward`].
    pub fn forward_pre_activation(
        &self,
        x: DynTensor,
        training: bool,
    ) -> Result<(DynTensor, Activation)> {
        let (outputs, activations) = self.forward_pre_activation_many(vec![x], training)?;
        Ok((single(outputs)?, activations[0]))
    }

    /// As [`Model::forward_pre_activation`], for every input and output.
    ///
    /// # Errors
    /// As [`Model::forward_many`].
    pub fn forward_pre_activation_many(
        &self,
        inputs: Vec<DynTensor>,
        training: bool,
    ) -> Result<(Vec<DynTensor>, Vec<Activation>)> {
        let (outputs, activations, _) = self.run(inputs, training, true, None)?;
        Ok((outputs, activations))
    }

    /// As [`Model::forward_pre_activation_many`], with the sum of the losses the layers added
    /// in this pass (activity regularizers, `ActivityRegularization`, a custom layer's
    /// [`Weights::add_loss`](crate::Weights::add_loss); Keras's `model.losses` after a call),
    /// `None` when none did. `fit` adds them to what it minimizes, `evaluate` to what it
    /// reports, as Keras does.
    ///
    /// # Errors
    /// As [`Model::forward_many`].
    pub fn forward_with_losses(
        &self,
        inputs: Vec<DynTensor>,
        training: bool,
    ) -> Result<(Vec<DynTensor>, Vec<Activation>, Option<Tensor<1>>)> {
        let pass = self.forward_for_loss(inputs, training)?;
        Ok((pass.outputs, pass.activations, pass.added_loss))
    }

    /// What a loss needs from one forward pass: as [`Model::forward_with_losses`], with each
    /// output's mask (Keras's `_keras_mask` of `y_pred`, which weights the loss and the
    /// metrics), `[batch, steps]`, where the output carries one.
    ///
    /// # Errors
    /// As [`Model::forward_many`].
    pub fn forward_for_loss(&self, inputs: Vec<DynTensor>, training: bool) -> Result<LossPass> {
        let sink = std::cell::RefCell::new(Vec::new());
        let (outputs, activations, masks) = self.run(inputs, training, true, Some(&sink))?;
        let added_loss = sink.into_inner().into_iter().reduce(|a, b| a + b);
        Ok(LossPass {
            outputs,
            activations,
            added_loss,
            masks,
        })
    }

    /// Whether output `k` carries a mask (`Masking` or `Embedding(mask_zero)` upstream, kept
    /// to it), which `fit` and `evaluate` weight its loss and metrics by, as Keras does.
    pub fn output_masked(&self, k: usize) -> bool {
        let plan = self.plan();
        plan.graph.outputs.get(k).is_some_and(|&o| plan.masked[o])
    }

    /// Whether any weight has a constraint (`kernel_constraint`, ...).
    pub fn has_constraints(&self) -> bool {
        self.plan()
            .weights
            .iter()
            .any(|declared| declared.flat().iter().any(|(_, w)| w.constraint.is_some()))
    }

    /// Projects every weight that has a constraint (`kernel_constraint=MaxNorm(..)`, ...), as
    /// Keras does after each optimizer step (`fit` calls it after each one).
    ///
    /// # Errors
    /// A constraint whose axes do not fit its weight (checked when the model is built, so not
    /// in practice).
    pub fn apply_constraints(mut self) -> Result<Self> {
        let info = Arc::clone(&self.info);
        let vars = std::mem::take(&mut self.vars);
        self.vars = vars
            .into_iter()
            .zip(&info.plan.weights)
            .map(|(vars, declared)| {
                declared
                    .flat()
                    .into_iter()
                    .zip(vars)
                    .map(|((name, w), v)| match (&w.constraint, v) {
                        (Some(c), Variable::Trainable(p)) => {
                            let projected = c.apply(p.val().detach(), &w.shape).map_err(|e| {
                                Error::InvalidModel(format!("weight `{name}`: {e}"))
                            })?;
                            Ok(Variable::Trainable(
                                p.map(|_| projected.detach().require_grad()),
                            ))
                        }
                        (_, v) => Ok(v),
                    })
                    .collect::<Result<Vec<_>>>()
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(self)
    }

    /// The sum of every weight penalty (`kernel_regularizer`, ...), which `fit` adds to the
    /// loss; `None` when no layer has one. Frozen layers' weights are penalized too, as in
    /// Keras (their penalty has no gradient).
    pub fn regularization_loss(&self) -> Option<Tensor<1>> {
        let plan = self.plan();
        plan.weights
            .iter()
            .zip(&self.vars)
            .flat_map(|(declared, vars)| {
                declared
                    .flat()
                    .into_iter()
                    .zip(vars)
                    .filter_map(|((_, w), v)| w.regularizer.map(|r| r.penalty(v.value(false))))
                    .collect::<Vec<_>>()
            })
            .reduce(|a, b| a + b)
    }

    /// Runs a single-input model once on all of `x` as one batch, like Keras's
    /// `model(x, training=...)`. With `training = true`, training-only behaviour is on: dropout
    /// drops, and BatchNormalization normalizes with the batch statistics and updates its
    /// moving ones. Gives the first output.
    ///
    /// # Errors
    /// [`Error::DataShape`] when `x` does not match the input shape.
    ///
    /// # Examples
    /// ```
    /// use kiln_model::{BatchNormalization, Input, Sequential};
    /// let model = Sequential::new().add(Input::new([2])).add(BatchNormalization::new())
    ///     .build(&burn::tensor::Device::flex())?;
    /// let x = ndarray::array![[1.0f32, 2.0], [3.0, 6.0]];
    /// let y = model.call(&x, true)?;
    /// assert!((y[[0, 0]] + y[[1, 0]]).abs() < 1e-6); // batch statistics: centered
    /// let moving_mean = &model.get_weights()?[2];
    /// assert!((moving_mean[[0]] - 0.02).abs() < 1e-6); // 0.99 * 0 + 0.01 * 2
    /// # Ok::<(), kiln_model::Error>(())
    /// ```
    pub fn call(&self, x: &impl ArrayInput, training: bool) -> Result<ArrayD<f32>> {
        let mut outputs = self.call_many(&[x as &dyn ArrayInput], training)?;
        if outputs.is_empty() {
            return Err(Error::InvalidModel("the model has no output".into()));
        }
        Ok(outputs.swap_remove(0))
    }

    /// As [`Model::call`], with one array per input (in input order), giving one per output.
    ///
    /// # Errors
    /// [`Error::DataShape`] when an array does not match its input's shape.
    pub fn call_many(&self, xs: &[&dyn ArrayInput], training: bool) -> Result<Vec<ArrayD<f32>>> {
        let mut inputs = Vec::with_capacity(xs.len());
        let datas = self.prepare_inputs(xs)?;
        for data in datas {
            inputs.push(DynTensor::from_host(
                data.shape(),
                data.to_f32_vec(),
                &self.device,
            )?);
        }
        let outputs = self.forward_many(inputs, training)?;
        outputs.into_iter().map(to_host_array).collect()
    }

    fn prepare_inputs(&self, xs: &[&dyn ArrayInput]) -> Result<Vec<HostArray>> {
        let names = self.input_names();
        if xs.len() != names.len() {
            return Err(Error::InvalidModel(format!(
                "the model takes {} inputs ({}), got {} arrays",
                names.len(),
                names.join(", "),
                xs.len()
            )));
        }
        let mut datas = Vec::with_capacity(xs.len());
        for (k, x) in xs.iter().enumerate() {
            let data = x.host_array();
            let what = if xs.len() == 1 {
                "x".to_string()
            } else {
                format!("x[{k}] ({})", names[k])
            };
            datas.push(self.prepare_input(k, &what, data)?);
        }
        Ok(datas)
    }

    /// Checks input `k`'s data (`what` names it in errors) and turns it into what the device
    /// receives: the data itself, or, for an input that feeds a layer running on the host
    /// (`TextVectorization`, `StringLookup`, `IntegerLookup`, `Hashing`), that layer's
    /// numeric output. `fit`, `evaluate` and `predict` call it on each array or batch.
    ///
    /// # Errors
    /// [`Error::DataShape`] or [`Error::DataType`] when the data does not match the input;
    /// [`Error::LayerCall`] when the host layer cannot take it; [`Error::IdOutOfRange`] as
    /// [`Model::check_input`].
    ///
    /// # Examples
    /// ```
    /// use kiln_model::{Embedding, GlobalAveragePooling1d, Input, Sequential, TextVectorization};
    /// let mut vectorizer = TextVectorization::new().output_sequence_length(3);
    /// vectorizer.adapt(["the cat sat", "the dog ran"])?;
    /// let model = Sequential::new()
    ///     .add(Input::new([1]).dtype("string"))
    ///     .add(vectorizer)
    ///     .add(Embedding::new(7, 2))
    ///     .add(GlobalAveragePooling1d::new())
    ///     .build(&burn::tensor::Device::flex())?;
    /// let texts = kiln_datasets::HostArray::from(ndarray::array![["the cat"], ["a dog"]].mapv(String::from));
    /// let ids = model.prepare_input(0, "x", texts.clone())?;
    /// // Vocabulary: "", [UNK], the, sat, ran, dog, cat (ties in decreasing order, as Keras).
    /// assert_eq!(ids.to_f32_vec(), [2.0, 6.0, 0.0, 1.0, 5.0, 0.0]);
    /// assert_eq!(model.predict(&texts, 32)?.shape(), &[2, 2]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn prepare_input(&self, k: usize, what: &str, data: HostArray) -> Result<HostArray> {
        let plan = self.plan();
        let g = &plan.graph;
        let Some(&node) = g.inputs.get(k) else {
            return Err(Error::InvalidModel(format!(
                "the model has {} inputs, not {}",
                g.inputs.len(),
                k + 1
            )));
        };
        let text = g.layers[g.nodes[node].layer].layer.config()["dtype"].as_str() == Some("string");
        if text != matches!(data, HostArray::Str(_)) {
            return Err(Error::DataType {
                what: what.to_string(),
                layer: g.node_name(node).to_string(),
                expected: if text { "string" } else { "numeric" },
                actual: data.dtype(),
            });
        }
        let feed = plan.feeds[k];
        if feed == node {
            self.check_input_array(k, what, &data)?;
            return Ok(data);
        }
        self.check_shape(node, what, data.shape())?;
        let layer = g.node_name(feed).to_string();
        let out = g.layers[g.nodes[feed].layer]
            .layer
            .call_host(&data)
            .map_err(|reason| Error::LayerCall {
                layer: layer.clone(),
                reason,
            })?;
        let expected = &plan.shapes[feed];
        if out.shape().len() != expected.rank() + 1
            || out.shape().first() != data.shape().first()
            || &out.shape()[1..] != expected.dims()
        {
            return Err(Error::LayerCall {
                layer,
                reason: format!(
                    "gave {} for {} samples, not {}",
                    format_dims(out.shape()),
                    data.len(),
                    expected
                ),
            });
        }
        self.check_ids(feed, what, &|bad| out.find(bad))?;
        Ok(out)
    }

    /// Checks that `data` holds samples of the (first) input's shape.
    ///
    /// # Errors
    /// [`Error::DataShape`] naming the input layer and both shapes; [`Error::IdOutOfRange`]
    /// when the input feeds an Embedding and holds a value that is not one of its ids.
    pub fn check_input(&self, what: &str, data: &HostData) -> Result<()> {
        self.check_input_at(0, what, data)
    }

    /// As [`Model::check_input`], for input number `k`.
    ///
    /// # Errors
    /// As [`Model::check_input`].
    pub fn check_input_at(&self, k: usize, what: &str, data: &HostData) -> Result<()> {
        self.check_input_values(k, what, &data.dims, &|bad| {
            data.values
                .iter()
                .copied()
                .enumerate()
                .find(|(_, v)| bad(*v))
        })
    }

    /// As [`Model::check_input_at`] for an array in its own element type.
    ///
    /// # Errors
    /// As [`Model::check_input`].
    pub fn check_input_array(&self, k: usize, what: &str, data: &HostArray) -> Result<()> {
        self.check_input_values(k, what, data.shape(), &|bad| data.find(bad))
    }

    /// The checks of [`Model::check_input_at`] on a shape and a way to find the first value
    /// for which a predicate holds.
    fn check_input_values(
        &self,
        k: usize,
        what: &str,
        dims: &[usize],
        find: &FindValue<'_>,
    ) -> Result<()> {
        let g = &self.plan().graph;
        let Some(&node) = g.inputs.get(k) else {
            return Err(Error::InvalidModel(format!(
                "the model has {} inputs, not {}",
                g.inputs.len(),
                k + 1
            )));
        };
        self.check_shape(node, what, dims)?;
        self.check_ids(node, what, find)
    }

    /// Checks that data of shape `dims` holds samples of input node `node`'s shape.
    fn check_shape(&self, node: usize, what: &str, dims: &[usize]) -> Result<()> {
        let plan = self.plan();
        let expected = &plan.shapes[node];
        if dims.get(1..).unwrap_or(&[]) != expected.dims() || dims.is_empty() {
            return Err(Error::DataShape {
                what: what.to_string(),
                layer: plan.graph.node_name(node).to_string(),
                expected: expected.clone(),
                actual: format_dims(dims),
            });
        }
        Ok(())
    }

    /// Checks the values entering at node `node` against every layer that takes ids straight
    /// from it: each must be an id of its table (checked on the host, once, so a bad id is an
    /// error and not a failed gather).
    fn check_ids(&self, node: usize, what: &str, find: &FindValue<'_>) -> Result<()> {
        let g = &self.plan().graph;
        for consumer in g.nodes.iter().filter(|n| n.inputs.contains(&node)) {
            let spec = &g.layers[consumer.layer];
            let Some(input_dim) = spec.layer.id_limit() else {
                continue;
            };
            if let Some((index, value)) =
                find(&|v: f32| v.fract() != 0.0 || v < 0.0 || v as usize >= input_dim)
            {
                return Err(Error::IdOutOfRange {
                    what: what.to_string(),
                    layer: g.layer_name(consumer.layer).to_string(),
                    value,
                    index,
                    input_dim,
                });
            }
        }
        Ok(())
    }

    /// Predicts outputs for every sample of `x`, `batch_size` samples at a time (Keras's
    /// `model.predict`) for a single-input model; gives the first output. The data goes to the
    /// device once; outputs come back once.
    ///
    /// # Errors
    /// [`Error::DataShape`] when `x` does not match the input shape; [`Error::InvalidOption`]
    /// for a zero batch size.
    ///
    /// # Examples
    /// ```
    /// use kiln_model::{Dense, Input, Sequential};
    /// let model = Sequential::new().add(Input::new([3])).add(Dense::new(2)).seed(1)
    ///     .build(&burn::tensor::Device::flex())?;
    /// let y = model.predict(&ndarray::Array2::<f32>::ones((5, 3)), 32)?;
    /// assert_eq!(y.shape(), &[5, 2]);
    /// # Ok::<(), kiln_model::Error>(())
    /// ```
    pub fn predict(&self, x: &impl ArrayInput, batch_size: usize) -> Result<ArrayD<f32>> {
        let mut outputs = self.predict_many(&[x as &dyn ArrayInput], batch_size)?;
        if outputs.is_empty() {
            return Err(Error::InvalidModel("the model has no output".into()));
        }
        Ok(outputs.swap_remove(0))
    }

    /// Predicts every output for every sample, with one array per input in input order (Keras
    /// `model.predict([x1, x2])`); gives one array per output, in output order.
    ///
    /// # Errors
    /// As [`Model::predict`]; a wrong number of arrays, or arrays of different lengths.
    pub fn predict_many(
        &self,
        xs: &[&dyn ArrayInput],
        batch_size: usize,
    ) -> Result<Vec<ArrayD<f32>>> {
        if batch_size == 0 {
            return Err(Error::InvalidOption {
                layer: self.name().to_string(),
                option: "batch_size",
                reason: "must be at least 1".into(),
            });
        }
        let datas = self.prepare_inputs(xs)?;
        let n = datas.first().map_or(0, HostArray::len);
        if let Some(bad) = datas.iter().find(|d| d.len() != n) {
            return Err(Error::InvalidModel(format!(
                "the inputs hold different numbers of samples: {n} and {}",
                bad.len()
            )));
        }
        let model = self.valid();
        let device = model.device.clone().without_autodiff();
        let shapes = self.output_shapes();
        if n == 0 {
            return shapes
                .iter()
                .map(|s| {
                    ArrayD::from_shape_vec(s.with_batch(0), Vec::new())
                        .map_err(|e| Error::Readback(e.to_string()))
                })
                .collect();
        }
        let all = datas
            .into_iter()
            .map(|d| Samples::from_array(d, &device))
            .collect::<Result<Vec<_>>>()?;
        let mut outputs: Vec<Vec<Tensor<2>>> = vec![Vec::new(); shapes.len()];
        for start in (0..n).step_by(batch_size) {
            let end = (start + batch_size).min(n);
            let batch = all
                .iter()
                .map(|s| s.range(start, end - start))
                .collect::<Result<Vec<_>>>()?;
            for (k, y) in model.forward_many(batch, false)?.into_iter().enumerate() {
                outputs[k].push(y.flatten());
            }
        }
        outputs
            .into_iter()
            .zip(shapes)
            .map(|(parts, shape)| {
                let (_, values) = DynTensor::R2(Tensor::cat(parts, 0)).to_host()?;
                ArrayD::from_shape_vec(shape.with_batch(n), values)
                    .map_err(|e| Error::Readback(e.to_string()))
            })
            .collect()
    }

    /// Every weight with its layer, in Keras's `model.get_weights()` order: layer by layer
    /// (`model.layers` order), each layer's own weights then its sublayers'.
    fn variables(&self) -> Vec<(String, &Variable, Vec<usize>)> {
        let plan = self.plan();
        let mut out = Vec::new();
        for (i, (declared, vars)) in plan.weights.iter().zip(&self.vars).enumerate() {
            let layer = plan.graph.layer_name(i);
            for ((path, w), v) in declared.flat().into_iter().zip(vars) {
                out.push((format!("{layer}/{path}"), v, w.shape.clone()));
            }
        }
        out
    }

    /// The weights as host arrays, in Keras's `model.get_weights()` order (layer by layer;
    /// Dense: kernel `[in, units]`, bias `[units]`; Conv2D: kernel `[kh, kw, in, filters]`, bias).
    ///
    /// # Errors
    /// [`Error::Readback`] when a tensor cannot be read from the device.
    pub fn get_weights(&self) -> Result<Vec<ArrayD<f32>>> {
        self.variables()
            .into_iter()
            .map(|(_, v, shape)| {
                let data = v
                    .value(false)
                    .try_into_data()
                    .map_err(|e| Error::Readback(e.to_string()))?;
                to_array(data, shape)
            })
            .collect()
    }

    /// The weights' names in Keras style (`dense/kernel`, `dense/bias`; a nested model's as
    /// `encoder/dense/kernel`), in [`get_weights`](Model::get_weights) order.
    pub fn weight_names(&self) -> Vec<String> {
        self.variables().into_iter().map(|(n, _, _)| n).collect()
    }

    /// The parameters `fit` trains (Keras's `model.trainable_variables`: declared trainable,
    /// not frozen), with their shapes, in [`get_weights`](Model::get_weights) order: what an
    /// optimizer's per-variable state follows.
    pub fn trainable_params(&self) -> Vec<(burn::module::ParamId, Vec<usize>)> {
        self.trainable_variables()
            .into_iter()
            .map(|(id, shape, _)| (id, shape))
            .collect()
    }

    /// [`trainable_params`](Model::trainable_params) with each weight's Keras path
    /// (`dense/kernel`), as Keras's `model.trainable_variables` carry it.
    pub fn trainable_variables(&self) -> Vec<(burn::module::ParamId, Vec<usize>, String)> {
        self.variables()
            .into_iter()
            .zip(self.weight_trainable())
            .filter_map(|((path, v, shape), trained)| match v {
                Variable::Trainable(p) if trained => Some((p.id, shape, path)),
                _ => None,
            })
            .collect()
    }

    /// Each weight's shape, in [`get_weights`](Model::get_weights) order.
    pub fn weight_shapes(&self) -> Vec<Vec<usize>> {
        self.variables().into_iter().map(|(_, _, s)| s).collect()
    }

    /// Whether each weight was declared trainable (Keras's `add_weight(trainable=...)`; true
    /// for a frozen layer's kernel, false for moving statistics), in
    /// [`get_weights`](Model::get_weights) order.
    pub(crate) fn weight_declared_trainable(&self) -> Vec<bool> {
        self.plan()
            .weights
            .iter()
            .flat_map(|w| w.flat().into_iter().map(|(_, spec)| spec.trainable))
            .collect()
    }

    /// Whether each weight is trained by `fit`, in [`get_weights`](Model::get_weights) order
    /// (false for non-trainable state and for the weights of frozen layers).
    pub fn weight_trainable(&self) -> Vec<bool> {
        let plan = self.plan();
        let mut out = Vec::new();
        for (i, declared) in plan.weights.iter().enumerate() {
            let trainable = plan.graph.layers[i].trainable;
            collect_trainable(declared, trainable, &mut out);
        }
        out
    }

    /// Replaces the weights, given in [`get_weights`](Model::get_weights) order.
    ///
    /// # Errors
    /// [`Error::WeightMismatch`] naming the first weight whose shape differs, or a wrong count.
    pub fn set_weights(mut self, weights: &[ArrayD<f32>]) -> Result<Self> {
        let expected = self.variables();
        if expected.len() != weights.len() {
            return Err(Error::WeightMismatch {
                weight: format!("{} weights", expected.len()),
                expected: vec![expected.len()],
                actual: vec![weights.len()],
            });
        }
        // Check every shape before changing anything.
        for ((name, _, shape), w) in expected.iter().zip(weights) {
            if w.shape() != shape.as_slice() {
                return Err(Error::WeightMismatch {
                    weight: name.clone(),
                    expected: shape.clone(),
                    actual: w.shape().to_vec(),
                });
            }
        }
        drop(expected);
        let mut it = weights.iter();
        for vars in &mut self.vars {
            for v in vars.iter_mut() {
                if let Some(w) = it.next() {
                    v.set(w.iter().copied().collect());
                }
            }
        }
        Ok(self)
    }
}

fn collect_trainable(
    declared: &crate::layers::WeightBuilder,
    trainable: bool,
    out: &mut Vec<bool>,
) {
    let trainable = trainable && !declared.frozen;
    out.extend(declared.own.iter().map(|w| trainable && w.trainable));
    for (_, sub) in &declared.sublayers {
        collect_trainable(sub, trainable, out);
    }
}

fn single(mut outputs: Vec<DynTensor>) -> Result<DynTensor> {
    if outputs.len() != 1 {
        return Err(Error::InvalidModel(format!(
            "the model has {} outputs; use the `_many` form",
            outputs.len()
        )));
    }
    outputs
        .pop()
        .ok_or_else(|| Error::InvalidModel("the model has no output".into()))
}

fn to_host_array(y: DynTensor) -> Result<ArrayD<f32>> {
    let out_dims = y.dims();
    let (_, values) = DynTensor::R2(y.flatten()).to_host()?;
    ArrayD::from_shape_vec(out_dims, values).map_err(|e| Error::Readback(e.to_string()))
}

fn to_array(data: TensorData, shape: Vec<usize>) -> Result<ArrayD<f32>> {
    let values = data
        .convert::<f32>()
        .try_into_vec::<f32>()
        .map_err(|e| Error::Readback(format!("{e:?}")))?;
    ArrayD::from_shape_vec(shape, values).map_err(|e| Error::Readback(e.to_string()))
}
