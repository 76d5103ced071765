//! TensorBoard: the event files `fit` writes, read back by the format's own rules, hold the
//! History's values under Keras's tags.
//!
//! `KILN_TB_KEEP=/some/dir cargo test --test tensorboard` keeps the log directory of the fit
//! test there (for `tests/tensorboard_check.py` or `tensorboard --logdir`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use kiln::prelude::*;
use kiln::train::{Error, History, TensorBoard, UpdateFreq};
use ndarray::{Array1, Array2};

/// 40 samples (30 to train, 10 to validate): 4 batches of 8 per epoch.
fn data() -> (Array2<f32>, Array1<u8>) {
    let x = Array2::from_shape_fn((40, 2), |(i, j)| ((i * 37 + j * 11) % 17) as f32 / 17.0);
    let y = Array1::from_shape_fn(40, |i| u8::from(x[[i, 0]] > x[[i, 1]]));
    (x, y)
}

fn model() -> CompiledModel {
    Sequential::new()
        .add(Input::new([2]))
        .add(Dense::new(8).activation(Activation::Relu))
        .add(Dense::new(2).activation(Activation::Softmax))
        .seed(3)
        .build(&Device::flex())
        .unwrap()
        .compile(
            Optimizer::adam().learning_rate(0.01),
            "sparse_categorical_crossentropy",
            ["accuracy"],
        )
        .unwrap()
}

/// CRC32C (Castagnoli, reflected), bit by bit: independent of the crate's `crc32c`.
fn crc32c(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0x82f6_3b78
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn masked(bytes: &[u8]) -> u32 {
    // ((crc >> 15) | (crc << 17)) + 0xa282ead8, wrapping.
    crc32c(bytes).rotate_right(15).wrapping_add(0xa282_ead8)
}

/// Walks the TFRecord framing of `path` and checks every length and data checksum; returns
/// the number of records.
fn check_framing(path: &Path) -> usize {
    let bytes = std::fs::read(path).unwrap();
    let u32_at = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
    let (mut at, mut records) = (0, 0);
    while at < bytes.len() {
        let len = u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap()) as usize;
        assert_eq!(
            u32_at(at + 8),
            masked(&bytes[at..at + 8]),
            "length CRC at {at}"
        );
        let data = &bytes[at + 12..at + 12 + len];
        assert_eq!(u32_at(at + 12 + len), masked(data), "data CRC at {at}");
        at += 16 + len;
        records += 1;
    }
    assert_eq!(at, bytes.len());
    records
}

/// The one event file in `dir`, checked against TensorFlow's naming.
fn event_file(dir: &Path) -> PathBuf {
    let files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let name = files[0].file_name().unwrap().to_string_lossy().into_owned();
    assert!(name.starts_with("events.out.tfevents."), "{name}");
    assert!(name.ends_with(".v2"), "{name}");
    assert!(
        name.contains(&format!(".{}.", std::process::id())),
        "{name}"
    );
    files[0].clone()
}

/// Tag -> (step, value).
type Scalars = BTreeMap<String, Vec<(i64, f32)>>;
/// Tag -> (step, num, min, max).
type Histograms = BTreeMap<String, Vec<(i64, f64, f64, f64)>>;

/// The scalars and histograms of an event file.
fn read(path: &Path) -> (Scalars, Histograms) {
    let records = check_framing(path);
    let events = TensorBoard::read_events(path).unwrap();
    assert_eq!(events.len(), records);
    assert_eq!(events[0].file_version.as_deref(), Some("brain.Event:2"));
    assert!(events[0].wall_time > 1.6e9);
    let (mut scalars, mut histograms) = (Scalars::new(), Histograms::new());
    for event in &events[1..] {
        assert!(event.file_version.is_none());
        for value in &event.summary.as_ref().unwrap().value {
            if let Some(v) = value.simple_value {
                scalars
                    .entry(value.tag.clone())
                    .or_insert_with(Vec::new)
                    .push((event.step, v));
            } else {
                let h = value.histo.as_ref().unwrap();
                assert_eq!(h.bucket.len(), h.bucket_limit.len());
                assert_eq!(h.bucket.iter().sum::<f64>(), h.num, "{}", value.tag);
                histograms
                    .entry(value.tag.clone())
                    .or_insert_with(Vec::new)
                    .push((event.step, h.num, h.min, h.max));
            }
        }
    }
    (scalars, histograms)
}

