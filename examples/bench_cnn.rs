//! Kiln's side of the CPU benchmark against Keras-JAX and PyTorch (`bench/peers.py`): the
//! keras.io MNIST convnet (Adam, batch 128, `validation_split=0.1`), or with `--model mlp` the
//! MNIST MLP (784-128-10, Adam, batch 32), trained on the flex backend.
//!
//! ```sh
//! cargo run --release --example bench_cnn                       # 3 epochs of the convnet
//! cargo run --release --example bench_cnn -- --model mlp --epochs 4
//! # Kiln, Keras-JAX and PyTorch side by side, ratios last:
//! python3 bench/peers.py compare cnn --kiln-cmd "target/release/examples/bench_cnn --epochs 3"
//! ```
//!
//! Prints each epoch's seconds (validation included, as Keras's epoch time), then one line
//! `RESULT peer=kiln-flex model=.. s_per_epoch=.. first=.. test_acc=.. predict_sps=..
//! peak_rss_mb=..`: the median epoch after the first (the first is warm-up), the test
//! accuracy, `predict` throughput over the 10000 test images (batch 256, median of 3 timed
//! passes after one warm-up) and the peak resident memory.

#[path = "bench/rss.rs"]
mod rss;
use rss::peak_rss_mb;

use std::time::Instant;

use clap::{Parser, ValueEnum};
use kiln::model::{Conv2d, Dropout, MaxPooling2d};
use kiln::prelude::*;
use ndarray::Axis;

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Model {
    /// The keras.io "simple MNIST convnet".
    Cnn,
    /// Flatten - Dense(128, relu) - Dense(10, softmax).
    Mlp,
}

#[derive(Parser)]
#[command(about = "Kiln's side of bench/peers.py: train and time a model on MNIST")]
struct Args {
    /// Which model.
    #[arg(long, value_enum, default_value_t = Model::Cnn)]
    model: Model,
    /// Epochs (the first is not timed in the median).
    #[arg(long, default_value_t = 3)]
    epochs: usize,
    /// Seed for weights, dropout masks and shuffling.
    #[arg(long, default_value_t = 42)]
    seed: u64,
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
    let device = Device::flex();
    device.seed(args.seed);
    let ((x_train, y_train), (x_test, y_test)) = kiln::datasets::mnist::load_data()?;
    let (x_train, x_test) = (scale_pixels(&x_train), scale_pixels(&x_test));
    let y_train = to_categorical(y_train.view(), Some(10))?;
    let y_test = to_categorical(y_test.view(), Some(10))?;
    let (model, batch_size, split) = match args.model {
        Model::Cnn => (
            Sequential::new()
                .add(Input::new([28, 28, 1]))
                .add(Conv2d::new(32, 3).activation(Activation::Relu))
                .add(MaxPooling2d::new(2))
                .add(Conv2d::new(64, 3).activation(Activation::Relu))
                .add(MaxPooling2d::new(2))
                .add(Flatten::new())
                .add(Dropout::new(0.5))
                .add(Dense::new(10).activation(Activation::Softmax)),
            128,
            0.1,
        ),
        Model::Mlp => (
            Sequential::new()
                .add(Input::new([28, 28]))
                .add(Flatten::new())
                .add(Dense::new(128).activation(Activation::Relu))
                .add(Dense::new(10).activation(Activation::Softmax)),
            32,
            0.0,
        ),
    };
    let mut model = model.seed(args.seed).build(&device)?.compile(
        "adam",
        "categorical_crossentropy",
        ["accuracy"],
    )?;
    // The convnet's images get a channel axis, as in the Keras example.
    let (x_train, x_test) = match args.model {
        Model::Cnn => (
            x_train.insert_axis(Axis(3)).into_dyn(),
            x_test.insert_axis(Axis(3)).into_dyn(),
        ),
        Model::Mlp => (x_train.into_dyn(), x_test.into_dyn()),
    };
    let mut options = FitOptions::new()
        .epochs(args.epochs.max(1))
        .batch_size(batch_size)
        .seed(args.seed)
        .verbose(0);
    if split > 0.0 {
        options = options.validation_split(split);
    }
    let history = model.fit(&x_train, &y_train, options)?;
    for (epoch, s) in history.epoch_seconds.iter().enumerate() {
        println!("epoch {}: {s:.3} s", epoch + 1);
    }
    let scores = model.evaluate(&x_test, &y_test)?;

    let mut passes = Vec::new();
    for pass in 0..4 {
        let start = Instant::now();
        model.predict_many(&x_test, 256)?;
        if pass > 0 {
            passes.push(start.elapsed().as_secs_f64());
        }
    }
    let predict_sps = x_test.len_of(Axis(0)) as f64 / median(&mut passes);
    let first = history.epoch_seconds.first().copied().unwrap_or(f64::NAN);
    let mut timed = history.epoch_seconds.get(1..).unwrap_or_default().to_vec();
    let per_epoch = if timed.is_empty() {
        first
    } else {
        median(&mut timed)
    };
    println!(
        "RESULT peer=kiln-flex model={} s_per_epoch={per_epoch:.3} first={first:.3} \
         test_acc={:.4} predict_sps={predict_sps:.0} peak_rss_mb={:.0}",
        match args.model {
            Model::Cnn => "cnn",
            Model::Mlp => "mlp",
        },
        scores["accuracy"],
        peak_rss_mb()
    );
    Ok(())
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}
