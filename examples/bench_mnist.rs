//! Raw burn vs Kiln on the same work, in one run: the MNIST MLP (784-128-10, Adam, batch 32),
//! each in its own child process (so peak memory is its own), first epoch excluded as warm-up.
//!
//! ```sh
//! cargo run --release --example bench_mnist                 # 3 timed epochs each
//! cargo run --release --example bench_mnist -- --epochs 5 --rounds 2
//! ```
//!
//! Prints steps/s, s/epoch (median), peak RSS for each, and `kiln/raw` as the last line.

#[path = "bench/rss.rs"]
mod rss;
use rss::peak_rss_mb;

#[path = "raw/mlp.rs"]
mod raw;

use std::process::Command;
use std::time::Instant;

use burn::optim::AdamConfig;
use clap::Parser;
use kiln::prelude::*;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

#[derive(Parser)]
struct Args {
    /// Timed epochs per run (after one warm-up epoch).
    #[arg(long, default_value_t = 3)]
    epochs: usize,
    /// Samples per step.
    #[arg(long, default_value_t = 32)]
    batch_size: usize,
    /// Training samples (MNIST has 60000).
    #[arg(long, default_value_t = 60000)]
    samples: usize,
    /// Raw/Kiln pairs to run, alternating.
    #[arg(long, default_value_t = 1)]
    rounds: usize,
    /// Run one side in this process and print its result (used by the parent run).
    #[arg(long)]
    only: Option<String>,
}

const SEED: u64 = 42;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    match args.only.as_deref() {
        Some("raw") => child("raw", run_raw(&args)?),
        Some("kiln") => child("kiln", run_kiln(&args)?),
        Some(other) => Err(format!("unknown side `{other}`; use raw or kiln").into()),
        None => parent(&args),
    }
}

/// Prints one result line: name, timed epoch seconds, steps per epoch, peak RSS (MB).
fn child(
    name: &str,
    (seconds, steps): (Vec<f64>, usize),
) -> Result<(), Box<dyn std::error::Error>> {
    let list: Vec<String> = seconds.iter().map(|s| format!("{s:.4}")).collect();
    println!(
        "RESULT {name} {steps} {:.1} {}",
        peak_rss_mb(),
        list.join(",")
    );
    Ok(())
}

fn subset() -> kiln::Result<(ndarray::Array3<u8>, ndarray::Array1<u8>)> {
    let ((x, y), _) = kiln::datasets::mnist::load_data()?;
    Ok((x, y))
}

fn run_kiln(args: &Args) -> Result<(Vec<f64>, usize), Box<dyn std::error::Error>> {
    let (x, y) = subset()?;
    let n = args.samples.min(y.len());
    let x = scale_pixels(
        &x.slice_axis(ndarray::Axis(0), ndarray::Slice::from(..n))
            .to_owned(),
    );
    let y = y
        .slice_axis(ndarray::Axis(0), ndarray::Slice::from(..n))
        .to_owned();
    let mut model = Sequential::new()
        .add(Input::new([28, 28]))
        .add(Flatten::new())
        .add(Dense::new(128).activation(Activation::Relu))
        .add(Dense::new(10).activation(Activation::Softmax))
        .seed(SEED)
        .build(&Device::flex())?
        .compile(
            Optimizer::adam(),
            Loss::SparseCategoricalCrossentropy,
            [Metric::Accuracy],
        )?;
    let history = model.fit(
        &x,
        &y,
        FitOptions::new()
            .epochs(args.epochs + 1)
            .batch_size(args.batch_size)
            .seed(SEED)
            .verbose(0),
    )?;
    Ok((
        history.epoch_seconds[1..].to_vec(),
        n.div_ceil(args.batch_size),
    ))
}

fn run_raw(args: &Args) -> Result<(Vec<f64>, usize), Box<dyn std::error::Error>> {
    let (x, y) = subset()?;
    let n = args.samples.min(y.len());
    let x = x
        .slice_axis(ndarray::Axis(0), ndarray::Slice::from(..n))
        .to_owned();
    let y = y
        .slice_axis(ndarray::Axis(0), ndarray::Slice::from(..n))
        .to_owned();
    let device = Device::flex().autodiff();
    let (xs, ys) = raw::to_device(&x, &y, &device);
    let mut model = raw::Mlp::new(&device);
    let mut optimizer = AdamConfig::new().with_epsilon(1e-7).init();
    let mut rng = StdRng::seed_from_u64(SEED);
    let mut seconds = Vec::new();
    for epoch in 0..=args.epochs {
        let start = Instant::now();
        let mut order: Vec<i64> = (0..n as i64).collect();
        order.shuffle(&mut rng);
        let (m, _loss) = raw::train_epoch(
            model,
            &mut optimizer,
            1e-3,
            &xs,
            &ys,
            &order,
            args.batch_size,
            &device,
        );
        model = m;
        if epoch > 0 {
            seconds.push(start.elapsed().as_secs_f64());
        }
    }
    Ok((seconds, n.div_ceil(args.batch_size)))
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    }
}

fn parent(args: &Args) -> Result<(), Box<dyn std::error::Error>> {
    let exe = std::env::current_exe()?;
    let mut raw_times = Vec::new();
    let mut kiln_times = Vec::new();
    let (mut raw_rss, mut kiln_rss, mut steps) = (0.0f64, 0.0f64, 0usize);
    println!(
        "MNIST MLP 784-128-10, Adam, batch {}, {} samples, {} timed epochs x {} rounds (flex, {} threads)",
        args.batch_size,
        args.samples,
        args.epochs,
        args.rounds,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    for _ in 0..args.rounds {
        for side in ["raw", "kiln"] {
            let out = Command::new(&exe)
                .args(["--only", side, "--epochs", &args.epochs.to_string()])
                .args(["--batch-size", &args.batch_size.to_string()])
                .args(["--samples", &args.samples.to_string()])
                .output()?;
            if !out.status.success() {
                return Err(format!(
                    "{side} run failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                )
                .into());
            }
            let text = String::from_utf8_lossy(&out.stdout);
            let line = text
                .lines()
                .find(|l| l.starts_with("RESULT "))
                .ok_or("a child printed no result")?;
            let fields: Vec<&str> = line.split_whitespace().collect();
            steps = fields[2].parse()?;
            let rss: f64 = fields[3].parse()?;
            let times: Vec<f64> = fields[4]
                .split(',')
                .map(str::parse)
                .collect::<Result<_, _>>()?;
            if side == "raw" {
                raw_rss = raw_rss.max(rss);
                raw_times.extend(times);
            } else {
                kiln_rss = kiln_rss.max(rss);
                kiln_times.extend(times);
            }
        }
    }
    let raw_s = median(&mut raw_times);
    let kiln_s = median(&mut kiln_times);
    println!(
        "{:<6} {:>10} {:>12} {:>14}",
        "", "s/epoch", "steps/s", "peak RSS (MB)"
    );
    for (name, s, rss) in [("raw", raw_s, raw_rss), ("kiln", kiln_s, kiln_rss)] {
        println!("{name:<6} {s:>10.3} {:>12.0} {rss:>14.0}", steps as f64 / s);
    }
    println!("kiln/raw (median s/epoch): {:.3}", kiln_s / raw_s);
    Ok(())
}
