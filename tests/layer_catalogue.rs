//! Layers of the catalogue whose behaviour the Keras goldens cannot pin alone: a `Lambda`
//! closure trains and refuses to be saved; `TimeDistributed` is its layer applied per step;
//! `activity_regularizer` reads back from a config and enters the loss; `sparsemax` is a
//! distribution with exact zeros; attention over some axes is attention over sequences of them;
//! a sliding window of one step is attention of each step to itself.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use kiln::model::{
    Activation, Apply, DynTensor, Error, Functional, Lambda, LayerExt, Regularizer, TimeDistributed,
};
use kiln::prelude::*;
use ndarray::{Array2, Array3};

fn device() -> Device {
    Device::flex()
}

#[test]
fn a_lambda_layer_trains_and_predicts_but_a_model_holding_it_cannot_be_saved() {
    let square = Lambda::new(|x: DynTensor, _| Ok(kiln::model::dyn_map!(x, t => t.clone() * t)));
    let mut model = Sequential::new()
        .add(Input::new([1]))
        .add(square.name("square"))
        .add(Dense::new(1))
        .seed(3)
        .build(&device())
        .unwrap()
        .compile(
            kiln::train::Optimizer::adam().learning_rate(0.05),
            "mse",
            ["mae"],
        )
        .unwrap();
    // y = 3x² - 1 is linear in the lambda's output.
    let x = Array2::from_shape_fn((64, 1), |(i, _)| i as f32 / 32.0 - 1.0);
    let y = x.mapv(|v| 3.0 * v * v - 1.0);
    let history = model
        .fit(
            &x,
            &y,
            FitOptions::new().epochs(300).batch_size(64).verbose(0),
        )
        .unwrap();
    let loss = *history.history["loss"].last().unwrap();
    assert!(loss < 1e-3, "loss {loss}");
    let p = model.predict(&ndarray::array![[0.5f32]]).unwrap();
    assert!((p[[0, 0]] + 0.25).abs() < 0.05, "{p}");
    let path = tempfile::tempdir().unwrap().keep().join("m.keras");
    let e = model.model().save(&path).unwrap_err();
    assert!(
        matches!(&e, Error::Unsaveable { layer, .. } if layer == "square"),
        "{e}"
    );
    assert!(!path.exists());
    // Nested in another model, it is found too.
    let input = Input::new([1]).tensor().unwrap();
    let inner = Sequential::new()
        .add(Input::new([1]))
        .add(Lambda::new(|x, _| Ok(x)).name("pass"))
        .name("inner");
    let out = inner.apply(&input).unwrap();
    let outer = Functional::new(&input, &out)
        .unwrap()
        .build(&device())
        .unwrap();
    let e = outer.config().to_json().unwrap_err().to_string();
    assert!(e.contains("pass"), "{e}");
    // The closure's own error is a build error naming the layer.
    let e = Sequential::new()
        .add(Input::new([2]))
        .add(Lambda::new(|_, _| Err("no such op".into())).name("broken"))
        .build(&device())
        .unwrap_err()
        .to_string();
    assert!(e.contains("broken") && e.contains("no such op"), "{e}");
}

#[test]
fn time_distributed_applies_its_layer_to_every_step_with_one_set_of_weights() {
    let steps = Sequential::new()
        .add(Input::new([5, 3]))
        .add(TimeDistributed::new(
            Dense::new(2).activation(Activation::Tanh),
        ))
        .seed(7)
        .build(&device())
        .unwrap();
    let single = Sequential::new()
        .add(Input::new([3]))
        .add(Dense::new(2).activation(Activation::Tanh))
        .build(&device())
        .unwrap()
        .set_weights(&steps.get_weights().unwrap())
        .unwrap();
    assert_eq!(
        steps.weight_names(),
        [
            "time_distributed/layer/kernel",
            "time_distributed/layer/bias"
        ]
    );
    let x = Array3::from_shape_fn((4, 5, 3), |(b, t, f)| (b * 15 + t * 3 + f) as f32 / 30.0);
    let y = steps.predict(&x, 32).unwrap();
    assert_eq!(y.shape(), &[4, 5, 2]);
    for b in 0..4 {
        for t in 0..5 {
            let row = x.slice_axis(ndarray::Axis(0), (b..b + 1).into()).to_owned();
            let row = row
                .index_axis(ndarray::Axis(1), t)
                .to_owned()
                .into_shape_with_order((1, 3))
                .unwrap();
            let want = single.predict(&row, 32).unwrap();
            for k in 0..2 {
                assert!((y[[b, t, k]] - want[[0, k]]).abs() < 1e-6);
            }
        }
    }
    // Saved and read back, from its Keras config.
    let json = steps.config().to_json().unwrap();
    assert!(json.contains("\"TimeDistributed\"") && json.contains("\"Dense\""));
    let again = kiln::model::ModelConfig::from_json_with(&json, &Default::default())
        .unwrap()
        .build(&device())
        .unwrap();
    assert_eq!(again.output_shape().to_string(), "(None, 5, 2)");
}

