//! Keras model files: the real `.keras` files made by Keras 3.15.1 in
//! `tests/fixtures/keras-models/` load and reproduce Keras's predictions, through the library
//! and through the `kiln` command line; what Kiln writes reads back; corrupt files are errors.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{Cursor, Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use burn::tensor::Device;
use kiln::datasets::npy::{NpyArray, read_npy, read_npz};
use kiln::model::{ArrayInput, Dense, Error, Input, Model, Sequential, load_model};
use ndarray::ArrayD;
use serde_json::Value;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/keras-models")
}

struct Case {
    dir: PathBuf,
    rtol: f32,
    atol: f32,
    inputs: Vec<NpyArray>,
    expected: Vec<(String, ArrayD<f32>)>,
}

fn case(name: &str) -> Case {
    let dir = fixtures().join(name);
    let meta: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("case.json")).unwrap()).unwrap();
    let inputs = meta["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| read_npy(dir.join(i["file"].as_str().unwrap())).unwrap())
        .collect();
    let expected = read_npz(dir.join("expected.npz"))
        .unwrap()
        .into_iter()
        .map(|(n, a)| match a {
            NpyArray::F32(a) => (n, a),
            other => panic!("{n}: {}", other.dtype()),
        })
        .collect();
    Case {
        dir,
        rtol: meta["rtol"].as_f64().unwrap() as f32,
        atol: meta["atol"].as_f64().unwrap() as f32,
        inputs,
        expected,
    }
}

fn views(arrays: &[NpyArray]) -> Vec<&dyn ArrayInput> {
    arrays
        .iter()
        .map(|a| match a {
            NpyArray::F32(a) => a as &dyn ArrayInput,
            NpyArray::I32(a) => a as &dyn ArrayInput,
            other => panic!("unexpected {}", other.dtype()),
        })
        .collect()
}

fn assert_close(what: &str, got: &ArrayD<f32>, want: &ArrayD<f32>, rtol: f32, atol: f32) {
    assert_eq!(got.shape(), want.shape(), "{what}: shape");
    let worst = got
        .iter()
        .zip(want)
        .map(|(g, w)| (g - w).abs() - (atol + rtol * w.abs()))
        .fold(f32::NEG_INFINITY, f32::max);
    assert!(worst <= 0.0, "{what}: off by {worst} beyond tolerance");
}

fn check_predictions(model: &Model, case: &Case, what: &str) {
    assert_eq!(
        model.output_names(),
        case.expected
            .iter()
            .map(|(n, _)| n.clone())
            .collect::<Vec<_>>(),
        "{what}: output names"
    );
    let outputs = model.predict_many(&views(&case.inputs), 32).unwrap();
    for (got, (name, want)) in outputs.iter().zip(&case.expected) {
        assert_close(&format!("{what} {name}"), got, want, case.rtol, case.atol);
    }
}

/// The cases whose layers Kiln has; the others name the class they need.
const LOADABLE: [&str; 6] = [
    "mnist_convnet",
    "multi_io",
    "mini_resnet",
    "conv_autoencoder",
    "bilstm_text",
    "transformer_block",
];

#[test]
fn real_keras_files_reproduce_keras_predictions() {
    let device = Device::flex();
    for name in LOADABLE {
        let case = case(name);
        let model = load_model(case.dir.join("model.keras"), &device).unwrap();
        check_predictions(&model, &case, name);
    }
}

/// A real Keras file with one layer's class swapped for one Kiln lacks (Keras's
/// `SpectralNormalization`), written to `dir`.
fn with_unknown_layer(dir: &Path) -> PathBuf {
    let real = std::fs::read(fixtures().join("multi_io/model.keras")).unwrap();
    let mut parts = entries(&real);
    for (name, data) in &mut parts {
        if name == "config.json" {
            let text = String::from_utf8(data.clone()).unwrap();
            *data = text
                .replace("\"Concatenate\"", "\"SpectralNormalization\"")
                .into_bytes();
        }
    }
    let path = dir.join("unknown.keras");
    std::fs::write(&path, zip_of(&parts)).unwrap();
    path
}

