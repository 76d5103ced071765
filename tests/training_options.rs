//! Issue 18 in `fit`: gradient accumulation, EMA weights, the newer optimizers on real layer
//! shapes, batch-level callbacks, vector-valued metrics and the Circle loss.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::cell::RefCell;
use std::rc::Rc;

use kiln::prelude::*;
use kiln::train::{LambdaCallback, Loss, Metric, MetricConfig};
use ndarray::{Array1, Array2};

/// 64 rows of a 3-class problem: the class is the index of the largest of three features.
fn data() -> (Array2<f32>, Array1<u8>) {
    let x = Array2::from_shape_fn((64, 4), |(i, j)| ((i * 37 + j * 11) % 17) as f32 / 17.0);
    let y = Array1::from_shape_fn(64, |i| {
        let row = x.row(i);
        (0..3)
            .max_by(|&a, &b| row[a].total_cmp(&row[b]))
            .unwrap_or(0) as u8
    });
    (x, y)
}

fn model(optimizer: Optimizer) -> CompiledModel {
    Sequential::new()
        .add(Input::new([4]))
        .add(Dense::new(8).activation(Activation::Tanh))
        .add(Dense::new(3).activation(Activation::Softmax))
        .seed(3)
        .build(&Device::flex())
        .unwrap()
        .compile(
            optimizer,
            Loss::SparseCategoricalCrossentropy,
            [Metric::Accuracy],
        )
        .unwrap()
}

fn weights(model: &CompiledModel) -> Vec<Vec<f32>> {
    model
        .model()
        .get_weights()
        .unwrap()
        .into_iter()
        .map(|a| a.iter().copied().collect())
        .collect()
}

fn options<'a>() -> FitOptions<'a> {
    FitOptions::new().verbose(0).shuffle(false)
}

#[test]
fn two_accumulated_batches_of_8_are_one_batch_of_16() {
    // Keras applies the mean of the accumulated gradients: with equal batches that is the
    // gradient of the batch of their union.
    let (x, y) = data();
    let mut accumulated = model(
        Optimizer::sgd()
            .learning_rate(0.5)
            .gradient_accumulation_steps(2),
    );
    accumulated
        .fit(&x, &y, options().epochs(2).batch_size(8))
        .unwrap();
    let mut whole = model(Optimizer::sgd().learning_rate(0.5));
    whole
        .fit(&x, &y, options().epochs(2).batch_size(16))
        .unwrap();
    let (a, b) = (weights(&accumulated), weights(&whole));
    assert_ne!(
        a,
        weights(&model(Optimizer::sgd())),
        "training moved the weights"
    );
    for (wa, wb) in a.iter().zip(&b) {
        for (p, q) in wa.iter().zip(wb) {
            assert!((p - q).abs() < 1e-5, "{p} vs {q}");
        }
    }
    assert_eq!(
        accumulated.iterations(),
        whole.iterations(),
        "8 updates each"
    );
    assert_eq!(whole.iterations(), 8);
}

#[test]
fn fit_ends_with_the_moving_average_when_use_ema_is_set() {
    let (x, y) = data();
    // Momentum 0 makes the average the last weights, so EMA fit == plain fit.
    let mut zero = model(Optimizer::adam().learning_rate(0.05).use_ema(0.0));
    zero.fit(&x, &y, options().epochs(3).batch_size(16))
        .unwrap();
    let mut plain = model(Optimizer::adam().learning_rate(0.05));
    plain
        .fit(&x, &y, options().epochs(3).batch_size(16))
        .unwrap();
    assert_eq!(weights(&zero), weights(&plain));
    // Momentum 0.9 ends between the start and the last weights: not the plain result.
    let mut ema = model(Optimizer::adam().learning_rate(0.05).use_ema(0.9));
    ema.fit(&x, &y, options().epochs(3).batch_size(16)).unwrap();
    assert_ne!(weights(&ema), weights(&plain));
}

#[test]
fn adafactor_muon_lamb_and_ftrl_train_a_dense_model() {
    let (x, y) = data();
    for optimizer in [
        Optimizer::adafactor().learning_rate(0.05),
        Optimizer::muon().learning_rate(0.05),
        Optimizer::lamb().learning_rate(0.05),
        Optimizer::ftrl().learning_rate(0.5),
    ] {
        let name = optimizer.name().to_string();
        let mut m = model(optimizer);
        let history = m.fit(&x, &y, options().epochs(15).batch_size(16)).unwrap();
        let loss = history.get("loss").unwrap();
        assert!(
            loss[loss.len() - 1] < 0.8 * loss[0],
            "{name}: loss {loss:?} did not fall"
        );
    }
}

