//! BatchNormalization, Conv1D, 1-D pooling, recurrent layers and regularizers: shapes, Keras's
//! parameter counts, config and file round trips. (Their numbers against Keras are in the
//! facade's `keras_parity` test.)

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use burn::tensor::Device;
use kiln_model::{
    Activation, AveragePooling1d, BatchNormalization, Conv1d, Dense, Embedding, Error,
    GlobalAveragePooling1d, GlobalMaxPooling1d, Gru, Input, Lstm, MaxPooling1d, Padding,
    Regularizer, Sequential, SimpleRnn, load_model,
};
use ndarray::Array2;

fn text_classifier() -> Sequential {
    Sequential::new()
        .add(Input::new([12]))
        .add(Embedding::new(50, 8).embeddings_regularizer(Regularizer::l1(1e-3)))
        .add(
            Conv1d::new(6, 3)
                .activation(Activation::Relu)
                .padding(Padding::Same),
        )
        .add(MaxPooling1d::new(2))
        .add(Lstm::new(5).return_sequences(true))
        .add(Gru::new(4).return_sequences(true))
        .add(SimpleRnn::new(3).go_backwards(true).return_sequences(true))
        .add(AveragePooling1d::new(2).padding(Padding::Same))
        .add(GlobalMaxPooling1d::new())
        .add(BatchNormalization::new())
        .add(
            Dense::new(2)
                .activation(Activation::Softmax)
                .kernel_regularizer(Regularizer::l2(0.01)),
        )
        .seed(11)
}

fn ids() -> Array2<f32> {
    Array2::from_shape_fn((4, 12), |(i, j)| ((i * 7 + j * 3) % 50) as f32)
}

#[test]
fn summary_counts_are_keras_s_with_moving_statistics_non_trainable() {
    let model = text_classifier().build(&Device::flex()).unwrap();
    let text = model.summary().to_string();
    // Keras: LSTM(5) on 6 features: 4·5·(6+5) + 4·5 = 240; GRU(4) on 5, reset_after:
    // 3·4·(5+4) + 2·3·4 = 132; SimpleRNN(3) on 4: 3·(4+3) + 3 = 24; BN(3): 6 + 6.
    for row in [
        "embedding (Embedding)           │ (None, 12, 8)          │           400 │",
        "conv1d (Conv1D)                 │ (None, 12, 6)          │           150 │",
        "max_pooling1d (MaxPooling1D)    │ (None, 6, 6)           │             0 │",
        "lstm (LSTM)                     │ (None, 6, 5)           │           240 │",
        "gru (GRU)                       │ (None, 6, 4)           │           132 │",
        "simple_rnn (SimpleRNN)          │ (None, 6, 3)           │            24 │",
        // Keras (rich) wraps a long "name (Class)" at the space, as real Keras 3.15 prints it.
        "average_pooling1d               │ (None, 3, 3)           │             0 │\n│ (AveragePooling1D)              │",
        "batch_normalization             │ (None, 3)              │            12 │\n│ (BatchNormalization)            │",
    ] {
        assert!(text.contains(row), "missing row {row:?} in\n{text}");
    }
    let summary = model.summary();
    assert_eq!(summary.non_trainable_params(), 6);
    assert_eq!(
        summary.trainable_params(),
        400 + 150 + 240 + 132 + 24 + 6 + 8
    );
}

