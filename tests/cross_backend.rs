//! The same model, weights and batches on every compiled backend give the same numbers:
//! forward outputs, one step's gradients and a few steps' losses, compared with `flex`.
//!
//! Run with more backends: `cargo test --features ndarray --test cross_backend`
//! (and `--features ndarray,wgpu` where Vulkan or Mesa's lavapipe is installed; with
//! `KILN_REQUIRE_WGPU=1` the wgpu device must be a Vulkan adapter, else the test fails).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use kiln::prelude::*;
use ndarray::{Array1, Array2, ArrayD, Axis, Slice};

/// Forward outputs and weights may differ by summation order only.
const FORWARD_TOL: f32 = 1e-5;
/// Gradients (recovered from one SGD step with lr 1) and losses after 5 Adam steps.
const GRAD_TOL: f32 = 1e-5;
const LOSS_RTOL: f64 = 1e-5;

fn data() -> (Array2<f32>, Array1<u8>) {
    let ((x, y), _) = kiln::datasets::mnist::load_data().unwrap();
    let rows = Slice::from(..160);
    let x = scale_pixels(&x.slice_axis(Axis(0), rows).to_owned());
    let x = x.into_shape_with_order((160, 784)).unwrap();
    (x, y.slice_axis(Axis(0), rows).to_owned())
}

fn spec() -> Sequential {
    Sequential::new()
        .add(Input::new([784]))
        .add(Dense::new(32).activation(Activation::Tanh))
        .add(Dense::new(10).activation(Activation::Softmax))
        .seed(3)
}

struct Run {
    predictions: ArrayD<f32>,
    gradients: Vec<Vec<f32>>,
    losses: Vec<f64>,
}

fn run(device: &Device) -> Run {
    let (x, y) = data();
    let model = spec().build(device).unwrap();
    let predictions = model.predict(&x, 32).unwrap();
    let before: Vec<Vec<f32>> = model
        .get_weights()
        .unwrap()
        .iter()
        .map(|w| w.iter().copied().collect())
        .collect();

    // One SGD step with lr 1 on one batch of 32: gradient = before - after.
    let x32 = x.slice_axis(Axis(0), Slice::from(..32)).to_owned();
    let y32 = y.slice_axis(Axis(0), Slice::from(..32)).to_owned();
    let mut one = spec()
        .build(device)
        .unwrap()
        .compile(
            Optimizer::sgd().learning_rate(1.0),
            "sparse_categorical_crossentropy",
            ["accuracy"],
        )
        .unwrap();
    one.fit(
        &x32,
        &y32,
        FitOptions::new().batch_size(32).shuffle(false).verbose(0),
    )
    .unwrap();
    let gradients = one
        .get_weights()
        .unwrap()
        .iter()
        .zip(&before)
        .map(|(after, b)| b.iter().zip(after.iter()).map(|(b, a)| b - a).collect())
        .collect();

    // Five Adam steps (5 batches of 32), one epoch per step to read each loss.
    let mut five = spec()
        .build(device)
        .unwrap()
        .compile("adam", "sparse_categorical_crossentropy", ["accuracy"])
        .unwrap();
    let history = five
        .fit(
            &x,
            &y,
            FitOptions::new()
                .epochs(5)
                .batch_size(160)
                .shuffle(false)
                .verbose(0),
        )
        .unwrap();
    Run {
        predictions,
        gradients,
        losses: history.get("loss").unwrap().to_vec(),
    }
}

fn max_diff(a: impl IntoIterator<Item = f32>, b: impl IntoIterator<Item = f32>) -> f32 {
    a.into_iter()
        .zip(b)
        .map(|(p, q)| (p - q).abs())
        .fold(0.0, f32::max)
}

/// The device of `backend`; for wgpu, pinned to Vulkan when `KILN_REQUIRE_WGPU=1` so that a
/// missing driver fails loudly instead of falling back to GL, and the adapter is printed.
fn device_of(backend: Backend) -> Device {
    #[cfg(feature = "wgpu")]
    if backend == Backend::Wgpu && std::env::var("KILN_REQUIRE_WGPU").as_deref() == Ok("1") {
        use kiln::burn::tensor::wgpu::WgpuBackend;
        // A wgpu device is initialized once per process; the tests share it.
        static PINNED: std::sync::OnceLock<Device> = std::sync::OnceLock::new();
        return PINNED
            .get_or_init(|| {
                let (device, setup) = Device::wgpu_options()
                    .graphics_api(WgpuBackend::Vulkan)
                    .init_with_setup()
                    .expect(
                        "KILN_REQUIRE_WGPU=1 but no Vulkan adapter (install mesa-vulkan-drivers)",
                    );
                let info = setup.adapter.get_info();
                println!(
                    "wgpu adapter: {} ({:?}, {:?})",
                    info.name, info.device_type, setup.backend
                );
                device
            })
            .clone();
    }
    backend.device().unwrap()
}

