//! Learning-rate schedules, evaluated on the host at Keras's step count.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};

/// A learning rate: a constant or one of Keras's schedules, evaluated at the number of updates
/// applied so far (so the first update uses the initial rate).
///
/// # Examples
/// ```
/// use kiln_train::LearningRate;
/// let lr = LearningRate::ExponentialDecay { initial_learning_rate: 0.1, decay_steps: 2,
///                                           decay_rate: 0.5, staircase: false };
/// assert_eq!(lr.at(0), 0.1);
/// assert!((lr.at(2) - 0.05).abs() < 1e-7);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum LearningRate {
    /// A fixed rate.
    Constant(f32),
    /// `initial · rate^(step / decay_steps)` (exponent floored when `staircase`).
    ExponentialDecay {
        /// Rate at step 0.
        initial_learning_rate: f32,
        /// Steps per decay period.
        decay_steps: u64,
        /// Factor per period.
        decay_rate: f32,
        /// Decay in whole periods.
        staircase: bool,
    },
    /// `initial / (1 + rate · step / decay_steps)` (floored when `staircase`).
    InverseTimeDecay {
        /// Rate at step 0.
        initial_learning_rate: f32,
        /// Steps per decay period.
        decay_steps: u64,
        /// Decay factor.
        decay_rate: f32,
        /// Decay in whole periods.
        staircase: bool,
    },
    /// Cosine from `initial` down to `initial · alpha` over `decay_steps`; with a
    /// `warmup_target`, first a linear warmup from `initial` to the target over `warmup_steps`,
    /// then the cosine from the target.
    CosineDecay {
        /// Rate at step 0.
        initial_learning_rate: f32,
        /// Length of the decay.
        decay_steps: u64,
        /// Final fraction of the initial rate.
        alpha: f32,
        /// The rate the warmup reaches (none: no warmup).
        #[serde(default)]
        warmup_target: Option<f32>,
        /// Length of the warmup.
        #[serde(default)]
        warmup_steps: u64,
    },
    /// `(initial - end)·(1 - step/decay_steps)^power + end`, staying at `end` after
    /// `decay_steps`; with `cycle`, `decay_steps` grows to the next multiple of itself instead.
    PolynomialDecay {
        /// Rate at step 0.
        initial_learning_rate: f32,
        /// Length of the decay.
        decay_steps: u64,
        /// Rate at the end (Keras's default 1e-4).
        end_learning_rate: f32,
        /// Power of the polynomial.
        power: f32,
        /// Restart from the next multiple of `decay_steps`.
        cycle: bool,
    },
    /// Cosine decay with warm restarts (SGDR, Loshchilov & Hutter): periods of
    /// `first_decay_steps·t_mulⁱ` steps, the `i`th starting at `initial·m_mulⁱ`.
    CosineDecayRestarts {
        /// Rate at step 0.
        initial_learning_rate: f32,
        /// Length of the first period.
        first_decay_steps: u64,
        /// Growth of each period's length.
        t_mul: f32,
        /// Factor on each period's starting rate.
        m_mul: f32,
        /// Final fraction of a period's rate.
        alpha: f32,
    },
    /// `values[i]` while `step <= boundaries[i]` (and `values.last()` after).
    PiecewiseConstantDecay {
        /// Step boundaries, increasing.
        boundaries: Vec<u64>,
        /// One more value than boundaries.
        values: Vec<f32>,
    },
}