#[test]
fn config_json_of_every_new_layer_round_trips() {
    let json = text_classifier().to_json().unwrap();
    assert!(json.contains(r#""class_name": "L2""#), "{json}");
    let again = Sequential::from_config(&json).unwrap().to_json().unwrap();
    assert_eq!(json, again);
    let a = text_classifier().build(&Device::flex()).unwrap();
    let b = Sequential::from_config(&json)
        .unwrap()
        .build(&Device::flex())
        .unwrap();
    assert_eq!(a.predict(&ids(), 8).unwrap(), b.predict(&ids(), 8).unwrap());
}

#[test]
fn batch_normalization_trains_with_batch_statistics_and_predicts_with_moving_ones() {
    let model = Sequential::new()
        .add(Input::new([3]))
        .add(BatchNormalization::new().momentum(0.5))
        .build(&Device::flex())
        .unwrap();
    let x = ndarray::array![[1.0f32, 10.0, -2.0], [3.0, 30.0, 2.0]];
    // Inference before any training: moving mean 0, variance 1 → x / sqrt(1 + 1e-3).
    let before = model.predict(&x, 2).unwrap();
    assert!((before[[1, 1]] - 30.0 / 1.001f32.sqrt()).abs() < 1e-4);
    // Training: batch mean and biased variance, so each column is ±1 (up to ε).
    let trained = model.call(&x, true).unwrap();
    assert!((trained[[0, 1]] + 1.0).abs() < 1e-4 && (trained[[1, 1]] - 1.0).abs() < 1e-4);
    // Moving statistics moved half way (momentum 0.5): mean 0.5·[2, 20, 0], var 0.5 + 0.5·[1, 100, 4].
    let w = model.get_weights().unwrap();
    let names = model.weight_names();
    assert_eq!(
        names,
        [
            "batch_normalization/gamma",
            "batch_normalization/beta",
            "batch_normalization/moving_mean",
            "batch_normalization/moving_variance"
        ]
    );
    assert!((w[2][[1]] - 10.0).abs() < 1e-5);
    assert!((w[3][[1]] - 50.5).abs() < 1e-3);
    // Inference now uses them.
    let after = model.predict(&x, 2).unwrap();
    assert!((after[[1, 1]] - (30.0 - 10.0) / (50.5f32 + 1e-3).sqrt()).abs() < 1e-4);
}

#[test]
fn moving_statistics_survive_save_and_load() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("text.safetensors");
    let model = text_classifier().build(&Device::flex()).unwrap();
    // A training call moves BatchNormalization's statistics away from their initial values.
    model.call(&ids(), true).unwrap();
    model.save(&path).unwrap();
    let loaded = load_model(&path, &Device::flex()).unwrap();
    assert_eq!(loaded.get_weights().unwrap(), model.get_weights().unwrap());
    assert_eq!(
        loaded.predict(&ids(), 4).unwrap(),
        model.predict(&ids(), 4).unwrap()
    );
}

#[test]
fn regularization_loss_is_l1_plus_l2_of_the_weights() {
    let model = text_classifier().build(&Device::flex()).unwrap();
    let w = model.get_weights().unwrap();
    let names = model.weight_names();
    let find = |n: &str| &w[names.iter().position(|x| x == n).unwrap()];
    let l1: f32 = find("embedding/embeddings")
        .iter()
        .map(|v| v.abs())
        .sum::<f32>()
        * 1e-3;
    let l2: f32 = find("dense/kernel").iter().map(|v| v * v).sum::<f32>() * 0.01;
    let got = model
        .regularization_loss()
        .unwrap()
        .into_data()
        .try_to_vec::<f32>()
        .unwrap()[0];
    assert!((got - (l1 + l2)).abs() < 1e-6, "{got} vs {}", l1 + l2);
    let plain = Sequential::new().add(Input::new([2])).add(Dense::new(1));
    assert!(
        plain
            .build(&Device::flex())
            .unwrap()
            .regularization_loss()
            .is_none()
    );
}

#[test]
fn lstm_gates_are_keras_i_f_c_o_with_forget_bias_one() {
    let model = Sequential::new()
        .add(Input::new([4, 2]))
        .add(Lstm::new(3))
        .seed(1)
        .build(&Device::flex())
        .unwrap();
    let w = model.get_weights().unwrap();
    assert_eq!(w[0].shape(), &[2, 12]);
    assert_eq!(w[1].shape(), &[3, 12]);
    let bias: Vec<f32> = w[2].iter().copied().collect();
    assert_eq!(bias, [0., 0., 0., 1., 1., 1., 0., 0., 0., 0., 0., 0.]);
    // The recurrent kernel is orthogonal: its three rows are orthonormal.
    let r = &w[1];
    for i in 0..3 {
        for j in 0..3 {
            let dot: f32 = (0..12).map(|k| r[[i, k]] * r[[j, k]]).sum();
            assert!((dot - f32::from(u8::from(i == j))).abs() < 1e-5);
        }
    }
}

#[test]
fn recurrent_layers_need_sequences_and_say_so() {
    let err = Sequential::new()
        .add(Input::new([10]))
        .add(Gru::new(4))
        .build(&Device::flex())
        .unwrap_err();
    let Error::IncompatibleShape { layer, reason, .. } = err else {
        panic!("wrong error: {err}");
    };
    assert_eq!(layer, "gru");
    assert!(reason.contains("GRU needs sequences"), "{reason}");
    let err = Sequential::new()
        .add(Input::new([10, 2]))
        .add(SimpleRnn::new(4))
        .add(GlobalAveragePooling1d::new())
        .build(&Device::flex())
        .unwrap_err();
    assert!(
        err.to_string().contains("global_average_pooling1d"),
        "{err}"
    );
}

#[test]
fn unsupported_recurrent_options_are_build_errors() {
    let json = r#"{"layers": [
        {"class_name": "InputLayer", "config": {"batch_shape": [null, 5, 3]}},
        {"class_name": "LSTM", "config": {"units": 4, "stateful": true}}
    ]}"#;
    let err = Sequential::from_config(json)
        .unwrap()
        .build(&Device::flex())
        .unwrap_err();
    assert!(err.to_string().contains("stateful"), "{err}");
}
