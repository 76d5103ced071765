//! Functional models: graphs with several inputs and outputs, shared and nested layers, merge
//! layers, freezing, graph errors and the Keras Functional config.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use burn::tensor::Device;
use kiln_model::{
    Activation, ActivationLayer, Add, Apply, BatchNormalization, Concatenate, Dense, Error,
    Functional, Input, LayerExt, LayerSpec, ModelConfig, Sequential, Subtract,
};
use ndarray::{Array2, ArrayD};

fn residual() -> Functional {
    let x = Input::new([8]).tensor().unwrap();
    let h = Dense::new(8)
        .activation(Activation::Relu)
        .apply(&x)
        .unwrap();
    let h = Dense::new(8).apply(&h).unwrap();
    let sum = Add::new().apply([&x, &h]).unwrap();
    let y = ActivationLayer::new(Activation::Relu).apply(&sum).unwrap();
    let out = Dense::new(3)
        .activation(Activation::Softmax)
        .apply(&y)
        .unwrap();
    Functional::new(&x, &out).unwrap().seed(3)
}

fn ones(n: usize, d: usize) -> Array2<f32> {
    Array2::from_shape_fn((n, d), |(i, j)| ((i * d + j) % 7) as f32 / 7.0 - 0.4)
}

#[test]
fn a_residual_block_gets_keras_names_and_runs() {
    let model = residual().build(&Device::flex()).unwrap();
    assert_eq!(
        model.layer_names(),
        [
            "input_layer",
            "dense",
            "dense_1",
            "add",
            "activation",
            "dense_2"
        ]
    );
    assert_eq!(model.count_params(), 8 * 8 + 8 + 8 * 8 + 8 + 8 * 3 + 3);
    let y = model.predict(&ones(5, 8), 2).unwrap();
    assert_eq!(y.shape(), &[5, 3]);
    for row in y.rows() {
        assert!(
            (row.sum() - 1.0).abs() < 1e-5,
            "softmax rows sum to one: {row}"
        );
    }
}

/// The residual sum computed by hand from the model's own weights matches its forward pass.
#[test]
fn the_residual_sum_is_x_plus_the_branch() {
    let x = Input::new([4]).tensor().unwrap();
    let branch = Dense::new(4).apply(&x).unwrap();
    let sum = Add::new().apply([&x, &branch]).unwrap();
    let model = Functional::new(&x, &sum)
        .unwrap()
        .seed(7)
        .build(&Device::flex())
        .unwrap();
    let w = model.get_weights().unwrap();
    let (kernel, bias) = (&w[0], &w[1]);
    let input = ones(3, 4);
    let got = model.predict(&input, 32).unwrap();
    for i in 0..3 {
        for j in 0..4 {
            let dense: f32 =
                (0..4).map(|k| input[[i, k]] * kernel[[k, j]]).sum::<f32>() + bias[[j]];
            let expected = input[[i, j]] + dense;
            assert!((got[[i, j]] - expected).abs() < 1e-5);
        }
    }
}

#[test]
fn several_named_inputs_and_outputs() {
    let features = Input::new([5]).name("features").tensor().unwrap();
    let extra = Input::new([3]).name("extra").tensor().unwrap();
    let a = Dense::new(4).apply(&features).unwrap();
    let b = Dense::new(2).apply(&extra).unwrap();
    let joined = Concatenate::new().apply([&a, &b]).unwrap();
    assert_eq!(joined.shape().dims(), &[6]);
    let score = Dense::new(1).name("score").apply(&joined).unwrap();
    let class = Dense::new(3)
        .activation(Activation::Softmax)
        .name("class")
        .apply(&joined)
        .unwrap();
    let spec = Functional::new([&features, &extra], [&score, &class, &joined]).unwrap();
    assert_eq!(spec.input_names(), ["features", "extra"]);
    assert_eq!(spec.output_names(), ["score", "class", "concatenate"]);
    let model = spec.build(&Device::flex()).unwrap();
    let (x1, x2) = (ones(4, 5), ones(4, 3));
    let outputs = model.predict_many(&[&x1, &x2], 3).unwrap();
    let shapes: Vec<_> = outputs.iter().map(|o| o.shape().to_vec()).collect();
    assert_eq!(shapes, [vec![4, 1], vec![4, 3], vec![4, 6]]);
    // The wrong number of arrays, or a wrong shape, is an error naming the input.
    assert!(model.predict_many(&[&x1], 3).is_err());
    let err = model.predict_many(&[&x1, &ones(4, 4)], 3).unwrap_err();
    assert!(err.to_string().contains("extra"), "{err}");
}

