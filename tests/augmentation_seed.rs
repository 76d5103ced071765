//! Augmented training is reproducible under a fit seed. Alone in its test binary on purpose:
//! flex's random numbers are seeded process-wide, so no other test may draw from them.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use kiln::model::{RandomContrast, RandomFlip, RandomRotation, RandomZoom};
use kiln::prelude::*;
use ndarray::Array4;

#[test]
fn augmented_training_is_reproducible_under_a_fit_seed() {
    let x = Array4::from_shape_fn((3, 8, 6, 2), |(b, y, x, c)| {
        ((b * 31 + y * 7 + x * 3 + c * 11) % 23) as f32 / 23.0
    });
    let y = ndarray::Array1::from_vec(vec![0u8, 1, 0]);
    let run = || {
        let mut m = Sequential::new()
            .add(Input::new([8, 6, 2]))
            .add(RandomFlip::new("horizontal"))
            .add(RandomRotation::new(0.1))
            .add(RandomZoom::new(0.1))
            .add(RandomContrast::new(0.2).value_range([0.0, 1.0]))
            .add(Flatten::new())
            .add(Dense::new(2).activation(Activation::Softmax))
            .seed(3)
            .build(&Device::flex())
            .unwrap()
            .compile("adam", "sparse_categorical_crossentropy", ["accuracy"])
            .unwrap();
        m.fit(&x, &y, FitOptions::new().epochs(3).seed(9).verbose(0))
            .unwrap();
        m.get_weights().unwrap()
    };
    assert_eq!(run(), run());
}