#[test]
fn an_activity_regularizer_enters_the_loss_and_reads_back_from_its_config() {
    let model = Sequential::new()
        .add(Input::new([2]))
        .add(
            Dense::new(2)
                .kernel_initializer(kiln::model::Initializer::Ones)
                .activity_regularizer(Regularizer::l2(0.5)),
        )
        .build(&device())
        .unwrap();
    // Outputs of x = [1, 2] and [0, 1] with a kernel of ones: [3, 3] and [1, 1];
    // 0.5 * (9 + 9 + 1 + 1) / batch 2 = 5.
    let x = burn::tensor::Tensor::<2>::from_floats([[1.0, 2.0], [0.0, 1.0]], model.device());
    let (_, _, added) = model
        .forward_with_losses(vec![DynTensor::R2(x)], false)
        .unwrap();
    assert!((added.unwrap().into_scalar::<f32>() - 5.0).abs() < 1e-5);
    let json = model.config().to_json().unwrap();
    assert!(json.contains("activity_regularizer"), "{json}");
    let again = kiln::model::ModelConfig::from_json_with(&json, &Default::default()).unwrap();
    assert_eq!(again.to_json().unwrap(), json);
    // With `compile`, the penalty is part of the loss `evaluate` reports, as Keras.
    let compiled = model.compile("sgd", "mse", ["mse"]).unwrap();
    let xs = ndarray::array![[1.0f32, 2.0], [0.0, 1.0]];
    let ys = ndarray::array![[3.0f32, 3.0], [1.0, 1.0]];
    let scores = compiled.evaluate(&xs, &ys).unwrap();
    assert!((scores["loss"] - 5.0).abs() < 1e-5, "{scores:?}");
    assert!(scores["mse"].abs() < 1e-6);
}

#[test]
fn sparsemax_is_a_distribution_with_exact_zeros() {
    let model = Sequential::new()
        .add(Input::new([3]))
        .add(kiln::model::ActivationLayer::new(Activation::Sparsemax))
        .build(&device())
        .unwrap();
    let y = model
        .predict(&ndarray::array![[1.0f32, 2.0, 3.0], [0.5, 0.6, 0.1]], 32)
        .unwrap();
    let want = [
        0.0,
        0.0,
        1.0,
        0.4 + 1.0 / 30.0,
        0.5 + 1.0 / 30.0,
        1.0 / 30.0,
    ];
    for (g, w) in y.iter().zip(want) {
        assert!((g - w).abs() < 1e-6, "{y}");
    }
}

#[test]
fn recurrent_dropout_acts_in_training_only() {
    use kiln::model::{Gru, Lstm, SimpleRnn};
    let x = Array3::from_shape_fn((4, 6, 3), |(b, t, f)| {
        ((b + 2 * t + 3 * f) % 5) as f32 / 4.0 - 0.5
    });
    let layers: Vec<kiln::model::LayerSpec> = vec![
        SimpleRnn::new(3).dropout(0.4).recurrent_dropout(0.4).into(),
        Lstm::new(3).dropout(0.4).into(),
        Lstm::new(3).dropout(0.4).recurrent_dropout(0.3).into(),
        Gru::new(3).recurrent_dropout(0.3).into(),
        Gru::new(3)
            .reset_after(false)
            .dropout(0.2)
            .recurrent_dropout(0.3)
            .into(),
    ];
    for layer in layers {
        let with = Sequential::new()
            .add(Input::new([6, 3]))
            .add(layer.clone())
            .seed(3)
            .build(&device())
            .unwrap();
        let json = Sequential::new()
            .add(Input::new([6, 3]))
            .add(layer)
            .to_json()
            .unwrap();
        let mut value: serde_json::Value = serde_json::from_str(&json).unwrap();
        let config = &mut value["layers"][1]["config"];
        assert!(
            config["dropout"].as_f64().unwrap() + config["recurrent_dropout"].as_f64().unwrap()
                > 0.0
        );
        config["dropout"] = serde_json::json!(0.0);
        config["recurrent_dropout"] = serde_json::json!(0.0);
        let plain = Sequential::from_config(&value.to_string())
            .unwrap()
            .build(&device())
            .unwrap()
            .set_weights(&with.get_weights().unwrap())
            .unwrap();
        // Inference: as without dropout.
        assert_eq!(
            with.call(&x, false).unwrap(),
            plain.call(&x, false).unwrap()
        );
        // Training: different, and the masks differ between calls.
        let (a, b) = (with.call(&x, true).unwrap(), with.call(&x, true).unwrap());
        let p = plain.call(&x, true).unwrap();
        assert!(a.iter().zip(p.iter()).any(|(u, v)| (u - v).abs() > 1e-4));
        assert!(a.iter().zip(b.iter()).any(|(u, v)| (u - v).abs() > 1e-6));
    }
}

#[test]
fn a_causal_attention_step_sees_only_the_steps_before_it() {
    use kiln::model::{AdditiveAttention, Attention, MultiHeadAttention};
    type Build = Box<dyn Fn(&kiln::model::SymbolicTensor) -> kiln::model::SymbolicTensor>;
    let builds: Vec<Build> = vec![
        Box::new(|x| {
            MultiHeadAttention::new(2, 3)
                .use_causal_mask(true)
                .apply([x, x])
                .unwrap()
        }),
        Box::new(|x| {
            Attention::new()
                .use_causal_mask(true)
                .apply([x, x])
                .unwrap()
        }),
        Box::new(|x| {
            AdditiveAttention::new()
                .use_causal_mask(true)
                .apply([x, x])
                .unwrap()
        }),
    ];
    for build in builds {
        let x = Input::new([5, 4]).tensor().unwrap();
        let y = build(&x);
        let spec = Functional::new(&x, &y).unwrap().seed(9);
        // The call argument goes to the node's kwargs (where Keras reads it) and back.
        let json = spec.to_json().unwrap();
        assert!(json.contains("\"use_causal_mask\": true"), "{json}");
        let back = Functional::from_config(&json).unwrap();
        assert_eq!(back.to_json().unwrap(), json);
        let model = spec.build(&device()).unwrap();
        let a = Array3::from_shape_fn((1, 5, 4), |(_, t, f)| {
            (t as f32 - 2.0) * 0.3 + f as f32 * 0.1
        });
        let mut b = a.clone();
        b[[0, 4, 0]] += 5.0;
        b[[0, 3, 2]] -= 3.0;
        let (ya, yb) = (model.predict(&a, 1).unwrap(), model.predict(&b, 1).unwrap());
        for t in 0..3 {
            for d in 0..ya.shape()[2] {
                assert!((ya[[0, t, d]] - yb[[0, t, d]]).abs() < 1e-6, "step {t}");
            }
        }
        assert!((ya[[0, 4, 0]] - yb[[0, 4, 0]]).abs() > 1e-6);
    }
}

