//! The keras.io variational autoencoder on MNIST, trained with a custom training step
//! ([`TrainStep`], Keras's `train_step` override) run by [`fit_step`]: a convolutional encoder
//! to a 2-D latent mean and log-variance, the reparameterization trick, a transposed-conv
//! decoder, and the loss `reconstruction (binary cross-entropy summed over pixels) + KL`.
//! Prints the three losses per epoch and writes a PNG grid of digits decoded from a regular
//! grid of latent points, and the loss curves.
//!
//! ```sh
//! cargo run --release --example mnist_vae              # 10 epochs on 20000 images
//! ```
//!
//! The Keras program it mirrors (<https://keras.io/examples/generative/vae/>):
//! ```python
//! class VAE(keras.Model):
//!     def train_step(self, data):
//!         with tf.GradientTape() as tape:
//!             z_mean, z_log_var, z = self.encoder(data)
//!             reconstruction = self.decoder(z)
//!             reconstruction_loss = ops.mean(ops.sum(
//!                 keras.losses.binary_crossentropy(data, reconstruction), axis=(1, 2)))
//!             kl_loss = -0.5 * (1 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var))
//!             kl_loss = ops.mean(ops.sum(kl_loss, axis=1))
//!             total_loss = reconstruction_loss + kl_loss
//!         grads = tape.gradient(total_loss, self.trainable_weights)
//!         self.optimizer.apply_gradients(zip(grads, self.trainable_weights))
//!         ...
//! vae = VAE(encoder, decoder)
//! vae.compile(optimizer=keras.optimizers.Adam())
//! vae.fit(mnist_digits, epochs=30, batch_size=128)
//! ```

use std::path::PathBuf;
use std::time::Instant;

use burn::module::Module;
use burn::optim::GradientsParams;
use burn::tensor::{Distribution, Tensor};
use clap::Parser;
use kiln::burn;
use kiln::model::DynTensor;
use kiln::prelude::*;
use kiln::train::{Batch, OptimizerState, StepLogs, TrainStep, fit_step};
use ndarray::{Axis, Slice};

#[derive(Parser)]
#[command(about = "Train the keras.io variational autoencoder on MNIST with a custom train step")]
struct Args {
    /// Backend: flex, ndarray or wgpu (default: $KILN_BACKEND, else flex).
    #[arg(long)]
    backend: Option<Backend>,
    /// Passes over the training data.
    #[arg(long, default_value_t = 10)]
    epochs: usize,
    /// How many of the 60000 training images to use (the CPU is slow on convnets).
    #[arg(long, default_value_t = 20000)]
    train_samples: usize,
    /// Where to write the grid of decoded digits.
    #[arg(long, default_value = "vae_digits.png")]
    png: PathBuf,
    /// Where to write the loss curves.
    #[arg(long, default_value = "vae_losses.png")]
    curves: PathBuf,
    /// Seed for weights, shuffling and the sampling noise.
    #[arg(long, default_value_t = 42)]
    seed: u64,
}

const LATENT: usize = 2;

/// `x [28, 28, 1]` → `(z_mean, z_log_var)`, each `[2]`.
fn encoder(seed: u64) -> kiln::model::Result<Functional> {
    let conv = |filters| {
        Conv2d::new(filters, 3)
            .strides([2, 2])
            .padding(Padding::Same)
            .activation(Activation::Relu)
    };
    let inputs = Input::new([28, 28, 1]).tensor()?;
    let x = conv(32).apply(&inputs)?;
    let x = conv(64).apply(&x)?;
    let x = Flatten::new().apply(&x)?;
    let x = Dense::new(16).activation(Activation::Relu).apply(&x)?;
    let z_mean = Dense::new(LATENT).name("z_mean").apply(&x)?;
    let z_log_var = Dense::new(LATENT).name("z_log_var").apply(&x)?;
    Ok(Functional::new(&inputs, [&z_mean, &z_log_var])?
        .name("encoder")
        .seed(seed))
}

