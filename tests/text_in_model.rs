//! Keras's string layers inside a model: a model whose first layer is `TextVectorization`
//! (or a lookup, or `Hashing`) takes raw strings in `fit`, `evaluate` and `predict`, from
//! arrays and from data sets; it is saved and loaded with its vocabulary; a real Keras file
//! with adapted layers (vocabularies in its assets) loads and gives Keras's numbers; and data
//! or layers in the wrong place are errors naming them.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

use kiln::datasets::{
    ArrayDataset, HostArray, IntegerLookup, LookupMode, StringLookup, TextDatasetOptions,
    TextVectorization, text_dataset_from_directory,
};
use kiln::model::{Apply, Error, Functional, GlobalAveragePooling1d, Hashing, load_model};
use kiln::prelude::*;
use ndarray::{Array1, Array2, ArrayD};
use serde_json::Value;

/// Short reviews: filler words and one word of opinion, label 1 for a positive one.
fn reviews(n: usize) -> (Vec<String>, Vec<f32>) {
    let filler = ["the", "film", "was", "a", "plot", "and", "it", "story"];
    let good = ["great", "loved", "superb"];
    let bad = ["awful", "boring", "dull"];
    let mut texts = Vec::new();
    let mut labels = Vec::new();
    for i in 0..n {
        let positive = i % 2 == 0;
        let opinion = if positive { good[i % 3] } else { bad[i % 3] };
        let words: Vec<&str> = (0..6).map(|k| filler[(i * 7 + k * 3) % 8]).collect();
        let at = i % 6;
        let text = [&words[..at], &[opinion], &words[at..]].concat().join(" ");
        // Capitals and punctuation for the standardization.
        texts.push(if i % 3 == 0 {
            format!("{}!", text.to_uppercase())
        } else {
            text
        });
        labels.push(if positive { 1.0 } else { 0.0 });
    }
    (texts, labels)
}

fn adapted(texts: &[String]) -> TextVectorization {
    let mut v = TextVectorization::new().output_sequence_length(8);
    v.adapt(texts).unwrap();
    v
}

fn text_model(vectorizer: TextVectorization, input: Input) -> CompiledModel {
    let vocabulary = vectorizer.vocabulary().len();
    Sequential::new()
        .add(input)
        .add(vectorizer)
        .add(Embedding::new(vocabulary, 8))
        .add(GlobalAveragePooling1d::new())
        .add(Dense::new(1).activation(Activation::Sigmoid))
        .seed(5)
        .build(&Device::flex())
        .unwrap()
        .compile("adam", "binary_crossentropy", ["accuracy"])
        .unwrap()
}

#[test]
fn a_model_that_starts_with_text_vectorization_trains_on_raw_strings() {
    let (texts, labels) = reviews(128);
    let vectorizer = adapted(&texts);
    let mut model = text_model(vectorizer.clone(), Input::new([1]).dtype("string"));
    let x = Array2::from_shape_vec((128, 1), texts.clone()).unwrap();
    let y = Array1::from(labels);
    let history = model
        .fit(
            &x,
            &y,
            FitOptions::new()
                .epochs(40)
                .batch_size(16)
                .verbose(0)
                .seed(3),
        )
        .unwrap();
    let accuracy = history.history["accuracy"].last().copied().unwrap();
    assert!(accuracy >= 0.95, "accuracy {accuracy}");
    // Raw strings in predict, and the ids the device received are the vectorizer's.
    let probe = ndarray::array![["A great story"], ["the plot was dull"]].mapv(String::from);
    let p = model.predict(&probe).unwrap();
    assert!(p[[0, 0]] > 0.5 && p[[1, 0]] < 0.5, "{p}");
    let ids = model
        .model()
        .prepare_input(0, "x", HostArray::Str(probe.clone().into_dyn()))
        .unwrap();
    let direct = vectorizer
        .call(&["A great story".to_string(), "the plot was dull".to_string()])
        .unwrap();
    assert_eq!(ids, direct);
    let scores = model.evaluate(&x, &y).unwrap();
    assert!(scores["accuracy"] >= 0.95);
}

