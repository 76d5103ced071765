//! Seeded mutation fuzzing of every parser a user's file reaches: IDX (MNIST), the architecture
//! JSON (Kiln's and Keras's), Kiln's model and weights file (safetensors), Keras's `.keras`
//! (the zip, its HDF5 and its JSON), `.weights.h5`, legacy Keras 2 `.h5`, `.npy`/`.npz`,
//! TensorBoard event files (`TensorBoard::read_events`), the files of Keras's data sets (IMDB,
//! Reuters and housing `.npz` with pickled object arrays, CIFAR `.tar.gz` of pickles), CSV
//! tables, and the images `image_dataset_from_directory` reads.
//! Each input must give a result or a typed error: never a panic, never an abort, never more
//! than 5 s. An architecture config that is accepted must also survive its own round trip
//! (`to_json` reads back to the same config, and builds when the original builds).
//!
//! `cargo test --test fuzz` runs a few hundred inputs per format (seconds). The long run, ≥
//! 50,000 per format, is `tests/fuzz_long.sh` (an address-space limit so that an
//! absurd allocation aborts instead of swapping).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use kiln::model::{
    BatchNormalization, Conv2d, CustomObjects, Embedding, Flatten, Lstm, MaxPooling2d, ModelConfig,
    load_model,
};
use kiln::prelude::*;

// ---------------------------------------------------------------------------------------------
// Mutations.

/// xorshift64: fast, seeded, no dependency.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

/// Values that break sizes and offsets: zero, one, signs, powers of two, maxima.
const INTERESTING: [u64; 12] = [
    0,
    1,
    0x7f,
    0x80,
    0xff,
    0x7fff,
    0xffff,
    0x7fff_ffff,
    0xffff_ffff,
    1 << 40,
    i64::MAX as u64,
    u64::MAX,
];

/// One to a few byte-level mutations: bit flips, interesting integers written over a field,
/// random bytes, inserted or removed runs, a copied block, truncation.
fn mutate_bytes(bytes: &mut Vec<u8>, rng: &mut Rng) {
    if bytes.is_empty() {
        bytes.push(rng.next() as u8);
        return;
    }
    for _ in 0..1 + rng.below(4) {
        let len = bytes.len();
        let at = rng.below(len);
        match rng.below(8) {
            0 | 1 => bytes[at] ^= 1 << rng.below(8),
            2 => bytes[at] = rng.next() as u8,
            3 => {
                let value = INTERESTING[rng.below(INTERESTING.len())];
                let width = [1, 2, 4, 8][rng.below(4)];
                let raw = if rng.below(2) == 0 {
                    value.to_le_bytes()
                } else {
                    value.to_be_bytes()
                };
                for (k, b) in raw.iter().take(width).enumerate() {
                    if let Some(slot) = bytes.get_mut(at + k) {
                        *slot = *b;
                    }
                }
            }
            4 => {
                let n = 1 + rng.below(16);
                let end = (at + n).min(len);
                bytes.drain(at..end);
                if bytes.is_empty() {
                    return;
                }
            }
            5 => {
                let n = 1 + rng.below(16);
                let run: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
                bytes.splice(at..at, run);
            }
            6 => {
                let from = rng.below(len);
                let n = (1 + rng.below(64)).min(len - from);
                let block = bytes[from..from + n].to_vec();
                bytes.splice(at..at, block);
            }
            _ => {
                bytes.truncate(at);
                if bytes.is_empty() {
                    return;
                }
            }
        }
    }
}

