//! Muon (Keras `Muon`, Jordan et al. 2024, with Moonlight's RMS matching): matrices take
//! momentum orthogonalized by a quintic Newton–Schulz iteration; every other weight (rank ≠ 2,
//! embeddings, the layers `exclude_layers` names) takes AdamW.

use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use super::adam::adam_alpha;
use super::rule::{ParamInfo, Slot, Step, UpdateRule};

/// Muon's options, Keras's names and defaults (Keras's `weight_decay` default 0.004 is the
/// optimizer's, see [`Optimizer::muon`](crate::Optimizer::muon)).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Muon {
    /// AdamW's first-moment decay.
    pub adam_beta_1: f32,
    /// AdamW's second-moment decay.
    pub adam_beta_2: f32,
    /// AdamW's weight decay (the matrices take the optimizer's `weight_decay`).
    pub adam_weight_decay: Option<f32>,
    /// AdamW's ε.
    pub epsilon: f32,
    /// Regular expressions: weights whose path matches one take AdamW.
    pub exclude_layers: Vec<String>,
    /// Weights whose path contains `embedding` take AdamW.
    pub exclude_embeddings: bool,
    /// Newton–Schulz coefficient of `X`.
    pub muon_a: f32,
    /// Newton–Schulz coefficient of `XXᵀX`.
    pub muon_b: f32,
    /// Newton–Schulz coefficient of `(XXᵀ)²X`.
    pub muon_c: f32,
    /// AdamW's learning rate relative to the optimizer's.
    pub adam_lr_ratio: f32,
    /// Momentum of the matrices.
    pub momentum: f32,
    /// Newton–Schulz iterations.
    pub ns_steps: u32,
    /// Nesterov momentum for the matrices.
    pub nesterov: bool,
    /// Scales a matrix update by `√max(rows, cols)·rms_rate` (none: unscaled).
    pub rms_rate: Option<f32>,
}

impl Default for Muon {
    fn default() -> Self {
        Self {
            adam_beta_1: 0.9,
            adam_beta_2: 0.999,
            adam_weight_decay: Some(0.004),
            epsilon: 1e-7,
            exclude_layers: Vec::new(),
            exclude_embeddings: true,
            muon_a: 3.4445,
            muon_b: -4.7750,
            muon_c: 2.0315,
            adam_lr_ratio: 1.0,
            momentum: 0.95,
            ns_steps: 5,
            nesterov: true,
            rms_rate: Some(0.2),
        }
    }
}

impl Muon {
    /// Whether a weight takes AdamW rather than Muon (Keras's `_should_use_adamw`).
    pub(crate) fn uses_adamw(&self, info: &ParamInfo) -> bool {
        info.shape.len() != 2
            || (self.exclude_embeddings && info.path.to_lowercase().contains("embedding"))
            || self
                .exclude_layers
                .iter()
                .any(|pattern| regex::Regex::new(pattern).is_ok_and(|re| re.is_match(info.path)))
    }

    /// The quintic Newton–Schulz iteration towards the orthogonal factor of `x` `[rows, cols]`.
    fn orthogonalize(&self, x: Tensor<2>) -> Tensor<2> {
        let [rows, cols] = x.dims();
        let tall = rows > cols;
        let mut x = if tall { x.transpose() } else { x };
        let norm = x.clone().square().sum().sqrt() + 1e-7;
        x = x / norm.reshape([1, 1]);
        let (a, b, c) = (self.muon_a, self.muon_b, self.muon_c);
        for _ in 0..self.ns_steps {
            let gram = x.clone().matmul(x.clone().transpose());
            let poly = gram.clone() * b + gram.clone().matmul(gram) * c;
            x = x.clone() * a + poly.matmul(x);
        }
        if tall { x.transpose() } else { x }
    }
}

impl UpdateRule for Muon {
    const CLASS: &'static str = "Muon";

    fn slots(&self, info: &ParamInfo) -> Vec<Slot> {
        let mut slots = vec![Slot::like("momentum", info)];
        if self.uses_adamw(info) {
            slots.push(Slot::like("velocity", info));
        }
        slots
    }

    fn keras_groups(&self) -> Vec<Vec<&'static str>> {
        vec![vec!["momentum", "velocity"]]
    }

    fn weight_decay(&self, configured: Option<f32>, info: &ParamInfo) -> Option<f32> {
        if self.uses_adamw(info) {
            self.adam_weight_decay
        } else {
            configured
        }
    }

    fn update(
        &self,
        step: &Step,
        info: &ParamInfo,
        p: Tensor<1>,
        g: Tensor<1>,
        slots: &mut [Tensor<1>],
    ) -> Tensor<1> {
        match slots {
            [m, v, ..] => {
                let step = Step {
                    lr: step.lr * self.adam_lr_ratio,
                    ..*step
                };
                let alpha = adam_alpha(&step, self.adam_beta_1, self.adam_beta_2);
                *m = m.clone() + (g.clone() - m.clone()) * (1.0 - self.adam_beta_1);
                *v = v.clone() + (g.square() - v.clone()) * (1.0 - self.adam_beta_2);
                p - (m.clone() * alpha) / (v.clone().sqrt() + self.epsilon)
            }
            [m] => {
                let &[rows, cols] = info.shape else {
                    return p;
                };
                *m = m.clone() + (g.clone() + m.clone() * (self.momentum - 1.0));
                let direction = if self.nesterov {
                    g + m.clone() * self.momentum
                } else {
                    m.clone()
                };
                let update = self
                    .orthogonalize(direction.reshape([rows, cols]))
                    .reshape([rows * cols]);
                let mut update = update * step.lr;
                if let Some(rate) = self.rms_rate {
                    update = update * ((rows.max(cols) as f32).sqrt() * rate);
                }
                p - update
            }
            [] => p,
        }
    }
}
