//! `Embedding`: integer ids to learned vectors.

use burn::module::{Module, Param};
use burn::tensor::{Device, Int, Tensor, TensorData};
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};

use crate::initializer::Initializer;
use crate::regularizer::Regularizer;
use crate::shape::Shape;
use crate::tensor::DynTensor;

fn uniform() -> Initializer {
    Initializer::RandomUniform {
        minval: -0.05,
        maxval: 0.05,
    }
}

/// Looks up a learned vector for each integer id in `0..input_dim` (Keras `Embedding`):
/// `[batch, steps]` ids → `[batch, steps, output_dim]`. Weights `embeddings`
/// `[input_dim, output_dim]`, uniform in ±0.05 as Keras's default.
///
/// # Examples
/// ```
/// use kiln_model::{Embedding, Input, Sequential};
/// let model = Sequential::new().add(Input::new([5])).add(Embedding::new(100, 8))
///     .build(&burn::tensor::Device::flex())?;
/// assert_eq!(model.output_shape().to_string(), "(None, 5, 8)");
/// # Ok::<(), kiln_model::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Embedding {
    /// The layer's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Size of the vocabulary (ids are `0..input_dim`).
    pub input_dim: usize,
    /// Length of each vector.
    pub output_dim: usize,
    /// How the vectors are filled (default uniform ±0.05).
    #[serde(default = "uniform")]
    pub embeddings_initializer: Initializer,
    /// Penalty on the table added to the training loss (default none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub embeddings_regularizer: Option<Regularizer>,
}

impl Embedding {
    /// A table of `input_dim` vectors of length `output_dim`.
    pub fn new(input_dim: usize, output_dim: usize) -> Self {
        Self {
            name: None,
            input_dim,
            output_dim,
            embeddings_initializer: uniform(),
            embeddings_regularizer: None,
        }
    }

    /// Adds a penalty on the table to the training loss (Keras `embeddings_regularizer`).
    pub fn embeddings_regularizer(mut self, regularizer: Regularizer) -> Self {
        self.embeddings_regularizer = Some(regularizer);
        self
    }

    /// Sets the layer name.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    pub(crate) fn output_shape(&self, input: &Shape) -> Result<Shape, String> {
        if self.input_dim == 0 || self.output_dim == 0 {
            return Err("input_dim and output_dim must be at least 1".into());
        }
        if input.rank() > 2 {
            return Err(format!(
                "Embedding takes ids of shape (None, steps), got {input}"
            ));
        }
        let mut out = input.0.clone();
        out.push(self.output_dim);
        Ok(Shape(out))
    }

    pub(crate) fn param_count(&self) -> usize {
        self.input_dim * self.output_dim
    }

    pub(crate) fn build(&self, rng: &mut StdRng, device: &Device) -> EmbeddingLayer {
        let n = self.input_dim * self.output_dim;
        let values = self
            .embeddings_initializer
            .sample(n, self.input_dim, self.output_dim, rng);
        let table = Tensor::<2>::from_data(
            TensorData::new(values, [self.input_dim, self.output_dim]),
            device,
        );
        EmbeddingLayer {
            embeddings: Param::from_tensor(table),
            embeddings_regularizer: self.embeddings_regularizer,
        }
    }
}

/// The built `Embedding`: `embeddings` `[input_dim, output_dim]`.
#[derive(Module, Debug)]
pub struct EmbeddingLayer {
    /// `[input_dim, output_dim]`.
    pub embeddings: Param<Tensor<2>>,
    #[module(skip)]
    pub(crate) embeddings_regularizer: Option<Regularizer>,
}

impl EmbeddingLayer {
    /// Looks up the ids (given as whole floats, as all model inputs are).
    ///
    /// # Errors
    /// Only for an output rank above 4, which `build`'s shape inference rules out.
    pub fn forward(&self, x: DynTensor) -> crate::Result<DynTensor> {
        let dims = x.dims();
        let n: usize = dims.iter().product();
        let ids: Tensor<1, Int> = x.flatten().reshape([n]).int();
        let vectors = self.embeddings.val().select(0, ids);
        let d = vectors.dims()[1];
        let mut out = dims;
        out.push(d);
        DynTensor::R2(vectors).reshape(&out)
    }
}
