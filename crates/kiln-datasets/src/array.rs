//! A host array in its own element type: what `.npy` files, data sets and [`Dataset`] batches
//! hold. `u8` images stay `u8` (a quarter of their `f32` size) until a batch of them goes to the
//! device.
//!
//! [`Dataset`]: crate::Dataset

use ndarray::{Array, ArrayD, Axis, Dimension, IxDyn};

/// An `ndarray` array of one of the element types Kiln reads, batch axis first.
///
/// # Examples
/// ```
/// use kiln_datasets::HostArray;
/// let images = HostArray::from(ndarray::Array3::<u8>::zeros((4, 28, 28)));
/// assert_eq!(images.shape(), &[4, 28, 28]);
/// assert_eq!(images.dtype(), "uint8");
/// let two = images.select_rows(&[3, 0]);
/// assert_eq!(two.len(), 2);
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum HostArray {
    /// `float32` (`<f4`).
    F32(ArrayD<f32>),
    /// `float64` (`<f8`).
    F64(ArrayD<f64>),
    /// `int32` (`<i4`): token ids, class labels.
    I32(ArrayD<i32>),
    /// `int64` (`<i8`).
    I64(ArrayD<i64>),
    /// `uint8` (`|u1`): images.
    U8(ArrayD<u8>),
    /// Text (Keras's `dtype="string"`): what the text and lookup layers take on the host,
    /// before a model's device layers. Strings have no numeric value: the numeric views
    /// ([`HostArray::to_f32_vec`], [`HostArray::rows_f32`]) give NaN for them, and a model
    /// refuses string data for an input that is not declared `string`.
    Str(ArrayD<String>),
}

/// Runs `$body` with `$a` bound to the inner array, whatever its element type, and wraps an
/// array result back into the same variant with `$wrap`.
macro_rules! each {
    ($self:expr, $a:ident => $body:expr) => {
        match $self {
            HostArray::F32($a) => $body,
            HostArray::F64($a) => $body,
            HostArray::I32($a) => $body,
            HostArray::I64($a) => $body,
            HostArray::U8($a) => $body,
            HostArray::Str($a) => $body,
        }
    };
    ($self:expr, $a:ident => wrap $body:expr) => {
        match $self {
            HostArray::F32($a) => HostArray::F32($body),
            HostArray::F64($a) => HostArray::F64($body),
            HostArray::I32($a) => HostArray::I32($body),
            HostArray::I64($a) => HostArray::I64($body),
            HostArray::U8($a) => HostArray::U8($body),
            HostArray::Str($a) => HostArray::Str($body),
        }
    };
}

impl HostArray {
    /// The shape.
    pub fn shape(&self) -> &[usize] {
        each!(self, a => a.shape())
    }