fn epochs_of(history: &History, name: &str) -> Vec<(i64, f32)> {
    let values = history.get(name).unwrap();
    values
        .iter()
        .enumerate()
        .map(|(epoch, &v)| (epoch as i64, v as f32))
        .collect()
}

#[test]
fn fit_writes_keras_tags_with_the_history_values() {
    let kept = std::env::var_os("KILN_TB_KEEP").map(PathBuf::from);
    let temp = tempfile::tempdir().unwrap();
    let log_dir = match &kept {
        Some(dir) => {
            for run in ["train", "validation"] {
                let _ = std::fs::remove_dir_all(dir.join(run));
            }
            dir.clone()
        }
        None => temp.path().join("logs"),
    };
    let (x, y) = data();
    let mut model = model();
    let mut tensorboard = TensorBoard::new(&log_dir)
        .update_freq(UpdateFreq::Batches(2))
        .histogram_freq(1);
    let history = model
        .fit(
            &x,
            &y,
            FitOptions::new()
                .epochs(3)
                .batch_size(8)
                .verbose(0)
                .seed(5)
                .validation_split(0.25)
                .callback(&mut tensorboard),
        )
        .unwrap();

    let train = event_file(&log_dir.join("train"));
    let validation = event_file(&log_dir.join("validation"));
    assert_eq!(tensorboard.files(), [train.clone(), validation.clone()]);
    let (scalars, histograms) = read(&train);

    // Epoch values at steps 0, 1, 2, equal to the History's (as f32).
    assert_eq!(scalars["epoch_loss"], epochs_of(&history, "loss"));
    assert_eq!(scalars["epoch_accuracy"], epochs_of(&history, "accuracy"));
    assert_eq!(
        scalars["epoch_learning_rate"],
        [(0, 0.01), (1, 0.01), (2, 0.01)]
    );
    // Batch values every 2 of the 12 batches, at the count of batches so far; at an epoch's
    // last batch the running mean is the epoch's value.
    let steps: Vec<i64> = scalars["batch_loss"].iter().map(|s| s.0).collect();
    assert_eq!(steps, [2, 4, 6, 8, 10, 12]);
    assert_eq!(scalars["batch_accuracy"].len(), 6);
    let loss = history.get("loss").unwrap();
    for (k, &(step, value)) in scalars["batch_loss"].iter().enumerate() {
        if step % 4 == 0 {
            assert_eq!(value, loss[k / 2] as f32, "batch_loss at step {step}");
        }
    }
    let tags: Vec<&str> = scalars.keys().map(String::as_str).collect();
    assert_eq!(
        tags,
        [
            "batch_accuracy",
            "batch_loss",
            "epoch_accuracy",
            "epoch_learning_rate",
            "epoch_loss"
        ]
    );

    // A histogram of every weight at every epoch; the last one of the final weights.
    let names = model.model().weight_names();
    let weights = model.model().get_weights().unwrap();
    assert_eq!(histograms.len(), names.len());
    for (name, weight) in names.iter().zip(&weights) {
        let h = &histograms[&format!("{name}/histogram")];
        let steps: Vec<i64> = h.iter().map(|h| h.0).collect();
        assert_eq!(steps, [0, 1, 2], "{name}");
        let (_, num, min, max) = h[2];
        assert_eq!(num, weight.len() as f64, "{name}");
        let lo = weight.iter().copied().fold(f32::INFINITY, f32::min);
        let hi = weight.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        assert_eq!((min, max), (f64::from(lo), f64::from(hi)), "{name}");
    }
    assert!(
        histograms.contains_key("dense/kernel/histogram"),
        "{histograms:?}"
    );

    // Validation: the `val_` values without the prefix, and Keras's per-iteration ones.
    let (val, val_histograms) = read(&validation);
    assert!(val_histograms.is_empty());
    assert_eq!(val["epoch_loss"], epochs_of(&history, "val_loss"));
    assert_eq!(val["epoch_accuracy"], epochs_of(&history, "val_accuracy"));
    let by_iteration: Vec<(i64, f32)> = epochs_of(&history, "val_loss")
        .into_iter()
        .map(|(epoch, v)| (4 * (epoch + 1), v))
        .collect();
    assert_eq!(val["evaluation_loss_vs_iterations"], by_iteration);
    let tags: Vec<&str> = val.keys().map(String::as_str).collect();
    assert_eq!(
        tags,
        [
            "epoch_accuracy",
            "epoch_loss",
            "evaluation_accuracy_vs_iterations",
            "evaluation_loss_vs_iterations"
        ]
    );
}