#[test]
fn every_compiled_backend_matches_flex() {
    let reference = run(&Device::flex());
    let backends = Backend::compiled();
    println!("compiled backends: {backends:?}");
    for backend in backends.into_iter().filter(|b| *b != Backend::Flex) {
        let started = std::time::Instant::now();
        let other = run(&device_of(backend));
        println!(
            "{backend}: run took {:.1} s",
            started.elapsed().as_secs_f64()
        );
        let forward = max_diff(
            reference.predictions.iter().copied(),
            other.predictions.iter().copied(),
        );
        let grads = reference
            .gradients
            .iter()
            .zip(&other.gradients)
            .map(|(a, b)| max_diff(a.iter().copied(), b.iter().copied()))
            .fold(0.0, f32::max);
        let losses = reference
            .losses
            .iter()
            .zip(&other.losses)
            .map(|(a, b)| (a - b).abs() / a.abs())
            .fold(0.0, f64::max);
        println!(
            "{backend}: forward {forward:.1e}, gradients {grads:.1e}, losses (relative) {losses:.1e}"
        );
        assert!(
            forward <= FORWARD_TOL,
            "{backend}: forward outputs differ by {forward}"
        );
        assert!(grads <= GRAD_TOL, "{backend}: gradients differ by {grads}");
        assert!(losses <= LOSS_RTOL, "{backend}: losses differ by {losses}");
    }
    // On flex itself the run is deterministic.
    let again = run(&Device::flex());
    assert_eq!(again.losses, reference.losses);
    assert!(reference.losses[4] < reference.losses[0]);
}

/// The layers beyond the MLP (ids gathered by an Embedding, Conv1D, pooling, LSTM, GRU,
/// BatchNormalization's running statistics, a custom-free stack) give the same outputs and the
/// same training on every backend.
#[test]
fn sequence_layers_match_flex_on_every_compiled_backend() {
    let x = ndarray::Array2::from_shape_fn((16, 10), |(i, j)| ((i * 7 + j * 3) % 20) as f32);
    let y = ndarray::Array1::from_shape_fn(16, |i| (i % 3) as u8);
    let run = |device: &Device| {
        let mut model = Sequential::new()
            .add(Input::new([10]))
            .add(Embedding::new(20, 6))
            .add(Conv1d::new(5, 3).activation(Activation::Relu))
            .add(MaxPooling1d::new(2))
            .add(Lstm::new(4).return_sequences(true))
            .add(Gru::new(4))
            .add(BatchNormalization::new())
            .add(Dense::new(3).activation(Activation::Softmax))
            .seed(5)
            .build(device)
            .unwrap()
            .compile("adam", "sparse_categorical_crossentropy", ["accuracy"])
            .unwrap();
        let before = model.predict(&x).unwrap();
        let history = model
            .fit(
                &x,
                &y,
                FitOptions::new()
                    .epochs(3)
                    .batch_size(8)
                    .shuffle(false)
                    .verbose(0),
            )
            .unwrap();
        let after = model.predict(&x).unwrap();
        (before, after, history.get("loss").unwrap().to_vec())
    };
    let reference = run(&Device::flex());
    for backend in Backend::compiled()
        .into_iter()
        .filter(|b| *b != Backend::Flex)
    {
        let other = run(&device_of(backend));
        let before = max_diff(reference.0.iter().copied(), other.0.iter().copied());
        let after = max_diff(reference.1.iter().copied(), other.1.iter().copied());
        let losses = reference
            .2
            .iter()
            .zip(&other.2)
            .map(|(a, b)| (a - b).abs() / a.abs())
            .fold(0.0, f64::max);
        println!(
            "{backend} (sequence model): forward {before:.1e}, after 6 Adam steps {after:.1e}, losses (relative) {losses:.1e}"
        );
        assert!(
            before <= FORWARD_TOL,
            "{backend}: forward differs by {before}"
        );
        assert!(
            after <= 1e-4,
            "{backend}: trained outputs differ by {after}"
        );
        assert!(losses <= 1e-4, "{backend}: losses differ by {losses}");
    }
}
