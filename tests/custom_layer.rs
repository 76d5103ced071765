//! A user-defined layer goes into `Sequential` like a stock one: built with shape inference,
//! counted in `summary`, trained by `fit`, saved and loaded (with its constructor registered).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../examples/custom/residual_dense.rs"]
mod residual_dense;

use kiln::model::{Error, load_model, load_model_with};
use kiln::prelude::*;
use ndarray::{Array1, Array3, Axis, Slice};
use residual_dense::ResidualDense;

fn mnist_subset(n: usize) -> (Array3<f32>, Array1<u8>) {
    let ((x, y), _) = kiln::datasets::mnist::load_data().unwrap();
    let rows = Slice::from(..n);
    (
        scale_pixels(&x.slice_axis(Axis(0), rows).to_owned()),
        y.slice_axis(Axis(0), rows).to_owned(),
    )
}

fn spec() -> Sequential {
    Sequential::new()
        .add(Input::new([28, 28]))
        .add(Flatten::new())
        .add(Dense::new(16).activation(Activation::Relu))
        .add(ResidualDense {
            activation: Activation::Tanh,
        })
        .add(Dense::new(10).activation(Activation::Softmax))
        .seed(4)
}

#[test]
fn a_custom_layer_is_built_counted_and_named_like_a_stock_one() {
    let model = spec().build(&Device::flex()).unwrap();
    let summary = model.summary().to_string();
    assert!(
        summary.contains(
            "│ residual_dense (ResidualDense)  │ (None, 16)             │           272 │"
        ),
        "{summary}"
    );
    assert_eq!(model.count_params(), 784 * 16 + 16 + 272 + 170);
    let names = model.weight_names();
    assert_eq!(
        names[2..4],
        ["residual_dense/kernel", "residual_dense/bias"]
    );
    let w = model.get_weights().unwrap();
    assert_eq!(w[2].shape(), &[16, 16]);
    assert!(w[3].iter().all(|b| *b == 0.0));
    // Its shape rule runs at build and names the layer.
    let err = Sequential::new()
        .add(Input::new([4, 4]))
        .add(ResidualDense {
            activation: Activation::Relu,
        })
        .build(&Device::flex())
        .unwrap_err();
    assert!(
        err.to_string().contains("residual_dense") && err.to_string().contains("(None, 4, 4)"),
        "{err}"
    );
}

#[test]
fn fit_trains_the_custom_layer_s_weights() {
    let (x, y) = mnist_subset(512);
    let mut model = spec()
        .build(&Device::flex())
        .unwrap()
        .compile("adam", "sparse_categorical_crossentropy", ["accuracy"])
        .unwrap();
    let before = model.get_weights().unwrap()[2].clone();
    let history = model
        .fit(&x, &y, FitOptions::new().epochs(3).verbose(0).seed(1))
        .unwrap();
    let loss = history.get("loss").unwrap();
    assert!(loss[2] < loss[0], "{loss:?}");
    let after = &model.get_weights().unwrap()[2];
    let moved = before
        .iter()
        .zip(after.iter())
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max);
    assert!(
        moved > 1e-3,
        "the custom kernel did not train (moved {moved})"
    );
}

#[test]
fn a_model_with_a_custom_layer_saves_and_loads_with_its_constructor() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("custom.safetensors");
    let (x, _) = mnist_subset(64);
    let model = spec().build(&Device::flex()).unwrap();
    model.save(&path).unwrap();

    let loaded = load_model_with(&path, &Device::flex(), &ResidualDense::custom_objects()).unwrap();
    assert_eq!(
        loaded.predict(&x, 32).unwrap(),
        model.predict(&x, 32).unwrap()
    );
    assert_eq!(loaded.config(), model.config());

    // The config JSON carries the class name and the layer's own config, and round trips.
    let json = model.config().to_json().unwrap();
    assert!(json.contains(r#""class_name": "ResidualDense""#), "{json}");
    assert!(json.contains(r#""activation": "tanh""#), "{json}");
    let again = Sequential::from_config_with(&json, &ResidualDense::custom_objects()).unwrap();
    assert_eq!(again.to_json().unwrap(), json);

    // Without the constructor: a typed error that says what to do.
    let err = load_model(&path, &Device::flex()).unwrap_err();
    assert!(
        matches!(&err, Error::UnknownLayer { class_name, .. } if class_name == "ResidualDense"),
        "{err}"
    );
    assert!(err.to_string().contains("CustomObjects"), "{err}");
}