#[test]
fn einsum_dense_equals_dense_where_its_equation_is_dense() {
    use kiln::model::EinsumDense;
    let x = Array3::from_shape_fn((2, 3, 4), |(b, t, f)| {
        (b * 12 + t * 4 + f) as f32 / 10.0 - 1.0
    });
    let dense = Sequential::new()
        .add(Input::new([3, 4]))
        .add(Dense::new(5).activation(Activation::Tanh))
        .seed(1)
        .build(&device())
        .unwrap();
    let weights = dense.get_weights().unwrap();
    let want = dense.predict(&x, 8).unwrap();
    for (equation, shape) in [
        ("abc,cd->abd", vec![None, Some(5)]),
        ("...c,cd->...d", vec![Some(5)]),
    ] {
        let einsum = Sequential::new()
            .add(Input::new([3, 4]))
            .add(
                EinsumDense::new(equation, shape)
                    .bias_axes("d")
                    .activation(Activation::Tanh),
            )
            .build(&device())
            .unwrap()
            .set_weights(&weights)
            .unwrap();
        let got = einsum.predict(&x, 8).unwrap();
        assert_eq!(got.shape(), want.shape());
        for (a, b) in got.iter().zip(want.iter()) {
            assert!((a - b).abs() < 1e-5, "{equation}: {got} vs {want}");
        }
    }
    // Heads: "abc,cde->abde" is the Dense to d·e units, reshaped.
    let heads = Sequential::new()
        .add(Input::new([3, 4]))
        .add(EinsumDense::new(
            "abc,cde->abde",
            [Some(3), Some(2), Some(3)],
        ))
        .build(&device())
        .unwrap();
    let kernel = heads.get_weights().unwrap().remove(0);
    let flat = kernel.into_shape_with_order(vec![4, 6]).unwrap();
    let as_dense = Sequential::new()
        .add(Input::new([3, 4]))
        .add(Dense::new(6).use_bias(false))
        .build(&device())
        .unwrap()
        .set_weights(&[flat])
        .unwrap();
    let (a, b) = (
        heads.predict(&x, 8).unwrap(),
        as_dense.predict(&x, 8).unwrap(),
    );
    assert_eq!(a.shape(), &[2, 3, 2, 3]);
    for (p, q) in a.iter().zip(b.iter()) {
        assert!((p - q).abs() < 1e-5);
    }
}

#[test]
fn grouped_query_attention_with_as_many_kv_heads_is_multi_head_attention() {
    use kiln::model::{GroupedQueryAttention, MultiHeadAttention};
    let build = |gqa: bool| {
        let (q, v) = (
            Input::new([4, 6]).tensor().unwrap(),
            Input::new([5, 6]).tensor().unwrap(),
        );
        let y = if gqa {
            GroupedQueryAttention::new(3, 2, 2).apply([&q, &v]).unwrap()
        } else {
            MultiHeadAttention::new(2, 3).apply([&q, &v]).unwrap()
        };
        Functional::new([&q, &v], &y)
            .unwrap()
            .seed(11)
            .build(&device())
            .unwrap()
    };
    let mha = build(false);
    let gqa = build(true)
        .set_weights(&mha.get_weights().unwrap())
        .unwrap();
    let q = Array3::from_shape_fn((2, 4, 6), |(b, t, f)| {
        ((b + t * 3 + f) % 7) as f32 / 3.0 - 1.0
    });
    let v = Array3::from_shape_fn((2, 5, 6), |(b, t, f)| {
        ((b * 2 + t + f * 5) % 9) as f32 / 4.0 - 1.0
    });
    let a = mha.predict_many(&[&q, &v], 8).unwrap().remove(0);
    let b = gqa.predict_many(&[&q, &v], 8).unwrap().remove(0);
    for (x, y) in a.iter().zip(b.iter()) {
        assert!((x - y).abs() < 1e-5, "{a} vs {b}");
    }
    // One key/value head shared by 4 query heads: weights [6, 1, 3] for key and value.
    let (q2, v2) = (
        Input::new([4, 6]).tensor().unwrap(),
        Input::new([5, 6]).tensor().unwrap(),
    );
    let y = GroupedQueryAttention::new(3, 4, 1)
        .apply([&q2, &v2])
        .unwrap();
    let shared = Functional::new([&q2, &v2], &y)
        .unwrap()
        .build(&device())
        .unwrap();
    assert_eq!(shared.weight_shapes()[2], vec![6, 1, 3]);
    let refused = GroupedQueryAttention::new(3, 4, 3).apply([&q2, &v2]);
    assert!(refused.unwrap_err().to_string().contains("divisible"));
}

#[test]
fn batch_normalization_over_another_axis_is_the_last_axis_of_the_transpose() {
    use kiln::model::{BatchNormalization, Permute};
    let x = Array3::from_shape_fn((4, 3, 5), |(b, t, f)| {
        ((b * 7 + t * 3 + f * 2) % 11) as f32 - 5.0
    });
    let on_axis1 = Sequential::new()
        .add(Input::new([3, 5]))
        .add(BatchNormalization::new().axis(1).momentum(0.5))
        .build(&device())
        .unwrap();
    assert_eq!(on_axis1.weight_shapes()[0], vec![3]);
    let transposed = Sequential::new()
        .add(Input::new([3, 5]))
        .add(Permute::new([2, 1]))
        .add(BatchNormalization::new().momentum(0.5))
        .add(Permute::new([2, 1]))
        .build(&device())
        .unwrap();
    for training in [true, false] {
        let (a, b) = (
            on_axis1.call(&x, training).unwrap(),
            transposed.call(&x, training).unwrap(),
        );
        for (p, q) in a.iter().zip(b.iter()) {
            assert!((p - q).abs() < 1e-5, "training {training}");
        }
    }
    let bad = Sequential::new()
        .add(Input::new([3, 5]))
        .add(BatchNormalization::new().axis(3))
        .build(&device());
    assert!(bad.unwrap_err().to_string().contains("axis 3"));
}