impl LearningRate {
    /// The rate for the update that follows `step` updates.
    pub fn at(&self, step: u64) -> f32 {
        let s = step as f32;
        match self {
            LearningRate::Constant(lr) => *lr,
            LearningRate::ExponentialDecay {
                initial_learning_rate,
                decay_steps,
                decay_rate,
                staircase,
            } => {
                let mut p = s / (*decay_steps).max(1) as f32;
                if *staircase {
                    p = p.floor();
                }
                initial_learning_rate * decay_rate.powf(p)
            }
            LearningRate::InverseTimeDecay {
                initial_learning_rate,
                decay_steps,
                decay_rate,
                staircase,
            } => {
                let mut p = s / (*decay_steps).max(1) as f32;
                if *staircase {
                    p = p.floor();
                }
                initial_learning_rate / (1.0 + decay_rate * p)
            }
            LearningRate::CosineDecay {
                initial_learning_rate,
                decay_steps,
                alpha,
                warmup_target,
                warmup_steps,
            } => {
                let decay = (*decay_steps).max(1) as f32;
                let cosine = |step: f32, from: f32| {
                    let cosine = 0.5 * (1.0 + (std::f32::consts::PI * (step / decay)).cos());
                    from * ((1.0 - alpha) * cosine + alpha)
                };
                match warmup_target {
                    None => cosine(s.min(decay), *initial_learning_rate),
                    Some(target) => {
                        let warmup = *warmup_steps as f32;
                        let s = s.min(decay + warmup);
                        if s < warmup {
                            (target - initial_learning_rate) * (s / warmup) + initial_learning_rate
                        } else {
                            cosine(s - warmup, *target)
                        }
                    }
                }
            }
            LearningRate::PolynomialDecay {
                initial_learning_rate,
                decay_steps,
                end_learning_rate,
                power,
                cycle,
            } => {
                let mut decay = (*decay_steps).max(1) as f32;
                let mut s = s;
                if *cycle {
                    let multiplier = if s == 0.0 { 1.0 } else { (s / decay).ceil() };
                    decay *= multiplier;
                } else {
                    s = s.min(decay);
                }
                let p = s / decay;
                (initial_learning_rate - end_learning_rate) * (1.0 - p).powf(*power)
                    + end_learning_rate
            }
            LearningRate::CosineDecayRestarts {
                initial_learning_rate,
                first_decay_steps,
                t_mul,
                m_mul,
                alpha,
            } => {
                let mut fraction = s / (*first_decay_steps).max(1) as f32;
                let restart = if *t_mul == 1.0 {
                    let i = fraction.floor();
                    fraction -= i;
                    i
                } else {
                    let i = ((1.0 - fraction * (1.0 - t_mul)).ln() / t_mul.ln()).floor();
                    let sum = (1.0 - t_mul.powf(i)) / (1.0 - t_mul);
                    fraction = (fraction - sum) / t_mul.powf(i);
                    i
                };
                let cosine =
                    0.5 * m_mul.powf(restart) * (1.0 + (std::f32::consts::PI * fraction).cos());
                initial_learning_rate * ((1.0 - alpha) * cosine + alpha)
            }
            LearningRate::PiecewiseConstantDecay { boundaries, values } => {
                let i = boundaries.iter().take_while(|b| step > **b).count();
                values.get(i).or(values.last()).copied().unwrap_or(0.0)
            }
        }
    }

    /// Reads a Keras schedule (`class_name` and `config`).
    ///
    /// # Errors
    /// [`Error::UnknownName`] for a schedule Kiln does not have.
    pub fn from_keras(class_name: &str, config: &Value) -> Result<Self> {
        let f = |key: &str, d: f32| {
            config
                .get(key)
                .and_then(Value::as_f64)
                .map_or(d, |v| v as f32)
        };
        let u = |key: &str| config.get(key).and_then(Value::as_u64).unwrap_or(1);
        let b = |key: &str| config.get(key).and_then(Value::as_bool).unwrap_or(false);
        Ok(match class_name {
            "ExponentialDecay" => LearningRate::ExponentialDecay {
                initial_learning_rate: f("initial_learning_rate", 0.01),
                decay_steps: u("decay_steps"),
                decay_rate: f("decay_rate", 1.0),
                staircase: b("staircase"),
            },
            "InverseTimeDecay" => LearningRate::InverseTimeDecay {
                initial_learning_rate: f("initial_learning_rate", 0.01),
                decay_steps: u("decay_steps"),
                decay_rate: f("decay_rate", 1.0),
                staircase: b("staircase"),
            },
            "CosineDecay" => LearningRate::CosineDecay {
                initial_learning_rate: f("initial_learning_rate", 0.01),
                decay_steps: u("decay_steps"),
                alpha: f("alpha", 0.0),
                warmup_target: config
                    .get("warmup_target")
                    .and_then(Value::as_f64)
                    .map(|v| v as f32),
                warmup_steps: config
                    .get("warmup_steps")
                    .and_then(Value::as_u64)
                    .unwrap_or(0),
            },
            "PolynomialDecay" => LearningRate::PolynomialDecay {
                initial_learning_rate: f("initial_learning_rate", 0.01),
                decay_steps: u("decay_steps"),
                end_learning_rate: f("end_learning_rate", 1e-4),
                power: f("power", 1.0),
                cycle: b("cycle"),
            },
            "CosineDecayRestarts" => LearningRate::CosineDecayRestarts {
                initial_learning_rate: f("initial_learning_rate", 0.01),
                first_decay_steps: u("first_decay_steps"),
                t_mul: f("t_mul", 2.0),
                m_mul: f("m_mul", 1.0),
                alpha: f("alpha", 0.0),
            },
            "PiecewiseConstantDecay" => LearningRate::PiecewiseConstantDecay {
                boundaries: config
                    .get("boundaries")
                    .and_then(Value::as_array)
                    .map(|a| a.iter().filter_map(Value::as_u64).collect())
                    .unwrap_or_default(),
                values: config
                    .get("values")
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(Value::as_f64)
                            .map(|v| v as f32)
                            .collect()
                    })
                    .unwrap_or_default(),
            },
            other => {
                return Err(Error::UnknownName {
                    kind: "learning-rate schedule",
                    name: other.to_string(),
                    valid: vec![
                        "ExponentialDecay",
                        "InverseTimeDecay",
                        "CosineDecay",
                        "PolynomialDecay",
                        "CosineDecayRestarts",
                        "PiecewiseConstantDecay",
                    ],
                });
            }
        })
    }
}
