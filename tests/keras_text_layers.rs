//! Kiln's host-side `TextVectorization`, `StringLookup`, `IntegerLookup` and `Hashing` against the golden
//! cases real Keras (3.15.1 with TensorFlow 2.21 for these layers) wrote to
//! `tests/fixtures/keras-pending/`: the vocabulary (given, or learned by `adapt` on the case's
//! data) and the outputs.
//!
//! A case whose options Kiln has must pass. A case with an option Kiln does not have yet
//! (several out-of-vocabulary indices, salts on lookups, `encoding`, `adapt` of lookup TF-IDF
//! weights) is listed by name with the option, and counted, not run; the list is the work left.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

use kiln::datasets::{
    HashInput, Hashing, HostArray, IntegerLookup, LookupMode, MaskValue, OutputMode, Split,
    Standardize, StringLookup, TextVectorization,
};
use ndarray::{ArrayD, IxDyn};
use serde_json::Value;

type Outcome = Result<(), String>;

fn shape(t: &Value) -> Vec<usize> {
    t["shape"]
        .as_array()
        .map(|d| {
            d.iter()
                .filter_map(Value::as_u64)
                .map(|d| d as usize)
                .collect()
        })
        .unwrap_or_default()
}

fn strings(t: &Value) -> Vec<String> {
    t["data"]
        .as_array()
        .map(|d| {
            d.iter()
                .map(|v| v.as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default()
}

fn numbers(t: &Value) -> Vec<f64> {
    t["data"]
        .as_array()
        .map(|d| d.iter().filter_map(Value::as_f64).collect())
        .unwrap_or_default()
}

fn compare(got: &HostArray, expected: &Value, tol: (f64, f64)) -> Outcome {
    let want_shape = shape(expected);
    if got.shape() != want_shape.as_slice() {
        return Err(format!("shape {:?}, Keras {:?}", got.shape(), want_shape));
    }
    let (rtol, atol) = tol;
    for (i, (g, e)) in got.to_f32_vec().iter().zip(numbers(expected)).enumerate() {
        if (f64::from(*g) - e).abs() > atol + rtol * e.abs() {
            return Err(format!("value {i}: {g}, Keras {e}"));
        }
    }
    Ok(())
}

/// Keras's `salt`: none, an int `s` (the key `[s, s]`) or a pair.
fn salt(v: &Value) -> Result<Option<[u64; 2]>, String> {
    Ok(match v {
        Value::Null => None,
        Value::Number(n) => n.as_u64().map(|s| [s, s]),
        Value::Array(pair) => match pair.as_slice() {
            [a, b] => Some([a.as_u64().ok_or("salt")?, b.as_u64().ok_or("salt")?]),
            _ => return Err("salt".into()),
        },
        other => return Err(format!("salt {other}")),
    })
}

/// The case's full IDF vector (Keras's, out-of-vocabulary slots included), when it has one.
fn idf_weights(case: &Value) -> Option<Vec<f32>> {
    let t = &case["idf_weights"];
    t["data"].as_array().map(|w| {
        w.iter()
            .filter_map(Value::as_f64)
            .map(|v| v as f32)
            .collect()
    })
}

fn lookup_mode(config: &Value) -> Result<LookupMode, String> {
    Ok(match config["output_mode"].as_str() {
        Some("int") => LookupMode::Int,
        Some("one_hot") => LookupMode::OneHot,
        Some("multi_hot") => LookupMode::MultiHot,
        Some("count") => LookupMode::Count,
        Some("tf_idf") => LookupMode::TfIdf,
        other => return Err(format!("output_mode {other:?}")),
    })
}

/// Why Kiln cannot run this lookup case yet, if it cannot.
fn lookup_unsupported(case: &Value) -> Option<String> {
    let c = &case["layer"]["config"];
    if c["encoding"].as_str().is_some_and(|e| e != "utf-8") {
        return Some(format!("encoding {}", c["encoding"]));
    }
    if !case["adapt"].is_null() && c["output_mode"].as_str() == Some("tf_idf") {
        return Some("adapt of tf_idf weights".into());
    }
    None
}

fn string_lookup_case(case: &Value) -> Outcome {
    let c = &case["layer"]["config"];
    let mut layer = StringLookup::new()
        .mask_token(c["mask_token"].as_str().map(str::to_string))
        .output_mode(lookup_mode(c)?)
        .pad_to_max_tokens(c["pad_to_max_tokens"].as_bool() == Some(true))
        .invert(c["invert"].as_bool() == Some(true));
    layer.oov_token = c["oov_token"].as_str().unwrap_or("[UNK]").to_string();
    layer.num_oov_indices = c["num_oov_indices"].as_u64().unwrap_or(1) as usize;
    layer.salt = salt(&c["salt"])?;
    if let Some(m) = c["max_tokens"].as_u64() {
        layer = layer.max_tokens(m as usize);
    }
    let vocabulary: Vec<String> = case["vocabulary"]
        .as_array()
        .map(|v| {
            v.iter()
                .map(|t| t.as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default();
    let idf = idf_weights(case);
    if case["adapt"].is_null() {
        layer
            .set_vocabulary(vocabulary.clone(), idf)
            .map_err(|e| e.to_string())?;
    } else {
        layer
            .adapt(strings(&case["adapt"]["data"]))
            .map_err(|e| e.to_string())?;
        if layer.vocabulary() != vocabulary {
            return Err(format!(
                "adapt: {:?}, Keras {vocabulary:?}",
                layer.vocabulary()
            ));
        }
    }
    let input = &case["input"];
    let tol = (
        case["rtol"].as_f64().unwrap_or(1e-5),
        case["atol"].as_f64().unwrap_or(1e-6),
    );
    if layer.invert {
        let ids: Vec<i64> = numbers(input).iter().map(|v| *v as i64).collect();
        let ids = ArrayD::from_shape_vec(IxDyn(&shape(input)), ids).map_err(|e| e.to_string())?;
        let back = layer.invert_call(&ids);
        let expected = strings(&case["output"]);
        return if back.iter().cloned().collect::<Vec<_>>() == expected {
            Ok(())
        } else {
            Err(format!("invert: {back:?}, Keras {expected:?}"))
        };
    }
    let tokens =
        ArrayD::from_shape_vec(IxDyn(&shape(input)), strings(input)).map_err(|e| e.to_string())?;
    compare(
        &layer.call(&tokens).map_err(|e| e.to_string())?,
        &case["output"],
        tol,
    )
}

fn integer_lookup_case(case: &Value) -> Outcome {
    let c = &case["layer"]["config"];
    let mut layer = IntegerLookup::new()
        .mask_token(c["mask_token"].as_i64())
        .output_mode(lookup_mode(c)?)
        .pad_to_max_tokens(c["pad_to_max_tokens"].as_bool() == Some(true))
        .invert(c["invert"].as_bool() == Some(true));
    layer.oov_token = c["oov_token"].as_i64().unwrap_or(-1);
    layer.num_oov_indices = c["num_oov_indices"].as_u64().unwrap_or(1) as usize;
    layer.salt = salt(&c["salt"])?;
    layer.farmhash_integers = c["oov_method"].as_str() == Some("farmhash");
    if let Some(m) = c["max_tokens"].as_u64() {
        layer = layer.max_tokens(m as usize);
    }
    let vocabulary: Vec<i64> = case["vocabulary"]
        .as_array()
        .map(|v| v.iter().filter_map(Value::as_i64).collect())
        .unwrap_or_default();
    let idf = idf_weights(case);
    if case["adapt"].is_null() {
        layer
            .set_vocabulary(vocabulary.clone(), idf)
            .map_err(|e| e.to_string())?;
    } else {
        let data: Vec<i64> = numbers(&case["adapt"]["data"])
            .iter()
            .map(|v| *v as i64)
            .collect();
        layer.adapt(data).map_err(|e| e.to_string())?;
        if layer.vocabulary() != vocabulary {
            return Err(format!(
                "adapt: {:?}, Keras {vocabulary:?}",
                layer.vocabulary()
            ));
        }
    }
    let input = &case["input"];
    let values: Vec<i64> = numbers(input).iter().map(|v| *v as i64).collect();
    let ids = ArrayD::from_shape_vec(IxDyn(&shape(input)), values).map_err(|e| e.to_string())?;
    let tol = (
        case["rtol"].as_f64().unwrap_or(1e-5),
        case["atol"].as_f64().unwrap_or(1e-6),
    );
    if layer.invert {
        let back = layer.invert_call(&ids);
        let expected: Vec<i64> = numbers(&case["output"]).iter().map(|v| *v as i64).collect();
        return if back.iter().copied().collect::<Vec<_>>() == expected {
            Ok(())
        } else {
            Err(format!("invert: {back:?}, Keras {expected:?}"))
        };
    }
    compare(
        &layer.call(&ids).map_err(|e| e.to_string())?,
        &case["output"],
        tol,
    )
}

fn text_vectorization_case(case: &Value) -> Outcome {
    let c = &case["layer"]["config"];
    let standardize = match c["standardize"].as_str() {
        None => None,
        Some("lower_and_strip_punctuation") => Some(Standardize::LowerAndStripPunctuation),
        Some("lower") => Some(Standardize::Lower),
        Some("strip_punctuation") => Some(Standardize::StripPunctuation),
        Some(other) => return Err(format!("standardize {other}")),
    };
    let split = match c["split"].as_str() {
        None => None,
        Some("whitespace") => Some(Split::Whitespace),
        Some("character") => Some(Split::Character),
        Some(other) => return Err(format!("split {other}")),
    };
    let mode = match c["output_mode"].as_str() {
        Some("int") => OutputMode::Int,
        Some("multi_hot") => OutputMode::MultiHot,
        Some("count") => OutputMode::Count,
        Some("tf_idf") => OutputMode::TfIdf,
        other => return Err(format!("output_mode {other:?}")),
    };
    let mut layer = TextVectorization::new()
        .standardize(standardize)
        .split(split)
        .output_mode(mode)
        .pad_to_max_tokens(c["pad_to_max_tokens"].as_bool() == Some(true));
    if let Some(m) = c["max_tokens"].as_u64() {
        layer = layer.max_tokens(m as usize);
    }
    if let Some(l) = c["output_sequence_length"].as_u64() {
        layer = layer.output_sequence_length(l as usize);
    }
    layer.ngrams = match &c["ngrams"] {
        Value::Null => Vec::new(),
        Value::Number(n) => (1..=n.as_u64().unwrap_or(1) as usize).collect(),
        Value::Array(w) => w
            .iter()
            .filter_map(Value::as_u64)
            .map(|w| w as usize)
            .collect(),
        other => return Err(format!("ngrams {other}")),
    };
    let vocabulary: Vec<String> = case["vocabulary"]
        .as_array()
        .map(|v| {
            v.iter()
                .map(|t| t.as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default();
    if case["adapt"].is_null() {
        let idf = idf_weights(case);
        layer
            .set_vocabulary(vocabulary.clone(), idf)
            .map_err(|e| e.to_string())?;
    } else {
        layer
            .adapt(strings(&case["adapt"]["data"]))
            .map_err(|e| e.to_string())?;
        if layer.vocabulary() != vocabulary.as_slice() {
            return Err(format!(
                "adapt: {:?}, Keras {vocabulary:?}",
                layer.vocabulary()
            ));
        }
        if let Some(w) = idf_weights(case) {
            for (i, (g, e)) in layer.idf_weights().iter().zip(w).enumerate() {
                let e = f64::from(e);
                if (f64::from(*g) - e).abs() > 1e-6 + 1e-5 * e.abs() {
                    return Err(format!("adapt: idf {i} is {g}, Keras {e}"));
                }
            }
        }
    }
    let tol = (
        case["rtol"].as_f64().unwrap_or(1e-5),
        case["atol"].as_f64().unwrap_or(1e-6),
    );
    let input = &case["input"];
    let texts =
        ArrayD::from_shape_vec(IxDyn(&shape(input)), strings(input)).map_err(|e| e.to_string())?;
    let out = layer.call_array(&texts).map_err(|e| e.to_string())?;
    compare(&out, &case["output"], tol)
}

fn hashing_case(case: &Value) -> Outcome {
    let c = &case["layer"]["config"];
    let mut layer =
        Hashing::new(c["num_bins"].as_u64().ok_or("num_bins")?).output_mode(lookup_mode(c)?);
    layer.salt = salt(&c["salt"])?;
    layer.mask_value = match &c["mask_value"] {
        Value::Null => None,
        Value::String(s) => Some(MaskValue::String(s.clone())),
        Value::Number(n) => Some(MaskValue::Int(n.as_i64().ok_or("mask_value")?)),
        other => return Err(format!("mask_value {other}")),
    };
    // The raw 64-bit hashes, where the case lists them.
    let reference = &case["hash_reference"];
    if let (Some(texts), Some(hashes)) = (
        reference["strings"].as_array(),
        reference["hashes"].as_array(),
    ) {
        for (t, h) in texts.iter().zip(hashes) {
            let (t, h) = (
                t.as_str().unwrap_or_default(),
                h.as_str().unwrap_or_default(),
            );
            let got = layer.hash(t.as_bytes()).to_string();
            if got != h {
                return Err(format!("hash of {t:?}: {got}, TensorFlow {h}"));
            }
        }
    }
    let input = &case["input"];
    let dims = shape(input);
    let values = match input["dtype"].as_str() {
        Some("string") => HashInput::Strings(
            ArrayD::from_shape_vec(IxDyn(&dims), strings(input)).map_err(|e| e.to_string())?,
        ),
        // Floats are truncated toward zero, as Keras casts them.
        _ => HashInput::Ints(
            ArrayD::from_shape_vec(
                IxDyn(&dims),
                numbers(input).iter().map(|v| v.trunc() as i64).collect(),
            )
            .map_err(|e| e.to_string())?,
        ),
    };
    let tol = (
        case["rtol"].as_f64().unwrap_or(1e-5),
        case["atol"].as_f64().unwrap_or(1e-6),
    );
    compare(
        &layer.call(&values).map_err(|e| e.to_string())?,
        &case["output"],
        tol,
    )
}

#[test]
fn host_text_layers_match_real_keras() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/keras-pending");
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    paths.sort();
    let (mut passed, mut failed, mut not_yet) = (Vec::new(), Vec::new(), Vec::new());
    for path in &paths {
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let case: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let class = case["layer"]["class_name"].as_str().unwrap_or_default();
        let outcome = match class {
            "StringLookup" | "IntegerLookup" => match lookup_unsupported(&case) {
                Some(why) => {
                    not_yet.push(format!("{name} ({why})"));
                    continue;
                }
                None if class == "StringLookup" => string_lookup_case(&case),
                None => integer_lookup_case(&case),
            },
            "TextVectorization" => text_vectorization_case(&case),
            "Hashing" => hashing_case(&case),
            other => {
                not_yet.push(format!("{name} ({other})"));
                continue;
            }
        };
        match outcome {
            Ok(()) => passed.push(name),
            Err(why) => {
                println!("FAILED  {name}: {why}");
                failed.push(name);
            }
        }
    }
    for n in &not_yet {
        println!("not yet {n}");
    }
    println!(
        "keras text layers: {} passed, {} failed, {} not yet supported",
        passed.len(),
        failed.len(),
        not_yet.len()
    );
    assert!(failed.is_empty(), "failed: {failed:?}");
}