#[test]
fn batch_hooks_see_every_batch_and_can_stop_training_mid_epoch() {
    let (x, y) = data();
    let mut m = model(Optimizer::adam());
    let seen = Rc::new(RefCell::new(Vec::new()));
    let log = Rc::clone(&seen);
    let mut callback = LambdaCallback::new().on_train_batch_end(move |batch, logs, ctx| {
        log.borrow_mut().push((batch, logs["loss"]));
        // Keras's `model.stop_training = True` from a batch hook.
        ctx.stop_training = log.borrow().len() == 6;
        Ok(())
    });
    let history = m
        .fit(
            &x,
            &y,
            FitOptions::new()
                .verbose(0)
                .shuffle(false)
                .epochs(5)
                .batch_size(16)
                .callback(&mut callback),
        )
        .unwrap();
    let seen = seen.borrow();
    // 4 batches in epoch 1, 2 in epoch 2, then stop: the second epoch still ends.
    let batches: Vec<usize> = seen.iter().map(|(b, _)| *b).collect();
    assert_eq!(batches, [0, 1, 2, 3, 0, 1]);
    assert_eq!(history.get("loss").unwrap().len(), 2);
    assert!(seen.iter().all(|(_, l)| l.is_finite() && *l > 0.0));
    // The logs are the epoch's running mean, as Keras's: the last batch of epoch 1 reports
    // the epoch's loss.
    let epoch_loss = history.get("loss").unwrap()[0];
    assert!(
        (seen[3].1 - epoch_loss).abs() < 1e-6,
        "{} vs {epoch_loss}",
        seen[3].1
    );
}

#[test]
fn per_class_f1_is_logged_one_value_per_class() {
    let (x, y) = data();
    let onehot = Array2::from_shape_fn((64, 3), |(i, c)| f32::from(y[i] == c as u8));
    let mut m = Sequential::new()
        .add(Input::new([4]))
        .add(Dense::new(3).activation(Activation::Softmax))
        .seed(3)
        .build(&Device::flex())
        .unwrap()
        .compile(
            Optimizer::adam().learning_rate(0.05),
            Loss::CategoricalCrossentropy,
            [
                MetricConfig::from_keras("F1Score", &serde_json::json!({})).unwrap(),
                MetricConfig::from_keras("F1Score", &serde_json::json!({"average": "macro"}))
                    .unwrap(),
            ],
        )
        .unwrap();
    let history = m
        .fit(&x, &onehot, options().epochs(3).batch_size(16))
        .unwrap();
    for key in ["f1_score_0", "f1_score_1", "f1_score_2"] {
        let v = history
            .last(key)
            .unwrap_or_else(|| panic!("{key} missing: {history:?}"));
        assert!((0.0..=1.0).contains(&v));
    }
}

#[test]
fn circle_loss_trains_embeddings_with_integer_labels() {
    // Rows of one label share a direction; Circle pulls them together.
    let x = Array2::from_shape_fn((32, 4), |(i, j)| {
        let label = i % 2;
        (if j % 2 == label { 1.0 } else { 0.1 }) + ((i * 7 + j) % 5) as f32 * 0.05
    });
    let labels = Array1::from_shape_fn(32, |i| (i % 2) as f32);
    let mut m = Sequential::new()
        .add(Input::new([4]))
        .add(Dense::new(3))
        .add(kiln::model::UnitNormalization::new())
        .seed(5)
        .build(&Device::flex())
        .unwrap()
        .compile(
            Optimizer::adam().learning_rate(0.05),
            Loss::Circle,
            Vec::<Metric>::new(),
        )
        .unwrap();
    let history = m
        .fit(&x, &labels, options().epochs(10).batch_size(16))
        .unwrap();
    let loss = history.get("loss").unwrap();
    assert!(loss.iter().all(|l| l.is_finite()), "{loss:?}");
    assert!(loss[loss.len() - 1] < loss[0], "{loss:?}");
}

