//! `Sequential`: a stack of layer specs, built into a [`Model`].

use std::sync::Arc;

use burn::tensor::Device;
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::layers::{CustomObjects, LayerSpec};
use crate::model::{Model, ModelInfo};
use crate::shape::Shape;
use crate::summary::LayerInfo;

/// A linear stack of layers, as Keras's `keras.Sequential`: the architecture, not yet weights.
///
/// Layers get Keras's automatic names when added (`dense`, `dense_1`, ...). [`build`] runs shape
/// inference over the whole stack, so a layer that cannot take its input is an error naming the
/// layer and both shapes, before any weight exists.
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sequential {
    /// The model's name (Keras: `sequential`).
    #[serde(default = "default_name")]
    pub name: String,
    /// The layer specs in order; the first is the [`Input`](crate::Input).
    #[serde(serialize_with = "serialize_layers")]
    pub layers: Vec<LayerSpec>,
    /// Seed for the weight initializers; `None` draws a fresh one at each `build`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
}

fn default_name() -> String {
    "sequential".to_string()
}

/// Stock layers through their derived form; custom ones with their own class name and config.
fn serialize_layers<S: serde::Serializer>(layers: &[LayerSpec], s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeSeq;
    let mut seq = s.serialize_seq(Some(layers.len()))?;
    for layer in layers {
        match layer {
            LayerSpec::Custom(custom) => seq.serialize_element(&custom.to_value())?,
            stock => seq.serialize_element(stock)?,
        }
    }
    seq.end()
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
            name: default_name(),
            layers: Vec::new(),
            seed: None,
        }
    }

    /// Appends a layer, giving it Keras's automatic name when it has none.
    #[allow(clippy::should_implement_trait)]
    pub fn add(mut self, layer: impl Into<LayerSpec>) -> Self {
        let mut layer = layer.into();
        if layer.name().is_none() {
            let base = layer.base_name().into_owned();
            let taken = |n: &str| self.layers.iter().any(|l| l.name() == Some(n));
            let mut k = 0;
            let mut name = base.to_string();
            while taken(&name) {
                k += 1;
                name = format!("{base}_{k}");
            }
            layer.set_name(name);
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
        serde_json::to_string_pretty(self).map_err(Error::Config)
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
        let mut value: serde_json::Value = serde_json::from_str(json).map_err(Error::Config)?;
        let mut customs = Vec::new();
        if let Some(layers) = value.get_mut("layers").and_then(|l| l.as_array_mut()) {
            for (i, layer) in layers.iter_mut().enumerate() {
                let class = layer
                    .get("class_name")
                    .and_then(|c| c.as_str())
                    .unwrap_or("");
                let config = layer.get("config").cloned().unwrap_or_default();
                if let Some(made) = custom.make(class, &config) {
                    let spec = made.map_err(|reason| {
                        Error::InvalidModel(format!("custom layer {class}: {reason}"))
                    })?;
                    customs.push((i, spec));
                    // A placeholder the derived reader accepts; replaced below.
                    *layer = serde_json::json!({"class_name": "Flatten", "config": {}});
                } else if let Err(e) = serde_json::from_value::<LayerSpec>(layer.clone())
                    && e.to_string().starts_with("unknown variant")
                {
                    return Err(Error::UnknownLayer {
                        class_name: class.to_string(),
                    });
                }
            }
        }
        let mut model: Sequential = serde_json::from_value(value).map_err(Error::Config)?;
        for (i, spec) in customs {
            model.layers[i] = LayerSpec::Custom(spec);
        }
        // Layers without names get them now, as `add` would have.
        let layers = std::mem::take(&mut model.layers);
        for layer in layers {
            model = model.add(layer);
        }
        Ok(model)
    }

    /// Infers every layer's output shape: `(input shape, rows for the summary)`.
    ///
    /// # Errors
    /// [`Error::InvalidModel`] when the first layer is not an `Input` (or a later one is);
    /// [`Error::IncompatibleShape`] naming the first layer that cannot take its input.
    pub fn infer_shapes(&self) -> Result<(Shape, Vec<LayerInfo>)> {
        let Some(LayerSpec::Input(input)) = self.layers.first() else {
            return Err(Error::InvalidModel(
                "the first layer must be an `Input` giving the sample shape \
                 (Keras: `keras.Input(shape=...)`), so shapes are known when the model is built"
                    .into(),
            ));
        };
        let input_shape = input.shape();
        if input_shape.rank() == 0 || input_shape.dims().contains(&0) {
            return Err(Error::InvalidModel(format!(
                "the input shape {input_shape} must have at least one axis, all of known size"
            )));
        }
        if self.layers.len() < 2 {
            return Err(Error::InvalidModel(
                "the model has no layer after its Input".into(),
            ));
        }
        let mut shape = input_shape.clone();
        let mut rows = Vec::new();
        for spec in &self.layers[1..] {
            let name = spec
                .name()
                .map_or_else(|| spec.base_name().into_owned(), str::to_string);
            if let LayerSpec::Input(_) = spec {
                return Err(Error::InvalidModel(format!(
                    "`{name}` is an Input but not the first layer"
                )));
            }
            let out = spec
                .output_shape(&shape)
                .map_err(|reason| Error::IncompatibleShape {
                    layer: name.clone(),
                    input: shape.clone(),
                    reason,
                })?;
            let (trainable, non_trainable) = spec.param_counts(&shape);
            rows.push(LayerInfo {
                name,
                class_name: spec.class_name().to_string(),
                output_shape: out.clone(),
                trainable,
                non_trainable,
            });
            shape = out;
        }
        Ok((input_shape, rows))
    }

    /// Checks the shapes, then creates the weights on `device` (Keras initializers, drawn on the
    /// host from the seed).
    ///
    /// # Errors
    /// As [`Sequential::infer_shapes`].
    pub fn build(&self, device: &Device) -> Result<Model> {
        let (input_shape, rows) = self.infer_shapes()?;
        let mut rng = match self.seed {
            Some(seed) => StdRng::seed_from_u64(seed),
            None => StdRng::from_os_rng(),
        };
        let mut shape = input_shape.clone();
        let mut layers = Vec::with_capacity(rows.len());
        for (spec, row) in self.layers[1..].iter().zip(&rows) {
            if let Some(layer) = spec.build(&shape, &mut rng, device) {
                layers.push(layer);
            }
            shape = row.output_shape.clone();
        }
        let info = ModelInfo {
            spec: self.clone(),
            input_shape,
            rows,
        };
        Ok(Model::from_parts(layers, Arc::new(info), device.clone()))
    }
}