/// `z [2]` → an image `[28, 28, 1]` of pixel probabilities.
fn decoder(seed: u64) -> kiln::model::Result<Functional> {
    let up = |filters| {
        Conv2dTranspose::new(filters, 3)
            .strides([2, 2])
            .padding(Padding::Same)
            .activation(Activation::Relu)
    };
    let inputs = Input::new([LATENT]).tensor()?;
    let x = Dense::new(7 * 7 * 64)
        .activation(Activation::Relu)
        .apply(&inputs)?;
    let x = Reshape::new([7, 7, 64]).apply(&x)?;
    let x = up(64).apply(&x)?;
    let x = up(32).apply(&x)?;
    let outputs = Conv2dTranspose::new(1, 3)
        .padding(Padding::Same)
        .activation(Activation::Sigmoid)
        .apply(&x)?;
    Ok(Functional::new(&inputs, &outputs)?
        .name("decoder")
        .seed(seed + 1))
}

/// Both halves as one module, so that one optimizer step updates all their weights (Keras's
/// `self.trainable_weights`).
#[derive(Module, Debug)]
struct Halves {
    encoder: Model,
    decoder: Model,
}

struct Vae {
    halves: Halves,
    optimizer: OptimizerState,
}

fn matrix(t: DynTensor) -> kiln::Result<Tensor<2>> {
    match t {
        DynTensor::R2(t) => Ok(t),
        other => Err(kiln::Error::Model(kiln::model::Error::Readback(format!(
            "expected a matrix, got rank {}",
            other.rank()
        )))),
    }
}

fn image(t: DynTensor) -> kiln::Result<Tensor<4>> {
    match t {
        DynTensor::R4(t) => Ok(t),
        other => Err(kiln::Error::Model(kiln::model::Error::Readback(format!(
            "expected images, got rank {}",
            other.rank()
        )))),
    }
}

impl Vae {
    /// `(total, reconstruction, kl)` of a batch of images, each `[1]`.
    fn losses(
        &self,
        batch: &Batch,
        training: bool,
    ) -> kiln::train::Result<(Tensor<1>, Tensor<1>, Tensor<1>)> {
        let data = batch.arrays[0].clone();
        let rows = batch.rows;
        let mut heads = self
            .halves
            .encoder
            .forward_many(vec![data.clone()], training)?;
        let (Some(z_log_var), Some(z_mean)) = (heads.pop(), heads.pop()) else {
            return Err(kiln::train::Error::Readback(
                "the encoder has two outputs".into(),
            ));
        };
        let (z_mean, z_log_var) = (to_train(matrix(z_mean))?, to_train(matrix(z_log_var))?);
        // The reparameterization trick: z = mean + σ·ε, ε ~ N(0, 1).
        let epsilon = Tensor::<2>::random(
            [rows, LATENT],
            Distribution::Normal(0.0, 1.0),
            &z_mean.device(),
        );
        let z = z_mean.clone() + (z_log_var.clone() * 0.5).exp() * epsilon;
        let reconstruction = self
            .halves
            .decoder
            .forward_many(vec![DynTensor::R2(z)], training)?;
        let p = to_train(image(reconstruction.into_iter().next().ok_or_else(
            || kiln::train::Error::Readback("the decoder has one output".into()),
        )?))?;
        let x = to_train(image(data))?;
        // Keras's binary_crossentropy: clipped probabilities, mean over the channel axis
        // (one channel), summed over the 28x28 pixels, then averaged over the batch.
        let p = p.clamp(1e-7, 1.0 - 1e-7);
        let bce = -(x.clone() * p.clone().log() + (x.neg() + 1.0) * (p.neg() + 1.0).log());
        let reconstruction_loss = bce.reshape([rows, 28 * 28]).sum_dim(1).mean();
        let kl = (z_log_var.clone() + 1.0 - z_mean.square() - z_log_var.exp()) * -0.5;
        let kl_loss = kl.sum_dim(1).mean();
        let total = reconstruction_loss.clone() + kl_loss.clone();
        Ok((total, reconstruction_loss, kl_loss))
    }
}

/// The model errors of the example's helpers as training errors.
fn to_train<T>(r: kiln::Result<T>) -> kiln::train::Result<T> {
    r.map_err(|e| kiln::train::Error::Readback(kiln::error_chain_string(&e)))
}

impl TrainStep for Vae {
    fn model_and_optimizer(&mut self) -> (&mut Model, &mut OptimizerState) {
        (&mut self.halves.decoder, &mut self.optimizer)
    }

