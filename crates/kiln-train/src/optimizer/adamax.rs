//! Adamax (Keras `Adamax`): Adam with the infinity norm, `u = max(β₂u, |g|)`,
//! `p -= lr/(1-β₁ᵗ) · m/(u + ε)`.

use serde::{Deserialize, Serialize};

use super::elem::Elem;
use super::rule::{Elementwise, ParamInfo, Slot, Step, UpdateRule, elementwise_update};

/// Adamax's options, Keras's names and defaults (β 0.9/0.999, ε 1e-7).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Adamax {
    /// First-moment decay.
    pub beta_1: f32,
    /// Decay of `u`.
    pub beta_2: f32,
    /// Added to `u`.
    pub epsilon: f32,
}

impl Default for Adamax {
    fn default() -> Self {
        Self {
            beta_1: 0.9,
            beta_2: 0.999,
            epsilon: 1e-7,
        }
    }
}

impl UpdateRule for Adamax {
    const CLASS: &'static str = "Adamax";

    fn slots(&self, info: &ParamInfo) -> Vec<Slot> {
        vec![Slot::like("momentum", info), Slot::like("norm", info)]
    }

    fn keras_groups(&self) -> Vec<Vec<&'static str>> {
        vec![vec!["momentum", "norm"]]
    }

    elementwise_update!();
}

impl Elementwise for Adamax {
    /// `[β₁, β₂, ε, lr/(1-β₁ᵗ)]`.
    type Scalars = [f32; 4];

    fn scalars(&self, step: &Step) -> Self::Scalars {
        let scale = step.lr / (1.0 - self.beta_1.powf(step.t as f32));
        [self.beta_1, self.beta_2, self.epsilon, scale]
    }

    #[inline(always)]
    fn apply<T: Elem>([b1, b2, eps, scale]: Self::Scalars, p: &mut T, g: &T, slots: &mut [T]) {
        let [m, u, ..] = slots else { return };
        *m = (m.clone() * b1 + g.clone() * (1.0 - b1)).flush();
        *u = (u.clone() * b2).max(g.clone().abs()).flush();
        *p = p.clone() - m.clone() / (u.clone() + eps) * scale;
    }
}
