//! `compile`/`fit`/`evaluate` on real MNIST subsets, and the errors a user meets first.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use kiln::prelude::*;
use kiln::train::Error;
use ndarray::{Array1, Array2, Array3, Axis, Slice};

/// The first `n` training images (scaled) and labels of the real MNIST.
fn mnist_subset(n: usize) -> (Array3<f32>, Array1<u8>) {
    let ((x, y), _) = kiln::datasets::mnist::load_data().expect("MNIST ships in data/");
    let rows = Slice::from(..n);
    (
        scale_pixels(&x.slice_axis(Axis(0), rows).to_owned()),
        y.slice_axis(Axis(0), rows).to_owned(),
    )
}

fn mlp() -> Sequential {
    Sequential::new()
        .add(Input::new([28, 28]))
        .add(Flatten::new())
        .add(Dense::new(32).activation(Activation::Relu))
        .add(Dense::new(10).activation(Activation::Softmax))
        .seed(7)
}

#[test]
fn fit_on_a_small_mnist_subset_lowers_the_loss_and_learns() {
    let (x, y) = mnist_subset(2000);
    let mut model = mlp()
        .build(&Device::flex())
        .unwrap()
        .compile("adam", "sparse_categorical_crossentropy", ["accuracy"])
        .unwrap();
    let before = model.evaluate(&x, &y).unwrap();
    let history = model
        .fit(&x, &y, FitOptions::new().epochs(3).verbose(0).seed(1))
        .unwrap();
    let loss = history.get("loss").unwrap();
    assert!(loss[2] < loss[0], "loss did not fall: {loss:?}");
    let after = model.evaluate(&x, &y).unwrap();
    assert!(
        after["loss"] < 0.5 * before["loss"],
        "{before:?} -> {after:?}"
    );
    assert!(after["accuracy"] > 0.85, "{after:?}");
}

#[test]
fn a_label_out_of_range_is_an_error_before_training() {
    let (x, mut y) = mnist_subset(64);
    y[17] = 10;
    let mut model = mlp()
        .build(&Device::flex())
        .unwrap()
        .compile("adam", "sparse_categorical_crossentropy", ["accuracy"])
        .unwrap();
    let weights = model.get_weights().unwrap();
    match model.fit(&x, &y, FitOptions::new().verbose(0)) {
        Err(Error::LabelOutOfRange {
            label,
            index,
            num_classes,
            layer,
            ..
        }) => {
            assert_eq!((label, index, num_classes), (10, 17, 10));
            assert_eq!(layer, "dense_1");
        }
        other => panic!("expected LabelOutOfRange, got {other:?}"),
    }
    assert_eq!(model.get_weights().unwrap(), weights, "nothing trained");
}

