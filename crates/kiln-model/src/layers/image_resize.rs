//! Image resizing as Keras does it on JAX (`jax.image.resize`, i.e. `scale_and_translate`):
//! each axis is resampled by a weight matrix computed on the host — a kernel (triangle,
//! Keys cubic with `a = -0.5`, Lanczos 3 or 5) evaluated at the distance between each output
//! sample point (half-pixel centers) and each input pixel, widened by `in / out` when
//! downsampling with `antialias`, normalized to sum to 1, zero where the sample point lies
//! outside the image — then applied on the device as two matrix products. `nearest` gathers the
//! pixel `floor((i + 0.5) · in / out)`. Used by `Resizing` and `CenterCrop`.

use burn::tensor::{Int, Tensor, TensorData};

/// How pixels between the input's are made (Keras's `interpolation`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Method {
    Nearest,
    Bilinear,
    Bicubic,
    Lanczos3,
    Lanczos5,
}

impl Method {
    /// Keras's name, or `None` for one Kiln does not have.
    pub(crate) fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "nearest" => Method::Nearest,
            "bilinear" => Method::Bilinear,
            "bicubic" => Method::Bicubic,
            "lanczos3" => Method::Lanczos3,
            "lanczos5" => Method::Lanczos5,
            _ => return None,
        })
    }

    fn kernel(self, x: f64) -> f64 {
        let x = x.abs();
        match self {
            Method::Nearest | Method::Bilinear => (1.0 - x).max(0.0),
            Method::Bicubic => {
                if x >= 2.0 {
                    0.0
                } else if x >= 1.0 {
                    ((-0.5 * x + 2.5) * x - 4.0) * x + 2.0
                } else {
                    ((1.5 * x - 2.5) * x) * x + 1.0
                }
            }
            Method::Lanczos3 | Method::Lanczos5 => {
                let radius = if self == Method::Lanczos3 { 3.0 } else { 5.0 };
                if x > radius {
                    0.0
                } else if x > 1e-3 {
                    let px = std::f64::consts::PI * x;
                    radius * px.sin() * (px / radius).sin() / (px * px)
                } else {
                    1.0
                }
            }
        }
    }
}

/// The `[output, input]` weights resampling one axis of `input` pixels to `output`.
fn weights(method: Method, input: usize, output: usize, antialias: bool) -> Vec<f32> {
    let inv_scale = input as f64 / output as f64;
    let kernel_scale = if antialias { inv_scale.max(1.0) } else { 1.0 };
    let mut out = vec![0.0f32; output * input];
    for (o, row) in out.chunks_mut(input).enumerate() {
        let sample = (o as f64 + 0.5) * inv_scale - 0.5;
        if !(-0.5..=input as f64 - 0.5).contains(&sample) {
            continue;
        }
        let w: Vec<f64> = (0..input)
            .map(|i| method.kernel((sample - i as f64).abs() / kernel_scale))
            .collect();
        let total: f64 = w.iter().sum();
        if total.abs() > 1000.0 * f64::from(f32::EPSILON) {
            for (r, v) in row.iter_mut().zip(&w) {
                *r = (v / total) as f32;
            }
        }
    }
    out
}

/// The source index of each output pixel with `nearest`, computed in `f32` as JAX does.
fn nearest_indices(input: usize, output: usize) -> Vec<i64> {
    (0..output)
        .map(|o| {
            let src = ((o as f32 + 0.5) * input as f32 / output as f32).floor() as i64;
            src.clamp(0, input as i64 - 1)
        })
        .collect()
}

