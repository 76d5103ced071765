//! Keras's masking: `Embedding(mask_zero)` and `Masking` mark padding steps, the layers that
//! keep masks carry them, and the recurrent layers, `GlobalAveragePooling1D`, attention and the
//! loss skip them. The properties here hold by definition (a padded sequence gives what the
//! unpadded one gives; a masked mean is the mean of the real steps); the Keras goldens pin the
//! numbers.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use kiln::model::{
    Apply, Bidirectional, Embedding, Functional, GlobalAveragePooling1d, Gru, Lstm, Masking,
    MultiHeadAttention, SimpleRnn, Softmax,
};
use kiln::prelude::*;
use ndarray::{Array2, Array3, ArrayD, array};

fn device() -> Device {
    Device::flex()
}

/// Ids `[batch, steps]` → Embedding(mask_zero) → `layer` (built twice: on 6 steps and on 3).
fn padded_equals_unpadded(layer: impl Into<kiln::model::LayerSpec> + Clone) {
    let build = |steps: usize| {
        Sequential::new()
            .add(Input::new([steps]))
            .add(Embedding::new(10, 4).mask_zero(true))
            .add(layer.clone())
            .seed(7)
            .build(&device())
            .unwrap()
    };
    let long = build(6);
    let short = build(3).set_weights(&long.get_weights().unwrap()).unwrap();
    let padded: Array2<f32> = array![
        [3.0, 5.0, 1.0, 0.0, 0.0, 0.0],
        [2.0, 9.0, 4.0, 0.0, 0.0, 0.0]
    ];
    let plain: Array2<f32> = array![[3.0, 5.0, 1.0], [2.0, 9.0, 4.0]];
    let a = long.predict(&padded, 8).unwrap();
    let b = short.predict(&plain, 8).unwrap();
    assert_eq!(a.shape(), b.shape());
    for (x, y) in a.iter().zip(b.iter()) {
        assert!((x - y).abs() < 1e-6, "padded {a} vs unpadded {b}");
    }
    // Without the mask the padding steps change the result.
    let unmasked = Sequential::new()
        .add(Input::new([6]))
        .add(Embedding::new(10, 4))
        .add(layer.clone())
        .build(&device())
        .unwrap()
        .set_weights(&long.get_weights().unwrap())
        .unwrap();
    let c = unmasked.predict(&padded, 8).unwrap();
    assert!(a.iter().zip(c.iter()).any(|(x, y)| (x - y).abs() > 1e-4));
}

#[test]
fn recurrent_layers_skip_masked_steps() {
    padded_equals_unpadded(SimpleRnn::new(3));
    padded_equals_unpadded(Lstm::new(3));
    padded_equals_unpadded(Gru::new(3));
    padded_equals_unpadded(Bidirectional::new(Lstm::new(3)));
}

#[test]
fn a_masked_step_repeats_the_previous_output_and_the_average_skips_it() {
    // Keras: with return_sequences a masked step outputs the previous output (states carried).
    let model = Sequential::new()
        .add(Input::new([4]))
        .add(Embedding::new(10, 4).mask_zero(true))
        .add(Lstm::new(3).return_sequences(true))
        .build(&device())
        .unwrap();
    let y = model.predict(&array![[3.0f32, 0.0, 5.0, 0.0]], 1).unwrap();
    for u in 0..3 {
        assert_eq!(y[[0, 1, u]], y[[0, 0, u]]);
        assert_eq!(y[[0, 3, u]], y[[0, 2, u]]);
    }
    // GlobalAveragePooling1D over the real steps only.
    let pooled = Sequential::new()
        .add(Input::new([4]))
        .add(Embedding::new(10, 2).mask_zero(true))
        .add(GlobalAveragePooling1d::new())
        .build(&device())
        .unwrap();
    let table = pooled.get_weights().unwrap().remove(0);
    let p = pooled.predict(&array![[3.0f32, 0.0, 5.0, 0.0]], 1).unwrap();
    for d in 0..2 {
        let want = (table[[3, d]] + table[[5, d]]) / 2.0;
        assert!((p[[0, d]] - want).abs() < 1e-6, "{p} vs {want}");
    }
}

#[test]
fn masking_zeroes_and_masks_steps_whose_features_all_equal_the_value() {
    let build = |steps: usize| {
        Sequential::new()
            .add(Input::new([steps, 2]))
            .add(Masking::new(-1.0))
            .add(Gru::new(2))
            .seed(1)
            .build(&device())
            .unwrap()
    };
    let long = build(3);
    let short = build(2).set_weights(&long.get_weights().unwrap()).unwrap();
    // The middle step is padding; (-1, 0) is not (only one feature equals the value).
    let x: Array3<f32> = array![[[0.5, -1.0], [-1.0, -1.0], [1.0, 2.0]]];
    let x_short: Array3<f32> = array![[[0.5, -1.0], [1.0, 2.0]]];
    let a = long.predict(&x, 1).unwrap();
    let b = short.predict(&x_short, 1).unwrap();
    for (p, q) in a.iter().zip(b.iter()) {
        assert!((p - q).abs() < 1e-6);
    }
    // Masking alone zeroes the masked steps.
    let alone = Sequential::new()
        .add(Input::new([3, 2]))
        .add(Masking::new(-1.0))
        .build(&device())
        .unwrap();
    let y = alone.predict(&x, 1).unwrap();
    assert_eq!(
        y.iter().copied().collect::<Vec<_>>(),
        [0.5, -1.0, 0.0, 0.0, 1.0, 2.0]
    );
}

