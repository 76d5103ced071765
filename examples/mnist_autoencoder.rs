//! A convolutional autoencoder on MNIST: two strided convolutions down to 7x7x8, two
//! `Conv2DTranspose` back up to 28x28; its test reconstruction loss, and a PNG of test digits
//! (top row) beside their reconstructions (bottom row).
//!
//! ```sh
//! cargo run --release --example mnist_autoencoder              # 3 epochs, writes autoencoder.png
//! ```
//!
//! The Keras program it mirrors:
//! ```python
//! inputs = keras.Input((28, 28, 1))
//! x = layers.Conv2D(16, 3, strides=2, padding="same", activation="relu")(inputs)
//! x = layers.Conv2D(8, 3, strides=2, padding="same", activation="relu")(x)
//! x = layers.Conv2DTranspose(8, 3, strides=2, padding="same", activation="relu")(x)
//! x = layers.Conv2DTranspose(16, 3, strides=2, padding="same", activation="relu")(x)
//! outputs = layers.Conv2D(1, 3, padding="same", activation="sigmoid")(x)
//! model = keras.Model(inputs, outputs, name="autoencoder")
//! model.compile("adam", "binary_crossentropy")
//! model.fit(x_train, x_train, batch_size=128, epochs=3, validation_data=(x_test, x_test))
//! ```

use std::path::PathBuf;
use std::time::Instant;

use clap::Parser;
use kiln::prelude::*;
use ndarray::{Array4, Axis, Slice};

#[derive(Parser)]
#[command(about = "Train a convolutional autoencoder (Conv2DTranspose) on MNIST")]
struct Args {
    /// Backend: flex, ndarray or wgpu (default: $KILN_BACKEND, else flex).
    #[arg(long)]
    backend: Option<Backend>,
    /// Passes over the training data.
    #[arg(long, default_value_t = 3)]
    epochs: usize,
    /// How many of the 60000 training images to use (the CPU is slow on convnets).
    #[arg(long, default_value_t = 20000)]
    train_samples: usize,
    /// Where to write the digits and their reconstructions.
    #[arg(long, default_value = "autoencoder.png")]
    png: PathBuf,
    /// Seed for weights and shuffling.
    #[arg(long, default_value_t = 42)]
    seed: u64,
}

fn autoencoder(seed: u64) -> kiln::model::Result<Functional> {
    let down = |filters| {
        Conv2d::new(filters, 3)
            .strides([2, 2])
            .padding(Padding::Same)
            .activation(Activation::Relu)
    };
    let up = |filters| {
        Conv2dTranspose::new(filters, 3)
            .strides([2, 2])
            .padding(Padding::Same)
            .activation(Activation::Relu)
    };
    let inputs = Input::new([28, 28, 1]).tensor()?;
    let x = down(16).apply(&inputs)?;
    let x = down(8).apply(&x)?;
    let x = up(8).apply(&x)?;
    let x = up(16).apply(&x)?;
    let outputs = Conv2d::new(1, 3)
        .padding(Padding::Same)
        .activation(Activation::Sigmoid)
        .apply(&x)?;
    Ok(Functional::new(&inputs, &outputs)?
        .name("autoencoder")
        .seed(seed))
}

/// Ten digits (top) and their reconstructions (bottom), 28x28 each, scaled up 4x.
fn save_png(
    path: &PathBuf,
    digits: &Array4<f32>,
    recon: &ndarray::ArrayD<f32>,
) -> kiln::Result<()> {
    const SCALE: u32 = 4;
    let n = digits.shape()[0].min(10) as u32;
    let mut img = image::GrayImage::new(28 * SCALE * n, 28 * SCALE * 2);
    for (x, y, pixel) in img.enumerate_pixels_mut() {
        let (k, col) = ((x / SCALE / 28) as usize, (x / SCALE % 28) as usize);
        let (row_of, row) = ((y / SCALE / 28) as usize, (y / SCALE % 28) as usize);
        let v = if row_of == 0 {
            digits[[k, row, col, 0]]
        } else {
            recon[[k, row, col, 0]]
        };
        *pixel = image::Luma([(v.clamp(0.0, 1.0) * 255.0).round() as u8]);
    }
    img.save(path).map_err(|e| {
        kiln::Error::Model(kiln::model::Error::Io {
            path: path.clone(),
            source: std::io::Error::other(e),
        })
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
    let device = backend.device()?;
    device.seed(args.seed);

    let ((x_train, _), (x_test, _)) = kiln::datasets::mnist::load_data()?;
    let n = args.train_samples.clamp(1, x_train.shape()[0]);
    let x_train = scale_pixels(&x_train.slice_axis(Axis(0), Slice::from(..n)).to_owned())
        .insert_axis(Axis(3));
    let x_test = scale_pixels(&x_test).insert_axis(Axis(3));

    let spec = autoencoder(args.seed)?;
    println!("{}", spec.summary().line_length(108));
    let mut model =
        spec.build(&device)?
            .compile("adam", "binary_crossentropy", Vec::<&str>::new())?;
    let start = Instant::now();
    model.fit(
        &x_train,
        &x_train,
        FitOptions::new()
            .epochs(args.epochs)
            .batch_size(128)
            .seed(args.seed)
            .validation_data(&x_test, &x_test),
    )?;
    let seconds = start.elapsed().as_secs_f64();
    let scores = model.evaluate(&x_test, &x_test)?;
    let first = x_test.slice_axis(Axis(0), Slice::from(..10)).to_owned();
    let recon = model.predict(&first)?;
    save_png(&args.png, &first, &recon)?;
    println!(
        "test reconstruction loss (binary cross-entropy) {:.4} - {n} training images - backend \
         {backend} - {:.1} s/epoch - wrote {}",
        scores["loss"],
        seconds / args.epochs.max(1) as f64,
        args.png.display()
    );
    Ok(())
}
