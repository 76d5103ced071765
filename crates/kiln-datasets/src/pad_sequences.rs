//! Keras's `keras.utils.pad_sequences`: sequences of different lengths made into one
//! `[samples, maxlen]` array, padded and truncated at the start (`pre`, the default) or the
//! end (`post`).
//!
//! The output element type is Keras's `dtype`: it is the type of [`PadOptions::value`]
//! (`i32` in [`PadOptions::default`] for `PadOptions::<i32>`, as Keras's default `"int32"`),
//! and every value is converted with [`TryFrom`], so `i64` word indexes (as
//! [`sequences::Sequences`](crate::sequences::Sequences) holds them) become `i32` or stay
//! `i64`, and an index that does not fit the chosen type is an error rather than NumPy's
//! silent wrap-around.
//!
//! # What differs from Keras
//! - Only sequences of scalars are padded (Keras also pads sequences of equally shaped
//!   arrays, and strings with `dtype=object`).
//! - No sequences give a `[0, maxlen]` array (`[0, 0]` without `maxlen`) where Keras fails on
//!   `np.max([])`; `maxlen = Some(0)` gives `[samples, 0]` where Keras's `s[-0:]` keeps the
//!   whole sequence and then fails to fit it.
//!
//! # Examples
//! ```
//! use kiln_datasets::{PadOptions, Side, pad_sequences};
//!
//! let sequences = vec![vec![1i64], vec![2, 3], vec![4, 5, 6]];
//! let x = pad_sequences(&sequences, &PadOptions::<i32>::default())?;
//! assert_eq!(x, ndarray::array![[0, 0, 1], [0, 2, 3], [4, 5, 6]]);
//!
//! let x = pad_sequences(&sequences, &PadOptions::default().padding(Side::Post).value(-1i64))?;
//! assert_eq!(x, ndarray::array![[1, -1, -1], [2, 3, -1], [4, 5, 6]]);
//!
//! let x = pad_sequences(&sequences, &PadOptions::<i32>::default().maxlen(2))?;
//! assert_eq!(x, ndarray::array![[0, 1], [2, 3], [5, 6]]);
//! # Ok::<(), kiln_datasets::Error>(())
//! ```

use ndarray::Array2;

use crate::error::{Error, Result};

/// Where padding or truncation happens (Keras's `"pre"` and `"post"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Side {
    /// At the start of each sequence (the default for both).
    #[default]
    Pre,
    /// At the end of each sequence.
    Post,
}

/// The options of [`pad_sequences`], with Keras's defaults (`padding` and `truncating`
/// `pre`, `value` 0); set them with the builder methods of the same names.
///
/// # Examples
/// ```
/// use kiln_datasets::{PadOptions, Side};
/// let options = PadOptions::<f32>::default().maxlen(100).truncating(Side::Post);
/// assert_eq!((options.maxlen, options.padding, options.value), (Some(100), Side::Pre, 0.0));
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct PadOptions<T> {
    /// The length of every output row; the longest sequence's length when `None`.
    pub maxlen: Option<usize>,
    /// Where shorter sequences are padded (default [`Side::Pre`]).
    pub padding: Side,
    /// Where longer sequences lose values (default [`Side::Pre`]: their first values).
    pub truncating: Side,
    /// The padding value, of the output element type (default 0).
    pub value: T,
}

impl<T: Default> Default for PadOptions<T> {
    fn default() -> Self {
        Self {
            maxlen: None,
            padding: Side::Pre,
            truncating: Side::Pre,
            value: T::default(),
        }
    }
}

impl<T> PadOptions<T> {
    /// Sets [`PadOptions::maxlen`].
    #[must_use]
    pub fn maxlen(mut self, maxlen: usize) -> Self {
        self.maxlen = Some(maxlen);
        self
    }
    /// Sets [`PadOptions::padding`].
    #[must_use]
    pub fn padding(mut self, padding: Side) -> Self {
        self.padding = padding;
        self
    }
    /// Sets [`PadOptions::truncating`].
    #[must_use]
    pub fn truncating(mut self, truncating: Side) -> Self {
        self.truncating = truncating;
        self
    }
    /// Sets [`PadOptions::value`]; its type is the output's element type.
    #[must_use]
    pub fn value(mut self, value: T) -> Self {
        self.value = value;
        self
    }
}

