//! Adagrad (Keras `Adagrad`): `acc += g²; p -= lr·g/√(acc + ε)`, `acc` starting at
//! `initial_accumulator_value`.

use serde::{Deserialize, Serialize};

use super::elem::Elem;
use super::rule::{Elementwise, ParamInfo, Slot, Step, UpdateRule, elementwise_update};

/// Adagrad's options, Keras's names and defaults (initial accumulator 0.1, ε 1e-7).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Adagrad {
    /// Starting value of the accumulator.
    pub initial_accumulator_value: f32,
    /// Inside the square root.
    pub epsilon: f32,
}

impl Default for Adagrad {
    fn default() -> Self {
        Self {
            initial_accumulator_value: 0.1,
            epsilon: 1e-7,
        }
    }
}

impl UpdateRule for Adagrad {
    const CLASS: &'static str = "Adagrad";

    fn slots(&self, info: &ParamInfo) -> Vec<Slot> {
        vec![Slot {
            initial: self.initial_accumulator_value,
            ..Slot::like("accumulator", info)
        }]
    }

    fn keras_groups(&self) -> Vec<Vec<&'static str>> {
        vec![vec!["accumulator"]]
    }

    elementwise_update!();
}

impl Elementwise for Adagrad {
    /// Learning rate, ε.
    type Scalars = (f32, f32);

    fn scalars(&self, step: &Step) -> Self::Scalars {
        (step.lr, self.epsilon)
    }

    #[inline(always)]
    fn apply<T: Elem>((lr, eps): Self::Scalars, p: &mut T, g: &T, slots: &mut [T]) {
        let [acc, ..] = slots else { return };
        *acc = acc.clone() + g.clone().square();
        *p = p.clone() - g.clone() / (acc.clone() + eps).sqrt() * lr;
    }
}