    /// NumPy's name of the element type (`float32`, `int32`, ...).
    pub fn dtype(&self) -> &'static str {
        match self {
            HostArray::F32(_) => "float32",
            HostArray::F64(_) => "float64",
            HostArray::I32(_) => "int32",
            HostArray::I64(_) => "int64",
            HostArray::U8(_) => "uint8",
            HostArray::Str(_) => "string",
        }
    }

    /// Whether it holds integers.
    pub fn is_integer(&self) -> bool {
        matches!(
            self,
            HostArray::I32(_) | HostArray::I64(_) | HostArray::U8(_)
        )
    }

    /// The number of samples (the first axis; 1 for a scalar).
    pub fn len(&self) -> usize {
        self.shape().first().copied().unwrap_or(1)
    }

    /// Whether there are no samples.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The values in row-major order as `f32` (what the device receives).
    pub fn to_f32_vec(&self) -> Vec<f32> {
        each!(self, a => match a.as_slice() {
            Some(s) => s.iter().map(AsF32::as_f32).collect(),
            None => a.iter().map(AsF32::as_f32).collect(),
        })
    }

    /// [`HostArray::to_f32_vec`], taking the array: an `f32` array in standard layout gives its
    /// buffer without a copy.
    pub fn into_f32_vec(self) -> Vec<f32> {
        match self {
            HostArray::F32(a) if a.is_standard_layout() => {
                let len = a.len();
                let (v, offset) = a.into_raw_vec_and_offset();
                let start = offset.unwrap_or(0);
                if start == 0 && v.len() == len {
                    v
                } else {
                    v.into_iter().skip(start).take(len).collect()
                }
            }
            other => other.to_f32_vec(),
        }
    }

    /// The samples at `rows` (indices along the first axis, each below [`HostArray::len`]),
    /// as `f32` in row-major order: one batch's values, gathered row by row without building
    /// the intermediate array (a contiguous array copies each row's run of values).
    pub fn rows_f32(&self, rows: &[usize]) -> Vec<f32> {
        fn gather<T: Clone + AsF32>(a: &ArrayD<T>, rows: &[usize]) -> Vec<f32> {
            let n = a.shape().first().copied().unwrap_or(0);
            let per: usize = a.shape().iter().skip(1).product();
            match a.as_slice() {
                Some(s) if a.ndim() > 0 => {
                    let mut out = Vec::with_capacity(rows.len() * per);
                    for &r in rows.iter().filter(|&&r| r < n) {
                        out.extend(s[r * per..(r + 1) * per].iter().map(AsF32::as_f32));
                    }
                    out
                }
                _ => {
                    let kept: Vec<usize> = rows.iter().copied().filter(|&r| r < n).collect();
                    if a.ndim() == 0 {
                        return a.iter().map(AsF32::as_f32).collect();
                    }
                    a.select(Axis(0), &kept).iter().map(AsF32::as_f32).collect()
                }
            }
        }
        each!(self, a => gather(a, rows))
    }

    /// The first value in row-major order (as `f32`) for which `bad` holds, with its flat
    /// index; no copy of the array is made. Strings are never numbers: `None` for them.
    pub fn find(&self, bad: impl Fn(f32) -> bool) -> Option<(usize, f32)> {
        if let HostArray::Str(_) = self {
            return None;
        }
        each!(self, a => a.iter().map(AsF32::as_f32).enumerate().find(|(_, v)| bad(*v)))
    }

    /// The samples at `rows` (indices along the first axis), in that order.
    ///
    /// An index past the end is skipped; callers pass indices below [`HostArray::len`].
    pub fn select_rows(&self, rows: &[usize]) -> HostArray {
        let n = self.len();
        let rows: Vec<usize> = rows.iter().copied().filter(|&r| r < n).collect();
        each!(self, a => wrap if a.ndim() == 0 { a.clone() } else { a.select(Axis(0), &rows) })
    }

    /// The samples `start..start + len` (clamped to the array).
    pub fn slice_rows(&self, start: usize, len: usize) -> HostArray {
        let n = self.len();
        let start = start.min(n);
        let end = start.saturating_add(len).min(n);
        each!(self, a => wrap if a.ndim() == 0 {
            a.clone()
        } else {
            a.slice_axis(Axis(0), ndarray::Slice::from(start..end)).to_owned()
        })
    }

    /// Stacks samples of one shape and type into a batch, `[samples.len(), ...]`.
    ///
    /// # Errors
    /// A message naming the first sample whose shape or element type differs from the first's.
    pub fn stack(samples: &[HostArray]) -> Result<HostArray, String> {
        let Some(first) = samples.first() else {
            return Err("no samples to stack".into());
        };
        if let Some((i, s)) = samples
            .iter()
            .enumerate()
            .find(|(_, s)| s.shape() != first.shape() || s.dtype() != first.dtype())
        {
            return Err(format!(
                "sample {i} is {} {:?}, sample 0 is {} {:?}",
                s.dtype(),
                s.shape(),
                first.dtype(),
                first.shape()
            ));
        }
        let mut dims = vec![samples.len()];
        dims.extend_from_slice(first.shape());
        macro_rules! stack_as {
            ($variant:ident) => {{
                let values = samples
                    .iter()
                    .flat_map(|s| match s {
                        HostArray::$variant(a) => a.iter().cloned().collect::<Vec<_>>(),
                        _ => Vec::new(),
                    })
                    .collect();
                ArrayD::from_shape_vec(IxDyn(&dims), values)
                    .map(HostArray::$variant)
                    .map_err(|e| e.to_string())
            }};
        }
        match first {
            HostArray::F32(_) => stack_as!(F32),
            HostArray::F64(_) => stack_as!(F64),
            HostArray::I32(_) => stack_as!(I32),
            HostArray::I64(_) => stack_as!(I64),
            HostArray::U8(_) => stack_as!(U8),
            HostArray::Str(_) => stack_as!(Str),
        }
    }
}

