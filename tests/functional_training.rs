//! Training Functional models on real MNIST: a residual block learns, and transfer learning
//! (a frozen trained base, a new head) leaves the base's weights exactly as they were.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use kiln::prelude::*;
use ndarray::{Array1, Array3, Axis, Slice};

/// The first `n` training images (scaled) and labels of the real MNIST.
fn mnist_subset(n: usize) -> (Array3<f32>, Array1<u8>) {
    let ((x, y), _) = kiln::datasets::mnist::load_data().expect("MNIST ships in data/");
    let rows = Slice::from(..n);
    (
        scale_pixels(&x.slice_axis(Axis(0), rows).to_owned()),
        y.slice_axis(Axis(0), rows).to_owned(),
    )
}

/// The base: flattened pixels to 32 features.
fn base() -> Sequential {
    Sequential::new()
        .name("base")
        .add(Input::new([28, 28]))
        .add(Flatten::new())
        .add(Dense::new(32).activation(Activation::Relu))
}

#[test]
fn a_residual_mlp_learns_mnist() {
    let (x, y) = mnist_subset(2000);
    let inputs = Input::new([28, 28]).tensor().unwrap();
    let flat = Flatten::new().apply(&inputs).unwrap();
    let h = Dense::new(64)
        .activation(Activation::Relu)
        .apply(&flat)
        .unwrap();
    let branch = Dense::new(64)
        .activation(Activation::Relu)
        .apply(&h)
        .unwrap();
    let sum = Add::new().apply([&h, &branch]).unwrap();
    let out = Dense::new(10)
        .activation(Activation::Softmax)
        .apply(&sum)
        .unwrap();
    let mut model = Functional::new(&inputs, &out)
        .unwrap()
        .seed(5)
        .build(&Device::flex())
        .unwrap()
        .compile("adam", "sparse_categorical_crossentropy", ["accuracy"])
        .unwrap();
    let history = model
        .fit(&x, &y, FitOptions::new().epochs(3).verbose(0).seed(2))
        .unwrap();
    let loss = history.get("loss").unwrap();
    assert!(loss[2] < 0.6 * loss[0], "loss did not fall: {loss:?}");
    let scores = model.evaluate(&x, &y).unwrap();
    assert!(scores["accuracy"] > 0.9, "{scores:?}");
}

#[test]
fn transfer_learning_trains_the_head_and_leaves_the_frozen_base_alone() {
    let (x, y) = mnist_subset(1000);
    let device = Device::flex();
    // 1. Train the base with a head of its own.
    let mut pretrain = base()
        .add(Dense::new(10).activation(Activation::Softmax))
        .seed(11)
        .build(&device)
        .unwrap()
        .compile("adam", "sparse_categorical_crossentropy", ["accuracy"])
        .unwrap();
    pretrain
        .fit(&x, &y, FitOptions::new().epochs(2).verbose(0).seed(3))
        .unwrap();
    let trained = pretrain.get_weights().unwrap();
    let base_weights = trained[..2].to_vec(); // the base's Dense kernel and bias

    // 2. The frozen base under a new head (Keras: `base.trainable = False`).
    let inputs = Input::new([28, 28]).tensor().unwrap();
    let features = base().trainable(false).apply(&inputs).unwrap();
    let out = Dense::new(10)
        .activation(Activation::Softmax)
        .name("new_head")
        .apply(&features)
        .unwrap();
    let model = Functional::new(&inputs, &out)
        .unwrap()
        .seed(12)
        .build(&device)
        .unwrap();
    assert_eq!(
        model.weight_names(),
        [
            "base/dense/kernel",
            "base/dense/bias",
            "new_head/kernel",
            "new_head/bias"
        ]
    );
    let summary = model.summary();
    assert_eq!(summary.non_trainable_params(), 784 * 32 + 32);
    assert_eq!(summary.trainable_params(), 32 * 10 + 10);
    let mut start = base_weights.clone();
    start.extend(model.get_weights().unwrap()[2..].iter().cloned());
    let mut model = model
        .set_weights(&start)
        .unwrap()
        .compile(
            Optimizer::adam().learning_rate(0.01),
            "sparse_categorical_crossentropy",
            ["accuracy"],
        )
        .unwrap();
    let before = model.evaluate(&x, &y).unwrap();
    // With the pre-trained head's weights, the nested model is the pre-trained model.
    let mut same = model.get_weights().unwrap();
    same[2] = trained[2].clone();
    same[3] = trained[3].clone();
    let copy = model.model().set_weights(&same).unwrap();
    let a = pretrain.predict(&x).unwrap();
    let b = copy.predict(&x, 32).unwrap();
    let diff = a
        .iter()
        .zip(b.iter())
        .map(|(p, q)| (p - q).abs())
        .fold(0.0f32, f32::max);
    assert!(
        diff < 1e-5,
        "nested model differs from the pre-trained one by {diff}"
    );
    model
        .fit(&x, &y, FitOptions::new().epochs(3).verbose(0).seed(4))
        .unwrap();
    let after_fit = model.get_weights().unwrap();
    // The base is bit for bit what pre-training left; the head moved and learned.
    assert_eq!(after_fit[0], base_weights[0]);
    assert_eq!(after_fit[1], base_weights[1]);
    assert_ne!(after_fit[2], start[2]);
    let after = model.evaluate(&x, &y).unwrap();
    assert!(after["loss"] < before["loss"], "{before:?} -> {after:?}");
    // About what the pre-trained head reached on these features (0.81).
    assert!(after["accuracy"] > 0.75, "{before:?} -> {after:?}");
}