#[test]
fn a_conv_lstm_with_one_by_one_windows_on_one_pixel_is_an_lstm() {
    use kiln::model::{ConvLstm1d, ConvLstm2d, Lstm};
    let lstm = Sequential::new()
        .add(Input::new([5, 3]))
        .add(Lstm::new(4).return_sequences(true))
        .seed(2)
        .build(&device())
        .unwrap();
    let weights = lstm.get_weights().unwrap();
    let x = Array3::from_shape_fn((2, 5, 3), |(b, t, f)| {
        ((b * 5 + t * 2 + f) % 7) as f32 / 3.0 - 1.0
    });
    let want = lstm.predict(&x, 8).unwrap();
    let reshaped = |dims: &[usize]| -> Vec<ndarray::ArrayD<f32>> {
        let mut w = weights.to_vec();
        w[0] = w[0]
            .clone()
            .into_shape_with_order([dims, &[3, 16]].concat())
            .unwrap();
        w[1] = w[1]
            .clone()
            .into_shape_with_order([dims, &[4, 16]].concat())
            .unwrap();
        w
    };
    let conv2d = Sequential::new()
        .add(Input::new([5, 1, 1, 3]))
        .add(ConvLstm2d::new(4, 1).return_sequences(true))
        .build(&device())
        .unwrap()
        .set_weights(&reshaped(&[1, 1]))
        .unwrap();
    let got = conv2d
        .predict(
            &x.clone().into_shape_with_order((2, 5, 1, 1, 3)).unwrap(),
            8,
        )
        .unwrap();
    for (a, b) in got.iter().zip(want.iter()) {
        assert!((a - b).abs() < 1e-5, "ConvLSTM2D {got} vs LSTM {want}");
    }
    let conv1d = Sequential::new()
        .add(Input::new([5, 1, 3]))
        .add(ConvLstm1d::new(4, 1).return_sequences(true))
        .build(&device())
        .unwrap()
        .set_weights(&reshaped(&[1]))
        .unwrap();
    let got = conv1d
        .predict(&x.clone().into_shape_with_order((2, 5, 1, 3)).unwrap(), 8)
        .unwrap();
    for (a, b) in got.iter().zip(want.iter()) {
        assert!((a - b).abs() < 1e-5, "ConvLSTM1D {got} vs LSTM {want}");
    }
}

#[test]
fn recurrent_layers_take_initial_states_as_keras_initial_state() {
    use kiln::model::{Gru, Lstm};
    let x = Input::new([5, 3]).tensor().unwrap();
    let (h, c) = (
        Input::new([4]).tensor().unwrap(),
        Input::new([4]).tensor().unwrap(),
    );
    let y = Lstm::new(4).apply([&x, &h, &c]).unwrap();
    let spec = Functional::new([&x, &h, &c], &y).unwrap().seed(4);
    // Written as Keras writes it: the states in the node's `initial_state` keyword.
    let json = spec.to_json().unwrap();
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    let node = &value["config"]["layers"][3]["inbound_nodes"][0];
    assert_eq!(node["args"].as_array().unwrap().len(), 1, "{node}");
    assert_eq!(
        node["kwargs"]["initial_state"].as_array().unwrap().len(),
        2,
        "{node}"
    );
    let back = Functional::from_config(&json).unwrap();
    assert_eq!(back.to_json().unwrap(), json);
    let model = spec.build(&device()).unwrap();
    let xs = Array3::from_shape_fn((2, 5, 3), |(b, t, f)| ((b + t + f) % 4) as f32 / 2.0 - 0.7);
    let zeros = Array2::<f32>::zeros((2, 4));
    let ones = Array2::<f32>::from_elem((2, 4), 0.5);
    // Zero states are the default; other states change the result.
    let plain = Sequential::new()
        .add(Input::new([5, 3]))
        .add(Lstm::new(4))
        .build(&device())
        .unwrap()
        .set_weights(&model.get_weights().unwrap())
        .unwrap();
    let a = model
        .predict_many(&[&xs, &zeros, &zeros], 8)
        .unwrap()
        .remove(0);
    assert_eq!(a, plain.predict(&xs, 8).unwrap());
    let b = model
        .predict_many(&[&xs, &ones, &zeros], 8)
        .unwrap()
        .remove(0);
    assert!(a.iter().zip(b.iter()).any(|(p, q)| (p - q).abs() > 1e-4));
    // A GRU takes one state; the wrong count or size is a build error naming the rule.
    let wrong = Gru::new(4).apply([&x, &h, &c]).unwrap_err().to_string();
    assert!(wrong.contains("1 initial state"), "{wrong}");
    let small = Input::new([3]).tensor().unwrap();
    let wrong = Gru::new(4).apply([&x, &small]).unwrap_err().to_string();
    assert!(wrong.contains("(4,)"), "{wrong}");
}

