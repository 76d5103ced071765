//! Conv2D in Keras's layout (`x` `[batch, h, w, c]`, kernel `[kh, kw, c, filters]`) on the
//! flex backend, forward and backward, with the bias and an optional ReLU fused in.
//!
//! Forward: `im2col` copies, for each output pixel, its window's `kh·kw` channel rows (each
//! `c` contiguous values in NHWC) into one row of the patch matrix `[b·oh·ow, kh·kw·c]`,
//! whose column order is the kernel's row-major order, so the product with the kernel seen
//! as `[kh·kw·c, filters]` is the output in NHWC with no permutation. Backward: the kernel's
//! gradient is `patchesᵀ · dz` (the forward's patches are kept), the input's is `dz ·
//! kernelᵀ` folded back onto the image (`col2im`), the bias's the column sums of `dz`, where
//! `dz` is the output gradient through the ReLU (zero where the output is zero).

use burn::backend::GradientCheckpointingStrategy;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::{
    BalancedCheckpointing, CheckpointStrategy, NoCheckpointing,
};
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::ops::matmul::matmul;
use burn::backend::flex::{Flex, FlexTensor};
use burn::tensor::{Shape, Tensor};
use rayon::prelude::*;

use super::{Lifted, Tracked, from_values, in_graph, plain, values};

/// The sizes of one convolution.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Plan {
    b: usize,
    h: usize,
    w: usize,
    c: usize,
    f: usize,
    kh: usize,
    kw: usize,
    oh: usize,
    ow: usize,
    strides: [usize; 2],
    dilation: [usize; 2],
    /// Padding before the first row and column (the padding after only bounds `oh`, `ow`).
    top: usize,
    left: usize,
    relu: bool,
}

impl Plan {
    /// Columns of the patch matrix.
    fn k(&self) -> usize {
        self.kh * self.kw * self.c
    }

    /// Rows of the patch matrix (output pixels).
    fn rows(&self) -> usize {
        self.b * self.oh * self.ow
    }

    /// The input row `ih` and column `iw` that window position `(i, j)` of output pixel
    /// `(oh, ow)` reads, `None` in the padding.
    #[inline]
    fn source(&self, oh: usize, ow: usize, i: usize, j: usize) -> Option<usize> {
        let ih = (oh * self.strides[0] + i * self.dilation[0]).checked_sub(self.top)?;
        let iw = (ow * self.strides[1] + j * self.dilation[1]).checked_sub(self.left)?;
        (ih < self.h && iw < self.w).then_some(ih * self.w + iw)
    }
}

