//! The same MNIST MLP as `mnist_mlp`, written directly on burn 0.22 (see `raw/mlp.rs`):
//! its own `Module`, batching, burn-optim's Adam, loop and accuracy.
//!
//! ```sh
//! cargo run --release --example mnist_mlp_raw_burn -- --epochs 10
//! ```

#[path = "raw/mlp.rs"]
mod raw;

use std::time::Instant;

use burn::optim::AdamConfig;
use burn::tensor::Device;
use clap::Parser;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

#[derive(Parser)]
struct Args {
    #[arg(long, default_value_t = 10)]
    epochs: usize,
    #[arg(long, default_value_t = 32)]
    batch_size: usize,
    #[arg(long, default_value_t = 42)]
    seed: u64,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let device = Device::flex().autodiff();
    device.seed(args.seed);

    let ((x_train, y_train), (x_test, y_test)) = kiln::datasets::mnist::load_data()?;
    let (x, y) = raw::to_device(&x_train, &y_train, &device);
    let (xt, yt) = raw::to_device(&x_test, &y_test, &device);

    let mut model = raw::Mlp::new(&device);
    // burn's Adam adds ε to √v̂ (PyTorch form); 1e-7 matches Keras's value, not its placement.
    let mut optimizer = AdamConfig::new().with_epsilon(1e-7).init();
    let mut rng = StdRng::seed_from_u64(args.seed);
    for epoch in 1..=args.epochs {
        let start = Instant::now();
        let mut order: Vec<i64> = (0..y_train.len() as i64).collect();
        order.shuffle(&mut rng);
        let (trained, loss) = raw::train_epoch(
            model,
            &mut optimizer,
            1e-3,
            &x,
            &y,
            &order,
            args.batch_size,
            &device,
        );
        model = trained;
        let seconds = start.elapsed().as_secs_f64();
        let test_accuracy = raw::accuracy(&model, &xt, &yt);
        println!(
            "epoch {epoch}/{} - {seconds:.2}s - loss: {loss:.4} - test accuracy: {test_accuracy:.4}",
            args.epochs
        );
    }
    Ok(())
}
