//! Weights and whole models on disk: round trips and the errors of damaged or foreign files.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use burn::tensor::Device;
use kiln_model::{
    Activation, Conv2d, Dense, Error, Flatten, Input, LayerExt, MaxPooling2d, Sequential,
    load_model,
};
use ndarray::Array4;

fn cnn(seed: u64) -> Sequential {
    Sequential::new()
        .add(Input::new([8, 8, 1]))
        .add(Conv2d::new(4, 3).activation(Activation::Relu))
        .add(MaxPooling2d::new(2))
        .add(Flatten::new())
        .add(Dense::new(3).activation(Activation::Softmax))
        .seed(seed)
}

fn images() -> Array4<f32> {
    Array4::from_shape_fn((5, 8, 8, 1), |(n, i, j, _)| {
        ((n * 31 + i * 7 + j * 3) % 11) as f32 / 11.0
    })
}

#[test]
fn save_then_load_weights_gives_identical_predictions() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.safetensors");
    let device = Device::flex();
    let model = cnn(1).build(&device).unwrap();
    model.save_weights(&path).unwrap();
    let other = cnn(2).build(&device).unwrap();
    assert_ne!(
        other.predict(&images(), 32).unwrap(),
        model.predict(&images(), 32).unwrap()
    );
    let loaded = other.load_weights(&path).unwrap();
    assert_eq!(
        loaded.predict(&images(), 32).unwrap(),
        model.predict(&images(), 32).unwrap()
    );
}

#[test]
fn save_then_load_model_restores_architecture_and_weights() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.safetensors");
    let device = Device::flex();
    let model = cnn(3).build(&device).unwrap();
    model.save(&path).unwrap();
    let loaded = load_model(&path, &device).unwrap();
    assert_eq!(
        loaded.config().to_json().unwrap(),
        model.config().to_json().unwrap()
    );
    assert_eq!(loaded.summary(), model.summary());
    assert_eq!(
        loaded.predict(&images(), 32).unwrap(),
        model.predict(&images(), 32).unwrap()
    );
}

#[test]
fn a_weight_of_the_wrong_shape_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.safetensors");
    let device = Device::flex();
    cnn(1).build(&device).unwrap().save_weights(&path).unwrap();
    let wider = Sequential::new()
        .add(Input::new([8, 8, 1]))
        .add(Conv2d::new(5, 3).activation(Activation::Relu))
        .add(MaxPooling2d::new(2))
        .add(Flatten::new())
        .add(Dense::new(3).activation(Activation::Softmax));
    match wider.build(&device).unwrap().load_weights(&path) {
        Err(Error::WeightMismatch {
            weight,
            expected,
            actual,
        }) => {
            assert_eq!(weight, "conv2d/kernel");
            assert_eq!((expected, actual), (vec![3, 3, 1, 5], vec![3, 3, 1, 4]));
        }
        other => panic!("expected WeightMismatch, got {other:?}"),
    }
}

#[test]
fn a_missing_weight_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.safetensors");
    let device = Device::flex();
    cnn(1).build(&device).unwrap().save_weights(&path).unwrap();
    let renamed = Sequential::new()
        .add(Input::new([8, 8, 1]))
        .add(
            Conv2d::new(4, 3)
                .activation(Activation::Relu)
                .name("features"),
        )
        .add(MaxPooling2d::new(2))
        .add(Flatten::new())
        .add(Dense::new(3).activation(Activation::Softmax));
    match renamed.build(&device).unwrap().load_weights(&path) {
        Err(Error::MissingWeight { weight, .. }) => assert_eq!(weight, "features/kernel"),
        other => panic!("expected MissingWeight, got {other:?}"),
    }
}

#[test]
fn a_truncated_file_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.safetensors");
    let device = Device::flex();
    let model = cnn(1).build(&device).unwrap();
    model.save(&path).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    for cut in [0, 5, 40, bytes.len() / 2, bytes.len() - 1] {
        std::fs::write(&path, &bytes[..cut]).unwrap();
        let err = cnn(1)
            .build(&device)
            .unwrap()
            .load_weights(&path)
            .unwrap_err();
        assert!(matches!(err, Error::WeightsFile(_)), "cut {cut}: {err:?}");
        let err = load_model(&path, &device).unwrap_err();
        assert!(matches!(err, Error::WeightsFile(_)), "cut {cut}: {err:?}");
    }
}

#[test]
fn an_unwritable_path_is_an_io_error_naming_it() {
    let model = cnn(1).build(&Device::flex()).unwrap();
    let path = std::path::Path::new("/nonexistent-kiln-dir/w.safetensors");
    match model.save_weights(path) {
        Err(Error::Io { path: p, .. }) => assert_eq!(p, path),
        other => panic!("expected Io, got {other:?}"),
    }
}

#[test]
fn weights_only_files_are_not_models() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.safetensors");
    let device = Device::flex();
    cnn(1).build(&device).unwrap().save_weights(&path).unwrap();
    let err = load_model(&path, &device).unwrap_err();
    assert!(err.to_string().contains("load_weights"), "{err}");
}
