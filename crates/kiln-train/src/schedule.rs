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
    /// Cosine from `initial` down to `initial · alpha` over `decay_steps`.
    CosineDecay {
        /// Rate at step 0.
        initial_learning_rate: f32,
        /// Length of the decay.
        decay_steps: u64,
        /// Final fraction of the initial rate.
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
            } => {
                let p = s.min(*decay_steps as f32) / (*decay_steps).max(1) as f32;
                let cosine = 0.5 * (1.0 + (std::f32::consts::PI * p).cos());
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
                        "PiecewiseConstantDecay",
                    ],
                });
            }
        })
    }
}
