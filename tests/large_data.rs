//! Data sets larger than one device buffer (`DEVICE_DATA_LIMIT`, 64 MiB as f32) stay on the
//! host and go up a batch at a time; the arithmetic is the same as with device-resident data.
//! (On wgpu, uploading full MNIST at once fails: 188 MB is over its buffer limit.)

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use kiln::model::DEVICE_DATA_LIMIT;
use kiln::prelude::*;
use ndarray::{Array1, Array2, Axis, Slice};

#[test]
fn fit_and_predict_on_data_above_the_device_limit_match_batch_by_batch_runs() {
    let (n, features) = (2100, 8192);
    assert!(n * features * 4 > DEVICE_DATA_LIMIT);
    let x = Array2::from_shape_fn((n, features), |(i, j)| {
        ((i * 31 + j * 7) % 97) as f32 / 97.0
    });
    let y = Array1::from_shape_fn(n, |i| (i % 2) as u8);
    let compile = || {
        Sequential::new()
            .add(Input::new([features]))
            .add(Dense::new(2).activation(Activation::Softmax))
            .seed(4)
            .build(&Device::flex())
            .unwrap()
            .compile("adam", "sparse_categorical_crossentropy", ["accuracy"])
            .unwrap()
    };
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
