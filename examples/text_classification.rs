//! Text classification from a folder of text files, as keras.io's "text classification from
//! scratch" does it: `text_dataset_from_directory` (labels from the sub-folder names, a seeded
//! 80/20 split), a `TextVectorization` adapted on the training texts as the model's first
//! layer (keras.io's end-to-end model: it turns each batch of raw texts into token ids on the
//! host), then `Embedding` → `GlobalAveragePooling1D` → `Dense`; the model is saved as a
//! `.keras` file with its vocabulary and, loaded back, classifies raw strings.
//!
//! The example writes its own corpus first: short film reviews, `pos/` and `neg/`, made of
//! common filler words with a few words of opinion, some of them mixed.
//!
//! ```sh
//! cargo run --release --example text_classification          # writes target/text_classification/
//! ```
//!
//! Measured (2-core VM, flex): validation accuracy 0.9475 after 10 epochs on 1,600 training
//! texts, 0.02 s/epoch; the loaded file gives P(positive) 0.937 for "A wonderful, moving film."
//! and 0.218 for "Two hours of dull acting.".

use std::path::Path;

use clap::Parser;
use kiln::datasets::{
    Subset, TextDatasetOptions, TextVectorization, text_dataset_from_directory_both,
};
use kiln::model::GlobalAveragePooling1d;
use kiln::prelude::*;
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};

#[derive(Parser)]
#[command(about = "Classify reviews from a folder of text files")]
struct Args {
    /// Passes over the training texts.
    #[arg(long, default_value_t = 10)]
    epochs: usize,
    /// Reviews per class written to the folder.
    #[arg(long, default_value_t = 1000)]
    per_class: usize,
    /// Where the corpus goes.
    #[arg(long, default_value = "target/text_classification")]
    dir: std::path::PathBuf,
}

const FILLER: &[&str] = &[
    "the",
    "movie",
    "film",
    "plot",
    "acting",
    "was",
    "and",
    "a",
    "it",
    "story",
    "cast",
    "director",
    "scenes",
    "music",
    "ending",
    "characters",
    "i",
    "watched",
    "this",
    "with",
    "my",
    "friends",
    "on",
    "saturday",
    "at",
    "two",
    "hours",
    "long",
    "script",
    "camera",
    "of",
    "in",
    "for",
    "to",
];
const POSITIVE: &[&str] = &[
    "great",
    "wonderful",
    "loved",
    "excellent",
    "superb",
    "enjoyable",
    "brilliant",
    "moving",
];
const NEGATIVE: &[&str] = &[
    "awful", "boring", "hated", "terrible", "dull", "waste", "poor", "clumsy",
];

/// One review: 10 to 30 filler words, 1 to 3 words of its own opinion, and a third of the time
/// one word of the other.
fn review(positive: bool, rng: &mut StdRng) -> String {
    let (own, other) = if positive {
        (POSITIVE, NEGATIVE)
    } else {
        (NEGATIVE, POSITIVE)
    };
    let mut words: Vec<String> = (0..rng.random_range(10..30))
        .filter_map(|_| FILLER.choose(rng).map(|w| (*w).to_string()))
        .collect();
    let mut insert = |w: &str, rng: &mut StdRng| {
        let at = rng.random_range(0..=words.len());
        words.insert(at, w.to_string());
    };
    for _ in 0..rng.random_range(1..=3) {
        if let Some(w) = own.choose(rng) {
            insert(w, rng);
        }
    }
    if rng.random_bool(1.0 / 3.0)
        && let Some(w) = other.choose(rng)
    {
        insert(w, rng);
    }
    let mut text = words.join(" ");
    text.push('.');
    // Some capitals and punctuation for the standardization to remove.
    if rng.random_bool(0.5) {
        text = format!("{}{}", text[..1].to_uppercase(), &text[1..]);
    }
    text
}

fn write_corpus(dir: &Path, per_class: usize) -> kiln::Result<()> {
    let mut rng = StdRng::seed_from_u64(11);
    for (class, positive) in [("neg", false), ("pos", true)] {
        let folder = dir.join(class);
        std::fs::create_dir_all(&folder).map_err(|e| kiln::datasets::Error::Io {
            path: folder.clone(),
            source: e,
        })?;
        for i in 0..per_class {
            let path = folder.join(format!("{i:05}.txt"));
            std::fs::write(&path, review(positive, &mut rng)).map_err(|e| {
                kiln::datasets::Error::Io {
                    path: path.clone(),
                    source: e,
                }
            })?;
        }
    }
    Ok(())
}

fn main() -> std::process::ExitCode {
    match run(Args::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", kiln::error_chain(&*e));
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let _ = std::fs::remove_dir_all(&args.dir);
    write_corpus(&args.dir, args.per_class)?;
    let options = TextDatasetOptions::default()
        .batch_size(32)
        .validation_split(0.2)
        .subset(Subset::Both)
        .seed(1337);
    let (train, val) = text_dataset_from_directory_both(&args.dir, &options)?;
    println!(
        "{} training and {} validation texts",
        train.num_samples(),
        val.num_samples()
    );
    // Keras: `vectorize_layer.adapt(train_ds.map(lambda x, y: x))`.
    let sequence_length = 40;
    let mut vectorizer = TextVectorization::new()
        .max_tokens(2000)
        .output_sequence_length(sequence_length);
    let mut texts = Vec::new();
    for i in 0..train.len() {
        texts.extend(train.get(i)?.texts);
    }
    vectorizer.adapt(&texts)?;
    println!(
        "vocabulary of {} tokens, starting {:?}",
        vectorizer.vocabulary().len(),
        &vectorizer.vocabulary()[..8]
    );
    let vocabulary = vectorizer.vocabulary().len();
    // The vectorizer is the model's first layer (keras.io's end-to-end model): it runs on the
    // host, on each batch of raw texts, and the model is saved with its vocabulary.
    let mut train = train;
    let mut model = Sequential::new()
        .add(Input::new(Vec::<usize>::new()).dtype("string"))
        .add(vectorizer)
        .add(Embedding::new(vocabulary, 16))
        .add(GlobalAveragePooling1d::new())
        .add(Dense::new(16).activation(Activation::Relu))
        .add(Dense::new(1).activation(Activation::Sigmoid))
        .seed(1)
        .build(&kiln::device("flex")?)?
        .compile("adam", "binary_crossentropy", ["accuracy"])?;
    println!("{}", model.summary());
    let start = std::time::Instant::now();
    model.fit_dataset(
        &mut train,
        FitOptions::new()
            .epochs(args.epochs)
            .seed(2)
            .verbose(2)
            .validation_dataset(&val),
    )?;
    let scores = model.evaluate_dataset(&val)?;
    println!(
        "validation accuracy {:.4} (loss {:.4}) after {} epochs, {:.2} s/epoch",
        scores["accuracy"],
        scores["loss"],
        args.epochs,
        start.elapsed().as_secs_f64() / args.epochs as f64
    );
    // Raw strings in, probabilities out, from the saved file too.
    let path = args.dir.join("reviews.keras");
    model.save(&path)?;
    let loaded = kiln::model::load_model(&path, &kiln::device("flex")?)?;
    let reviews = ndarray::array!["A wonderful, moving film.", "Two hours of dull acting."]
        .mapv(String::from);
    let p = loaded.predict(&reviews, 32)?;
    println!(
        "saved to {}; P(positive) of {:?}: {:.3}, {:.3}",
        path.display(),
        reviews.to_vec(),
        p[[0, 0]],
        p[[1, 0]]
    );
    Ok(())
}
