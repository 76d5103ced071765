//! Adafactor (Keras `Adafactor`, Shazeer & Stern 2018): the second moment of a weight of rank
//! ≥ 2 is kept factored over its last two axes (a row and a column average), so it costs
//! `rows + cols` values instead of `rows · cols`; the step is relative to the weight's RMS and
//! the update is clipped by its own RMS.

use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use super::rule::{ParamInfo, Slot, Step, UpdateRule};

/// Adafactor's options, Keras's names and defaults.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Adafactor {
    /// `β₂ₜ = 1 - t^beta_2_decay`.
    pub beta_2_decay: f32,
    /// Added to the squared gradient.
    pub epsilon_1: f32,
    /// The smallest weight RMS the step is relative to.
    pub epsilon_2: f32,
    /// The update's RMS is clipped to this.
    pub clip_threshold: f32,
    /// Caps a constant learning rate at `1/√t`.
    pub relative_step: bool,
}

impl Default for Adafactor {
    fn default() -> Self {
        Self {
            beta_2_decay: -0.8,
            epsilon_1: 1e-30,
            epsilon_2: 1e-3,
            clip_threshold: 1.0,
            relative_step: true,
        }
    }
}

/// `(batch, rows, cols)` of a weight factored over its last two axes, or `None` below rank 2.
fn factored(shape: &[usize]) -> Option<[usize; 3]> {
    match shape {
        [batch @ .., rows, cols] => Some([batch.iter().product(), *rows, *cols]),
        _ => None,
    }
}

fn rms(x: Tensor<1>) -> Tensor<1> {
    x.square().mean().sqrt()
}

impl UpdateRule for Adafactor {
    const CLASS: &'static str = "Adafactor";

    fn slots(&self, info: &ParamInfo) -> Vec<Slot> {
        let shape = info.shape;
        let (r, c) = match shape {
            [head @ .., rows, cols] => {
                let mut r = head.to_vec();
                r.push(*rows);
                let mut c = head.to_vec();
                c.push(*cols);
                (r, c)
            }
            // Keras keeps a scalar placeholder for weights it does not factor.
            _ => (vec![], vec![]),
        };
        vec![
            Slot {
                name: "r",
                shape: r,
                initial: 0.0,
            },
            Slot {
                name: "c",
                shape: c,
                initial: 0.0,
            },
            Slot::like("velocity", info),
        ]
    }

    fn keras_groups(&self) -> Vec<Vec<&'static str>> {
        vec![vec!["r", "c", "velocity"]]
    }

    fn update(
        &self,
        step: &Step,
        info: &ParamInfo,
        p: Tensor<1>,
        g: Tensor<1>,
        slots: &mut [Tensor<1>],
    ) -> Tensor<1> {
        let [r, c, v, ..] = slots else { return p };
        let t = step.t as f32;
        let inv_sqrt_t = 1.0 / t.sqrt();
        let mut lr = step.lr;
        if !step.scheduled && self.relative_step {
            lr = lr.min(inv_sqrt_t);
        }
        let rho = lr.min(inv_sqrt_t);
        let alpha = rms(p.clone()).clamp_min(self.epsilon_2) * rho;
        let squared = g.clone().square() + self.epsilon_1;
        let beta = 1.0 - t.powf(self.beta_2_decay);
        match factored(info.shape) {
            Some([batch, rows, cols]) => {
                let squared: Tensor<3> = squared.reshape([batch, rows, cols]);
                let row_mean = squared.clone().mean_dim(2).reshape([batch * rows]);
                let col_mean = squared.mean_dim(1).reshape([batch * cols]);
                *r = r.clone() * beta + row_mean * (1.0 - beta);
                *c = c.clone() * beta + col_mean * (1.0 - beta);
                let r2: Tensor<2> = r.clone().reshape([batch, rows]);
                let r_norm = r2.clone() / r2.mean_dim(1);
                let c2: Tensor<3> = c.clone().reshape([batch, 1, cols]);
                let factored: Tensor<3> = r_norm.reshape([batch, rows, 1]) * c2;
                *v = factored.reshape([batch * rows * cols]);
            }
            None => *v = v.clone() * beta + squared * (1.0 - beta),
        }
        let u = g / v.clone().sqrt();
        let scale = (rms(u.clone()) / self.clip_threshold).clamp_min(1.0);
        p - u / scale * alpha
    }
}
