//! Weight constraints applied after every optimizer step (Keras `keras.constraints`).

use burn::tensor::Tensor;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Value, json};

/// Keras's `backend.epsilon()`, in the norms' denominators.
const EPSILON: f32 = 1e-7;

/// A projection of a weight applied after each optimizer step (Keras `kernel_constraint`,
/// `bias_constraint`, ...: `MaxNorm`, `NonNeg`, `UnitNorm`, `MinMaxNorm`; the string names
/// `"max_norm"`, `"non_neg"`, `"unit_norm"`, `"min_max_norm"` give Keras's defaults). The norms
/// are over `axis` (Keras's default 0: for a Dense kernel `[inputs, units]`, each unit's incoming
/// weights; use `[0, 1, 2]` for a Conv2D kernel `[h, w, in, out]`).
///
/// # Examples
/// ```
/// use kiln_model::{Constraint, Dense};
/// let layer = Dense::new(64).kernel_constraint(Constraint::max_norm(3.0));
/// let want = Constraint::MaxNorm { max_value: 3.0, axis: vec![0] };
/// assert_eq!(layer.kernel.kernel_constraint, Some(want));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub enum Constraint {
    /// Rescales where the norm exceeds `max_value`: `w · clip(n, 0, max) / (ε + n)` (Keras
    /// `MaxNorm`, default 2).
    MaxNorm {
        /// The largest norm.
        max_value: f32,
        /// The axes the norm is over (negative from the end).
        axis: Vec<i64>,
    },
    /// Zeroes the negative values (Keras `NonNeg`).
    NonNeg,
    /// Scales to norm 1: `w / (ε + n)` (Keras `UnitNorm`).
    UnitNorm {
        /// The axes the norm is over.
        axis: Vec<i64>,
    },
    /// Moves the norm into `[min_value, max_value]` at `rate`: `w · (rate · clip(n, min, max) +
    /// (1 - rate) · n) / (ε + n)` (Keras `MinMaxNorm`, defaults 0, 1, 1).
    MinMaxNorm {
        /// The smallest norm.
        min_value: f32,
        /// The largest norm.
        max_value: f32,
        /// How far to move: 1 clips, less moves part of the way.
        rate: f32,
        /// The axes the norm is over.
        axis: Vec<i64>,
    },
}

impl Constraint {
    /// `MaxNorm(max_value)` over axis 0.
    pub fn max_norm(max_value: f32) -> Self {
        Constraint::MaxNorm {
            max_value,
            axis: vec![0],
        }
    }

    /// `NonNeg`.
    pub fn non_neg() -> Self {
        Constraint::NonNeg
    }

    /// `UnitNorm` over axis 0.
    pub fn unit_norm() -> Self {
        Constraint::UnitNorm { axis: vec![0] }
    }

    /// `MinMaxNorm(min_value, max_value)` over axis 0, rate 1.
    pub fn min_max_norm(min_value: f32, max_value: f32) -> Self {
        Constraint::MinMaxNorm {
            min_value,
            max_value,
            rate: 1.0,
            axis: vec![0],
        }
    }

    /// The same constraint with its norm over `axis` (Keras's `axis`; NonNeg has none).
    pub fn axis(mut self, axes: impl Into<Vec<i64>>) -> Self {
        match &mut self {
            Constraint::MaxNorm { axis, .. }
            | Constraint::UnitNorm { axis }
            | Constraint::MinMaxNorm { axis, .. } => *axis = axes.into(),
            Constraint::NonNeg => {}
        }
        self
    }

