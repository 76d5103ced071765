//! Weight constraints (Keras `kernel_constraint`, ...) hold after every step of `fit`, read
//! from and write to Keras configs, and a constraint Kiln does not take is refused.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use kiln::model::{Constraint, Embedding, Lstm};
use kiln::prelude::*;
use ndarray::{Array2, Axis};

fn device() -> Device {
    Device::flex()
}

#[test]
fn fit_keeps_constrained_weights_inside_their_sets() {
    let mut model = Sequential::new()
        .add(Input::new([4]))
        .add(
            Dense::new(3)
                .kernel_constraint(Constraint::max_norm(0.5))
                .bias_constraint(Constraint::non_neg()),
        )
        .add(Dense::new(1).kernel_constraint(Constraint::unit_norm()))
        .seed(4)
        .build(&device())
        .unwrap()
        .compile(
            kiln::train::Optimizer::sgd().learning_rate(0.5),
            "mse",
            ["mae"],
        )
        .unwrap();
    let x = Array2::from_shape_fn((32, 4), |(i, j)| ((i * 7 + j * 3) % 11) as f32 - 5.0);
    let y = x.sum_axis(Axis(1)).insert_axis(Axis(1)) * 3.0 - 4.0;
    model
        .fit(&x, &y, FitOptions::new().epochs(2).batch_size(8).verbose(0))
        .unwrap();
    let w = model.model().get_weights().unwrap();
    // Dense(3) kernel [4, 3]: each unit's column norm at most 0.5 (a large lr pushes it out).
    for u in 0..3 {
        let norm = (0..4).map(|i| w[0][[i, u]].powi(2)).sum::<f32>().sqrt();
        assert!(norm <= 0.5 + 1e-5, "column {u} has norm {norm}");
    }
    assert!(w[1].iter().all(|&b| b >= 0.0), "bias {}", w[1]);
    let norm = (0..3).map(|i| w[2][[i, 0]].powi(2)).sum::<f32>().sqrt();
    assert!((norm - 1.0).abs() < 1e-5, "unit norm gave {norm}");
}

#[test]
fn constraints_read_from_keras_configs_and_refuse_what_kiln_lacks() {
    let model = Sequential::new()
        .add(Input::new([5]))
        .add(Embedding::new(10, 4).embeddings_constraint(Constraint::unit_norm().axis([1])))
        .add(Lstm::new(2).recurrent_constraint(Constraint::max_norm(2.0)));
    let json = model.to_json().unwrap();
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    let layers = &value["layers"];
    assert_eq!(
        layers[1]["config"]["embeddings_constraint"]["class_name"],
        "UnitNorm"
    );
    assert_eq!(
        layers[2]["config"]["recurrent_constraint"]["config"]["max_value"],
        2.0
    );
    let back = Sequential::from_config(&json).unwrap();
    assert_eq!(back.to_json().unwrap(), json);
    // A constraint on a layer whose constraints Kiln does not take yet is an error.
    let mut v = value.clone();
    v["layers"][2]["config"]["unknown_constraint"] = serde_json::json!("non_neg");
    let err = Sequential::from_config(&v.to_string())
        .unwrap_err()
        .to_string();
    assert!(err.contains("unknown_constraint"), "{err}");
    // An axis outside the weight is a build error naming the weight.
    let bad = Sequential::new()
        .add(Input::new([3]))
        .add(Dense::new(2).kernel_constraint(Constraint::max_norm(1.0).axis([2])))
        .build(&device());
    let err = bad.unwrap_err().to_string();
    assert!(err.contains("kernel") && err.contains("axis 2"), "{err}");
}
