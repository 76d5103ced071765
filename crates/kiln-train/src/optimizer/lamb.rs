//! LAMB (Keras `Lamb`, You et al. 2019): Adam's bias-corrected direction, scaled per weight by
//! the trust ratio `‖p‖/‖update‖` (1 when either norm is zero).

use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use super::rule::{ParamInfo, Slot, Step, UpdateRule};

/// LAMB's options, Keras's names and defaults (β 0.9/0.999, ε 1e-7).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Lamb {
    /// First-moment decay.
    pub beta_1: f32,
    /// Second-moment decay.
    pub beta_2: f32,
    /// Added to `√v̂`.
    pub epsilon: f32,
}

impl Default for Lamb {
    fn default() -> Self {
        Self {
            beta_1: 0.9,
            beta_2: 0.999,
            epsilon: 1e-7,
        }
    }
}

impl UpdateRule for Lamb {
    const CLASS: &'static str = "Lamb";

    fn slots(&self, info: &ParamInfo) -> Vec<Slot> {
        vec![Slot::like("momentum", info), Slot::like("velocity", info)]
    }

    fn keras_groups(&self) -> Vec<Vec<&'static str>> {
        vec![vec!["momentum", "velocity"]]
    }

    fn update(
        &self,
        step: &Step,
        _info: &ParamInfo,
        p: Tensor<1>,
        g: Tensor<1>,
        slots: &mut [Tensor<1>],
    ) -> Tensor<1> {
        let [m, v, ..] = slots else { return p };
        let t = step.t as f32;
        let (b1, b2) = (self.beta_1, self.beta_2);
        // Keras: `m += (g - m)(1-β₁)`, `v += (g² - v)(1-β₂)`.
        *m = m.clone() + (g.clone() - m.clone()) * (1.0 - b1);
        *v = v.clone() + (g.clone().square() - v.clone()) * (1.0 - b2);
        let m_hat = m.clone() / (1.0 - b1.powf(t));
        let v_sqrt = (v.clone() / (1.0 - b2.powf(t))).sqrt() + self.epsilon;
        let update = m_hat / v_sqrt;
        let w_norm = p.clone().square().sum().sqrt();
        let u_norm = update.clone().square().sum().sqrt();
        let both = w_norm
            .clone()
            .greater_elem(0.0)
            .bool_and(u_norm.clone().greater_elem(0.0));
        let ratio = w_norm.ones_like().mask_where(both, w_norm / u_norm);
        p - update * (ratio * step.lr)
    }
}