#[test]
fn keras_files_with_layers_kiln_lacks_name_the_class_and_the_layer() {
    let dir = tempfile::tempdir().unwrap();
    let err = load_model(with_unknown_layer(dir.path()), &Device::flex()).unwrap_err();
    let Error::UnknownLayer {
        class_name, layer, ..
    } = &err
    else {
        panic!("{err}");
    };
    assert_eq!(
        (class_name.as_str(), layer.as_str()),
        ("SpectralNormalization", "concatenate")
    );
    assert!(err.to_string().contains("SpectralNormalization"), "{err}");
}

#[test]
fn what_kiln_writes_reads_back_in_every_format() {
    let device = Device::flex();
    let dir = tempfile::tempdir().unwrap();
    for name in LOADABLE {
        let case = case(name);
        let model = load_model(case.dir.join("model.keras"), &device).unwrap();
        for file in ["copy.keras", "copy.safetensors"] {
            let path = dir.path().join(format!("{name}-{file}"));
            model.save(&path).unwrap();
            let back = load_model(&path, &device).unwrap();
            assert_eq!(back.layer_names(), model.layer_names(), "{name} {file}");
            check_predictions(&back, &case, &format!("{name} via {file}"));
        }
        // Weights alone, in Keras's `.weights.h5` layout, into a fresh model of the same kind.
        let weights = dir.path().join(format!("{name}.weights.h5"));
        model.save_weights(&weights).unwrap();
        let fresh = model.config().build(&device).unwrap();
        assert_ne!(fresh.get_weights().unwrap(), model.get_weights().unwrap());
        let fresh = fresh.load_weights(&weights).unwrap();
        check_predictions(&fresh, &case, &format!("{name} via .weights.h5"));
    }
}

#[test]
fn the_file_format_follows_the_extension() {
    let device = Device::flex();
    let model = small(3).build(&device).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let err = model.save(dir.path().join("m.bin")).unwrap_err();
    assert!(matches!(err, Error::UnsupportedFormat { .. }), "{err}");
    assert!(err.to_string().contains(".keras"), "{err}");
    let err = model.save_weights(dir.path().join("w.h5")).unwrap_err();
    assert!(err.to_string().contains(".weights.h5"), "{err}");
    let err = load_model(dir.path().join("m.txt"), &device).unwrap_err();
    assert!(matches!(err, Error::UnsupportedFormat { .. }), "{err}");
}

fn small(units: usize) -> Sequential {
    Sequential::new()
        .add(Input::new([4]))
        .add(Dense::new(units))
        .seed(1)
}

/// The entries of a `.keras` zip.
fn entries(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut zip = zip::ZipArchive::new(Cursor::new(bytes)).unwrap();
    (0..zip.len())
        .map(|i| {
            let mut f = zip.by_index(i).unwrap();
            let name = f.name().unwrap().to_string();
            let mut data = Vec::new();
            f.read_to_end(&mut data).unwrap();
            (name, data)
        })
        .collect()
}

