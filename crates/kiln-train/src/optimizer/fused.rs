//! Fused optimizer updates for parameters in host memory (the `flex` CPU backend).
//!
//! The portable update in [`super::update`] is a chain of burn tensor ops: Adam is about a dozen
//! per parameter (scale, add, square, sqrt, divide, ...), each a pass over the parameter and a
//! fresh buffer. On the CPU backend that chain was the largest part of a training step of the
//! MNIST MLP (~180 µs of ~420 µs). Here the same arithmetic, in the same order and in `f32`, runs
//! as one loop that updates the parameter and its slots in place, compiled for the widest vector
//! instructions the CPU has (picked at run time): ~37 µs for the MLP's 100k-weight kernel.
//!
//! One deliberate difference: slot values that fall below `f32::MIN_POSITIVE` (subnormals,
//! ~1e-38) are stored as zero, as XLA does for Keras on CPU (it runs with flush-to-zero). Moments
//! of weights whose gradient is almost always zero (MNIST's border pixels) decay into that range,
//! and subnormal arithmetic is slow enough on x86 to double the cost of the whole update. Apart
//! from that, results are bitwise those of the portable path (tested below). Other backends,
//! other rules and non-contiguous parameters take the portable path.

// The `Err` sides here hand the caller's tensors back for the portable path: moved once per
// parameter and step, not errors; boxing them would put an allocation on the hot path.
#![allow(clippy::result_large_err)]

use burn::backend::flex::FlexTensor;
use burn::backend::{BackendTensor, DispatchAutodiffContext, DispatchTensor, DispatchTensorKind};
use burn::tensor::{DType, Tensor};

use super::{Rule, Slots, Step, adam_alpha};

/// The tensors of one parameter update, handed back when there is no fused kernel for them.
pub(super) type Unfused<const D: usize> = (Tensor<D>, Tensor<D>, Option<Slots<D>>);

/// One update of `p` by `rule` in a single pass over host memory, or the inputs back (values
/// unchanged) when the rule has no fused kernel or a tensor is not a contiguous `f32` flex tensor.
pub(super) fn update<const D: usize>(
    rule: Rule,
    step: &Step,
    p: Tensor<D>,
    g: Tensor<D>,
    slots: Option<Slots<D>>,
) -> Result<(Tensor<D>, Slots<D>), Unfused<D>> {
    let Some(kernel) = Kernel::for_rule(rule, step) else {
        return Err((p, g, slots));
    };
    let shape = p.shape();
    let n = shape.num_elements();
    // The parameter and its gradient first: anything else goes back untouched.
    let (mut param, grad) = match (into_flex(p), into_flex(g)) {
        (Ok(p), Ok(g)) if in_place(&p, n) && readable(&g, n) => (p, g),
        (p, g) => return Err((back(p), back(g), slots)),
    };
    let Slots { a, b, c } = slots.unwrap_or_default();
    // The slots the kernel uses (`a`, then `b`, then `c`) come to the host; the others pass by.
    let mut used = Vec::with_capacity(3);
    let mut others = Vec::with_capacity(3);
    for (i, slot) in [a, b, c].into_iter().enumerate() {
        if i < kernel.slots() {
            let zeros = || Ok(FlexTensor::zeros(shape.clone(), DType::F32));
            used.push(slot.map_or_else(zeros, into_flex));
        } else {
            others.push(slot);
        }
    }
    if !used
        .iter()
        .all(|s| s.as_ref().is_ok_and(|s| in_place(s, n)))
    {
        let slots = used.into_iter().map(|s| Some(back(s))).chain(others);
        return Err((
            from_flex(param),
            from_flex(grad),
            Some(Slots::from_iter(slots)),
        ));
    }
    let mut used: Vec<FlexTensor> = used.into_iter().filter_map(Result::ok).collect();
    let g = grad.as_slice::<f32>().unwrap_or_default();
    let p = param.storage_mut::<f32>();
    match (kernel, used.as_mut_slice()) {
        (Kernel::Adam { scalars, .. }, [m, v]) => {
            let slots = [m.storage_mut(), v.storage_mut()];
            simd(|| adam(p, g, slots, scalars));
        }
        (Kernel::Adam { scalars, .. }, [m, v, vhat]) => {
            let slots = [m.storage_mut(), v.storage_mut(), vhat.storage_mut()];
            simd(|| adam_amsgrad(p, g, slots, scalars));
        }
        (Kernel::Momentum { lr, mu, nesterov }, [velocity]) => {
            let slots = [velocity.storage_mut()];
            simd(|| sgd_momentum(p, g, slots, lr, mu, nesterov));
        }
        _ => {}
    }
    let slots = used.into_iter().map(|s| Some(from_flex(s))).chain(others);
    Ok((from_flex(param), Slots::from_iter(slots)))
}