#[test]
fn attention_ignores_masked_keys() {
    // Self-attention over padded ids equals self-attention over the real ids, at the real steps.
    let build = |steps: usize| {
        let ids = Input::new([steps]).tensor().unwrap();
        let e = Embedding::new(10, 4).mask_zero(true).apply(&ids).unwrap();
        let y = MultiHeadAttention::new(2, 3).apply([&e, &e]).unwrap();
        Functional::new(&ids, &y)
            .unwrap()
            .seed(5)
            .build(&device())
            .unwrap()
    };
    let long = build(5);
    let short = build(2).set_weights(&long.get_weights().unwrap()).unwrap();
    let a = long
        .predict(&array![[4.0f32, 7.0, 0.0, 0.0, 0.0]], 1)
        .unwrap();
    let b = short.predict(&array![[4.0f32, 7.0]], 1).unwrap();
    for t in 0..2 {
        for d in 0..4 {
            assert!((a[[0, t, d]] - b[[0, t, d]]).abs() < 1e-5, "{a} vs {b}");
        }
    }
}

#[test]
fn the_loss_is_the_mean_over_the_real_steps() {
    // Embedding(mask_zero) → Dense keeps the mask to the output; mse over real steps only.
    let model = Sequential::new()
        .add(Input::new([3]))
        .add(Embedding::new(5, 2).mask_zero(true))
        .add(Dense::new(1))
        .build(&device())
        .unwrap();
    let x: Array2<f32> = array![[1.0, 2.0, 0.0], [3.0, 0.0, 0.0]];
    let p = model.predict(&x, 8).unwrap();
    let y = ArrayD::<f32>::zeros(vec![2, 3, 1]);
    // By hand: the three real steps (0,0), (0,1), (1,0).
    let want = (p[[0, 0, 0]].powi(2) + p[[0, 1, 0]].powi(2) + p[[1, 0, 0]].powi(2)) / 3.0;
    let all = p.iter().map(|v| v * v).sum::<f32>() / 6.0;
    assert!(
        (want - all).abs() > 1e-6,
        "the padding must matter for this check"
    );
    let compiled = model
        .compile(kiln::train::Optimizer::sgd(), "mse", ["mae"])
        .unwrap();
    let scores = compiled.evaluate(&x, &y).unwrap();
    assert!(
        (scores["loss"] - f64::from(want)).abs() < 1e-6,
        "{scores:?} vs {want}"
    );
    let mae = (p[[0, 0, 0]].abs() + p[[0, 1, 0]].abs() + p[[1, 0, 0]].abs()) / 3.0;
    assert!(
        (scores["mae"] - f64::from(mae)).abs() < 1e-6,
        "{scores:?} vs {mae}"
    );
}

#[test]
fn masks_that_do_not_fit_are_build_errors() {
    let softmax = Sequential::new()
        .add(Input::new([3]))
        .add(Embedding::new(5, 2).mask_zero(true))
        .add(Softmax::new())
        .build(&device());
    let message = softmax.unwrap_err().to_string();
    assert!(
        message.contains("softmax") && message.contains("mask"),
        "{message}"
    );
    let flat = Sequential::new()
        .add(Input::new([4]))
        .add(Masking::new(0.0))
        .build(&device());
    let message = flat.unwrap_err().to_string();
    assert!(message.contains("Masking takes sequences"), "{message}");
    let ids2d = Sequential::new()
        .add(Input::new([2, 3]))
        .add(Embedding::new(5, 2).mask_zero(true))
        .build(&device());
    let message = ids2d.unwrap_err().to_string();
    assert!(message.contains("mask_zero"), "{message}");
}

#[test]
fn mask_zero_reads_from_a_keras_config_and_writes_back() {
    let model = Sequential::new()
        .add(Input::new([4]))
        .add(Embedding::new(10, 3).mask_zero(true))
        .add(Lstm::new(2));
    let json = model.to_json().unwrap();
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(value["layers"][1]["config"]["mask_zero"], true, "{json}");
    let back = Sequential::from_config(&json)
        .unwrap()
        .build(&device())
        .unwrap();
    let built = model.seed(2).build(&device()).unwrap();
    let back = back.set_weights(&built.get_weights().unwrap()).unwrap();
    let x = array![[1.0f32, 2.0, 0.0, 0.0]];
    assert_eq!(back.predict(&x, 1).unwrap(), built.predict(&x, 1).unwrap());
}
