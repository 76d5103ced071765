//! What the image augmentation layers share: random factors given as Keras gives them (a number
//! or a `[lower, upper]` pair), per-image uniform draws from the device's generator (which `fit`
//! seeds per epoch), and an affine resampler with Keras's fill modes (`reflect`, `wrap`,
//! `nearest`, `constant`) and interpolations (`bilinear`, `nearest`).

use burn::tensor::{Distribution, Int, Tensor};
use serde::{Deserialize, Serialize};

/// A random factor: one number `f` (the range `[-f, f]`, or `[f, f]` where Keras says so) or a
/// `[lower, upper]` pair, written back as given.
#[derive(Debug, Clone, PartialEq)]
pub struct Factor(pub Vec<f32>);

impl From<f32> for Factor {
    fn from(v: f32) -> Self {
        Factor(vec![v])
    }
}

impl From<[f32; 2]> for Factor {
    fn from(v: [f32; 2]) -> Self {
        Factor(v.to_vec())
    }
}

impl Serialize for Factor {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0.as_slice() {
            [one] => s.serialize_f32(*one),
            many => many.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for Factor {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Either {
            One(f32),
            Many(Vec<f32>),
        }
        Ok(match Either::deserialize(d)? {
            Either::One(v) => Factor(vec![v]),
            Either::Many(v) => Factor(v),
        })
    }
}

impl Factor {
    /// `(lower, upper)`: a single `f` is `(-|f|, |f|)`; checks both lie in `limit`.
    pub(crate) fn bounds(&self, what: &str, limit: (f32, f32)) -> Result<(f32, f32), String> {
        let (lo, hi) = match self.0.as_slice() {
            [f] => (-f.abs(), f.abs()),
            [lo, hi] => (*lo, *hi),
            other => {
                return Err(format!(
                    "{what} must be a number or [lower, upper], got {other:?}"
                ));
            }
        };
        if !(lo.is_finite() && hi.is_finite() && lo <= hi && lo >= limit.0 && hi <= limit.1) {
            return Err(format!(
                "{what} must lie in [{}, {}] with lower <= upper, got [{lo}, {hi}]",
                limit.0, limit.1
            ));
        }
        Ok((lo, hi))
    }
}

/// `[b]` draws from `U(lo, hi)` on the device (constant when `lo == hi`).
pub(crate) fn uniform(b: usize, (lo, hi): (f32, f32), device: &burn::tensor::Device) -> Tensor<1> {
    if lo == hi {
        return Tensor::<1>::full([b], lo, device);
    }
    Tensor::<1>::random(
        [b],
        Distribution::Uniform(f64::from(lo), f64::from(hi)),
        device,
    )
}

/// How pixels outside the image are made (Keras's `fill_mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fill {
    Reflect,
    Wrap,
    Nearest,
    Constant,
}

impl Fill {
    pub(crate) fn parse(name: &str) -> Result<Self, String> {
        Ok(match name {
            "reflect" => Fill::Reflect,
            "wrap" => Fill::Wrap,
            "nearest" => Fill::Nearest,
            "constant" => Fill::Constant,
            other => {
                return Err(format!(
                    "fill_mode `{other}` is not supported; use reflect, wrap, nearest or constant"
                ));
            }
        })
    }
}

/// Checks Keras's `interpolation` of the affine layers.
pub(crate) fn check_interpolation(name: &str) -> Result<bool, String> {
    match name {
        "bilinear" => Ok(true),
        "nearest" => Ok(false),
        other => Err(format!(
            "interpolation `{other}` is not supported; use bilinear or nearest"
        )),
    }
}

