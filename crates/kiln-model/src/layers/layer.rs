//! The one interface every layer implements, built-in or the user's: [`Layer`] (Keras's
//! `keras.layers.Layer`), and [`LayerSpec`], a layer object in a model.

use std::fmt;
use std::sync::Arc;

use serde_json::Value;

use super::weights::{WeightBuilder, Weights};
use crate::activation::Activation;
use crate::shape::Shape;
use crate::tensor::DynTensor;

/// A mask over the steps of a batch of sequences, `[batch, steps]`: 1 where a step is real, 0
/// where it is padding (Keras's boolean `_keras_mask`, as floats so that it multiplies). Made by
/// [`Masking`](crate::Masking) and `Embedding(mask_zero)`, carried along the graph by the layers
/// that keep it, and used by the recurrent layers, attention, `GlobalAveragePooling1D` and the
/// loss.
pub type Mask = burn::tensor::Tensor<2>;

/// How a layer treats the masks of its inputs (Keras's `supports_masking` and
/// `compute_mask`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaskPolicy {
    /// It ignores them and its output has none (Keras's layers without `supports_masking`:
    /// `Flatten`, `Conv1D`, `GlobalMaxPooling1D`, ...; Keras warns that the mask is lost).
    Drop,
    /// Its output carries its first input's mask, its call unaffected (`Dense`, activations,
    /// dropout, normalization).
    Keep,
    /// It reads or makes masks itself: [`Layer::output_masked`] and [`Layer::call_masked`].
    Own,
}