#[test]
fn multi_head_attention_takes_keras_attention_mask_as_an_input() {
    use kiln::model::MultiHeadAttention;
    let (q, v) = (
        Input::new([3, 4]).tensor().unwrap(),
        Input::new([5, 4]).tensor().unwrap(),
    );
    let m = Input::new([3, 5]).tensor().unwrap();
    let y = MultiHeadAttention::new(2, 3)
        .attention_mask(true)
        .apply([&q, &v, &m])
        .unwrap();
    let spec = Functional::new([&q, &v, &m], &y).unwrap().seed(6);
    let json = spec.to_json().unwrap();
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    let node = &value["config"]["layers"][3]["inbound_nodes"][0];
    assert_eq!(node["args"].as_array().unwrap().len(), 2, "{node}");
    assert!(node["kwargs"]["attention_mask"].is_object(), "{node}");
    assert_eq!(
        Functional::from_config(&json).unwrap().to_json().unwrap(),
        json
    );
    let model = spec.build(&device()).unwrap();
    // Masking the last two value steps is attending over the first three only.
    let short = {
        let (q, v) = (
            Input::new([3, 4]).tensor().unwrap(),
            Input::new([3, 4]).tensor().unwrap(),
        );
        let y = MultiHeadAttention::new(2, 3).apply([&q, &v]).unwrap();
        Functional::new([&q, &v], &y)
            .unwrap()
            .build(&device())
            .unwrap()
            .set_weights(&model.get_weights().unwrap())
            .unwrap()
    };
    let qs = Array3::from_shape_fn((2, 3, 4), |(b, t, f)| {
        ((b + 2 * t + f) % 5) as f32 / 2.0 - 1.0
    });
    let vs = Array3::from_shape_fn((2, 5, 4), |(b, t, f)| {
        ((3 * b + t + 2 * f) % 7) as f32 / 3.0 - 1.0
    });
    let mask = Array3::from_shape_fn((2, 3, 5), |(_, _, j)| if j < 3 { 1.0f32 } else { 0.0 });
    let a = model.predict_many(&[&qs, &vs, &mask], 8).unwrap().remove(0);
    let first3 = vs
        .slice_axis(ndarray::Axis(1), ndarray::Slice::from(0..3))
        .to_owned();
    let b = short.predict_many(&[&qs, &first3], 8).unwrap().remove(0);
    for (p, r) in a.iter().zip(b.iter()) {
        assert!((p - r).abs() < 1e-5, "{a} vs {b}");
    }
    let wrong = Input::new([3, 4]).tensor().unwrap();
    let err = MultiHeadAttention::new(2, 3)
        .attention_mask(true)
        .apply([&q, &v, &wrong]);
    assert!(
        err.unwrap_err()
            .to_string()
            .contains("(query steps, value steps)")
    );
}

#[test]
fn return_state_gives_the_final_states_as_further_outputs() {
    use kiln::model::{Gru, LayerSpec, Lstm};
    let x = Input::new([5, 3]).tensor().unwrap();
    let outs = LayerSpec::new(Lstm::new(4).return_sequences(true).return_state(true))
        .apply_outputs(&x)
        .unwrap();
    assert_eq!(outs.len(), 3);
    let spec = Functional::new(&x, &outs).unwrap().seed(8);
    // Keras's config: the further outputs are tensor indices 1 and 2 of the call.
    let json = spec.to_json().unwrap();
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(
        value["config"]["output_layers"],
        serde_json::json!([["lstm", 0, 0], ["lstm", 0, 1], ["lstm", 0, 2]])
    );
    assert_eq!(
        Functional::from_config(&json).unwrap().to_json().unwrap(),
        json
    );
    let summary = spec.summary();
    assert_eq!(
        summary.layers[1].shape_text(),
        "[(None, 5, 4), (None, 4), (None, 4)]"
    );
    let model = spec.build(&device()).unwrap();
    let xs = Array3::from_shape_fn((2, 5, 3), |(b, t, f)| {
        ((b * 3 + t + 2 * f) % 5) as f32 / 2.0 - 1.0
    });
    let ys = model.predict_many(&[&xs], 8).unwrap();
    // h is the last step of the sequence; c is the cell state, another tensor.
    for b in 0..2 {
        for u in 0..4 {
            assert_eq!(ys[1][[b, u]], ys[0][[b, 4, u]]);
        }
    }
    assert!(
        ys[2]
            .iter()
            .zip(ys[1].iter())
            .any(|(c, h)| (c - h).abs() > 1e-4)
    );
    // Encoder states into a decoder (seq2seq).
    let enc = LayerSpec::new(Gru::new(4).return_state(true))
        .apply_outputs(&x)
        .unwrap();
    let dec_in = Input::new([3, 2]).tensor().unwrap();
    let dec = Gru::new(4).apply([&dec_in, &enc[1]]).unwrap();
    let seq2seq = Functional::new([&x, &dec_in], &dec).unwrap();
    let json = seq2seq.to_json().unwrap();
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    let decoder = &value["config"]["layers"][3];
    assert_eq!(
        decoder["inbound_nodes"][0]["kwargs"]["initial_state"][0]["config"]["keras_history"],
        serde_json::json!(["gru", 0, 1]),
        "{decoder}"
    );
    let back = Functional::from_config(&json).unwrap();
    assert_eq!(back.to_json().unwrap(), json);
    // `apply` refuses a layer of several outputs, and so does a Sequential.
    let err = Lstm::new(2)
        .return_state(true)
        .apply(&x)
        .unwrap_err()
        .to_string();
    assert!(err.contains("apply_outputs"), "{err}");
    let err = Sequential::new()
        .add(Input::new([5, 3]))
        .add(Lstm::new(2).return_state(true))
        .build(&device())
        .unwrap_err()
        .to_string();
    assert!(err.contains("several outputs"), "{err}");
}