/// An element converted to `f32` as the device receives it.
trait AsF32 {
    fn as_f32(&self) -> f32;
}

macro_rules! as_f32 {
    ($($t:ty),*) => {$(
        impl AsF32 for $t {
            #[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation, clippy::cast_lossless)]
            fn as_f32(&self) -> f32 {
                *self as f32
            }
        }
    )*};
}
as_f32!(f32, f64, i32, i64, u8);

impl AsF32 for String {
    /// Text has no numeric value.
    fn as_f32(&self) -> f32 {
        f32::NAN
    }
}

macro_rules! from_array {
    ($($t:ty => $variant:ident),*) => {$(
        impl<D: Dimension> From<Array<$t, D>> for HostArray {
            fn from(a: Array<$t, D>) -> Self {
                HostArray::$variant(a.into_dyn())
            }
        }
        impl From<Vec<$t>> for HostArray {
            /// A vector is a 1-D array: one value per sample.
            fn from(v: Vec<$t>) -> Self {
                HostArray::$variant(ndarray::Array1::from(v).into_dyn())
            }
        }
    )*};
}
from_array!(f32 => F32, f64 => F64, i32 => I32, i64 => I64, u8 => U8, String => Str);

impl From<Vec<&str>> for HostArray {
    /// A vector of texts is a 1-D string array: one text per sample.
    fn from(v: Vec<&str>) -> Self {
        HostArray::from(v.into_iter().map(str::to_string).collect::<Vec<_>>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_selected_sliced_and_stacked_in_their_own_type() {
        let a = HostArray::from(
            ndarray::Array2::from_shape_vec((3, 2), vec![1u8, 2, 3, 4, 5, 6]).unwrap_or_default(),
        );
        assert_eq!(
            a.select_rows(&[2, 0]).to_f32_vec(),
            vec![5.0, 6.0, 1.0, 2.0]
        );
        assert_eq!(a.slice_rows(1, 5).shape(), &[2, 2]);
        let rows: Vec<HostArray> = (0..3).map(|i| a.slice_rows(i, 1)).collect();
        let back = HostArray::stack(&rows).map(|s| s.shape().to_vec());
        assert_eq!(back, Ok(vec![3, 1, 2]));
        let f = HostArray::from(vec![1.0f32]);
        assert!(HostArray::stack(&[a, f]).is_err());
    }

    #[test]
    fn into_f32_vec_is_to_f32_vec_for_every_layout() {
        let base = ndarray::Array2::from_shape_fn((3, 4), |(i, j)| (i * 4 + j) as f32);
        let sliced = base
            .slice_axis(ndarray::Axis(0), ndarray::Slice::from(1..))
            .to_owned();
        // A standard-layout array whose buffer starts past its first element, and a transpose.
        let mut offset = base.clone();
        offset.slice_axis_inplace(ndarray::Axis(0), ndarray::Slice::from(1..));
        let transposed = base.clone().reversed_axes();
        for a in [base, sliced, offset, transposed] {
            let h = HostArray::F32(a.into_dyn());
            assert_eq!(h.clone().into_f32_vec(), h.to_f32_vec());
        }
        let ints = HostArray::from(vec![3u8, 4]);
        assert_eq!(ints.into_f32_vec(), vec![3.0, 4.0]);
    }
}
