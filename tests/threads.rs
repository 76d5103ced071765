//! One `Model` shared by several threads for inference: each `predict` gives what one thread
//! alone gets, bit for bit.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use kiln::prelude::*;
use ndarray::Array2;

#[test]
fn predict_from_several_threads_at_once_matches_one_thread() {
    let model = Sequential::new()
        .add(Input::new([16]))
        .add(Dense::new(32).activation(Activation::Relu))
        .add(BatchNormalization::new())
        .add(Dense::new(4).activation(Activation::Softmax))
        .seed(5)
        .build(&Device::flex())
        .unwrap();
    let inputs: Vec<Array2<f32>> = (0..8)
        .map(|t| {
            Array2::from_shape_fn((64, 16), |(i, j)| ((i * 13 + j * 7 + t) % 17) as f32 / 17.0)
        })
        .collect();
    let alone: Vec<_> = inputs
        .iter()
        .map(|x| model.predict(x, 16).unwrap())
        .collect();
    let together: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = inputs
            .iter()
            .map(|x| s.spawn(|| model.predict(x, 16).unwrap()))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(together, alone);
    // Different inputs really give different outputs (the comparison is not vacuous).
    assert_ne!(alone[0], alone[1]);
}