/// Token-level mutations of JSON text, the ones byte flips rarely make: numbers replaced by
/// huge, negative, fractional or zero ones, strings by other layer names or by numbers, values
/// by `null`/`[]`/`{}`, and keys dropped. Falls back to byte mutations half of the time.
fn mutate_json(text: &str, rng: &mut Rng) -> Vec<u8> {
    if rng.below(2) == 0 {
        let mut bytes = text.as_bytes().to_vec();
        mutate_bytes(&mut bytes, rng);
        return bytes;
    }
    const NUMBERS: [&str; 14] = [
        "0",
        "-1",
        "1e12",
        "1000000000000",
        "18446744073709551615",
        "9223372036854775808",
        "-9223372036854775809",
        "0.5",
        "1e400",
        "100000",
        "65536",
        "3",
        "true",
        "null",
    ];
    const STRINGS: [&str; 10] = [
        "\"Dense\"",
        "\"Conv2D\"",
        "\"same\"",
        "\"channels_first\"",
        "\"\"",
        "\"relu\"",
        "\"nope\"",
        "[]",
        "{}",
        "7",
    ];
    let mut out = text.to_string();
    for _ in 0..1 + rng.below(3) {
        let bytes = out.as_bytes();
        // Find the token around a random position.
        let at = rng.below(bytes.len());
        let start = (0..=at)
            .rev()
            .find(|&i| !(bytes[i].is_ascii_digit() || b"-.eE+".contains(&bytes[i])))
            .map_or(0, |i| i + 1);
        if start < bytes.len() && (bytes[start].is_ascii_digit() || bytes[start] == b'-') {
            let end = (start..bytes.len())
                .find(|&i| !(bytes[i].is_ascii_digit() || b"-.eE+".contains(&bytes[i])))
                .unwrap_or(bytes.len());
            let with = NUMBERS[rng.below(NUMBERS.len())];
            out.replace_range(start..end, with);
            continue;
        }
        // A string value: from the quote before `at` to the next one.
        if let Some(q) = out[..at].rfind('"')
            && let Some(len) = out[q + 1..].find('"')
        {
            let end = q + 1 + len + 1;
            let dropping_key = out[end..].trim_start().starts_with(':');
            if dropping_key && rng.below(2) == 0 {
                // Drop `"key": value,` up to the next comma at this depth (roughly).
                let tail = &out[end..];
                let stop = tail.find(',').map_or(tail.len(), |c| c + 1);
                out.replace_range(q..end + stop, "");
            } else {
                let with = STRINGS[rng.below(STRINGS.len())];
                out.replace_range(q..end, with);
            }
        }
    }
    out.into_bytes()
}

// ---------------------------------------------------------------------------------------------
// The harness.

#[derive(Default)]
struct Report {
    inputs: usize,
    accepted: usize,
    errors: usize,
    panics: Vec<(usize, String)>,
    slowest: Duration,
}

/// Runs `target` on `count` mutants of the `seeds`, each mutant from its own seed
/// (`first_seed + i`), and reports; a panic is caught and recorded with its seed.
fn run(
    format: &str,
    count: usize,
    first_seed: u64,
    seeds: &[Vec<u8>],
    mutate: &dyn Fn(&[u8], &mut Rng) -> Vec<u8>,
    target: &mut dyn FnMut(&[u8]) -> Result<(), String>,
) -> Report {
    let mut report = Report::default();
    for i in 0..count {
        let mut rng = Rng::new(first_seed + i as u64);
        let seed = &seeds[rng.below(seeds.len())];
        let input = mutate(seed, &mut rng);
        let start = Instant::now();
        let result = catch_unwind(AssertUnwindSafe(|| target(&input)));
        report.slowest = report.slowest.max(start.elapsed());
        report.inputs += 1;
        match result {
            Ok(Ok(())) => report.accepted += 1,
            Ok(Err(_)) => report.errors += 1,
            Err(payload) => {
                let message = payload
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_string()))
                    .unwrap_or_default();
                report.panics.push((i, message));
            }
        }
    }
    println!(
        "{format}: {} inputs, {} accepted, {} typed errors, {} panics, slowest {:.3} s",
        report.inputs,
        report.accepted,
        report.errors,
        report.panics.len(),
        report.slowest.as_secs_f64()
    );
    report
}

fn check(format: &str, report: &Report) {
    assert!(
        report.panics.is_empty(),
        "{format}: {} panics, first: mutant {} `{}`",
        report.panics.len(),
        report.panics[0].0,
        report.panics[0].1
    );
    assert!(
        report.slowest < Duration::from_secs(5),
        "{format}: an input took {:?}",
        report.slowest
    );
    assert!(report.errors > 0, "{format}: no mutant was refused");
}

