//! Training the layers beyond the MLP on real MNIST subsets: recurrent layers over image rows,
//! BatchNormalization's moving statistics under `fit`, and regularizers in the loss.

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

/// Keras's classic "MNIST rows as a sequence" model: 28 steps of 28 pixels.
#[test]
fn lstm_and_gru_learn_mnist_read_row_by_row() {
    let (x, y) = mnist_subset(1024);
    let mut model = Sequential::new()
        .add(Input::new([28, 28]))
        .add(Lstm::new(24).return_sequences(true))
        .add(Gru::new(24))
        .add(Dense::new(10).activation(Activation::Softmax))
        .seed(5)
        .build(&Device::flex())
        .unwrap()
        .compile(
            Optimizer::adam().learning_rate(0.005),
            "sparse_categorical_crossentropy",
            ["accuracy"],
        )
        .unwrap();
    let history = model
        .fit(
            &x,
            &y,
            FitOptions::new()
                .epochs(3)
                .batch_size(32)
                .verbose(0)
                .seed(2),
        )
        .unwrap();
    let loss = history.get("loss").unwrap();
    let accuracy = history.get("accuracy").unwrap();
    println!("loss {loss:?}, accuracy {accuracy:?}");
    assert!(loss[2] < 0.8 * loss[0], "loss did not fall: {loss:?}");
    // Chance is 10 %.
    assert!(accuracy[2] > 0.4, "accuracy {accuracy:?}");
}

#[test]
fn fit_moves_batch_normalization_statistics_and_predict_uses_them() {
    let (x, y) = mnist_subset(256);
    let model = Sequential::new()
        .add(Input::new([28, 28]))
        .add(Flatten::new())
        .add(Dense::new(16))
        .add(BatchNormalization::new())
        .add(Dense::new(10).activation(Activation::Softmax))
        .seed(3)
        .build(&Device::flex())
        .unwrap();
    let names = model.weight_names();
    let moving_mean = names
        .iter()
        .position(|n| n.ends_with("moving_mean"))
        .unwrap();
    let mut model = model
        .compile("sgd", "sparse_categorical_crossentropy", ["accuracy"])
        .unwrap();
    let before = model.get_weights().unwrap();
    assert!(before[moving_mean].iter().all(|v| *v == 0.0));
    model
        .fit(
            &x,
            &y,
            FitOptions::new().epochs(1).batch_size(64).verbose(0),
        )
        .unwrap();
    let after = model.get_weights().unwrap();
    // Four steps of momentum 0.99 moved the mean about 4 % of the way to the batch means.
    assert!(
        after[moving_mean].iter().any(|v| v.abs() > 1e-3),
        "{:?}",
        after[moving_mean]
    );
    // gamma and beta were trained; the moving statistics were not touched by the optimizer:
    // they are exactly what the forward passes recorded, so predict is deterministic.
    let p1 = model.predict(&x).unwrap();
    let p2 = model.predict(&x).unwrap();
    assert_eq!(p1, p2);
}

#[test]
fn a_kernel_regularizer_adds_its_penalty_to_the_loss() {
    let (x, y) = mnist_subset(128);
    let build = |reg: Option<Regularizer>| {
        let mut dense = Dense::new(10).activation(Activation::Softmax);
        if let Some(r) = reg {
            dense = dense.kernel_regularizer(r);
        }
        Sequential::new()
            .add(Input::new([28, 28]))
            .add(Flatten::new())
            .add(dense)
            .seed(9)
            .build(&Device::flex())
            .unwrap()
            .compile("sgd", "sparse_categorical_crossentropy", ["accuracy"])
            .unwrap()
    };
    let plain = build(None);
    let regularized = build(Some(Regularizer::l2(0.01)));
    let kernel = &plain.get_weights().unwrap()[0];
    let penalty = 0.01 * kernel.iter().map(|w| f64::from(w * w)).sum::<f64>();
    let a = plain.evaluate(&x, &y).unwrap()["loss"];
    let b = regularized.evaluate(&x, &y).unwrap()["loss"];
    assert!((b - a - penalty).abs() < 1e-4, "{b} - {a} vs {penalty}");
    // Training minimizes it: weights shrink compared with the unregularized run.
    let (mut plain, mut regularized) = (plain, regularized);
    let options = || {
        FitOptions::new()
            .epochs(2)
            .batch_size(32)
            .shuffle(false)
            .verbose(0)
    };
    plain.fit(&x, &y, options()).unwrap();
    regularized.fit(&x, &y, options()).unwrap();
    let norm = |m: &CompiledModel| {
        m.get_weights().unwrap()[0]
            .iter()
            .map(|w| w * w)
            .sum::<f32>()
    };
    assert!(norm(&regularized) < norm(&plain));
}
