//! Training with Keras's usual callbacks: `validation_split`, `EarlyStopping`,
//! `ModelCheckpoint`, a CSV log, and the loss/accuracy curves drawn to `history.png` (and `.svg`).
//!
//! ```sh
//! cargo run --release --example mnist_callbacks            # writes to target/mnist_callbacks/
//! ```

use std::path::PathBuf;

use clap::Parser;
use kiln::prelude::*;
use kiln::train::{CsvLogger, EarlyStopping, ModelCheckpoint};

#[derive(Parser)]
#[command(about = "MNIST MLP with EarlyStopping, ModelCheckpoint and a history plot")]
struct Args {
    /// Backend: flex, ndarray or wgpu (default: $KILN_BACKEND, else flex).
    #[arg(long)]
    backend: Option<Backend>,
    /// Most epochs to run (EarlyStopping usually ends sooner).
    #[arg(long, default_value_t = 30)]
    epochs: usize,
    /// Where checkpoints, the CSV log and the plot go.
    #[arg(long, default_value = "target/mnist_callbacks")]
    out: PathBuf,
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
    let device = match args.backend {
        Some(b) => b.device()?,
        None => Backend::from_env()?.device()?,
    };
    std::fs::create_dir_all(&args.out).map_err(|source| kiln::train::Error::Io {
        path: args.out.clone(),
        source,
    })?;
    let ((x_train, y_train), (x_test, y_test)) = kiln::datasets::mnist::load_data()?;

    let mut model = Sequential::new()
        .add(Input::new([28, 28]))
        .add(Rescaling::new(1.0 / 255.0))
        .add(Flatten::new())
        .add(Dense::new(128).activation(Activation::Relu))
        .add(Dense::new(10).activation(Activation::Softmax))
        .seed(7)
        .build(&device)?
        .compile("adam", "sparse_categorical_crossentropy", ["accuracy"])?;

    let mut early_stopping = EarlyStopping::new().patience(2).restore_best_weights(true);
    let best = args.out.join("best-{epoch:02d}-{val_loss:.3f}.safetensors");
    let mut checkpoint = ModelCheckpoint::new(best.to_string_lossy()).save_best_only(true);
    let mut csv = CsvLogger::new(args.out.join("history.csv"));
    let history = model.fit(
        &x_train,
        &y_train,
        FitOptions::new()
            .epochs(args.epochs)
            .seed(7)
            .validation_split(0.1)
            .callback(&mut early_stopping)
            .callback(&mut checkpoint)
            .callback(&mut csv),
    )?;

    if let Some(epoch) = early_stopping.stopped_epoch() {
        println!(
            "early stopping after epoch {}; best val_loss at epoch {}, weights restored",
            epoch + 1,
            early_stopping.best_epoch().map_or(0, |e| e + 1)
        );
    }
    for path in checkpoint.saved() {
        println!("checkpoint: {}", path.display());
    }
    for file in ["history.png", "history.svg"] {
        let plot = args.out.join(file);
        history.plot(&plot)?;
        println!("history plot: {}", plot.display());
    }
    let scores = model.evaluate(&x_test, &y_test)?;
    println!(
        "test loss {:.4} - test accuracy {:.4}",
        scores["loss"], scores["accuracy"]
    );
    Ok(())
}