#[test]
fn attention_layers_return_their_scores_as_a_further_output() {
    use kiln::model::{Attention, LayerSpec, MultiHeadAttention};
    let (q, v) = (
        Input::new([3, 4]).tensor().unwrap(),
        Input::new([5, 4]).tensor().unwrap(),
    );
    let mha = LayerSpec::new(MultiHeadAttention::new(2, 3).return_attention_scores(true))
        .apply_outputs([&q, &v])
        .unwrap();
    assert_eq!(mha[1].shape().dims(), &[2, 3, 5]);
    let luong = LayerSpec::new(Attention::new().return_attention_scores(true))
        .apply_outputs([&q, &v])
        .unwrap();
    assert_eq!(luong[1].shape().dims(), &[3, 5]);
    let outputs: Vec<_> = mha.iter().chain(&luong).cloned().collect();
    let spec = Functional::new([&q, &v], &outputs).unwrap().seed(3);
    let json = spec.to_json().unwrap();
    assert!(json.contains("\"return_attention_scores\": true"), "{json}");
    assert_eq!(
        Functional::from_config(&json).unwrap().to_json().unwrap(),
        json
    );
    let model = spec.build(&device()).unwrap();
    let qs = Array3::from_shape_fn((2, 3, 4), |(b, t, f)| {
        ((b + 2 * t + f) % 5) as f32 / 2.0 - 1.0
    });
    let vs = Array3::from_shape_fn((2, 5, 4), |(b, t, f)| {
        ((3 * b + t + 2 * f) % 7) as f32 / 3.0 - 1.0
    });
    let ys = model.predict_many(&[&qs, &vs], 8).unwrap();
    // Probabilities: each query step's row sums to 1.
    for row in ys[1].lanes(ndarray::Axis(3)) {
        assert!((row.sum() - 1.0).abs() < 1e-5);
    }
    // Attention's output is its weights times the values.
    for b in 0..2 {
        for i in 0..3 {
            for d in 0..4 {
                let want: f32 = (0..5).map(|j| ys[3][[b, i, j]] * vs[[b, j, d]]).sum();
                assert!((ys[2][[b, i, d]] - want).abs() < 1e-5);
            }
        }
    }
}

#[test]
fn bidirectional_and_conv_lstm_return_their_states() {
    use kiln::model::{Bidirectional, ConvLstm2d, LayerSpec, Lstm};
    let x = Input::new([5, 3]).tensor().unwrap();
    let outs = LayerSpec::new(Bidirectional::new(Lstm::new(4).return_state(true)))
        .apply_outputs(&x)
        .unwrap();
    let shapes: Vec<Vec<usize>> = outs.iter().map(|t| t.shape().dims().to_vec()).collect();
    assert_eq!(shapes, [vec![8], vec![4], vec![4], vec![4], vec![4]]);
    let model = Functional::new(&x, &outs)
        .unwrap()
        .build(&device())
        .unwrap();
    let xs = Array3::from_shape_fn((2, 5, 3), |(b, t, f)| {
        ((b + t * 2 + f) % 5) as f32 / 2.0 - 1.0
    });
    let ys = model.predict_many(&[&xs], 8).unwrap();
    // The merged output is [forward h, backward h].
    for b in 0..2 {
        for u in 0..4 {
            assert_eq!(ys[0][[b, u]], ys[1][[b, u]]);
            assert_eq!(ys[0][[b, 4 + u]], ys[3][[b, u]]);
        }
    }
    let frames = Input::new([3, 4, 4, 1]).tensor().unwrap();
    let outs = LayerSpec::new(ConvLstm2d::new(2, 3).return_state(true))
        .apply_outputs(&frames)
        .unwrap();
    assert_eq!(outs.len(), 3);
    assert_eq!(outs[2].shape().dims(), &[2, 2, 2]);
    let model = Functional::new(&frames, &outs)
        .unwrap()
        .build(&device())
        .unwrap();
    let input =
        ndarray::Array5::from_shape_fn((1, 3, 4, 4, 1), |(_, t, i, j, _)| (t + i + j) as f32 / 9.0);
    let ys = model.predict_many(&[&input], 8).unwrap();
    assert_eq!(ys[0], ys[1]);
}

#[test]
fn bidirectional_without_a_merge_gives_both_directions() {
    use kiln::model::{Bidirectional, LayerSpec, Lstm, MergeMode};
    let x = Input::new([5, 3]).tensor().unwrap();
    let both = LayerSpec::new(Bidirectional::new(Lstm::new(4)).merge_mode(MergeMode::Separate))
        .apply_outputs(&x)
        .unwrap();
    assert_eq!(both.len(), 2);
    let spec = Functional::new(&x, &both).unwrap().seed(1);
    let json = spec.to_json().unwrap();
    assert!(json.contains("\"merge_mode\": null"), "{json}");
    assert_eq!(
        Functional::from_config(&json).unwrap().to_json().unwrap(),
        json
    );
    let separate = spec.build(&device()).unwrap();
    let concat = Functional::new(&x, &Bidirectional::new(Lstm::new(4)).apply(&x).unwrap())
        .unwrap()
        .build(&device())
        .unwrap()
        .set_weights(&separate.get_weights().unwrap())
        .unwrap();
    let xs = Array3::from_shape_fn((2, 5, 3), |(b, t, f)| {
        ((b + t + 2 * f) % 4) as f32 / 2.0 - 0.5
    });
    let ys = separate.predict_many(&[&xs], 8).unwrap();
    let joined = concat.predict(&xs, 8).unwrap();
    for b in 0..2 {
        for u in 0..4 {
            assert_eq!(joined[[b, u]], ys[0][[b, u]]);
            assert_eq!(joined[[b, 4 + u]], ys[1][[b, u]]);
        }
    }
}