#[test]
fn unknown_names_list_the_valid_ones() {
    let build = || mlp().build(&Device::flex()).unwrap();
    let err = build().compile("adamm", "mse", ["mae"]).unwrap_err();
    assert!(
        matches!(
            &err,
            Error::UnknownName {
                kind: "optimizer",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("sgd, adam, adamw, rmsprop"),
        "{err}"
    );
    let err = build()
        .compile("adam", "categorical_crossentropi", ["accuracy"])
        .unwrap_err();
    assert!(
        matches!(&err, Error::UnknownName { kind: "loss", .. }),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("categorical_crossentropy"),
        "{err}"
    );
    let err = build().compile("adam", "mse", ["accuracyy"]).unwrap_err();
    assert!(
        matches!(&err, Error::UnknownName { kind: "metric", .. }),
        "{err:?}"
    );
}

#[test]
fn data_of_the_wrong_shape_names_the_input_layer_at_fit_start() {
    let x = Array2::<f32>::zeros((8, 784));
    let y = Array1::<u8>::zeros(8);
    let mut model = mlp()
        .build(&Device::flex())
        .unwrap()
        .compile("adam", "sparse_categorical_crossentropy", ["accuracy"])
        .unwrap();
    let err = model.fit(&x, &y, FitOptions::new().verbose(0)).unwrap_err();
    let message = err.to_string();
    assert!(message.contains("input_layer"), "{message}");
    assert!(
        message.contains("(None, 28, 28)") && message.contains("(8, 784)"),
        "{message}"
    );
}

#[test]
fn class_ids_with_categorical_crossentropy_suggest_the_sparse_loss() {
    let (x, y) = mnist_subset(16);
    let mut model = mlp()
        .build(&Device::flex())
        .unwrap()
        .compile("adam", "categorical_crossentropy", ["accuracy"])
        .unwrap();
    let err = model.fit(&x, &y, FitOptions::new().verbose(0)).unwrap_err();
    assert!(matches!(err, Error::TargetShape { .. }), "{err:?}");
    let message = err.to_string();
    assert!(
        message.contains("sparse_categorical_crossentropy"),
        "{message}"
    );
    assert!(
        message.contains("dense_1") && message.contains("(16, 10)"),
        "{message}"
    );
}

#[test]
fn validation_split_validates_on_the_last_samples() {
    let (x, y) = mnist_subset(500);
    let mut model = mlp()
        .build(&Device::flex())
        .unwrap()
        .compile("sgd", "sparse_categorical_crossentropy", ["accuracy"])
        .unwrap();
    let history = model
        .fit(
            &x,
            &y,
            FitOptions::new()
                .epochs(2)
                .verbose(0)
                .seed(3)
                .validation_split(0.2),
        )
        .unwrap();
    // Keras keeps the last 20 % (100 samples) aside; the final val_ values are those of the
    // final model on exactly those samples.
    let tail = model
        .evaluate(
            &x.slice_axis(Axis(0), Slice::from(400..)).to_owned(),
            &y.slice_axis(Axis(0), Slice::from(400..)).to_owned(),
        )
        .unwrap();
    let val_loss = history.last("val_loss").unwrap();
    assert!(
        (val_loss - tail["loss"]).abs() < 1e-6,
        "{val_loss} vs {tail:?}"
    );
    assert_eq!(history.last("val_accuracy").unwrap(), tail["accuracy"]);
}

#[test]
fn a_nan_loss_stops_fit_with_an_error() {
    let (mut x, y) = mnist_subset(64);
    x[[3, 10, 10]] = f32::NAN;
    let mut model = mlp()
        .build(&Device::flex())
        .unwrap()
        .compile("adam", "sparse_categorical_crossentropy", ["accuracy"])
        .unwrap();
    let err = model
        .fit(&x, &y, FitOptions::new().epochs(2).verbose(0))
        .unwrap_err();
    assert!(
        matches!(err, Error::NonFiniteLoss { epoch: 1, .. }),
        "{err:?}"
    );
}

#[test]
fn one_hot_and_sparse_labels_train_to_the_same_weights() {
    let (x, y) = mnist_subset(256);
    let one_hot = to_categorical(y.view(), Some(10)).unwrap();
    let train = |loss: &str, sparse: bool| {
        let mut model = mlp()
            .build(&Device::flex())
            .unwrap()
            .compile("adam", loss, ["accuracy"])
            .unwrap();
        let options = FitOptions::new().epochs(1).verbose(0).seed(5);
        let history = if sparse {
            model.fit(&x, &y, options).unwrap()
        } else {
            model.fit(&x, &one_hot, options).unwrap()
        };
        (history, model.get_weights().unwrap())
    };
    let (h_sparse, w_sparse) = train("sparse_categorical_crossentropy", true);
    let (h_dense, w_dense) = train("categorical_crossentropy", false);
    assert!((h_sparse.last("loss").unwrap() - h_dense.last("loss").unwrap()).abs() < 1e-5);
    assert_eq!(h_sparse.last("accuracy"), h_dense.last("accuracy"));
    for (a, b) in w_sparse.iter().zip(&w_dense) {
        assert!(a.iter().zip(b).all(|(p, q)| (p - q).abs() < 1e-5));
    }
}

#[test]
fn an_unknown_backend_or_a_missing_feature_is_an_error() {
    let err = kiln::device("tpu").unwrap_err();
    assert!(err.to_string().contains("flex, ndarray, wgpu"), "{err}");
    if !cfg!(feature = "wgpu") {
        let err = kiln::device("wgpu").unwrap_err();
        assert!(err.to_string().contains("--features wgpu"), "{err}");
    }
}

#[test]
fn class_weight_weighs_the_loss_as_keras_does() {
    // One step of SGD with lr 0 (nothing changes) over 200 samples: the reported loss must be
    // Keras's sum_over_batch_size of the weighted losses, Σ w_i·loss_i / n.
    let (x, y) = mnist_subset(200);
    let sgd = Optimizer::sgd().learning_rate(0.0);
    let mut model = mlp()
        .build(&Device::flex())
        .unwrap()
        .compile(sgd, "sparse_categorical_crossentropy", ["accuracy"])
        .unwrap();
    let zeros: Vec<usize> = (0..200).filter(|&i| y[i] == 0).collect();
    let others: Vec<usize> = (0..200).filter(|&i| y[i] != 0).collect();
    let part = |rows: &[usize]| (x.select(Axis(0), rows), y.select(Axis(0), rows));
    let (x0, y0) = part(&zeros);
    let (x1, y1) = part(&others);
    let s0 = model.evaluate(&x0, &y0).unwrap();
    let s1 = model.evaluate(&x1, &y1).unwrap();
    let (n0, n1) = (zeros.len() as f64, others.len() as f64);
    let weights = (0..10).map(|c| (c, if c == 0 { 3.0 } else { 1.0 }));
    let history = model
        .fit(
            &x,
            &y,
            FitOptions::new()
                .batch_size(200)
                .verbose(0)
                .class_weight(weights),
        )
        .unwrap();
    let expected_loss = (3.0 * s0["loss"] * n0 + s1["loss"] * n1) / 200.0;
    let got = history.last("loss").unwrap();
    assert!(
        (got - expected_loss).abs() < 1e-5 * expected_loss,
        "{got} vs {expected_loss}"
    );
    // Metrics are weighted means: Σ w·correct / Σ w.
    let expected_acc = (3.0 * s0["accuracy"] * n0 + s1["accuracy"] * n1) / (3.0 * n0 + n1);
    assert!((history.last("accuracy").unwrap() - expected_acc).abs() < 1e-6);
    // A class without a weight is an error, before training.
    let err = model
        .fit(
            &x,
            &y,
            FitOptions::new().verbose(0).class_weight([(0, 1.0)]),
        )
        .unwrap_err();
    assert!(err.to_string().contains("no weight for class"), "{err}");
}

#[test]
fn train_test_and_predict_on_batch_follow_keras() {
    let (x, y) = mnist_subset(64);
    let mut model = mlp()
        .build(&Device::flex())
        .unwrap()
        .compile("adam", "sparse_categorical_crossentropy", ["accuracy"])
        .unwrap();
    let before = model.test_on_batch(&x, &y).unwrap();
    let trained = model.train_on_batch(&x, &y).unwrap();
    // train_on_batch reports the batch with the weights before its update.
    assert!(
        (trained["loss"] - before["loss"]).abs() < 1e-5,
        "{trained:?} {before:?}"
    );
    assert_eq!(model.iterations(), 1);
    let after = model.test_on_batch(&x, &y).unwrap();
    assert!(after["loss"] < before["loss"]);
    assert_eq!(model.predict_on_batch(&x).unwrap().shape(), &[64, 10]);
}

#[test]
fn initial_epoch_and_validation_freq_follow_keras() {
    let (x, y) = mnist_subset(128);
    let mut model = mlp()
        .build(&Device::flex())
        .unwrap()
        .compile("adam", "sparse_categorical_crossentropy", ["accuracy"])
        .unwrap();
    let history = model
        .fit(
            &x,
            &y,
            FitOptions::new()
                .epochs(5)
                .initial_epoch(2)
                .validation_split(0.25)
                .validation_freq(2)
                .verbose(0),
        )
        .unwrap();
    assert_eq!(history.epoch, vec![2, 3, 4]);
    assert_eq!(history.get("loss").unwrap().len(), 3);
    // Validation ran after epochs 2 and 4 (1-based), i.e. indices 1 and 3: only index 3 here.
    assert_eq!(history.get("val_loss").unwrap().len(), 1);
}
