//! Adadelta (Keras `Adadelta`, Zeiler's rule): running averages of squared gradients and of
//! squared updates; `Δ = -√(E[Δ²] + ε)·g/√(E[g²] + ε)`, `p += lr·Δ`.

use serde::{Deserialize, Serialize};

use super::elem::Elem;
use super::rule::{Elementwise, ParamInfo, Slot, Step, UpdateRule, elementwise_update};

/// Adadelta's options, Keras's names and defaults (ρ 0.95, ε 1e-7).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Adadelta {
    /// Decay.
    pub rho: f32,
    /// Inside the square roots.
    pub epsilon: f32,
}

impl Default for Adadelta {
    fn default() -> Self {
        Self {
            rho: 0.95,
            epsilon: 1e-7,
        }
    }
}

impl UpdateRule for Adadelta {
    const CLASS: &'static str = "Adadelta";

    fn slots(&self, info: &ParamInfo) -> Vec<Slot> {
        vec![
            Slot::like("accumulated_grad", info),
            Slot::like("accumulated_delta_var", info),
        ]
    }

    fn keras_groups(&self) -> Vec<Vec<&'static str>> {
        vec![vec!["accumulated_grad", "accumulated_delta_var"]]
    }

    elementwise_update!();
}

impl Elementwise for Adadelta {
    /// Learning rate, ρ, ε.
    type Scalars = (f32, f32, f32);

    fn scalars(&self, step: &Step) -> Self::Scalars {
        (step.lr, self.rho, self.epsilon)
    }

    #[inline(always)]
    fn apply<T: Elem>((lr, rho, eps): Self::Scalars, p: &mut T, g: &T, slots: &mut [T]) {
        let [acc_g, acc_d, ..] = slots else { return };
        *acc_g = (acc_g.clone() * rho + g.clone().square() * (1.0 - rho)).flush();
        let delta = -((acc_d.clone() + eps).sqrt() * g.clone()) / (acc_g.clone() + eps).sqrt();
        *acc_d = (acc_d.clone() * rho + delta.clone().square() * (1.0 - rho)).flush();
        *p = p.clone() + delta * lr;
    }
}