#[test]
fn a_corrupt_event_file_is_an_error_naming_the_file_and_the_record() {
    let dir = tempfile::tempdir().unwrap();
    let (x, y) = data();
    let mut tensorboard = TensorBoard::new(dir.path());
    model()
        .fit(
            &x,
            &y,
            FitOptions::new()
                .epochs(2)
                .verbose(0)
                .callback(&mut tensorboard),
        )
        .unwrap();
    let good = std::fs::read(&tensorboard.files()[0]).unwrap();
    assert!(TensorBoard::read_events(&tensorboard.files()[0]).is_ok());

    let path = dir.path().join("events.out.tfevents.corrupt");
    let records: Vec<usize> = {
        // Record starts, from the framing.
        let mut starts = vec![0];
        while let Some(&at) = starts.last() {
            let len = u64::from_le_bytes(good[at..at + 8].try_into().unwrap()) as usize;
            if at + 16 + len >= good.len() {
                break;
            }
            starts.push(at + 16 + len);
        }
        starts
    };
    assert!(records.len() > 3);
    // A byte flipped in a record's data, in a length, in a checksum: each is found at the
    // start of its record.
    let third = records[2];
    for (at, what) in [
        (third + 14, "data"),
        (third + 1, "length"),
        (third + 9, "length"),
        (records[3] - 2, "data"),
    ] {
        let mut bad = good.clone();
        bad[at] ^= 0x40;
        std::fs::write(&path, &bad).unwrap();
        let err = TensorBoard::read_events(&path).unwrap_err();
        let Error::EventFile { offset, .. } = &err else {
            panic!("{err:?}");
        };
        assert_eq!(*offset as usize, third, "byte {at}: {err}");
        let text = err.to_string();
        assert!(text.contains(&path.display().to_string()), "{text}");
        assert!(text.contains(&format!("at byte {third}")), "{text}");
        assert!(text.contains(what) && text.contains("checksum"), "{text}");
    }
    // Cut short.
    std::fs::write(&path, &good[..good.len() - 3]).unwrap();
    let err = TensorBoard::read_events(&path).unwrap_err();
    assert!(err.to_string().contains("cut short"), "{err}");
    // Not an event file at all.
    std::fs::write(&path, b"not a record").unwrap();
    assert!(TensorBoard::read_events(&path).is_err());
}

#[test]
fn an_unwritable_log_dir_fails_fit_before_training() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"").unwrap();
    let log_dir = file.join("logs");
    let (x, y) = data();
    let mut model = model();
    let before = model.model().get_weights().unwrap();
    let mut tensorboard = TensorBoard::new(&log_dir);
    let err = model
        .fit(
            &x,
            &y,
            FitOptions::new().verbose(0).callback(&mut tensorboard),
        )
        .unwrap_err();
    assert!(
        matches!(&err, Error::Io { path, .. } if path == &log_dir),
        "{err:?}"
    );
    assert!(err.to_string().contains(&log_dir.display().to_string()));
    assert_eq!(model.model().get_weights().unwrap(), before, "no step ran");

    let mut zero = TensorBoard::new(dir.path().join("logs")).update_freq(UpdateFreq::Batches(0));
    let err = model
        .fit(&x, &y, FitOptions::new().verbose(0).callback(&mut zero))
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::InvalidOption {
                option: "update_freq",
                ..
            }
        ),
        "{err:?}"
    );
}
