//! Host arrays (the `ndarray` crate's, the Rust NumPy) as model inputs.

use kiln_datasets::HostArray;
use ndarray::{ArrayBase, ArrayD, Data, Dimension};

/// An element type a host array may hold: floats or integers, turned into `f32` on the device,
/// or strings (`String`, Keras's `dtype="string"`), which stay on the host for a model's text
/// and lookup layers.
pub trait Element: Clone + 'static {
    /// Whether the type holds integers (class ids when used as labels).
    const INTEGER: bool;
    /// The value as `f32` (NaN for a string: text has no numeric value, and a model refuses
    /// string data for a numeric input).
    fn to_f32(&self) -> f32;
    /// The value as `i64`, truncating floats (0 for a string).
    fn to_i64(&self) -> i64;
    /// A copy of `values` as a [`HostArray`], in this type where it has a variant (`f32`,
    /// `f64`, `i32`, `i64`, `u8`), else as `i64`.
    fn host_array(values: ArrayD<Self>) -> HostArray;
}

macro_rules! element {
    ($integer:expr => $($t:ty : $wrap:expr),*) => {$(
        impl Element for $t {
            fn host_array(values: ArrayD<Self>) -> HostArray {
                #[allow(clippy::redundant_closure_call)]
                ($wrap)(values)
            }
            const INTEGER: bool = $integer;
            #[allow(clippy::cast_lossless, clippy::cast_precision_loss)]
            fn to_f32(&self) -> f32 {
                *self as f32
            }
            #[allow(clippy::cast_possible_truncation, clippy::cast_possible_wrap)]
            fn to_i64(&self) -> i64 {
                *self as i64
            }
        }
    )*};
}
fn as_i64<T: Element>(values: ArrayD<T>) -> HostArray {
    HostArray::I64(values.map(Element::to_i64))
}

impl Element for String {
    const INTEGER: bool = false;
    fn to_f32(&self) -> f32 {
        f32::NAN
    }
    fn to_i64(&self) -> i64 {
        0
    }
    fn host_array(values: ArrayD<Self>) -> HostArray {
        HostArray::Str(values)
    }
}
element!(false => f32: HostArray::F32, f64: HostArray::F64);
element!(true => u8: HostArray::U8, i32: HostArray::I32, i64: HostArray::I64,
    u16: as_i64, u32: as_i64, u64: as_i64, i8: as_i64, i16: as_i64, usize: as_i64);

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

    /// Copies the values in their own element type (a `u8` array stays `u8`: a quarter of its
    /// `f32` size), for data that stays on the host and goes to the device batch by batch.
    fn host_array(&self) -> HostArray {
        let data = self.host_data();
        match ArrayD::from_shape_vec(data.dims.clone(), data.values) {
            Ok(a) => HostArray::F32(a),
            Err(_) => HostArray::F32(ArrayD::zeros(data.dims)),
        }
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
            Some(slice) => slice.iter().map(Element::to_f32).collect(),
            None => self.iter().map(Element::to_f32).collect(),
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

    fn host_array(&self) -> HostArray {
        A::host_array(self.to_owned().into_dyn())
    }
}

impl ArrayInput for HostArray {
    fn host_data(&self) -> HostData {
        HostData {
            dims: self.shape().to_vec(),
            values: self.to_f32_vec(),
            integer: self.is_integer(),
        }
    }

    fn samples(&self) -> usize {
        self.shape().first().copied().unwrap_or(0)
    }

    fn host_array(&self) -> HostArray {
        self.clone()
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
