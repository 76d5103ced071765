//! User-defined layers: the [`CustomLayer`] trait, its spec in a `Sequential`, and the built
//! module that owns its weights.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use burn::module::{Module, Param};
use burn::tensor::{Device, Tensor, TensorData};
use rand::rngs::StdRng;
use serde_json::Value;

use crate::initializer::Initializer;
use crate::shape::Shape;
use crate::tensor::DynTensor;

/// A layer written by the user, which goes into a `Sequential` like a stock one: its shapes
/// are inferred at `build`, its weights are burn parameters that `fit` trains, `summary` counts,
/// `get_weights`/`save_weights` include (as `layer_name/weight_name`), and its config is part of
/// the model's JSON. Keras's `keras.layers.Layer` subclass with `build`/`call`/`get_config`.
///
/// Register a constructor in [`CustomObjects`] to read it back from a config or a model file.
///
/// # Examples
/// ```
/// use burn::tensor::Tensor;
/// use kiln_model::{
///     CustomLayer, CustomWeights, DynTensor, Initializer, Input, Sequential, Shape, WeightSpec,
/// };
///
/// /// `x · w` then scaled by a learned scalar: a Keras-guide style `Linear` layer.
/// #[derive(Debug)]
/// struct ScaledLinear { units: usize }
///
/// impl CustomLayer for ScaledLinear {
///     fn class_name(&self) -> &str { "ScaledLinear" }
///     fn config(&self) -> serde_json::Value { serde_json::json!({ "units": self.units }) }
///     fn output_shape(&self, input: &Shape) -> Result<Shape, String> {
///         match input.dims() {
///             [_features] => Ok(Shape(vec![self.units])),
///             _ => Err(format!("ScaledLinear needs (None, features), got {input}")),
///         }
///     }
///     fn weights(&self, input: &Shape) -> Vec<WeightSpec> {
///         let features = input.dims()[0];
///         vec![
///             WeightSpec::new("w", [features, self.units], Initializer::GlorotUniform),
///             WeightSpec::new("scale", [1], Initializer::Ones),
///         ]
///     }
///     fn forward(&self, x: DynTensor, w: &CustomWeights, _training: bool)
///         -> Result<DynTensor, String> {
///         let DynTensor::R2(x) = x else { return Err("expected a matrix".into()) };
///         let (kernel, scale) = (w.get::<2>("w")?, w.get::<1>("scale")?);
///         Ok(DynTensor::R2(x.matmul(kernel) * scale.reshape([1, 1])))
///     }
/// }
///
/// let model = Sequential::new()
///     .add(Input::new([3]))
///     .add(ScaledLinear { units: 2 })
///     .build(&burn::tensor::Device::flex())?;
/// assert_eq!(model.count_params(), 3 * 2 + 1);
/// assert_eq!(model.weight_names(), ["scaled_linear/w", "scaled_linear/scale"]);
/// # Ok::<(), kiln_model::Error>(())
/// ```
pub trait CustomLayer: fmt::Debug + Send + Sync + 'static {
    /// The class name in the summary and in the config (`"ScaledLinear"`); the automatic layer
    /// names are its snake case (`scaled_linear`, `scaled_linear_1`, ...).
    fn class_name(&self) -> &str;

    /// The layer's options, written into the architecture JSON (Keras `get_config`); the
    /// constructor registered in [`CustomObjects`] reads them back. The `name` key is Kiln's.
    fn config(&self) -> Value {
        Value::Object(serde_json::Map::new())
    }

    /// The shape of one output sample for one input sample (batch axis excluded), or why the
    /// input does not fit; `build` reports the reason with the layer's name and both shapes.
    ///
    /// # Errors
    /// The reason the input shape does not fit.
    fn output_shape(&self, input: &Shape) -> Result<Shape, String>;

    /// The weights to create for this input shape, in `get_weights` order (Keras `build`).
    fn weights(&self, _input: &Shape) -> Vec<WeightSpec> {
        Vec::new()
    }

    /// The forward pass on a batch; `training` is true inside `fit` (Keras `call`).
    ///
    /// # Errors
    /// A message for an input the layer cannot take (reported naming the layer).
    fn forward(
        &self,
        x: DynTensor,
        weights: &CustomWeights<'_>,
        training: bool,
    ) -> Result<DynTensor, String>;
}

