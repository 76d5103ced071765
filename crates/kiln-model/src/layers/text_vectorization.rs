//! `TextVectorization` in a model (Keras `layers.TextVectorization`): the host
//! [`kiln_datasets::TextVectorization`] as a layer that runs on the model's string input
//! before the device layers, so a model takes raw text in `fit` and `predict` and keeps its
//! vocabulary when saved.

use std::sync::Arc;

pub use kiln_datasets::TextVectorization;
use kiln_datasets::{HostArray, OutputMode};

use super::index_lookup::not_on_device;
use super::{Layer, Weights, only};
use crate::shape::Shape;
use crate::tensor::DynTensor;

/// Reads the layer from its Keras config.
pub(crate) fn read(config: &serde_json::Value) -> Result<Arc<dyn Layer>, String> {
    TextVectorization::from_config(config)
        .map(|layer| Arc::new(layer) as Arc<dyn Layer>)
        .map_err(|e| e.to_string())
}

impl Layer for TextVectorization {
    fn class_name(&self) -> &str {
        "TextVectorization"
    }

    fn config(&self) -> serde_json::Value {
        TextVectorization::config(self)
    }

    fn output_shape(&self, inputs: &[Shape]) -> Result<Shape, String> {
        let input = only(inputs)?;
        if self.vocabulary().is_empty() {
            return Err("no vocabulary: give one or call adapt before building the model".into());
        }
        let depth = match (self.pad_to_max_tokens, self.max_tokens) {
            (true, Some(max)) => max,
            _ => self.vocabulary().len(),
        };
        let dims = input.dims();
        if self.split.is_some() {
            if !matches!(dims, [] | [1]) {
                return Err(format!(
                    "texts to split come one per sample, shape () or (1,), got {input}"
                ));
            }
            return match (self.output_mode, self.output_sequence_length) {
                (OutputMode::Int, Some(length)) => Ok(Shape(vec![length])),
                (OutputMode::Int, None) => Err(
                    "in a model, int output needs `output_sequence_length`: Kiln's layers take \
                     sequences of one length (Keras pads each batch to its longest text)"
                        .into(),
                ),
                _ => Ok(Shape(vec![depth])),
            };
        }
        match (self.output_mode, dims) {
            (OutputMode::Int, []) => Ok(input.clone()),
            (OutputMode::Int, [rest @ .., _]) => {
                let mut out = rest.to_vec();
                out.push(self.output_sequence_length.unwrap_or(dims[dims.len() - 1]));
                Ok(Shape(out))
            }
            (_, [_]) => Ok(Shape(vec![depth])),
            (_, other) => Err(format!(
                "without a split, the vector modes take samples of shape (k,), got {other:?}"
            )),
        }
    }

    fn call(
        &self,
        _inputs: Vec<DynTensor>,
        _weights: &Weights<'_>,
        _training: bool,
    ) -> Result<DynTensor, String> {
        Err(not_on_device("TextVectorization"))
    }

    fn runs_on_host(&self) -> bool {
        true
    }

    fn call_host(&self, input: &HostArray) -> Result<HostArray, String> {
        let HostArray::Str(texts) = input else {
            return Err(format!(
                "takes strings (an Input with dtype \"string\"), got {}",
                input.dtype()
            ));
        };
        self.call_array(texts).map_err(|e| e.to_string())
    }
}