impl<const D: usize> FromIterator<Option<Tensor<D>>> for Slots<D> {
    fn from_iter<I: IntoIterator<Item = Option<Tensor<D>>>>(iter: I) -> Self {
        let mut iter = iter.into_iter();
        Slots {
            a: iter.next().flatten(),
            b: iter.next().flatten(),
            c: iter.next().flatten(),
        }
    }
}

/// The rules with a fused kernel, with their scalars for this step.
#[derive(Clone, Copy)]
enum Kernel {
    /// `[β₁, β₂, ε, α]`, `α` the bias-corrected learning rate.
    Adam {
        scalars: [f32; 4],
        amsgrad: bool,
    },
    Momentum {
        lr: f32,
        mu: f32,
        nesterov: bool,
    },
}

impl Kernel {
    fn for_rule(rule: Rule, step: &Step) -> Option<Self> {
        match rule {
            Rule::Adam {
                beta_1,
                beta_2,
                epsilon,
                amsgrad,
            } => {
                let alpha = adam_alpha(step, beta_1, beta_2);
                Some(Kernel::Adam {
                    scalars: [beta_1, beta_2, epsilon, alpha],
                    amsgrad,
                })
            }
            Rule::Sgd { momentum, nesterov } if momentum != 0.0 => Some(Kernel::Momentum {
                lr: step.lr,
                mu: momentum,
                nesterov,
            }),
            _ => None,
        }
    }

    /// How many slots the rule keeps (`a`, `b`, `c` in order).
    fn slots(self) -> usize {
        match self {
            Kernel::Adam { amsgrad: true, .. } => 3,
            Kernel::Adam { .. } => 2,
            Kernel::Momentum { .. } => 1,
        }
    }
}

/// Runs `kernel` compiled for the widest vector instructions this CPU has (AVX2, AVX-512, ...),
/// chosen at run time, so its loop is vectorized wider than the portable baseline (SSE2).
fn simd(kernel: impl FnOnce()) {
    struct Op<F>(F);
    impl<F: FnOnce()> pulp::WithSimd for Op<F> {
        type Output = ();
        #[inline(always)]
        fn with_simd<S: pulp::Simd>(self, _: S) {
            (self.0)()
        }
    }
    pulp::Arch::new().dispatch(Op(kernel));
}

/// `m = β₁m + (1-β₁)g; v = β₂v + (1-β₂)g²; p -= α·m/(√v + ε)`, as the portable path.
#[inline(always)]
fn adam(p: &mut [f32], g: &[f32], [m, v]: [&mut [f32]; 2], [b1, b2, eps, alpha]: [f32; 4]) {
    let (c1, c2) = (1.0 - b1, 1.0 - b2);
    for (((p, &g), m), v) in p.iter_mut().zip(g).zip(m).zip(v) {
        *m = flush(*m * b1 + g * c1);
        *v = flush(*v * b2 + g * g * c2);
        *p -= *m / (v.sqrt() + eps) * alpha;
    }
}

/// Adam with the running maximum `v̂` of `v` in the denominator.
#[inline(always)]
fn adam_amsgrad(
    p: &mut [f32],
    g: &[f32],
    [m, v, vhat]: [&mut [f32]; 3],
    [b1, b2, eps, alpha]: [f32; 4],
) {
    let (c1, c2) = (1.0 - b1, 1.0 - b2);
    for ((((p, &g), m), v), vhat) in p.iter_mut().zip(g).zip(m).zip(v).zip(vhat) {
        *m = flush(*m * b1 + g * c1);
        *v = flush(*v * b2 + g * g * c2);
        *vhat = vhat.max(*v);
        *p -= *m / (vhat.sqrt() + eps) * alpha;
    }
}