fn count(default: usize) -> usize {
    std::env::var("KILN_FUZZ_INPUTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn byte_mutant(seed: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut bytes = seed.to_vec();
    mutate_bytes(&mut bytes, rng);
    bytes
}

/// Fuzzed models may not ask for more than this (the default bound is 2^31 values; a mutant
/// building a model of 8 GiB would only make the run slow).
const FUZZ_MODEL_VALUES: usize = 1 << 22;

// ---------------------------------------------------------------------------------------------
// Seeds.

/// A small model using many layer kinds, so its files and config reach many readers.
fn varied_model() -> Sequential {
    Sequential::new()
        .add(Input::new([8, 8, 1]))
        .add(Conv2d::new(4, 3).activation(Activation::Relu))
        .add(BatchNormalization::new())
        .add(MaxPooling2d::new(2))
        .add(Flatten::new())
        .add(Dense::new(6).activation(Activation::Tanh))
        .add(Dropout::new(0.25))
        .add(Dense::new(3).activation(Activation::Softmax))
        .seed(1)
}

fn sequence_model() -> Sequential {
    Sequential::new()
        .add(Input::new([5]))
        .add(Embedding::new(20, 4))
        .add(Lstm::new(3))
        .add(Dense::new(2))
        .seed(2)
}

fn json_seeds() -> Vec<Vec<u8>> {
    let mut seeds = vec![
        varied_model().to_json().unwrap().into_bytes(),
        sequence_model().to_json().unwrap().into_bytes(),
    ];
    for name in ["multi_io", "nested", "residual", "siamese"] {
        seeds.push(std::fs::read(fixtures().join(format!("kiln-configs/{name}.json"))).unwrap());
    }
    for name in [
        "multi_io",
        "mini_resnet",
        "bilstm_text",
        "transformer_block",
    ] {
        seeds.push(
            std::fs::read(fixtures().join(format!("keras-models/{name}/config.json"))).unwrap(),
        );
    }
    seeds
}

fn idx_seeds() -> Vec<Vec<u8>> {
    // 3 images of 4x5 and their labels, in the real IDX layout.
    let mut images = vec![0, 0, 0x08, 0x03, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0, 5];
    images.extend((0..60).map(|i| (i * 7 % 256) as u8));
    let labels = vec![0, 0, 0x08, 0x01, 0, 0, 0, 3, 1, 7, 9];
    vec![images, labels]
}

// ---------------------------------------------------------------------------------------------
// Targets.

fn json_target(input: &[u8]) -> Result<(), String> {
    let Ok(text) = std::str::from_utf8(input) else {
        return Err("not UTF-8".into());
    };
    let custom = CustomObjects::new();
    let config = ModelConfig::from_json_with(text, &custom).map_err(|e| e.to_string())?;
    // Accepted: it must read back from its own JSON, to the same JSON.
    let written = config.to_json().map_err(|e| e.to_string())?;
    let again = ModelConfig::from_json_with(&written, &custom)
        .unwrap_or_else(|e| panic!("accepted config does not read back: {e}\n{written}"));
    assert_eq!(
        again.to_json().unwrap(),
        written,
        "the round trip changed the config"
    );
    let built = config.build(&Device::flex());
    if built.is_ok() {
        again
            .build(&Device::flex())
            .unwrap_or_else(|e| panic!("built, but its round trip does not: {e}\n{written}"));
    }
    built.map(|_| ()).map_err(|e| e.to_string())
}

fn idx_target(input: &[u8]) -> Result<(), String> {
    let path = Path::new("fuzz.idx");
    let images = kiln::datasets::idx::read_images(path, input).map(|_| ());
    let labels = kiln::datasets::idx::read_labels(path, input).map(|_| ());
    let parsed = kiln::datasets::idx::parse_idx_u8(input, path).map(|_| ());
    images.or(labels).or(parsed).map_err(|e| e.to_string())
}

/// A target that writes the mutant to `path` and runs `load` on it.
fn file_target<'a>(
    path: &'a Path,
    load: impl Fn(&Path) -> Result<(), String> + 'a,
) -> impl FnMut(&[u8]) -> Result<(), String> + 'a {
    move |input| {
        std::fs::write(path, input).unwrap();
        load(path)
    }
}

/// Splits a zip into its entries and puts them back: mutants of one entry reach its reader
/// (a flipped byte inside the zip fails the entry's CRC first).
fn unzip(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    (0..archive.len())
        .map(|i| {
            let mut entry = archive.by_index(i).unwrap();
            let name = entry.name().unwrap().to_string();
            let mut data = Vec::new();
            std::io::Read::read_to_end(&mut entry, &mut data).unwrap();
            (name, data)
        })
        .collect()
}

