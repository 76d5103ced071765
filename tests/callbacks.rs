//! Callbacks: Keras's stopping, checkpointing, logging and NaN rules.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use kiln::prelude::*;
use kiln::train::{
    Callback, CallbackContext, CsvLogger, EarlyStopping, Error, Logs, ModelCheckpoint,
    OptimizerState, TerminateOnNaN,
};
use ndarray::{Array1, Array2, ArrayD, Axis, IxDyn, Slice};

fn tiny() -> Model {
    Sequential::new()
        .add(Input::new([2]))
        .add(Dense::new(1))
        .seed(1)
        .build(&Device::flex())
        .unwrap()
}

fn filled(v: f32) -> Vec<ArrayD<f32>> {
    vec![
        ArrayD::from_elem(IxDyn(&[2, 1]), v),
        ArrayD::from_elem(IxDyn(&[1]), v),
    ]
}

#[test]
fn early_stopping_stops_where_keras_would_and_restores_the_best_weights() {
    // Keras 3, patience 2 on val_loss [1.0, 0.8, 0.85, 0.9, 0.7]: best at epoch 1, stops at 3.
    let mut stop = EarlyStopping::new().patience(2).restore_best_weights(true);
    let mut model = tiny();
    let mut optimizer = OptimizerState::new(Optimizer::adam());
    let mut stopped_at = None;
    {
        let mut ctx = CallbackContext::new(&mut model, &mut optimizer);
        stop.on_train_begin(&mut ctx).unwrap();
    }
    for (epoch, val_loss) in [1.0, 0.8, 0.85, 0.9, 0.7].into_iter().enumerate() {
        // "Training" sets every weight to the epoch number.
        model = model.set_weights(&filled(epoch as f32)).unwrap();
        let mut ctx = CallbackContext::new(&mut model, &mut optimizer);
        let logs = Logs::from([("val_loss".to_string(), val_loss)]);
        stop.on_epoch_end(epoch, &logs, &mut ctx).unwrap();
        if ctx.stop_training {
            stopped_at = Some(epoch);
            break;
        }
    }
    assert_eq!(stopped_at, Some(3));
    assert_eq!(stop.stopped_epoch(), Some(3));
    assert_eq!(stop.best_epoch(), Some(1));
    assert_eq!(
        model.get_weights().unwrap(),
        filled(1.0),
        "weights of epoch 1 restored"
    );
}

fn mnist(n: usize) -> (Array2<f32>, Array1<u8>) {
    let ((x, y), _) = kiln::datasets::mnist::load_data().unwrap();
    let rows = Slice::from(..n);
    let x = scale_pixels(&x.slice_axis(Axis(0), rows).to_owned())
        .into_shape_with_order((n, 784))
        .unwrap();
    (x, y.slice_axis(Axis(0), rows).to_owned())
}

fn mlp() -> CompiledModel {
    Sequential::new()
        .add(Input::new([784]))
        .add(Dense::new(16).activation(Activation::Relu))
        .add(Dense::new(10).activation(Activation::Softmax))
        .seed(2)
        .build(&Device::flex())
        .unwrap()
        .compile("adam", "sparse_categorical_crossentropy", ["accuracy"])
        .unwrap()
}

#[test]
fn an_unknown_monitor_fails_at_fit_start_with_the_valid_names() {
    let (x, y) = mnist(64);
    let mut model = mlp();
    let mut stop = EarlyStopping::new(); // watches val_loss, but there is no validation
    let err = model
        .fit(&x, &y, FitOptions::new().verbose(0).callback(&mut stop))
        .unwrap_err();
    match &err {
        Error::UnknownMonitor { monitor, valid } => {
            assert_eq!(monitor, "val_loss");
            assert_eq!(valid, &["loss", "accuracy"]);
        }
        other => panic!("expected UnknownMonitor, got {other:?}"),
    }
    assert_eq!(model.iterations(), 0, "nothing trained");
}

#[test]
fn early_stopping_ends_a_real_fit() {
    let (x, y) = mnist(400);
    let mut model = mlp();
    // min_delta so large that nothing counts as an improvement after the first epoch.
    let mut stop = EarlyStopping::new()
        .monitor("loss")
        .min_delta(10.0)
        .patience(1);
    let history = model
        .fit(
            &x,
            &y,
            FitOptions::new()
                .epochs(10)
                .verbose(0)
                .seed(1)
                .callback(&mut stop),
        )
        .unwrap();
    assert_eq!(history.get("loss").unwrap().len(), 2);
    assert_eq!(stop.stopped_epoch(), Some(1));
}

#[test]
fn terminate_on_nan_stops_training_and_returns_the_history() {
    let (mut x, y) = mnist(64);
    x[[5, 100]] = f32::NAN;
    let mut model = mlp();
    let mut nan = TerminateOnNaN;
    let history = model
        .fit(
            &x,
            &y,
            FitOptions::new().epochs(5).verbose(0).callback(&mut nan),
        )
        .unwrap();
    let loss = history.get("loss").unwrap();
    assert_eq!(loss.len(), 1, "stopped after the first epoch");
    assert!(loss[0].is_nan());
}

#[test]
fn model_checkpoint_writes_keras_named_files_that_load_back() {
    let dir = tempfile::tempdir().unwrap();
    let (x, y) = mnist(300);
    let mut model = mlp();
    let pattern = dir
        .path()
        .join("ckpt-{epoch:02d}-{val_loss:.2f}.safetensors");
    let mut checkpoint = ModelCheckpoint::new(pattern.to_string_lossy());
    let mut csv = CsvLogger::new(dir.path().join("log.csv"));
    let history = model
        .fit(
            &x,
            &y,
            FitOptions::new()
                .epochs(3)
                .verbose(0)
                .seed(4)
                .validation_split(0.2)
                .callback(&mut checkpoint)
                .callback(&mut csv),
        )
        .unwrap();
    assert_eq!(checkpoint.saved().len(), 3);
    let last = &checkpoint.saved()[2];
    let name = last.file_name().unwrap().to_string_lossy().into_owned();
    let val_loss = history.last("val_loss").unwrap();
    assert_eq!(name, format!("ckpt-03-{val_loss:.2}.safetensors"));
    let restored = kiln::model::load_model(last, &Device::flex()).unwrap();
    assert_eq!(
        restored.get_weights().unwrap(),
        model.get_weights().unwrap()
    );
    let log = std::fs::read_to_string(dir.path().join("log.csv")).unwrap();
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines[0], "epoch,accuracy,loss,val_accuracy,val_loss");
    assert_eq!(lines.len(), 4);
}

#[test]
fn a_checkpoint_overwrite_that_fails_leaves_the_old_file_intact() {
    // Writes go to a temporary file and are renamed over the target: make the rename fail
    // (the target is a non-empty directory) and check that nothing half-written appears.
    let dir = tempfile::tempdir().unwrap();
    let model = tiny();
    let good = dir.path().join("best.safetensors");
    model.save(&good).unwrap();
    let before = std::fs::read(&good).unwrap();
    let blocked = dir.path().join("blocked.safetensors");
    std::fs::create_dir(&blocked).unwrap();
    std::fs::write(blocked.join("keep"), b"x").unwrap();
    assert!(model.save(&blocked).is_err());
    assert_eq!(std::fs::read(&good).unwrap(), before);
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        leftovers.len(),
        2,
        "no temporary file left behind: {leftovers:?}"
    );
}
