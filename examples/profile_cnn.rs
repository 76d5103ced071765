//! Where a training step of the Keras MNIST convnet goes: each layer's forward and backward
//! timed alone at batch 128 (the shapes of `examples/mnist_cnn.rs`), medians of `--reps` runs,
//! beside burn's own `conv2d` and `max_pool2d` on NCHW data (no layout permutes).
//!
//! ```sh
//! cargo run --release --example profile_cnn             # flex, 20 repetitions
//! cargo run --release --example profile_cnn -- --reps 50 --backend ndarray
//! ```
//!
//! The per-layer times add up to less than a `fit` step: the loss, the optimizer update and
//! the bookkeeping between layers are not in them.

use std::time::Instant;

use burn::tensor::module::{conv2d, max_pool2d};
use burn::tensor::ops::{ConvOptions, MaxPoolOptions};
use burn::tensor::{Distribution, Tensor};
use clap::Parser;
use kiln::model::{Conv2d, Dense, Dropout, DynTensor, Flatten, LayerSpec, MaxPooling2d};
use kiln::prelude::*;

#[derive(Parser)]
#[command(about = "Time each layer of the MNIST convnet, forward and backward")]
struct Args {
    /// Backend: flex, ndarray or wgpu (default: $KILN_BACKEND, else flex).
    #[arg(long)]
    backend: Option<Backend>,
    /// Samples per step.
    #[arg(long, default_value_t = 128)]
    batch_size: usize,
    /// Timed repetitions per layer (after one warm-up); medians are printed.
    #[arg(long, default_value_t = 20)]
    reps: usize,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

/// Median milliseconds of `f`'s two phases over `reps` runs after a warm-up.
fn time(reps: usize, mut f: impl FnMut() -> kiln::Result<(f64, f64)>) -> kiln::Result<(f64, f64)> {
    f()?;
    let (mut fw, mut bw) = (Vec::new(), Vec::new());
    for _ in 0..reps {
        let (a, b) = f()?;
        fw.push(a);
        bw.push(b);
    }
    Ok((median(fw), median(bw)))
}

/// A layer alone on `input` (one sample's shape): forward in training mode, then the backward
/// of the sum of its output (gradients for its weights and its input).
fn layer_times(
    layer: LayerSpec,
    input: &[usize],
    batch: usize,
    device: &Device,
    reps: usize,
) -> kiln::Result<(f64, f64, String)> {
    let model = Sequential::new()
        .add(Input::new(input.to_vec()))
        .add(layer)
        .build(device)?;
    let shape = model.output_shape().to_string();
    let dims: Vec<usize> = std::iter::once(batch)
        .chain(input.iter().copied())
        .collect();
    let n: usize = dims.iter().product();
    let data: Vec<f32> = (0..n)
        .map(|i| ((i * 7919) % 1000) as f32 / 1000.0)
        .collect();
    let (fw, bw) = time(reps, || {
        let x = DynTensor::from_host(&dims, data.clone(), device)?;
        let x = kiln::model::dyn_map!(x, t => t.require_grad());
        let start = Instant::now();
        let y = model.forward_many(vec![x], true)?.remove(0);
        let sum = y.flatten().sum();
        // Reading one value waits for the forward on lazy backends.
        let _ = sum.clone().into_data();
        let forward = start.elapsed().as_secs_f64() * 1e3;
        let start = Instant::now();
        let grads = sum.backward();
        drop(grads);
        Ok((forward, start.elapsed().as_secs_f64() * 1e3))
    })?;
    Ok((fw, bw, shape))
}

/// burn's `max_pool2d` (2x2) on NCHW data: no permutes.
fn raw_pool(
    batch: usize,
    [h, w, c]: [usize; 3],
    device: &Device,
    reps: usize,
) -> kiln::Result<(f64, f64)> {
    time(reps, || {
        let x = Tensor::<4>::random([batch, c, h, w], Distribution::Default, device).require_grad();
        let start = Instant::now();
        let y = max_pool2d(x, MaxPoolOptions::new([2, 2]).with_stride([2, 2]));
        let sum = y.sum();
        let _ = sum.clone().into_data();
        let forward = start.elapsed().as_secs_f64() * 1e3;
        let start = Instant::now();
        drop(sum.backward());
        Ok((forward, start.elapsed().as_secs_f64() * 1e3))
    })
}

/// burn's `conv2d` on NCHW data with an `[out, in, k, k]` kernel: no permutes.
fn raw_conv(
    batch: usize,
    [h, w, c]: [usize; 3],
    filters: usize,
    device: &Device,
    reps: usize,
) -> kiln::Result<(f64, f64)> {
    time(reps, || {
        let x = Tensor::<4>::random([batch, c, h, w], Distribution::Default, device).require_grad();
        let k =
            Tensor::<4>::random([filters, c, 3, 3], Distribution::Default, device).require_grad();
        let b = Tensor::<1>::zeros([filters], device).require_grad();
        let start = Instant::now();
        let y = burn::tensor::activation::relu(conv2d(
            x,
            k,
            Some(b),
            ConvOptions::new([1, 1], [0, 0], [1, 1], 1),
        ));
        let sum = y.sum();
        let _ = sum.clone().into_data();
        let forward = start.elapsed().as_secs_f64() * 1e3;
        let start = Instant::now();
        drop(sum.backward());
        Ok((forward, start.elapsed().as_secs_f64() * 1e3))
    })
}

fn main() -> std::process::ExitCode {
    match run(Args::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", kiln::error_chain(&e));
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> kiln::Result<()> {
    let backend = match args.backend {
        Some(b) => b,
        None => Backend::from_env()?,
    };
    let device = backend.device()?.autodiff();
    let (batch, reps) = (args.batch_size, args.reps);
    let layers: Vec<(&str, LayerSpec, Vec<usize>)> = vec![
        (
            "conv2d (32, 3x3, relu)",
            Conv2d::new(32, 3).activation(Activation::Relu).into(),
            vec![28, 28, 1],
        ),
        (
            "max_pooling2d (2)",
            MaxPooling2d::new(2).into(),
            vec![26, 26, 32],
        ),
        (
            "conv2d_1 (64, 3x3, relu)",
            Conv2d::new(64, 3).activation(Activation::Relu).into(),
            vec![13, 13, 32],
        ),
        (
            "max_pooling2d_1 (2)",
            MaxPooling2d::new(2).into(),
            vec![11, 11, 64],
        ),
        ("flatten", Flatten::new().into(), vec![5, 5, 64]),
        ("dropout (0.5)", Dropout::new(0.5).into(), vec![1600]),
        (
            "dense (10, softmax)",
            Dense::new(10).activation(Activation::Softmax).into(),
            vec![1600],
        ),
    ];
    println!("{backend:?} backend, batch {batch}, medians of {reps} runs (ms)");
    println!("| layer | output | forward | backward | share |");
    println!("| --- | --- | --- | --- | --- |");
    let mut rows = Vec::new();
    for (name, layer, input) in layers {
        let (fw, bw, shape) = layer_times(layer, &input, batch, &device, reps)?;
        rows.push((name, shape, fw, bw));
    }
    let total: f64 = rows.iter().map(|(_, _, f, b)| f + b).sum();
    for (name, shape, fw, bw) in &rows {
        println!(
            "| {name} | {shape} | {fw:.2} | {bw:.2} | {:.0} % |",
            100.0 * (fw + bw) / total
        );
    }
    println!(
        "| **sum** | | {:.2} | {:.2} | |",
        rows.iter().map(|r| r.2).sum::<f64>(),
        rows.iter().map(|r| r.3).sum::<f64>()
    );
    println!();
    println!("burn's conv2d + relu on NCHW (no permutes), the same convolutions:");
    for (name, input, filters) in [("conv2d", [28, 28, 1], 32), ("conv2d_1", [13, 13, 32], 64)] {
        let (fw, bw) = raw_conv(batch, input, filters, &device, reps)?;
        println!("  {name}: forward {fw:.2} ms, backward {bw:.2} ms");
    }
    println!("burn's max_pool2d (2x2) on NHWC data permuted around it, as Kiln's layer:");
    for variant in ["permutes", "permutes + copies"] {
        let (fw, bw) = time(reps, || {
            let x = Tensor::<4>::random([batch, 26, 26, 32], Distribution::Default, &device)
                .require_grad();
            let start = Instant::now();
            let mut nchw = x.permute([0, 3, 1, 2]);
            if variant != "permutes" {
                nchw = nchw * 1.0;
            }
            let y = max_pool2d(nchw, MaxPoolOptions::new([2, 2]).with_stride([2, 2]));
            let mut y = y.permute([0, 2, 3, 1]);
            if variant != "permutes" {
                y = y * 1.0;
            }
            let sum = y.sum();
            let _ = sum.clone().into_data();
            let forward = start.elapsed().as_secs_f64() * 1e3;
            let start = Instant::now();
            drop(sum.backward());
            Ok((forward, start.elapsed().as_secs_f64() * 1e3))
        })?;
        println!("  {variant}: forward {fw:.2} ms, backward {bw:.2} ms");
    }
    println!("burn's max_pool2d (2x2) on NCHW (no permutes), the same poolings:");
    for (name, input) in [
        ("max_pooling2d", [26, 26, 32]),
        ("max_pooling2d_1", [11, 11, 64]),
    ] {
        let (fw, bw) = raw_pool(batch, input, &device, reps)?;
        println!("  {name}: forward {fw:.2} ms, backward {bw:.2} ms");
    }
    Ok(())
}