/// A layer: Keras's `keras.layers.Layer` with `compute_output_shape`/`build`/`call`/`get_config`.
/// Every built-in layer implements it in its own file, and so can yours: its shapes are inferred
/// when the model is built, its weights are burn parameters that `fit` trains, `summary` counts
/// and `get_weights`/`save_weights` include (as `layer_name/weight_name`), and its config is part
/// of the model's JSON. A layer takes one or several inputs (`inputs` has one entry per tensor
/// it is called on), may hold sublayers ([`WeightBuilder::add_sublayer`]) and non-trainable
/// state ([`WeightSpec::non_trainable`](crate::WeightSpec::non_trainable)).
///
/// Register a constructor in [`CustomObjects`](crate::CustomObjects) to read your layer back
/// from a config or a model file.
///
/// # Examples
/// ```
/// use burn::tensor::Tensor;
/// use kiln_model::{
///     DynTensor, Initializer, Input, Layer, Sequential, Shape, WeightBuilder, WeightSpec,
///     Weights, only,
/// };
///
/// /// `x · w` then scaled by a learned scalar: a Keras-guide style `Linear` layer.
/// #[derive(Debug)]
/// struct ScaledLinear { units: usize }
///
/// impl Layer for ScaledLinear {
///     fn class_name(&self) -> &str { "ScaledLinear" }
///     fn config(&self) -> serde_json::Value { serde_json::json!({ "units": self.units }) }
///     fn output_shape(&self, inputs: &[Shape]) -> Result<Shape, String> {
///         match only(inputs)?.dims() {
///             [_features] => Ok(Shape(vec![self.units])),
///             _ => Err("ScaledLinear needs (None, features)".into()),
///         }
///     }
///     fn build(&self, inputs: &[Shape], w: &mut WeightBuilder) -> Result<(), String> {
///         let features = only(inputs)?.dims()[0];
///         w.add_weight(WeightSpec::new("w", [features, self.units], Initializer::GlorotUniform))?;
///         w.add_weight(WeightSpec::new("scale", [1], Initializer::Ones))?;
///         Ok(())
///     }
///     fn call(&self, inputs: Vec<DynTensor>, w: &Weights, _training: bool)
///         -> Result<DynTensor, String> {
///         let DynTensor::R2(x) = only(inputs)? else { return Err("expected a matrix".into()) };
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
#[doc(alias = "CustomLayer")]
pub trait Layer: fmt::Debug + Send + Sync + 'static {
    /// The class name in the summary and in the config (`"Dense"`); the automatic layer names
    /// are its snake case (`dense`, `dense_1`, ...).
    fn class_name(&self) -> &str;

    /// The class name `summary` shows: Keras's Python class, which for a few layers differs
    /// from the name in configs (`GroupedQueryAttention`, saved as `GroupQueryAttention`).
    fn summary_class_name(&self) -> &str {
        self.class_name()
    }

    /// The layer's options, written into the architecture JSON (Keras `get_config`, without
    /// `name` and `trainable`, which Kiln adds); the constructor registered for the class reads
    /// them back.
    fn config(&self) -> Value {
        Value::Object(serde_json::Map::new())
    }

    /// The shape of one output sample for the shapes of one sample of each input (batch axis
    /// excluded), or why the inputs do not fit; building the model reports the reason with the
    /// layer's name and the shapes.
    ///
    /// # Errors
    /// The reason the inputs do not fit.
    fn output_shape(&self, inputs: &[Shape]) -> Result<Shape, String>;

    /// Declares the weights for these input shapes (Keras `build` with `add_weight`).
    ///
    /// # Errors
    /// The reason the weights cannot be made (a size too large).
    fn build(&self, _inputs: &[Shape], _weights: &mut WeightBuilder) -> Result<(), String> {
        Ok(())
    }

    /// The forward pass on a batch of each input; `training` is true inside `fit` (Keras `call`).
    ///
    /// # Errors
    /// A message for an input the layer cannot take (reported naming the layer).
    fn call(
        &self,
        inputs: Vec<DynTensor>,
        weights: &Weights<'_>,
        training: bool,
    ) -> Result<DynTensor, String>;

    /// The forward pass without the layer's final activation, and that activation, so a loss
    /// can fuse it (softmax + cross-entropy as log-softmax, as Keras does). The default runs
    /// [`call`](Layer::call) and returns `Linear`.
    ///
    /// # Errors
    /// As [`call`](Layer::call).
    fn call_pre_activation(
        &self,
        inputs: Vec<DynTensor>,
        weights: &Weights<'_>,
        training: bool,
    ) -> Result<(DynTensor, Activation), String> {
        Ok((self.call(inputs, weights, training)?, Activation::Linear))
    }

    /// For a layer whose input holds integer ids into a table (Embedding): the table size, so
    /// data fed straight into it is checked on the host (a bad id is an error, not a failed
    /// gather on the device).
    fn id_limit(&self) -> Option<usize> {
        None
    }

    /// Where Keras's weights file (`model.weights.h5` in a `.keras` file, or a `.weights.h5`)
    /// keeps this layer's own weights, relative to the layer's group: `vars` for most layers
    /// (`layers/dense/vars/0` is the kernel, `.../1` the bias: trainable weights first, each in
    /// the order `build` declared them); a recurrent layer keeps them in its cell
    /// (`cell/vars`). Sublayers follow under their names.
    fn keras_vars_path(&self) -> &str {
        "vars"
    }

    /// How Keras calls this layer on several inputs, for the config Kiln writes: on one list
    /// (`Add()([a, b])`, the default) or on separate arguments
    /// (`MultiHeadAttention(...)(query, value)`).
    fn inputs_as_list(&self) -> bool {
        true
    }

    /// Whether the layer runs on the host, on the data fed to the model, before any device
    /// layer (Keras's string layers: `TextVectorization`, `StringLookup`, `IntegerLookup`,
    /// `Hashing`). Such a layer is called directly on an [`Input`](crate::Input) that feeds
    /// nothing else; `fit`, `evaluate` and `predict` run [`call_host`](Layer::call_host) on
    /// each input array (or batch) and send its numeric output to the device.
    fn runs_on_host(&self) -> bool {
        false
    }

    /// The forward pass of a layer that [runs on the host](Layer::runs_on_host), on a batch
    /// of its input in its own element type (strings included).
    ///
    /// # Errors
    /// A message for an input the layer cannot take; the default, for device layers.
    fn call_host(
        &self,
        _input: &kiln_datasets::HostArray,
    ) -> Result<kiln_datasets::HostArray, String> {
        Err(format!(
            "{} runs on the device, not on host arrays",
            self.class_name()
        ))
    }

    /// How the layer treats masks (default: [`MaskPolicy::Drop`], as a Keras layer without
    /// `supports_masking`).
    fn mask_policy(&self) -> MaskPolicy {
        MaskPolicy::Drop
    }

    /// For a layer whose policy is [`MaskPolicy::Own`]: whether its output carries a mask,
    /// given its inputs' shapes and which of them carry one (checked when the model is built).
    ///
    /// # Errors
    /// Why the layer cannot take or make these masks.
    fn output_masked(&self, _inputs: &[Shape], _masked: &[bool]) -> Result<bool, String> {
        Ok(false)
    }

    /// The forward pass with the inputs' masks (`None` for an input without one), giving the
    /// output and its mask, for a layer whose policy is [`MaskPolicy::Own`]; the model calls it
    /// instead of [`call`](Layer::call) where a mask is present or made. The default ignores
    /// the masks.
    ///
    /// # Errors
    /// As [`call`](Layer::call).
    fn call_masked(
        &self,
        inputs: Vec<DynTensor>,
        _masks: &[Option<Mask>],
        weights: &Weights<'_>,
        training: bool,
    ) -> Result<(DynTensor, Option<Mask>), String> {
        Ok((self.call(inputs, weights, training)?, None))
    }

    /// For a layer whose later inputs Keras passes by keyword (`LSTM(..)(x, initial_state=[h,
    /// c])`, `MultiHeadAttention(..)(q, v, key=k, attention_mask=m)`), called on `inputs`
    /// tensors: how many come first by position, and the keyword of each of the rest (a
    /// keyword named more than once is a list), for the config Kiln writes.
    fn keyword_inputs(&self, _inputs: usize) -> Option<(usize, Vec<&'static str>)> {
        None
    }

    /// The layer for calls in a Keras config that pass tensors by these keywords, and the
    /// order in which those tensors follow the positional inputs. The default takes none.
    ///
    /// # Errors
    /// A keyword the layer does not take.
    fn with_keyword_inputs(
        &self,
        keywords: &[String],
    ) -> Result<(Arc<dyn Layer>, Vec<String>), String> {
        Err(format!(
            "a call passes tensors as `{}=`, which Kiln does not support for this layer yet",
            keywords.join("=`, `")
        ))
    }

    /// Keyword arguments Keras passes when it calls the layer (`use_causal_mask=True`), which
    /// Kiln keeps as layer options: written to each of the layer's nodes in a config
    /// (`"kwargs"`), not to the layer's own config.
    fn call_options(&self) -> serde_json::Map<String, Value> {
        serde_json::Map::new()
    }

    /// The layer with the keyword arguments of its calls in a Keras config (every call the
    /// same), or why it cannot take them. The default takes none.
    ///
    /// # Errors
    /// An argument the layer does not take.
    fn with_call_options(
        &self,
        options: &serde_json::Map<String, Value>,
    ) -> Result<Arc<dyn Layer>, String> {
        let keys: Vec<String> = options.iter().map(|(k, v)| format!("{k}={v}")).collect();
        Err(format!(
            "a call with `{}` is not supported by Kiln yet",
            keys.join(", ")
        ))
    }

    /// The shape of every output of a layer that gives several (Keras's list outputs:
    /// `LSTM(return_state=True)`, `MultiHeadAttention(..)(.., return_attention_scores=True)`),
    /// the first being [`output_shape`](Layer::output_shape)'s; `None` (the default) for one
    /// output. Such a layer is applied with `apply_outputs`.
    ///
    /// # Errors
    /// As [`output_shape`](Layer::output_shape).
    fn output_shapes(&self, _inputs: &[Shape]) -> Result<Option<Vec<Shape>>, String> {
        Ok(None)
    }

    /// The outputs of a layer that gives several, in order, and the first one's mask. The
    /// default gives [`call_masked`](Layer::call_masked)'s (or [`call`](Layer::call)'s) one.
    ///
    /// # Errors
    /// As [`call`](Layer::call).
    fn call_outputs(
        &self,
        inputs: Vec<DynTensor>,
        masks: &[Option<Mask>],
        weights: &Weights<'_>,
        training: bool,
    ) -> Result<(Vec<DynTensor>, Option<Mask>), String> {
        let (y, mask) = if self.mask_policy() == MaskPolicy::Own {
            self.call_masked(inputs, masks, weights, training)?
        } else {
            (self.call(inputs, weights, training)?, None)
        };
        Ok((vec![y], mask))
    }

    /// Whether the layer can be written to a config (Keras's `get_config`); `Lambda`'s closure
    /// cannot. Models check every layer, nested ones included, before saving.
    ///
    /// # Errors
    /// Why it cannot be saved.
    fn saveable(&self) -> Result<(), String> {
        Ok(())
    }

    /// The automatic name stem: the class name in snake case (`ScaledLinear` →
    /// `scaled_linear`, `Conv2D` → `conv2d`).
    fn base_name(&self) -> String {
        snake_case(self.class_name())
    }
}

