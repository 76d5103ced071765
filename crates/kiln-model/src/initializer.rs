//! Weight initializers with Keras's names and formulas, drawn on the host from a seeded
//! generator (so a seed gives the same weights on every backend).

use rand::Rng;
use rand::rngs::StdRng;
use rand_distr::{Distribution, Normal, Uniform};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Value, json};

/// How a weight tensor is filled when the model is built.
///
/// Serializes as Keras does (`{"class_name": "GlorotUniform", "config": {}}`) and reads either
/// that form or the bare Keras string name (`"glorot_uniform"`).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
#[non_exhaustive]
pub enum Initializer {
    /// All zeros (Keras's default bias initializer).
    #[default]
    Zeros,
    /// All ones.
    Ones,
    /// A constant value.
    Constant(f32),
    /// `U(-l, l)`, `l = sqrt(6 / (fan_in + fan_out))` (Keras's default kernel initializer).
    GlorotUniform,
    /// Truncated normal, `stddev = sqrt(2 / (fan_in + fan_out))`.
    GlorotNormal,
    /// `U(-l, l)`, `l = sqrt(6 / fan_in)`.
    HeUniform,
    /// Truncated normal, `stddev = sqrt(2 / fan_in)`.
    HeNormal,
    /// `U(-l, l)`, `l = sqrt(3 / fan_in)`.
    LecunUniform,
    /// Truncated normal, `stddev = sqrt(1 / fan_in)`.
    LecunNormal,
    /// `U(minval, maxval)` (Keras defaults -0.05, 0.05).
    RandomUniform {
        /// Lower bound.
        minval: f32,
        /// Upper bound.
        maxval: f32,
    },
    /// `N(mean, stddev)` (Keras defaults 0, 0.05).
    RandomNormal {
        /// Mean.
        mean: f32,
        /// Standard deviation.
        stddev: f32,
    },
}

/// Keras's correction so that a normal truncated at two standard deviations keeps `stddev`.
const TRUNCATED_STDDEV_CORRECTION: f64 = 0.879_625_661_034_239_8;

impl Initializer {
    /// Draws `n` values for a tensor with the given fan-in and fan-out.
    pub fn sample(self, n: usize, fan_in: usize, fan_out: usize, rng: &mut StdRng) -> Vec<f32> {
        let (fan_in, fan_out) = (fan_in.max(1) as f64, fan_out.max(1) as f64);
        match self {
            Initializer::Zeros => vec![0.0; n],
            Initializer::Ones => vec![1.0; n],
            Initializer::Constant(v) => vec![v; n],
            Initializer::GlorotUniform => uniform(n, (6.0 / (fan_in + fan_out)).sqrt(), rng),
            Initializer::HeUniform => uniform(n, (6.0 / fan_in).sqrt(), rng),
            Initializer::LecunUniform => uniform(n, (3.0 / fan_in).sqrt(), rng),
            Initializer::GlorotNormal => truncated(n, (2.0 / (fan_in + fan_out)).sqrt(), rng),
            Initializer::HeNormal => truncated(n, (2.0 / fan_in).sqrt(), rng),
            Initializer::LecunNormal => truncated(n, (1.0 / fan_in).sqrt(), rng),
            Initializer::RandomUniform { minval, maxval } => {
                match Uniform::new_inclusive(minval, maxval) {
                    Ok(d) => (0..n).map(|_| d.sample(rng)).collect(),
                    Err(_) => vec![minval; n],
                }
            }
            Initializer::RandomNormal { mean, stddev } => match Normal::new(mean, stddev) {
                Ok(d) => (0..n).map(|_| d.sample(rng)).collect(),
                Err(_) => vec![mean; n],
            },
        }
    }

    /// Keras's class name (`"GlorotUniform"`).
    pub fn class_name(self) -> &'static str {
        match self {
            Initializer::Zeros => "Zeros",
            Initializer::Ones => "Ones",
            Initializer::Constant(_) => "Constant",
            Initializer::GlorotUniform => "GlorotUniform",
            Initializer::GlorotNormal => "GlorotNormal",
            Initializer::HeUniform => "HeUniform",
            Initializer::HeNormal => "HeNormal",
            Initializer::LecunUniform => "LecunUniform",
            Initializer::LecunNormal => "LecunNormal",
            Initializer::RandomUniform { .. } => "RandomUniform",
            Initializer::RandomNormal { .. } => "RandomNormal",
        }
    }

    fn from_keras(name: &str, config: &Value) -> Result<Self, String> {
        let f = |key: &str, default: f32| {
            config
                .get(key)
                .and_then(Value::as_f64)
                .map_or(default, |v| v as f32)
        };
        let key: String = name
            .chars()
            .filter(|c| *c != '_')
            .collect::<String>()
            .to_lowercase();
        Ok(match key.as_str() {
            "zeros" | "zero" => Initializer::Zeros,
            "ones" | "one" => Initializer::Ones,
            "constant" => Initializer::Constant(f("value", 0.0)),
            "glorotuniform" | "xavieruniform" => Initializer::GlorotUniform,
            "glorotnormal" | "xaviernormal" => Initializer::GlorotNormal,
            "heuniform" => Initializer::HeUniform,
            "henormal" => Initializer::HeNormal,
            "lecununiform" => Initializer::LecunUniform,
            "lecunnormal" => Initializer::LecunNormal,
            "randomuniform" | "uniform" => Initializer::RandomUniform {
                minval: f("minval", -0.05),
                maxval: f("maxval", 0.05),
            },
            "randomnormal" | "normal" => Initializer::RandomNormal {
                mean: f("mean", 0.0),
                stddev: f("stddev", 0.05),
            },
            _ => {
                return Err(format!(
                    "unknown initializer `{name}`; valid names: zeros, ones, constant, \
                     glorot_uniform, glorot_normal, he_uniform, he_normal, lecun_uniform, \
                     lecun_normal, random_uniform, random_normal"
                ));
            }
        })
    }
}

fn uniform(n: usize, limit: f64, rng: &mut StdRng) -> Vec<f32> {
    let limit = limit as f32;
    (0..n).map(|_| rng.random_range(-limit..=limit)).collect()
}

/// A normal truncated at two standard deviations (resampled outside), scaled as Keras does.
fn truncated(n: usize, stddev: f64, rng: &mut StdRng) -> Vec<f32> {
    let sd = stddev / TRUNCATED_STDDEV_CORRECTION;
    let Ok(normal) = Normal::new(0.0, sd) else {
        return vec![0.0; n];
    };
    (0..n)
        .map(|_| {
            loop {
                let v: f64 = normal.sample(rng);
                if v.abs() <= 2.0 * sd {
                    break v as f32;
                }
            }
        })
        .collect()
}

impl Serialize for Initializer {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let config = match *self {
            Initializer::Constant(value) => json!({ "value": value }),
            Initializer::RandomUniform { minval, maxval } => {
                json!({ "minval": minval, "maxval": maxval })
            }
            Initializer::RandomNormal { mean, stddev } => json!({ "mean": mean, "stddev": stddev }),
            _ => json!({}),
        };
        json!({ "class_name": self.class_name(), "config": config }).serialize(s)
    }
}

impl<'de> Deserialize<'de> for Initializer {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        let (name, config) = match &v {
            Value::String(s) => (s.clone(), Value::Null),
            Value::Object(o) => (
                o.get("class_name")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                o.get("config").cloned().unwrap_or(Value::Null),
            ),
            _ => {
                return Err(serde::de::Error::custom(
                    "initializer must be a name or object",
                ));
            }
        };
        Initializer::from_keras(&name, &config).map_err(serde::de::Error::custom)
    }
}