/// Integer indices `i` (as floats) mapped into `0..n` by the fill mode, and whether each is
/// inside the image (only `constant` leaves some outside).
fn map_index<const D: usize>(i: Tensor<D>, n: usize, fill: Fill) -> (Tensor<D>, Tensor<D>) {
    let nf = n as f32;
    match fill {
        Fill::Nearest => {
            let one = i.ones_like();
            (i.clamp(0.0, nf - 1.0), one)
        }
        Fill::Wrap => {
            let one = i.ones_like();
            (i.remainder_scalar(nf), one)
        }
        Fill::Reflect => {
            // Half-sample symmetric, period 2n: d c b a | a b c d | d c b a.
            let one = i.ones_like();
            let r = i.remainder_scalar(2.0 * nf);
            let back = r.clone().mul_scalar(-1.0).add_scalar(2.0 * nf - 1.0);
            let mapped = r.clone().mask_where(r.greater_equal_elem(nf), back);
            (mapped, one)
        }
        Fill::Constant => {
            let inside = i
                .clone()
                .greater_equal_elem(0.0)
                .float()
                .mul(i.clone().lower_elem(nf).float());
            (i.clamp(0.0, nf - 1.0), inside)
        }
    }
}

/// Resamples images `[b, h, w, c]`: output pixel `(x, y)` of image `k` takes the input at
/// `(m[k,0]·x + m[k,1]·y + m[k,2], m[k,3]·x + m[k,4]·y + m[k,5])` (Keras's transform
/// convention), bilinear or nearest, outside pixels made by `fill`.
pub(crate) fn affine(
    x: Tensor<4>,
    m: Tensor<2>,
    fill: Fill,
    bilinear: bool,
    fill_value: f32,
) -> Tensor<4> {
    let [b, h, w, c] = x.dims();
    let device = x.device();
    let grid = [b, h, w];
    let xs = Tensor::<1, Int>::arange(0..w as i64, &device)
        .float()
        .reshape([1, 1, w])
        .expand(grid);
    let ys = Tensor::<1, Int>::arange(0..h as i64, &device)
        .float()
        .reshape([1, h, 1])
        .expand(grid);
    let col = |k: usize| m.clone().narrow(1, k, 1).reshape([b, 1, 1]).expand(grid);
    let sx = col(0) * xs.clone() + col(1) * ys.clone() + col(2);
    let sy = col(3) * xs + col(4) * ys + col(5);
    let flat = x.reshape([b, h * w, c]);
    // The pixels at integer (ix, iy), with the fill value where they are outside.
    let sample = |ix: Tensor<3>, iy: Tensor<3>| -> Tensor<4> {
        let (mx, in_x) = map_index(ix, w, fill);
        let (my, in_y) = map_index(iy, h, fill);
        let index = (my * w as f32 + mx)
            .int()
            .reshape([b, h * w, 1])
            .expand([b, h * w, c]);
        let values = flat.clone().gather(1, index).reshape([b, h, w, c]);
        if fill == Fill::Constant {
            let inside = (in_x * in_y).reshape([b, h, w, 1]).expand([b, h, w, c]);
            values * inside.clone() + (inside.neg() + 1.0) * fill_value
        } else {
            values
        }
    };
    if !bilinear {
        return sample(sx.round(), sy.round());
    }
    let (x0, y0) = (sx.clone().floor(), sy.clone().floor());
    let (fx, fy) = (sx - x0.clone(), sy - y0.clone());
    let weight = |t: Tensor<3>| t.reshape([b, h, w, 1]).expand([b, h, w, c]);
    let (gx, gy) = (fx.clone().neg() + 1.0, fy.clone().neg() + 1.0);
    sample(x0.clone(), y0.clone()) * weight(gx.clone() * gy.clone())
        + sample(x0.clone() + 1.0, y0.clone()) * weight(fx.clone() * gy)
        + sample(x0.clone(), y0.clone() + 1.0) * weight(gx * fy.clone())
        + sample(x0 + 1.0, y0 + 1.0) * weight(fx * fy)
}

/// Stacks `[b]` columns into the `[b, 6]` transforms of [`affine`].
pub(crate) fn transforms(columns: [Tensor<1>; 6]) -> Tensor<2> {
    let b = columns[0].dims()[0];
    Tensor::cat(columns.into_iter().map(|t| t.reshape([b, 1])).collect(), 1)
}
