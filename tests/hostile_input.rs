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

#[test]
fn negative_or_non_finite_sample_and_class_weights_are_errors() {
    let (x, _) = data();
    let y = Array1::from_shape_fn(40, |i| (i % 2) as u8);
    let mut weights = Array1::from_elem(40, 1.0f32);
    weights[7] = -0.5;
    let err = model()
        .fit(&x, &y, FitOptions::new().verbose(0).sample_weight(&weights))
        .unwrap_err();
    assert!(err.to_string().contains("sample 7"), "{err}");
    option_error(
        model().fit(&x, &y, FitOptions::new().verbose(0).sample_weight(&weights)),
        "sample_weight",
    );
    weights[7] = f32::NAN;
    option_error(
        model().fit(&x, &y, FitOptions::new().verbose(0).sample_weight(&weights)),
        "sample_weight",
    );
    let classes = std::collections::BTreeMap::from([(0, 1.0), (1, f32::INFINITY)]);
    option_error(
        model().fit(&x, &y, FitOptions::new().verbose(0).class_weight(classes)),
        "class_weight",
    );
}

/// Counts the epochs that ended.
struct Epochs(usize);

impl kiln::train::Callback for Epochs {
    fn on_epoch_end(
        &mut self,
        _epoch: usize,
        _logs: &kiln::train::Logs,
        _ctx: &mut kiln::train::CallbackContext<'_>,
    ) -> kiln::train::Result<()> {
        self.0 += 1;
        Ok(())
    }
}

#[test]
fn checkpoint_patterns_and_folders_are_checked_when_fit_starts() {
    let (x, y) = data();
    let dir = tempfile::tempdir().unwrap();
    let fit = |pattern: String| {
        let mut checkpoint = kiln::train::ModelCheckpoint::new(pattern);
        let mut epochs = Epochs(0);
        let result = model()
            .fit(
                &x,
                &y,
                FitOptions::new()
                    .verbose(0)
                    .epochs(2)
                    .callback(&mut checkpoint)
                    .callback(&mut epochs),
            )
            .map(|_| ());
        (result, epochs.0)
    };
    let at = |name: &str| dir.path().join(name).to_string_lossy().into_owned();
    // An absurd width was a panic in formatting after epoch 1; now an error before epoch 1.
    for pattern in [
        "ckpt-{epoch:0999999999999d}.keras",
        "ckpt-{loss:.99999f}.keras",
    ] {
        let (result, epochs) = fit(at(pattern));
        option_error(result, "filepath");
        assert_eq!(epochs, 0, "{pattern}: refused before training");
    }
    // An extension Kiln cannot write, and a format it does not know: before epoch 1 too.
    for pattern in ["ckpt.pt", "ckpt-{epoch:x}.keras", "ckpt-{epoch.keras"] {
        let (result, epochs) = fit(at(pattern));
        option_error(result, "filepath");
        assert_eq!(epochs, 0, "{pattern}");
    }
    // A missing folder is made, as Keras does (also one named by a pattern).
    for pattern in ["new/deeper/ckpt.keras", "run-{epoch}/ckpt.keras"] {
        let (result, epochs) = fit(at(pattern));
        result.unwrap();
        assert_eq!(epochs, 2);
    }
    assert!(dir.path().join("new/deeper/ckpt.keras").is_file());
    assert!(dir.path().join("run-2/ckpt.keras").is_file());
    // A file where the folder should be: an error naming it, before epoch 1.
    std::fs::write(dir.path().join("blocker"), b"").unwrap();
    let (result, epochs) = fit(at("blocker/ckpt.keras"));
    match result {
        Err(Error::Io { path, .. }) => assert!(path.ends_with("blocker"), "{path:?}"),
        other => panic!("expected an I/O error naming the folder, got {other:?}"),
    }
    assert_eq!(epochs, 0);
}

#[test]
fn models_too_large_for_memory_are_refused_before_allocating() {
    use kiln::model::Error as ModelError;
    let device = Device::flex();
    // Each kernel is under the per-weight bound, together they pass the model bound (2^31).
    let wide = Sequential::new()
        .add(Input::new([40_000]))
        .add(Dense::new(40_000))
        .add(Dense::new(40_000))
        .build(&device);
    match wide {
        Err(ModelError::ModelTooLarge { layer, values, .. }) => {
            assert_eq!(layer, "dense_1");
            assert!(values > 3_000_000_000, "{values}");
        }
        other => panic!("expected ModelTooLarge, got {other:?}"),
    }
    // An LSTM of 100,000 units from a config (it grew until the OS killed the process).
    let config = r#"{"class_name": "Sequential", "config": {"name": "s", "layers": [
        {"class_name": "InputLayer", "config": {"batch_shape": [null, 10, 4]}},
        {"class_name": "LSTM", "config": {"name": "lstm", "units": 100000}}]}}"#;
    let lstm = kiln::model::ModelConfig::from_json_with(config, &Default::default())
        .unwrap()
        .build(&device);
    assert!(
        matches!(
            lstm,
            Err(ModelError::ModelTooLarge { .. } | ModelError::IncompatibleShape { .. })
        ),
        "{lstm:?}"
    );
    // A layer whose output per sample is absurd (an UpSampling2D of 10^5).
    let up = Sequential::new()
        .add(Input::new([4, 4, 1]))
        .add(UpSampling2d::new(100_000))
        .build(&device);
    assert!(
        matches!(up, Err(ModelError::ModelTooLarge { what, .. }) if what.contains("output")),
        "{up:?}"
    );
}

#[test]
fn weights_files_with_tensors_the_model_lacks_are_refused() {
    let device = Device::flex();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bigger.safetensors");
    Sequential::new()
        .add(Input::new([3]))
        .add(Dense::new(2))
        .add(Dense::new(2))
        .build(&device)
        .unwrap()
        .save_weights(&path)
        .unwrap();
    let smaller = Sequential::new()
        .add(Input::new([3]))
        .add(Dense::new(2))
        .build(&device)
        .unwrap();
    let err = smaller.load_weights(&path).unwrap_err();
    assert!(
        matches!(&err, kiln::model::Error::UnexpectedWeight { weight, .. } if weight.starts_with("dense_1/")),
        "{err}"
    );
}
