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
        normalize(&x.slice_axis(Axis(0), rows).to_owned()),
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