/// Conv2D with one channel group, `relu` optionally fused, on the flex backend; `None` (with
/// nothing done) when it does not apply: another backend, another dtype, shapes that do not
/// fit.
/// `geometry`: strides, `(before, after)` padding and dilation per spatial axis.
pub(crate) fn conv2d(
    x: &Tensor<4>,
    kernel: &Tensor<4>,
    bias: Option<&Tensor<1>>,
    geometry: ([usize; 2], [(usize, usize); 2], [usize; 2]),
    relu: bool,
) -> Option<Tensor<4>> {
    let (strides, pads, dilation) = geometry;
    let [b, h, w, c] = x.dims();
    let [kh, kw, kc, f] = kernel.dims();
    if kc != c || bias.is_some_and(|bias| bias.dims() != [f]) {
        return None;
    }
    let out = |size: usize, (before, after): (usize, usize), k: usize, s: usize, d: usize| {
        let window = k.checked_sub(1)?.checked_mul(d)?.checked_add(1)?;
        let padded = size.checked_add(before)?.checked_add(after)?;
        Some(padded.checked_sub(window)? / s.max(1) + 1)
    };
    let plan = Plan {
        b,
        h,
        w,
        c,
        f,
        kh,
        kw,
        oh: out(h, pads[0], kh, strides[0], dilation[0])?,
        ow: out(w, pads[1], kw, strides[1], dilation[1])?,
        strides,
        dilation,
        top: pads[0].0,
        left: pads[1].0,
        relu,
    };
    if strides.contains(&0) || dilation.contains(&0) || plan.rows() == 0 || plan.k() == 0 {
        return None;
    }
    let x = Lifted::of(x)?;
    let kernel = Lifted::of(kernel)?;
    let bias = match bias {
        Some(bias) => Some(Lifted::of(bias)?),
        None => None,
    };
    let strategy = [Some(&x), Some(&kernel), bias.as_ref()]
        .into_iter()
        .flatten()
        .find_map(Lifted::strategy);

    let patches = from_values(
        im2col(&values(&x.primitive()), &plan),
        &[plan.rows(), plan.k()],
    );
    let kernel2d = kernel.primitive().reshape(Shape::new([plan.k(), f]));
    let bias_values = bias.as_ref().map(|b| values(&b.primitive()).into_owned());
    let y = if plan.k() <= DIRECT_K {
        let y = direct_forward(
            &values(&patches),
            &values(&kernel2d),
            bias_values.as_deref(),
            f,
            relu,
        );
        from_values(y, &[plan.rows(), f])
    } else {
        let mut y = matmul(patches.clone(), kernel2d.clone());
        epilogue(y.storage_mut::<f32>(), bias_values.as_deref(), f, relu);
        y
    };
    let y4 = |y: FlexTensor| y.reshape(Shape::new([b, plan.oh, plan.ow, f]));

    let Some(strategy) = strategy else {
        return Some(plain(y4(y)));
    };
    let state = State {
        patches,
        kernel: kernel2d,
        output: relu.then(|| y.clone()),
        plan,
    };
    let bias = match bias {
        Some(bias) => bias.into_graph(),
        None => Tracked::new(FlexTensor::zeros(Shape::new([f]), burn::tensor::DType::F32)),
    };
    let out = match strategy {
        GradientCheckpointingStrategy::Disabled => {
            record::<NoCheckpointing>(x.into_graph(), kernel.into_graph(), bias, state, y4(y))
        }
        GradientCheckpointingStrategy::Balanced => {
            record::<BalancedCheckpointing>(x.into_graph(), kernel.into_graph(), bias, state, y4(y))
        }
    };
    Some(in_graph(out, strategy))
}

/// Records the convolution in autodiff's graph.
fn record<C: CheckpointStrategy>(
    x: Tracked,
    kernel: Tracked,
    bias: Tracked,
    state: State,
    y: FlexTensor,
) -> Tracked {
    match Conv2dBackward
        .prepare::<C>([x.node(), kernel.node(), bias.node()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => prep.finish(state, y),
        OpsKind::UnTracked(prep) => prep.finish(y),
    }
}

/// What the backward pass needs from the forward.
#[derive(Clone, Debug)]
struct State {
    /// `[rows, k]`.
    patches: FlexTensor,
    /// `[k, filters]`.
    kernel: FlexTensor,
    /// The ReLU's output `[rows, filters]`, when fused.
    output: Option<FlexTensor>,
    plan: Plan,
}

#[derive(Debug)]
struct Conv2dBackward;

impl Backward<Flex, 3> for Conv2dBackward {
    type State = State;

    fn backward(self, ops: Ops<State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x, node_kernel, node_bias] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node);
        let State {
            patches,
            kernel,
            output,
            plan,
        } = ops.state;
        let (rows, f) = (plan.rows(), plan.f);
        let g = values(&grad);
        // A first layer (no input gradient) with few patch columns: one pass over the output
        // gradient gives the kernel's and the bias's gradients.
        if node_x.is_none() && plan.k() <= DIRECT_K {
            let y = output.as_ref().map(values);
            let (dk, db) = direct_grads(&values(&patches), &g, y.as_deref(), plan.k(), f);
            if let Some(node) = node_bias {
                grads.register::<Flex>(node.id, from_values(db, &[f]));
            }
            if let Some(node) = node_kernel {
                let shape = [plan.kh, plan.kw, plan.c, f];
                grads.register::<Flex>(node.id, from_values(dk, &shape));
            }
            return;
        }
        let dz: Vec<f32> = match &output {
            Some(y) => relu_grad(&g, &values(y)),
            None => g.into_owned(),
        };
        if let Some(node) = node_bias {
            grads.register::<Flex>(node.id, from_values(column_sums(&dz, f), &[f]));
        }
        let dz = from_values(dz, &[rows, f]);
        if let Some(node) = node_kernel {
            let dk = matmul(patches.transpose(0, 1), dz.clone());
            let shape = Shape::new([plan.kh, plan.kw, plan.c, f]);
            grads.register::<Flex>(node.id, dk.reshape(shape));
        }
        if let Some(node) = node_x {
            let dp = matmul(dz, kernel.transpose(0, 1));
            let dx = col2im(&values(&dp), &plan);
            grads.register::<Flex>(node.id, from_values(dx, &[plan.b, plan.h, plan.w, plan.c]));
        }
    }
}