fn rezip(entries: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut out = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, data) in entries {
        out.start_file(name.as_str(), zip::write::SimpleFileOptions::default())
            .unwrap();
        std::io::Write::write_all(&mut out, data).unwrap();
    }
    out.finish().unwrap().into_inner()
}

// ---------------------------------------------------------------------------------------------
// The formats.

fn fuzz_json(n: usize) -> Report {
    kiln::model::set_max_model_values(FUZZ_MODEL_VALUES);
    let seeds = json_seeds();
    let strings: Vec<String> = seeds
        .iter()
        .map(|s| String::from_utf8(s.clone()).unwrap())
        .collect();
    let mutate = |seed: &[u8], rng: &mut Rng| {
        let text = strings
            .iter()
            .find(|s| s.as_bytes() == seed)
            .map_or("", String::as_str);
        mutate_json(text, rng)
    };
    run("architecture JSON", n, 1, &seeds, &mutate, &mut json_target)
}

fn fuzz_idx(n: usize) -> Report {
    run("IDX", n, 2, &idx_seeds(), &byte_mutant, &mut idx_target)
}

fn fuzz_safetensors(n: usize) -> Report {
    kiln::model::set_max_model_values(FUZZ_MODEL_VALUES);
    let device = Device::flex();
    let dir = tempfile::tempdir().unwrap();
    let mut seeds = Vec::new();
    for (k, model) in [varied_model(), sequence_model()].iter().enumerate() {
        let built = model.build(&device).unwrap();
        let path = dir.path().join(format!("seed{k}.safetensors"));
        built.save(&path).unwrap();
        seeds.push(std::fs::read(&path).unwrap());
        built.save_weights(&path).unwrap();
        seeds.push(std::fs::read(&path).unwrap());
    }
    let target_model = varied_model().build(&device).unwrap();
    let path = dir.path().join("mutant.safetensors");
    let mut target = file_target(&path, |p| {
        let whole = load_model(p, &device).map(|_| ());
        let weights = target_model.clone().load_weights(p).map(|_| ());
        whole.or(weights).map_err(|e| e.to_string())
    });
    run("Kiln safetensors", n, 3, &seeds, &byte_mutant, &mut target)
}

