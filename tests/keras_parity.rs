//! Numerical parity with real Keras 3: every JSON case in `$KILN_KERAS_FIXTURES` (default: the
//! repository's copy under `tests/fixtures/keras`) is rebuilt from Keras's own config, given the
//! case's weights, run, and compared with `|got - expected| <= atol + rtol * |expected|`.
//!
//! A case whose kind, layer or option Kiln does not support fails with its name: nothing is
//! skipped. Prints one line per case and `keras parity: N passed, M failed` last.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use kiln::datasets::HostArray;
use kiln::model::{HostData, Sequential};
use kiln::prelude::*;
use ndarray::ArrayD;
use serde_json::{Value, json};

type CaseResult = Result<(), String>;

fn tensor(v: &Value) -> Result<HostData, String> {
    let dims: Vec<usize> = v["shape"]
        .as_array()
        .ok_or("tensor without shape")?
        .iter()
        .map(|d| d.as_u64().map(|d| d as usize).ok_or("bad dim"))
        .collect::<Result<_, _>>()?;
    // Non-finite values are written as the strings "inf", "-inf" and "nan".
    let values: Vec<f32> = v["data"]
        .as_array()
        .ok_or("tensor without data")?
        .iter()
        .map(|d| match d.as_str() {
            Some("inf") => Ok(f32::INFINITY),
            Some("-inf") => Ok(f32::NEG_INFINITY),
            Some("nan") => Ok(f32::NAN),
            _ => d.as_f64().map(|d| d as f32).ok_or("bad value"),
        })
        .collect::<Result<_, _>>()?;
    Ok(HostData {
        dims,
        values,
        integer: v.get("dtype").and_then(Value::as_str) == Some("int32"),
    })
}

fn array(v: &Value) -> Result<ArrayD<f32>, String> {
    let t = tensor(v)?;
    ArrayD::from_shape_vec(t.dims, t.values).map_err(|e| e.to_string())
}

fn arrays(v: &Value) -> Result<Vec<ArrayD<f32>>, String> {
    v.as_array()
        .ok_or("expected a list of tensors")?
        .iter()
        .map(array)
        .collect()
}

struct Tol {
    rtol: f64,
    atol: f64,
}

impl Tol {
    fn check(
        &self,
        what: &str,
        got: &[f32],
        got_dims: &[usize],
        expected: &HostData,
    ) -> CaseResult {
        if got_dims != expected.dims.as_slice() {
            return Err(format!(
                "{what}: shape {got_dims:?}, expected {:?}",
                expected.dims
            ));
        }
        self.check_values(what, got, &expected.values)
    }

    fn check_values(&self, what: &str, got: &[f32], expected: &[f32]) -> CaseResult {
        if got.len() != expected.len() {
            return Err(format!(
                "{what}: {} values, expected {}",
                got.len(),
                expected.len()
            ));
        }
        for (i, (g, e)) in got.iter().zip(expected).enumerate() {
            let (g, e) = (f64::from(*g), f64::from(*e));
            if (g - e).abs() > self.atol + self.rtol * e.abs() || g.is_nan() {
                return Err(format!("{what}[{i}]: got {g}, expected {e}"));
            }
        }
        Ok(())
    }

