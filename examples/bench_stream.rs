//! Streaming a data set larger than it is sensible to hold: `fit_dataset` over a file of u8
//! samples on disk (written once by this program), read one batch at a time with `pread`.
//! Prints s/epoch, samples/s and the peak RSS, which stays flat whatever the file's size.
//!
//! ```sh
//! cargo run --release --example bench_stream -- --gigabytes 2.1 --workers 1
//! cargo run --release --example bench_stream -- --gigabytes 2.1 --workers 2   # loader threads
//! /usr/bin/time -v target/release/examples/bench_stream --gigabytes 0.5     # RSS vs size
//! ```

#[path = "bench/rss.rs"]
mod rss;
use rss::peak_rss_mb;

use std::fs::File;
use std::io::{BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::Parser;
use kiln::datasets::{Batch, BoxError, Dataset};
use kiln::prelude::*;

#[derive(Parser)]
#[command(about = "Fit a model streaming a multi-gigabyte data set from disk")]
struct Args {
    /// Size of the data set on disk, in GB (10^9 bytes).
    #[arg(long, default_value_t = 2.1)]
    gigabytes: f64,
    /// Where the data file goes (reused when its size matches).
    #[arg(long, default_value = "target/bench_stream")]
    dir: PathBuf,
    /// Loader threads (Keras `workers`; 1 loads on the training thread).
    #[arg(long, default_value_t = 1)]
    workers: usize,
    /// Batches loaded ahead (Keras `max_queue_size`).
    #[arg(long, default_value_t = 10)]
    max_queue_size: usize,
    /// Samples per batch.
    #[arg(long, default_value_t = 256)]
    batch_size: usize,
    /// Passes over the data.
    #[arg(long, default_value_t = 1)]
    epochs: usize,
}

/// Features per sample: a 64×64 RGB image's worth of bytes.
const DIM: usize = 64 * 64 * 3;
const CLASSES: usize = 10;

/// The label of sample `i`, and its bytes: noise plus a bright band at the label's place.
fn sample(i: usize, out: &mut [u8]) -> u8 {
    let label = (i.wrapping_mul(2_654_435_761) >> 7) % CLASSES;
    let mut state = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    for (j, b) in out.iter_mut().enumerate() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let band = j * CLASSES / DIM == label;
        *b = (state as u8 >> 2) + if band { 96 } else { 0 };
    }
    label as u8
}

/// Writes `n` samples to `dir/samples.u8` and their labels to `dir/labels.u8` (skipped when
/// both already have the right sizes).
fn write_data(dir: &Path, n: usize) -> std::io::Result<(PathBuf, Vec<u8>)> {
    std::fs::create_dir_all(dir)?;
    let (data, labels_path) = (dir.join("samples.u8"), dir.join("labels.u8"));
    let ready = std::fs::metadata(&data).is_ok_and(|m| m.len() == (n * DIM) as u64)
        && std::fs::metadata(&labels_path).is_ok_and(|m| m.len() == n as u64);
    if ready {
        return Ok((data, std::fs::read(&labels_path)?));
    }
    let start = Instant::now();
    let mut out = BufWriter::with_capacity(1 << 22, File::create(&data)?);
    let mut labels = Vec::with_capacity(n);
    let mut row = vec![0u8; DIM];
    for i in 0..n {
        labels.push(sample(i, &mut row));
        out.write_all(&row)?;
    }
    out.flush()?;
    std::fs::write(&labels_path, &labels)?;
    println!(
        "wrote {:.2} GB in {:.1} s",
        (n * DIM) as f64 / 1e9,
        start.elapsed().as_secs_f64()
    );
    Ok((data, labels))
}

/// The samples file read a batch at a time (`pread`, so worker threads share one handle).
struct SampleFile {
    file: File,
    labels: Vec<u8>,
    batch_size: usize,
    workers: usize,
    max_queue_size: usize,
}

impl Dataset for SampleFile {
    fn len(&self) -> usize {
        self.labels.len().div_ceil(self.batch_size)
    }

    fn get(&self, index: usize) -> Result<Batch, BoxError> {
        let start = index * self.batch_size;
        let end = (start + self.batch_size).min(self.labels.len());
        let mut bytes = vec![0u8; (end - start) * DIM];
        self.file.read_exact_at(&mut bytes, (start * DIM) as u64)?;
        let x = ndarray::Array2::from_shape_vec((end - start, DIM), bytes)?;
        Ok(Batch::new(x, self.labels[start..end].to_vec()))
    }

    fn workers(&self) -> usize {
        self.workers
    }

    fn max_queue_size(&self) -> usize {
        self.max_queue_size
    }
}

fn main() -> std::process::ExitCode {
    match run(Args::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> Result<(), BoxError> {
    let n = ((args.gigabytes * 1e9) as usize / DIM).max(args.batch_size);
    let (path, labels) = write_data(&args.dir, n)?;
    let rss_before = peak_rss_mb();
    let mut data = SampleFile {
        file: File::open(&path)?,
        labels,
        batch_size: args.batch_size,
        workers: args.workers,
        max_queue_size: args.max_queue_size,
    };
    let mut model = Sequential::new()
        .add(Input::new([DIM]))
        .add(Rescaling::new(1.0 / 255.0))
        .add(Dense::new(32).activation(Activation::Relu))
        .add(Dense::new(CLASSES).activation(Activation::Softmax))
        .seed(1)
        .build(&kiln::device("flex")?)?
        .compile("adam", "sparse_categorical_crossentropy", ["accuracy"])?;
    let start = Instant::now();
    let history = model.fit_dataset(
        &mut data,
        FitOptions::new().epochs(args.epochs).seed(2).verbose(0),
    )?;
    let secs = start.elapsed().as_secs_f64() / args.epochs as f64;
    println!(
        "{:.2} GB ({n} samples of {DIM} bytes), workers {}, queue {}: {secs:.1} s/epoch, {:.0} \
         samples/s, accuracy {:.4}, peak RSS {:.0} MB (before fit {rss_before:.0} MB)",
        (n * DIM) as f64 / 1e9,
        args.workers,
        args.max_queue_size,
        n as f64 / secs,
        history.last("accuracy").unwrap_or(f64::NAN),
        peak_rss_mb()
    );
    Ok(())
}
