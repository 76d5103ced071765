//! Fused optimizer updates for parameters in host memory (the `flex` CPU backend).
//!
//! The portable update is a chain of burn tensor ops: Adam is about a dozen per parameter
//! (scale, add, square, sqrt, divide, ...), each a pass over the parameter and a fresh buffer.
//! On the CPU backend that chain was the largest part of a training step of the MNIST MLP
//! (~180 µs of ~420 µs). Here every elementwise rule's one definition
//! ([`Elementwise::apply`](super::rule::Elementwise::apply), instantiated for `f32`) runs as one
//! loop that updates the parameter and its slots in place, compiled for the widest vector
//! instructions the CPU has (picked at run time): ~37 µs for the MLP's 100k-weight kernel.
//!
//! One deliberate difference: slot values that fall below `f32::MIN_POSITIVE` (subnormals,
//! ~1e-38) are stored as zero, as XLA does for Keras on CPU (it runs with flush-to-zero). Moments
//! of weights whose gradient is almost always zero (MNIST's border pixels) decay into that range,
//! and subnormal arithmetic is slow enough on x86 to double the cost of the whole update. Apart
//! from that, results are bitwise those of the portable path (tested below). Other backends,
//! rules that are not elementwise and non-contiguous parameters take the portable path.

use burn::backend::flex::FlexTensor;
use burn::backend::{BackendTensor, DispatchAutodiffContext, DispatchTensor, DispatchTensorKind};
use burn::tensor::{DType, Tensor};

use super::rule::{Elementwise, Step, UpdateRule, has_fused};
use super::{Rule, each_rule};

/// One update of `p` by `rule` in a single pass over host memory. Returns `false`, with
/// nothing changed, when the rule has no fused kernel or a tensor is not a contiguous `f32`
/// flex tensor (the caller then takes the portable path with the same tensors).
pub(super) fn update(
    rule: &Rule,
    step: &Step,
    p: &mut Tensor<1>,
    g: &Tensor<1>,
    slots: &mut [Tensor<1>],
) -> bool {
    if !each_rule!(rule, r => has_fused(r)) {
        return false;
    }
    let n = p.shape().num_elements();
    let Some(grad) = as_flex(g).filter(|g| readable(g, n)) else {
        return false;
    };
    if !(as_flex(p).is_some_and(|p| in_place(&p, n))
        && slots
            .iter()
            .all(|s| as_flex(s).is_some_and(|s| in_place(&s, n))))
    {
        return false;
    }
    // Take the buffers out (each owned once, so `storage_mut` does not copy), run, put back.
    let device = p.device();
    let placeholder = || Tensor::<1>::empty([0], &device);
    let mut param = take_flex(p, placeholder());
    let mut owned: Vec<FlexTensor> = slots
        .iter_mut()
        .map(|s| take_flex(s, placeholder()))
        .collect();
    let g = grad.as_slice::<f32>().unwrap_or_default();
    let mut views: Vec<&mut [f32]> = owned.iter_mut().map(|s| s.storage_mut::<f32>()).collect();
    let done = each_rule!(rule, r => r.fused(step, param.storage_mut::<f32>(), g, &mut views));
    drop(views);
    *p = from_flex(param);
    for (slot, t) in slots.iter_mut().zip(owned) {
        *slot = from_flex(t);
    }
    done
}

/// The loop of an elementwise rule with `slots.len()` ≤ 3 slots; `false` for more.
pub(super) fn run<R: Elementwise>(
    k: R::Scalars,
    p: &mut [f32],
    g: &[f32],
    slots: &mut [&mut [f32]],
) -> bool {
    match slots {
        [] => simd(|| each::<R, 0>(k, p, g, [])),
        [a] => simd(|| each::<R, 1>(k, p, g, [a])),
        [a, b] => simd(|| each::<R, 2>(k, p, g, [a, b])),
        [a, b, c] => simd(|| each::<R, 3>(k, p, g, [a, b, c])),
        _ => return false,
    }
    true
}