/// Keras's `to_snake_case` for class names: `MaxPooling2D` → `max_pooling2d`.
pub(crate) fn snake_case(class: &str) -> String {
    let mut out = String::new();
    let chars: Vec<char> = class.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if c.is_uppercase() {
            let prev = i.checked_sub(1).map(|j| chars[j]);
            let next = chars.get(i + 1);
            // A new word starts at an upper-case letter after a lower-case one, or before a
            // lower-case one (`LSTMCell` → `lstm_cell`); digits stay with their word (`2D`).
            let starts = match prev {
                None => false,
                Some(p) if p.is_lowercase() => true,
                Some(p) if p.is_ascii_digit() => false,
                Some(_) => next.is_some_and(|n| n.is_lowercase()),
            };
            if starts {
                out.push('_');
            }
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// The single input of a one-input layer.
///
/// # Errors
/// When the layer was called on several tensors.
pub fn only<T>(inputs: impl IntoOnly<T>) -> Result<T, String> {
    inputs.into_only()
}

/// What [`only`] takes: a slice of shapes or a vector of tensors.
pub trait IntoOnly<T> {
    /// The single element.
    ///
    /// # Errors
    /// When there is not exactly one.
    fn into_only(self) -> Result<T, String>;
}

impl<'a, T> IntoOnly<&'a T> for &'a [T] {
    fn into_only(self) -> Result<&'a T, String> {
        match self {
            [one] => Ok(one),
            other => Err(format!("takes one input, got {}", other.len())),
        }
    }
}

