//! Layers checked against golden outputs from real Keras 3.15.1 kept next to their generating
//! scripts in `tests/fixtures/keras-extra/<layer>/` (the parity suite's format needs the
//! shared generator; these cases cover options it does not).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

use burn::tensor::Device;
use kiln::datasets::npy::{NpyArray, read_npz};
use kiln::model::Sequential;
use ndarray::ArrayD;
use serde_json::{Value, json};

fn arrays(path: &Path) -> std::collections::HashMap<String, ArrayD<f32>> {
    read_npz(path)
        .unwrap()
        .into_iter()
        .map(|(n, a)| match a {
            NpyArray::F32(a) => (n, a),
            other => panic!("{n}: {}", other.dtype()),
        })
        .collect()
}

/// Conv2DTranspose in every padding regime Keras has: valid and same, kernel larger and
/// smaller than the stride, even kernels with stride 1, output_padding, dilation, rectangles.
#[test]
fn conv2d_transpose_matches_keras() {
    let dir =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/keras-extra/conv2d_transpose");
    let cases: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("cases.json")).unwrap()).unwrap();
    let device = Device::flex();
    for (name, case) in cases.as_object().unwrap() {
        let a = arrays(&dir.join(format!("{name}.npz")));
        let x = &a["x"];
        let mut batch: Vec<Value> = vec![Value::Null];
        batch.extend(x.shape()[1..].iter().map(|&d| json!(d)));
        let config = json!({"class_name": "Sequential", "config": {"name": name, "layers": [
            {"class_name": "InputLayer", "config": {"batch_shape": batch}},
            {"class_name": "Conv2DTranspose", "config": case["config"]},
        ]}});
        let model = Sequential::from_config(&config.to_string())
            .unwrap()
            .build(&device)
            .unwrap()
            .set_weights(&[a["kernel"].clone(), a["bias"].clone()])
            .unwrap();
        let y = model.predict(x, 32).unwrap();
        let want = &a["y"];
        assert_eq!(y.shape(), want.shape(), "{name}");
        let worst = y
            .iter()
            .zip(want)
            .map(|(g, w)| (g - w).abs() - (1e-5 + 1e-4 * w.abs()))
            .fold(f32::NEG_INFINITY, f32::max);
        assert!(worst <= 0.0, "{name}: off by {worst}");
    }
}

/// Bidirectional: every merge mode, LSTM, GRU and SimpleRNN, sequences and last states, the
/// backward layer built from the forward one.
#[test]
fn bidirectional_matches_keras() {
    let dir =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/keras-extra/bidirectional");
    let cases: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("cases.json")).unwrap()).unwrap();
    let device = Device::flex();
    for (name, case) in cases.as_object().unwrap() {
        let a = arrays(&dir.join(format!("{name}.npz")));
        let x = &a["x"];
        let config = json!({"class_name": "Sequential", "config": {"name": name, "layers": [
            {"class_name": "InputLayer", "config": {"batch_shape": [null, 5, 3]}},
            {"class_name": "Bidirectional", "config": case["config"]},
        ]}});
        let n = case["weights"].as_u64().unwrap() as usize;
        let weights: Vec<ArrayD<f32>> = (0..n).map(|i| a[&format!("w{i}")].clone()).collect();
        let model = Sequential::from_config(&config.to_string())
            .unwrap()
            .build(&device)
            .unwrap()
            .set_weights(&weights)
            .unwrap();
        let y = model.predict(x, 32).unwrap();
        let want = &a["y"];
        assert_eq!(y.shape(), want.shape(), "{name}");
        let worst = y
            .iter()
            .zip(want)
            .map(|(g, w)| (g - w).abs() - (1e-5 + 1e-4 * w.abs()))
            .fold(f32::NEG_INFINITY, f32::max);
        assert!(worst <= 0.0, "{name}: off by {worst}");
    }
}

/// MultiHeadAttention: self- and cross-attention, sequences of different lengths, a separate
/// key of its own width, output_shape, no bias; built from Keras's config as a Functional model.
#[test]
fn multi_head_attention_matches_keras() {
    use kiln::model::{Functional, Input, LayerSpec};
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/keras-extra/multi_head_attention");
    let cases: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("cases.json")).unwrap()).unwrap();
    let device = Device::flex();
    for (name, case) in cases.as_object().unwrap() {
        let a = arrays(&dir.join(format!("{name}.npz")));
        let separate = case["separate_key"].as_bool().unwrap();
        let dims = |x: &ArrayD<f32>| x.shape()[1..].to_vec();
        let q = Input::new(dims(&a["q"])).name("q").tensor().unwrap();
        let v = Input::new(dims(&a["v"])).name("v").tensor().unwrap();
        let k = Input::new(dims(a.get("k").unwrap_or(&a["v"])))
            .name("k")
            .tensor()
            .unwrap();
        let spec: LayerSpec =
            serde_json::from_value::<kiln::model::MultiHeadAttention>(case["config"].clone())
                .unwrap()
                .into();
        let (inputs, y) = if separate {
            (
                vec![q.clone(), v.clone(), k.clone()],
                spec.apply([&q, &v, &k]).unwrap(),
            )
        } else {
            (vec![q.clone(), v.clone()], spec.apply([&q, &v]).unwrap())
        };
        let n = case["weights"].as_u64().unwrap() as usize;
        let weights: Vec<ArrayD<f32>> = (0..n).map(|i| a[&format!("w{i}")].clone()).collect();
        let model = Functional::new(inputs, &y)
            .unwrap()
            .build(&device)
            .unwrap()
            .set_weights(&weights)
            .unwrap();
        let xs: Vec<&dyn kiln::model::ArrayInput> = if separate {
            vec![&a["q"], &a["v"], &a["k"]]
        } else {
            vec![&a["q"], &a["v"]]
        };
        let out = model.predict_many(&xs, 32).unwrap().remove(0);
        let want = &a["y"];
        assert_eq!(out.shape(), want.shape(), "{name}");
        let worst = out
            .iter()
            .zip(want)
            .map(|(g, w)| (g - w).abs() - (1e-5 + 1e-4 * w.abs()))
            .fold(f32::NEG_INFINITY, f32::max);
        assert!(worst <= 0.0, "{name}: off by {worst}");
    }
}