/// One weight of a [`CustomLayer`]: its name, shape and initializer (all are trainable).
#[derive(Debug, Clone, PartialEq)]
pub struct WeightSpec {
    /// Short name (`"kernel"`); the full name is `layer_name/kernel`.
    pub name: String,
    /// Shape.
    pub shape: Vec<usize>,
    /// How it is filled at `build` (drawn on the host from the model's seed).
    pub initializer: Initializer,
}

impl WeightSpec {
    /// A weight named `name` of `shape`, filled by `initializer`.
    pub fn new(
        name: impl Into<String>,
        shape: impl Into<Vec<usize>>,
        initializer: Initializer,
    ) -> Self {
        Self {
            name: name.into(),
            shape: shape.into(),
            initializer,
        }
    }

    /// Keras's fans: `(shape[0], shape[1])` for a matrix, receptive field times the last two
    /// axes for a kernel of more, the size for a vector.
    fn fans(&self) -> (usize, usize) {
        match self.shape.as_slice() {
            [] => (1, 1),
            [n] => (*n, *n),
            [a, b] => (*a, *b),
            [rest @ .., i, o] => {
                let receptive: usize = rest.iter().product();
                (receptive * i, receptive * o)
            }
        }
    }
}

/// The weights of a built custom layer, by name, as burn tensors of the shapes the layer asked
/// for (gradients flow through them).
#[derive(Debug)]
pub struct CustomWeights<'a> {
    module: &'a CustomModule,
}

impl CustomWeights<'_> {
    /// The weight `name` as a rank-`D` tensor.
    ///
    /// # Errors
    /// A message naming the weight when there is none of that name or its rank is not `D`.
    pub fn get<const D: usize>(&self, name: &str) -> Result<Tensor<D>, String> {
        let (i, shape) = self
            .module
            .shapes
            .iter()
            .enumerate()
            .find_map(|(i, (n, s))| (n == name).then_some((i, s)))
            .ok_or_else(|| format!("no weight named `{name}`"))?;
        let dims: [usize; D] = shape.as_slice().try_into().map_err(|_| {
            format!(
                "weight `{name}` has rank {}, asked for rank {D}",
                shape.len()
            )
        })?;
        Ok(self.module.weights[i].val().reshape(dims))
    }
}

/// A custom layer in a `Sequential`: the user's object and the name Kiln gives it. Serializes
/// as `{"class_name": <its class name>, "config": {"name": .., <its config>}}`.
#[derive(Clone)]
pub struct CustomSpec {
    /// The layer's name (`None` until `add` gives it one).
    pub name: Option<String>,
    /// The user's layer.
    pub layer: Arc<dyn CustomLayer>,
}

impl fmt::Debug for CustomSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CustomSpec")
            .field("name", &self.name)
            .field("layer", &self.layer)
            .finish()
    }
}

impl PartialEq for CustomSpec {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
            && self.layer.class_name() == other.layer.class_name()
            && self.layer.config() == other.layer.config()
    }
}

impl CustomSpec {
    /// Wraps a user's layer.
    pub fn new(layer: impl CustomLayer) -> Self {
        Self {
            name: None,
            layer: Arc::new(layer),
        }
    }

    /// Keras's automatic name stem: the class name in snake case (`ScaledLinear` →
    /// `scaled_linear`).
    pub(crate) fn base_name(&self) -> String {
        let mut out = String::new();
        for (i, c) in self.layer.class_name().chars().enumerate() {
            if c.is_uppercase() {
                if i > 0 {
                    out.push('_');
                }
                out.extend(c.to_lowercase());
            } else {
                out.push(c);
            }
        }
        out
    }

    /// `{"class_name": .., "config": {"name": .., ..}}`.
    pub(crate) fn to_value(&self) -> Value {
        let mut config = match self.layer.config() {
            Value::Object(map) => map,
            other => {
                let mut map = serde_json::Map::new();
                map.insert("value".into(), other);
                map
            }
        };
        if let Some(name) = &self.name {
            config.insert("name".into(), Value::String(name.clone()));
        }
        serde_json::json!({ "class_name": self.layer.class_name(), "config": config })
    }

    pub(crate) fn param_count(&self, input: &Shape) -> usize {
        self.layer
            .weights(input)
            .iter()
            .map(|w| w.shape.iter().product::<usize>())
            .sum()
    }

