//! `Sequential`: a stack of layers, a chain over the same graph as a Functional model.

use burn::tensor::Device;
use serde_json::Value;

use crate::config::{layer_from_value, take_seed};
use crate::error::{Error, Result};
use crate::functional::{Names, Nested, build_plan};
use crate::graph::{Graph, Node, Plan};
use crate::layers::{CustomObjects, LayerSpec};
use crate::model::{Model, ModelConfig};
use crate::shape::Shape;
use crate::summary::{LayerInfo, Summary};

/// A linear stack of layers, as Keras's `keras.Sequential`: the architecture, not yet weights.
///
/// Layers get Keras's automatic names when added (`dense`, `dense_1`, ...). [`build`] runs shape
/// inference over the whole stack, so a layer that cannot take its input is an error naming the
/// layer and both shapes, before any weight exists. Underneath it is a chain of the graph a
/// [`Functional`](crate::Functional) model is, with one forward pass, one weight walk and one
/// summary for both.
///
/// [`build`]: Sequential::build
///
/// # Examples
/// ```
/// use kiln_model::{Activation, Dense, Flatten, Input, Sequential};
///
/// let model = Sequential::new()
///     .add(Input::new([28, 28]))
///     .add(Flatten::new())
///     .add(Dense::new(128).activation(Activation::Relu))
///     .add(Dense::new(10).activation(Activation::Softmax))
///     .build(&burn::tensor::Device::flex())?;
/// assert_eq!(model.summary().total_params(), 101_770);
/// # Ok::<(), kiln_model::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Sequential {
    /// The model's name (Keras: `sequential`).
    pub name: String,
    /// The layers in order; the first is the [`Input`](crate::Input).
    pub layers: Vec<LayerSpec>,
    /// Seed for the weight initializers; `None` draws a fresh one at each `build`.
    pub seed: Option<u64>,
}

impl Default for Sequential {
    fn default() -> Self {
        Self::new()
    }
}

impl Sequential {
    /// An empty model named `sequential`.
    pub fn new() -> Self {
        Self {
            name: "sequential".into(),
            layers: Vec::new(),
            seed: None,
        }
    }

    /// Appends a layer, giving it Keras's automatic name when it has none.
    #[allow(clippy::should_implement_trait)]
    pub fn add(mut self, layer: impl Into<LayerSpec>) -> Self {
        let mut layer = layer.into();
        if layer.name.is_none() {
            let mut names = Names {
                taken: self.layers.iter().filter_map(|l| l.name.clone()).collect(),
            };
            layer.name = Some(names.fresh(&layer.base_name()));
        }
        self.layers.push(layer);
        self
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

    /// The architecture as Keras-shaped JSON (`{"name": .., "layers": [{"class_name": ..,
    /// "config": {..}}, ..]}`).
    ///
    /// # Errors
    /// [`Error::Config`] (serialization of these types does not fail in practice).
    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string_pretty(&self.to_value()).map_err(Error::Config)
    }

    pub(crate) fn to_value(&self) -> Value {
        let mut out = serde_json::json!({
            "name": self.name,
            "layers": self.layers.iter().map(LayerSpec::to_value).collect::<Vec<_>>(),
        });
        if let Some(seed) = self.seed {
            out["seed"] = seed.into();
        }
        out
    }

    /// Reads an architecture from JSON: Kiln's own (`to_json`) or Keras's `model.get_config()`
    /// for the layers Kiln has (unknown Keras keys are ignored).
    ///
    /// # Errors
    /// [`Error::Config`] naming what could not be read (an unknown layer class, a bad value).
    pub fn from_config(json: &str) -> Result<Self> {
        Self::from_config_with(json, &CustomObjects::new())
    }

    /// As [`from_config`](Sequential::from_config), building the layers whose class name is
    /// registered in `custom` with their constructors (Keras's `custom_objects`).
    ///
    /// # Errors
    /// As `from_config`; [`Error::InvalidModel`] when a custom constructor rejects its config.
    pub fn from_config_with(json: &str, custom: &CustomObjects) -> Result<Self> {
        let value: Value = serde_json::from_str(json).map_err(Error::Config)?;
        Self::from_value(&value, custom)
    }

