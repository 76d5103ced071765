//! A small residual CNN on MNIST, written with the Functional API.
//!
//! ```sh
//! cargo run --release --example mnist_resnet                  # 3 epochs, batch 32
//! cargo run --release --example mnist_resnet -- --epochs 5 --train-samples 60000
//! ```
//!
//! The Keras program it mirrors:
//! ```python
//! def block(x, filters):
//!     y = layers.Conv2D(filters, 3, padding="same")(x)
//!     y = layers.BatchNormalization()(y)
//!     y = layers.Activation("relu")(y)
//!     y = layers.Conv2D(filters, 3, padding="same")(y)
//!     y = layers.BatchNormalization()(y)
//!     if x.shape[-1] != filters:
//!         x = layers.Conv2D(filters, 1)(x)          # projection shortcut
//!     return layers.Activation("relu")(layers.Add()([x, y]))
//!
//! inputs = keras.Input(shape=(28, 28, 1))
//! x = layers.Conv2D(16, 3, padding="same", activation="relu")(inputs)
//! x = block(x, 16)
//! x = layers.MaxPooling2D(2)(x)
//! x = block(x, 32)
//! x = layers.GlobalAveragePooling2D()(x)
//! outputs = layers.Dense(10, activation="softmax")(x)
//! model = keras.Model(inputs, outputs, name="mnist_resnet")
//! model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
//! model.fit(x_train, y_train, batch_size=32, epochs=3, validation_split=0.1)
//! ```

use std::time::Instant;

use clap::Parser;
use kiln::prelude::*;
use ndarray::{Axis, Slice};

#[derive(Parser)]
#[command(about = "Train a small residual CNN on MNIST, written with the Functional API")]
struct Args {
    /// Backend: flex, ndarray or wgpu (default: $KILN_BACKEND, else flex).
    #[arg(long)]
    backend: Option<Backend>,
    /// Passes over the training data.
    #[arg(long, default_value_t = 3)]
    epochs: usize,
    /// Samples per step (32: enough steps for BatchNormalization's moving statistics, which
    /// inference uses, to settle in a few epochs of 12000 images).
    #[arg(long, default_value_t = 32)]
    batch_size: usize,
    /// How many of the 60000 training images to use (the CPU is slow on convnets).
    #[arg(long, default_value_t = 12000)]
    train_samples: usize,
    /// Seed for weights and shuffling.
    #[arg(long, default_value_t = 42)]
    seed: u64,
}

/// Two 3x3 convolutions with batch normalization, added to the input (through a 1x1
/// convolution when the width changes), then ReLU.
fn block(x: &SymbolicTensor, filters: usize) -> kiln::model::Result<SymbolicTensor> {
    let y = Conv2d::new(filters, 3).padding(Padding::Same).apply(x)?;
    let y = BatchNormalization::new().apply(&y)?;
    let y = ActivationLayer::new(Activation::Relu).apply(&y)?;
    let y = Conv2d::new(filters, 3).padding(Padding::Same).apply(&y)?;
    let y = BatchNormalization::new().apply(&y)?;
    let shortcut = if x.shape().last() == Some(filters) {
        x.clone()
    } else {
        Conv2d::new(filters, 1).apply(x)?
    };
    ActivationLayer::new(Activation::Relu).apply(&Add::new().apply([&shortcut, &y])?)
}

fn resnet(seed: u64) -> kiln::model::Result<Functional> {
    let inputs = Input::new([28, 28, 1]).tensor()?;
    let x = Conv2d::new(16, 3)
        .padding(Padding::Same)
        .activation(Activation::Relu)
        .apply(&inputs)?;
    let x = block(&x, 16)?;
    let x = MaxPooling2d::new(2).apply(&x)?;
    let x = block(&x, 32)?;
    let x = GlobalAveragePooling2d::new().apply(&x)?;
    let outputs = Dense::new(10).activation(Activation::Softmax).apply(&x)?;
    Ok(Functional::new(&inputs, &outputs)?
        .name("mnist_resnet")
        .seed(seed))
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
    let device = backend.device()?;
    device.seed(args.seed);

    let ((x_train, y_train), (x_test, y_test)) = kiln::datasets::mnist::load_data()?;
    let n = args.train_samples.clamp(1, x_train.shape()[0]);
    let rows = Slice::from(..n);
    let x_train = scale_pixels(&x_train.slice_axis(Axis(0), rows).to_owned()).insert_axis(Axis(3));
    let y_train = y_train.slice_axis(Axis(0), rows).to_owned();
    let x_test = scale_pixels(&x_test).insert_axis(Axis(3));

    let spec = resnet(args.seed)?;
    println!("{}", spec.summary().line_length(108)); // Keras's width in a wide terminal
    let mut model =
        spec.build(&device)?
            .compile("adam", "sparse_categorical_crossentropy", ["accuracy"])?;

    let start = Instant::now();
    model.fit(
        &x_train,
        &y_train,
        FitOptions::new()
            .epochs(args.epochs)
            .batch_size(args.batch_size)
            .seed(args.seed)
            .validation_split(0.1),
    )?;
    let seconds = start.elapsed().as_secs_f64();
    let scores = model.evaluate(&x_test, &y_test)?;
    println!(
        "test loss {:.4} - test accuracy {:.4} - {n} training images - backend {backend} - \
         {:.1} s/epoch (fit incl. validation)",
        scores["loss"],
        scores["accuracy"],
        seconds / args.epochs.max(1) as f64
    );
    Ok(())
}