    fn check_scalar(&self, what: &str, got: f64, expected: f64) -> CaseResult {
        if (got - expected).abs() > self.atol + self.rtol * expected.abs() || got.is_nan() {
            return Err(format!("{what}: got {got}, expected {expected}"));
        }
        Ok(())
    }
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// Keras's layers that run on the host, on a model's input data (strings, lookups).
const HOST_CLASSES: [&str; 4] = [
    "TextVectorization",
    "StringLookup",
    "IntegerLookup",
    "Hashing",
];

/// A tensor of the case in its own element type: strings, integers or floats.
fn host_tensor(v: &Value) -> Result<HostArray, String> {
    let dims: Vec<usize> = v["shape"]
        .as_array()
        .ok_or("tensor without shape")?
        .iter()
        .map(|d| d.as_u64().map(|d| d as usize).ok_or("bad dim"))
        .collect::<Result<_, _>>()?;
    let data = v["data"].as_array().ok_or("tensor without data")?;
    let shape = ndarray::IxDyn(&dims);
    Ok(match v["dtype"].as_str() {
        Some("string") => {
            let texts = data
                .iter()
                .map(|t| t.as_str().unwrap_or_default().to_string());
            HostArray::Str(ArrayD::from_shape_vec(shape, texts.collect()).map_err(err)?)
        }
        Some("int64") => {
            let ints = data.iter().map(|t| t.as_i64().unwrap_or_default());
            HostArray::I64(ArrayD::from_shape_vec(shape, ints.collect()).map_err(err)?)
        }
        Some("int32") => {
            let ints = data.iter().map(|t| t.as_i64().unwrap_or_default() as i32);
            HostArray::I32(ArrayD::from_shape_vec(shape, ints.collect()).map_err(err)?)
        }
        _ => HostArray::F32(array(v)?),
    })
}

/// Whether `got` equals Keras's `expected` (strings exactly, numbers within `tol`).
fn check_host(what: &str, got: &HostArray, expected: &Value, tol: &Tol) -> CaseResult {
    let want = host_tensor(expected)?;
    if got.shape() != want.shape() {
        return Err(format!(
            "{what}: shape {:?}, expected {:?}",
            got.shape(),
            want.shape()
        ));
    }
    match (got, &want) {
        (HostArray::Str(g), HostArray::Str(w)) if g == w => Ok(()),
        (HostArray::Str(g), HostArray::Str(w)) => Err(format!("{what}: {g:?}, expected {w:?}")),
        (HostArray::Str(_), _) | (_, HostArray::Str(_)) => Err(format!(
            "{what}: {} values, expected {}",
            got.dtype(),
            want.dtype()
        )),
        _ => tol.check_values(what, &got.to_f32_vec(), &want.to_f32_vec()),
    }
}

/// A layer that runs on the host (TextVectorization, the lookups, Hashing), read from Keras's
/// config with the case's vocabulary (what Keras's `load_assets` gives an adapted layer): in a
/// model from its string input to its output where a model can hold the case (a batch axis in
/// and out), else through the layer's host call; an adapted case also adapts a fresh layer
/// and compares the vocabulary and IDF weights it learns.
fn host_layer_case(case: &Value, tol: &Tol) -> CaseResult {
    let input = host_tensor(&case["input"])?;
    let mut layer = case["layer"].clone();
    if !case["adapt"].is_null() {
        layer["config"]["vocabulary"] = case["vocabulary"].clone();
        layer["config"]["idf_weights"] = case["idf_weights"]["data"].clone();
    }
    let dtype = match &input {
        HostArray::Str(_) => "string",
        HostArray::I64(_) => "int64",
        HostArray::I32(_) => "int32",
        _ => "float32",
    };
    let mut batch_shape = vec![Value::Null];
    batch_shape.extend(input.shape()[1..].iter().map(|d| json!(d)));
    let config = json!({
        "name": "parity",
        "layers": [
            {"class_name": "InputLayer", "config": {"batch_shape": batch_shape, "dtype": dtype}},
            layer,
        ],
    });
    let spec = Sequential::from_config(&config.to_string()).map_err(kiln::error_chain_string)?;
    if !case["adapt"].is_null() {
        let fresh = Sequential::from_config(
            &json!({"name": "fresh", "layers": [
                {"class_name": "InputLayer", "config": {"batch_shape": [null, 1]}},
                case["layer"],
            ]})
            .to_string(),
        )
        .map_err(kiln::error_chain_string)?;
        let adapted = adapt_host_layer(fresh.layers[1].layer(), &case["adapt"])?;
        let (got, want) = (adapted["vocabulary"].clone(), case["vocabulary"].clone());
        if got != want {
            return Err(format!("adapt: vocabulary {got}, expected {want}"));
        }
        if let Some(want) = case["idf_weights"]["data"].as_array() {
            let got: Vec<f32> = adapted["idf_weights"]
                .as_array()
                .map(|w| {
                    w.iter()
                        .filter_map(Value::as_f64)
                        .map(|v| v as f32)
                        .collect()
                })
                .unwrap_or_default();
            let want: Vec<f32> = want
                .iter()
                .filter_map(Value::as_f64)
                .map(|v| v as f32)
                .collect();
            tol.check_values("adapt idf_weights", &got, &want)?;
        }
    }
    check_hashes(case)?;
    let in_model = input.shape().len() >= 2 && case["output"]["dtype"] != "string";
    let got = match spec.build(&Device::flex()) {
        Ok(model) if in_model => {
            let ids = model.prepare_input(0, "x", input.clone()).map_err(err)?;
            // The model's output is the host layer's, as the device received it.
            let out = model.call(&input, false).map_err(err)?;
            tol.check_values(
                "model output",
                out.as_slice().unwrap_or(&[]),
                &ids.to_f32_vec(),
            )?;
            if out.shape() != ids.shape() {
                return Err(format!(
                    "model output {:?}, layer {:?}",
                    out.shape(),
                    ids.shape()
                ));
            }
            ids
        }
        _ => spec.layers[1].layer().call_host(&input)?,
    };
    check_host("output", &got, &case["output"], tol)
}

/// The full 64-bit hashes TensorFlow gave the case's strings (`hash_reference`), with the
/// key of the layer's salt: FarmHash Fingerprint64 without one, SipHash-2-4 with.
fn check_hashes(case: &Value) -> CaseResult {
    let reference = &case["hash_reference"];
    let (Some(texts), Some(hashes)) = (
        reference["strings"].as_array(),
        reference["hashes"].as_array(),
    ) else {
        return Ok(());
    };
    let mut hasher = kiln::datasets::Hashing::new(1);
    hasher.salt = kiln::datasets::Hashing::from_config(&json!({
        "num_bins": 1,
        "salt": case["layer"]["config"]["salt"],
    }))
    .map_err(err)?
    .salt;
    for (t, h) in texts.iter().zip(hashes) {
        let (t, h) = (
            t.as_str().unwrap_or_default(),
            h.as_str().unwrap_or_default(),
        );
        let got = hasher.hash(t.as_bytes()).to_string();
        if got != h {
            return Err(format!("hash of {t:?}: {got}, TensorFlow {h}"));
        }
    }
    Ok(())
}

/// Adapts a copy of a host layer on the case's `adapt` data as Keras did: one call on the
/// whole array (`batch_size` null) or one per batch of rows; gives its config.
fn adapt_host_layer(layer: &dyn kiln::model::Layer, adapt: &Value) -> Result<Value, String> {
    use kiln::datasets::{IntegerLookup, StringLookup, TextVectorization};
    let data = host_tensor(&adapt["data"])?;
    let config = layer.config();
    let batch = adapt["batch_size"].as_u64().map(|b| b as usize);
    // The documents Keras counts for tf_idf: the rows of a 2-D array; every element of a
    // rank-1 array adapted in one call; every rank-1 batch as one.
    fn documents<T: Clone>(a: &ArrayD<T>, batch: Option<usize>) -> Vec<Vec<T>> {
        let rows: Vec<Vec<T>> = match a.ndim() {
            0 | 1 => a.iter().map(|t| vec![t.clone()]).collect(),
            _ => a
                .outer_iter()
                .map(|r| r.iter().cloned().collect())
                .collect(),
        };
        match (batch, a.ndim()) {
            (Some(b), 1) => rows.chunks(b).map(|c| c.concat()).collect(),
            _ => rows,
        }
    }
    match (layer.class_name(), &data) {
        ("TextVectorization", HostArray::Str(a)) => {
            let mut v = TextVectorization::from_config(&config).map_err(err)?;
            v.adapt(a.iter()).map_err(err)?;
            Ok(TextVectorization::config(&v))
        }
        ("StringLookup", HostArray::Str(a)) => {
            let mut l = StringLookup::from_config(&config).map_err(err)?;
            l.adapt_documents(documents(a, batch)).map_err(err)?;
            Ok(StringLookup::config(&l))
        }
        ("IntegerLookup", HostArray::I64(a)) => {
            let mut l = IntegerLookup::from_config(&config).map_err(err)?;
            l.adapt_documents(documents(a, batch)).map_err(err)?;
            Ok(IntegerLookup::config(&l))
        }
        (class, data) => Err(format!("adapt of {class} on {} data", data.dtype())),
    }
}

fn layer_case(case: &Value, tol: &Tol) -> CaseResult {
    if HOST_CLASSES.contains(&case["layer"]["class_name"].as_str().unwrap_or_default()) {
        return host_layer_case(case, tol);
    }
    let input = tensor(&case["input"])?;
    let mut batch_shape = vec![Value::Null];
    batch_shape.extend(input.dims[1..].iter().map(|d| json!(d)));
    let config = json!({
        "name": "parity",
        "layers": [
            {"class_name": "InputLayer", "config": {"batch_shape": batch_shape}},
            case["layer"],
        ],
    });
    let device = Device::flex();
    let model = Sequential::from_config(&config.to_string()).map_err(kiln::error_chain_string)?;
    let model = model.build(&device).map_err(err)?;
    let model = model.set_weights(&arrays(&case["weights"])?).map_err(err)?;
    // Keras's `layer(x, training=...)`: one call on the whole input.
    let training = case["training"].as_bool() == Some(true);
    let out = model.call(&input, training).map_err(err)?;
    let expected = tensor(&case["output"])?;
    tol.check(
        "output",
        out.as_slice().unwrap_or(&[]),
        out.shape(),
        &expected,
    )?;
    if !case["adapt"].is_null() {
        adapt_case(case, tol)?;
    }
    // Weights a training call changes (BatchNormalization's moving statistics).
    if !case["weights_after"].is_null() {
        let after = model.get_weights().map_err(err)?;
        let expected_after = arrays(&case["weights_after"])?;
        if after.len() != expected_after.len() {
            return Err(format!(
                "weights_after: {} weights, expected {}",
                after.len(),
                expected_after.len()
            ));
        }
        for (i, (got, expected)) in after.iter().zip(expected_after).enumerate() {
            tol.check_values(
                &format!("weights_after[{i}]"),
                got.as_slice().unwrap_or(&[]),
                expected.as_slice().unwrap_or(&[]),
            )?;
        }
    }
    Ok(())
}

/// A preprocessing layer's `adapt` (Normalization's weights, Discretization's boundaries) on
/// the case's data, in one array or in batches of `batch_size` rows, against Keras's result.
fn adapt_case(case: &Value, tol: &Tol) -> CaseResult {
    use kiln::datasets::{ArrayDataset, HostArray};
    use kiln::model::{Discretization, Normalization};
    let adapt = &case["adapt"];
    let data = tensor(&adapt["data"])?;
    let array = ArrayD::from_shape_vec(data.dims.clone(), data.values).map_err(err)?;
    let host = HostArray::F32(array);
    let batches = adapt["batch_size"]
        .as_u64()
        .map(|b| ArrayDataset::many(vec![host.clone()], Vec::new(), b as usize));
    let mut config = case["layer"]["config"].clone();
    match case["layer"]["class_name"].as_str() {
        Some("Normalization") => {
            let layer: Normalization = serde_json::from_value(config).map_err(err)?;
            let layer = match &batches {
                Some(b) => layer.adapt_dataset(b),
                None => layer.adapt(&host),
            }
            .map_err(err)?;
            let input = tensor(&case["input"])?;
            let model = Sequential::new()
                .add(Input::new(input.dims[1..].to_vec()))
                .add(layer)
                .build(&Device::flex())
                .map_err(err)?;
            let got = model.get_weights().map_err(err)?;
            let expected = arrays(&case["weights"])?;
            if got.len() != expected.len() {
                return Err(format!(
                    "adapt: {} weights, expected {}",
                    got.len(),
                    expected.len()
                ));
            }
            for (i, (g, e)) in got.iter().zip(&expected).enumerate() {
                if g.shape() != e.shape() {
                    return Err(format!(
                        "adapt: weight {i} has shape {:?}, expected {:?}",
                        g.shape(),
                        e.shape()
                    ));
                }
                tol.check_values(
                    &format!("adapt weight {i}"),
                    g.as_slice().unwrap_or(&[]),
                    e.as_slice().unwrap_or(&[]),
                )?;
            }
            Ok(())
        }
        Some("Discretization") => {
            let expected: Vec<f32> = config["bin_boundaries"]
                .as_array()
                .ok_or("no bin_boundaries")?
                .iter()
                .map(|v| v.as_f64().map(|v| v as f32).ok_or("bad boundary"))
                .collect::<Result<_, _>>()?;
            config["bin_boundaries"] = Value::Null;
            let layer: Discretization = serde_json::from_value(config).map_err(err)?;
            let layer = match &batches {
                Some(b) => layer.adapt_dataset(b),
                None => layer.adapt(&host),
            }
            .map_err(err)?;
            let got = layer.bin_boundaries.unwrap_or_default();
            if got.len() != expected.len() {
                return Err(format!("adapt: boundaries {got:?}, expected {expected:?}"));
            }
            tol.check_values("adapt bin_boundaries", &got, &expected)
        }
        other => Err(format!("adapt for {other:?} is not supported")),
    }
}

fn training_case(case: &Value, tol: &Tol) -> CaseResult {
    let device = Device::flex();
    let spec =
        Sequential::from_config(&case["model"].to_string()).map_err(kiln::error_chain_string)?;
    let model = spec.build(&device).map_err(err)?;
    let model = model.set_weights(&arrays(&case["weights"])?).map_err(err)?;
    let compile = &case["compile"];
    let optimizer = Optimizer::from_keras(
        compile["optimizer"]["class_name"]
            .as_str()
            .unwrap_or_default(),
        &compile["optimizer"]["config"],
    )
    .map_err(err)?;
    let loss = compile["loss"].as_str().ok_or("loss is not a name")?;
    let metrics: Vec<&str> = compile["metrics"]
        .as_array()
        .map(|m| m.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let mut model = model.compile(optimizer, loss, metrics).map_err(err)?;
    let (x, y) = (tensor(&case["x"])?, tensor(&case["y"])?);
    let fit = &case["fit"];
    if fit["shuffle"].as_bool() != Some(false) {
        return Err("only shuffle=false runs are reproducible".into());
    }
    let epochs = fit["epochs"].as_u64().ok_or("no epochs")? as usize;
    let batch_size = fit["batch_size"].as_u64().ok_or("no batch_size")? as usize;
    let history = model
        .fit(
            &x,
            &y,
            FitOptions::new()
                .epochs(epochs)
                .batch_size(batch_size)
                .shuffle(false)
                .verbose(0),
        )
        .map_err(err)?;
    // Keras's JAX fit loses a masked output's mask before the metrics (its TensorFlow backend
    // and every evaluate keep it, as Kiln does): only the loss of such a history is compared.
    let unmasked = case["fit_metrics_unmasked_on_jax"] == json!(true);
    for (key, values) in case["history"].as_object().ok_or("no history")? {
        if unmasked && key != "loss" {
            continue;
        }
        let got = history.get(key).ok_or(format!("history has no `{key}`"))?;
        let expected = values.as_array().ok_or("bad history")?;
        if got.len() != expected.len() {
            return Err(format!("history `{key}` has {} epochs", got.len()));
        }
        for (epoch, (g, e)) in got.iter().zip(expected).enumerate() {
            tol.check_scalar(
                &format!("history {key} epoch {}", epoch + 1),
                *g,
                e.as_f64().unwrap_or(f64::NAN),
            )?;
        }
    }
    let weights = model.get_weights().map_err(err)?;
    let expected = arrays(&case["final_weights"])?;
    if weights.len() != expected.len() {
        return Err(format!(
            "{} weights, expected {}",
            weights.len(),
            expected.len()
        ));
    }
    for (i, (w, e)) in weights.iter().zip(&expected).enumerate() {
        let e = HostData {
            dims: e.shape().to_vec(),
            values: e.iter().copied().collect(),
            integer: false,
        };
        let w_values: Vec<f32> = w.iter().copied().collect();
        tol.check(&format!("final weight {i}"), &w_values, w.shape(), &e)?;
    }
    let scores = model
        .evaluate_with_batch_size(&x, &y, batch_size)
        .map_err(err)?;
    for (key, value) in case["evaluate"].as_object().ok_or("no evaluate")? {
        let got = scores.get(key).ok_or(format!("evaluate has no `{key}`"))?;
        tol.check_scalar(
            &format!("evaluate {key}"),
            *got,
            value.as_f64().unwrap_or(f64::NAN),
        )?;
    }
    let first = tensor(&case["predict_first_rows"])?;
    let rows = first.dims[0];
    let per = x.dims[1..].iter().product::<usize>();
    let mut x_first = x.clone();
    x_first.dims[0] = rows;
    x_first.values.truncate(rows * per);
    let predicted = model.predict(&x_first).map_err(err)?;
    tol.check(
        "predict",
        predicted.as_slice().unwrap_or(&[]),
        predicted.shape(),
        &first,
    )
}

/// `[rows, features]` (leading axes flattened) on the flex device.
fn matrix(t: &HostData) -> burn::tensor::Tensor<2> {
    let features = if t.dims.len() < 2 {
        1
    } else {
        t.dims[t.dims.len() - 1].max(1)
    };
    let rows = t.values.len() / features;
    let data = burn::tensor::TensorData::new(t.values.clone(), [rows, features]);
    burn::tensor::Tensor::from_data(data, &Device::flex())
}

fn targets(t: &HostData) -> kiln::train::Targets {
    if t.integer {
        let ids: Vec<i64> = t.values.iter().map(|v| *v as i64).collect();
        let n = ids.len();
        let data = burn::tensor::TensorData::new(ids, [n]);
        kiln::train::Targets::Sparse(burn::tensor::Tensor::from_data(data, &Device::flex()))
    } else {
        kiln::train::Targets::Dense(matrix(t))
    }
}

fn loss_case(case: &Value, tol: &Tol) -> CaseResult {
    let spec = &case["loss"];
    let loss = kiln::train::LossConfig::from_keras(
        spec["name"].as_str().ok_or("loss without name")?,
        &spec["config"],
    )
    .map_err(err)?;
    let y_true = tensor(&case["y_true"])?;
    let y_pred = tensor(&case["y_pred"])?;
    // CTC's labels are rows of ids, not one class id per prediction row.
    let y = if spec["name"] == "ctc" {
        kiln::train::Targets::Dense(matrix(&y_true))
    } else {
        targets(&y_true)
    };
    let value = loss.call(&y, matrix(&y_pred)).map_err(err)?;
    let got: Vec<f32> = value
        .into_data()
        .try_to_vec::<f32>()
        .map_err(|e| format!("{e:?}"))?;
    tol.check_values("loss", &got, &expected_values(&case["expected"])?)
}

/// `expected` as a list: one number, or a list of them (a vector result).
fn expected_values(v: &Value) -> Result<Vec<f32>, String> {
    match v {
        Value::Array(items) => items
            .iter()
            .map(|x| x.as_f64().map(|x| x as f32).ok_or("bad expected value"))
            .collect::<Result<_, _>>()
            .map_err(String::from),
        other => Ok(vec![other.as_f64().ok_or("no expected")? as f32]),
    }
}

fn metric_case(case: &Value, tol: &Tol) -> CaseResult {
    use kiln::train::{Accumulator, CompiledMetric, Loss, MetricConfig};
    let spec = &case["metric"];
    let class = spec["class_name"].as_str().ok_or("metric without class")?;
    let batches = case["batches"].as_array().ok_or("no batches")?;
    let expected = expected_values(&case["expected"])?;
    // Keras's `Mean` and `Sum` take plain values (`y_true` here), no predictions.
    if matches!(class, "Mean" | "Sum") {
        let mut metric = if class == "Mean" {
            kiln::train::Reducer::mean()
        } else {
            kiln::train::Reducer::sum()
        };
        for batch in batches {
            let values = tensor(&batch["y_true"])?;
            metric.update_state(&values.values, &values.dims);
        }
        return tol.check_values("result", &[metric.result() as f32], &expected);
    }
    let config = MetricConfig::from_keras(class, &spec["config"]).map_err(err)?;
    let first = tensor(&batches.first().ok_or("no batches")?["y_pred"])?;
    let units = first.dims.last().copied().unwrap_or(1);
    let metrics = [CompiledMetric::new(
        config,
        &Loss::MeanSquaredError.config(),
        units,
    )];
    let mut acc = Accumulator::new(&metrics, &Device::flex());
    for batch in batches {
        let y_true = tensor(&batch["y_true"])?;
        let y_pred = tensor(&batch["y_pred"])?;
        let rows = y_true.dims[0];
        acc.update_metrics(
            matrix(&y_pred),
            Activation::Linear,
            &targets(&y_true),
            &metrics,
            rows,
        );
    }
    let (_, values) = acc.read(&metrics).map_err(err)?;
    let got: Vec<f32> = values[0].iter().map(|v| *v as f32).collect();
    tol.check_values("result", &got, &expected)
}

/// The parameters of an optimizer case, as a burn module: flat, as Kiln's layers keep them,
/// with their Keras shapes told to the optimizer (Adafactor and Muon use them).
#[derive(burn::module::Module, Debug)]
struct Params {
    flat: Vec<burn::module::Param<burn::tensor::Tensor<1>>>,
}

fn optimizer_case(case: &Value, tol: &Tol) -> CaseResult {
    use burn::module::Param;
    use burn::optim::GradientsParams;
    use burn::tensor::{Tensor, TensorData};
    let spec = &case["optimizer"];
    let optimizer = Optimizer::from_keras(
        spec["class_name"]
            .as_str()
            .ok_or("optimizer without class")?,
        &spec["config"],
    )
    .map_err(err)?;
    optimizer.validate().map_err(err)?;
    let device = Device::flex();
    let initial: Vec<HostData> = case["params"]
        .as_array()
        .ok_or("no params")?
        .iter()
        .map(tensor)
        .collect::<Result<_, _>>()?;
    let mut params = Params { flat: Vec::new() };
    for p in &initial {
        let n = p.values.len();
        let t = Tensor::<1>::from_data(TensorData::new(p.values.clone(), [n]), &device);
        params.flat.push(Param::from_tensor(t));
    }
    let mut state = kiln::train::OptimizerState::new(optimizer);
    state.describe(
        params
            .flat
            .iter()
            .zip(&initial)
            .enumerate()
            .map(|(i, (p, h))| (p.id, h.dims.clone(), format!("variable_{i}"))),
    );
    let steps = case["grads"].as_array().ok_or("no grads")?;
    let expected = case["expected"].as_array().ok_or("no expected")?;
    for (k, (grads, after)) in steps.iter().zip(expected).enumerate() {
        let mut gp = GradientsParams::new();
        for (p, g) in params.flat.iter().zip(grads.as_array().ok_or("bad grads")?) {
            let g = tensor(g)?;
            let n = g.values.len();
            gp.register(
                p.id,
                Tensor::<1>::from_data(TensorData::new(g.values, [n]), &device),
            );
        }
        params = state.apply_gradients(params, gp);
        for (j, (p, e)) in params
            .flat
            .iter()
            .zip(after.as_array().ok_or("bad expected")?)
            .enumerate()
        {
            let e = tensor(e)?;
            let got: Vec<f32> = p
                .val()
                .into_data()
                .try_to_vec::<f32>()
                .map_err(|e| format!("{e:?}"))?;
            tol.check_values(&format!("step {} param {j}", k + 1), &got, &e.values)?;
        }
        // LossScaleOptimizer cases also record the scale and step counter after each step.
        if let Some(scale) = case.get("loss_scale").and_then(|s| s.get(k)) {
            let want = scale[0].as_f64().ok_or("bad loss_scale")?;
            let got = f64::from(state.current_loss_scale().ok_or("no loss scale")?);
            tol.check_scalar(&format!("step {} loss scale", k + 1), got, want)?;
        }
        if let Some(inner) = case.get("inner_iterations").and_then(|s| s.get(k)) {
            let want = inner.as_u64().ok_or("bad inner_iterations")?;
            if state.iterations != want {
                return Err(format!(
                    "step {}: {} updates, Keras {want}",
                    k + 1,
                    state.iterations
                ));
            }
        }
    }
    Ok(())
}

/// A Functional model's forward pass: Keras's config read by `Functional::from_config`, the
/// weights given by name, every output compared, and the summary compared line for line.
fn functional_case(case: &Value, tol: &Tol) -> CaseResult {
    let spec = kiln::model::Functional::from_config(&case["model"].to_string())
        .map_err(kiln::error_chain_string)?;
    let names: Vec<String> = case["input_names"]
        .as_array()
        .ok_or("no input_names")?
        .iter()
        .map(|v| v.as_str().unwrap_or("").to_string())
        .collect();
    if spec.input_names() != names {
        return Err(format!(
            "inputs {:?}, expected {names:?}",
            spec.input_names()
        ));
    }
    let model = spec.build(&Device::flex()).map_err(err)?;
    // Weights by name: Keras names a nested model's weights by the inner layer alone.
    let given: Vec<(String, ArrayD<f32>)> = case["weight_names"]
        .as_array()
        .ok_or("no weight_names")?
        .iter()
        .map(|v| v.as_str().unwrap_or("").to_string())
        .zip(arrays(&case["weights"])?)
        .collect();
    let mut weights = Vec::new();
    let mut used = vec![false; given.len()];
    for (name, shape) in model.weight_names().into_iter().zip(model.weight_shapes()) {
        let short = name.split_once('/').map(|(_, rest)| rest).unwrap_or("");
        // By name; else (a recurrent layer's weights are named by Keras's cell,
        // `lstm_cell/kernel`) the next unused weight of that shape and short name.
        let found = given
            .iter()
            .position(|(n, _)| *n == name)
            .or_else(|| given.iter().position(|(n, _)| n == short))
            .or_else(|| {
                given.iter().enumerate().position(|(i, (n, w))| {
                    !used[i] && n.ends_with(&format!("/{short}")) && w.shape() == shape.as_slice()
                })
            })
            .ok_or_else(|| format!("no weight `{name}` in the case"))?;
        used[found] = true;
        weights.push(given[found].1.clone());
    }
    if weights.len() != given.len() {
        return Err(format!(
            "{} weights, the case has {}",
            weights.len(),
            given.len()
        ));
    }
    let model = model.set_weights(&weights).map_err(err)?;
    let inputs: Vec<HostData> = case["inputs"]
        .as_array()
        .ok_or("no inputs")?
        .iter()
        .map(tensor)
        .collect::<Result<_, _>>()?;
    let refs: Vec<&dyn kiln::model::ArrayInput> = inputs
        .iter()
        .map(|x| x as &dyn kiln::model::ArrayInput)
        .collect();
    let outputs = model.call_many(&refs, false).map_err(err)?;
    let expected = case["outputs"].as_array().ok_or("no outputs")?;
    if outputs.len() != expected.len() {
        return Err(format!(
            "{} outputs, expected {}",
            outputs.len(),
            expected.len()
        ));
    }
    for (k, (got, want)) in outputs.iter().zip(expected).enumerate() {
        let want = tensor(want)?;
        tol.check(
            &format!("output {k}"),
            got.as_slice().unwrap_or(&[]),
            got.shape(),
            &want,
        )?;
    }
    if let Some(summary) = case["summary"].as_str() {
        let width = case["summary_line_length"].as_u64().unwrap_or(76) as usize;
        let ours = model.summary().line_length(width).to_string();
        // Keras's summary lists the ops its masks were made of (`NotEqual`, ...) as rows and
        // in "Connected to"; Kiln derives masks from the graph, so such a model's summary
        // is not compared.
        let ops = case["model"]["config"]["layers"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|l| {
                l["module"]
                    .as_str()
                    .is_some_and(|m| m.starts_with("keras.src.ops"))
            });
        if ops {
            return Ok(());
        }
        for (i, (a, b)) in ours.lines().zip(summary.lines()).enumerate() {
            if a.trim_end() != b.trim_end() {
                return Err(format!(
                    "summary line {}:\n  got      {a}\n  expected {b}",
                    i + 1
                ));
            }
        }
        if ours.lines().count() != summary.lines().count() {
            return Err(format!("summary:\n{ours}\nexpected:\n{summary}"));
        }
    }
    Ok(())
}

/// A 3-epoch `fit` of a Functional model with two outputs: one loss per output, loss weights
/// and metrics per output, validation data; History, final weights and `evaluate` compared.
fn functional_training_case(case: &Value, tol: &Tol) -> CaseResult {
    let device = Device::flex();
    let spec = kiln::model::Functional::from_config(&case["model"].to_string())
        .map_err(kiln::error_chain_string)?;
    let model = spec.build(&device).map_err(err)?;
    let given: Vec<String> = case["weight_names"]
        .as_array()
        .ok_or("no weight_names")?
        .iter()
        .map(|v| v.as_str().unwrap_or("").to_string())
        .collect();
    // Keras names a sublayer's weights without its layer (`query/kernel` of an attention
    // layer): the names must match, or end with Keras's.
    let names = model.weight_names();
    if names.len() != given.len()
        || names
            .iter()
            .zip(&given)
            .any(|(ours, keras)| ours != keras && !ours.ends_with(&format!("/{keras}")))
    {
        return Err(format!("weights {names:?}, expected {given:?}"));
    }
    let model = model.set_weights(&arrays(&case["weights"])?).map_err(err)?;
    let compile = &case["compile"];
    let optimizer = Optimizer::from_keras(
        compile["optimizer"]["class_name"]
            .as_str()
            .unwrap_or_default(),
        &compile["optimizer"]["config"],
    )
    .map_err(err)?;
    let mut outputs = Vec::new();
    for (name, loss) in compile["loss"].as_object().ok_or("loss is not a map")? {
        let metrics: Vec<&str> = compile["metrics"][name]
            .as_array()
            .map(|m| m.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let weight = compile["loss_weights"][name].as_f64().unwrap_or(1.0) as f32;
        outputs.push(
            kiln::train::Output::new(name.clone(), loss.as_str().ok_or("loss name")?)
                .map_err(err)?
                .loss_weight(weight)
                .metrics(metrics)
                .map_err(err)?,
        );
    }
    let mut model =
        kiln::train::CompiledModel::compile_outputs(model, optimizer, outputs).map_err(err)?;
    let x = tensor(&case["x"])?;
    let ys: Vec<HostData> = case["y"]
        .as_array()
        .ok_or("no y")?
        .iter()
        .map(tensor)
        .collect::<Result<_, _>>()?;
    let vx = tensor(&case["validation"]["x"])?;
    let vys: Vec<HostData> = case["validation"]["y"]
        .as_array()
        .ok_or("no validation y")?
        .iter()
        .map(tensor)
        .collect::<Result<_, _>>()?;
    let fit = &case["fit"];
    let epochs = fit["epochs"].as_u64().ok_or("no epochs")? as usize;
    let batch_size = fit["batch_size"].as_u64().ok_or("no batch_size")? as usize;
    let options = FitOptions::new()
        .epochs(epochs)
        .batch_size(batch_size)
        .shuffle(false)
        .verbose(0);
    let history = match (ys.as_slice(), vys.as_slice()) {
        ([y], [vy]) => model.fit(&x, y, options.validation_data(&vx, vy)),
        ([y0, y1], [v0, v1]) => {
            model.fit(&x, (y0, y1), options.validation_data_many(&vx, (v0, v1)))
        }
        _ => return Err("one or two outputs, with validation targets for each".into()),
    }
    .map_err(err)?;
    for (key, values) in case["history"].as_object().ok_or("no history")? {
        let got = history.get(key).ok_or(format!("history has no `{key}`"))?;
        let expected = values.as_array().ok_or("bad history")?;
        if got.len() != expected.len() {
            return Err(format!("history `{key}` has {} epochs", got.len()));
        }
        for (epoch, (g, e)) in got.iter().zip(expected).enumerate() {
            tol.check_scalar(
                &format!("history {key} epoch {}", epoch + 1),
                *g,
                e.as_f64().unwrap_or(f64::NAN),
            )?;
        }
    }
    let keys = case["history"].as_object().map_or(0, |h| h.len());
    if history.history.len() != keys {
        return Err(format!(
            "history keys {:?}",
            history.history.keys().collect::<Vec<_>>()
        ));
    }
    let weights = model.get_weights().map_err(err)?;
    for (i, (got, want)) in weights
        .iter()
        .zip(arrays(&case["weights_after"])?)
        .enumerate()
    {
        tol.check_values(
            &format!("weights_after[{i}]"),
            got.as_slice().unwrap_or(&[]),
            want.as_slice().unwrap_or(&[]),
        )?;
    }
    let scores = match vys.as_slice() {
        [vy] => model.evaluate(&vx, vy),
        [v0, v1] => model.evaluate_many(&vx, (v0, v1), batch_size),
        _ => return Err("one or two outputs".into()),
    }
    .map_err(err)?;
    for (key, value) in case["evaluate"].as_object().ok_or("no evaluate")? {
        let got = scores.get(key).ok_or(format!("evaluate has no `{key}`"))?;
        tol.check_scalar(
            &format!("evaluate {key}"),
            *got,
            value.as_f64().unwrap_or(f64::NAN),
        )?;
    }
    Ok(())
}

/// The Keras layer classes (Kiln's registered ones, `InputLayer` aside) named anywhere in a case:
/// a layer case's layer, a model's layers, a wrapper's inner layer.
fn layer_classes(v: &Value, known: &BTreeSet<&str>, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(map) => {
            if let Some(class) = map.get("class_name").and_then(Value::as_str)
                && class != "InputLayer"
                && known.contains(class)
            {
                out.insert(class.to_string());
            }
            map.values().for_each(|v| layer_classes(v, known, out));
        }
        Value::Array(items) => items.iter().for_each(|v| layer_classes(v, known, out)),
        _ => {}
    }
}

fn read_case(path: &Path) -> Result<Value, String> {
    let text = std::fs::read_to_string(path).map_err(err)?;
    serde_json::from_str(&text).map_err(err)
}

fn run_case(path: &Path) -> CaseResult {
    let case = read_case(path)?;
    let tol = Tol {
        rtol: case["rtol"].as_f64().ok_or("no rtol")?,
        atol: case["atol"].as_f64().ok_or("no atol")?,
    };
    match case["kind"].as_str() {
        Some("layer") => layer_case(&case, &tol),
        Some("training") => training_case(&case, &tol),
        Some("loss") => loss_case(&case, &tol),
        Some("metric") => metric_case(&case, &tol),
        Some("optimizer") => optimizer_case(&case, &tol),
        Some("functional") => functional_case(&case, &tol),
        Some("functional_training") => functional_training_case(&case, &tol),
        Some(kind) => Err(format!("kind `{kind}` is not supported yet")),
        None => Err("no kind".into()),
    }
}

#[test]
fn keras_parity() {
    let dir = std::env::var_os("KILN_KERAS_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/keras"));
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read fixtures in {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    paths.sort();
    assert!(!paths.is_empty(), "no fixtures in {}", dir.display());
    let mut failed = Vec::new();
    let known: BTreeSet<&str> = kiln::model::builtin_class_names().collect();
    let mut classes = BTreeSet::new();
    for path in &paths {
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let outcome = std::panic::catch_unwind(|| run_case(path))
            .unwrap_or_else(|_| Err("panicked (see the message above)".into()));
        match outcome {
            Ok(()) => {
                println!("ok      {name}");
                if let Ok(case) = read_case(path) {
                    layer_classes(&case, &known, &mut classes);
                }
            }
            Err(reason) => {
                println!("FAILED  {name}: {reason}");
                failed.push(name);
            }
        }
    }
    println!("keras layer classes in passing cases: {classes:?}");
    println!(
        "keras parity: {} passed, {} failed; {} Keras layer classes covered",
        paths.len() - failed.len(),
        failed.len(),
        classes.len()
    );
    assert!(failed.is_empty(), "failed cases: {failed:?}");
}
