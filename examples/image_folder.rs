//! Training from a folder of images, as keras.io's "image classification from scratch" does:
//! `image_dataset_from_directory` (labels from the sub-folder names, a seeded 80/20 split,
//! resized to 32×32 per batch), augmentation layers inside the model (active only while
//! training), a small convnet.
//!
//! The example writes its own folder first: 1,200 PNGs of three shapes (circles, squares,
//! crosses) of random sizes, places and colours on noisy backgrounds, each 36 to 52 pixels a
//! side.
//!
//! ```sh
//! cargo run --release --example image_folder               # writes target/image_folder/
//! ```
//!
//! Measured (2-core VM, flex): validation accuracy 0.8500 after 20 epochs, 1.8 s/epoch.

use std::path::Path;

use clap::Parser;
use kiln::datasets::{
    Dataset, ImageDatasetOptions, LabelMode, Subset, image_dataset_from_directory_both,
};
use kiln::model::{MaxPooling2d, RandomFlip, RandomRotation, RandomZoom};
use kiln::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

#[derive(Parser)]
#[command(about = "Classify shapes from a folder of PNGs with augmentation")]
struct Args {
    /// Passes over the training images.
    #[arg(long, default_value_t = 20)]
    epochs: usize,
    /// Images per class written to the folder.
    #[arg(long, default_value_t = 400)]
    per_class: usize,
    /// Where the folder goes.
    #[arg(long, default_value = "target/image_folder")]
    dir: std::path::PathBuf,
}

const CLASSES: [&str; 3] = ["circle", "cross", "square"];

/// One RGB image of `class` (0 circle, 1 cross, 2 square), `size × size`.
fn draw(class: usize, size: u32, rng: &mut StdRng) -> image::RgbImage {
    let colour = [
        rng.random_range(120..255u8),
        rng.random_range(0..255u8),
        rng.random_range(0..120u8),
    ];
    let r = rng.random_range(size as f32 * 0.2..size as f32 * 0.35);
    let cx = rng.random_range(r..size as f32 - r);
    let cy = rng.random_range(r..size as f32 - r);
    image::RgbImage::from_fn(size, size, |x, y| {
        let (dx, dy) = (x as f32 - cx, y as f32 - cy);
        let inside = match class {
            0 => dx * dx + dy * dy <= r * r,
            1 => (dx.abs() <= r && dy.abs() <= r * 0.3) || (dy.abs() <= r && dx.abs() <= r * 0.3),
            _ => dx.abs() <= r * 0.8 && dy.abs() <= r * 0.8,
        };
        let noise = (x * 7 + y * 13 + class as u32 * 5) % 40;
        if inside {
            image::Rgb(colour)
        } else {
            let g = 40 + noise as u8;
            image::Rgb([g, g, g])
        }
    })
}

fn write_folder(dir: &Path, per_class: usize) -> kiln::Result<()> {
    let mut rng = StdRng::seed_from_u64(7);
    for (class, name) in CLASSES.iter().enumerate() {
        let folder = dir.join(name);
        std::fs::create_dir_all(&folder).map_err(|e| kiln::datasets::Error::Io {
            path: folder.clone(),
            source: e,
        })?;
        for i in 0..per_class {
            let size = rng.random_range(36..=52);
            let path = folder.join(format!("{name}_{i:04}.png"));
            draw(class, size, &mut rng)
                .save(&path)
                .map_err(|e| kiln::datasets::Error::Io {
                    path: path.clone(),
                    source: std::io::Error::other(e),
                })?;
        }
    }
    Ok(())
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
    let _ = std::fs::remove_dir_all(&args.dir);
    write_folder(&args.dir, args.per_class)?;
    let options = ImageDatasetOptions::default()
        .image_size(32, 32)
        .batch_size(32)
        .label_mode(LabelMode::Int)
        .validation_split(0.2)
        .subset(Subset::Both)
        .seed(1337);
    let (mut train, val) = image_dataset_from_directory_both(&args.dir, &options)?;
    println!(
        "{} training and {} validation images of {:?}, classes {:?}",
        train.num_samples(),
        val.num_samples(),
        train.image_shape(),
        train.class_names().unwrap_or_default()
    );
    let mut model = Sequential::new()
        .add(Input::new([32, 32, 3]))
        .add(RandomFlip::new("horizontal"))
        .add(RandomRotation::new(0.05))
        .add(RandomZoom::new(0.1))
        .add(Rescaling::new(1.0 / 255.0))
        .add(Conv2d::new(16, 3).activation(Activation::Relu))
        .add(MaxPooling2d::new(2))
        .add(Conv2d::new(32, 3).activation(Activation::Relu))
        .add(MaxPooling2d::new(2))
        .add(Flatten::new())
        .add(Dense::new(CLASSES.len()).activation(Activation::Softmax))
        .seed(1)
        .build(&kiln::device("flex")?)?
        .compile("adam", "sparse_categorical_crossentropy", ["accuracy"])?;
    println!("{}", model.summary());
    let start = std::time::Instant::now();
    let history = model.fit_dataset(
        &mut train,
        FitOptions::new()
            .epochs(args.epochs)
            .seed(2)
            .verbose(2)
            .validation_dataset(&val),
    )?;
    let scores = model.evaluate_dataset(&val)?;
    println!(
        "validation accuracy {:.4} (loss {:.4}) after {} epochs, {:.1} s/epoch; batches per epoch {}",
        scores["accuracy"],
        scores["loss"],
        args.epochs,
        start.elapsed().as_secs_f64() / args.epochs as f64,
        train.len()
    );
    let last = history.last("val_accuracy").unwrap_or(f64::NAN);
    println!("last epoch's val_accuracy {last:.4}");
    Ok(())
}
