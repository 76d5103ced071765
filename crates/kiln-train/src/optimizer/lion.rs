//! Lion (Keras `Lion`): `p -= lr·sign(β₁m + (1-β₁)g)`, then `m = β₂m + (1-β₂)g`.

use serde::{Deserialize, Serialize};

use super::elem::Elem;
use super::rule::{Elementwise, ParamInfo, Slot, Step, UpdateRule, elementwise_update};

/// Lion's options, Keras's names and defaults (β 0.9/0.99).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Lion {
    /// Interpolation for the update.
    pub beta_1: f32,
    /// Decay of `m`.
    pub beta_2: f32,
}

impl Default for Lion {
    fn default() -> Self {
        Self {
            beta_1: 0.9,
            beta_2: 0.99,
        }
    }
}

impl UpdateRule for Lion {
    const CLASS: &'static str = "Lion";

    fn slots(&self, info: &ParamInfo) -> Vec<Slot> {
        vec![Slot::like("momentum", info)]
    }

    fn keras_groups(&self) -> Vec<Vec<&'static str>> {
        vec![vec!["momentum"]]
    }

    elementwise_update!();
}

impl Elementwise for Lion {
    /// Learning rate, β₁, β₂.
    type Scalars = (f32, f32, f32);

    fn scalars(&self, step: &Step) -> Self::Scalars {
        (step.lr, self.beta_1, self.beta_2)
    }

    #[inline(always)]
    fn apply<T: Elem>((lr, b1, b2): Self::Scalars, p: &mut T, g: &T, slots: &mut [T]) {
        let [m, ..] = slots else { return };
        let direction = (m.clone() * b1 + g.clone() * (1.0 - b1)).sign();
        *p = p.clone() - direction * lr;
        *m = (m.clone() * b2 + g.clone() * (1.0 - b2)).flush();
    }
}
