//! The arithmetic every elementwise rule is written in, once, for two kinds of values: a whole
//! tensor (the portable path, any backend) and one `f32` (the fused host loop on `flex`, see
//! [`super::fused`]). A rule's `apply` is generic over [`Elem`], so both paths run the same
//! expression in the same order, and agree bit for bit (except [`Elem::flush`]).

use std::ops::{Add, Div, Mul, Neg, Sub};

use burn::tensor::Tensor;

/// A value an update rule computes with: `f32` or a float tensor.
pub(crate) trait Elem:
    Clone
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
    + Mul<f32, Output = Self>
    + Add<f32, Output = Self>
    + Div<f32, Output = Self>
{
    fn sqrt(self) -> Self;
    /// `x·x`.
    fn square(self) -> Self;
    fn abs(self) -> Self;
    /// -1, 0 or 1 (0 for ±0).
    fn sign(self) -> Self;
    fn max(self, other: Self) -> Self;
    fn powf(self, exponent: f32) -> Self;
    fn clamp(self, lo: f32, hi: f32) -> Self;
    /// Zero for a subnormal `f32` (XLA's flush-to-zero on CPU); the identity on tensors. Slot
    /// values pass through it, so decaying moments never enter the slow subnormal range.
    fn flush(self) -> Self;
}

impl Elem for f32 {
    #[inline(always)]
    fn sqrt(self) -> Self {
        f32::sqrt(self)
    }
    #[inline(always)]
    fn square(self) -> Self {
        self * self
    }
    #[inline(always)]
    fn abs(self) -> Self {
        f32::abs(self)
    }
    #[inline(always)]
    fn sign(self) -> Self {
        if self > 0.0 {
            1.0
        } else if self < 0.0 {
            -1.0
        } else {
            0.0
        }
    }
    #[inline(always)]
    fn max(self, other: Self) -> Self {
        f32::max(self, other)
    }
    #[inline(always)]
    fn powf(self, exponent: f32) -> Self {
        f32::powf(self, exponent)
    }
    #[inline(always)]
    fn clamp(self, lo: f32, hi: f32) -> Self {
        self.max(lo).min(hi)
    }
    #[inline(always)]
    fn flush(self) -> Self {
        if self.abs() < f32::MIN_POSITIVE {
            0.0
        } else {
            self
        }
    }
}

impl<const D: usize> Elem for Tensor<D> {
    fn sqrt(self) -> Self {
        Tensor::sqrt(self)
    }
    fn square(self) -> Self {
        self.clone() * self
    }
    fn abs(self) -> Self {
        Tensor::abs(self)
    }
    fn sign(self) -> Self {
        Tensor::sign(self)
    }
    fn max(self, other: Self) -> Self {
        self.max_pair(other)
    }
    fn powf(self, exponent: f32) -> Self {
        self.powf_scalar(exponent)
    }
    fn clamp(self, lo: f32, hi: f32) -> Self {
        Tensor::clamp(self, lo, hi)
    }
    fn flush(self) -> Self {
        self
    }
}
