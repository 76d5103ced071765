//! The built-in layers by Keras class name: adding a layer is its file and one line here.

use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::*;

type Make = fn(&Value) -> Result<Arc<dyn Layer>, String>;

/// Reads a built-in layer from its Keras config (unknown keys are ignored).
fn keras<L: Layer + DeserializeOwned>(config: &Value) -> Result<Arc<dyn Layer>, String> {
    serde_json::from_value::<L>(config.clone())
        .map(|layer| Arc::new(layer) as Arc<dyn Layer>)
        .map_err(|e| e.to_string())
}

/// Every built-in layer: Keras's class name and its reader.
const BUILTIN: &[(&str, Make)] = &[
    ("InputLayer", keras::<InputLayer>),
    ("Activation", keras::<ActivationLayer>),
    ("Add", keras::<Add>),
    ("Average", keras::<Average>),
    ("AveragePooling1D", keras::<AveragePooling1d>),
    ("AveragePooling2D", keras::<AveragePooling2d>),
    ("BatchNormalization", keras::<BatchNormalization>),
    ("Concatenate", keras::<Concatenate>),
    ("Conv1D", keras::<Conv1d>),
    ("Conv2D", keras::<Conv2d>),
    ("Dense", keras::<Dense>),
    ("Dot", keras::<Dot>),
    ("Dropout", keras::<Dropout>),
    ("Embedding", keras::<Embedding>),
    ("Flatten", keras::<Flatten>),
    ("GlobalAveragePooling1D", keras::<GlobalAveragePooling1d>),
    ("GlobalAveragePooling2D", keras::<GlobalAveragePooling2d>),
    ("GlobalMaxPooling1D", keras::<GlobalMaxPooling1d>),
    ("GlobalMaxPooling2D", keras::<GlobalMaxPooling2d>),
    ("GRU", keras::<Gru>),
    ("LayerNormalization", keras::<LayerNormalization>),
    ("LSTM", keras::<Lstm>),
    ("MaxPooling1D", keras::<MaxPooling1d>),
    ("MaxPooling2D", keras::<MaxPooling2d>),
    ("Maximum", keras::<Maximum>),
    ("Minimum", keras::<Minimum>),
    ("Multiply", keras::<Multiply>),
    ("Rescaling", keras::<Rescaling>),
    ("Reshape", keras::<Reshape>),
    ("SimpleRNN", keras::<SimpleRnn>),
    ("Subtract", keras::<Subtract>),
    ("UpSampling2D", keras::<UpSampling2d>),
    ("ZeroPadding2D", keras::<ZeroPadding2d>),
];

/// The reader of a built-in class, or `None` for a class Kiln does not have.
pub(crate) fn builtin(class_name: &str) -> Option<Make> {
    BUILTIN
        .iter()
        .find(|(name, _)| *name == class_name)
        .map(|(_, make)| *make)
}

/// Every built-in class name.
pub fn builtin_class_names() -> impl Iterator<Item = &'static str> {
    BUILTIN.iter().map(|(name, _)| *name)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A config every built-in accepts: the required options of each, by class.
    fn sample_config(class: &str) -> Value {
        match class {
            "InputLayer" => serde_json::json!({"batch_shape": [null, 4]}),
            "Activation" => serde_json::json!({"activation": "relu"}),
            "Dense" => serde_json::json!({"units": 3}),
            "Conv1D" | "Conv2D" => serde_json::json!({"filters": 2, "kernel_size": 3}),
            "Dropout" => serde_json::json!({"rate": 0.5}),
            "Embedding" => serde_json::json!({"input_dim": 5, "output_dim": 2}),
            "Rescaling" => serde_json::json!({"scale": 0.5}),
            "Reshape" => serde_json::json!({"target_shape": [2, 2]}),
            "SimpleRNN" | "LSTM" | "GRU" => serde_json::json!({"units": 3}),
            "ZeroPadding2D" => serde_json::json!({"padding": 1}),
            "Dot" => serde_json::json!({"axes": 1}),
            _ => serde_json::json!({}),
        }
    }

    #[test]
    fn every_registered_class_reads_back_as_itself() {
        for (class, make) in BUILTIN {
            let layer = make(&sample_config(class)).unwrap_or_else(|e| panic!("{class}: {e}"));
            assert_eq!(layer.class_name(), *class);
            // Its own config reads back to the same config.
            let again = make(&layer.config()).unwrap_or_else(|e| panic!("{class}: {e}"));
            assert_eq!(again.config(), layer.config(), "{class}");
        }
    }
}