    fn train_step(&mut self, batch: Batch) -> kiln::train::Result<StepLogs> {
        let (total, reconstruction, kl) = self.losses(&batch, true)?;
        let grads = GradientsParams::from_grads(total.backward(), &self.halves);
        self.halves = self.optimizer.apply_gradients(self.halves.clone(), grads);
        Ok(vec![
            ("loss".into(), total.detach()),
            ("reconstruction_loss".into(), reconstruction.detach()),
            ("kl_loss".into(), kl.detach()),
        ])
    }

    fn test_step(&mut self, batch: Batch) -> kiln::train::Result<StepLogs> {
        let (total, reconstruction, kl) = self.losses(&batch, false)?;
        Ok(vec![
            ("loss".into(), total.detach()),
            ("reconstruction_loss".into(), reconstruction.detach()),
            ("kl_loss".into(), kl.detach()),
        ])
    }
}

/// Digits decoded from a 15x15 grid of latent points in [-2, 2]², as keras.io plots them.
fn save_grid(path: &PathBuf, decoder: &Model) -> kiln::Result<()> {
    const N: usize = 15;
    let points: Vec<f32> = (0..N * N)
        .flat_map(|k| {
            let (row, col) = (k / N, k % N);
            let at = |i: usize| -2.0 + 4.0 * i as f32 / (N - 1) as f32;
            // Rows go down the y axis (top row = largest y), as the keras.io figure.
            [at(col), at(N - 1 - row)]
        })
        .collect();
    let z = ndarray::Array2::from_shape_vec((N * N, LATENT), points)
        .map_err(|e| kiln::Error::Model(kiln::model::Error::Readback(e.to_string())))?;
    let digits = decoder.predict(&z, 64)?;
    let mut img = image::GrayImage::new((28 * N) as u32, (28 * N) as u32);
    for (x, y, pixel) in img.enumerate_pixels_mut() {
        let (col, px) = ((x / 28) as usize, (x % 28) as usize);
        let (row, py) = ((y / 28) as usize, (y % 28) as usize);
        let v = digits[[row * N + col, py, px, 0]];
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
    let train_device = device.clone().autodiff();

    let ((x_train, _), (x_test, _)) = kiln::datasets::mnist::load_data()?;
    let n = args.train_samples.clamp(1, x_train.shape()[0]);
    let x_train = scale_pixels(&x_train.slice_axis(Axis(0), Slice::from(..n)).to_owned())
        .insert_axis(Axis(3));
    let x_test = scale_pixels(&x_test.slice_axis(Axis(0), Slice::from(..2000)).to_owned())
        .insert_axis(Axis(3));

    let (encoder, decoder) = (encoder(args.seed)?, decoder(args.seed)?);
    println!("{}", encoder.summary().line_length(100));
    println!("{}", decoder.summary().line_length(100));
    let halves = Halves {
        encoder: encoder.build(&train_device)?.train(),
        decoder: decoder.build(&train_device)?.train(),
    };
    let mut optimizer = OptimizerState::new(Optimizer::adam());
    let mut params = halves.encoder.trainable_variables();
    params.extend(halves.decoder.trainable_variables());
    optimizer.describe(params);
    let mut vae = Vae { halves, optimizer };

    let start = Instant::now();
    let history = fit_step(
        &mut vae,
        &x_train,
        FitOptions::new()
            .epochs(args.epochs)
            .batch_size(128)
            .seed(args.seed)
            .validation_data(&x_test, &x_test),
    )?;
    let seconds = start.elapsed().as_secs_f64() / args.epochs.max(1) as f64;
    history.plot(&args.curves)?;
    let decoder = vae.halves.decoder.clone().valid();
    save_grid(&args.png, &decoder)?;
    let last = |k: &str| history.last(k).unwrap_or(f64::NAN);
    println!(
        "after {} epochs on {n} images: loss {:.2} (reconstruction {:.2}, KL {:.2}); test loss \
         {:.2} - backend {backend} - {seconds:.1} s/epoch - wrote {} and {}",
        args.epochs,
        last("loss"),
        last("reconstruction_loss"),
        last("kl_loss"),
        last("val_loss"),
        args.png.display(),
        args.curves.display()
    );
    Ok(())
}
