//! Data sets larger than one device buffer (`DEVICE_DATA_LIMIT`, 64 MiB as f32) stay on the
//! host and go up a batch at a time; the arithmetic is the same as with device-resident data.
//! (On wgpu, uploading full MNIST at once fails: 188 MB is over its buffer limit.)

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use kiln::model::DEVICE_DATA_LIMIT;
use kiln::prelude::*;
use ndarray::{Array1, Array2, Axis, Slice};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

/// `features` → `classes` softmax, Adam, sparse cross-entropy, on flex.
fn softmax_classifier(features: usize, classes: usize, seed: u64) -> CompiledModel {
    Sequential::new()
        .add(Input::new([features]))
        .add(Dense::new(classes).activation(Activation::Softmax))
        .seed(seed)
        .build(&Device::flex())
        .unwrap()
        .compile("adam", "sparse_categorical_crossentropy", ["accuracy"])
        .unwrap()
}

#[test]
fn fit_and_predict_on_data_above_the_device_limit_match_batch_by_batch_runs() {
    let (n, features) = (2100, 8192);
    assert!(n * features * 4 > DEVICE_DATA_LIMIT);
    let x = Array2::from_shape_fn((n, features), |(i, j)| {
        ((i * 31 + j * 7) % 97) as f32 / 97.0
    });
    let y = Array1::from_shape_fn(n, |i| (i % 2) as u8);
    let compile = || softmax_classifier(features, 2, 4);
    // Host-resident: the whole set in one fit.
    let mut whole = compile();
    whole
        .fit(
            &x,
            &y,
            FitOptions::new().batch_size(300).shuffle(false).verbose(0),
        )
        .unwrap();
    // Device-resident: the same seven batches, one train_on_batch each.
    let mut batches = compile();
    for b in 0..n / 300 {
        let rows = Slice::from(b * 300..(b + 1) * 300);
        let xb = x.slice_axis(Axis(0), rows).to_owned();
        let yb = y.slice_axis(Axis(0), rows).to_owned();
        batches.train_on_batch(&xb, &yb).unwrap();
    }
    assert_eq!(whole.get_weights().unwrap(), batches.get_weights().unwrap());

    // predict over the large set == predict over its halves.
    let all = whole.model().predict(&x, 300).unwrap();
    let first = whole
        .model()
        .predict(&x.slice_axis(Axis(0), Slice::from(..1050)).to_owned(), 300)
        .unwrap();
    let n_first = first.len();
    assert_eq!(
        all.as_slice().unwrap()[..n_first],
        first.as_slice().unwrap()[..]
    );
}

/// Shuffled batches of host-resident data are gathered on the host, row by row: they must be
/// exactly the batches of the shuffled order, in order.
#[test]
fn shuffled_fit_on_host_resident_data_takes_the_batches_of_its_order() {
    let (n, features, batch) = (2100, 8192, 256);
    let x = Array2::from_shape_fn((n, features), |(i, j)| {
        ((i * 13 + j * 5) % 89) as f32 / 89.0 - 0.5
    });
    let y = Array1::from_shape_fn(n, |i| (i % 3) as u8);
    let compile = || softmax_classifier(features, 3, 9);
    let mut fitted = compile();
    let history = fitted
        .fit(
            &x,
            &y,
            FitOptions::new()
                .batch_size(batch)
                .seed(21)
                .epochs(2)
                .verbose(0),
        )
        .unwrap();
    // fit shuffles 0..n with StdRng(seed) once per epoch; replay that order by hand.
    let mut rng = StdRng::seed_from_u64(21);
    let mut by_hand = compile();
    for _ in 0..2 {
        let mut order: Vec<i64> = (0..n as i64).collect();
        order.shuffle(&mut rng);
        for rows in order.chunks(batch) {
            let rows: Vec<usize> = rows.iter().map(|&r| r as usize).collect();
            let xb = x.select(Axis(0), &rows);
            let yb = y.select(Axis(0), &rows);
            by_hand.train_on_batch(&xb, &yb).unwrap();
        }
    }
    assert_eq!(
        fitted.get_weights().unwrap(),
        by_hand.get_weights().unwrap()
    );
    assert!(history.history["loss"][1] < history.history["loss"][0]);
}
