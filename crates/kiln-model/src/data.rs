//! Host arrays (the `ndarray` crate's, the Rust NumPy) as model inputs.

use ndarray::{ArrayBase, Data, Dimension};

/// An element type a host array may hold: floats or integers, turned into `f32` on the device.
pub trait Element: Copy + 'static {
    /// Whether the type holds integers (class ids when used as labels).
    const INTEGER: bool;
    /// The value as `f32`.
    fn to_f32(self) -> f32;
    /// The value as `i64`, truncating floats.
    fn to_i64(self) -> i64;
}

macro_rules! element {
    ($integer:expr => $($t:ty),*) => {$(
        impl Element for $t {
            const INTEGER: bool = $integer;
            #[allow(clippy::cast_lossless, clippy::cast_precision_loss)]
            fn to_f32(self) -> f32 {
                self as f32
            }
            #[allow(clippy::cast_possible_truncation, clippy::cast_possible_wrap)]
            fn to_i64(self) -> i64 {
                self as i64
            }
        }
    )*};
}
element!(false => f32, f64);
element!(true => u8, u16, u32, u64, i8, i16, i32, i64, usize);

/// Values copied off a host array: full shape (batch axis first), row-major values as `f32`,
/// and whether they were integers.
#[derive(Debug, Clone, PartialEq)]
pub struct HostData {
    /// The full shape, batch axis first.
    pub dims: Vec<usize>,
    /// Row-major values.
    pub values: Vec<f32>,
    /// Whether the source held integers.
    pub integer: bool,
}

impl HostData {
    /// Number of samples (the first axis).
    pub fn len(&self) -> usize {
        self.dims.first().copied().unwrap_or(0)
    }

    /// Whether there are no samples.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The shape of one sample.
    pub fn sample_dims(&self) -> &[usize] {
        self.dims.get(1..).unwrap_or(&[])
    }
}

/// Anything that can be handed to `fit`/`predict` as data: `ndarray` arrays of any dimension
/// with float or integer elements.
pub trait ArrayInput {
    /// Copies the values into a [`HostData`].
    fn host_data(&self) -> HostData;

    /// The number of samples (the first axis), without copying the values.
    fn samples(&self) -> usize {
        self.host_data().len()
    }
}

impl<S, D, A> ArrayInput for ArrayBase<S, D>
where
    S: Data<Elem = A>,
    D: Dimension,
    A: Element,
{
    fn host_data(&self) -> HostData {
        let values = match self.as_slice() {
            Some(slice) => slice.iter().map(|v| v.to_f32()).collect(),
            None => self.iter().map(|v| v.to_f32()).collect(),
        };
        HostData {
            dims: self.shape().to_vec(),
            values,
            integer: A::INTEGER,
        }
    }

    fn samples(&self) -> usize {
        self.shape().first().copied().unwrap_or(0)
    }
}

impl ArrayInput for HostData {
    fn host_data(&self) -> HostData {
        self.clone()
    }

    fn samples(&self) -> usize {
        self.len()
    }
}
