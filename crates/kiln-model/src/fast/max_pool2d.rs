//! MaxPooling2D in Keras's layout (`[batch, h, w, c]`) on the flex backend, forward and
//! backward: each output keeps the position of its window's maximum (the first one, in window
//! order, on ties, as XLA's and TensorFlow's gradients pick), and the backward pass sends each
//! output gradient to that position.

use std::sync::Arc;

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops};
use burn::backend::flex::Flex;
use burn::tensor::Tensor;
use rayon::prelude::*;

use super::{Lifted, from_values, plain, values};

/// The sizes of one pooling.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Plan {
    b: usize,
    h: usize,
    w: usize,
    c: usize,
    oh: usize,
    ow: usize,
    pool: [usize; 2],
    strides: [usize; 2],
    top: usize,
    left: usize,
}

/// No maximum (a window of padding only, or of NaNs): no gradient.
const NONE: u32 = u32::MAX;

/// Max pooling of `x` `[b, h, w, c]` over `pool` windows with `strides` and `(before, after)`
/// padding (padded cells ignored), on the flex backend; `None` (nothing done) where it does
/// not apply.
pub(crate) fn max_pool2d(
    x: &Tensor<4>,
    pool: [usize; 2],
    strides: [usize; 2],
    padding: [(usize, usize); 2],
) -> Option<Tensor<4>> {
    let [b, h, w, c] = x.dims();
    let out = |size: usize, (before, after): (usize, usize), k: usize, s: usize| {
        let padded = size.checked_add(before)?.checked_add(after)?;
        Some(padded.checked_sub(k)? / s.max(1) + 1)
    };
    let plan = Plan {
        b,
        h,
        w,
        c,
        oh: out(h, padding[0], pool[0], strides[0])?,
        ow: out(w, padding[1], pool[1], strides[1])?,
        pool,
        strides,
        top: padding[0].0,
        left: padding[1].0,
    };
    let image = h.checked_mul(w)?.checked_mul(c)?;
    if strides.contains(&0)
        || pool.contains(&0)
        || image >= NONE as usize
        || plan.oh * plan.ow * c * b == 0
    {
        return None;
    }
    let x = Lifted::of(x)?;
    let (y, argmax) = forward(&values(&x.primitive()), &plan);
    let y = from_values(y, &[b, plan.oh, plan.ow, c]);
    let Some(strategy) = x.strategy() else {
        return Some(plain(y));
    };
    let state = State {
        argmax: Arc::new(argmax),
        plan,
    };
    Some(super::record(
        MaxPoolBackward,
        [x.into_graph()],
        state,
        y,
        strategy,
    ))
}

#[derive(Clone, Debug)]
struct State {
    /// Per output value, the index of its maximum in its image (`NONE`: no maximum).
    argmax: Arc<Vec<u32>>,
    plan: Plan,
}

#[derive(Debug)]
struct MaxPoolBackward;

impl Backward<Flex, 1> for MaxPoolBackward {
    type State = State;

    fn backward(self, ops: Ops<State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node);
        let Some(node) = node_x else {
            return;
        };
        let State { argmax, plan: p } = ops.state;
        let g = values(&grad);
        let image = p.h * p.w * p.c;
        let per_image = p.oh * p.ow * p.c;
        let mut dx = vec![0.0f32; p.b * image];
        dx.par_chunks_mut(image)
            .zip(g.par_chunks(per_image).zip(argmax.par_chunks(per_image)))
            .for_each(|(dx, (g, at))| {
                for (g, &at) in g.iter().zip(at) {
                    if let Some(d) = dx.get_mut(at as usize) {
                        *d += g;
                    }
                }
            });
        grads.register::<Flex>(node.id, from_values(dx, &[p.b, p.h, p.w, p.c]));
    }
}

/// One output row `oh` of one image: maxima `y` `[ow, c]` and their positions `at`, without
/// branches on the values (ReLU outputs are full of ties, which branches mispredict).
#[inline(always)]
fn pool_row(img: &[f32], y: &mut [f32], at: &mut [u32], oh: usize, p: &Plan) {
    let c = p.c;
    for ow in 0..p.ow {
        let (y, at) = (&mut y[ow * c..(ow + 1) * c], &mut at[ow * c..(ow + 1) * c]);
        for i in 0..p.pool[0] {
            let Some(ih) = (oh * p.strides[0] + i).checked_sub(p.top) else {
                continue;
            };
            if ih >= p.h {
                continue;
            }
            for j in 0..p.pool[1] {
                let Some(iw) = (ow * p.strides[1] + j).checked_sub(p.left) else {
                    continue;
                };
                if iw >= p.w {
                    continue;
                }
                let base = (ih * p.w + iw) * c;
                for (k, (&v, (y, at))) in img[base..base + c]
                    .iter()
                    .zip(y.iter_mut().zip(at.iter_mut()))
                    .enumerate()
                {
                    // NaN wins and stays, as in burn's and XLA's max.
                    let better = v > *y || (v.is_nan() & !y.is_nan());
                    *y = if better { v } else { *y };
                    *at = if better { (base + k) as u32 } else { *at };
                }
            }
        }
    }
}