/// `v = μv - lr·g; p += v` (Nesterov: `p += μv - lr·g`).
#[inline(always)]
fn sgd_momentum(
    p: &mut [f32],
    g: &[f32],
    [velocity]: [&mut [f32]; 1],
    lr: f32,
    mu: f32,
    nesterov: bool,
) {
    for ((p, &g), v) in p.iter_mut().zip(g).zip(velocity) {
        *v = flush(*v * mu - g * lr);
        if nesterov {
            *p = *p + *v * mu - g * lr;
        } else {
            *p += *v;
        }
    }
}

/// A tensor that owns a contiguous buffer of exactly `n` `f32`s, so it can be updated in place
/// (a shared buffer is copied first by `storage_mut`).
fn in_place(t: &FlexTensor, n: usize) -> bool {
    readable(t, n) && t.layout().start_offset() == 0 && t.bytes().len() == n * size_of::<f32>()
}

/// A tensor whose `n` `f32`s are one contiguous slice.
fn readable(t: &FlexTensor, n: usize) -> bool {
    t.dtype() == DType::F32 && t.layout().num_elements() == n && t.is_contiguous()
}

fn back<const D: usize>(t: Result<FlexTensor, Tensor<D>>) -> Tensor<D> {
    t.map_or_else(|t| t, from_flex)
}

/// The flex tensor inside `t`, or `t` back when it lives elsewhere.
fn into_flex<const D: usize>(t: Tensor<D>) -> Result<FlexTensor, Tensor<D>> {
    match t.into_dispatch() {
        DispatchTensor {
            kind: DispatchTensorKind::Flex(BackendTensor::Float(t)),
            autodiff: DispatchAutodiffContext::Disabled,
        } => Ok(t),
        other => Err(Tensor::from_dispatch(other)),
    }
}

fn from_flex<const D: usize>(t: FlexTensor) -> Tensor<D> {
    Tensor::from_dispatch(DispatchTensor {
        kind: DispatchTensorKind::Flex(BackendTensor::Float(t)),
        autodiff: DispatchAutodiffContext::Disabled,
    })
}

