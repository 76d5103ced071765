//! `Hashing` in a model (Keras `layers.Hashing`): the host [`kiln_datasets::Hashing`] as a
//! layer that runs on the model's input data before the device layers.

use std::sync::Arc;

pub use kiln_datasets::Hashing;
use kiln_datasets::{HashInput, HostArray};

use super::index_lookup::{encoded_shape, integers, not_on_device};
use super::{Layer, Weights, only};
use crate::shape::Shape;
use crate::tensor::DynTensor;

/// The most bins a vector output may have (the width of each sample's vector).
const MAX_VECTOR_BINS: u64 = 1 << 24;

/// Reads the layer from its Keras config.
pub(crate) fn read(config: &serde_json::Value) -> Result<Arc<dyn Layer>, String> {
    Hashing::from_config(config)
        .map(|layer| Arc::new(layer) as Arc<dyn Layer>)
        .map_err(|e| e.to_string())
}

impl Layer for Hashing {
    fn class_name(&self) -> &str {
        "Hashing"
    }

    fn config(&self) -> serde_json::Value {
        Hashing::config(self)
    }

    fn output_shape(&self, inputs: &[Shape]) -> Result<Shape, String> {
        let input = only(inputs)?;
        if self.output_mode != kiln_datasets::LookupMode::Int && self.num_bins > MAX_VECTOR_BINS {
            return Err(format!(
                "{} bins: vector outputs take at most {MAX_VECTOR_BINS}",
                self.num_bins
            ));
        }
        encoded_shape(self.output_mode, input, self.num_bins as usize)
    }

    fn call(
        &self,
        _inputs: Vec<DynTensor>,
        _weights: &Weights<'_>,
        _training: bool,
    ) -> Result<DynTensor, String> {
        Err(not_on_device("Hashing"))
    }

    fn runs_on_host(&self) -> bool {
        true
    }

    fn call_host(&self, input: &HostArray) -> Result<HostArray, String> {
        let values = match input {
            HostArray::Str(a) => HashInput::Strings(a.clone()),
            other => HashInput::Ints(
                integers(other).ok_or_else(|| format!("cannot hash {} values", other.dtype()))?,
            ),
        };
        self.call(&values).map_err(|e| e.to_string())
    }
}
