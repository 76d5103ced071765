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
    /// A random orthogonal matrix times `gain` (Keras's default recurrent kernel initializer):
    /// the Q of the QR decomposition of a standard normal `[rows, cols]` matrix, with the signs
    /// that make R's diagonal positive; for a kernel of more axes, rows are all but the last.
    Orthogonal {
        /// Multiplies the matrix (Keras default 1).
        gain: f32,
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
            Initializer::Orthogonal { gain } => {
                let rows = (fan_in as usize).min(n.max(1));
                orthogonal(rows, n / rows, gain, rng)
            }
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
            Initializer::Orthogonal { .. } => "Orthogonal",
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
            "orthogonal" => Initializer::Orthogonal {
                gain: f("gain", 1.0),
            },
            _ => {
                return Err(format!(
                    "unknown initializer `{name}`; valid names: zeros, ones, constant, \
                     glorot_uniform, glorot_normal, he_uniform, he_normal, lecun_uniform, \
                     lecun_normal, random_uniform, random_normal, orthogonal"
                ));
            }
        })
    }
}

fn uniform(n: usize, limit: f64, rng: &mut StdRng) -> Vec<f32> {
    let limit = limit as f32;
    (0..n).map(|_| rng.random_range(-limit..=limit)).collect()
}

/// A `rows x cols` matrix (row-major) with orthonormal rows or columns, whichever are fewer,
/// times `gain`: Gram-Schmidt on a standard normal matrix, which gives the Q with a positive R
/// diagonal (the QR sign convention Keras applies).
fn orthogonal(rows: usize, cols: usize, gain: f32, rng: &mut StdRng) -> Vec<f32> {
    // Orthonormalize the `k` vectors of length `len` along the longer side.
    let (k, len, transpose) = if rows < cols {
        (rows, cols, true)
    } else {
        (cols, rows, false)
    };
    let Ok(normal) = Normal::new(0.0f64, 1.0) else {
        return vec![0.0; rows * cols];
    };
    let mut a: Vec<Vec<f64>> = vec![vec![0.0; len]; k];
    // Drawn in the row-major order of the `len x k` matrix Keras factors.
    for i in 0..len {
        for col in a.iter_mut() {
            col[i] = normal.sample(rng);
        }
    }
    for j in 0..k {
        let (done, rest) = a.split_at_mut(j);
        let v = &mut rest[0];
        for q in done.iter() {
            let dot: f64 = q.iter().zip(v.iter()).map(|(x, y)| x * y).sum();
            v.iter_mut().zip(q).for_each(|(x, y)| *x -= dot * y);
        }
        let norm = v
            .iter()
            .map(|x| x * x)
            .sum::<f64>()
            .sqrt()
            .max(f64::MIN_POSITIVE);
        v.iter_mut().for_each(|x| *x /= norm);
    }
    let mut out = vec![0.0f32; rows * cols];
    for (j, q) in a.iter().enumerate() {
        for (i, &x) in q.iter().enumerate() {
            let (r, c) = if transpose { (j, i) } else { (i, j) };
            out[r * cols + c] = (x * f64::from(gain)) as f32;
        }
    }
    out
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
            Initializer::Orthogonal { gain } => json!({ "gain": gain }),
            _ => json!({}),
        };
        json!({ "class_name": self.class_name(), "config": config }).serialize(s)
    }
}

impl<'de> Deserialize<'de> for Initializer {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        let (name, config) = crate::keras_object::name_and_config(&v, "an initializer")
            .map_err(serde::de::Error::custom)?;
        Initializer::from_keras(&name, &config).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    /// `rows x cols` matrices from `orthogonal` have orthonormal columns (tall) or rows (wide).
    #[test]
    fn orthogonal_is_orthonormal_along_the_short_side() {
        let mut rng = StdRng::seed_from_u64(7);
        for (rows, cols) in [(12, 3), (3, 12), (5, 5)] {
            let m = Initializer::Orthogonal { gain: 2.0 }.sample(rows * cols, rows, cols, &mut rng);
            let at = |r: usize, c: usize| f64::from(m[r * cols + c]) / 2.0;
            let k = rows.min(cols);
            for i in 0..k {
                for j in 0..k {
                    let dot: f64 = if rows >= cols {
                        (0..rows).map(|r| at(r, i) * at(r, j)).sum()
                    } else {
                        (0..cols).map(|c| at(i, c) * at(j, c)).sum()
                    };
                    let expected = if i == j { 1.0 } else { 0.0 };
                    assert!(
                        (dot - expected).abs() < 1e-5,
                        "{rows}x{cols} [{i},{j}] = {dot}"
                    );
                }
            }
        }
    }
}