impl<T> IntoOnly<T> for Vec<T> {
    fn into_only(mut self) -> Result<T, String> {
        match self.len() {
            1 => self.pop().ok_or_else(|| "takes one input, got 0".into()),
            n => Err(format!("takes one input, got {n}")),
        }
    }
}

/// A layer object in a model: the layer, its name and whether it is trainable. Cloning keeps
/// the identity, so a spec used at two places of a Functional model is one layer with one set
/// of weights (Keras's shared layer). Serializes as `{"class_name": .., "config": {"name": ..,
/// "trainable": .., <its config>}}`.
#[derive(Clone)]
pub struct LayerSpec {
    pub(crate) layer: Arc<dyn Layer>,
    pub(crate) name: Option<String>,
    pub(crate) trainable: bool,
    /// Keras's `activity_regularizer`: a penalty on the layer's output, over the batch size,
    /// added to the loss.
    pub(crate) activity_regularizer: Option<crate::regularizer::Regularizer>,
    /// Identity of the layer object (shared layers are one object).
    pub(crate) id: usize,
}

impl fmt::Debug for LayerSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LayerSpec")
            .field("name", &self.name)
            .field("trainable", &self.trainable)
            .field("layer", &self.layer)
            .finish()
    }
}

impl PartialEq for LayerSpec {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
            && self.trainable == other.trainable
            && self.activity_regularizer == other.activity_regularizer
            && self.layer.class_name() == other.layer.class_name()
            && self.layer.config() == other.layer.config()
    }
}