#[test]
fn a_layer_applied_twice_shares_its_weights() {
    let shared = LayerSpec::new(Dense::new(4).activation(Activation::Tanh)).name("shared");
    let left = Input::new([3]).name("left").tensor().unwrap();
    let right = Input::new([3]).name("right").tensor().unwrap();
    let (l, r) = (shared.apply(&left).unwrap(), shared.apply(&right).unwrap());
    let diff = Subtract::new().apply([&l, &r]).unwrap();
    let model = Functional::new([&left, &right], &diff)
        .unwrap()
        .build(&Device::flex())
        .unwrap();
    assert_eq!(model.weight_names(), ["shared/kernel", "shared/bias"]);
    // The same input on both sides: the two branches are one function.
    let x = ones(2, 3);
    let y = model.predict_many(&[&x, &x], 8).unwrap();
    assert!(y[0].iter().all(|v| v.abs() < 1e-6), "{}", y[0]);
    let summary = model.summary().to_string();
    assert!(
        summary.contains("left[0][0]") && summary.contains("shared[1][0]"),
        "{summary}"
    );
}

#[test]
fn a_model_is_a_layer_of_another_and_can_be_frozen() {
    let encoder = Sequential::new()
        .name("encoder")
        .add(Input::new([4]))
        .add(
            Dense::new(6)
                .activation(Activation::Relu)
                .name("inner_dense"),
        )
        .add(BatchNormalization::new());
    let x = Input::new([4]).tensor().unwrap();
    let z = encoder.clone().trainable(false).apply(&x).unwrap();
    let out = Dense::new(2).name("head").apply(&z).unwrap();
    let model = Functional::new(&x, &out)
        .unwrap()
        .build(&Device::flex())
        .unwrap();
    assert_eq!(
        model.weight_names(),
        [
            "encoder/inner_dense/kernel",
            "encoder/inner_dense/bias",
            "encoder/batch_normalization/gamma",
            "encoder/batch_normalization/beta",
            "encoder/batch_normalization/moving_mean",
            "encoder/batch_normalization/moving_variance",
            "head/kernel",
            "head/bias",
        ]
    );
    let summary = model.summary();
    assert_eq!(summary.trainable_params(), 6 * 2 + 2);
    assert_eq!(summary.non_trainable_params(), 4 * 6 + 6 + 4 * 6);
    assert_eq!(
        model.weight_trainable(),
        [false, false, false, false, false, false, true, true]
    );
    // A frozen BatchNormalization runs in inference mode even in a training call: its moving
    // statistics stay where they started.
    let before = model.get_weights().unwrap();
    model.call(&ones(6, 4), true).unwrap();
    let after = model.get_weights().unwrap();
    assert_eq!(before[4], after[4]);
    assert_eq!(before[5], after[5]);
}

#[test]
fn graph_errors_name_what_is_wrong() {
    let a = Input::new([4]).name("a").tensor().unwrap();
    let b = Input::new([4]).name("b").tensor().unwrap();
    let c = Input::new([5]).name("c").tensor().unwrap();
    let sum = Add::new().name("sum").apply([&a, &b]).unwrap();
    // An output that needs an input the model does not take.
    let err = Functional::new(&a, &sum).unwrap_err();
    assert!(
        matches!(&err, Error::NotConnected { input, .. } if input == "b"),
        "{err:?}"
    );
    // An input that leads nowhere.
    let err = Functional::new([&a, &b, &c], &sum).unwrap_err();
    assert!(
        matches!(&err, Error::UnusedInput { input } if input == "c"),
        "{err:?}"
    );
    // Two layers of one name.
    let d1 = Dense::new(2).name("twin").apply(&a).unwrap();
    let d2 = Dense::new(2).name("twin").apply(&b).unwrap();
    let err = Functional::new([&a, &b], [&d1, &d2]).unwrap_err();
    assert!(
        matches!(&err, Error::DuplicateName { name } if name == "twin"),
        "{err:?}"
    );
    // Shapes that do not merge, with the layer and both shapes in the message.
    let err = Add::new().name("bad_add").apply([&a, &c]).unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, Error::IncompatibleShapes { .. }));
    assert!(
        message.contains("bad_add")
            && message.contains("(None, 4)")
            && message.contains("(None, 5)"),
        "{message}"
    );
    // A Dense on the wrong rank, at the moment it is applied.
    let err = Concatenate::new().axis(0).apply([&a, &b]).unwrap_err();
    assert!(err.to_string().contains("axis 0"), "{err}");
}