fn refused<T>(result: Result<T, kiln::train::Error>, why: &str) -> kiln::train::Error {
    match result {
        Ok(_) => panic!("{why}"),
        Err(e) => e,
    }
}

#[test]
fn unsupported_loss_setups_are_refused_at_compile() {
    let build = || {
        Sequential::new()
            .add(Input::new([4]))
            .add(Dense::new(3))
            .build(&Device::flex())
            .unwrap()
    };
    let none = Loss::MeanSquaredError
        .config()
        .reduction(kiln::train::Reduction::None);
    let err = refused(
        build().compile(Optimizer::adam(), none, Vec::<Metric>::new()),
        "reduction none cannot train",
    );
    assert!(err.to_string().contains("reduction"), "{err}");
    let err = refused(
        build().compile(Optimizer::adam(), Loss::Ctc, [Metric::Accuracy]),
        "metrics cannot go with CTC",
    );
    assert!(err.to_string().contains("CTC"), "{err}");
    let bad = Optimizer::sgd().gradient_accumulation_steps(1);
    let err = refused(
        build().compile(bad, Loss::MeanSquaredError, Vec::<Metric>::new()),
        "one accumulation step is refused, as Keras",
    );
    assert!(
        err.to_string().contains("gradient_accumulation_steps"),
        "{err}"
    );
}

#[test]
fn swap_ema_weights_validates_with_the_averages_and_trains_with_the_weights() {
    let (x, y) = data();
    fn opts<'a>() -> FitOptions<'a> {
        options().epochs(3).batch_size(16).validation_split(0.25)
    }
    let ema = || Optimizer::adam().learning_rate(0.05).use_ema(0.9);
    let mut swapped = model(ema());
    let mut swap = kiln::train::SwapEmaWeights::new();
    let with_swap = swapped.fit(&x, &y, opts().callback(&mut swap)).unwrap();
    let mut plain = model(ema());
    let without = plain.fit(&x, &y, opts()).unwrap();
    // Swapping only changes what validation sees: training, and so the final (averaged)
    // weights, are the same.
    assert_eq!(weights(&swapped), weights(&plain));
    assert_ne!(with_swap.get("val_loss"), without.get("val_loss"));
    assert_eq!(with_swap.get("loss"), without.get("loss"));
    // The last validation ran on the averages after the last update: what fit ends with.
    let rows = ndarray::Slice::from(48..);
    let (vx, vy) = (
        x.slice_axis(ndarray::Axis(0), rows).to_owned(),
        y.slice_axis(ndarray::Axis(0), rows).to_owned(),
    );
    let scores = swapped.evaluate(&vx, &vy).unwrap();
    let last = with_swap.last("val_loss").unwrap();
    assert!(
        (scores["loss"] - last).abs() < 1e-5,
        "{} vs {last}",
        scores["loss"]
    );
    // Without use_ema the callback is an error when fit starts.
    let mut no_ema = model(Optimizer::adam());
    let mut swap = kiln::train::SwapEmaWeights::new();
    let err = refused(no_ema.fit(&x, &y, opts().callback(&mut swap)), "no use_ema");
    assert!(err.to_string().contains("use_ema"), "{err}");
}

/// A one-shot HTTP server on 127.0.0.1 that answers 200 to `requests` requests and hands back
/// each request's head and body.
fn http_server(requests: usize) -> (String, std::thread::JoinHandle<Vec<(String, String)>>) {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let root = format!("http://{}", listener.local_addr().unwrap());
    let handle = std::thread::spawn(move || {
        let mut seen = Vec::new();
        for _ in 0..requests {
            let (mut stream, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut head = String::new();
            let mut length = 0usize;
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap();
                }
                if line == "\r\n" || line.is_empty() {
                    break;
                }
                head.push_str(&line);
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                .unwrap();
            seen.push((head, String::from_utf8(body).unwrap()));
        }
        seen
    });
    (root, handle)
}

