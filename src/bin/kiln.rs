//! `kiln`: run, convert and inspect Keras and Kiln model files from the command line.
//!
//! ```text
//! kiln predict model.keras --input x.npy [--input ids.npy ...] --output out.npz [--batch-size 32]
//! kiln convert model.h5 model.keras
//! kiln summary model.keras
//! ```
//! Model files: Keras 3's `.keras`, legacy Keras `.h5` (read), Kiln's `.safetensors`. The
//! backend is `KILN_BACKEND` (`flex` by default).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use kiln::datasets::npy::{NpyArray, read_npy, write_npz};
use kiln::model::{ArrayInput, Model, load_model};

#[derive(Parser)]
#[command(
    name = "kiln",
    version,
    about = "Run, convert and inspect Keras and Kiln model files"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs a model on `.npy` inputs and writes its outputs to a `.npz` file.
    Predict {
        /// The model: `.keras`, `.h5` or `.safetensors`.
        model: PathBuf,
        /// One `.npy` file per model input, in the model's input order (float32, or integer
        /// ids where the model takes them).
        #[arg(long = "input", required = true)]
        inputs: Vec<PathBuf>,
        /// Where to write the outputs: one array per output, named as the model's outputs.
        #[arg(long)]
        output: PathBuf,
        /// Samples per batch.
        #[arg(long, default_value_t = 32)]
        batch_size: usize,
    },
    /// Converts a model file: `.keras`, `.h5` (read only) or `.safetensors` in, `.keras` or
    /// `.safetensors` out, the format named by the extension.
    Convert {
        /// The model to read.
        input: PathBuf,
        /// The file to write.
        output: PathBuf,
    },
    /// Prints Keras's summary table of a model.
    Summary {
        /// The model: `.keras`, `.h5` or `.safetensors`.
        model: PathBuf,
    },
}

/// What the command line can get wrong, besides what the library reports.
#[derive(Debug, thiserror::Error)]
enum CliError {
    #[error(transparent)]
    Kiln(#[from] kiln::Error),
    #[error("the model takes {expected} inputs ({names}), {given} --input files were given")]
    InputCount {
        expected: usize,
        given: usize,
        names: String,
    },
    #[error(
        "{file}: input `{input}` takes {expected} values, the file holds {actual}; convert it \
         (numpy: `a.astype(\"{expected}\")`)"
    )]
    InputDtype {
        file: PathBuf,
        input: String,
        expected: String,
        actual: &'static str,
    },
}

impl From<kiln::model::Error> for CliError {
    fn from(e: kiln::model::Error) -> Self {
        CliError::Kiln(e.into())
    }
}

impl From<kiln::datasets::Error> for CliError {
    fn from(e: kiln::datasets::Error) -> Self {
        CliError::Kiln(e.into())
    }
}

fn open(path: &Path) -> Result<Model, CliError> {
    let device = kiln::Backend::from_env()
        .and_then(kiln::Backend::device)
        .map_err(kiln::Error::from)?;
    Ok(load_model(path, &device)?)
}

fn as_input(array: &NpyArray) -> Option<&dyn ArrayInput> {
    Some(match array {
        NpyArray::F32(a) => a,
        NpyArray::F64(a) => a,
        NpyArray::I32(a) => a,
        NpyArray::I64(a) => a,
        NpyArray::U8(a) => a,
        _ => return None,
    })
}

fn predict(
    model: &Path,
    inputs: &[PathBuf],
    output: &Path,
    batch_size: usize,
) -> Result<(), CliError> {
    let model = open(model)?;
    let names = model.input_names();
    if names.len() != inputs.len() {
        return Err(CliError::InputCount {
            expected: names.len(),
            given: inputs.len(),
            names: names.join(", "),
        });
    }
    let dtypes = model.input_dtypes();
    let mut arrays = Vec::with_capacity(inputs.len());
    for ((file, name), dtype) in inputs.iter().zip(&names).zip(&dtypes) {
        let array = read_npy(file)?;
        let wants_ids = dtype.starts_with("int") || dtype.starts_with("uint");
        if wants_ids && !array.is_integer() {
            return Err(CliError::InputDtype {
                file: file.clone(),
                input: name.clone(),
                expected: dtype.clone(),
                actual: array.dtype(),
            });
        }
        arrays.push(array);
    }
    let views: Vec<&dyn ArrayInput> = arrays.iter().filter_map(as_input).collect();
    let outputs = model.predict_many(&views, batch_size)?;
    let named: Vec<(String, _)> = model.output_names().into_iter().zip(outputs).collect();
    write_npz(output, &named)?;
    for (name, array) in &named {
        println!("{name}: {:?}", array.shape());
    }
    Ok(())
}

fn run(cli: Cli) -> Result<(), CliError> {
    match cli.command {
        Command::Predict {
            model,
            inputs,
            output,
            batch_size,
        } => predict(&model, &inputs, &output, batch_size),
        Command::Convert { input, output } => {
            open(&input)?.save(&output)?;
            println!("wrote {}", output.display());
            Ok(())
        }
        Command::Summary { model } => {
            print!("{}", open(&model)?.summary());
            Ok(())
        }
    }
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", kiln::error_chain(&e));
            ExitCode::FAILURE
        }
    }
}