#[test]
fn the_functional_config_round_trips() {
    let spec = residual();
    let json = spec.to_json().unwrap();
    let again = Functional::from_config(&json).unwrap();
    assert_eq!(again, spec);
    assert_eq!(again.to_json().unwrap(), json);
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(value["class_name"], "Functional");
    assert_eq!(
        value["config"]["input_layers"],
        serde_json::json!([["input_layer", 0, 0]])
    );
    assert_eq!(
        value["config"]["output_layers"],
        serde_json::json!([["dense_2", 0, 0]])
    );
    // Same weights from the same seed, so the rebuilt model predicts the same.
    let device = Device::flex();
    let x = ones(3, 8);
    let y1 = spec.build(&device).unwrap().predict(&x, 8).unwrap();
    let y2 = again.build(&device).unwrap().predict(&x, 8).unwrap();
    assert_eq!(y1, y2);
}

#[test]
fn saved_functional_models_load_with_their_graph() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("residual.safetensors");
    let device = Device::flex();
    let model = residual().build(&device).unwrap();
    model.save(&path).unwrap();
    let loaded = kiln_model::load_model(&path, &device).unwrap();
    assert!(matches!(loaded.config(), ModelConfig::Functional(_)));
    let x = ones(4, 8);
    let (a, b): (ArrayD<f32>, ArrayD<f32>) = (
        model.predict(&x, 8).unwrap(),
        loaded.predict(&x, 8).unwrap(),
    );
    assert_eq!(a, b);
}

/// The Functional configs Kiln writes, kept next to `check_in_keras.py`, which loads each in
/// real Keras (`keras.models.model_from_json`) and checks the names and parameter count in
/// `<name>.expect.json`. `KILN_BLESS=1` rewrites the files.
#[test]
fn kiln_writes_functional_configs_keras_reads() {
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/kiln-configs");
    let shared = {
        let shared = LayerSpec::new(Dense::new(4).activation(Activation::Tanh)).name("shared");
        let left = Input::new([3]).name("left").tensor().unwrap();
        let right = Input::new([3]).name("right").tensor().unwrap();
        let (l, r) = (shared.apply(&left).unwrap(), shared.apply(&right).unwrap());
        let diff = Subtract::new().name("diff").apply([&l, &r]).unwrap();
        let out = Dense::new(1)
            .activation(Activation::Sigmoid)
            .apply(&diff)
            .unwrap();
        Functional::new([&left, &right], &out)
            .unwrap()
            .name("siamese")
    };
    let multi = {
        let a = Input::new([5]).name("features").tensor().unwrap();
        let b = Input::new([3]).name("extra").tensor().unwrap();
        let joined = Concatenate::new()
            .apply([&Dense::new(4).apply(&a).unwrap(), &b])
            .unwrap();
        let normed = BatchNormalization::new().apply(&joined).unwrap();
        let score = Dense::new(1).name("score").apply(&normed).unwrap();
        let class = Dense::new(3)
            .activation(Activation::Softmax)
            .name("class")
            .apply(&normed)
            .unwrap();
        Functional::new([&a, &b], [&score, &class])
            .unwrap()
            .name("multi_io")
    };
    let nested = {
        let encoder = Sequential::new()
            .name("encoder")
            .add(Input::new([4]))
            .add(Dense::new(6).activation(Activation::Relu));
        let x = Input::new([4]).name("x").tensor().unwrap();
        let z = encoder.apply(&x).unwrap();
        let out = Dense::new(2).name("head").apply(&z).unwrap();
        Functional::new(&x, &out).unwrap().name("nested")
    };
    let bless = std::env::var_os("KILN_BLESS").is_some();
    for (name, spec) in [
        ("residual", residual()),
        ("siamese", shared),
        ("multi_io", multi),
        ("nested", nested),
    ] {
        let json = spec.to_json().unwrap();
        let model = spec.build(&Device::flex()).unwrap();
        let expect = serde_json::json!({
            "layers": spec.layers().iter().map(|l| l.layer_name().unwrap_or("")).collect::<Vec<_>>(),
            "input_names": spec.input_names(),
            "output_names": spec.output_names(),
            "params": model.count_params(),
        });
        let expect = serde_json::to_string_pretty(&expect).unwrap() + "\n";
        let (json_path, expect_path) = (
            dir.join(format!("{name}.json")),
            dir.join(format!("{name}.expect.json")),
        );
        if bless {
            std::fs::write(&json_path, &json).unwrap();
            std::fs::write(&expect_path, &expect).unwrap();
        }
        let stored = std::fs::read_to_string(&json_path).unwrap();
        // Equal as JSON; and what Kiln stored reads back to the same architecture.
        let a: serde_json::Value = serde_json::from_str(&stored).unwrap();
        let b: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(
            a, b,
            "{name}: Kiln now writes another config (KILN_BLESS=1 to accept)"
        );
        assert_eq!(
            std::fs::read_to_string(&expect_path).unwrap(),
            expect,
            "{name}"
        );
        assert_eq!(Functional::from_config(&stored).unwrap(), spec, "{name}");
    }
}