#[test]
fn remote_monitor_posts_each_epochs_logs_as_keras_does() {
    let (x, y) = data();
    for json in [false, true] {
        let (root, server) = http_server(2);
        let mut monitor = kiln::train::RemoteMonitor::new(root)
            .send_as_json(json)
            .header("X-Run", "kiln");
        let mut m = model(Optimizer::adam());
        let history = m
            .fit(
                &x,
                &y,
                FitOptions::new()
                    .verbose(0)
                    .epochs(2)
                    .batch_size(16)
                    .callback(&mut monitor),
            )
            .unwrap();
        assert_eq!(monitor.failures(), 0);
        let seen = server.join().unwrap();
        for (epoch, (head, body)) in seen.iter().enumerate() {
            assert!(head.starts_with("POST /publish/epoch/end/ "), "{head}");
            assert!(head.to_ascii_lowercase().contains("x-run: kiln"), "{head}");
            // Keras's form encoding: `data=<json>`, percent-encoded.
            let text = if json {
                body.clone()
            } else {
                let encoded = body.strip_prefix("data=").expect("a `data` field");
                form_decode(encoded)
            };
            let sent: serde_json::Value = serde_json::from_str(&text).unwrap();
            assert_eq!(sent["epoch"], epoch);
            let loss = history.get("loss").unwrap()[epoch];
            assert_eq!(sent["loss"].as_f64().unwrap(), loss);
            assert!(sent["accuracy"].is_number());
        }
    }
}

/// `application/x-www-form-urlencoded` back to text.
fn form_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
                out.push(u8::from_str_radix(hex, 16).unwrap());
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).unwrap()
}

#[test]
fn an_unreachable_remote_monitor_warns_and_training_goes_on() {
    let (x, y) = data();
    // A port nothing listens on: bind one, then free it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut monitor = kiln::train::RemoteMonitor::new(format!("http://127.0.0.1:{port}"));
    let mut m = model(Optimizer::adam());
    let history = m
        .fit(
            &x,
            &y,
            options().epochs(2).batch_size(16).callback(&mut monitor),
        )
        .unwrap();
    assert_eq!(history.get("loss").unwrap().len(), 2);
    assert_eq!(monitor.failures(), 2);
}

/// The fraction of all predicted probabilities above 0.5, over the whole epoch.
#[derive(Debug)]
struct PositiveRate;

impl kiln::train::StatefulMetric for PositiveRate {
    fn name(&self) -> &str {
        "positive_rate"
    }
    fn slots(&self) -> usize {
        2
    }
    fn update_state(
        &self,
        _y_true: kiln::burn::tensor::Tensor<2>,
        y_pred: kiln::burn::tensor::Tensor<2>,
    ) -> kiln::burn::tensor::Tensor<1> {
        let [rows, cols] = y_pred.dims();
        let above = y_pred.greater_elem(0.5).float().sum();
        let count = above.zeros_like() + (rows * cols) as f32;
        kiln::burn::tensor::Tensor::cat(vec![above, count], 0)
    }
    fn result(&self, sums: &[f64]) -> f64 {
        if sums[1] == 0.0 {
            0.0
        } else {
            sums[0] / sums[1]
        }
    }
}

#[test]
fn a_stateful_metric_keeps_its_own_sums_over_the_epoch() {
    let (x, y) = data();
    let mut m = Sequential::new()
        .add(Input::new([4]))
        .add(Dense::new(3).activation(Activation::Softmax))
        .seed(3)
        .build(&Device::flex())
        .unwrap()
        .compile(
            Optimizer::adam().learning_rate(0.05),
            Loss::SparseCategoricalCrossentropy,
            [Metric::stateful(PositiveRate)],
        )
        .unwrap();
    m.fit(&x, &y, options().epochs(3).batch_size(16)).unwrap();
    let scores = m.evaluate(&x, &y).unwrap();
    let p = m.predict(&x).unwrap();
    let expected = p.iter().filter(|&&v| v > 0.5).count() as f64 / p.len() as f64;
    assert!(
        (scores["positive_rate"] - expected).abs() < 1e-9,
        "{} vs {expected}",
        scores["positive_rate"]
    );
    assert!(expected > 0.0, "the model is confident on some rows");
}