    /// Keras's class name.
    pub fn class_name(&self) -> &'static str {
        match self {
            Constraint::MaxNorm { .. } => "MaxNorm",
            Constraint::NonNeg => "NonNeg",
            Constraint::UnitNorm { .. } => "UnitNorm",
            Constraint::MinMaxNorm { .. } => "MinMaxNorm",
        }
    }

    /// Checks the axes against a weight's shape.
    ///
    /// # Errors
    /// An axis outside the weight's rank.
    pub fn check(&self, shape: &[usize]) -> Result<(), String> {
        self.axes(shape).map(|_| ())
    }

    fn axes(&self, shape: &[usize]) -> Result<Vec<usize>, String> {
        let axis = match self {
            Constraint::MaxNorm { axis, .. }
            | Constraint::UnitNorm { axis }
            | Constraint::MinMaxNorm { axis, .. } => axis,
            Constraint::NonNeg => return Ok(Vec::new()),
        };
        let rank = shape.len() as i64;
        axis.iter()
            .map(|&a| {
                let r = if a < 0 { a + rank } else { a };
                if (0..rank).contains(&r) {
                    Ok(r as usize)
                } else {
                    Err(format!(
                        "{} axis {a} is outside a weight of shape {shape:?}",
                        self.class_name()
                    ))
                }
            })
            .collect()
    }

    /// The constrained values of a flat weight of `shape` (rank at most 5).
    ///
    /// # Errors
    /// An axis outside the weight's rank; a rank above 5.
    pub fn apply(&self, w: Tensor<1>, shape: &[usize]) -> Result<Tensor<1>, String> {
        if let Constraint::NonNeg = self {
            return Ok(w.clone() * w.greater_equal_elem(0.0).float());
        }
        let axes = self.axes(shape)?;
        if shape.len() > 5 {
            return Err(format!(
                "constraints take weights of rank up to 5, got {shape:?}"
            ));
        }
        let n: usize = shape.iter().product();
        let mut dims = [1usize; 5];
        dims[..shape.len()].copy_from_slice(shape);
        let t: Tensor<5> = w.reshape(dims);
        let mut sq = t.clone().square();
        for &a in &axes {
            sq = sq.sum_dim(a);
        }
        let norms = sq.sqrt();
        let scaled = match *self {
            Constraint::MaxNorm { max_value, .. } => {
                t * (norms.clone().clamp(0.0, max_value) / (norms + EPSILON))
            }
            Constraint::UnitNorm { .. } => t / (norms + EPSILON),
            Constraint::MinMaxNorm {
                min_value,
                max_value,
                rate,
                ..
            } => {
                let desired =
                    norms.clone().clamp(min_value, max_value) * rate + norms.clone() * (1.0 - rate);
                t * (desired / (norms + EPSILON))
            }
            Constraint::NonNeg => t,
        };
        Ok(scaled.reshape([n]))
    }
}

fn axis_value(axis: &[i64]) -> Value {
    match axis {
        [one] => json!(one),
        many => json!(many),
    }
}