fn next_id() -> usize {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static NEXT: AtomicUsize = AtomicUsize::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

impl<L: Layer> From<L> for LayerSpec {
    fn from(layer: L) -> Self {
        LayerSpec::from_arc(Arc::new(layer))
    }
}

impl LayerSpec {
    /// Wraps a layer (a fresh layer object, unnamed and trainable).
    pub fn new(layer: impl Layer) -> Self {
        layer.into()
    }

    pub(crate) fn from_arc(layer: Arc<dyn Layer>) -> Self {
        Self {
            layer,
            name: None,
            trainable: true,
            activity_regularizer: None,
            id: next_id(),
        }
    }

    /// Names the layer (Keras's `name=`); layers left unnamed get Keras's automatic names
    /// (`dense`, `dense_1`, ...) when the model is made.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Freezes or unfreezes the layer (Keras `layer.trainable = False`): a frozen layer's
    /// weights get no updates in `fit`, `summary` counts them as non-trainable, and a frozen
    /// BatchNormalization runs in inference mode.
    pub fn trainable(mut self, trainable: bool) -> Self {
        self.trainable = trainable;
        self
    }

    /// Penalizes the layer's output (Keras's `activity_regularizer=`): `fit` adds the
    /// regularizer of each output batch, divided by the batch size (as Keras 3), to the loss.
    pub fn activity_regularizer(mut self, regularizer: crate::regularizer::Regularizer) -> Self {
        self.activity_regularizer = Some(regularizer);
        self
    }

    /// The layer's name, once given or assigned.
    pub fn layer_name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// Whether the layer is trainable.
    pub fn is_trainable(&self) -> bool {
        self.trainable
    }

    /// Keras's class name (`"Dense"`).
    pub fn class_name(&self) -> &str {
        self.layer.class_name()
    }

    /// The layer.
    pub fn layer(&self) -> &dyn Layer {
        self.layer.as_ref()
    }

    /// The automatic name stem (`dense`).
    pub fn base_name(&self) -> String {
        self.layer.base_name()
    }

    /// `{"class_name": .., "config": {"name": .., "trainable": .., ..}}`.
    pub(crate) fn to_value(&self) -> Value {
        let mut config = match self.layer.config() {
            Value::Object(map) => map,
            Value::Null => serde_json::Map::new(),
            other => {
                let mut map = serde_json::Map::new();
                map.insert("value".into(), other);
                map
            }
        };
        if let Some(name) = &self.name {
            config.insert("name".into(), Value::String(name.clone()));
        }
        config.insert("trainable".into(), Value::Bool(self.trainable));
        if let Some(r) = &self.activity_regularizer {
            config.insert(
                "activity_regularizer".into(),
                serde_json::to_value(r).unwrap_or_default(),
            );
        }
        serde_json::json!({ "class_name": self.layer.class_name(), "config": config })
    }
}

/// Layer specs by name: the methods every layer has through [`LayerSpec`] (`name`,
/// `trainable`), so `Dense::new(8).name("hidden")` reads as in Keras.
pub trait LayerExt: Into<LayerSpec> {
    /// As [`LayerSpec::name`].
    fn name(self, name: impl Into<String>) -> LayerSpec {
        self.into().name(name)
    }

    /// As [`LayerSpec::trainable`].
    fn trainable(self, trainable: bool) -> LayerSpec {
        self.into().trainable(trainable)
    }

    /// As [`LayerSpec::activity_regularizer`].
    fn activity_regularizer(self, regularizer: crate::regularizer::Regularizer) -> LayerSpec {
        self.into().activity_regularizer(regularizer)
    }
}

impl<L: Layer> LayerExt for L {}
impl LayerExt for crate::Functional {}
impl LayerExt for crate::Sequential {}

/// `call_masked` of a layer with several outputs: the first of its
/// [`call_outputs`](Layer::call_outputs), with that one's mask.
pub(crate) fn first_output(
    parts: Result<(Vec<DynTensor>, Option<Mask>), String>,
) -> Result<(DynTensor, Option<Mask>), String> {
    let (outputs, mask) = parts?;
    let y = outputs.into_iter().next().ok_or("no output")?;
    Ok((y, mask))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_names_become_keras_snake_case() {
        for (class, snake) in [
            ("Dense", "dense"),
            ("Conv2D", "conv2d"),
            ("MaxPooling2D", "max_pooling2d"),
            ("GlobalAveragePooling1D", "global_average_pooling1d"),
            ("SimpleRNN", "simple_rnn"),
            ("LSTM", "lstm"),
            ("GRU", "gru"),
            ("InputLayer", "input_layer"),
            ("ScaledLinear", "scaled_linear"),
            ("UpSampling2D", "up_sampling2d"),
            ("ZeroPadding2D", "zero_padding2d"),
            ("BatchNormalization", "batch_normalization"),
        ] {
            assert_eq!(snake_case(class), snake, "{class}");
        }
    }
}
