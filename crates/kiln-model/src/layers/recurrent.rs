//! The forward pass of the recurrent layers (`SimpleRnn`, `Lstm`, `Gru`): one scan over the time steps with
//! Keras's gate order and weight layout.

use burn::tensor::Tensor;

use super::{Mask, Weights};
use crate::activation::Activation;
use crate::tensor::DynTensor;

/// Which recurrence a recurrent layer runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cell {
    /// `h = act(x·W + h·U + b)`.
    Simple,
    /// Gates in Keras's order i, f, c, o.
    Lstm,
    /// Gates in Keras's order z, r, h; `reset_after` applies the reset gate after the
    /// recurrent matmul (Keras 3's default, two bias rows).
    Gru {
        /// Keras `reset_after`.
        reset_after: bool,
    },
}

impl Cell {
    /// Blocks of `units` columns in the kernels: 1, 4 or 3.
    pub fn gates(self) -> usize {
        match self {
            Cell::Simple => 1,
            Cell::Lstm => 4,
            Cell::Gru { .. } => 3,
        }
    }
}

/// One run of a recurrent layer over a batch of sequences: its cell and options.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Recurrence {
    pub(crate) cell: Cell,
    pub(crate) units: usize,
    pub(crate) activation: Activation,
    pub(crate) recurrent_activation: Activation,
    pub(crate) return_sequences: bool,
    pub(crate) go_backwards: bool,
    /// At a masked step, output zeros instead of the previous output (Keras
    /// `zero_output_for_mask`; `Bidirectional` sets it with `return_sequences`).
    pub(crate) zero_output_for_mask: bool,
    /// Fraction of the inputs dropped in training, one mask per sequence (Keras `dropout`).
    pub(crate) dropout: f32,
    /// Fraction of the state dropped before the recurrent matmul in training (Keras
    /// `recurrent_dropout`; with it, LSTM and GRU draw one mask per gate, Keras's
    /// `implementation=1`).
    pub(crate) recurrent_dropout: f32,
}

/// `count` dropout masks of `shape` at `rate`: 0 or `1 / (1 - rate)` (Keras's
/// `backend.random.dropout` of ones).
fn dropout_masks<const D: usize>(
    count: usize,
    shape: [usize; D],
    rate: f32,
    device: &burn::tensor::Device,
) -> Vec<Tensor<D>> {
    let keep = f64::from(1.0 - rate);
    (0..count)
        .map(|_| crate::bernoulli::mask::<D>(shape, keep, device) * (1.0 / keep) as f32)
        .collect()
}

