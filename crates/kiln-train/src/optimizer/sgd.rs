//! SGD (Keras `SGD`): `v = μv - lr·g; p += v` (no dampening); Nesterov: `p += μv - lr·g`.

use serde::{Deserialize, Serialize};

use super::elem::Elem;
use super::rule::{Elementwise, ParamInfo, Slot, Step, UpdateRule, elementwise_update};

/// SGD's options, Keras's names and defaults (momentum 0, nesterov false).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Sgd {
    /// Momentum `μ` in `[0, 1]`.
    pub momentum: f32,
    /// Nesterov momentum.
    pub nesterov: bool,
}

impl Default for Sgd {
    fn default() -> Self {
        Self {
            momentum: 0.0,
            nesterov: false,
        }
    }
}

impl UpdateRule for Sgd {
    const CLASS: &'static str = "SGD";

    fn slots(&self, info: &ParamInfo) -> Vec<Slot> {
        if self.momentum == 0.0 {
            vec![]
        } else {
            vec![Slot::like("momentum", info)]
        }
    }

    fn keras_groups(&self) -> Vec<Vec<&'static str>> {
        vec![vec!["momentum"]]
    }

    elementwise_update!();
}

impl Elementwise for Sgd {
    /// Learning rate, momentum, nesterov.
    type Scalars = (f32, f32, bool);

    fn scalars(&self, step: &Step) -> Self::Scalars {
        (step.lr, self.momentum, self.nesterov)
    }

    #[inline(always)]
    fn apply<T: Elem>((lr, mu, nesterov): Self::Scalars, p: &mut T, g: &T, slots: &mut [T]) {
        match slots {
            [v, ..] => {
                *v = (v.clone() * mu - g.clone() * lr).flush();
                *p = if nesterov {
                    p.clone() + v.clone() * mu - g.clone() * lr
                } else {
                    p.clone() + v.clone()
                };
            }
            [] => *p = p.clone() - g.clone() * lr,
        }
    }
}