fn fuzz_keras(n: usize) -> Report {
    kiln::model::set_max_model_values(FUZZ_MODEL_VALUES);
    let device = Device::flex();
    let real = std::fs::read(fixtures().join("keras-models/multi_io/model.keras")).unwrap();
    let parts = unzip(&real);
    let seeds = vec![real];
    let mutate = |seed: &[u8], rng: &mut Rng| -> Vec<u8> {
        match rng.below(3) {
            0 => byte_mutant(seed, rng),
            k => {
                let target = if k == 1 {
                    "model.weights.h5"
                } else {
                    "config.json"
                };
                let mut parts = parts.clone();
                for (name, data) in &mut parts {
                    if name == target {
                        *data = if k == 2 && rng.below(2) == 0 {
                            mutate_json(&String::from_utf8_lossy(data), rng)
                        } else {
                            byte_mutant(data, rng)
                        };
                    }
                }
                rezip(&parts)
            }
        }
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mutant.keras");
    let mut target = file_target(&path, |p| {
        load_model(p, &device)
            .map(|_| ())
            .map_err(|e| e.to_string())
    });
    run(".keras", n, 4, &seeds, &mutate, &mut target)
}

fn fuzz_weights_h5(n: usize) -> Report {
    let device = Device::flex();
    let dir = tempfile::tempdir().unwrap();
    let model = varied_model().build(&device).unwrap();
    let seed_path = dir.path().join("seed.weights.h5");
    model.save_weights(&seed_path).unwrap();
    let seeds = vec![std::fs::read(&seed_path).unwrap()];
    let path = dir.path().join("mutant.weights.h5");
    let mut target = file_target(&path, |p| {
        model
            .clone()
            .load_weights(p)
            .map(|_| ())
            .map_err(|e| e.to_string())
    });
    run(".weights.h5", n, 5, &seeds, &byte_mutant, &mut target)
}

fn fuzz_legacy_h5(n: usize) -> Report {
    kiln::model::set_max_model_values(FUZZ_MODEL_VALUES);
    let device = Device::flex();
    let seeds: Vec<Vec<u8>> = ["tf_keras_mlp.h5", "multi_io.h5"]
        .iter()
        .map(|f| std::fs::read(fixtures().join("keras-extra/legacy_h5").join(f)).unwrap())
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mutant.h5");
    let mut target = file_target(&path, |p| {
        load_model(p, &device)
            .map(|_| ())
            .map_err(|e| e.to_string())
    });
    run("legacy .h5", n, 6, &seeds, &byte_mutant, &mut target)
}

fn fuzz_npy(n: usize) -> Report {
    use kiln::datasets::npy::{parse_npy, read_npz, write_npz};
    let dir = tempfile::tempdir().unwrap();
    let mut seeds: Vec<Vec<u8>> = ["input_0.npy", "input_1.npy"]
        .iter()
        .map(|f| std::fs::read(fixtures().join("keras-models/multi_io").join(f)).unwrap())
        .collect();
    let npz = dir.path().join("seed.npz");
    write_npz(
        &npz,
        &[(
            "a".into(),
            ndarray::ArrayD::from_elem(ndarray::IxDyn(&[2, 3]), 1.5f32),
        )],
    )
    .unwrap();
    seeds.push(std::fs::read(&npz).unwrap());
    seeds.push(std::fs::read(fixtures().join("keras-models/multi_io/expected.npz")).unwrap());
    let path = dir.path().join("mutant.npz");
    let mut target = |input: &[u8]| -> Result<(), String> {
        let npy = parse_npy(Path::new("mutant.npy"), input).map(|_| ());
        std::fs::write(&path, input).unwrap();
        let npz = read_npz(&path).map(|_| ());
        npy.or(npz).map_err(|e| e.to_string())
    };
    run(".npy/.npz", n, 7, &seeds, &byte_mutant, &mut target)
}

fn fuzz_tensorboard_events(n: usize) -> Report {
    use kiln::train::{Loss, Metric, TensorBoard, UpdateFreq};
    let dir = tempfile::tempdir().unwrap();
    // Real event files: a short fit with per-batch scalars and weight histograms.
    let x = ndarray::Array2::from_shape_fn((16, 3), |(i, j)| ((i + 2 * j) % 5) as f32 / 5.0);
    let y = ndarray::Array1::from_shape_fn(16, |i| (i % 2) as u8);
    let mut model = Sequential::new()
        .add(Input::new([3]))
        .add(Dense::new(2).activation(Activation::Softmax))
        .build(&Device::flex())
        .unwrap()
        .compile(
            Optimizer::adam(),
            Loss::SparseCategoricalCrossentropy,
            [Metric::Accuracy],
        )
        .unwrap();
    let mut board = TensorBoard::new(dir.path().join("logs"))
        .update_freq(UpdateFreq::Batches(1))
        .histogram_freq(1);
    model
        .fit(
            &x,
            &y,
            FitOptions::new()
                .epochs(2)
                .batch_size(8)
                .verbose(0)
                .validation_split(0.25)
                .callback(&mut board),
        )
        .unwrap();
    let seeds: Vec<Vec<u8>> = board
        .files()
        .iter()
        .map(|p| std::fs::read(p).unwrap())
        .collect();
    assert!(!seeds.is_empty());
    let path = dir.path().join("mutant.tfevents");
    let mut target = |input: &[u8]| -> Result<(), String> {
        std::fs::write(&path, input).unwrap();
        TensorBoard::read_events(&path)
            .map(|_| ())
            .map_err(|e| e.to_string())
    };
    run(
        "TensorBoard events",
        n,
        8,
        &seeds,
        &byte_mutant,
        &mut target,
    )
}

fn dataset_seed(name: &str) -> Vec<u8> {
    std::fs::read(fixtures().join("datasets").join(name)).unwrap()
}

/// Keras's `.npz` data sets (IMDB and Reuters hold pickled object arrays): each mutant is the
/// archive rezipped with one entry's bytes mutated, so the pickle and `.npy` readers see it.
fn fuzz_keras_npz(n: usize) -> Report {
    use kiln::datasets::remote::{FileHash, Source};
    use kiln::datasets::{boston_housing, california_housing, imdb, reuters};
    let names = [
        "imdb.npz",
        "reuters.npz",
        "boston_housing.npz",
        "california_housing.npz",
    ];
    let seeds: Vec<Vec<u8>> = names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let mut tagged = vec![i as u8];
            tagged.extend(dataset_seed(name));
            tagged
        })
        .collect();
    let mutate = |seed: &[u8], rng: &mut Rng| -> Vec<u8> {
        let (tag, zip) = (seed[0], &seed[1..]);
        let mut entries = unzip(zip);
        let k = rng.below(entries.len());
        mutate_bytes(&mut entries[k].1, rng);
        let mut out = vec![tag];
        out.extend(rezip(&entries));
        out
    };
    let dir = tempfile::tempdir().unwrap();
    let mut target = |input: &[u8]| -> Result<(), String> {
        let (tag, bytes) = input.split_first().map_or((0, &[][..]), |(t, rest)| {
            (usize::from(*t) % names.len(), rest)
        });
        let name = names[tag];
        std::fs::write(dir.path().join(name), bytes).unwrap();
        let source = Source::new().file_hash(name, FileHash::Unchecked);
        let result = match tag {
            0 => imdb::load_data_from(dir.path(), &imdb::LoadOptions::new().source(source))
                .map(|_| ()),
            1 => reuters::load_data_from(dir.path(), &reuters::LoadOptions::new().source(source))
                .map(|_| ()),
            2 => boston_housing::load_data_from(
                dir.path(),
                &boston_housing::LoadOptions::new().source(source),
            )
            .map(|_| ()),
            _ => california_housing::load_data_from(
                dir.path(),
                &california_housing::LoadOptions::new().source(source),
            )
            .map(|_| ()),
        };
        result.map_err(|e| e.to_string())
    };
    run("Keras .npz data sets", n, 9, &seeds, &mutate, &mut target)
}