/// A user layer with what built-ins have: two inputs, a sublayer, and non-trainable state it
/// updates in training calls. `y = dense(a) * b`, and `calls` counts training calls.
#[derive(Debug)]
struct GatedDense {
    inner: Dense,
}

impl kiln_model::Layer for GatedDense {
    fn class_name(&self) -> &str {
        "GatedDense"
    }

    fn output_shape(&self, inputs: &[kiln_model::Shape]) -> Result<kiln_model::Shape, String> {
        match inputs {
            [a, b] if b.dims() == [self.inner.units] && a.rank() == 1 => Ok(b.clone()),
            _ => Err("GatedDense takes (None, features) and (None, units)".into()),
        }
    }

    fn build(
        &self,
        inputs: &[kiln_model::Shape],
        weights: &mut kiln_model::WeightBuilder,
    ) -> Result<(), String> {
        let calls = kiln_model::WeightSpec::new("calls", [1], kiln_model::Initializer::Zeros);
        weights.add_weight(calls.non_trainable())?;
        weights.add_sublayer("inner", &self.inner, &inputs[..1])?;
        Ok(())
    }

    fn call(
        &self,
        inputs: Vec<kiln_model::DynTensor>,
        weights: &kiln_model::Weights<'_>,
        training: bool,
    ) -> Result<kiln_model::DynTensor, String> {
        let mut it = inputs.into_iter();
        let (Some(a), Some(kiln_model::DynTensor::R2(b))) = (it.next(), it.next()) else {
            return Err("expected two matrices".into());
        };
        if training {
            let calls = weights.get::<1>("calls")?;
            weights.assign("calls", calls + 1.0)?;
        }
        let kiln_model::DynTensor::R2(h) =
            self.inner.call(vec![a], &weights.sublayer(0)?, training)?
        else {
            return Err("expected a matrix".into());
        };
        Ok(kiln_model::DynTensor::R2(h * b))
    }
}

#[test]
fn a_user_layer_takes_two_inputs_and_holds_a_sublayer_and_state() {
    let a = Input::new([3]).tensor().unwrap();
    let b = Input::new([2]).tensor().unwrap();
    let y = GatedDense {
        inner: Dense::new(2),
    }
    .apply([&a, &b])
    .unwrap();
    let model = Functional::new([&a, &b], &y)
        .unwrap()
        .seed(1)
        .build(&Device::flex())
        .unwrap();
    assert_eq!(
        model.weight_names(),
        [
            "gated_dense/calls",
            "gated_dense/inner/kernel",
            "gated_dense/inner/bias"
        ]
    );
    assert_eq!(model.weight_trainable(), [false, true, true]);
    let summary = model.summary();
    assert_eq!(
        (summary.trainable_params(), summary.non_trainable_params()),
        (8, 1)
    );
    let (xa, xb) = (ones(4, 3), Array2::<f32>::zeros((4, 2)));
    // A zero gate zeroes the output; two training calls count two.
    let out = model.call_many(&[&xa, &xb], true).unwrap();
    assert!(out[0].iter().all(|v| *v == 0.0));
    model.call_many(&[&xa, &xb], true).unwrap();
    model.call_many(&[&xa, &xb], false).unwrap();
    assert_eq!(model.get_weights().unwrap()[0][[0]], 2.0);
}

#[test]
fn activations_of_rank_five_flow_between_layers() {
    // (None, depth, height, width, channels), as Conv3D and video need.
    let x = Input::new([2, 3, 4, 5]).tensor().unwrap();
    let h = Dense::new(6)
        .activation(Activation::Relu)
        .apply(&x)
        .unwrap();
    let h = BatchNormalization::new().apply(&h).unwrap();
    assert_eq!(h.shape().dims(), &[2, 3, 4, 6]);
    let out = Dense::new(1)
        .apply(&kiln_model::Flatten::new().apply(&h).unwrap())
        .unwrap();
    let model = Functional::new(&x, [&h, &out])
        .unwrap()
        .build(&Device::flex())
        .unwrap();
    let data = ndarray::Array5::<f32>::from_shape_fn((3, 2, 3, 4, 5), |(a, b, c, d, e)| {
        (a + b + c + d + e) as f32 / 10.0
    });
    let y = model.predict_many(&[&data], 2).unwrap();
    assert_eq!(y[0].shape(), &[3, 2, 3, 4, 6]);
    assert_eq!(y[1].shape(), &[3, 1]);
}
