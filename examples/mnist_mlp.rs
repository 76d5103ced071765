//! The Keras MNIST MLP, in Kiln.
//!
//! ```sh
//! cargo run --release --example mnist_mlp                 # 10 epochs on flex
//! cargo run --release --example mnist_mlp -- --epochs 2 --backend ndarray
//! cargo run --release --example mnist_mlp -- --save mnist_mlp.keras   # opens in Keras
//! ```
//!
//! The Keras program it mirrors:
//! ```python
//! model = keras.Sequential([keras.Input((28, 28)), layers.Rescaling(1 / 255), layers.Flatten(),
//!                           layers.Dense(128, activation="relu"),
//!                           layers.Dense(10, activation="softmax")])
//! model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
//! model.fit(x_train, y_train, epochs=10, batch_size=32, validation_data=(x_test, y_test))
//! model.evaluate(x_test, y_test)
//! ```

use std::time::Instant;

use clap::Parser;
use kiln::prelude::*;

#[derive(Parser)]
#[command(about = "Train the Keras MNIST MLP with Kiln")]
struct Args {
    /// Backend: flex, ndarray or wgpu (default: $KILN_BACKEND, else flex).
    #[arg(long)]
    backend: Option<Backend>,
    /// Passes over the training data.
    #[arg(long, default_value_t = 10)]
    epochs: usize,
    /// Samples per step.
    #[arg(long, default_value_t = 32)]
    batch_size: usize,
    /// Seed for weights and shuffling.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Saves the trained model here (`.keras` opens in Keras, `.safetensors` is Kiln's).
    #[arg(long)]
    save: Option<std::path::PathBuf>,
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

    // The u8 images go in as they are: `Rescaling(1/255)` scales them on the device (Keras's
    // preprocessing layer), so the host never holds an f32 copy of the data set.
    let ((x_train, y_train), (x_test, y_test)) = kiln::datasets::mnist::load_data()?;
    let y_train = to_categorical(y_train.view(), Some(10))?;
    let y_test = to_categorical(y_test.view(), Some(10))?;

    let mut model = Sequential::new()
        .add(Input::new([28, 28]))
        .add(Rescaling::new(1.0 / 255.0))
        .add(Flatten::new())
        .add(Dense::new(128).activation(Activation::Relu))
        .add(Dense::new(10).activation(Activation::Softmax))
        .seed(args.seed)
        .build(&device)?
        .compile(
            Optimizer::adam(),
            Loss::CategoricalCrossentropy,
            [Metric::Accuracy],
        )?;
    println!("{}", model.summary());

    let start = Instant::now();
    model.fit(
        &x_train,
        &y_train,
        FitOptions::new()
            .epochs(args.epochs)
            .batch_size(args.batch_size)
            .seed(args.seed)
            .validation_data(&x_test, &y_test),
    )?;
    let seconds = start.elapsed().as_secs_f64();

    let scores = model.evaluate(&x_test, &y_test)?;
    println!(
        "test loss {:.4} - test accuracy {:.4} - backend {backend} - {:.2} s/epoch (fit incl. validation)",
        scores["loss"],
        scores["accuracy"],
        seconds / args.epochs.max(1) as f64
    );
    if let Some(path) = &args.save {
        // `.keras` keeps the training setup too: Keras's load_model resumes it.
        model.save(path)?;
        println!("saved {}", path.display());
    }
    Ok(())
}