/// Zero for a subnormal `x` (below `f32::MIN_POSITIVE`, ~1.2e-38), else `x`: keeps decaying
/// moments out of the slow subnormal range.
#[inline(always)]
fn flush(x: f32) -> f32 {
    if x.abs() < f32::MIN_POSITIVE { 0.0 } else { x }
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Device, Tensor, TensorData};

    use super::super::{Rule, Slots, Step, update as portable};
    use super::{into_flex, update as fused};

    fn values(seed: u32, n: usize) -> Vec<f32> {
        // A fixed pseudo-random sequence with both signs, some zeros and a wide range.
        (0..n as u32)
            .map(|i| {
                let h = (i ^ seed).wrapping_mul(2_654_435_761) >> 8;
                let x = (h % 2001) as f32 / 1000.0 - 1.0;
                if h.is_multiple_of(17) {
                    0.0
                } else {
                    x * 10f32.powi((h % 5) as i32 - 3)
                }
            })
            .collect()
    }

    fn tensor(v: Vec<f32>, device: &Device) -> Tensor<2> {
        Tensor::from_data(TensorData::new(v, [37, 29]), device)
    }

    fn host(t: Option<Tensor<2>>) -> Vec<f32> {
        t.map(|t| t.into_data().try_to_vec::<f32>().expect("f32 values"))
            .unwrap_or_default()
    }

    /// Runs five steps of `rule` both ways and requires bitwise equal parameters and slots.
    fn same_as_portable(rule: Rule) {
        let device = Device::flex();
        let n = 37 * 29;
        let (mut p1, mut p2) = (tensor(values(1, n), &device), tensor(values(1, n), &device));
        let (mut s1, mut s2): (Option<Slots<2>>, Option<Slots<2>>) = (None, None);
        for t in 1..=5u64 {
            let step = Step {
                lr: 0.01,
                t,
                nadam_product: 1.0,
            };
            let g = values(t as u32 * 7919, n);
            let (p, s) = fused(rule, &step, p1, tensor(g.clone(), &device), s1)
                .unwrap_or_else(|_| panic!("{rule:?} should take the fused path"));
            (p1, s1) = (p, Some(s));
            let (p, s) = portable(rule, &step, p2, tensor(g, &device), s2);
            (p2, s2) = (p, Some(s));
        }
        assert_eq!(
            host(Some(p1.clone())),
            host(Some(p2.clone())),
            "{rule:?}: parameters"
        );
        let (s1, s2) = (s1.unwrap_or_default(), s2.unwrap_or_default());
        for (name, x, y) in [("a", s1.a, s2.a), ("b", s1.b, s2.b), ("c", s1.c, s2.c)] {
            assert_eq!(x.is_some(), y.is_some(), "{rule:?}: slot {name} present");
            assert_eq!(host(x), host(y), "{rule:?}: slot {name}");
        }
        // The update moved the parameter (the test is not comparing two no-ops).
        assert_ne!(host(Some(p1)), values(1, n));
    }

    #[test]
    fn fused_updates_equal_the_portable_ones_bitwise() {
        for amsgrad in [false, true] {
            same_as_portable(Rule::Adam {
                beta_1: 0.9,
                beta_2: 0.999,
                epsilon: 1e-7,
                amsgrad,
            });
        }
        for nesterov in [false, true] {
            same_as_portable(Rule::Sgd {
                momentum: 0.9,
                nesterov,
            });
        }
    }

    #[test]
    fn decayed_moments_are_flushed_to_zero_not_kept_subnormal() {
        let device = Device::flex();
        let adam = Rule::Adam {
            beta_1: 0.9,
            beta_2: 0.999,
            epsilon: 1e-7,
            amsgrad: false,
        };
        let step = Step {
            lr: 0.001,
            t: 10,
            nadam_product: 1.0,
        };
        let n = 37 * 29;
        // Moments just above the subnormal range and a zero gradient: one decay takes `m` below.
        let m = vec![1.2e-38f32; n];
        let v = vec![1e-20f32; n];
        let slots = Slots {
            a: Some(tensor(m, &device)),
            b: Some(tensor(v, &device)),
            c: None,
        };
        // Nonzero weights: a step of ~1e-35 rounds away against any of them.
        let p: Vec<f32> = values(3, n).iter().map(|x| x + 2.0).collect();
        let p = tensor(p, &device);
        let zero = tensor(vec![0.0; n], &device);
        let (p1, s1) = fused(adam, &step, p.clone(), zero.clone(), Some(slots.clone()))
            .unwrap_or_else(|_| panic!("fused path"));
        let (p2, s2) = portable(adam, &step, p, zero, Some(slots));
        let (m1, m2) = (host(s1.a), host(s2.a));
        assert!(
            m2.iter().all(|x| x.is_subnormal()),
            "portable keeps the subnormal"
        );
        assert!(m1.iter().all(|&x| x == 0.0), "fused flushes it");
        assert_eq!(host(s1.b), host(s2.b), "normal values are untouched");
        assert_eq!(
            host(Some(p1)),
            host(Some(p2)),
            "the parameter does not notice"
        );
    }

    #[test]
    fn other_rules_and_views_take_the_portable_path() {
        let device = Device::flex();
        let step = Step {
            lr: 0.01,
            t: 1,
            nadam_product: 1.0,
        };
        let p = tensor(values(1, 37 * 29), &device);
        let g = tensor(values(2, 37 * 29), &device);
        let rmsprop = Rule::RmsProp {
            rho: 0.9,
            momentum: 0.0,
            epsilon: 1e-7,
            centered: false,
        };
        let (p, _, _) = match fused(rmsprop, &step, p, g, None) {
            Err(back) => back,
            Ok(_) => panic!("RMSprop has no fused kernel"),
        };
        // A transposed gradient is not one contiguous slice: handed back, values intact.
        let adam = Rule::Adam {
            beta_1: 0.9,
            beta_2: 0.999,
            epsilon: 1e-7,
            amsgrad: false,
        };
        let gt: Tensor<2> =
            Tensor::from_data(TensorData::new(values(2, 37 * 29), [29, 37]), &device).transpose();
        let g = gt
            .clone()
            .into_data()
            .try_to_vec::<f32>()
            .expect("f32 values");
        let g = tensor(g, &device);
        assert!(into_flex(gt.clone()).is_ok_and(|t| !t.is_contiguous()));
        match fused(adam, &step, p.clone(), gt, None) {
            Err((p2, g2, slots)) => {
                assert_eq!(host(Some(p2)), host(Some(p)));
                assert_eq!(host(Some(g2)), host(Some(g)));
                // No slots came in, none go out (the portable path creates them on its device).
                assert!(slots.is_none());
            }
            Ok(_) => panic!("a strided gradient should be handed back"),
        }
    }
}