/// CIFAR's `.tar.gz` of pickled batches: each mutant is the seed's tar mutated, then gzipped, so
/// the tar and pickle readers see it.
fn fuzz_cifar(n: usize) -> Report {
    use kiln::datasets::remote::{FileHash, Source};
    use kiln::datasets::{cifar10, cifar100};
    use std::io::{Read, Write};
    let names = ["cifar-10-python.tar.gz", "cifar-100-python.tar.gz"];
    let seeds: Vec<Vec<u8>> = names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let mut tar = Vec::new();
            flate2::read::GzDecoder::new(dataset_seed(name).as_slice())
                .read_to_end(&mut tar)
                .unwrap();
            let mut tagged = vec![i as u8];
            tagged.extend(tar);
            tagged
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let mut target = |input: &[u8]| -> Result<(), String> {
        let (tag, tar) = input.split_first().map_or((0, &[][..]), |(t, rest)| {
            (usize::from(*t) % names.len(), rest)
        });
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(tar).unwrap();
        let name = names[tag];
        std::fs::write(dir.path().join(name), gz.finish().unwrap()).unwrap();
        let source = Source::new()
            .cache_dir(dir.path())
            .offline()
            .file_hash(name, FileHash::Unchecked);
        let result = if tag == 0 {
            cifar10::load_data_with(&source).map(|_| ())
        } else {
            cifar100::load_data_with(&cifar100::LoadOptions::new().source(source)).map(|_| ())
        };
        result.map_err(|e| e.to_string())
    };
    run("CIFAR .tar.gz", n, 10, &seeds, &byte_mutant, &mut target)
}

