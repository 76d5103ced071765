//! Building, shape inference, summary, config and weights of `Sequential` models.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use burn::tensor::Device;
use kiln_model::{Activation, Dense, Error, Flatten, Input, Reshape, Sequential};
use ndarray::{ArrayD, IxDyn, array};

fn seed_model() -> Sequential {
    Sequential::new()
        .add(Input::new([28, 28]))
        .add(Flatten::new())
        .add(Dense::new(128).activation(Activation::Relu))
        .add(Dense::new(10).activation(Activation::Softmax))
        .seed(0)
}

#[test]
fn summary_of_the_seed_model_is_keras_table() {
    let model = seed_model().build(&Device::flex()).unwrap();
    let expected = "\
Model: \"sequential\"
┏━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━┓
┃ Layer (type)                    ┃ Output Shape           ┃       Param # ┃
┡━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━┩
│ flatten (Flatten)               │ (None, 784)            │             0 │
├─────────────────────────────────┼────────────────────────┼───────────────┤
│ dense (Dense)                   │ (None, 128)            │       100,480 │
├─────────────────────────────────┼────────────────────────┼───────────────┤
│ dense_1 (Dense)                 │ (None, 10)             │         1,290 │
└─────────────────────────────────┴────────────────────────┴───────────────┘
 Total params: 101,770 (397.54 KB)
 Trainable params: 101,770 (397.54 KB)
 Non-trainable params: 0 (0.00 B)
";
    assert_eq!(model.summary().to_string(), expected);
}

#[test]
fn a_shape_mismatch_at_build_names_the_layer_and_both_shapes() {
    let spec = Sequential::new()
        .add(Input::new([28, 28]))
        .add(Flatten::new())
        .add(Reshape::new([10, 10]));
    let err = spec.build(&Device::flex()).unwrap_err();
    match &err {
        Error::IncompatibleShape { layer, input, .. } => {
            assert_eq!(layer, "reshape");
            assert_eq!(input.to_string(), "(None, 784)");
        }
        other => panic!("expected IncompatibleShape, got {other:?}"),
    }
    let message = err.to_string();
    assert!(
        message.contains("(None, 784)") && message.contains("(None, 10, 10)"),
        "{message}"
    );
}

#[test]
fn a_model_without_input_is_an_error_not_a_panic() {
    let err = Sequential::new()
        .add(Dense::new(3))
        .build(&Device::flex())
        .unwrap_err();
    assert!(matches!(err, Error::InvalidModel(_)), "{err:?}");
}

#[test]
fn layers_get_keras_automatic_names() {
    let names: Vec<_> = seed_model()
        .layers
        .iter()
        .map(|l| l.layer_name().unwrap().to_string())
        .collect();
    assert_eq!(names, ["input_layer", "flatten", "dense", "dense_1"]);
}

#[test]
fn config_json_round_trips_to_the_identical_json() {
    let json = seed_model().to_json().unwrap();
    let again = Sequential::from_config(&json).unwrap();
    assert_eq!(again, seed_model());
    assert_eq!(again.to_json().unwrap(), json);
    assert!(json.contains("\"class_name\": \"Dense\""));
}

#[test]
fn an_unknown_activation_in_a_config_lists_the_valid_names() {
    let json = r#"{"name":"m","layers":[
        {"class_name":"InputLayer","config":{"batch_shape":[null,3]}},
        {"class_name":"Dense","config":{"units":2,"activation":"relux"}}]}"#;
    let err = Sequential::from_config(json).unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, Error::LayerConfig { .. }), "{err:?}");
    assert!(
        message.contains("relux") && message.contains("softmax") && message.contains("Dense"),
        "{message}"
    );
}

#[test]
fn dense_computes_relu_of_x_kernel_plus_bias() {
    let model = Sequential::new()
        .add(Input::new([2]))
        .add(Dense::new(2).activation(Activation::Relu))
        .build(&Device::flex())
        .unwrap();
    let kernel = array![[1.0f32, -1.0], [2.0, 0.5]].into_dyn();
    let bias = ArrayD::from_shape_vec(IxDyn(&[2]), vec![0.5f32, -3.0]).unwrap();
    let model = model.set_weights(&[kernel, bias]).unwrap();
    let y = model
        .predict(&array![[1.0f32, 1.0], [-1.0, 2.0]], 32)
        .unwrap();
    // [1+2+0.5, -1+0.5-3] = [3.5, -3.5] -> relu; [-1+4+0.5, 1+1-3] = [3.5, -1] -> relu
    assert_eq!(y.into_raw_vec_and_offset().0, vec![3.5, 0.0, 3.5, 0.0]);
}