fn zip_of(entries: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for (name, data) in entries {
        zip.start_file(name.as_str(), zip::write::SimpleFileOptions::default())
            .unwrap();
        zip.write_all(data).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

#[test]
fn corrupt_keras_files_are_typed_errors() {
    let device = Device::flex();
    let dir = tempfile::tempdir().unwrap();
    let real = std::fs::read(fixtures().join("multi_io/model.keras")).unwrap();
    let write = |name: &str, bytes: &[u8]| {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    };

    let truncated = write("truncated.keras", &real[..real.len() / 2]);
    let err = load_model(&truncated, &device).unwrap_err();
    assert!(matches!(err, Error::Zip { .. }), "truncated: {err}");

    let random: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let err = load_model(write("random.keras", &random), &device).unwrap_err();
    assert!(matches!(err, Error::Zip { .. }), "random: {err}");

    let mut parts = entries(&real);
    parts.retain(|(n, _)| n != "config.json");
    let err = load_model(write("noconfig.keras", &zip_of(&parts)), &device).unwrap_err();
    assert!(
        matches!(&err, Error::KerasFile { reason, .. } if reason.contains("config.json")),
        "no config: {err}"
    );

    // The architecture of one model with the weights of another: Dense(3) weights, Dense(5)
    // config. The error names the weight and both shapes.
    let three = dir.path().join("three.keras");
    small(3).build(&device).unwrap().save(&three).unwrap();
    let five = dir.path().join("five.keras");
    small(5).build(&device).unwrap().save(&five).unwrap();
    let mut mixed = entries(&std::fs::read(&five).unwrap());
    let h5 = entries(&std::fs::read(&three).unwrap())
        .into_iter()
        .find(|(n, _)| n == "model.weights.h5")
        .unwrap();
    for e in &mut mixed {
        if e.0 == "model.weights.h5" {
            e.1 = h5.1.clone();
        }
    }
    let err = load_model(write("mixed.keras", &zip_of(&mixed)), &device).unwrap_err();
    match &err {
        Error::WeightMismatch {
            weight,
            expected,
            actual,
        } => {
            assert!(weight.contains("dense/kernel"), "{err}");
            assert_eq!(
                (expected.as_slice(), actual.as_slice()),
                (&[4, 5][..], &[4, 3][..])
            );
        }
        other => panic!("mixed: {other}"),
    }

    // Random bytes where the HDF5 file should be.
    let mut garbage = entries(&real);
    for e in &mut garbage {
        if e.0 == "model.weights.h5" {
            e.1 = random.clone();
        }
    }
    let err = load_model(write("garbage.keras", &zip_of(&garbage)), &device).unwrap_err();
    assert!(matches!(err, Error::KerasFile { .. }), "garbage h5: {err}");
}

/// Seeded byte flips and truncations of a real `.keras` file: of the archive itself, and of
/// its HDF5 weights and its JSON config re-zipped (a flip inside a zip entry fails the entry's
/// CRC, so only re-zipped mutants reach the HDF5 and JSON readers). Every try is a result,
/// never a panic.
#[test]
fn mutated_keras_files_never_panic() {
    let device = Device::flex();
    let real = std::fs::read(fixtures().join("multi_io/model.keras")).unwrap();
    let parts = entries(&real);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mutant.keras");
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut mutate = |bytes: &mut Vec<u8>, t: usize| {
        if t % 10 == 9 {
            let keep = (next() as usize) % bytes.len();
            bytes.truncate(keep);
        } else {
            for _ in 0..1 + next() % 8 {
                let i = (next() as usize) % bytes.len();
                bytes[i] ^= 1 << (next() % 8);
            }
        }
    };
    let tries = 3000;
    let (mut loaded, mut errors) = (0, 0);
    for t in 0..tries {
        let bytes = match t % 3 {
            0 => {
                let mut bytes = real.clone();
                mutate(&mut bytes, t / 3);
                bytes
            }
            k => {
                let target = if k == 1 {
                    "model.weights.h5"
                } else {
                    "config.json"
                };
                let mut parts = parts.clone();
                for (name, data) in &mut parts {
                    if name == target {
                        mutate(data, t / 3);
                    }
                }
                zip_of(&parts)
            }
        };
        std::fs::write(&path, &bytes).unwrap();
        let result = std::panic::catch_unwind(|| load_model(&path, &device).map(|_| ()));
        match result {
            Ok(Ok(())) => loaded += 1,
            Ok(Err(_)) => errors += 1,
            Err(_) => panic!("try {t} panicked; bytes kept at {}", path.display()),
        }
    }
    // Flips in unused bytes (HDF5 free space, JSON whitespace) still load.
    println!("{tries} mutants: {loaded} loaded, {errors} typed errors, 0 panics");
    assert!(errors > tries / 3, "{loaded} of {tries} loaded");
}

fn kiln(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args(args)
        .env("KILN_BACKEND", "flex")
        .output()
        .unwrap()
}

#[test]
fn the_command_line_predicts_converts_and_summarizes() {
    let dir = tempfile::tempdir().unwrap();
    for name in LOADABLE {
        let case = case(name);
        let model = case.dir.join("model.keras");
        let out = dir.path().join(format!("{name}.npz"));
        let mut args = vec!["predict".to_string(), model.display().to_string()];
        for i in 0..case.inputs.len() {
            args.push("--input".into());
            args.push(
                case.dir
                    .join(format!("input_{i}.npy"))
                    .display()
                    .to_string(),
            );
        }
        args.extend(["--output".into(), out.display().to_string()]);
        args.extend(["--batch-size".into(), "2".into()]);
        let run = kiln(&args.iter().map(String::as_str).collect::<Vec<_>>());
        assert!(
            run.status.success(),
            "{}",
            String::from_utf8_lossy(&run.stderr)
        );
        let got = read_npz(&out).unwrap();
        assert_eq!(got.len(), case.expected.len());
        for ((gname, g), (wname, w)) in got.iter().zip(&case.expected) {
            assert_eq!(gname, wname);
            let NpyArray::F32(g) = g else {
                panic!("{gname}")
            };
            assert_close(
                &format!("kiln predict {name} {gname}"),
                g,
                w,
                case.rtol,
                case.atol,
            );
        }

        let converted = dir.path().join(format!("{name}.safetensors"));
        let run = kiln(&[
            "convert",
            &model.display().to_string(),
            &converted.display().to_string(),
        ]);
        assert!(
            run.status.success(),
            "{}",
            String::from_utf8_lossy(&run.stderr)
        );
        check_predictions(
            &load_model(&converted, &Device::flex()).unwrap(),
            &case,
            name,
        );

        let run = kiln(&["summary", &model.display().to_string()]);
        assert!(run.status.success());
        let text = String::from_utf8_lossy(&run.stdout);
        assert!(text.starts_with("Model: \""), "{text}");
        assert!(text.contains("Total params"), "{text}");
    }
}

#[test]
fn the_command_line_reports_bad_input_without_panicking() {
    let dir = fixtures().join("multi_io");
    let model = dir.join("model.keras").display().to_string();
    let input = |i: usize| dir.join(format!("input_{i}.npy")).display().to_string();
    let out = tempfile::tempdir().unwrap();
    let npz = out.path().join("o.npz").display().to_string();

    // One input for a two-input model.
    let run = kiln(&["predict", &model, "--input", &input(0), "--output", &npz]);
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(
        !run.status.success() && err.contains("takes 2 inputs"),
        "{err}"
    );

    // Inputs swapped: floats where ids go (and the shapes differ too).
    let run = kiln(&[
        "predict",
        &model,
        "--input",
        &input(1),
        "--input",
        &input(0),
        "--output",
        &npz,
    ]);
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(!run.status.success() && err.contains("error:"), "{err}");
    assert!(!err.contains("panicked"), "{err}");

    // A layer Kiln lacks: the class and the layer are named.
    let unknown = with_unknown_layer(out.path()).display().to_string();
    let run = kiln(&["summary", &unknown]);
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(
        !run.status.success() && err.contains("SpectralNormalization"),
        "{err}"
    );
    assert!(err.contains("layer `concatenate`"), "{err}");

    // A model file that is not one.
    let run = kiln(&["summary", &input(0)]);
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(
        !run.status.success() && err.contains("unknown file format"),
        "{err}"
    );
}

fn resume_data() -> (ArrayD<f32>, ArrayD<i32>) {
    let x = ArrayD::from_shape_fn(ndarray::IxDyn(&[16, 4]), |i| {
        ((i[0] * 7 + i[1] * 3) % 11) as f32 / 11.0 - 0.5
    });
    let y = ArrayD::from_shape_fn(ndarray::IxDyn(&[16]), |i| (i[0] % 3) as i32);
    (x, y)
}

/// Kiln saves a compiled model as `.keras` mid-training; `load_compiled` resumes it, and the
/// next steps equal those of the model that never stopped (for each optimizer whose state
/// Keras keeps differently: interleaved Adam, separate RMSprop groups, SGD momentum, Nadam).
#[test]
fn a_kiln_compiled_keras_file_resumes_training_exactly() {
    use kiln::train::{Compile, Optimizer, load_compiled};
    let device = Device::flex();
    let (x, y) = resume_data();
    let dir = tempfile::tempdir().unwrap();
    let optimizers = [
        Optimizer::adam().learning_rate(0.01),
        Optimizer::adam().amsgrad(true),
        Optimizer::rmsprop().momentum(0.5).centered(true),
        Optimizer::sgd().momentum(0.9),
        Optimizer::nadam(),
        Optimizer::adagrad(),
    ];
    for (k, optimizer) in optimizers.into_iter().enumerate() {
        let what = format!("{optimizer:?}");
        let mut model = Sequential::new()
            .add(Input::new([4]))
            .add(Dense::new(5).activation(kiln::model::Activation::Relu))
            .add(Dense::new(3).activation(kiln::model::Activation::Softmax))
            .seed(3)
            .build(&device)
            .unwrap()
            .compile(optimizer, "sparse_categorical_crossentropy", ["accuracy"])
            .unwrap();
        for _ in 0..3 {
            model.train_on_batch(&x, &y).unwrap();
        }
        let path = dir.path().join(format!("resume-{k}.keras"));
        model.save(&path).unwrap();
        let mut resumed = load_compiled(&path, &device).unwrap();
        assert_eq!(resumed.metrics_names(), model.metrics_names(), "{what}");
        let a = model.train_on_batch(&x, &y).unwrap();
        let b = resumed.train_on_batch(&x, &y).unwrap();
        assert_eq!(a, b, "{what}: the resumed step's loss");
        let (wa, wb) = (
            model.model().get_weights().unwrap(),
            resumed.model().get_weights().unwrap(),
        );
        for (i, (p, q)) in wa.iter().zip(&wb).enumerate() {
            assert_close(&format!("{what} weight {i}"), q, p, 0.0, 1e-7);
        }
    }
}

#[test]
fn a_file_saved_uncompiled_does_not_resume() {
    let device = Device::flex();
    let path = tempfile::tempdir().unwrap().keep().join("plain.keras");
    small(2).build(&device).unwrap().save(&path).unwrap();
    let err = kiln::train::load_compiled(&path, &device).unwrap_err();
    assert!(err.to_string().contains("compile"), "{err}");
}

fn extra() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/keras-extra")
}

fn npz_f32(path: &Path) -> Vec<ArrayD<f32>> {
    read_npz(path)
        .unwrap()
        .into_iter()
        .map(|(n, a)| match a {
            NpyArray::F32(a) => a,
            NpyArray::I32(a) => a.mapv(|v| v as f32),
            other => panic!("{n}: {}", other.dtype()),
        })
        .collect()
}

/// A file Keras 3.15.1 saved after 4 steps of `fit`, resumed in Kiln: the next
/// `train_on_batch` gives Keras's loss, Keras's weights and Keras's optimizer variables.
#[test]
fn a_keras_compiled_file_resumes_from_keras_optimizer_state() {
    use kiln::train::load_compiled;
    let device = Device::flex();
    for case in ["resume", "resume_sgd", "resume_rmsprop"] {
        let dir = extra().join(case);
        let meta: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("next_batch.json")).unwrap())
                .unwrap();
        let NpyArray::F32(x) = read_npy(dir.join("x.npy")).unwrap() else {
            panic!("x")
        };
        let NpyArray::I32(y) = read_npy(dir.join("y.npy")).unwrap() else {
            panic!("y")
        };
        let (x, y) = (
            x.slice_axis(ndarray::Axis(0), ndarray::Slice::from(0..16))
                .to_owned(),
            y.slice_axis(ndarray::Axis(0), ndarray::Slice::from(0..16))
                .to_owned(),
        );
        let mut model = load_compiled(dir.join("model.keras"), &device).unwrap();
        let (rtol, atol) = (
            meta["rtol"].as_f64().unwrap() as f32,
            meta["atol"].as_f64().unwrap() as f32,
        );
        let scores = model.train_on_batch(&x, &y).unwrap();
        let want = meta["loss"].as_f64().unwrap();
        assert!(
            (scores["loss"] - want).abs() < 1e-5,
            "{case}: loss {} vs {want}",
            scores["loss"]
        );
        let weights = model.model().get_weights().unwrap();
        for (i, (got, want)) in weights
            .iter()
            .zip(npz_f32(&dir.join("weights_after.npz")))
            .enumerate()
        {
            assert_close(&format!("{case} weight {i}"), got, &want, rtol, atol);
        }
        // Kiln's state after the step, saved, holds Keras's optimizer variables after it.
        let path = tempfile::tempdir().unwrap().keep().join("after.keras");
        model.save(&path).unwrap();
        let archive = kiln::model::load_keras(&path, &device, &Default::default()).unwrap();
        let want = npz_f32(&dir.join("optimizer_after.npz"));
        assert_eq!(archive.optimizer_variables.len(), want.len(), "{case}");
        for (i, (got, want)) in archive.optimizer_variables.iter().zip(&want).enumerate() {
            let got = match got {
                kiln::model::OptimizerVariable::Float(a) => a.clone(),
                kiln::model::OptimizerVariable::Int(a) => a.mapv(|v| v as f32),
            };
            assert_close(
                &format!("{case} optimizer variable {i}"),
                &got,
                want,
                rtol,
                atol,
            );
        }
    }
}

