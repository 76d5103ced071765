//! Conv2D in Keras's layout (`x` `[batch, h, w, c]`, kernel `[kh, kw, c, filters]`) on the
//! flex backend, forward and backward, with the bias and an optional ReLU fused in.
//!
//! Image by image, in parallel: `im2col` copies, for each output pixel, its window's `kh·kw`
//! channel rows (each `c` contiguous values in NHWC) into one row of the image's patch matrix
//! `[oh·ow, kh·kw·c]`, whose column order is the kernel's row-major order, so its product with
//! the kernel seen as `[kh·kw·c, filters]` is the image's output in NHWC, with no permutation.
//! One image's patches stay in cache; the batch's (18 MB for the MNIST convnet's second
//! layer) are never written out. Backward, image by image again: the kernel's gradient is
//! `Σ patchesᵀ · dz` (patches rebuilt from the kept input), the input's `dz · kernelᵀ` folded
//! back onto the image (`col2im`), the bias's the column sums of `dz`, where `dz` is the output
//! gradient through the ReLU (zero where the output is zero). The matrix products are
//! burn-flex's (the `gemm` crate).

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops};
use burn::backend::flex::ops::matmul::matmul;
use burn::backend::flex::{Flex, FlexTensor};
use burn::tensor::{Shape, Tensor};
use rayon::prelude::*;

use super::{Lifted, Tracked, from_values, plain, values};

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

    let kernel2d = kernel.primitive().reshape(Shape::new([plan.k(), f]));
    let bias_values = bias.as_ref().map(|b| values(&b.primitive()).into_owned());
    let input = x.primitive();
    let y = forward_by_image(&values(&input), &kernel2d, bias_values.as_deref(), &plan);
    let y = from_values(y, &[plan.rows(), f]);
    let y4 = |y: FlexTensor| y.reshape(Shape::new([b, plan.oh, plan.ow, f]));

    let Some(strategy) = strategy else {
        return Some(plain(y4(y)));
    };
    let state = State {
        input,
        kernel: kernel2d,
        output: relu.then(|| y.clone()),
        plan,
    };
    let bias = match bias {
        Some(bias) => bias.into_graph(),
        None => Tracked::new(FlexTensor::zeros(Shape::new([f]), burn::tensor::DType::F32)),
    };
    let parents = [x.into_graph(), kernel.into_graph(), bias];
    Some(super::record(
        Conv2dBackward,
        parents,
        state,
        y4(y),
        strategy,
    ))
}

/// What the backward pass needs from the forward.
#[derive(Clone, Debug)]
struct State {
    /// The input `[b, h, w, c]`, whose patches the backward rebuilds image by image.
    input: FlexTensor,
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
            input,
            kernel,
            output,
            plan,
        } = ops.state;
        let (rows, f) = (plan.rows(), plan.f);
        let g = values(&grad);
        let dz: Vec<f32> = match &output {
            Some(y) => relu_grad(&g, &values(y)),
            None => g.into_owned(),
        };
        if let Some(node) = node_bias {
            grads.register::<Flex>(node.id, from_values(column_sums(&dz, f), &[f]));
        }
        let dz = from_values(dz, &[rows, f]);
        if let Some(node) = node_kernel {
            let shape = [plan.kh, plan.kw, plan.c, f];
            let dk = from_values(kernel_grad(&values(&input), &values(&dz), &plan), &shape);
            grads.register::<Flex>(node.id, dk);
        }
        if let Some(node) = node_x {
            let dx = input_grad(&values(&dz), &kernel.transpose(0, 1), &plan);
            grads.register::<Flex>(node.id, from_values(dx, &[plan.b, plan.h, plan.w, plan.c]));
        }
    }
}

