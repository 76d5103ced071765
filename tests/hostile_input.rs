//! Inputs a hostile or careless user gives that used to panic or be silently accepted: each is
//! now a typed error (or, where Keras accepts it, the Keras behaviour). See
//! `docs/reliability.md`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use kiln::model::{Embedding, UpSampling2d};
use kiln::prelude::*;
use kiln::train::Error;
use ndarray::{Array1, Array2};

fn data() -> (Array2<f32>, Array1<u8>) {
    let x = Array2::from_shape_fn((40, 3), |(i, j)| ((i * 5 + j * 3) % 11) as f32 / 11.0);
    let y = Array1::from_shape_fn(40, |i| (i % 2) as u8);
    (x, y)
}

fn model() -> CompiledModel {
    Sequential::new()
        .add(Input::new([3]))
        .add(Dense::new(2).activation(Activation::Softmax))
        .seed(1)
        .build(&Device::flex())
        .unwrap()
        .compile("adam", "sparse_categorical_crossentropy", ["accuracy"])
        .unwrap()
}

fn option_error(result: kiln::train::Result<impl std::fmt::Debug>, option: &str) {
    match result {
        Err(Error::InvalidOption { option: o, .. }) if o == option => {}
        other => panic!("expected an invalid `{option}`, got {other:?}"),
    }
}

#[test]
fn a_zero_validation_freq_in_the_public_field_is_an_error() {
    let (x, y) = data();
    let mut options = FitOptions::new().verbose(0).validation_split(0.25);
    options.validation_freq = 0;
    option_error(model().fit(&x, &y, options), "validation_freq");
}

#[test]
fn steps_per_epoch_that_overflow_are_an_error() {
    let (x, y) = data();
    let options = FitOptions::new()
        .verbose(0)
        .epochs(3)
        .steps_per_epoch(usize::MAX - 1);
    option_error(model().fit(&x, &y, options), "steps_per_epoch");
}

#[test]
fn a_zero_validation_split_means_no_split_as_in_keras() {
    let (x, y) = data();
    let history = model()
        .fit(&x, &y, FitOptions::new().verbose(0).validation_split(0.0))
        .unwrap();
    assert!(history.get("val_loss").is_none());
    assert!(history.get("loss").is_some());
}

#[test]
fn optimizer_options_that_stop_or_break_training_are_errors() {
    let build = || {
        Sequential::new()
            .add(Input::new([3]))
            .add(Dense::new(2))
            .build(&Device::flex())
            .unwrap()
    };
    for (optimizer, option) in [
        (Optimizer::sgd().clipvalue(-1.0), "clipvalue"),
        (Optimizer::adam().clipnorm(0.0), "clipnorm"),
        (Optimizer::adam().learning_rate(-0.1), "learning_rate"),
        (Optimizer::adam().learning_rate(f32::NAN), "learning_rate"),
        (Optimizer::sgd().momentum(1.5), "momentum"),
    ] {
        option_error(build().compile(optimizer, "mse", ["mae"]), option);
    }
}

#[test]
fn metric_options_that_cannot_work_are_errors() {
    let build = || {
        Sequential::new()
            .add(Input::new([3]))
            .add(Dense::new(1).activation(Activation::Sigmoid))
            .build(&Device::flex())
            .unwrap()
    };
    for thresholds in [0, 1] {
        let auc = Metric::Auc.config().num_thresholds(thresholds);
        option_error(
            build().compile("adam", "binary_crossentropy", [auc]),
            "num_thresholds",
        );
    }
    let softmax = Sequential::new()
        .add(Input::new([3]))
        .add(Dense::new(4).activation(Activation::Softmax))
        .build(&Device::flex())
        .unwrap();
    option_error(
        softmax.compile(
            "adam",
            "categorical_crossentropy",
            [Metric::TopKCategoricalAccuracy.k(0)],
        ),
        "k",
    );
}

#[test]
fn layers_of_impossible_sizes_are_build_errors() {
    let device = Device::flex();
    let up = Sequential::new()
        .add(Input::new([4, 4, 1]))
        .add(UpSampling2d::new(0))
        .build(&device);
    assert!(
        matches!(up, Err(kiln::model::Error::IncompatibleShape { .. })),
        "{up:?}"
    );
    for scale in [f32::NAN, f32::INFINITY] {
        let rescale = Sequential::new()
            .add(Input::new([2]))
            .add(Rescaling::new(scale))
            .build(&device);
        assert!(rescale.is_err(), "Rescaling({scale}) built");
    }
    // A kernel of more values than any machine holds: an error before anything is allocated.
    let huge = Sequential::new()
        .add(Input::new([1_000_000]))
        .add(Dense::new(1_000_000_000))
        .build(&device);
    assert!(
        matches!(huge, Err(kiln::model::Error::IncompatibleShape { .. })),
        "{huge:?}"
    );
}

#[test]
fn an_embedding_after_another_layer_rejects_bad_ids_without_panicking() {
    // Rescaling turns the data into ids 0, 3, 6, ...: past the table of 5 rows.
    let model = Sequential::new()
        .add(Input::new([4]))
        .add(Rescaling::new(3.0))
        .add(Embedding::new(5, 2))
        .build(&Device::flex())
        .unwrap();
    let x = Array2::from_shape_fn((2, 4), |(i, j)| ((i + j) % 3) as f32);
    let err = model.predict(&x, 8).unwrap_err();
    assert!(err.to_string().contains("0..5"), "{err}");
    // Ids in range still work.
    let ok = Sequential::new()
        .add(Input::new([4]))
        .add(Rescaling::new(1.0))
        .add(Embedding::new(5, 2))
        .build(&Device::flex())
        .unwrap();
    assert_eq!(ok.predict(&x, 8).unwrap().shape(), &[2, 4, 2]);
}