#[test]
fn fitting_from_a_folder_of_text_files_equals_fitting_the_same_strings_from_an_array() {
    let (texts, labels) = reviews(48);
    let dir = tempfile::tempdir().unwrap();
    // Keras's order: class folders alphabetically, files by name; no shuffle.
    let mut ordered: Vec<(String, f32)> = Vec::new();
    for (class, label) in [("neg", 0.0), ("pos", 1.0)] {
        std::fs::create_dir(dir.path().join(class)).unwrap();
        let mine: Vec<&String> = texts
            .iter()
            .zip(&labels)
            .filter(|(_, l)| **l == label)
            .map(|(t, _)| t)
            .collect();
        for (i, t) in mine.iter().enumerate() {
            std::fs::write(dir.path().join(class).join(format!("{i:03}.txt")), t).unwrap();
            ordered.push(((*t).clone(), label));
        }
    }
    let options = TextDatasetOptions::default().batch_size(8).shuffle(false);
    let mut files = text_dataset_from_directory(dir.path(), &options).unwrap();
    let vectorizer = adapted(&texts);
    let input = || Input::new(Vec::<usize>::new()).dtype("string");
    let mut from_files = text_model(vectorizer.clone(), input());
    let fit = || {
        FitOptions::new()
            .epochs(3)
            .batch_size(8)
            .shuffle(false)
            .verbose(0)
    };
    from_files.fit_dataset(&mut files, fit()).unwrap();

    let x = Array1::from(ordered.iter().map(|(t, _)| t.clone()).collect::<Vec<_>>());
    let y = Array1::from(ordered.iter().map(|(_, l)| *l).collect::<Vec<_>>());
    let mut from_array = text_model(vectorizer, input());
    from_array.fit(&x, &y, fit()).unwrap();
    let (a, b) = (
        from_files.model().get_weights().unwrap(),
        from_array.model().get_weights().unwrap(),
    );
    for (wa, wb) in a.iter().zip(&b) {
        let worst = wa
            .iter()
            .zip(wb)
            .map(|(p, q)| (p - q).abs())
            .fold(0.0f32, f32::max);
        assert!(worst <= 1e-6, "weights differ by {worst}");
    }
    // A Dataset of string batches made by hand, evaluated, gives the same scores.
    let batches = ArrayDataset::new(HostArray::from(x.to_vec()), HostArray::from(y.to_vec()), 8);
    let s1 = from_array.evaluate_dataset(&batches).unwrap();
    let s2 = from_array.evaluate(&x, &y).unwrap();
    assert!((s1["loss"] - s2["loss"]).abs() < 1e-6);
}

#[test]
fn a_saved_text_model_keeps_its_vocabulary_and_predicts_the_same() {
    let (texts, labels) = reviews(32);
    let mut tf_idf = TextVectorization::new()
        .output_mode(kiln::datasets::OutputMode::TfIdf)
        .max_tokens(20)
        .pad_to_max_tokens(true);
    tf_idf.adapt(&texts).unwrap();
    let text = Input::new([1])
        .dtype("string")
        .name("text")
        .tensor()
        .unwrap();
    let ids = Input::new([2]).dtype("int64").name("ids").tensor().unwrap();
    let mut lookup = IntegerLookup::new().output_mode(LookupMode::MultiHot);
    lookup.adapt([3i64, 3, 9, 12, 12, 12]).unwrap();
    let a = tf_idf.apply(&text).unwrap();
    let b = lookup.apply(&ids).unwrap();
    let joined = kiln::model::Concatenate::new().apply([&a, &b]).unwrap();
    let out = Dense::new(1)
        .activation(Activation::Sigmoid)
        .apply(&joined)
        .unwrap();
    let model = Functional::new([&text, &ids], &out)
        .unwrap()
        .seed(2)
        .build(&Device::flex())
        .unwrap();
    let x_text = Array2::from_shape_vec((32, 1), texts).unwrap();
    let x_ids = Array2::from_shape_fn((32, 2), |(i, j)| [3i64, 9, 12, 40][(i + j) % 4]);
    let before = model.predict_many(&[&x_text, &x_ids], 8).unwrap();
    let dir = tempfile::tempdir().unwrap();
    for file in ["m.keras", "m.safetensors"] {
        let path = dir.path().join(file);
        model.save(&path).unwrap();
        let loaded = load_model(&path, &Device::flex()).unwrap();
        let after = loaded.predict_many(&[&x_text, &x_ids], 8).unwrap();
        assert_eq!(before, after, "{file}");
        assert_eq!(loaded.input_dtypes(), ["string", "int64"]);
    }
    // The config holds the vocabularies, reserved entries first, and the IDF weights.
    let config: Value = serde_json::from_str(&model.config().to_json().unwrap()).unwrap();
    let layers = config["config"]["layers"].as_array().unwrap();
    let find = |class: &str| {
        layers
            .iter()
            .find(|l| l["class_name"] == class)
            .unwrap()
            .clone()
    };
    assert_eq!(
        find("TextVectorization")["config"]["vocabulary"][0],
        "[UNK]"
    );
    assert_eq!(
        find("TextVectorization")["config"]["idf_weights"]
            .as_array()
            .unwrap()
            .len(),
        20
    );
    assert_eq!(
        find("IntegerLookup")["config"]["vocabulary"],
        serde_json::json!([-1, 12, 3, 9])
    );
    let _ = labels;
}

fn keras_case() -> (std::path::PathBuf, Value) {
    let dir =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/keras-models/text_vectorizer");
    let case =
        serde_json::from_str(&std::fs::read_to_string(dir.join("case.json")).unwrap()).unwrap();
    (dir, case)
}

fn strings(v: &Value) -> ArrayD<String> {
    let rows: Vec<Vec<String>> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r.as_array()
                .unwrap()
                .iter()
                .map(|t| t.as_str().unwrap().to_string())
                .collect()
        })
        .collect();
    let width = rows[0].len();
    Array2::from_shape_vec((rows.len(), width), rows.concat())
        .unwrap()
        .into_dyn()
}

