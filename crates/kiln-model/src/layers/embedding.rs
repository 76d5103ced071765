//! `Embedding`: integer ids to learned vectors.

use burn::tensor::{Int, Tensor};
use serde::{Deserialize, Serialize};

use super::{
    Layer, Mask, MaskPolicy, WeightBuilder, WeightSpec, Weights, config_of, only, setters,
};
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
/// `[input_dim, output_dim]`, uniform in ±0.05 as Keras's default. With `mask_zero`, id 0 is
/// padding: the output carries a mask (0 where the id is 0) that the recurrent layers,
/// attention, `GlobalAveragePooling1D` and the loss honour, as in Keras.
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
    /// Projection of the table after each optimizer step (default none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub embeddings_constraint: Option<crate::constraint::Constraint>,
    /// Id 0 is padding: the output is masked there (Keras `mask_zero`, default false).
    #[serde(default)]
    pub mask_zero: bool,
}

impl Embedding {
    /// A table of `input_dim` vectors of length `output_dim`.
    pub fn new(input_dim: usize, output_dim: usize) -> Self {
        Self {
            input_dim,
            output_dim,
            embeddings_initializer: uniform(),
            embeddings_regularizer: None,
            embeddings_constraint: None,
            mask_zero: false,
        }
    }
}

setters!(Embedding {
    /// Sets how the table is filled.
    embeddings_initializer: Initializer,
    /// Adds a penalty on the table to the training loss (Keras `embeddings_regularizer`).
    embeddings_regularizer: Option<Regularizer>,
    /// Projects the table after each optimizer step (Keras `embeddings_constraint`).
    embeddings_constraint: Option<crate::constraint::Constraint>,
    /// Treats id 0 as padding and masks it (Keras `mask_zero`).
    mask_zero: bool,
});

impl Layer for Embedding {
    fn class_name(&self) -> &str {
        "Embedding"
    }

    fn config(&self) -> serde_json::Value {
        config_of(self)
    }

    fn output_shape(&self, inputs: &[Shape]) -> Result<Shape, String> {
        let input = only(inputs)?;
        if self.input_dim == 0 || self.output_dim == 0 {
            return Err("input_dim and output_dim must be at least 1".into());
        }
        if input.rank() > 3 {
            return Err(format!(
                "Embedding takes ids of shape (None, steps), got {input}"
            ));
        }
        let mut out = input.0.clone();
        out.push(self.output_dim);
        Ok(Shape(out))
    }

    fn build(&self, _inputs: &[Shape], weights: &mut WeightBuilder) -> Result<(), String> {
        let table = [self.input_dim, self.output_dim];
        let spec = WeightSpec::new("embeddings", table, self.embeddings_initializer);
        weights.add_weight(
            spec.regularizer(self.embeddings_regularizer)
                .constraint(self.embeddings_constraint.clone()),
        )?;
        Ok(())
    }

    fn call(
        &self,
        inputs: Vec<DynTensor>,
        weights: &Weights<'_>,
        _training: bool,
    ) -> Result<DynTensor, String> {
        let x = only(inputs)?;
        let dims = x.dims();
        let n: usize = dims.iter().product();
        let values = x.flatten().reshape([n]);
        if !weights.inputs_checked() && n > 0 {
            // Ids computed by earlier layers: check them before the gather (one read-back).
            let range = Tensor::cat(vec![values.clone().min(), values.clone().max()], 0);
            let bounds = range
                .try_into_data()
                .map_err(|e| e.to_string())?
                .convert::<f32>()
                .try_into_vec::<f32>()
                .map_err(|e| format!("{e:?}"))?;
            let limit = self.input_dim as f32;
            if let [low, high] = bounds.as_slice()
                && !(*low >= 0.0 && *high < limit)
            {
                return Err(format!(
                    "ids must be in 0..{}, got values from {low} to {high}",
                    self.input_dim
                ));
            }
        }
        let ids: Tensor<1, Int> = values.int();
        let vectors = weights.at::<2>(0)?.select(0, ids);
        let mut out = dims;
        out.push(self.output_dim);
        DynTensor::R2(vectors)
            .reshape(&out)
            .map_err(|e| e.to_string())
    }

    fn mask_policy(&self) -> MaskPolicy {
        if self.mask_zero {
            MaskPolicy::Own
        } else {
            MaskPolicy::Drop
        }
    }

    fn output_masked(&self, inputs: &[Shape], _masked: &[bool]) -> Result<bool, String> {
        let input = only(inputs)?;
        if self.mask_zero && input.rank() != 1 {
            return Err(format!(
                "mask_zero needs ids of shape (None, steps): Kiln's masks are per step, got \
                 {input}"
            ));
        }
        Ok(self.mask_zero)
    }

    fn call_masked(
        &self,
        inputs: Vec<DynTensor>,
        _masks: &[Option<Mask>],
        weights: &Weights<'_>,
        training: bool,
    ) -> Result<(DynTensor, Option<Mask>), String> {
        let x = only(inputs)?;
        let DynTensor::R2(ids) = &x else {
            return Err("mask_zero needs ids [batch, steps]".into());
        };
        let mask = ids.clone().not_equal_elem(0.0).float();
        Ok((self.call(vec![x], weights, training)?, Some(mask)))
    }

    fn id_limit(&self) -> Option<usize> {
        Some(self.input_dim)
    }
}
