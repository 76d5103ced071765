//! The Keras "simple MNIST convnet", in Kiln.
//!
//! ```sh
//! cargo run --release --example mnist_cnn                  # 5 epochs, batch 128
//! cargo run --release --example mnist_cnn -- --epochs 15   # as the Keras example
//! ```
//!
//! The Keras program it mirrors (keras.io/examples/vision/mnist_convnet):
//! ```python
//! model = keras.Sequential([keras.Input(shape=(28, 28, 1)),
//!     layers.Conv2D(32, kernel_size=(3, 3), activation="relu"), layers.MaxPooling2D(pool_size=(2, 2)),
//!     layers.Conv2D(64, kernel_size=(3, 3), activation="relu"), layers.MaxPooling2D(pool_size=(2, 2)),
//!     layers.Flatten(), layers.Dropout(0.5), layers.Dense(10, activation="softmax")])
//! model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
//! model.fit(x_train, y_train, batch_size=128, epochs=15, validation_split=0.1)
//! ```

use std::time::Instant;

use clap::Parser;
use kiln::model::{Conv2d, Dropout, MaxPooling2d};
use kiln::prelude::*;
use ndarray::Axis;

#[derive(Parser)]
#[command(about = "Train the Keras MNIST convnet with Kiln")]
struct Args {
    /// Backend: flex, ndarray or wgpu (default: $KILN_BACKEND, else flex).
    #[arg(long)]
    backend: Option<Backend>,
    /// Passes over the training data.
    #[arg(long, default_value_t = 5)]
    epochs: usize,
    /// Samples per step.
    #[arg(long, default_value_t = 128)]
    batch_size: usize,
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
    let backend = match args.backend {
        Some(b) => b,
        None => Backend::from_env()?,
    };
    let device = backend.device()?;
    device.seed(args.seed);

    let ((x_train, y_train), (x_test, y_test)) = kiln::datasets::mnist::load_data()?;
    // Images get a channel axis: [n, 28, 28] -> [n, 28, 28, 1], as in the Keras example.
    let x_train = scale_pixels(&x_train).insert_axis(Axis(3));
    let x_test = scale_pixels(&x_test).insert_axis(Axis(3));
    let y_train = to_categorical(y_train.view(), Some(10))?;
    let y_test = to_categorical(y_test.view(), Some(10))?;

    let mut model = Sequential::new()
        .add(Input::new([28, 28, 1]))
        .add(Conv2d::new(32, 3).activation(Activation::Relu))
        .add(MaxPooling2d::new(2))
        .add(Conv2d::new(64, 3).activation(Activation::Relu))
        .add(MaxPooling2d::new(2))
        .add(Flatten::new())
        .add(Dropout::new(0.5))
        .add(Dense::new(10).activation(Activation::Softmax))
        .seed(args.seed)
        .build(&device)?
        .compile("adam", "categorical_crossentropy", ["accuracy"])?;
    println!("{}", model.summary());

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
        "test loss {:.4} - test accuracy {:.4} - backend {backend} - {:.1} s/epoch (fit incl. validation)",
        scores["loss"],
        scores["accuracy"],
        seconds / args.epochs.max(1) as f64
    );
    Ok(())
}