/// Legacy HDF5 files: Keras 3's `legacy_h5_format` of the three cases, their weights-only
/// files, and a genuine Keras 2 (tf.keras 2.15) file.
#[test]
fn legacy_h5_files_load_and_predict_keras_numbers() {
    let device = Device::flex();
    let dir = extra().join("legacy_h5");
    for name in &LOADABLE[..3] {
        let case = case(name);
        let model = load_model(dir.join(format!("{name}.h5")), &device).unwrap();
        check_predictions(&model, &case, &format!("{name}.h5"));
        let fresh = load_model(case.dir.join("model.keras"), &device)
            .unwrap()
            .config()
            .build(&device)
            .unwrap()
            .load_weights(dir.join(format!("{name}.weights-only.h5")))
            .unwrap();
        check_predictions(&fresh, &case, &format!("{name}.weights-only.h5"));
        let err = load_model(dir.join(format!("{name}.weights-only.h5")), &device).unwrap_err();
        assert!(err.to_string().contains("load_weights"), "{err}");
    }
    let tf = Case {
        dir: dir.join("tf_keras_mlp"),
        rtol: 1e-4,
        atol: 1e-5,
        inputs: vec![read_npy(dir.join("tf_keras_mlp/input_0.npy")).unwrap()],
        expected: read_npz(dir.join("tf_keras_mlp/expected.npz"))
            .unwrap()
            .into_iter()
            .map(|(n, a)| match a {
                NpyArray::F32(a) => (n, a),
                other => panic!("{n}: {}", other.dtype()),
            })
            .collect(),
    };
    let model = load_model(dir.join("tf_keras_mlp.h5"), &device).unwrap();
    check_predictions(&model, &tf, "tf_keras_mlp.h5 (Keras 2)");
}