#[test]
fn a_gated_attention_with_a_zero_gate_projection_halves_the_heads() {
    use kiln::model::MultiHeadAttention;
    let build = |gate: bool| {
        let (q, v) = (
            Input::new([3, 4]).tensor().unwrap(),
            Input::new([5, 4]).tensor().unwrap(),
        );
        let mut mha = MultiHeadAttention::new(2, 3);
        mha.use_gate = gate;
        let y = mha.apply([&q, &v]).unwrap();
        Functional::new([&q, &v], &y)
            .unwrap()
            .seed(2)
            .build(&device())
            .unwrap()
    };
    let plain = build(false);
    let gated = build(true);
    let names = gated.weight_names();
    assert_eq!(
        &names[4..6],
        [
            "multi_head_attention/gate/kernel",
            "multi_head_attention/gate/bias"
        ]
    );
    // Keras's order: query, key, gate, value, output; a zero gate projection is sigmoid(0) = 0.5.
    let mut w = plain.get_weights().unwrap();
    w.insert(4, ndarray::ArrayD::zeros(vec![4, 2, 3]));
    w.insert(5, ndarray::ArrayD::zeros(vec![2, 3]));
    let out_bias = w[9].clone();
    let gated = gated.set_weights(&w).unwrap();
    let qs = Array3::from_shape_fn((1, 3, 4), |(_, t, f)| (t + f) as f32 / 4.0 - 0.5);
    let vs = Array3::from_shape_fn((1, 5, 4), |(_, t, f)| (2 * t + f) as f32 / 8.0 - 0.5);
    let a = plain.predict_many(&[&qs, &vs], 1).unwrap().remove(0);
    let b = gated.predict_many(&[&qs, &vs], 1).unwrap().remove(0);
    for ((x, y), i) in a.iter().zip(b.iter()).zip(0..) {
        let bias = out_bias[[i % 4]];
        assert!(((x - bias) * 0.5 + bias - y).abs() < 1e-5, "{a} vs {b}");
    }
}

#[test]
fn grouped_query_attention_takes_an_attention_mask_and_returns_scores() {
    use kiln::model::{GroupedQueryAttention, LayerSpec};
    let (q, v) = (
        Input::new([3, 6]).tensor().unwrap(),
        Input::new([5, 6]).tensor().unwrap(),
    );
    let m = Input::new([3, 5]).tensor().unwrap();
    let gqa = GroupedQueryAttention::new(3, 4, 2)
        .attention_mask(true)
        .return_attention_scores(true);
    let outs = LayerSpec::new(gqa).apply_outputs([&q, &v, &m]).unwrap();
    assert_eq!(outs[1].shape().dims(), &[4, 3, 5]);
    let spec = Functional::new([&q, &v, &m], &outs).unwrap().seed(3);
    let json = spec.to_json().unwrap();
    assert_eq!(
        Functional::from_config(&json).unwrap().to_json().unwrap(),
        json
    );
    let model = spec.build(&device()).unwrap();
    let qs = Array3::from_shape_fn((1, 3, 6), |(_, t, f)| (t + f) as f32 / 6.0 - 0.5);
    let vs = Array3::from_shape_fn((1, 5, 6), |(_, t, f)| (2 * t + f) as f32 / 10.0 - 0.5);
    let mask = Array3::from_shape_fn((1, 3, 5), |(_, i, j)| if j <= i { 1.0f32 } else { 0.0 });
    let ys = model.predict_many(&[&qs, &vs, &mask], 1).unwrap();
    // Masked pairs get no weight; every row sums to 1.
    for h in 0..4 {
        for i in 0..3 {
            let row: f32 = (0..5).map(|j| ys[1][[0, h, i, j]]).sum();
            assert!((row - 1.0).abs() < 1e-5);
            for j in i + 1..5 {
                assert_eq!(ys[1][[0, h, i, j]], 0.0);
            }
        }
    }
}

/// A model of one `MultiHeadAttention` self-attention on inputs `shape`.
fn self_attention(
    shape: &[usize],
    layer: kiln::model::MultiHeadAttention,
    seed: u64,
) -> Result<kiln::model::Model, Error> {
    let x = Input::new(shape.to_vec()).tensor()?;
    let y = layer.apply([&x, &x])?;
    Functional::new(&x, &y)?.seed(seed).build(&device())
}

#[test]
fn attention_over_some_axes_is_attention_over_sequences_of_those_axes() {
    use kiln::model::MultiHeadAttention;
    let x = ndarray::Array4::from_shape_fn((2, 3, 4, 5), |(b, r, c, f)| {
        ((b * 7 + r * 3 + c * 5 + f) % 11) as f32 / 5.0 - 1.0
    });
    let close = |a: &ndarray::ArrayD<f32>, b: &ndarray::ArrayD<f32>| {
        assert_eq!(a.len(), b.len());
        for (p, r) in a.iter().zip(b.iter()) {
            assert!((p - r).abs() < 1e-5, "{a} vs {b}");
        }
    };
    // attention_axes=(2,): each of the 3 rows is a sequence of 4 steps (axis 1 joins the batch).
    let rows = self_attention(
        &[3, 4, 5],
        MultiHeadAttention::new(2, 3).attention_axes(vec![2]),
        4,
    )
    .unwrap();
    assert_eq!(rows.output_shape().to_string(), "(None, 3, 4, 5)");
    let weights = rows.get_weights().unwrap();
    let sequences = self_attention(&[4, 5], MultiHeadAttention::new(2, 3), 5)
        .unwrap()
        .set_weights(&weights)
        .unwrap();
    let a = rows.predict(&x, 8).unwrap();
    let seqs = x.clone().into_shape_with_order((6, 4, 5)).unwrap();
    let b = sequences.predict(&seqs, 8).unwrap();
    close(&a, &b.into_shape_with_order(a.shape()).unwrap());
    // Keras counts a negative axis from the end of the input: -2 is axis 2 here.
    let negative = self_attention(
        &[3, 4, 5],
        MultiHeadAttention::new(2, 3).attention_axes(vec![-2]),
        6,
    )
    .unwrap()
    .set_weights(&weights)
    .unwrap();
    close(&a, &negative.predict(&x, 8).unwrap());
    // attention_axes=(1,): each of the 4 columns is a sequence of 3 steps.
    let columns = self_attention(
        &[3, 4, 5],
        MultiHeadAttention::new(2, 3).attention_axes(vec![1]),
        7,
    )
    .unwrap()
    .set_weights(&weights)
    .unwrap();
    let sequences3 = self_attention(&[3, 5], MultiHeadAttention::new(2, 3), 8)
        .unwrap()
        .set_weights(&weights)
        .unwrap();
    let cols = x.clone().permuted_axes([0, 2, 1, 3]);
    let cols = cols
        .as_standard_layout()
        .into_owned()
        .into_shape_with_order((8, 3, 5))
        .unwrap();
    let c = sequences3
        .predict(&cols, 8)
        .unwrap()
        .into_shape_with_order((2, 4, 3, 5))
        .unwrap()
        .permuted_axes([0, 2, 1, 3])
        .as_standard_layout()
        .into_owned()
        .into_dyn();
    close(&columns.predict(&x, 8).unwrap(), &c);
    // The default on images: all 12 pixels attend to one another, one sequence of 12 steps.
    let all = self_attention(&[3, 4, 5], MultiHeadAttention::new(2, 3), 9)
        .unwrap()
        .set_weights(&weights)
        .unwrap();
    let sequences12 = self_attention(&[12, 5], MultiHeadAttention::new(2, 3), 10)
        .unwrap()
        .set_weights(&weights)
        .unwrap();
    let flat = x.clone().into_shape_with_order((2, 12, 5)).unwrap();
    let d = sequences12.predict(&flat, 8).unwrap();
    let e = all.predict(&x, 8).unwrap();
    close(&e, &d.into_shape_with_order(e.shape()).unwrap());
}