/// Output pixels per parallel task of the elementwise passes.
const ROWS_PER_TASK: usize = 512;

/// Patch columns up to which the product runs as its own loop instead of a matrix product: the
/// first convolution of an image model (3x3 over 1 or 3 channels), whose products are too
/// thin for `gemm`'s blocking and whose cost is the memory it streams.
const DIRECT_K: usize = 32;

/// `y = patches · kernel + bias` (`[rows, k] · [k, f]`), ReLU'd, row by row.
fn direct_forward(
    patches: &[f32],
    kernel: &[f32],
    bias: Option<&[f32]>,
    f: usize,
    relu: bool,
) -> Vec<f32> {
    let k = kernel.len() / f;
    let mut y = vec![0.0f32; patches.len() / k * f];
    y.par_chunks_mut(f * ROWS_PER_TASK)
        .zip(patches.par_chunks(k * ROWS_PER_TASK))
        .for_each(|(y, p)| super::simd(|| forward_rows(y, p, kernel, bias, f, relu)));
    y
}

/// [`direct_forward`] on a block of rows (inlined into the vectorized caller).
#[inline(always)]
fn forward_rows(
    y: &mut [f32],
    patches: &[f32],
    kernel: &[f32],
    bias: Option<&[f32]>,
    f: usize,
    relu: bool,
) {
    let k = kernel.len() / f;
    for (row, patch) in y.chunks_exact_mut(f).zip(patches.chunks_exact(k)) {
        if let Some(bias) = bias {
            row.copy_from_slice(bias);
        }
        for (&v, w) in patch.iter().zip(kernel.chunks_exact(f)) {
            for (o, w) in row.iter_mut().zip(w) {
                *o += v * w;
            }
        }
        if relu {
            for o in row.iter_mut() {
                *o = o.max(0.0);
            }
        }
    }
}

/// The kernel's gradient `patchesᵀ · dz` `[k, f]` and the bias's (column sums of `dz`) in one
/// pass, `dz` the output gradient `g` through the ReLU (whose output is `y`) on the fly.
fn direct_grads(
    patches: &[f32],
    g: &[f32],
    y: Option<&[f32]>,
    k: usize,
    f: usize,
) -> (Vec<f32>, Vec<f32>) {
    let sum = |mut a: Vec<f32>, b: Vec<f32>| {
        for (x, y) in a.iter_mut().zip(b) {
            *x += y;
        }
        a
    };
    let (dk, db) = patches
        .par_chunks(k * ROWS_PER_TASK)
        .zip(g.par_chunks(f * ROWS_PER_TASK))
        .enumerate()
        .map(|(task, (p, g))| {
            let mut dk = vec![0.0f32; k * f];
            let mut db = vec![0.0f32; f];
            let mut dz = vec![0.0f32; f];
            let y = y.map(|y| &y[task * f * ROWS_PER_TASK..]);
            super::simd(|| grad_rows(p, g, y, (&mut dk, &mut db, &mut dz), k, f));
            (dk, db)
        })
        .reduce(
            || (vec![0.0f32; k * f], vec![0.0f32; f]),
            |(a, b), (c, d)| (sum(a, c), sum(b, d)),
        );
    (dk, db)
}