#[test]
fn metric_options_survive_the_keras_compile_config() {
    let f1 = MetricConfig::from_keras(
        "F1Score",
        &serde_json::json!({"average": "macro", "threshold": 0.4}),
    )
    .unwrap();
    let iou = MetricConfig::from_keras(
        "IoU",
        &serde_json::json!({"num_classes": 3, "target_class_ids": [0, 2]}),
    )
    .unwrap();
    let counts = MetricConfig::from_keras(
        "TruePositives",
        &serde_json::json!({"thresholds": [0.3, 0.7]}),
    )
    .unwrap();
    let given = [f1, iou, counts, Metric::Accuracy.config()];
    let onehot = Sequential::new()
        .add(Input::new([4]))
        .add(Dense::new(3).activation(Activation::Softmax))
        .build(&Device::flex())
        .unwrap()
        .compile(
            Optimizer::adam(),
            Loss::CategoricalCrossentropy,
            given.clone(),
        )
        .unwrap();
    let config = onehot.compile_config().unwrap();
    let listed = config["metrics"].as_array().unwrap();
    assert_eq!(listed[3], serde_json::json!("accuracy"));
    for (value, original) in listed.iter().zip(&given).take(3) {
        let class = value["class_name"].as_str().unwrap();
        let back = MetricConfig::from_keras(class, &value["config"]).unwrap();
        assert_eq!(&back, original, "{value}");
    }
}

#[test]
fn history_as_a_callback_records_what_fit_returns() {
    let (x, y) = data();
    let mut m = model(Optimizer::adam());
    let mut copy = kiln::train::History::default();
    let mut progress = kiln::train::ProgbarLogger::new(2);
    let history = m
        .fit(
            &x,
            &y,
            FitOptions::new()
                .verbose(0)
                .epochs(2)
                .batch_size(16)
                .callback(&mut copy)
                .callback(&mut progress),
        )
        .unwrap();
    assert_eq!(copy.history, history.history);
    assert_eq!(copy.epoch, [0, 1]);
}

#[test]
fn a_loss_scaled_optimizer_and_metric_options_round_trip_through_a_keras_file() {
    let (x, y) = data();
    let scale = kiln::train::LossScale {
        initial_scale: 8.0,
        dynamic_growth_steps: 3,
    };
    let f1 = MetricConfig::from_keras("F1Score", &serde_json::json!({"average": "macro"})).unwrap();
    let onehot = Array2::from_shape_fn((64, 3), |(i, c)| f32::from(y[i] == c as u8));
    let mut m = Sequential::new()
        .add(Input::new([4]))
        .add(Dense::new(3).activation(Activation::Softmax))
        .seed(2)
        .build(&Device::flex())
        .unwrap()
        .compile(
            Optimizer::adam().loss_scale(scale),
            Loss::CategoricalFocalCrossentropy.config().gamma(1.5),
            [f1.clone()],
        )
        .unwrap();
    m.fit(&x, &onehot, options().epochs(2).batch_size(16))
        .unwrap();
    // 8 finite steps: the scale doubled after steps 3 and 6.
    assert_eq!(m.iterations(), 8);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("scaled.keras");
    m.save(&path).unwrap();
    let back = kiln::train::load_compiled(&path, &Device::flex()).unwrap();
    assert_eq!(back.optimizer().loss_scale, Some(scale));
    assert_eq!(back.optimizer_state().current_loss_scale(), Some(32.0));
    assert_eq!(m.optimizer_state().current_loss_scale(), Some(32.0));
    assert_eq!(back.iterations(), 8);
    assert_eq!(back.compile_config().unwrap(), m.compile_config().unwrap());
    let (a, b) = (
        m.evaluate(&x, &onehot).unwrap(),
        back.evaluate(&x, &onehot).unwrap(),
    );
    assert_eq!(a["loss"], b["loss"]);
    assert_eq!(a["f1_score"], b["f1_score"]);
}

/// Records the hooks it sees, in order.
#[derive(Default)]
struct Recorder {
    seen: Vec<String>,
}