impl Recurrence {
    /// Runs over `[batch, steps, features]` with the layer's `kernel`, `recurrent_kernel` and
    /// optional `bias`: the last `h`, or every step's `h` with `return_sequences`. With a
    /// `mask` `[batch, steps]`, a masked step leaves the states as they were and outputs the
    /// previous output (or zeros with `zero_output_for_mask`), as Keras does.
    pub(crate) fn run(
        &self,
        x: DynTensor,
        initial: &[Tensor<2>],
        mask: Option<&Mask>,
        weights: &Weights<'_>,
        training: bool,
    ) -> Result<Ran, String> {
        let DynTensor::R3(x) = x else {
            return Err(
                "recurrent layers need a batch of sequences [batch, steps, features]".into(),
            );
        };
        let kernel = weights.at::<2>(0)?;
        let recurrent = weights.at::<2>(1)?;
        let (bias, gru_bias) = match self.cell {
            Cell::Gru { reset_after: true } => (None, weights.optional::<2>("bias")?),
            _ => (weights.optional::<1>("bias")?, None),
        };
        let [b, steps, features] = x.dims();
        let gates = self.cell.gates();
        let (u, width) = (self.units, self.units * gates);
        let device = x.device();
        // Keras's implementation 1 (per-gate masks) where recurrent dropout is on.
        let per_gate = if self.recurrent_dropout > 0.0 {
            gates
        } else {
            1
        };
        let input_masks = if training && self.dropout > 0.0 {
            dropout_masks(per_gate, [b, 1, features], self.dropout, &device)
        } else {
            Vec::new()
        };
        let state_masks = if training && self.recurrent_dropout > 0.0 {
            dropout_masks(gates, [b, u], self.recurrent_dropout, &device)
        } else {
            Vec::new()
        };
        // Every step's input projection in one matmul (one per gate with per-gate masks).
        let mut xw = match input_masks.as_slice() {
            [] => x.reshape([b * steps, features]).matmul(kernel),
            [m] => (x * m.clone())
                .reshape([b * steps, features])
                .matmul(kernel),
            many => Tensor::cat(
                many.iter()
                    .enumerate()
                    .map(|(g, m)| {
                        (x.clone() * m.clone())
                            .reshape([b * steps, features])
                            .matmul(kernel.clone().narrow(1, g * u, u))
                    })
                    .collect(),
                1,
            ),
        };
        if let Some(bias) = bias {
            xw = xw + bias.reshape([1, width]);
        }
        let recurrent_bias = gru_bias.map(|gb| {
            xw = xw.clone() + gb.clone().narrow(0, 0, 1);
            gb.narrow(0, 1, 1)
        });
        let xw = xw.reshape([b, steps, width]);
        // `h · U` over gates `first..first + n`, each gate's h through its dropout mask.
        let project = |h: &Tensor<2>, first: usize, n: usize| -> Tensor<2> {
            if state_masks.is_empty() {
                return h
                    .clone()
                    .matmul(recurrent.clone().narrow(1, first * u, n * u));
            }
            Tensor::cat(
                (first..first + n)
                    .map(|g| {
                        (h.clone() * state_masks[g].clone()).matmul(recurrent.clone().narrow(
                            1,
                            g * u,
                            u,
                        ))
                    })
                    .collect(),
                1,
            )
        };
        // Keras's `initial_state` (h, then c for an LSTM), zeros by default.
        let mut h = initial
            .first()
            .cloned()
            .unwrap_or_else(|| Tensor::<2>::zeros([b, u], &device));
        let mut c = initial
            .get(1)
            .cloned()
            .unwrap_or_else(|| Tensor::<2>::zeros([b, u], &device));
        let (act, gate) = (self.activation, self.recurrent_activation);
        let order: Vec<usize> = if self.go_backwards {
            (0..steps).rev().collect()
        } else {
            (0..steps).collect()
        };
        let mut outputs = Vec::with_capacity(if self.return_sequences { steps } else { 0 });
        let mut last: Option<Tensor<2>> = None;
        for step in order {
            let xt = xw.clone().narrow(1, step, 1).reshape([b, width]);
            let block = |t: &Tensor<2>, i: usize| t.clone().narrow(1, i * u, u);
            let (h_before, c_before) = (h.clone(), c.clone());
            h = match self.cell {
                Cell::Simple => act.apply(xt + project(&h, 0, 1)),
                Cell::Lstm => {
                    let z = xt + project(&h, 0, 4);
                    let i = gate.apply(block(&z, 0));
                    let f = gate.apply(block(&z, 1));
                    let g = act.apply(block(&z, 2));
                    let o = gate.apply(block(&z, 3));
                    c = f * c + i * g;
                    o * act.apply(c.clone())
                }
                Cell::Gru { reset_after } => {
                    let mut inner = project(&h, 0, if reset_after { 3 } else { 2 });
                    if let Some(rb) = &recurrent_bias {
                        inner = inner + rb.clone();
                    }
                    let z = gate.apply(block(&xt, 0) + block(&inner, 0));
                    let r = gate.apply(block(&xt, 1) + block(&inner, 1));
                    let candidate = if reset_after {
                        r * block(&inner, 2)
                    } else {
                        project(&(r * h.clone()), 2, 1)
                    };
                    let hh = act.apply(block(&xt, 2) + candidate);
                    z.clone() * h + (z.neg() + 1.0) * hh
                }
            };
            let mut out = h.clone();
            if let Some(mask) = mask {
                // Keras: where(is_masked, old, new) for the states; the output is the carried h
                // (the previous output) or zeros.
                let m = mask.clone().narrow(1, step, 1);
                let keep = |new: Tensor<2>, old: Tensor<2>| old.clone() + (new - old) * m.clone();
                if self.zero_output_for_mask {
                    out = h.clone() * m.clone();
                }
                h = keep(h, h_before);
                if self.cell == Cell::Lstm {
                    c = keep(c, c_before);
                }
                if !self.zero_output_for_mask {
                    out = h.clone();
                }
            }
            if self.return_sequences {
                outputs.push(out.unsqueeze_dim::<3>(1));
            } else if self.zero_output_for_mask {
                last = Some(out);
            }
        }
        let y = if self.return_sequences {
            DynTensor::R3(Tensor::cat(outputs, 1))
        } else {
            DynTensor::R2(last.unwrap_or(h.clone()))
        };
        Ok(Ran { y, h, c })
    }
}

/// What a run gives: the output, and the final states (Keras's `return_state`).
pub(crate) struct Ran {
    pub(crate) y: DynTensor,
    pub(crate) h: Tensor<2>,
    pub(crate) c: Tensor<2>,
}