/// The maxima `[b, oh, ow, c]` and their positions.
fn forward(x: &[f32], p: &Plan) -> (Vec<f32>, Vec<u32>) {
    let c = p.c;
    let image = p.h * p.w * c;
    let n = p.b * p.oh * p.ow * c;
    let mut y = vec![f32::NEG_INFINITY; n];
    let mut argmax = vec![NONE; n];
    // One task per output row of one image.
    y.par_chunks_mut(p.ow * c)
        .zip(argmax.par_chunks_mut(p.ow * c))
        .enumerate()
        .for_each(|(row, (y, at))| {
            let (n, oh) = (row / p.oh, row % p.oh);
            let img = &x[n * image..(n + 1) * image];
            super::simd(|| pool_row(img, y, at, oh, p));
        });
    (y, argmax)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use burn::tensor::module::max_pool2d as burn_max_pool2d;
    use burn::tensor::ops::MaxPoolOptions;
    use burn::tensor::{Device, Tensor, TensorData};

    fn tensor(seed: u32, shape: [usize; 4], device: &Device) -> Tensor<4> {
        let n: usize = shape.iter().product();
        // Distinct values (no ties), in a scrambled order.
        let v: Vec<f32> = (0..n as u32)
            .map(|i| ((i.wrapping_mul(2_654_435_761) ^ seed) % 100_003) as f32 / 50_000.0 - 1.0)
            .collect();
        Tensor::from_data(TensorData::new(v, shape), device)
    }

    fn portable(
        x: Tensor<4>,
        pool: [usize; 2],
        strides: [usize; 2],
        pads: [(usize, usize); 2],
    ) -> Tensor<4> {
        let options = MaxPoolOptions::new(pool)
            .with_stride(strides)
            .with_padding_pairs(pads);
        burn_max_pool2d(x.permute([0, 3, 1, 2]), options).permute([0, 2, 3, 1])
    }

    fn host(t: Tensor<4>) -> Vec<f32> {
        t.into_data().try_to_vec::<f32>().unwrap()
    }

    type Case = ([usize; 4], [usize; 2], [usize; 2], [(usize, usize); 2]);

    fn cases() -> Vec<Case> {
        vec![
            ([3, 26, 26, 8], [2, 2], [2, 2], [(0, 0); 2]),
            ([2, 11, 11, 5], [2, 2], [2, 2], [(0, 0); 2]),
            // `same` padding, odd sizes, overlapping windows, uneven strides.
            ([2, 7, 9, 3], [3, 3], [2, 2], [(1, 1), (1, 1)]),
            ([1, 6, 5, 4], [3, 2], [1, 2], [(1, 1), (0, 1)]),
            ([2, 5, 5, 2], [5, 5], [1, 1], [(0, 0); 2]),
        ]
    }

    #[test]
    fn the_fast_max_pooling_is_the_portable_one_with_its_gradient() {
        let device = Device::flex().autodiff();
        for (n, (xs, pool, strides, pads)) in cases().into_iter().enumerate() {
            let x = tensor(n as u32, xs, &device).require_grad();
            let fast = super::max_pool2d(&x, pool, strides, pads)
                .unwrap_or_else(|| panic!("case {n}: the fast path did not apply"));
            let reference = portable(x.clone(), pool, strides, pads);
            assert_eq!(fast.dims(), reference.dims(), "case {n}");
            assert_eq!(host(fast.clone()), host(reference.clone()), "case {n}");
            let weights = tensor(n as u32 + 7, reference.dims(), &device);
            let g_fast = (fast * weights.clone()).sum().backward();
            let g_ref = (reference * weights).sum().backward();
            let a = host(x.grad(&g_fast).unwrap());
            let b = host(x.grad(&g_ref).unwrap());
            for (i, (p, q)) in a.iter().zip(&b).enumerate() {
                assert!((p - q).abs() < 1e-5, "case {n} gradient [{i}]: {p} vs {q}");
            }
        }
    }

    #[test]
    fn a_tie_sends_the_gradient_to_the_first_maximum_and_nan_wins() {
        let device = Device::flex().autodiff();
        // One 2x2 window of zeros (as after a ReLU), one channel.
        let x = Tensor::<4>::zeros([1, 2, 2, 1], &device).require_grad();
        let y = super::max_pool2d(&x, [2, 2], [2, 2], [(0, 0); 2]).unwrap();
        let grads = y.sum().backward();
        assert_eq!(host(x.grad(&grads).unwrap()), vec![1.0, 0.0, 0.0, 0.0]);
        let plain = Device::flex();
        let x = Tensor::<4>::from_data(
            TensorData::new(vec![1.0f32, f32::NAN, 3.0, 2.0], [1, 2, 2, 1]),
            &plain,
        );
        let y = super::max_pool2d(&x, [2, 2], [2, 2], [(0, 0); 2]).unwrap();
        assert!(host(y)[0].is_nan());
    }
}