#[test]
fn attention_axes_and_options_it_cannot_take_are_build_errors() {
    use kiln::model::MultiHeadAttention;
    let err = |shape: &[usize], layer: MultiHeadAttention| {
        self_attention(shape, layer, 1).unwrap_err().to_string()
    };
    let axes = |a: Vec<i64>| MultiHeadAttention::new(2, 3).attention_axes(a);
    assert!(err(&[3, 4, 5], axes(vec![3])).contains("not an axis between the batch"));
    assert!(err(&[3, 4, 5], axes(vec![0])).contains("not an axis between the batch"));
    assert!(err(&[3, 4, 5], axes(vec![-4])).contains("not an axis between the batch"));
    assert!(err(&[3, 4, 5], axes(vec![1, -3])).contains("twice"));
    assert!(err(&[3, 4, 5], axes(vec![])).contains("empty"));
    let causal = MultiHeadAttention::new(2, 3).use_causal_mask(true);
    assert!(err(&[3, 4, 5], causal).contains("use_causal_mask is supported on sequences"));
    let window = MultiHeadAttention::new(2, 3).sliding_window(0);
    assert!(err(&[4, 5], window).contains("positive integer"));
    // A batch axis must agree between the query and the value.
    let (q, v) = (
        Input::new([3, 4, 5]).tensor().unwrap(),
        Input::new([2, 4, 5]).tensor().unwrap(),
    );
    let mismatch = MultiHeadAttention::new(2, 3)
        .attention_axes(vec![2])
        .apply([&q, &v])
        .unwrap_err()
        .to_string();
    assert!(
        mismatch.contains("axis 1 is not an attention axis"),
        "{mismatch}"
    );
    // ... while attention axes may differ in length.
    let y = MultiHeadAttention::new(2, 3)
        .attention_axes(vec![1])
        .apply([&q, &v])
        .unwrap();
    assert_eq!(y.shape().to_string(), "(None, 3, 4, 5)");
}

#[test]
fn a_sliding_window_of_one_step_is_attention_of_each_step_to_itself() {
    use kiln::model::{GroupedQueryAttention, MultiHeadAttention};
    let x = Array3::from_shape_fn((2, 6, 4), |(b, t, f)| {
        ((b * 5 + t * 3 + f) % 7) as f32 / 3.0 - 1.0
    });
    let close = |a: &ndarray::ArrayD<f32>, b: &ndarray::ArrayD<f32>| {
        for (p, r) in a.iter().zip(b.iter()) {
            assert!((p - r).abs() < 1e-5, "{a} vs {b}");
        }
    };
    let one = self_attention(&[6, 4], MultiHeadAttention::new(2, 3).sliding_window(1), 3).unwrap();
    let weights = one.get_weights().unwrap();
    let single = self_attention(&[1, 4], MultiHeadAttention::new(2, 3), 4)
        .unwrap()
        .set_weights(&weights)
        .unwrap();
    let steps = x.clone().into_shape_with_order((12, 1, 4)).unwrap();
    close(
        &one.predict(&x, 8).unwrap(),
        &single.predict(&steps, 16).unwrap(),
    );
    // A window as long as the sequence is no window.
    let wide = self_attention(&[6, 4], MultiHeadAttention::new(2, 3).sliding_window(6), 5)
        .unwrap()
        .set_weights(&weights)
        .unwrap();
    let full = self_attention(&[6, 4], MultiHeadAttention::new(2, 3), 6)
        .unwrap()
        .set_weights(&weights)
        .unwrap();
    close(&wide.predict(&x, 8).unwrap(), &full.predict(&x, 8).unwrap());
    // GroupedQueryAttention's window reads back from its config.
    let input = Input::new([6, 4]).tensor().unwrap();
    let y = GroupedQueryAttention::new(2, 2, 1)
        .sliding_window(2)
        .apply([&input, &input])
        .unwrap();
    let json = Functional::new(&input, &y).unwrap().to_json().unwrap();
    assert!(json.contains("\"sliding_window\": 2"), "{json}");
    assert_eq!(
        Functional::from_config(&json).unwrap().to_json().unwrap(),
        json
    );
}