/// CSV tables with a header, features and an integer target column.
fn fuzz_csv(n: usize) -> Report {
    use kiln::datasets::{Column, CsvOptions, read_csv};
    let seeds: Vec<Vec<u8>> = [
        "a,b,label\n1.5,2,0\n-3,4e2,1\n0.25,,1\n",
        "x;y;z;class\n1;2;3;4\n5;6;7;8\n",
        "h1,h2\n\n1,2\n\"3\",4\n5,6,7\n",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mutant.csv");
    let mut target = |input: &[u8]| -> Result<(), String> {
        std::fs::write(&path, input).unwrap();
        let options = CsvOptions::default()
            .targets([Column::Name("label".into())])
            .integer_targets(true);
        let with_target = read_csv(&path, &options).map(|_| ());
        let plain = read_csv(&path, &CsvOptions::default()).map(|_| ());
        with_target.or(plain).map_err(|e| e.to_string())
    };
    run("CSV", n, 11, &seeds, &byte_mutant, &mut target)
}

/// Image files in a class folder, read back a batch at a time.
fn fuzz_images(n: usize) -> Report {
    use kiln::datasets::{Dataset, ImageDatasetOptions, image_dataset_from_directory};
    let picture =
        image::RgbImage::from_fn(9, 7, |x, y| image::Rgb([x as u8 * 20, y as u8 * 30, 7]));
    let seeds: Vec<Vec<u8>> = [
        image::ImageFormat::Png,
        image::ImageFormat::Bmp,
        image::ImageFormat::Gif,
        image::ImageFormat::Jpeg,
    ]
    .iter()
    .map(|format| {
        let mut bytes = std::io::Cursor::new(Vec::new());
        image::DynamicImage::ImageRgb8(picture.clone())
            .write_to(&mut bytes, *format)
            .unwrap();
        bytes.into_inner()
    })
    .collect();
    let dir = tempfile::tempdir().unwrap();
    for class in ["a", "b"] {
        std::fs::create_dir_all(dir.path().join(class)).unwrap();
    }
    picture.save(dir.path().join("b/good.png")).unwrap();
    let mut target = |input: &[u8]| -> Result<(), String> {
        // The same bytes under each extension, so every decoder is tried.
        for ext in ["png", "bmp", "gif", "jpg"] {
            let _ = std::fs::remove_file(dir.path().join("a/mutant.png"));
            let _ = std::fs::remove_file(dir.path().join("a/mutant.bmp"));
            let _ = std::fs::remove_file(dir.path().join("a/mutant.gif"));
            let _ = std::fs::remove_file(dir.path().join("a/mutant.jpg"));
            std::fs::write(dir.path().join(format!("a/mutant.{ext}")), input).unwrap();
            let options = ImageDatasetOptions::default()
                .image_size(8, 8)
                .shuffle(false);
            let data =
                image_dataset_from_directory(dir.path(), &options).map_err(|e| e.to_string())?;
            for i in 0..data.len() {
                data.get(i).map_err(|e| e.to_string())?;
            }
        }
        Ok(())
    };
    run("images", n, 12, &seeds, &byte_mutant, &mut target)
}

// ---------------------------------------------------------------------------------------------
// The tests: one per format, bounded for CI; the long run takes KILN_FUZZ_INPUTS.

#[test]
fn fuzz_architecture_json() {
    check("architecture JSON", &fuzz_json(count(5000)));
}

#[test]
fn fuzz_idx_files() {
    check("IDX", &fuzz_idx(count(3000)));
}

#[test]
fn fuzz_kiln_safetensors_files() {
    check("Kiln safetensors", &fuzz_safetensors(count(1500)));
}

#[test]
fn fuzz_keras_files() {
    check(".keras", &fuzz_keras(count(400)));
}

#[test]
fn fuzz_weights_h5_files() {
    check(".weights.h5", &fuzz_weights_h5(count(600)));
}

#[test]
fn fuzz_legacy_h5_files() {
    check("legacy .h5", &fuzz_legacy_h5(count(400)));
}

#[test]
fn fuzz_npy_files() {
    check(".npy/.npz", &fuzz_npy(count(1500)));
}

#[test]
fn fuzz_tensorboard_event_files() {
    check("TensorBoard events", &fuzz_tensorboard_events(count(2000)));
}

#[test]
fn fuzz_keras_dataset_npz_files() {
    check("Keras .npz data sets", &fuzz_keras_npz(count(1500)));
}

#[test]
fn fuzz_cifar_archives() {
    check("CIFAR .tar.gz", &fuzz_cifar(count(400)));
}

#[test]
fn fuzz_csv_files() {
    check("CSV", &fuzz_csv(count(3000)));
}

#[test]
fn fuzz_image_files() {
    check("images", &fuzz_images(count(600)));
}
