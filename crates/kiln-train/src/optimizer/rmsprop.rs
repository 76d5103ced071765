//! RMSprop (Keras `RMSprop`): `v = ρv + (1-ρ)g²; p -= lr·g/√(v + ε)`; centered subtracts the
//! squared mean gradient, momentum accumulates the increments.

use serde::{Deserialize, Serialize};

use super::elem::Elem;
use super::rule::{Elementwise, ParamInfo, Slot, Step, UpdateRule, elementwise_update};

/// RMSprop's options, Keras's names and defaults (ρ 0.9, momentum 0, ε 1e-7, not centered).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RmsProp {
    /// Decay of the squared-gradient average.
    pub rho: f32,
    /// Momentum.
    pub momentum: f32,
    /// Inside the square root.
    pub epsilon: f32,
    /// Subtract the squared mean gradient.
    pub centered: bool,
}

impl Default for RmsProp {
    fn default() -> Self {
        Self {
            rho: 0.9,
            momentum: 0.0,
            epsilon: 1e-7,
            centered: false,
        }
    }
}

impl UpdateRule for RmsProp {
    const CLASS: &'static str = "RMSprop";

    fn slots(&self, info: &ParamInfo) -> Vec<Slot> {
        let mut slots = vec![Slot::like("velocity", info)];
        if self.momentum > 0.0 {
            slots.push(Slot::like("momentum", info));
        }
        if self.centered {
            slots.push(Slot::like("average_gradient", info));
        }
        slots
    }

    fn keras_groups(&self) -> Vec<Vec<&'static str>> {
        vec![vec!["velocity"], vec!["momentum"], vec!["average_gradient"]]
    }

    elementwise_update!();
}

impl Elementwise for RmsProp {
    /// The options and the learning rate.
    type Scalars = (Self, f32);

    fn scalars(&self, step: &Step) -> Self::Scalars {
        (*self, step.lr)
    }

    #[inline(always)]
    fn apply<T: Elem>((o, lr): Self::Scalars, p: &mut T, g: &T, slots: &mut [T]) {
        let (rho, eps) = (o.rho, o.epsilon);
        let [v, rest @ ..] = slots else { return };
        *v = (v.clone() * rho + g.clone().square() * (1.0 - rho)).flush();
        let (momentum, rest) = match rest {
            [m, rest @ ..] if o.momentum > 0.0 => (Some(m), rest),
            rest => (None, rest),
        };
        let denominator = match rest {
            [mean, ..] if o.centered => {
                *mean = (mean.clone() * rho + g.clone() * (1.0 - rho)).flush();
                (v.clone() - mean.clone().square() + eps).sqrt()
            }
            _ => (v.clone() + eps).sqrt(),
        };
        let increment = g.clone() / denominator * lr;
        match momentum {
            Some(m) => {
                *m = (m.clone() * o.momentum + increment).flush();
                *p = p.clone() - m.clone();
            }
            None => *p = p.clone() - increment,
        }
    }
}