impl kiln::train::Callback for Recorder {
    fn batch_hooks(&self) -> bool {
        true
    }
    fn on_test_begin(
        &mut self,
        _: &mut kiln::train::CallbackContext<'_>,
    ) -> kiln::train::Result<()> {
        self.seen.push("test_begin".into());
        Ok(())
    }
    fn on_test_batch_begin(
        &mut self,
        batch: usize,
        _: &mut kiln::train::CallbackContext<'_>,
    ) -> kiln::train::Result<()> {
        self.seen.push(format!("test_batch_begin {batch}"));
        Ok(())
    }
    fn on_test_batch_end(
        &mut self,
        batch: usize,
        logs: &kiln::train::Logs,
        _: &mut kiln::train::CallbackContext<'_>,
    ) -> kiln::train::Result<()> {
        assert!(logs["loss"].is_finite() && !logs.contains_key("val_loss"));
        self.seen.push(format!("test_batch_end {batch}"));
        Ok(())
    }
    fn on_test_end(
        &mut self,
        logs: &kiln::train::Logs,
        _: &mut kiln::train::CallbackContext<'_>,
    ) -> kiln::train::Result<()> {
        self.seen.push(format!("test_end {:.6}", logs["loss"]));
        Ok(())
    }
    fn on_predict_begin(
        &mut self,
        _: &mut kiln::train::CallbackContext<'_>,
    ) -> kiln::train::Result<()> {
        self.seen.push("predict_begin".into());
        Ok(())
    }
    fn on_predict_batch_end(
        &mut self,
        batch: usize,
        outputs: &ndarray::ArrayD<f32>,
        _: &mut kiln::train::CallbackContext<'_>,
    ) -> kiln::train::Result<()> {
        self.seen
            .push(format!("predict_batch_end {batch} {:?}", outputs.shape()));
        Ok(())
    }
    fn on_predict_end(
        &mut self,
        _: &mut kiln::train::CallbackContext<'_>,
    ) -> kiln::train::Result<()> {
        self.seen.push("predict_end".into());
        Ok(())
    }
}

#[test]
fn test_and_predict_hooks_run_around_every_batch() {
    let (x, y) = data();
    let mut m = model(Optimizer::adam());
    let mut recorder = Recorder::default();
    let history = m
        .fit(
            &x,
            &y,
            FitOptions::new()
                .verbose(0)
                .epochs(1)
                .batch_size(16)
                .validation_split(0.25)
                .validation_batch_size(10)
                .callback(&mut recorder),
        )
        .unwrap();
    // 16 validation rows in batches of 10: two batches, then the end with val_loss.
    let val = history.last("val_loss").unwrap();
    assert_eq!(
        recorder.seen,
        [
            "test_begin".to_string(),
            "test_batch_begin 0".into(),
            "test_batch_end 0".into(),
            "test_batch_begin 1".into(),
            "test_batch_end 1".into(),
            format!("test_end {val:.6}"),
        ]
    );
    let mut recorder = Recorder::default();
    let scores = m
        .evaluate_with_callbacks(&x, &y, 32, &mut [&mut recorder])
        .unwrap();
    assert_eq!(recorder.seen.len(), 6);
    assert_eq!(recorder.seen[5], format!("test_end {:.6}", scores["loss"]));
    let mut recorder = Recorder::default();
    let p = m
        .predict_with_callbacks(&x, 48, &mut [&mut recorder])
        .unwrap();
    assert_eq!(
        recorder.seen,
        [
            "predict_begin",
            "predict_batch_end 0 [48, 3]",
            "predict_batch_end 1 [16, 3]",
            "predict_end"
        ]
    );
    assert_eq!(p, m.predict(&x).unwrap());
}

#[test]
fn lambda_callback_takes_every_hook() {
    let (x, y) = data();
    let mut m = model(Optimizer::adam());
    let seen = Rc::new(RefCell::new(Vec::<String>::new()));
    let (a, b, c, d) = (
        Rc::clone(&seen),
        Rc::clone(&seen),
        Rc::clone(&seen),
        Rc::clone(&seen),
    );
    let mut callback = LambdaCallback::new()
        .on_test_batch_end(move |batch, _, _| {
            a.borrow_mut().push(format!("test {batch}"));
            Ok(())
        })
        .on_predict_begin(move |_| {
            b.borrow_mut().push("predict".into());
            Ok(())
        })
        .on_predict_batch_end(move |batch, outputs, _| {
            c.borrow_mut()
                .push(format!("batch {batch} {}", outputs.shape()[0]));
            Ok(())
        })
        .on_predict_end(move |_| {
            d.borrow_mut().push("done".into());
            Ok(())
        });
    m.evaluate_with_callbacks(&x, &y, 40, &mut [&mut callback])
        .unwrap();
    m.predict_with_callbacks(&x, 40, &mut [&mut callback])
        .unwrap();
    assert_eq!(
        *seen.borrow(),
        [
            "test 0",
            "test 1",
            "predict",
            "batch 0 40",
            "batch 1 24",
            "done"
        ]
    );
}

