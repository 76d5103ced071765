//! A process killed while `ModelCheckpoint` writes leaves the previous checkpoint intact: the
//! new file is written beside it under a temporary name and renamed only when complete.
//!
//! The test starts a child process (this test binary, running the ignored helper below) that
//! trains a model of ~33 MB of weights and checkpoints it after every epoch, and kills it with
//! SIGKILL as soon as a temporary checkpoint file appears: a real crash in the middle of a write.
//! The next save to the same path removes the temporary file the crash left.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use kiln::model::load_model;
use kiln::prelude::*;
use kiln::train::ModelCheckpoint;
use ndarray::{Array1, Array2};

const CHILD_ENV: &str = "KILN_CHECKPOINT_CRASH_PATH";

/// 2048 → 4096 → 2: 8.4 M weights, a 33 MB file.
fn big_model() -> Sequential {
    Sequential::new()
        .add(Input::new([2048]))
        .add(Dense::new(4096).activation(Activation::Relu))
        .add(Dense::new(2).activation(Activation::Softmax))
        .seed(1)
}

fn temp_files(dir: &Path) -> Vec<(String, u64)> {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            (name, e.metadata().map(|m| m.len()).unwrap_or(0))
        })
        .filter(|(name, _)| name.contains(".kiln-tmp-"))
        .collect()
}

/// The child: trains and checkpoints to `$KILN_CHECKPOINT_CRASH_PATH` every epoch until killed.
#[test]
#[ignore = "helper process of a_crash_mid_write_leaves_the_previous_checkpoint_intact"]
fn checkpoint_writer_child() {
    let Ok(path) = std::env::var(CHILD_ENV) else {
        return;
    };
    let x = Array2::<f32>::from_shape_fn((8, 2048), |(i, j)| ((i + j) % 7) as f32 / 7.0);
    let y = Array1::<u8>::from_shape_fn(8, |i| (i % 2) as u8);
    let mut checkpoint = ModelCheckpoint::new(path).monitor("loss");
    let mut model = big_model()
        .seed(2)
        .build(&Device::flex())
        .unwrap()
        .compile("sgd", "sparse_categorical_crossentropy", ["accuracy"])
        .unwrap();
    model
        .fit(
            &x,
            &y,
            FitOptions::new()
                .epochs(200)
                .batch_size(8)
                .verbose(0)
                .callback(&mut checkpoint),
        )
        .unwrap();
}

#[test]
fn a_crash_mid_write_leaves_the_previous_checkpoint_intact() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("checkpoint.safetensors");
    // The previous checkpoint: a complete model file.
    let old = big_model().build(&Device::flex()).unwrap();
    old.save(&path).unwrap();
    let old_bytes = std::fs::read(&path).unwrap();

    let mut killed_mid_write = false;
    for attempt in 0..3 {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--ignored",
                "--exact",
                "checkpoint_writer_child",
                "--nocapture",
            ])
            .env(CHILD_ENV, &path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let start = Instant::now();
        // Kill the child the moment a temporary checkpoint exists and holds some bytes.
        let seen = loop {
            if let Some(t) = temp_files(dir.path()).into_iter().find(|(_, len)| *len > 0) {
                child.kill().unwrap();
                break Some(t);
            }
            if start.elapsed() > Duration::from_secs(120) || child.try_wait().unwrap().is_some() {
                let _ = child.kill();
                break None;
            }
            std::thread::sleep(Duration::from_micros(200));
        };
        child.wait().unwrap();
        let Some((name, len)) = seen else {
            panic!("attempt {attempt}: the child never started a checkpoint write");
        };
        // The temporary file is still there (the rename never happened): the write was cut.
        if temp_files(dir.path()).iter().any(|(n, _)| *n == name) {
            println!("killed with {len} of {} bytes in {name}", old_bytes.len());
            killed_mid_write = true;
            break;
        }
    }
    assert!(killed_mid_write, "could not kill the child during a write");

    // The checkpoint is the previous file, byte for byte, and loads.
    assert_eq!(std::fs::read(&path).unwrap(), old_bytes);
    let loaded = load_model(&path, &Device::flex()).unwrap();
    assert_eq!(loaded.get_weights().unwrap(), old.get_weights().unwrap());

    // The next save to the same path removes the temporary file the killed write left.
    assert!(!temp_files(dir.path()).is_empty());
    loaded.save(&path).unwrap();
    assert_eq!(temp_files(dir.path()), Vec::<(String, u64)>::new());
}
