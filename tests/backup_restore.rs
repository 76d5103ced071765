//! `BackupAndRestore`: a `fit` killed with SIGKILL in the middle of an epoch and run again with
//! the same backup folder resumes from the last completed epoch and ends with the same weights
//! and History, bit for bit, as a run that was never interrupted (flex, seeded; the model has
//! dropout, whose masks a resumed run must draw as the uninterrupted one did).
//!
//! The child process is this test binary running the ignored helper below; it prints a line at
//! each epoch's start and end so the parent can kill it mid-epoch. This file holds one test on
//! purpose: flex's random numbers are seeded process-wide, so no other test may draw from them
//! while it runs.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use kiln::prelude::*;
use kiln::train::{BACKUP_FILE, BackupAndRestore, Callback, CallbackContext, Logs};
use ndarray::{Array1, Array2};

const CHILD_ENV: &str = "KILN_BACKUP_DIR";
const EPOCHS: usize = 6;

fn data() -> (Array2<f32>, Array1<u8>) {
    let x = Array2::from_shape_fn((2048, 32), |(i, j)| {
        (((i * 131 + j * 71) % 97) as f32 / 97.0 - 0.5) * 2.0
    });
    let y = Array1::from_shape_fn(2048, |i| {
        ((x[[i, 0]] + x[[i, 3]] > 0.0) as u8) * 2 + (x[[i, 5]] > 0.2) as u8
    });
    (x, y)
}

fn model() -> CompiledModel {
    Sequential::new()
        .add(Input::new([32]))
        .add(Dense::new(128).activation(Activation::Relu))
        .add(Dropout::new(0.3))
        .add(Dense::new(4).activation(Activation::Softmax))
        .seed(3)
        .build(&Device::flex())
        .unwrap()
        .compile("adam", "sparse_categorical_crossentropy", ["accuracy"])
        .unwrap()
}

fn options<'a>() -> FitOptions<'a> {
    FitOptions::new()
        .epochs(EPOCHS)
        .batch_size(16)
        .validation_split(0.1)
        .verbose(0)
        .seed(11)
}

/// Prints each epoch's start and end, flushed, for the parent.
struct Announce;

impl Callback for Announce {
    fn on_epoch_begin(
        &mut self,
        epoch: usize,
        _ctx: &mut CallbackContext<'_>,
    ) -> kiln::train::Result<()> {
        println!("begin {epoch}");
        std::io::stdout().flush().ok();
        Ok(())
    }

    fn on_epoch_end(
        &mut self,
        epoch: usize,
        _logs: &Logs,
        _ctx: &mut CallbackContext<'_>,
    ) -> kiln::train::Result<()> {
        println!("end {epoch}");
        std::io::stdout().flush().ok();
        Ok(())
    }
}

/// The child: trains with a backup in `$KILN_BACKUP_DIR` until killed.
#[test]
#[ignore = "helper process of a_fit_killed_mid_epoch_resumes_to_the_same_weights_and_history"]
fn backup_child() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return;
    };
    let (x, y) = data();
    let mut backup = BackupAndRestore::new(dir);
    let mut announce = Announce;
    model()
        .fit(
            &x,
            &y,
            options().callback(&mut backup).callback(&mut announce),
        )
        .unwrap();
}

#[test]
fn a_fit_killed_mid_epoch_resumes_to_the_same_weights_and_history() {
    let (x, y) = data();
    // The uninterrupted run.
    let mut reference = model();
    let expected = reference.fit(&x, &y, options()).unwrap();
    let expected_weights = reference.model().get_weights().unwrap();

    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--ignored", "--exact", "backup_child", "--nocapture"])
        .env(CHILD_ENV, dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send((line, Instant::now())).is_err() {
                break;
            }
        }
    });
    // Wait for two epochs to end, then kill half-way through the third.
    let mut ends = Vec::new();
    let mut last = String::new();
    while ends.len() < 2 {
        let (line, at) = rx
            .recv_timeout(Duration::from_secs(300))
            .expect("the child reports its epochs");
        if line.starts_with("end ") {
            ends.push(at);
        }
        last = line;
    }
    let epoch_time = ends[1] - ends[0];
    std::thread::sleep(epoch_time / 2);
    child.kill().unwrap();
    child.wait().unwrap();
    while let Ok((line, _)) = rx.recv_timeout(Duration::from_millis(200)) {
        last = line;
    }
    println!("killed after `{last}` (epochs of {epoch_time:?})");
    assert!(dir.path().join(BACKUP_FILE).exists(), "a backup was left");

    // Run again with the same folder: it resumes and ends where the uninterrupted run did.
    let mut resumed = model();
    let mut backup = BackupAndRestore::new(dir.path());
    let history = resumed
        .fit(&x, &y, options().callback(&mut backup))
        .unwrap();
    let restored = backup
        .restored_epoch()
        .expect("the run resumed from the backup");
    assert!(restored + 1 < EPOCHS, "the child was killed before the end");
    if let Some(epoch) = last.strip_prefix("begin ") {
        // Killed mid-epoch: the backup is of the epoch before.
        assert_eq!(epoch.parse::<usize>().unwrap(), restored + 1);
    }
    assert_eq!(history.epoch, expected.epoch);
    assert_eq!(history.history, expected.history, "same History");
    assert_eq!(
        resumed.model().get_weights().unwrap(),
        expected_weights,
        "same weights, bit for bit"
    );
    assert!(
        !dir.path().join(BACKUP_FILE).exists(),
        "the backup is deleted at the end"
    );
}