#[test]
fn ctc_trains_a_sequence_model_on_label_rows() {
    // 48 sequences of 6 steps: each step's features point at its symbol (1..=3) or at the
    // blank (0); the labels are the symbols in order, padded with 0 to length 3.
    let n = 48;
    let mut labels = Array2::<f32>::zeros((n, 3));
    let x = ndarray::Array3::from_shape_fn((n, 6, 4), |(i, t, f)| {
        let symbol = if t % 2 == 1 { 1 + (i + t / 2) % 3 } else { 0 };
        if t % 2 == 1 && t / 2 < 2 + i % 2 {
            labels[[i, t / 2]] = symbol as f32;
        }
        let active = if t % 2 == 1 && t / 2 < 2 + i % 2 {
            symbol
        } else {
            0
        };
        f32::from(f == active) + 0.05 * ((i + t + f) % 3) as f32
    });
    let mut m = Sequential::new()
        .add(Input::new([6, 4]))
        .add(Dense::new(8).activation(Activation::Tanh))
        .add(Dense::new(4))
        .seed(4)
        .build(&Device::flex())
        .unwrap()
        .compile(
            Optimizer::adam().learning_rate(0.05),
            Loss::Ctc,
            Vec::<Metric>::new(),
        )
        .unwrap();
    let history = m
        .fit(&x, &labels, options().epochs(20).batch_size(16))
        .unwrap();
    let loss = history.get("loss").unwrap();
    assert!(loss.iter().all(|l| l.is_finite()), "{loss:?}");
    assert!(loss[19] < 0.2 * loss[0], "{loss:?}");
    // Greedy decoding of the trained model reads the labels back.
    let logits = m.predict(&x).unwrap();
    let mut right = 0;
    for i in 0..n {
        let mut decoded = Vec::new();
        let mut last = 0;
        for t in 0..6 {
            let best = (0..4)
                .max_by(|&a, &b| logits[[i, t, a]].total_cmp(&logits[[i, t, b]]))
                .unwrap();
            if best != 0 && best != last {
                decoded.push(best as f32);
            }
            last = best;
        }
        let want: Vec<f32> = labels
            .row(i)
            .iter()
            .copied()
            .filter(|&v| v != 0.0)
            .collect();
        right += usize::from(decoded == want);
    }
    assert!(right >= 40, "{right} of {n} sequences decoded");
    // Labels outside the classes, or longer than the sequence, are errors naming them.
    let mut bad = labels.clone();
    bad[[3, 0]] = 7.0;
    let err = m
        .fit(&x, &bad, options().epochs(1))
        .map(|_| ())
        .unwrap_err();
    assert!(err.to_string().contains('7'), "{err}");
}

#[test]
fn iou_metrics_whose_ids_cannot_line_up_are_refused_at_compile() {
    let build = || {
        Sequential::new()
            .add(Input::new([4]))
            .add(Dense::new(3).activation(Activation::Softmax))
            .build(&Device::flex())
            .unwrap()
    };
    // MeanIoU's default sparse_y_pred=True reads 3 scores per row as 3 ids, against 1 label.
    let mean_iou =
        MetricConfig::from_keras("MeanIoU", &serde_json::json!({"num_classes": 3})).unwrap();
    let err = refused(
        build().compile(
            Optimizer::adam(),
            Loss::SparseCategoricalCrossentropy,
            [mean_iou],
        ),
        "ids do not line up",
    );
    assert!(err.to_string().contains("sparse_y_pred"), "{err}");
    let scores = MetricConfig::from_keras(
        "MeanIoU",
        &serde_json::json!({"num_classes": 3, "sparse_y_pred": false}),
    )
    .unwrap();
    assert!(
        build()
            .compile(
                Optimizer::adam(),
                Loss::SparseCategoricalCrossentropy,
                [scores]
            )
            .is_ok()
    );
    for config in [
        serde_json::json!({"num_classes": 100000}),
        serde_json::json!({"num_classes": 3, "target_class_ids": [5]}),
    ] {
        let m = MetricConfig::from_keras("IoU", &config).unwrap();
        let err = refused(
            build().compile(Optimizer::adam(), Loss::SparseCategoricalCrossentropy, [m]),
            "bad IoU option",
        );
        assert!(err.to_string().contains("num_classes"), "{err}");
    }
}