/// `R::apply` on each element; `N` known at compile time so the slot values live in registers.
#[inline(always)]
fn each<R: Elementwise, const N: usize>(
    k: R::Scalars,
    p: &mut [f32],
    g: &[f32],
    slots: [&mut &mut [f32]; N],
) {
    let n = p.len().min(g.len());
    let (p, g) = (&mut p[..n], &g[..n]);
    let mut slots = slots.map(|s| &mut s[..n]);
    for i in 0..n {
        let mut local: [f32; N] = std::array::from_fn(|j| slots[j][i]);
        R::apply(k, &mut p[i], &g[i], &mut local);
        for (slot, value) in slots.iter_mut().zip(local) {
            slot[i] = value;
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

/// A tensor that owns a contiguous buffer of exactly `n` `f32`s, so it can be updated in place
/// (a shared buffer is copied first by `storage_mut`).
fn in_place(t: &FlexTensor, n: usize) -> bool {
    readable(t, n) && t.layout().start_offset() == 0 && t.bytes().len() == n * size_of::<f32>()
}

/// A tensor whose `n` `f32`s are one contiguous slice.
fn readable(t: &FlexTensor, n: usize) -> bool {
    t.dtype() == DType::F32 && t.layout().num_elements() == n && t.is_contiguous()
}

/// The flex tensor inside `t` (sharing its buffer), when it lives there without autodiff.
fn as_flex<const D: usize>(t: &Tensor<D>) -> Option<FlexTensor> {
    match t.clone().into_dispatch() {
        DispatchTensor {
            kind: DispatchTensorKind::Flex(BackendTensor::Float(t)),
            autodiff: DispatchAutodiffContext::Disabled,
        } => Some(t),
        _ => None,
    }
}

/// Moves the flex tensor out of `t` (checked by [`as_flex`] before), leaving `placeholder`.
fn take_flex(t: &mut Tensor<1>, placeholder: Tensor<1>) -> FlexTensor {
    let t = std::mem::replace(t, placeholder);
    match t.into_dispatch() {
        DispatchTensor {
            kind: DispatchTensorKind::Flex(BackendTensor::Float(t)),
            ..
        } => t,
        // Unreachable after `as_flex`; a zero-length tensor keeps the types honest.
        _ => FlexTensor::zeros(burn::tensor::Shape::new([0]), DType::F32),
    }
}

fn from_flex<const D: usize>(t: FlexTensor) -> Tensor<D> {
    Tensor::from_dispatch(DispatchTensor {
        kind: DispatchTensorKind::Flex(BackendTensor::Float(t)),
        autodiff: DispatchAutodiffContext::Disabled,
    })
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Device, Tensor, TensorData};

    use super::super::rule::{ParamInfo, Step, UpdateRule};
    use super::super::{
        Adadelta, Adagrad, Adam, Adamax, Ftrl, Lion, Nadam, RmsProp, Rule, Sgd, each_rule,
    };
    use super::{as_flex, update as fused};

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

    fn tensor(v: Vec<f32>, device: &Device) -> Tensor<1> {
        let n = v.len();
        Tensor::from_data(TensorData::new(v, [n]), device)
    }

    fn host(t: &Tensor<1>) -> Vec<f32> {
        t.clone()
            .into_data()
            .try_to_vec::<f32>()
            .expect("f32 values")
    }

    const SHAPE: [usize; 2] = [37, 29];

    fn fresh_slots(rule: &Rule, device: &Device) -> Vec<Tensor<1>> {
        let info = ParamInfo {
            shape: &SHAPE,
            path: "",
        };
        rule.slots(&info)
            .iter()
            .map(|s| Tensor::<1>::full([s.len()], s.initial, device))
            .collect()
    }

    /// Runs five steps of `rule` both ways and requires bitwise equal parameters and slots.
    fn same_as_portable(rule: Rule) {
        let device = Device::flex();
        let n = SHAPE.iter().product();
        let info = ParamInfo {
            shape: &SHAPE,
            path: "",
        };
        let (mut p1, mut p2) = (tensor(values(1, n), &device), tensor(values(1, n), &device));
        let (mut s1, mut s2) = (fresh_slots(&rule, &device), fresh_slots(&rule, &device));
        for t in 1..=5u64 {
            let step = Step {
                lr: 0.01,
                t,
                nadam_product: 0.9f32.powi(t as i32),
                scheduled: false,
            };
            let g = values(t as u32 * 7919, n);
            assert!(
                fused(&rule, &step, &mut p1, &tensor(g.clone(), &device), &mut s1),
                "{rule:?} should take the fused path"
            );
            let g = tensor(g, &device);
            p2 = each_rule!(&rule, r => r.update(&step, &info, p2, g, &mut s2));
        }
        assert_eq!(host(&p1), host(&p2), "{rule:?}: parameters");
        assert_eq!(s1.len(), s2.len(), "{rule:?}: slot count");
        for (k, (x, y)) in s1.iter().zip(&s2).enumerate() {
            assert_eq!(host(x), host(y), "{rule:?}: slot {k}");
        }
        // The update moved the parameter (the test is not comparing two no-ops).
        assert_ne!(host(&p1), values(1, n));
    }

    #[test]
    fn fused_updates_equal_the_portable_ones_bitwise() {
        let mut rules = vec![
            Rule::Sgd(Sgd::default()),
            Rule::Adagrad(Adagrad::default()),
            Rule::Adadelta(Adadelta::default()),
            Rule::Adamax(Adamax::default()),
            Rule::Nadam(Nadam::default()),
            Rule::Lion(Lion::default()),
            Rule::Ftrl(Ftrl::default()),
            Rule::Ftrl(Ftrl {
                learning_rate_power: -0.3,
                l1_regularization_strength: 0.01,
                l2_regularization_strength: 0.02,
                l2_shrinkage_regularization_strength: 0.03,
                beta: 0.1,
                ..Ftrl::default()
            }),
        ];
        for amsgrad in [false, true] {
            rules.push(Rule::Adam(Adam {
                amsgrad,
                ..Adam::default()
            }));
        }
        for nesterov in [false, true] {
            rules.push(Rule::Sgd(Sgd {
                momentum: 0.9,
                nesterov,
            }));
        }
        for (momentum, centered) in [(0.0, false), (0.9, false), (0.0, true), (0.9, true)] {
            rules.push(Rule::RmsProp(RmsProp {
                momentum,
                centered,
                ..RmsProp::default()
            }));
        }
        for rule in rules {
            same_as_portable(rule);
        }
    }

    #[test]
    fn decayed_moments_are_flushed_to_zero_not_kept_subnormal() {
        let device = Device::flex();
        let adam = Rule::Adam(Adam::default());
        let info = ParamInfo {
            shape: &SHAPE,
            path: "",
        };
        let step = Step {
            lr: 0.001,
            t: 10,
            nadam_product: 1.0,
            scheduled: false,
        };
        let n = SHAPE.iter().product();
        // Moments just above the subnormal range and a zero gradient: one decay takes `m` below.
        let slots = || {
            vec![
                tensor(vec![1.2e-38f32; n], &device),
                tensor(vec![1e-20f32; n], &device),
            ]
        };
        // Nonzero weights: a step of ~1e-35 rounds away against any of them.
        let p: Vec<f32> = values(3, n).iter().map(|x| x + 2.0).collect();
        let zero = tensor(vec![0.0; n], &device);
        let (mut p1, mut s1) = (tensor(p.clone(), &device), slots());
        assert!(fused(&adam, &step, &mut p1, &zero, &mut s1));
        let mut s2 = slots();
        let p2 = each_rule!(&adam, r => r.update(&step, &info, tensor(p, &device), zero, &mut s2));
        let (m1, m2) = (host(&s1[0]), host(&s2[0]));
        assert!(
            m2.iter().all(|x| x.is_subnormal()),
            "portable keeps the subnormal"
        );
        assert!(m1.iter().all(|&x| x == 0.0), "fused flushes it");
        assert_eq!(host(&s1[1]), host(&s2[1]), "normal values are untouched");
        assert_eq!(host(&p1), host(&p2), "the parameter does not notice");
    }

    #[test]
    fn other_rules_and_views_take_the_portable_path() {
        let device = Device::flex();
        let step = Step {
            lr: 0.01,
            t: 1,
            nadam_product: 1.0,
            scheduled: false,
        };
        let n = SHAPE.iter().product();
        let lamb = Rule::Lamb(super::super::Lamb::default());
        let mut p = tensor(values(1, n), &device);
        let before = host(&p);
        let g = tensor(values(2, n), &device);
        let mut slots = fresh_slots(&lamb, &device);
        assert!(
            !fused(&lamb, &step, &mut p, &g, &mut slots),
            "LAMB is not elementwise"
        );
        assert_eq!(host(&p), before);
        // A strided gradient is not one contiguous slice: nothing is touched.
        let adam = Rule::Adam(Adam::default());
        let gt: Tensor<2> =
            Tensor::from_data(TensorData::new(values(2, n), [29, 37]), &device).transpose();
        assert!(as_flex(&gt).is_some_and(|t| !t.is_contiguous()));
        let g: Tensor<1> = gt.reshape([n]);
        let mut slots = fresh_slots(&adam, &device);
        if as_flex(&g).is_some_and(|t| !t.is_contiguous()) {
            assert!(!fused(&adam, &step, &mut p, &g, &mut slots));
            assert_eq!(host(&p), before);
            assert!(slots.iter().all(|s| host(s).iter().all(|&x| x == 0.0)));
        }
    }
}
