//! Nadam (Keras `Nadam`): Adam with Nesterov momentum and Keras's momentum schedule
//! `μₜ = β₁(1 - 0.5·0.96ᵗ)`; the running product of the `μ`s is the optimizer's `u_product`.

use serde::{Deserialize, Serialize};

use super::elem::Elem;
use super::rule::{Elementwise, ParamInfo, Slot, Step, UpdateRule, elementwise_update};

/// Nadam's options, Keras's names and defaults (β 0.9/0.999, ε 1e-7).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Nadam {
    /// First-moment decay.
    pub beta_1: f32,
    /// Second-moment decay.
    pub beta_2: f32,
    /// Added to `√v̂`.
    pub epsilon: f32,
}

impl Default for Nadam {
    fn default() -> Self {
        Self {
            beta_1: 0.9,
            beta_2: 0.999,
            epsilon: 1e-7,
        }
    }
}

impl Nadam {
    /// `μₜ`, the momentum factor of step `t`.
    pub(crate) fn momentum_at(&self, t: f32) -> f32 {
        self.beta_1 * (1.0 - 0.5 * 0.96f32.powf(t))
    }
}

impl UpdateRule for Nadam {
    const CLASS: &'static str = "Nadam";

    fn slots(&self, info: &ParamInfo) -> Vec<Slot> {
        vec![Slot::like("momentum", info), Slot::like("velocity", info)]
    }

    fn keras_groups(&self) -> Vec<Vec<&'static str>> {
        vec![vec!["momentum", "velocity"]]
    }

    elementwise_update!();
}

impl Elementwise for Nadam {
    /// `[β₁, β₂, ε, lr, m̂'s factor on m, m̂'s factor on g, 1/(1-β₂ᵗ)]`.
    type Scalars = [f32; 7];

    fn scalars(&self, step: &Step) -> Self::Scalars {
        let t = step.t as f32;
        let (u_t, u_next) = (self.momentum_at(t), self.momentum_at(t + 1.0));
        let product = step.nadam_product;
        let product_next = product * u_next;
        [
            self.beta_1,
            self.beta_2,
            self.epsilon,
            step.lr,
            u_next / (1.0 - product_next),
            (1.0 - u_t) / (1.0 - product),
            1.0 - self.beta_2.powf(t),
        ]
    }

    #[inline(always)]
    fn apply<T: Elem>(k: Self::Scalars, p: &mut T, g: &T, slots: &mut [T]) {
        let [b1, b2, eps, lr, on_m, on_g, correction] = k;
        let [m, v, ..] = slots else { return };
        *m = (m.clone() * b1 + g.clone() * (1.0 - b1)).flush();
        *v = (v.clone() * b2 + g.clone().square() * (1.0 - b2)).flush();
        let m_hat = m.clone() * on_m + g.clone() * on_g;
        let v_hat = v.clone() / correction;
        *p = p.clone() - m_hat / (v_hat.sqrt() + eps) * lr;
    }
}