    pub(crate) fn build(&self, input: &Shape, rng: &mut StdRng, device: &Device) -> CustomModule {
        let specs = self.layer.weights(input);
        let weights = specs
            .iter()
            .map(|w| {
                let n = w.shape.iter().product();
                let (fan_in, fan_out) = w.fans();
                let values = w.initializer.sample(n, fan_in, fan_out, rng);
                Param::from_tensor(Tensor::<1>::from_data(TensorData::new(values, [n]), device))
            })
            .collect();
        CustomModule {
            weights,
            shapes: specs.into_iter().map(|w| (w.name, w.shape)).collect(),
            layer: CustomHandle(self.layer.clone()),
        }
    }
}

/// The user's layer inside a built module (skipped by burn's module machinery).
#[derive(Clone)]
pub(crate) struct CustomHandle(pub(crate) Arc<dyn CustomLayer>);

impl fmt::Debug for CustomHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A built custom layer: its weights as flat burn parameters (one per [`WeightSpec`]), reshaped
/// to their shapes when the layer reads them.
#[derive(Module, Debug)]
pub struct CustomModule {
    /// The weights, flattened, in [`CustomLayer::weights`] order.
    pub weights: Vec<Param<Tensor<1>>>,
    /// Each weight's name and shape.
    #[module(skip)]
    pub shapes: Vec<(String, Vec<usize>)>,
    #[module(skip)]
    layer: CustomHandle,
}

impl CustomModule {
    /// Runs the user's forward pass.
    ///
    /// # Errors
    /// The layer's own message.
    pub fn forward(&self, x: DynTensor, training: bool) -> Result<DynTensor, String> {
        self.layer
            .0
            .forward(x, &CustomWeights { module: self }, training)
    }

    /// The user's layer.
    pub fn layer(&self) -> &dyn CustomLayer {
        self.layer.0.as_ref()
    }
}

/// Constructors of custom layers by class name, for reading them back from JSON or a model file
/// (Keras's `custom_objects`).
///
/// # Examples
/// ```
/// # use kiln_model::{CustomLayer, CustomObjects, CustomWeights, DynTensor, Shape};
/// # #[derive(Debug)] struct Identity;
/// # impl CustomLayer for Identity {
/// #     fn class_name(&self) -> &str { "Identity" }
/// #     fn output_shape(&self, s: &Shape) -> Result<Shape, String> { Ok(s.clone()) }
/// #     fn forward(&self, x: DynTensor, _: &CustomWeights, _: bool) -> Result<DynTensor, String> { Ok(x) }
/// # }
/// let custom = CustomObjects::new().register("Identity", |_config| Ok(Identity));
/// assert!(custom.contains("Identity"));
/// ```
#[derive(Default, Clone)]
pub struct CustomObjects {
    constructors: HashMap<String, Constructor>,
}

type Constructor = Arc<dyn Fn(&Value) -> Result<Arc<dyn CustomLayer>, String> + Send + Sync>;

impl fmt::Debug for CustomObjects {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.constructors.keys()).finish()
    }
}

impl CustomObjects {
    /// No custom layers.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers the constructor of `class_name`, called with the layer's config object.
    pub fn register<L: CustomLayer>(
        mut self,
        class_name: impl Into<String>,
        constructor: impl Fn(&Value) -> Result<L, String> + Send + Sync + 'static,
    ) -> Self {
        let f: Constructor = Arc::new(move |config| {
            constructor(config).map(|l| Arc::new(l) as Arc<dyn CustomLayer>)
        });
        self.constructors.insert(class_name.into(), f);
        self
    }

    /// Whether `class_name` is registered.
    pub fn contains(&self, class_name: &str) -> bool {
        self.constructors.contains_key(class_name)
    }

    /// Builds the spec of a registered class from its config, or `None` when not registered.
    pub(crate) fn make(
        &self,
        class_name: &str,
        config: &Value,
    ) -> Option<Result<CustomSpec, String>> {
        let constructor = self.constructors.get(class_name)?;
        Some(constructor(config).map(|layer| {
            CustomSpec {
                name: config
                    .get("name")
                    .and_then(Value::as_str)
                    .map(str::to_string),
                layer,
            }
        }))
    }
}
