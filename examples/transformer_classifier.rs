//! A small transformer text classifier on a task only attention solves: each sequence of token
//! ids holds one token `A` and one token `B` among random others; the label says whether `A`
//! comes before `B`. Averaging token embeddings cannot tell (the order is lost); attention
//! between the two tokens, with their positions, can.
//!
//! ```sh
//! cargo run --release --example transformer_classifier             # 8 epochs
//! ```
//!
//! The Keras program it mirrors (positions as a second input, keras.io's
//! `TokenAndPositionEmbedding` spelled out):
//! ```python
//! tokens = keras.Input((12,), dtype="int32", name="tokens")
//! positions = keras.Input((12,), dtype="int32", name="positions")
//! x = layers.Add()([layers.Embedding(20, 32)(tokens), layers.Embedding(12, 32)(positions)])
//! for _ in range(2):
//!     a = layers.MultiHeadAttention(num_heads=2, key_dim=16)(x, x)
//!     x = layers.LayerNormalization()(layers.Add()([x, a]))
//!     f = layers.Dense(32)(layers.Dense(64, activation="relu")(x))
//!     x = layers.LayerNormalization()(layers.Add()([x, f]))
//! x = layers.GlobalAveragePooling1D()(x)
//! outputs = layers.Dense(2, activation="softmax")(x)
//! model = keras.Model([tokens, positions], outputs)
//! model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
//! model.fit([x_tokens, x_positions], y, batch_size=64, epochs=8, validation_split=0.1)
//! ```

use std::time::Instant;

use clap::Parser;
use kiln::prelude::*;
use ndarray::{Array1, Array2};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const STEPS: usize = 12;
const VOCAB: usize = 20;
const TOKEN_A: i32 = 1;
const TOKEN_B: i32 = 2;
const WIDTH: usize = 32;

#[derive(Parser)]
#[command(about = "Train a small transformer on 'does token A come before token B?'")]
struct Args {
    /// Backend: flex, ndarray or wgpu (default: $KILN_BACKEND, else flex).
    #[arg(long)]
    backend: Option<Backend>,
    /// Passes over the training data.
    #[arg(long, default_value_t = 8)]
    epochs: usize,
    /// Training sequences (the test set is a quarter of it, drawn apart).
    #[arg(long, default_value_t = 8000)]
    samples: usize,
    /// Seed for the data, the weights and shuffling.
    #[arg(long, default_value_t = 42)]
    seed: u64,
}

/// `n` sequences, their positions `0..STEPS`, and labels (1 when `A` precedes `B`).
fn data(n: usize, rng: &mut StdRng) -> (Array2<i32>, Array2<i32>, Array1<i32>) {
    let mut tokens = Array2::<i32>::zeros((n, STEPS));
    let mut labels = Array1::<i32>::zeros(n);
    for i in 0..n {
        for j in 0..STEPS {
            tokens[[i, j]] = rng.random_range(3..VOCAB as i32);
        }
        let a = rng.random_range(0..STEPS);
        let mut b = rng.random_range(0..STEPS - 1);
        if b >= a {
            b += 1;
        }
        tokens[[i, a]] = TOKEN_A;
        tokens[[i, b]] = TOKEN_B;
        labels[i] = i32::from(a < b);
    }
    let positions = Array2::from_shape_fn((n, STEPS), |(_, j)| j as i32);
    (tokens, positions, labels)
}

/// Self-attention and a feed-forward network, each added back and normalized.
fn encoder_block(x: &SymbolicTensor) -> kiln::model::Result<SymbolicTensor> {
    let a = MultiHeadAttention::new(2, 16).apply([x, x])?;
    let x = LayerNormalization::new().apply(&Add::new().apply([x, &a])?)?;
    let f = Dense::new(64).activation(Activation::Relu).apply(&x)?;
    let f = Dense::new(WIDTH).apply(&f)?;
    LayerNormalization::new().apply(&Add::new().apply([&x, &f])?)
}

fn transformer(seed: u64) -> kiln::model::Result<Functional> {
    let tokens = Input::new([STEPS]).dtype("int32").name("tokens").tensor()?;
    let positions = Input::new([STEPS])
        .dtype("int32")
        .name("positions")
        .tensor()?;
    let x = Add::new().apply([
        &Embedding::new(VOCAB, WIDTH).apply(&tokens)?,
        &Embedding::new(STEPS, WIDTH).apply(&positions)?,
    ])?;
    let x = encoder_block(&encoder_block(&x)?)?;
    let x = GlobalAveragePooling1d::new().apply(&x)?;
    let outputs = Dense::new(2).activation(Activation::Softmax).apply(&x)?;
    Ok(Functional::new([&tokens, &positions], &outputs)?
        .name("transformer_classifier")
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
    let mut rng = StdRng::seed_from_u64(args.seed);
    let (x_train, p_train, y_train) = data(args.samples, &mut rng);
    let (x_test, p_test, y_test) = data(args.samples / 4, &mut rng);

    let spec = transformer(args.seed)?;
    println!("{}", spec.summary().line_length(108));
    let mut model =
        spec.build(&device)?
            .compile("adam", "sparse_categorical_crossentropy", ["accuracy"])?;
    let start = Instant::now();
    model.fit(
        (&x_train, &p_train),
        &y_train,
        FitOptions::new()
            .epochs(args.epochs)
            .batch_size(64)
            .seed(args.seed)
            .validation_split(0.1),
    )?;
    let seconds = start.elapsed().as_secs_f64();
    let scores = model.evaluate_many((&x_test, &p_test), &y_test, 256)?;
    println!(
        "test loss {:.4} - test accuracy {:.4} - {} training sequences - backend {backend} - \
         {:.1} s/epoch",
        scores["loss"],
        scores["accuracy"],
        args.samples,
        seconds / args.epochs.max(1) as f64
    );
    Ok(())
}
