//! The architectures of real Keras model files (`tests/fixtures/keras-models/*/config.json`):
//! Sequential and Functional configs written by Keras 3 build in Kiln (all six), and a layer
//! class Kiln does not have is an `UnknownLayer` naming it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use burn::tensor::Device;
use kiln_model::{CustomObjects, Error, ModelConfig};

fn config(case: &str) -> String {
    let path = format!(
        "{}/../../tests/fixtures/keras-models/{case}/config.json",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn read(case: &str) -> kiln_model::Result<ModelConfig> {
    ModelConfig::from_json_with(&config(case), &CustomObjects::new())
}

#[test]
fn keras_sequential_and_functional_configs_build() {
    let device = Device::flex();
    // (case, functional, the number of values in its `model.weights.h5`, input names, output
    // names), read off the Keras files with h5py.
    let cases = [
        (
            "mnist_convnet",
            false,
            34_826,
            vec!["input_layer"],
            vec!["dense"],
        ),
        (
            "multi_io",
            true,
            1_132,
            vec!["numeric", "text_ids"],
            vec!["priority", "score"],
        ),
        (
            "mini_resnet",
            true,
            20_154,
            vec!["input_layer_1"],
            vec!["dense_1"],
        ),
        (
            "conv_autoencoder",
            true,
            1_905,
            vec!["image"],
            vec!["reconstruction"],
        ),
        (
            "bilstm_text",
            false,
            3_005,
            vec!["input_layer_2"],
            vec!["dense_4"],
        ),
        (
            "transformer_block",
            true,
            3_218,
            vec!["input_layer_3"],
            vec!["dense_7"],
        ),
    ];
    for (case, functional, params, inputs, outputs) in cases {
        let spec = read(case).unwrap_or_else(|e| panic!("{case}: {e}"));
        assert_eq!(
            matches!(spec, ModelConfig::Functional(_)),
            functional,
            "{case}"
        );
        let model = spec
            .build(&device)
            .unwrap_or_else(|e| panic!("{case}: {e}"));
        assert_eq!(model.count_params(), params, "{case}");
        assert_eq!(model.input_names(), inputs, "{case}");
        assert_eq!(model.output_names(), outputs, "{case}");
    }
}

#[test]
fn layers_kiln_lacks_are_named_in_the_error() {
    let text = config("multi_io").replace("\"Concatenate\"", "\"SpectralNormalization\"");
    match ModelConfig::from_json_with(&text, &CustomObjects::new()) {
        Err(Error::UnknownLayer { class_name, layer }) => {
            assert_eq!(
                (class_name.as_str(), layer.as_str()),
                ("SpectralNormalization", "concatenate")
            );
        }
        other => panic!("expected UnknownLayer, got {other:?}"),
    }
}

/// A Functional config Keras wrote reads, writes back in Keras's format, and reads again to the
/// same architecture.
#[test]
fn a_keras_functional_config_round_trips() {
    let ModelConfig::Functional(spec) = read("multi_io").unwrap() else {
        panic!("multi_io is Functional");
    };
    let json = spec.to_json().unwrap();
    let again = kiln_model::Functional::from_config(&json).unwrap();
    assert_eq!(again, spec);
    let keras: serde_json::Value = serde_json::from_str(&config("multi_io")).unwrap();
    let ours: serde_json::Value = serde_json::from_str(&json).unwrap();
    for key in ["input_layers", "output_layers"] {
        assert_eq!(ours["config"][key], keras["config"][key], "{key}");
    }
    let names = |v: &serde_json::Value| -> Vec<String> {
        v["config"]["layers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["name"].as_str().unwrap().to_string())
            .collect()
    };
    // Layers in Keras's `model.layers` order.
    assert_eq!(names(&ours), names(&keras));
}

/// An option or a call argument Kiln does not have is an error naming it, not dropped.
#[test]
fn options_and_call_arguments_kiln_lacks_are_errors() {
    // A constraint on a layer that takes none (Kiln applies them on Dense, convolutions,
    // Embedding and the recurrent layers).
    let text = config("multi_io").replacen(
        "\"axis\": -1}",
        "\"axis\": -1, \"kernel_constraint\": {\"class_name\": \"NonNeg\", \"config\": {}}}",
        1,
    );
    let err = ModelConfig::from_json_with(&text, &CustomObjects::new()).unwrap_err();
    assert!(
        matches!(&err, Error::LayerConfig { reason, .. } if reason.contains("kernel_constraint")),
        "{err}"
    );
    let text = config("multi_io").replacen(
        "\"kwargs\": {}",
        "\"kwargs\": {\"use_causal_mask\": true}",
        1,
    );
    let err = ModelConfig::from_json_with(&text, &CustomObjects::new()).unwrap_err();
    assert!(err.to_string().contains("use_causal_mask"), "{err}");
    // Keras's null defaults and `training` are fine.
    let text = config("multi_io").replacen(
        "\"kwargs\": {}",
        "\"kwargs\": {\"training\": false, \"mask\": null}",
        1,
    );
    ModelConfig::from_json_with(&text, &CustomObjects::new()).unwrap();
}