#[test]
fn set_weights_with_a_wrong_shape_names_the_weight() {
    let model = seed_model().build(&Device::flex()).unwrap();
    let mut weights = model.get_weights().unwrap();
    weights[2] = ArrayD::zeros(IxDyn(&[128, 9]));
    match model.set_weights(&weights) {
        Err(Error::WeightMismatch {
            weight, expected, ..
        }) => {
            assert_eq!(weight, "dense_1/kernel");
            assert_eq!(expected, vec![128, 10]);
        }
        other => panic!("expected WeightMismatch, got {other:?}"),
    }
}

#[test]
fn dense_uses_glorot_uniform_kernels_and_zero_biases_by_default() {
    let model = seed_model().build(&Device::flex()).unwrap();
    let w = model.get_weights().unwrap();
    let limit = (6.0f32 / (784.0 + 128.0)).sqrt();
    assert!(w[0].iter().all(|v| v.abs() <= limit));
    let max = w[0].iter().fold(0.0f32, |m, v| m.max(v.abs()));
    assert!(
        max > 0.9 * limit,
        "kernel does not span the glorot range: {max} vs {limit}"
    );
    assert!(w[1].iter().all(|v| *v == 0.0));
}

#[test]
fn predict_rejects_data_of_the_wrong_shape_naming_the_input() {
    let model = seed_model().build(&Device::flex()).unwrap();
    let err = model
        .predict(&ndarray::Array2::<f32>::zeros((4, 784)), 32)
        .unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("input_layer") && message.contains("(None, 28, 28)"),
        "{message}"
    );
    assert!(message.contains("(4, 784)"), "{message}");
}

#[test]
fn summary_of_the_keras_mnist_convnet_matches_keras() {
    use kiln_model::{Conv2d, Dropout, MaxPooling2d};
    let model = Sequential::new()
        .add(Input::new([28, 28, 1]))
        .add(Conv2d::new(32, 3).activation(Activation::Relu))
        .add(MaxPooling2d::new(2))
        .add(Conv2d::new(64, 3).activation(Activation::Relu))
        .add(MaxPooling2d::new(2))
        .add(Flatten::new())
        .add(Dropout::new(0.5))
        .add(Dense::new(10).activation(Activation::Softmax))
        .build(&Device::flex())
        .unwrap();
    // Keras 3's `model.summary()` of keras.io's "Simple MNIST convnet".
    let expected = "\
Model: \"sequential\"
┏━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━┓
┃ Layer (type)                    ┃ Output Shape           ┃       Param # ┃
┡━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━┩
│ conv2d (Conv2D)                 │ (None, 26, 26, 32)     │           320 │
├─────────────────────────────────┼────────────────────────┼───────────────┤
│ max_pooling2d (MaxPooling2D)    │ (None, 13, 13, 32)     │             0 │
├─────────────────────────────────┼────────────────────────┼───────────────┤
│ conv2d_1 (Conv2D)               │ (None, 11, 11, 64)     │        18,496 │
├─────────────────────────────────┼────────────────────────┼───────────────┤
│ max_pooling2d_1 (MaxPooling2D)  │ (None, 5, 5, 64)       │             0 │
├─────────────────────────────────┼────────────────────────┼───────────────┤
│ flatten (Flatten)               │ (None, 1600)           │             0 │
├─────────────────────────────────┼────────────────────────┼───────────────┤
│ dropout (Dropout)               │ (None, 1600)           │             0 │
├─────────────────────────────────┼────────────────────────┼───────────────┤
│ dense (Dense)                   │ (None, 10)             │        16,010 │
└─────────────────────────────────┴────────────────────────┴───────────────┘
 Total params: 34,826 (136.04 KB)
 Trainable params: 34,826 (136.04 KB)
 Non-trainable params: 0 (0.00 B)
";
    assert_eq!(model.summary().to_string(), expected);
    let names = model.weight_names();
    assert_eq!(names[0], "conv2d/kernel");
    assert_eq!(model.get_weights().unwrap()[0].shape(), &[3, 3, 1, 32]);
}

#[test]
fn a_convolution_on_flat_input_names_the_layer() {
    use kiln_model::Conv2d;
    let err = Sequential::new()
        .add(Input::new([784]))
        .add(Conv2d::new(8, 3))
        .build(&Device::flex())
        .unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("conv2d") && message.contains("(None, 784)"),
        "{message}"
    );
}

#[test]
fn an_embedding_id_out_of_range_is_an_error_not_a_panic() {
    use kiln_model::Embedding;
    let model = Sequential::new()
        .add(Input::new([3]))
        .add(Embedding::new(10, 4))
        .build(&Device::flex())
        .unwrap();
    let ok = model.predict(&array![[1u8, 2, 9]], 32).unwrap();
    assert_eq!(ok.shape(), &[1, 3, 4]);
    match model.predict(&array![[1u8, 2, 10]], 32) {
        Err(Error::IdOutOfRange {
            value,
            index,
            input_dim,
            layer,
            ..
        }) => {
            assert_eq!((value, index, input_dim), (10.0, 2, 10));
            assert_eq!(layer, "embedding");
        }
        other => panic!("expected IdOutOfRange, got {other:?}"),
    }
}
