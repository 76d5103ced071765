//! A user-defined layer in a Kiln model: `ResidualDense` (see `examples/custom/residual_dense.rs`)
//! is built, summarized, trained on MNIST, saved, and loaded back like a stock layer.
//!
//! ```sh
//! cargo run --release --example custom_layer               # 3 epochs on flex
//! cargo run --release --example custom_layer -- --epochs 1 --backend ndarray
//! ```
//!
//! The Keras program it mirrors subclasses `keras.layers.Layer` (`build`, `call`, `get_config`)
//! and loads with `keras.models.load_model(path, custom_objects={"ResidualDense": ...})`.

#[path = "custom/residual_dense.rs"]
mod residual_dense;

use std::time::Instant;

use clap::Parser;
use kiln::prelude::*;
use residual_dense::ResidualDense;

#[derive(Parser)]
#[command(about = "Train an MNIST MLP with a custom ResidualDense layer, save and reload it")]
struct Args {
    /// Backend: flex, ndarray or wgpu (default: $KILN_BACKEND, else flex).
    #[arg(long)]
    backend: Option<Backend>,
    /// Passes over the training data.
    #[arg(long, default_value_t = 3)]
    epochs: usize,
    /// Where the model file goes.
    #[arg(long, default_value = "target/custom_layer.safetensors")]
    output: std::path::PathBuf,
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
    let ((x_train, y_train), (x_test, y_test)) = kiln::datasets::mnist::load_data()?;

    let mut model = Sequential::new()
        .add(Input::new([28, 28]))
        .add(Rescaling::new(1.0 / 255.0))
        .add(Flatten::new())
        .add(Dense::new(64).activation(Activation::Relu))
        .add(ResidualDense {
            activation: Activation::Relu,
        })
        .add(Dense::new(10).activation(Activation::Softmax))
        .seed(7)
        .build(&device)?
        .compile("adam", "sparse_categorical_crossentropy", ["accuracy"])?;
    println!("{}", model.summary());

    let start = Instant::now();
    model.fit(
        &x_train,
        &y_train,
        FitOptions::new()
            .epochs(args.epochs)
            .validation_data(&x_test, &y_test),
    )?;
    let per_epoch = start.elapsed().as_secs_f64() / args.epochs.max(1) as f64;
    let scores = model.evaluate(&x_test, &y_test)?;

    // Architecture + weights in one file; reading it back needs the layer's constructor.
    model.model().save(&args.output)?;
    let loaded =
        kiln::model::load_model_with(&args.output, &device, &ResidualDense::custom_objects())?;
    // Same batch size as `CompiledModel::predict` (32), so the same arithmetic.
    let same = loaded.predict(&x_test, 32)? == model.predict(&x_test)?;
    println!(
        "test accuracy {:.4} - {per_epoch:.2} s/epoch - saved to {} - reloaded predictions identical: {same}",
        scores["accuracy"],
        args.output.display()
    );
    Ok(())
}
