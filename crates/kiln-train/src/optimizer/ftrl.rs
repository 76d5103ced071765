//! FTRL-proximal (Keras `Ftrl`, McMahan et al. 2013), with L1, L2 and L2-shrinkage
//! regularization and a learning-rate power.

use serde::{Deserialize, Serialize};

use super::elem::Elem;
use super::rule::{Elementwise, ParamInfo, Slot, Step, UpdateRule, elementwise_update};

/// FTRL's options, Keras's names and defaults (power -0.5, accumulator 0.1, no regularization).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Ftrl {
    /// How the per-coordinate rate falls with the accumulated squared gradient (≤ 0).
    pub learning_rate_power: f32,
    /// Starting value of the accumulator (≥ 0).
    pub initial_accumulator_value: f32,
    /// L1 strength (≥ 0): coordinates whose linear term stays inside `±l1` are zero.
    pub l1_regularization_strength: f32,
    /// L2 strength (≥ 0), a stabilization penalty.
    pub l2_regularization_strength: f32,
    /// L2 shrinkage (≥ 0), a magnitude penalty added to the gradient.
    pub l2_shrinkage_regularization_strength: f32,
    /// The paper's β, added as `β/(2·lr)` to the L2 strength.
    pub beta: f32,
}

impl Default for Ftrl {
    fn default() -> Self {
        Self {
            learning_rate_power: -0.5,
            initial_accumulator_value: 0.1,
            l1_regularization_strength: 0.0,
            l2_regularization_strength: 0.0,
            l2_shrinkage_regularization_strength: 0.0,
            beta: 0.0,
        }
    }
}

impl UpdateRule for Ftrl {
    const CLASS: &'static str = "Ftrl";

    fn slots(&self, info: &ParamInfo) -> Vec<Slot> {
        vec![
            Slot {
                initial: self.initial_accumulator_value,
                ..Slot::like("accumulator", info)
            },
            Slot::like("linear", info),
        ]
    }

    fn keras_groups(&self) -> Vec<Vec<&'static str>> {
        vec![vec!["accumulator", "linear"]]
    }

    elementwise_update!();
}

impl Elementwise for Ftrl {
    /// `[lr, -power, l1, 2·l2 (β included), 2·shrinkage]`.
    type Scalars = [f32; 5];

    fn scalars(&self, step: &Step) -> Self::Scalars {
        let l2 = self.l2_regularization_strength + self.beta / (2.0 * step.lr);
        [
            step.lr,
            -self.learning_rate_power,
            self.l1_regularization_strength,
            2.0 * l2,
            2.0 * self.l2_shrinkage_regularization_strength,
        ]
    }

    #[inline(always)]
    fn apply<T: Elem>(k: Self::Scalars, p: &mut T, g: &T, slots: &mut [T]) {
        let [lr, power, l1, l2_twice, shrink_twice] = k;
        let [accum, linear, ..] = slots else { return };
        let grad = g.clone() + p.clone() * shrink_twice;
        let new_accum = accum.clone() + g.clone().square();
        let new_root = new_accum.clone().powf(power);
        let sigma = (new_root.clone() - accum.clone().powf(power)) / lr;
        *linear = linear.clone() + (grad - sigma * p.clone());
        let quadratic = new_root / lr + l2_twice;
        let clipped = linear.clone().clamp(-l1, l1);
        *p = (clipped - linear.clone()) / quadratic;
        *accum = new_accum;
    }
}
