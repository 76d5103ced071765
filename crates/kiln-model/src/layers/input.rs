//! `Input`: declares the shape of one sample; in a model it is an `InputLayer`.

use serde::{Deserialize, Serialize};

use super::{Layer, LayerSpec, Weights, config_of};
use crate::shape::Shape;
use crate::tensor::DynTensor;

/// Declares the shape of one input sample, the batch axis left out (Keras `keras.Input`).
/// It is the first layer of a `Sequential`; in a Functional model, [`Input::tensor`] gives the
/// symbolic tensor the layers are applied to.
///
/// # Examples
/// ```
/// use kiln_model::Input;
/// let input = Input::new([28, 28]);
/// assert_eq!(input.shape().to_string(), "(None, 28, 28)");
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Input {
    /// The layer's name (Keras: `input_layer`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The shape with the batch axis first, as Keras stores it (`[null, 28, 28]`).
    #[serde(alias = "batch_input_shape")]
    pub batch_shape: Vec<Option<usize>>,
    /// The element type the model takes here, as Keras names it (`"int32"` for token ids);
    /// `None` is Keras's default, `float32`. Kiln computes in `f32` whatever it is; it tells a
    /// caller (and Keras, reading the config) what to feed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dtype: Option<String>,
}

impl Input {
    /// An input of samples of shape `shape` (batch axis left out).
    pub fn new(shape: impl Into<Shape>) -> Self {
        let shape = shape.into();
        Self {
            name: None,
            batch_shape: std::iter::once(None)
                .chain(shape.0.into_iter().map(Some))
                .collect(),
            dtype: None,
        }
    }

    /// Sets the element type the model takes (Keras `keras.Input(..., dtype="int32")`).
    pub fn dtype(mut self, dtype: impl Into<String>) -> Self {
        self.dtype = Some(dtype.into());
        self
    }

    /// Sets the layer name (the input's name in `fit`/`predict` by name).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// The shape of one sample. Unknown (`null`) dimensions after the batch axis count as 0,
    /// which `build` reports as an error.
    pub fn shape(&self) -> Shape {
        Shape(
            self.batch_shape
                .iter()
                .skip(1)
                .map(|d| d.unwrap_or(0))
                .collect(),
        )
    }
}

impl From<Input> for LayerSpec {
    fn from(input: Input) -> Self {
        let spec = LayerSpec::new(InputLayer {
            batch_shape: input.batch_shape,
            dtype: input.dtype,
        });
        match input.name {
            Some(name) => spec.name(name),
            None => spec,
        }
    }
}

/// The layer an [`Input`] becomes in a model (Keras `InputLayer`): it has no weights and its
/// output is the data fed to the model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InputLayer {
    /// The shape with the batch axis first (`[null, 28, 28]`).
    #[serde(alias = "batch_input_shape")]
    pub batch_shape: Vec<Option<usize>>,
    /// The element type (`"int32"`); `None` for Keras's default, `float32`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dtype: Option<String>,
}

impl InputLayer {
    /// The shape of one sample (unknown dimensions as 0).
    pub fn shape(&self) -> Shape {
        Input {
            name: None,
            batch_shape: self.batch_shape.clone(),
            dtype: None,
        }
        .shape()
    }
}

impl Layer for InputLayer {
    fn class_name(&self) -> &str {
        "InputLayer"
    }

    fn config(&self) -> serde_json::Value {
        config_of(self)
    }

    fn output_shape(&self, _inputs: &[Shape]) -> Result<Shape, String> {
        let shape = self.shape();
        // A string input may hold one text per sample, shape (), as Keras's text models do.
        let text = self.dtype.as_deref() == Some("string");
        if (shape.rank() == 0 && !text) || shape.dims().contains(&0) {
            return Err(format!(
                "the input shape {shape} must have at least one axis, all of known size"
            ));
        }
        if shape.rank() >= crate::tensor::MAX_RANK {
            return Err(format!(
                "inputs of rank {} (batch axis included) are not supported; use 2 to {}",
                shape.rank() + 1,
                crate::tensor::MAX_RANK
            ));
        }
        Ok(shape)
    }

    fn call(
        &self,
        inputs: Vec<DynTensor>,
        _weights: &Weights<'_>,
        _training: bool,
    ) -> Result<DynTensor, String> {
        super::only(inputs)
    }
}
