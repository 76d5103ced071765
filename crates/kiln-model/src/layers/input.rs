//! `Input`: declares the shape of one sample.

use serde::{Deserialize, Serialize};

use crate::shape::Shape;

/// Declares the shape of one input sample, the batch axis left out (Keras `keras.Input` /
/// `InputLayer`). It must be the first layer of a `Sequential`.
///
/// # Examples
/// ```
/// use kiln_model::Input;
/// let input = Input::new([28, 28]);
/// assert_eq!(input.shape().to_string(), "(None, 28, 28)");
/// ```
#[doc(alias = "InputLayer")]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Input {
    /// The layer's name (Keras: `input_layer`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The shape with the batch axis first, as Keras stores it (`[null, 28, 28]`).
    #[serde(alias = "batch_input_shape")]
    pub batch_shape: Vec<Option<usize>>,
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
        }
    }

    /// Sets the layer name.
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