/// Two inputs (the top and bottom halves of each MNIST digit) and two outputs (the digit, and
/// whether it is even), with one loss, weight and metric list per output, arrays by name, and
/// Keras's log names.
#[test]
fn two_inputs_and_two_outputs_train_with_a_loss_each() {
    use kiln::train::{CompiledModel, EarlyStopping, Output};
    let (x, y) = mnist_subset(1200);
    let top = x.slice_axis(Axis(1), Slice::from(..14)).to_owned();
    let bottom = x.slice_axis(Axis(1), Slice::from(14..)).to_owned();
    let even: Array1<f32> = y
        .mapv(|d| f32::from(d % 2 == 0))
        .into_shape_with_order(1200)
        .unwrap();
    let even = even.insert_axis(Axis(1));

    let a = Input::new([14, 28]).name("top").tensor().unwrap();
    let b = Input::new([14, 28]).name("bottom").tensor().unwrap();
    let fa = Dense::new(32)
        .activation(Activation::Relu)
        .apply(&Flatten::new().apply(&a).unwrap())
        .unwrap();
    let fb = Dense::new(32)
        .activation(Activation::Relu)
        .apply(&Flatten::new().apply(&b).unwrap())
        .unwrap();
    let joined = Concatenate::new().apply([&fa, &fb]).unwrap();
    let digit = Dense::new(10)
        .activation(Activation::Softmax)
        .name("digit")
        .apply(&joined)
        .unwrap();
    let parity = Dense::new(1)
        .activation(Activation::Sigmoid)
        .name("parity")
        .apply(&joined)
        .unwrap();
    let model = Functional::new([&a, &b], [&digit, &parity])
        .unwrap()
        .seed(21)
        .build(&Device::flex())
        .unwrap();
    let mut model = CompiledModel::compile_outputs(
        model,
        "adam",
        [
            Output::new("parity", "binary_crossentropy")
                .unwrap()
                .loss_weight(0.5)
                .metrics(["accuracy"])
                .unwrap(),
            Output::new("digit", "sparse_categorical_crossentropy")
                .unwrap()
                .metrics(["accuracy"])
                .unwrap(),
        ],
    )
    .unwrap();
    assert_eq!(
        model.metrics_names(),
        [
            "loss",
            "digit_loss",
            "digit_accuracy",
            "parity_loss",
            "parity_accuracy"
        ]
    );
    let mut stop = EarlyStopping::new().monitor("val_parity_loss").patience(5);
    let x_named = [
        ("bottom", &bottom as &dyn kiln::model::ArrayInput),
        ("top", &top),
    ];
    let y_named = [
        ("digit", &y as &dyn kiln::model::ArrayInput),
        ("parity", &even),
    ];
    let history = model
        .fit(
            x_named,
            y_named,
            FitOptions::new()
                .epochs(4)
                .verbose(0)
                .seed(5)
                .validation_split(0.2)
                .callback(&mut stop),
        )
        .unwrap();
    let mut keys: Vec<_> = history.history.keys().cloned().collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "digit_accuracy",
            "digit_loss",
            "loss",
            "parity_accuracy",
            "parity_loss",
            "val_digit_accuracy",
            "val_digit_loss",
            "val_loss",
            "val_parity_accuracy",
            "val_parity_loss",
        ]
    );
    // The total is the weighted sum of the two (no weight penalties here).
    let (total, dl, pl) = (
        history.get("loss").unwrap(),
        history.get("digit_loss").unwrap(),
        history.get("parity_loss").unwrap(),
    );
    for e in 0..total.len() {
        assert!(
            (total[e] - (dl[e] + 0.5 * pl[e])).abs() < 1e-4,
            "epoch {e}: {total:?} {dl:?} {pl:?}"
        );
    }
    assert!(dl[total.len() - 1] < dl[0], "{dl:?}");
    // By position, in the model's order (top, bottom) / (digit, parity).
    let scores = model
        .evaluate_many((&top, &bottom), (&y, &even), 64)
        .unwrap();
    assert!(scores["digit_accuracy"] > 0.8, "{scores:?}");
    assert!(scores["parity_accuracy"] > 0.8, "{scores:?}");
    let outputs = model.predict_many((&top, &bottom), 100).unwrap();
    assert_eq!(outputs[0].shape(), &[1200, 10]);
    assert_eq!(outputs[1].shape(), &[1200, 1]);
    let one = model.train_on_batch((&top, &bottom), (&y, &even)).unwrap();
    assert!(one.contains_key("parity_loss"), "{one:?}");
    // A wrong count or name is an error before training.
    assert!(
        model
            .fit(&top, (&y, &even), FitOptions::new().verbose(0))
            .is_err()
    );
    let wrong = [
        ("digits", &y as &dyn kiln::model::ArrayInput),
        ("parity", &even),
    ];
    let err = model
        .fit((&top, &bottom), wrong, FitOptions::new().verbose(0))
        .unwrap_err();
    assert!(err.to_string().contains("digits"), "{err}");
}

