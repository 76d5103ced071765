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
        normalize(&x.slice_axis(Axis(0), rows).to_owned()),
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
