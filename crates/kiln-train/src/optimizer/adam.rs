//! Adam (Keras `Adam`, and `AdamW` with weight decay): `m = β₁m + (1-β₁)g`,
//! `v = β₂v + (1-β₂)g²`, `p -= α·m/(√v + ε)` with `α = lr·√(1-β₂ᵗ)/(1-β₁ᵗ)`; AMSGrad divides by
//! the running maximum of `v`.

use serde::{Deserialize, Serialize};

use super::elem::Elem;
use super::rule::{Elementwise, ParamInfo, Slot, Step, UpdateRule, elementwise_update};

/// Adam's options, Keras's names and defaults (β 0.9/0.999, ε 1e-7, no AMSGrad).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Adam {
    /// First-moment decay.
    pub beta_1: f32,
    /// Second-moment decay.
    pub beta_2: f32,
    /// Added to `√v`.
    pub epsilon: f32,
    /// Use the running maximum of `v`.
    pub amsgrad: bool,
}

impl Default for Adam {
    fn default() -> Self {
        Self {
            beta_1: 0.9,
            beta_2: 0.999,
            epsilon: 1e-7,
            amsgrad: false,
        }
    }
}

/// Adam's step size `lr·√(1-β₂ᵗ)/(1-β₁ᵗ)`; Keras computes the bias corrections in float32.
pub(crate) fn adam_alpha(step: &Step, beta_1: f32, beta_2: f32) -> f32 {
    let t = step.t as f32;
    step.lr * (1.0 - beta_2.powf(t)).sqrt() / (1.0 - beta_1.powf(t))
}

impl UpdateRule for Adam {
    const CLASS: &'static str = "Adam";

    fn slots(&self, info: &ParamInfo) -> Vec<Slot> {
        let mut slots = vec![Slot::like("momentum", info), Slot::like("velocity", info)];
        if self.amsgrad {
            slots.push(Slot::like("velocity_hat", info));
        }
        slots
    }

    fn keras_groups(&self) -> Vec<Vec<&'static str>> {
        vec![vec!["momentum", "velocity"], vec!["velocity_hat"]]
    }

    elementwise_update!();
}

impl Elementwise for Adam {
    /// `[β₁, β₂, ε, α]`.
    type Scalars = [f32; 4];

    fn scalars(&self, step: &Step) -> Self::Scalars {
        let alpha = adam_alpha(step, self.beta_1, self.beta_2);
        [self.beta_1, self.beta_2, self.epsilon, alpha]
    }

    #[inline(always)]
    fn apply<T: Elem>([b1, b2, eps, alpha]: Self::Scalars, p: &mut T, g: &T, slots: &mut [T]) {
        let (c1, c2) = (1.0 - b1, 1.0 - b2);
        let [m, v, rest @ ..] = slots else { return };
        *m = (m.clone() * b1 + g.clone() * c1).flush();
        *v = (v.clone() * b2 + g.clone().square() * c2).flush();
        let denominator = match rest {
            [vhat, ..] => {
                *vhat = vhat.clone().max(v.clone());
                vhat.clone().sqrt() + eps
            }
            [] => v.clone().sqrt() + eps,
        };
        *p = p.clone() - m.clone() / denominator * alpha;
    }
}