impl Serialize for Constraint {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let config = match self {
            Constraint::MaxNorm { max_value, axis } => {
                json!({ "max_value": max_value, "axis": axis_value(axis) })
            }
            Constraint::NonNeg => json!({}),
            Constraint::UnitNorm { axis } => json!({ "axis": axis_value(axis) }),
            Constraint::MinMaxNorm {
                min_value,
                max_value,
                rate,
                axis,
            } => json!({
                "min_value": min_value, "max_value": max_value, "rate": rate,
                "axis": axis_value(axis),
            }),
        };
        json!({ "module": "keras.constraints", "class_name": self.class_name(), "config": config,
                "registered_name": null })
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for Constraint {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        let (name, config) = crate::keras_object::name_and_config(&v, "a constraint")
            .map_err(serde::de::Error::custom)?;
        let number = |key: &str, default: f32| {
            config
                .get(key)
                .and_then(Value::as_f64)
                .map_or(default, |v| v as f32)
        };
        let axis =
            match config.get("axis") {
                None | Some(Value::Null) => vec![0],
                Some(Value::Array(list)) => list
                    .iter()
                    .map(|a| a.as_i64().ok_or("a constraint axis must be an integer"))
                    .collect::<Result<_, _>>()
                    .map_err(serde::de::Error::custom)?,
                Some(a) => vec![a.as_i64().ok_or_else(|| {
                    serde::de::Error::custom("a constraint axis must be an integer")
                })?],
            };
        let key = name.to_lowercase().replace('_', "");
        Ok(match key.as_str() {
            "maxnorm" => Constraint::MaxNorm {
                max_value: number("max_value", 2.0),
                axis,
            },
            "nonneg" => Constraint::NonNeg,
            "unitnorm" => Constraint::UnitNorm { axis },
            "minmaxnorm" => Constraint::MinMaxNorm {
                min_value: number("min_value", 0.0),
                max_value: number("max_value", 1.0),
                rate: number("rate", 1.0),
                axis,
            },
            _ => {
                return Err(serde::de::Error::custom(format!(
                    "unknown constraint `{name}`; valid names: max_norm, non_neg, unit_norm, \
                     min_max_norm (Keras MaxNorm, NonNeg, UnitNorm, MinMaxNorm)"
                )));
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(t: Tensor<1>) -> Vec<f32> {
        t.into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .unwrap_or_default()
    }

    #[test]
    fn max_norm_rescales_only_the_columns_above_the_limit() {
        let device = burn::tensor::Device::flex();
        // Kernel [2, 2]: column 0 has norm 5 (3, 4), column 1 norm 1 (0.6, 0.8).
        let w = Tensor::<1>::from_floats([3.0, 0.6, 4.0, 0.8], &device);
        let out = values(Constraint::max_norm(2.0).apply(w, &[2, 2]).unwrap());
        let want = [1.2, 0.6, 1.6, 0.8];
        for (g, w) in out.iter().zip(want) {
            assert!((g - w).abs() < 1e-5, "{out:?}");
        }
    }

    #[test]
    fn non_neg_unit_norm_and_min_max_norm() {
        let device = burn::tensor::Device::flex();
        let w = || Tensor::<1>::from_floats([3.0, -0.6, -4.0, 0.8], &device);
        assert_eq!(
            values(Constraint::non_neg().apply(w(), &[2, 2]).unwrap()),
            [3.0, 0.0, 0.0, 0.8]
        );
        let unit = values(
            Constraint::unit_norm()
                .axis([1])
                .apply(w(), &[2, 2])
                .unwrap(),
        );
        // Rows: (3, -0.6) has norm √9.36, (-4, 0.8) √16.64.
        let (a, b) = (9.36f32.sqrt(), 16.64f32.sqrt());
        for (g, w) in unit.iter().zip([3.0 / a, -0.6 / a, -4.0 / b, 0.8 / b]) {
            assert!((g - w).abs() < 1e-5, "{unit:?}");
        }
        // Column 1 has norm 1 (inside [0.5, 2]), column 0 norm 5 → 2 at rate 1, 3.5 at rate 0.5.
        let half = Constraint::MinMaxNorm {
            min_value: 0.5,
            max_value: 2.0,
            rate: 0.5,
            axis: vec![0],
        };
        let out = values(half.apply(w(), &[2, 2]).unwrap());
        for (g, w) in out.iter().zip([3.0 * 0.7, -0.6, -4.0 * 0.7, 0.8]) {
            assert!((g - w).abs() < 1e-5, "{out:?}");
        }
    }

    #[test]
    fn keras_configs_read_and_write_back() {
        let c: Constraint = serde_json::from_value(json!({"module": "keras.constraints",
            "class_name": "MaxNorm", "config": {"max_value": 3, "axis": [0, 1, 2]}}))
        .unwrap();
        assert_eq!(c, Constraint::max_norm(3.0).axis([0, 1, 2]));
        let back: Constraint = serde_json::from_value(serde_json::to_value(&c).unwrap()).unwrap();
        assert_eq!(back, c);
        let named: Constraint = serde_json::from_value(json!("non_neg")).unwrap();
        assert_eq!(named, Constraint::NonNeg);
        let bad = serde_json::from_value::<Constraint>(json!("radial"));
        assert!(bad.unwrap_err().to_string().contains("unknown constraint"));
        assert!(Constraint::unit_norm().axis([2]).check(&[3, 4]).is_err());
    }
}