/// [`direct_grads`] on a block of rows, accumulating into `dk` and `db` (`dz`: one row's
/// scratch).
#[inline(always)]
fn grad_rows(
    patches: &[f32],
    g: &[f32],
    y: Option<&[f32]>,
    (dk, db, dz): (&mut [f32], &mut [f32], &mut [f32]),
    k: usize,
    f: usize,
) {
    for (r, (patch, g)) in patches.chunks_exact(k).zip(g.chunks_exact(f)).enumerate() {
        match y {
            Some(y) => {
                let y = &y[r * f..(r + 1) * f];
                for ((d, g), y) in dz.iter_mut().zip(g).zip(y) {
                    *d = if *y > 0.0 { *g } else { 0.0 };
                }
            }
            None => dz.copy_from_slice(g),
        }
        for (b, d) in db.iter_mut().zip(dz.iter()) {
            *b += d;
        }
        for (&v, acc) in patch.iter().zip(dk.chunks_exact_mut(f)) {
            for (a, d) in acc.iter_mut().zip(dz.iter()) {
                *a += v * d;
            }
        }
    }
}

/// The patch matrix `[rows, k]` of NHWC `x`.
fn im2col(x: &[f32], p: &Plan) -> Vec<f32> {
    let (k, c) = (p.k(), p.c);
    let image = p.h * p.w * c;
    let mut patches = vec![0.0f32; p.rows() * k];
    // One task per output row of one image: `ow` patch rows.
    patches
        .par_chunks_mut(p.ow * k)
        .enumerate()
        .for_each(|(row, chunk)| {
            let (n, oh) = (row / p.oh, row % p.oh);
            let img = &x[n * image..(n + 1) * image];
            for (ow, dst) in chunk.chunks_exact_mut(k).enumerate() {
                for i in 0..p.kh {
                    for j in 0..p.kw {
                        if let Some(pixel) = p.source(oh, ow, i, j) {
                            let at = (i * p.kw + j) * c;
                            let src = &img[pixel * c..(pixel + 1) * c];
                            // A few channels (the first layer's one or three): element copies,
                            // not a `memmove` call per value.
                            if c < 8 {
                                for (d, s) in dst[at..at + c].iter_mut().zip(src) {
                                    *d = *s;
                                }
                            } else {
                                dst[at..at + c].copy_from_slice(src);
                            }
                        }
                    }
                }
            }
        });
    patches
}

/// The patch gradients `[rows, k]` summed back onto the NHWC image `[b, h, w, c]`.
fn col2im(dp: &[f32], p: &Plan) -> Vec<f32> {
    let (k, c) = (p.k(), p.c);
    let image = p.h * p.w * c;
    let per_image = p.oh * p.ow * k;
    let mut dx = vec![0.0f32; p.b * image];
    dx.par_chunks_mut(image)
        .zip(dp.par_chunks(per_image))
        .for_each(|(img, rows)| {
            for oh in 0..p.oh {
                for ow in 0..p.ow {
                    let src = &rows[(oh * p.ow + ow) * k..(oh * p.ow + ow + 1) * k];
                    for i in 0..p.kh {
                        for j in 0..p.kw {
                            if let Some(pixel) = p.source(oh, ow, i, j) {
                                let at = (i * p.kw + j) * c;
                                let dst = &mut img[pixel * c..(pixel + 1) * c];
                                for (d, s) in dst.iter_mut().zip(&src[at..at + c]) {
                                    *d += s;
                                }
                            }
                        }
                    }
                }
            }
        });
    dx
}

/// Adds the bias to each row of `y` `[rows, f]` and applies the ReLU, in one pass.
fn epilogue(y: &mut [f32], bias: Option<&[f32]>, f: usize, relu: bool) {
    if bias.is_none() && !relu {
        return;
    }
    y.par_chunks_mut(f * ROWS_PER_TASK).for_each(|chunk| {
        for row in chunk.chunks_exact_mut(f) {
            if let Some(bias) = bias {
                for (v, b) in row.iter_mut().zip(bias) {
                    *v += b;
                }
            }
            if relu {
                for v in row.iter_mut() {
                    *v = v.max(0.0);
                }
            }
        }
    });
}