fn numbers(v: &Value) -> Vec<f32> {
    v.as_array()
        .unwrap()
        .iter()
        .flat_map(|r| {
            r.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap() as f32)
        })
        .collect()
}

fn close(got: &[f32], want: &[f32]) {
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(want) {
        assert!(
            (g - w).abs() <= 1e-6 + 1e-5 * w.abs(),
            "{got:?} vs Keras {want:?}"
        );
    }
}

#[test]
fn a_real_keras_file_with_adapted_string_layers_loads_their_vocabularies_from_its_assets() {
    let (dir, case) = keras_case();
    let model = load_model(dir.join("model.keras"), &Device::flex()).unwrap();
    let inputs = strings(&case["model"]["inputs"]);
    let ids = model
        .prepare_input(0, "x", HostArray::Str(inputs.clone()))
        .unwrap();
    close(&ids.to_f32_vec(), &numbers(&case["model"]["ids"]));
    let out = model.predict(&inputs, 32).unwrap();
    close(out.as_slice().unwrap(), &numbers(&case["model"]["output"]));
    let config: Value = serde_json::from_str(&model.config().to_json().unwrap()).unwrap();
    assert_eq!(
        config["config"]["layers"][1]["config"]["vocabulary"],
        case["model"]["vocabulary"]
    );

    // A StringLookup adapted for tf_idf: vocabulary in the assets, weights in the h5 file.
    let lookup = load_model(dir.join("lookup.keras"), &Device::flex()).unwrap();
    let out = lookup
        .predict(&strings(&case["lookup"]["inputs"]), 32)
        .unwrap();
    close(out.as_slice().unwrap(), &numbers(&case["lookup"]["output"]));
}

#[test]
fn data_of_the_wrong_kind_and_host_layers_in_the_wrong_place_are_errors() {
    let (texts, labels) = reviews(8);
    let vectorizer = adapted(&texts);
    let model = text_model(vectorizer.clone(), Input::new([1]).dtype("string"));
    // Numbers for a string input.
    let numbers = Array2::<f32>::zeros((2, 1));
    let e = model.predict(&numbers).unwrap_err().to_string();
    assert!(e.contains("float32") && e.contains("string"), "{e}");
    // Strings for a numeric input.
    let numeric = Sequential::new()
        .add(Input::new([1]))
        .add(Dense::new(1))
        .build(&Device::flex())
        .unwrap();
    let x = Array2::from_shape_vec((8, 1), texts.clone()).unwrap();
    let e = numeric.predict(&x, 32).unwrap_err();
    assert!(matches!(e, Error::DataType { .. }), "{e}");
    // A string input feeding a numeric layer.
    let e = Sequential::new()
        .add(Input::new([1]).dtype("string"))
        .add(Dense::new(1))
        .build(&Device::flex())
        .unwrap_err()
        .to_string();
    assert!(e.contains("string input"), "{e}");
    // A host layer after a device layer.
    let e = Sequential::new()
        .add(Input::new([1]))
        .add(Dense::new(1))
        .add(Hashing::new(4))
        .build(&Device::flex())
        .unwrap_err()
        .to_string();
    assert!(e.contains("directly on an Input"), "{e}");
    // Token ids of one length only: int output needs output_sequence_length in a model.
    let mut free = TextVectorization::new();
    free.adapt(&texts).unwrap();
    let e = Sequential::new()
        .add(Input::new([1]).dtype("string"))
        .add(free)
        .build(&Device::flex())
        .unwrap_err()
        .to_string();
    assert!(e.contains("output_sequence_length"), "{e}");
    // A lookup without a vocabulary.
    let e = Sequential::new()
        .add(Input::new([2]).dtype("string"))
        .add(StringLookup::new().output_mode(LookupMode::Count))
        .build(&Device::flex())
        .unwrap_err()
        .to_string();
    assert!(e.contains("no vocabulary"), "{e}");
    // A text that TextVectorization cannot split: a batch of the wrong shape.
    let e = model
        .predict(&Array2::from_shape_vec((4, 2), texts).unwrap())
        .unwrap_err()
        .to_string();
    assert!(e.contains("shape (4, 2)"), "{e}");
    // A lookup with num_oov_indices 0 meets an unknown token: an error naming the layer.
    let mut strict = StringLookup::new();
    strict.num_oov_indices = 0;
    strict
        .set_vocabulary(vec!["a".into(), "b".into()], None)
        .unwrap();
    let m = Sequential::new()
        .add(Input::new([1]).dtype("string"))
        .add(strict)
        .build(&Device::flex())
        .unwrap();
    let e = m
        .predict(&ndarray::array![["a"], ["zzz"]].mapv(String::from), 32)
        .unwrap_err()
        .to_string();
    assert!(e.contains("string_lookup") && e.contains("zzz"), "{e}");
    let _ = labels;
}
