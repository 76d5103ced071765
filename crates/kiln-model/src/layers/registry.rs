//! Reading built-in layers by Keras class name (the list is `builtin_layers!` in `mod.rs`).

use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::{BUILTIN, Layer};

pub(crate) type Make = fn(&Value) -> Result<Arc<dyn Layer>, String>;

/// Reads a built-in layer from its Keras config (unknown keys are ignored).
pub(crate) fn keras<L: Layer + DeserializeOwned>(config: &Value) -> Result<Arc<dyn Layer>, String> {
    let layer = serde_json::from_value::<L>(config.clone()).map_err(|e| e.to_string())?;
    // A constraint the layer does not take would be dropped silently: refuse it.
    if let Some(map) = config.as_object() {
        let own = layer.config();
        for (key, value) in map {
            if key.ends_with("_constraint") && !value.is_null() && own[key.as_str()].is_null() {
                return Err(format!(
                    "`{key}` on {} is not supported by Kiln yet",
                    layer.class_name()
                ));
            }
        }
    }
    Ok(Arc::new(layer))
}

/// Keras's other names of its layer classes (`keras.layers.MaxPool2D` is `MaxPooling2D`).
const ALIASES: &[(&str, &str)] = &[
    ("AvgPool1D", "AveragePooling1D"),
    ("AvgPool2D", "AveragePooling2D"),
    ("AvgPool3D", "AveragePooling3D"),
    ("Convolution1D", "Conv1D"),
    ("Convolution2D", "Conv2D"),
    ("Convolution3D", "Conv3D"),
    ("Convolution1DTranspose", "Conv1DTranspose"),
    ("Convolution2DTranspose", "Conv2DTranspose"),
    ("Convolution3DTranspose", "Conv3DTranspose"),
    ("GlobalAvgPool1D", "GlobalAveragePooling1D"),
    ("GlobalAvgPool2D", "GlobalAveragePooling2D"),
    ("GlobalAvgPool3D", "GlobalAveragePooling3D"),
    ("GlobalMaxPool1D", "GlobalMaxPooling1D"),
    ("GlobalMaxPool2D", "GlobalMaxPooling2D"),
    ("GlobalMaxPool3D", "GlobalMaxPooling3D"),
    ("GroupedQueryAttention", "GroupQueryAttention"),
    ("MaxPool1D", "MaxPooling1D"),
    ("MaxPool2D", "MaxPooling2D"),
    ("MaxPool3D", "MaxPooling3D"),
    ("SeparableConvolution1D", "SeparableConv1D"),
    ("SeparableConvolution2D", "SeparableConv2D"),
];

/// The reader of a built-in class (by its Keras name or one of Keras's aliases), or `None`
/// for a class Kiln does not have.
pub(crate) fn builtin(class_name: &str) -> Option<Make> {
    let name = ALIASES
        .iter()
        .find(|(alias, _)| *alias == class_name)
        .map_or(class_name, |(_, canonical)| canonical);
    BUILTIN
        .iter()
        .find(|(n, _)| *n == name)
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
            "DepthwiseConv1D" | "DepthwiseConv2D" => serde_json::json!({"kernel_size": 3}),
            "Conv1D" | "Conv2D" | "Conv3D" | "Conv1DTranspose" | "Conv3DTranspose"
            | "SeparableConv1D" | "SeparableConv2D" => {
                serde_json::json!({"filters": 2, "kernel_size": 3})
            }
            "Dropout" | "SpatialDropout1D" | "SpatialDropout2D" | "SpatialDropout3D"
            | "GaussianDropout" | "AlphaDropout" => serde_json::json!({"rate": 0.5}),
            "GaussianNoise" => serde_json::json!({"stddev": 0.5}),
            "Embedding" => serde_json::json!({"input_dim": 5, "output_dim": 2}),
            "Rescaling" => serde_json::json!({"scale": 0.5}),
            "Reshape" => serde_json::json!({"target_shape": [2, 2]}),
            "SimpleRNN" | "LSTM" | "GRU" => serde_json::json!({"units": 3}),
            "ZeroPadding2D" => serde_json::json!({"padding": 1}),
            "Dot" => serde_json::json!({"axes": 1}),
            "TimeDistributed" => {
                serde_json::json!({"layer": {"class_name": "Dense", "config": {"units": 3}}})
            }
            "Bidirectional" => {
                serde_json::json!({"layer": {"class_name": "LSTM", "config": {"units": 3}}})
            }
            "Conv2DTranspose" => serde_json::json!({"filters": 2, "kernel_size": 3}),
            "MultiHeadAttention" => serde_json::json!({"num_heads": 2, "key_dim": 4}),
            "GroupQueryAttention" => serde_json::json!({
                "head_dim": 2, "num_query_heads": 4, "num_key_value_heads": 2
            }),
            "EinsumDense" => serde_json::json!({"equation": "ab,bc->ac", "output_shape": 3}),
            "ConvLSTM1D" | "ConvLSTM2D" => serde_json::json!({"filters": 2, "kernel_size": 3}),
            "RepeatVector" => serde_json::json!({"n": 3}),
            "GroupNormalization" => serde_json::json!({"groups": 2}),
            "Permute" => serde_json::json!({"dims": [1]}),
            "CenterCrop" | "Resizing" | "RandomCrop" => {
                serde_json::json!({"height": 2, "width": 3})
            }
            "CategoryEncoding" => serde_json::json!({"num_tokens": 4}),
            "Hashing" => serde_json::json!({"num_bins": 4, "salt": 3}),
            "StringLookup" => serde_json::json!({"vocabulary": ["a", "b"], "mask_token": ""}),
            "IntegerLookup" => serde_json::json!({"vocabulary": [4, 9], "output_mode": "count"}),
            "TextVectorization" => serde_json::json!({"vocabulary": ["a"], "ngrams": [1, 3]}),
            "RandomTranslation" => {
                serde_json::json!({"height_factor": 0.1, "width_factor": [-0.2, 0.3]})
            }
            "RandomZoom" => serde_json::json!({"height_factor": 0.2}),
            "RandomRotation" | "RandomContrast" | "RandomBrightness" => {
                serde_json::json!({"factor": 0.1})
            }
            _ => serde_json::json!({}),
        }
    }

    #[test]
    fn keras_aliases_read_as_their_class() {
        for (alias, canonical) in ALIASES {
            let make = builtin(alias).unwrap_or_else(|| panic!("{alias}"));
            let layer = make(&sample_config(canonical)).unwrap_or_else(|e| panic!("{alias}: {e}"));
            assert_eq!(layer.class_name(), *canonical);
        }
    }

    #[test]
    fn image_layers_refuse_channels_first_configs() {
        for class in [
            "RandomFlip",
            "RandomCrop",
            "RandomContrast",
            "RandomBrightness",
            "RandomTranslation",
            "RandomZoom",
            "RandomRotation",
            "Resizing",
            "CenterCrop",
        ] {
            let mut config = sample_config(class);
            config["data_format"] = "channels_first".into();
            let make = builtin(class).unwrap_or_else(|| panic!("{class}"));
            let e = make(&config)
                .err()
                .unwrap_or_else(|| panic!("{class} took channels_first"));
            assert!(e.contains("channels_first"), "{class}: {e}");
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
