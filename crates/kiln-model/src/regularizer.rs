//! Weight penalties added to the training loss (Keras `keras.regularizers`).

use burn::tensor::Tensor;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Value, json};

/// `l1 · Σ|w| + l2 · Σw²` of a weight, added to the loss that `fit` minimizes and reports
/// (Keras `L1`, `L2`, `L1L2`; Keras's string names `"l1"`, `"l2"`, `"l1_l2"` mean 0.01).
///
/// # Examples
/// ```
/// use kiln_model::{Dense, Regularizer};
/// let layer = Dense::new(64).kernel_regularizer(Regularizer::l2(1e-4));
/// assert_eq!(layer.kernel.kernel_regularizer, Some(Regularizer { l1: 0.0, l2: 1e-4 }));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Regularizer {
    /// Factor of the sum of absolute values.
    pub l1: f32,
    /// Factor of the sum of squares.
    pub l2: f32,
}

impl Regularizer {
    /// `l1 · Σ|w|` (Keras `L1`).
    pub fn l1(l1: f32) -> Self {
        Self { l1, l2: 0.0 }
    }

    /// `l2 · Σw²` (Keras `L2`).
    pub fn l2(l2: f32) -> Self {
        Self { l1: 0.0, l2 }
    }

    /// Both (Keras `L1L2`).
    pub fn l1_l2(l1: f32, l2: f32) -> Self {
        Self { l1, l2 }
    }

    /// The penalty of one weight, a one-element tensor on the weight's device.
    pub fn penalty<const D: usize>(&self, w: Tensor<D>) -> Tensor<1> {
        let l2 = (self.l2 != 0.0).then(|| w.clone().square().sum() * self.l2);
        let l1 = (self.l1 != 0.0).then(|| w.clone().abs().sum() * self.l1);
        match (l1, l2) {
            (Some(a), Some(b)) => a + b,
            (Some(a), None) | (None, Some(a)) => a,
            (None, None) => w.sum() * 0.0,
        }
    }

    /// Keras's class name: `L1`, `L2` or `L1L2`.
    pub fn class_name(&self) -> &'static str {
        match (self.l1 != 0.0, self.l2 != 0.0) {
            (true, false) => "L1",
            (false, true) => "L2",
            _ => "L1L2",
        }
    }
}

impl Serialize for Regularizer {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let config = match self.class_name() {
            "L1" => json!({ "l1": self.l1 }),
            "L2" => json!({ "l2": self.l2 }),
            _ => json!({ "l1": self.l1, "l2": self.l2 }),
        };
        json!({ "module": "keras.regularizers", "class_name": self.class_name(), "config": config })
            .serialize(s)
    }
}

impl<'de> Deserialize<'de> for Regularizer {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        let (name, config) = crate::keras_object::name_and_config(&v, "a regularizer")
            .map_err(serde::de::Error::custom)?;
        let factor = |key: &str, default: f32| {
            config
                .get(key)
                .and_then(Value::as_f64)
                .map_or(default, |v| v as f32)
        };
        let key = name.to_lowercase().replace('_', "");
        Ok(match key.as_str() {
            "l1" => Regularizer::l1(factor("l1", 0.01)),
            "l2" => Regularizer::l2(factor("l2", 0.01)),
            "l1l2" => Regularizer::l1_l2(factor("l1", 0.0), factor("l2", 0.0)),
            _ => {
                return Err(serde::de::Error::custom(format!(
                    "unknown regularizer `{name}`; valid names: l1, l2, l1_l2 (Keras L1, L2, L1L2)"
                )));
            }
        })
    }
}