/// BatchNormalization's moving statistics move during `fit` (towards the data's mean), so
/// inference after training normalizes with them.
#[test]
fn fit_updates_batch_normalization_moving_statistics() {
    let x = ndarray::Array2::from_shape_fn((256, 2), |(i, j)| 5.0 + ((i * 3 + j) % 7) as f32);
    let y = ndarray::Array1::from_shape_fn(256, |i| (i % 2) as u8);
    let mut model = Sequential::new()
        .add(Input::new([2]))
        .add(BatchNormalization::new().momentum(0.5))
        .add(Dense::new(2).activation(Activation::Softmax))
        .seed(1)
        .build(&Device::flex())
        .unwrap()
        .compile("sgd", "sparse_categorical_crossentropy", ["accuracy"])
        .unwrap();
    model
        .fit(
            &x,
            &y,
            FitOptions::new()
                .epochs(1)
                .batch_size(32)
                .verbose(0)
                .shuffle(false),
        )
        .unwrap();
    let moving_mean = &model.get_weights().unwrap()[2];
    // The inference copy (`evaluate`, `predict`) sees the same statistics.
    assert_eq!(&model.model().get_weights().unwrap()[2], moving_mean);
    let mean = x.mean_axis(Axis(0)).unwrap();
    for j in 0..2 {
        assert!(
            (moving_mean[[j]] - mean[j]).abs() < 1.0,
            "{moving_mean} vs {mean}"
        );
    }
}