/// Resizes images `[b, h, w, c]` to `[b, height, width, c]`.
pub(crate) fn resize(
    x: Tensor<4>,
    [height, width]: [usize; 2],
    method: Method,
    antialias: bool,
) -> Tensor<4> {
    let [b, h, w, c] = x.dims();
    let device = x.device();
    if (h, w) == (height, width) {
        return x;
    }
    if method == Method::Nearest {
        let rows = Tensor::<1, Int>::from_data(
            TensorData::new(nearest_indices(h, height), [height]),
            &device,
        );
        let cols = Tensor::<1, Int>::from_data(
            TensorData::new(nearest_indices(w, width), [width]),
            &device,
        );
        return x.select(1, rows).select(2, cols);
    }
    // Rows: [1, height, h] x [b, h, w*c] -> [b, height, w*c].
    let wh = Tensor::<2>::from_data(
        TensorData::new(weights(method, h, height, antialias), [height, h]),
        &device,
    );
    let x = wh
        .unsqueeze_dim::<3>(0)
        .matmul(x.reshape([b, h, w * c]))
        .reshape([b * height, w, c]);
    // Columns: [1, width, w] x [b*height, w, c] -> [b*height, width, c].
    let ww = Tensor::<2>::from_data(
        TensorData::new(weights(method, w, width, antialias), [width, w]),
        &device,
    );
    ww.unsqueeze_dim::<3>(0)
        .matmul(x)
        .reshape([b, height, width, c])
}

/// The centered box `(start_h, start_w, crop_h, crop_w)` of an `h × w` image with the aspect
/// ratio of `height × width` (Keras's `crop_to_aspect_ratio` and `smart_resize`).
pub(crate) fn aspect_crop(h: usize, w: usize, [height, width]: [usize; 2]) -> [usize; 4] {
    let crop_h = ((w * height) as f64 / width as f64) as usize;
    let crop_h = crop_h.min(h).max(1);
    let crop_w = ((h * width) as f64 / height as f64) as usize;
    let crop_w = crop_w.min(w).max(1);
    [
        ((h - crop_h) as f64 / 2.0) as usize,
        ((w - crop_w) as f64 / 2.0) as usize,
        crop_h,
        crop_w,
    ]
}

/// The rows and columns of `fill` added on *each* side of an `h × w` image to reach the aspect
/// ratio of `height × width` (Keras's `pad_to_aspect_ratio`: the same count both sides, so an
/// odd difference loses a row).
pub(crate) fn aspect_pad(h: usize, w: usize, [height, width]: [usize; 2]) -> [usize; 2] {
    let pad_h = (((w * height) as f64 / width as f64) as usize).max(h);
    let pad_w = (((h * width) as f64 / height as f64) as usize).max(w);
    [
        ((pad_h - h) as f64 / 2.0) as usize,
        ((pad_w - w) as f64 / 2.0) as usize,
    ]
}

/// Pads `rows` rows and `cols` columns of `value` on each side of images `[b, h, w, c]`.
pub(crate) fn pad(x: Tensor<4>, [rows, cols]: [usize; 2], value: f32) -> Tensor<4> {
    let [b, h, w, c] = x.dims();
    let device = x.device();
    let x = if rows > 0 {
        let band = Tensor::<4>::full([b, rows, w, c], value, &device);
        Tensor::cat(vec![band.clone(), x, band], 1)
    } else {
        x
    };
    if cols > 0 {
        let band = Tensor::<4>::full([b, h + 2 * rows, cols, c], value, &device);
        Tensor::cat(vec![band.clone(), x, band], 2)
    } else {
        x
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_are_an_identity_at_the_same_size_and_sum_to_one() {
        for method in [Method::Bilinear, Method::Bicubic, Method::Lanczos3] {
            let w = weights(method, 5, 5, false);
            for (o, row) in w.chunks(5).enumerate() {
                for (i, v) in row.iter().enumerate() {
                    let expected = if i == o { 1.0 } else { 0.0 };
                    assert!((v - expected).abs() < 1e-6, "{method:?} {o} {i}: {v}");
                }
            }
            let down = weights(method, 9, 4, true);
            for row in down.chunks(9) {
                let sum: f32 = row.iter().sum();
                assert!((sum - 1.0).abs() < 1e-5, "{method:?}: {sum}");
            }
        }
        assert_eq!(nearest_indices(4, 6), [0, 1, 1, 2, 3, 3]);
        assert_eq!(aspect_crop(6, 9, [3, 4]), [0, 0, 6, 8]);
        assert_eq!(aspect_pad(3, 8, [4, 4]), [2, 0]);
    }
}