    pub(crate) fn from_value(value: &Value, custom: &CustomObjects) -> Result<Self> {
        // Keras writes `{"class_name": "Sequential", "config": {...}}` around it.
        let config = value
            .get("config")
            .filter(|_| value.get("layers").is_none());
        let config = config.unwrap_or(value);
        let layers = config
            .get("layers")
            .and_then(Value::as_array)
            .ok_or_else(|| Error::InvalidModel("a Sequential config needs `layers`".into()))?;
        let mut model = Sequential::new();
        if let Some(name) = config.get("name").and_then(Value::as_str) {
            model.name = name.to_string();
        }
        model.seed = take_seed(config)?;
        for layer in layers {
            model = model.add(layer_from_value(layer, custom)?);
        }
        Ok(model)
    }

    /// The chain: the `Input`, then each layer on the one before.
    fn graph(&self) -> Result<Graph> {
        let Some(first) = self
            .layers
            .first()
            .filter(|l| l.class_name() == "InputLayer")
        else {
            return Err(Error::InvalidModel(
                "the first layer must be an `Input` giving the sample shape \
                 (Keras: `keras.Input(shape=...)`), so shapes are known when the model is built"
                    .into(),
            ));
        };
        if self.layers.len() < 2 {
            return Err(Error::InvalidModel(
                "the model has no layer after its Input".into(),
            ));
        }
        let mut names = Names::default();
        for layer in &self.layers {
            let name = layer.name.clone().unwrap_or_default();
            if !names.taken.insert(name.clone()) {
                return Err(Error::DuplicateName { name });
            }
        }
        let _ = first;
        let mut nodes = vec![Node::call(0, Vec::new())];
        for (i, layer) in self.layers.iter().enumerate().skip(1) {
            if layer.class_name() == "InputLayer" {
                return Err(Error::InvalidModel(format!(
                    "`{}` is an Input but not the first layer",
                    layer.name.as_deref().unwrap_or("input_layer")
                )));
            }
            nodes.push(Node::call(i, vec![i - 1]));
        }
        Ok(Graph {
            layers: self.layers.clone(),
            inputs: vec![0],
            outputs: vec![nodes.len() - 1],
            nodes,
        })
    }

    /// Infers every layer's output shape and declares its weights.
    ///
    /// # Errors
    /// [`Error::InvalidModel`] when the first layer is not an `Input` (or a later one is);
    /// [`Error::IncompatibleShape`] naming the first layer that cannot take its input.
    pub(crate) fn plan(&self) -> Result<Plan> {
        let plan = self.graph()?.plan()?;
        // Keras: "All layers in a Sequential model should have a single output tensor".
        if let Some(i) = plan.multi.iter().position(|&m| m) {
            return Err(Error::InvalidModel(format!(
                "`{}` gives several outputs (e.g. return_state); a Sequential's layers give one, \
                 as in Keras: use a Functional model and `apply_outputs`",
                plan.graph.node_name(i)
            )));
        }
        Ok(plan)
    }

    /// Infers every layer's output shape: `(input shape, rows for the summary)`.
    ///
    /// # Errors
    /// As [`Sequential::build`].
    pub fn infer_shapes(&self) -> Result<(Shape, Vec<LayerInfo>)> {
        let plan = self.plan()?;
        let summary = crate::summary::sequential_summary(&self.name, &plan);
        Ok((plan.shapes[0].clone(), summary.layers))
    }

    /// Keras's summary table, before building.
    ///
    /// # Errors
    /// As [`Sequential::build`].
    pub fn summary(&self) -> Result<Summary> {
        Ok(crate::summary::sequential_summary(
            &self.name,
            &self.plan()?,
        ))
    }

    /// Checks the shapes, then creates the weights on `device` (Keras initializers, drawn on the
    /// host from the seed).
    ///
    /// # Errors
    /// [`Error::InvalidModel`] when the first layer is not an `Input` (or a later one is);
    /// [`Error::IncompatibleShape`] naming the first layer that cannot take its input.
    pub fn build(&self, device: &Device) -> Result<Model> {
        let plan = self.plan()?;
        Ok(build_plan(
            &plan,
            self.seed,
            ModelConfig::Sequential(self.clone()),
            device,
        ))
    }
}

/// A Sequential model used as a layer of another model (named as the model): its layers
/// become sublayers, its weights are named `model/layer/weight`.
impl From<Sequential> for LayerSpec {
    fn from(model: Sequential) -> Self {
        let plan = model.plan().map_err(|e| e.to_string());
        let name = model.name.clone();
        LayerSpec::new(Nested {
            config: ModelConfig::Sequential(model),
            plan,
        })
        .name(name)
    }
}