/// Pads (and truncates) `sequences` to one length, `[sequences.len(), maxlen]` (Keras's
/// `keras.utils.pad_sequences`).
///
/// # Errors
/// [`Error::InvalidArgument`] naming the sequence and position of a value that does not fit
/// the output type; [`Error::TooLarge`] when the array cannot be allocated.
///
/// # Examples
/// ```
/// use kiln_datasets::{PadOptions, Side, pad_sequences};
/// let x = pad_sequences(
///     &[vec![1.5f32, 2.5, 3.5], vec![]],
///     &PadOptions::default().maxlen(2).truncating(Side::Post).value(f32::NAN),
/// )?;
/// assert_eq!(x.row(0).to_vec(), [1.5, 2.5]);
/// assert!(x.row(1).iter().all(|v| v.is_nan()));
/// # Ok::<(), kiln_datasets::Error>(())
/// ```
pub fn pad_sequences<T, I, S>(sequences: &[S], options: &PadOptions<T>) -> Result<Array2<T>>
where
    S: AsRef<[I]>,
    I: Copy + std::fmt::Debug,
    T: TryFrom<I> + Clone,
{
    let maxlen = options.maxlen.unwrap_or_else(|| {
        sequences
            .iter()
            .map(|s| s.as_ref().len())
            .max()
            .unwrap_or(0)
    });
    let n = sequences.len();
    let too_large = || Error::TooLarge {
        what: format!("a padded array of {n} sequences of {maxlen} values"),
        size: u64::try_from(
            (n as u128)
                .saturating_mul(maxlen as u128)
                .saturating_mul(std::mem::size_of::<T>() as u128),
        )
        .unwrap_or(u64::MAX),
        limit: u64::try_from(isize::MAX).unwrap_or(u64::MAX),
    };
    let total = n.checked_mul(maxlen).ok_or_else(too_large)?;
    let mut values: Vec<T> = Vec::new();
    values.try_reserve_exact(total).map_err(|_| too_large())?;
    values.resize(total, options.value.clone());
    for (index, sequence) in sequences.iter().enumerate() {
        let s = sequence.as_ref();
        let kept = match options.truncating {
            Side::Pre => &s[s.len().saturating_sub(maxlen)..],
            Side::Post => &s[..s.len().min(maxlen)],
        };
        let offset = match options.padding {
            Side::Pre => maxlen - kept.len(),
            Side::Post => 0,
        };
        let row = &mut values[index * maxlen..(index + 1) * maxlen];
        for (position, (slot, &v)) in row[offset..].iter_mut().zip(kept).enumerate() {
            *slot = T::try_from(v).map_err(|_| Error::InvalidArgument {
                name: "sequences",
                reason: format!(
                    "the value {v:?} of sequence {index} (kept position {position}) does not \
                     fit the output type {}",
                    std::any::type_name::<T>()
                ),
            })?;
        }
    }
    Array2::from_shape_vec((n, maxlen), values).map_err(|e| Error::InvalidArgument {
        name: "sequences",
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_overflowing_value_is_named() {
        let err = pad_sequences(&[vec![1i64, i64::MAX]], &PadOptions::<i32>::default());
        assert!(matches!(err, Err(Error::InvalidArgument { .. })));
    }

    #[test]
    fn no_sequences_give_an_empty_array() {
        let empty: Vec<Vec<i64>> = Vec::new();
        let x = pad_sequences(&empty, &PadOptions::<i32>::default().maxlen(4));
        assert_eq!(x.map(|x| x.dim()).ok(), Some((0, 4)));
    }
}