/// The convolution image by image (in parallel): each image's patches `[oh·ow, k]` (small
/// enough to stay in cache) times the kernel, bias and ReLU added, written to `[rows, f]`.
fn forward_by_image(x: &[f32], kernel: &FlexTensor, bias: Option<&[f32]>, p: &Plan) -> Vec<f32> {
    let (pixels, f) = (p.oh * p.ow, p.f);
    let mut y = vec![0.0f32; p.rows() * f];
    y.par_chunks_mut(pixels * f)
        .zip(x.par_chunks(p.h * p.w * p.c))
        .for_each(|(y, img)| {
            let mut patches = vec![0.0f32; pixels * p.k()];
            im2col_image(img, p, &mut patches);
            let product = matmul(from_values(patches, &[pixels, p.k()]), kernel.clone());
            y.copy_from_slice(&values(&product));
            epilogue_rows(y, bias, f, p.relu);
        });
    y
}

/// The kernel's gradient `Σ patchesᵀ · dz` `[k, f]`, image by image (patches rebuilt from
/// the input `x`), summed over the images.
fn kernel_grad(x: &[f32], dz: &[f32], p: &Plan) -> Vec<f32> {
    let (pixels, k, f) = (p.oh * p.ow, p.k(), p.f);
    let add = |mut a: Vec<f32>, b: &[f32]| {
        for (x, y) in a.iter_mut().zip(b) {
            *x += y;
        }
        a
    };
    x.par_chunks(p.h * p.w * p.c)
        .zip(dz.par_chunks(pixels * f))
        .fold(
            || vec![0.0f32; k * f],
            |acc, (img, dz)| {
                let mut patches = vec![0.0f32; pixels * k];
                im2col_image(img, p, &mut patches);
                let patches = from_values(patches, &[pixels, k]);
                let dz = from_values(dz.to_vec(), &[pixels, f]);
                add(acc, &values(&matmul(patches.transpose(0, 1), dz)))
            },
        )
        .reduce(|| vec![0.0f32; k * f], |a, b| add(a, &b))
}

/// The input's gradient: image by image (in parallel), the patch gradients `dz · kernelᵀ`
/// (`[oh·ow, k]`, small enough to stay in cache) folded back onto that image, so the whole
/// `[rows, k]` patch gradient is never written out.
fn input_grad(dz: &[f32], kernel_t: &FlexTensor, p: &Plan) -> Vec<f32> {
    let image = p.h * p.w * p.c;
    let pixels = p.oh * p.ow;
    let mut dx = vec![0.0f32; p.b * image];
    dx.par_chunks_mut(image)
        .zip(dz.par_chunks(pixels * p.f))
        .for_each(|(dx, dz)| {
            let dz = from_values(dz.to_vec(), &[pixels, p.f]);
            let dp = matmul(dz, kernel_t.clone());
            fold_image(dx, &values(&dp), p);
        });
    dx
}

/// Output pixels per parallel task of the elementwise passes.
const ROWS_PER_TASK: usize = 512;

/// The patches `[oh·ow, k]` of one image `[h, w, c]` into `patches` (zeros where the window
/// is in the padding).
fn im2col_image(img: &[f32], p: &Plan, patches: &mut [f32]) {
    let (k, c) = (p.k(), p.c);
    for (pixel_out, dst) in patches.chunks_exact_mut(k).enumerate() {
        let (oh, ow) = (pixel_out / p.ow, pixel_out % p.ow);
        for i in 0..p.kh {
            for j in 0..p.kw {
                if let Some(pixel) = p.source(oh, ow, i, j) {
                    let at = (i * p.kw + j) * c;
                    let src = &img[pixel * c..(pixel + 1) * c];
                    // A few channels (the first layer's one or three): element copies, not a
                    // `memmove` call per value.
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
}

/// The patch gradients `rows` `[oh·ow, k]` of one image summed back onto it (`img`
/// `[h, w, c]`).
fn fold_image(img: &mut [f32], rows: &[f32], p: &Plan) {
    let (k, c) = (p.k(), p.c);
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
}

/// Adds the bias to each row of `y` `[rows, f]` and applies the ReLU, in one pass.
fn epilogue_rows(y: &mut [f32], bias: Option<&[f32]>, f: usize, relu: bool) {
    if bias.is_none() && !relu {
        return;
    }
    for row in y.chunks_exact_mut(f) {
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