/// The gradient through the ReLU: `g` where the output is positive, zero elsewhere.
fn relu_grad(g: &[f32], y: &[f32]) -> Vec<f32> {
    let mut dz = vec![0.0f32; g.len()];
    dz.par_chunks_mut(4096)
        .zip(g.par_chunks(4096).zip(y.par_chunks(4096)))
        .for_each(|(d, (g, y))| {
            for ((d, g), y) in d.iter_mut().zip(g).zip(y) {
                *d = if *y > 0.0 { *g } else { 0.0 };
            }
        });
    dz
}

/// The sums of the columns of `dz` `[rows, f]`.
fn column_sums(dz: &[f32], f: usize) -> Vec<f32> {
    dz.par_chunks(f * ROWS_PER_TASK)
        .map(|chunk| {
            let mut sums = vec![0.0f32; f];
            for row in chunk.chunks_exact(f) {
                for (s, v) in sums.iter_mut().zip(row) {
                    *s += v;
                }
            }
            sums
        })
        .reduce(
            || vec![0.0f32; f],
            |mut a, b| {
                for (x, y) in a.iter_mut().zip(b) {
                    *x += y;
                }
                a
            },
        )
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use burn::tensor::activation::relu;
    use burn::tensor::module::conv2d as burn_conv2d;
    use burn::tensor::ops::ConvOptions;
    use burn::tensor::{Device, Tensor, TensorData};

    type Geometry = ([usize; 2], [(usize, usize); 2], [usize; 2]);

    /// A fixed pseudo-random sequence in [-1, 1).
    fn values(seed: u32, n: usize) -> Vec<f32> {
        (0..n as u32)
            .map(|i| {
                let h =
                    (i.wrapping_add(seed.wrapping_mul(7919)) ^ seed).wrapping_mul(2_654_435_761);
                ((h >> 8) % 2000) as f32 / 1000.0 - 1.0
            })
            .collect()
    }

    fn tensor<const D: usize>(seed: u32, shape: [usize; D], device: &Device) -> Tensor<D> {
        let n = shape.iter().product();
        Tensor::from_data(TensorData::new(values(seed, n), shape), device)
    }

    /// burn's NCHW convolution between permutations: the portable path.
    fn portable(
        x: Tensor<4>,
        kernel: Tensor<4>,
        bias: Option<Tensor<1>>,
        (strides, pads, dilation): Geometry,
        relu_on: bool,
    ) -> Tensor<4> {
        let options = ConvOptions::new_with_padding(strides, pads, dilation, 1);
        let y = burn_conv2d(
            x.permute([0, 3, 1, 2]),
            kernel.permute([3, 2, 0, 1]),
            bias,
            options,
        )
        .permute([0, 2, 3, 1]);
        if relu_on { relu(y) } else { y }
    }

    fn host<const D: usize>(t: Tensor<D>) -> Vec<f32> {
        t.into_data().try_to_vec::<f32>().unwrap()
    }

    fn close(what: &str, a: &[f32], b: &[f32]) {
        assert_eq!(a.len(), b.len(), "{what}");
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            assert!(
                (x - y).abs() <= 1e-4 * (1.0 + y.abs()),
                "{what}[{i}]: fast {x} vs portable {y}"
            );
        }
    }

    /// `[b, h, w, c]`, `[kh, kw]`, filters, geometry, bias, relu.
    type Case = ([usize; 4], [usize; 2], usize, Geometry, bool, bool);

    fn cases() -> Vec<Case> {
        vec![
            // The MNIST convnet's two convolutions, smaller batches.
            (
                [3, 28, 28, 1],
                [3, 3],
                8,
                ([1, 1], [(0, 0); 2], [1, 1]),
                true,
                true,
            ),
            (
                [2, 13, 13, 32],
                [3, 3],
                16,
                ([1, 1], [(0, 0); 2], [1, 1]),
                true,
                true,
            ),
            // Strides, `same` padding (asymmetric), odd sizes, no bias, no ReLU.
            (
                [2, 9, 7, 3],
                [3, 2],
                5,
                ([2, 2], [(1, 1), (0, 1)], [1, 1]),
                false,
                false,
            ),
            (
                [1, 10, 11, 4],
                [4, 4],
                3,
                ([3, 2], [(1, 2), (2, 1)], [1, 1]),
                true,
                false,
            ),
            // Dilation, padding wider than the dilated window reaches.
            (
                [2, 12, 9, 2],
                [3, 3],
                4,
                ([1, 2], [(2, 2), (3, 1)], [2, 3]),
                true,
                true,
            ),
            // 1x1, a window as large as the image, one output pixel.
            (
                [4, 5, 5, 6],
                [1, 1],
                7,
                ([1, 1], [(0, 0); 2], [1, 1]),
                true,
                true,
            ),
            (
                [2, 5, 4, 3],
                [5, 4],
                2,
                ([1, 1], [(0, 0); 2], [1, 1]),
                true,
                false,
            ),
        ]
    }

    #[test]
    fn the_fast_convolution_is_the_portable_one_forward() {
        let device = Device::flex();
        for (n, (xs, [kh, kw], f, geometry, with_bias, relu_on)) in cases().into_iter().enumerate()
        {
            let seed = n as u32 * 10;
            let x = tensor(seed, xs, &device);
            let kernel = tensor(seed + 1, [kh, kw, xs[3], f], &device);
            let bias = with_bias.then(|| tensor(seed + 2, [f], &device));
            let fast = super::conv2d(&x, &kernel, bias.as_ref(), geometry, relu_on)
                .unwrap_or_else(|| panic!("case {n}: the fast path did not apply"));
            let reference = portable(x, kernel, bias, geometry, relu_on);
            assert_eq!(fast.dims(), reference.dims(), "case {n}");
            close(&format!("case {n} output"), &host(fast), &host(reference));
        }
    }

    #[test]
    fn the_fast_convolution_has_the_portable_gradients() {
        let device = Device::flex().autodiff();
        for (n, (xs, [kh, kw], f, geometry, with_bias, relu_on)) in cases().into_iter().enumerate()
        {
            for input_grad in [true, false] {
                let seed = n as u32 * 10;
                let x = tensor(seed, xs, &device);
                let x = if input_grad { x.require_grad() } else { x };
                let kernel = tensor(seed + 1, [kh, kw, xs[3], f], &device).require_grad();
                let bias = with_bias.then(|| tensor(seed + 2, [f], &device).require_grad());
                let fast = super::conv2d(&x, &kernel, bias.as_ref(), geometry, relu_on)
                    .unwrap_or_else(|| panic!("case {n}: the fast path did not apply"));
                let reference =
                    portable(x.clone(), kernel.clone(), bias.clone(), geometry, relu_on);
                // A loss that weighs every output differently.
                let weights = tensor(seed + 3, reference.dims(), &device);
                let g_fast = (fast * weights.clone()).sum().backward();
                let g_ref = (reference * weights).sum().backward();
                let grad = |t: &Tensor<4>, g| host(t.grad(g).expect("a gradient"));
                close(
                    &format!("case {n} kernel gradient"),
                    &grad(&kernel, &g_fast),
                    &grad(&kernel, &g_ref),
                );
                if input_grad {
                    close(
                        &format!("case {n} input gradient"),
                        &grad(&x, &g_fast),
                        &grad(&x, &g_ref),
                    );
                } else {
                    assert!(x.grad(&g_fast).is_none());
                }
                if let Some(bias) = &bias {
                    let b = |g| host(bias.grad(g).expect("a gradient"));
                    close(&format!("case {n} bias gradient"), &b(&g_fast), &b(&g_ref));
                }
            }
        }
    }

    #[test]
    fn shapes_that_do_not_fit_take_the_portable_path() {
        let device = Device::flex();
        let x = tensor(1, [1, 3, 3, 2], &device);
        let geometry = ([1, 1], [(0, 0); 2], [1, 1]);
        // A window larger than the image, a kernel for other channels, a bias of another size.
        let big = tensor(2, [4, 4, 2, 1], &device);
        assert!(super::conv2d(&x, &big, None, geometry, false).is_none());
        let other = tensor(3, [2, 2, 3, 1], &device);
        assert!(super::conv2d(&x, &other, None, geometry, false).is_none());
        let kernel = tensor(4, [2, 2, 2, 1], &device);
        let bias = tensor(5, [2], &device);
        assert!(super::conv2d(&x, &kernel, Some(&bias), geometry, false).is_none());
    }
}
