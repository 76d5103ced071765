//! Keras's `keras.utils.split_dataset` for in-memory arrays: the samples cut into a left and
//! a right part, of sizes given as fractions or counts, optionally shuffled first.
//!
//! Keras's rules for the sizes are kept exactly ([`split_sizes`]): a fraction must be in
//! `(0, 1)` and is turned into `round(fraction * total)` (Python's rounding, half to even), a
//! count must be in `1..total`, a missing size is the complement of the other, and neither
//! part may end up empty. When both sizes are given and leave samples over, the left part is
//! the first `left` samples and the right part the last `right`: the samples in between are in
//! neither, as in Keras.
//!
//! With `shuffle`, the samples are shuffled first exactly as Keras shuffles them, with
//! Python's `random.seed(seed); random.shuffle(samples)` (a Mersenne Twister seeded by
//! `init_by_array` and drawing with `getrandbits`, reimplemented here: NumPy's `RandomState`,
//! used by the other utilities, is seeded differently), so a seed selects the same samples as
//! in Keras. That is Keras's behaviour with the JAX, TensorFlow and NumPy backends; with the
//! PyTorch backend Keras uses `torch.utils.data.random_split` instead.
//!
//! # Examples
//! ```
//! use kiln_datasets::{HostArray, SplitOptions, split_dataset};
//!
//! let x = HostArray::from(ndarray::Array2::<f32>::zeros((1000, 4)));
//! let y = HostArray::from(vec![0i32; 1000]);
//! let (left, right) = split_dataset(&[x, y], &SplitOptions::default().left_fraction(0.8))?;
//! assert_eq!((left[0].len(), right[0].len()), (800, 200));
//! assert_eq!(right[1].len(), 200);
//! # Ok::<(), kiln_datasets::Error>(())
//! ```

use crate::array::HostArray;
use crate::error::{Error, Result};

/// The size of one part of a split (Keras passes a `float` or an `int`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SplitSize {
    /// A fraction of the samples, in `(0, 1)`.
    Fraction(f64),
    /// A number of samples, in `1..total`.
    Count(usize),
}

impl SplitSize {
    fn is_zero(self) -> bool {
        match self {
            SplitSize::Fraction(f) => f == 0.0,
            SplitSize::Count(n) => n == 0,
        }
    }
}

/// The options of [`split_dataset`]: at least one size; no shuffle by default.
///
/// # Examples
/// ```
/// use kiln_datasets::{SplitOptions, SplitSize};
/// let options = SplitOptions::default().left_count(80).right_fraction(0.1).shuffle(true).seed(3);
/// assert_eq!(options.left_size, Some(SplitSize::Count(80)));
/// ```
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub struct SplitOptions {
    /// The size of the left part; the complement of the right part when `None`.
    pub left_size: Option<SplitSize>,
    /// The size of the right part; the complement of the left part when `None`.
    pub right_size: Option<SplitSize>,
    /// Whether samples are shuffled before the split (default `false`).
    pub shuffle: bool,
    /// The seed of the shuffle (Python's `random.seed`); a random one when `None`.
    pub seed: Option<u64>,
}

impl SplitOptions {
    /// The left part is this fraction of the samples.
    #[must_use]
    pub fn left_fraction(mut self, fraction: f64) -> Self {
        self.left_size = Some(SplitSize::Fraction(fraction));
        self
    }
    /// The left part is this many samples.
    #[must_use]
    pub fn left_count(mut self, count: usize) -> Self {
        self.left_size = Some(SplitSize::Count(count));
        self
    }
    /// The right part is this fraction of the samples.
    #[must_use]
    pub fn right_fraction(mut self, fraction: f64) -> Self {
        self.right_size = Some(SplitSize::Fraction(fraction));
        self
    }
    /// The right part is this many samples.
    #[must_use]
    pub fn right_count(mut self, count: usize) -> Self {
        self.right_size = Some(SplitSize::Count(count));
        self
    }
    /// Sets [`SplitOptions::shuffle`].
    #[must_use]
    pub fn shuffle(mut self, shuffle: bool) -> Self {
        self.shuffle = shuffle;
        self
    }
    /// Sets [`SplitOptions::seed`].
    #[must_use]
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }
}

fn invalid(name: &'static str, reason: String) -> Error {
    Error::InvalidArgument { name, reason }
}

/// The sizes of the left and right parts of `total` samples, by Keras's rules
/// (`_rescale_dataset_split_sizes`).
///
/// # Errors
/// [`Error::InvalidArgument`] when both sizes are missing or zero, a fraction is not in
/// `(0, 1)`, a count is not in `1..total`, two fractions add up to more than 1, the sizes add
/// up to more than `total`, or a part would be empty.
///
/// # Examples
/// ```
/// use kiln_datasets::{SplitSize, split_sizes};
/// assert_eq!(split_sizes(10, Some(SplitSize::Fraction(0.25)), None)?, (2, 8)); // round(2.5) = 2
/// assert_eq!(split_sizes(10, Some(SplitSize::Count(3)), Some(SplitSize::Count(5)))?, (3, 5));
/// assert!(split_sizes(10, Some(SplitSize::Fraction(0.01)), None).is_err()); // left empty
/// # Ok::<(), kiln_datasets::Error>(())
/// ```
pub fn split_sizes(
    total: usize,
    left: Option<SplitSize>,
    right: Option<SplitSize>,
) -> Result<(usize, usize)> {
    if left.is_none() && right.is_none() {
        return Err(invalid(
            "left_size",
            "at least one of `left_size` and `right_size` must be given".into(),
        ));
    }
    if left.is_some_and(SplitSize::is_zero) && right.is_some_and(SplitSize::is_zero) {
        return Err(invalid(
            "left_size",
            "`left_size` and `right_size` are both zero".into(),
        ));
    }
    for (name, size) in [("left_size", left), ("right_size", right)] {
        let bad = match size {
            Some(SplitSize::Count(n)) => n == 0 || n >= total,
            Some(SplitSize::Fraction(f)) => !(f > 0.0 && f < 1.0),
            None => false,
        };
        if bad {
            return Err(invalid(
                name,
                format!(
                    "must be a positive count smaller than {total} or a fraction in (0, 1), \
                     got {size:?}"
                ),
            ));
        }
    }
    if let (Some(SplitSize::Fraction(l)), Some(SplitSize::Fraction(r))) = (left, right)
        && l + r > 1.0
    {
        return Err(invalid(
            "right_size",
            format!("the fractions add up to {}, more than 1", l + r),
        ));
    }
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let resolve = |size: SplitSize| match size {
        // Python's `round`: half to even. `f` is in (0, 1), so the product is in [0, total].
        SplitSize::Fraction(f) => (f * total as f64).round_ties_even() as usize,
        SplitSize::Count(n) => n,
    };
    let (l, r) = match (left.map(resolve), right.map(resolve)) {
        (Some(l), Some(r)) => (l, r),
        (Some(l), None) => (l, total - l.min(total)),
        (None, Some(r)) => (total - r.min(total), r),
        (None, None) => (0, 0),
    };
    if l.saturating_add(r) > total {
        return Err(invalid(
            "right_size",
            format!(
                "`left_size` + `right_size` = {} is more than the {total} samples",
                l + r
            ),
        ));
    }
    for (name, size) in [("left_size", l), ("right_size", r)] {
        if size == 0 {
            return Err(invalid(
                name,
                format!(
                    "with {total} samples, left {l} and right {r}, the {} part would be empty",
                    &name[..name.len() - 5]
                ),
            ));
        }
    }
    Ok((l, r))
}

/// The sample indices of the left and right parts of `total` samples: Keras's order after
/// its optional shuffle, the first `left` and the last `right`.
///
/// # Errors
/// Those of [`split_sizes`], and [`Error::InvalidArgument`] for `total` 0 (Keras: "Received
/// an empty dataset").
///
/// # Examples
/// ```
/// use kiln_datasets::{SplitOptions, split_indices};
/// let (left, right) = split_indices(5, &SplitOptions::default().left_count(2).right_count(2))?;
/// assert_eq!((left, right), (vec![0, 1], vec![3, 4])); // sample 2 is in neither
/// # Ok::<(), kiln_datasets::Error>(())
/// ```
pub fn split_indices(total: usize, options: &SplitOptions) -> Result<(Vec<usize>, Vec<usize>)> {
    if options.left_size.is_none() && options.right_size.is_none() {
        return split_sizes(total, None, None).map(|_| (Vec::new(), Vec::new()));
    }
    if total == 0 {
        return Err(invalid("dataset", "received an empty dataset".into()));
    }
    let mut order: Vec<usize> = (0..total).collect();
    if options.shuffle {
        let seed = options
            .seed
            .unwrap_or_else(|| rand::random_range(0..=1_000_000u64));
        PyRandom::new(seed).shuffle(&mut order);
    }
    let (l, r) = split_sizes(total, options.left_size, options.right_size)?;
    let right = order[total - r..].to_vec();
    order.truncate(l);
    Ok((order, right))
}

/// Splits arrays of the same number of samples (inputs and targets, say) into a left and a
/// right part (Keras's `keras.utils.split_dataset` on a tuple of arrays), each array keeping
/// its element type and sample shape.
///
/// # Errors
/// [`Error::InvalidArgument`] for no arrays, arrays of different lengths, no samples, and the
/// sizes [`split_sizes`] refuses.
///
/// # Examples
/// ```
/// use kiln_datasets::{HostArray, SplitOptions, split_dataset};
/// let x = HostArray::from((0..10).map(|i| i as f32).collect::<Vec<_>>());
/// let options = SplitOptions::default().right_count(3).shuffle(true).seed(42);
/// let (left, right) = split_dataset(&[x], &options)?;
/// assert_eq!((left[0].len(), right[0].len()), (7, 3));
/// # Ok::<(), kiln_datasets::Error>(())
/// ```
pub fn split_dataset(
    arrays: &[HostArray],
    options: &SplitOptions,
) -> Result<(Vec<HostArray>, Vec<HostArray>)> {
    let Some(first) = arrays.first() else {
        return Err(invalid(
            "dataset",
            "received no arrays: give at least one".into(),
        ));
    };
    if let Some((i, a)) = arrays
        .iter()
        .enumerate()
        .find(|(_, a)| a.shape().is_empty())
    {
        return Err(invalid(
            "dataset",
            format!("array {i} is a scalar ({}), not samples", a.dtype()),
        ));
    }
    let total = first.len();
    if let Some((i, a)) = arrays.iter().enumerate().find(|(_, a)| a.len() != total) {
        return Err(invalid(
            "dataset",
            format!(
                "array {i} has {} samples but array 0 has {total}: arrays must have the same \
                 length",
                a.len()
            ),
        ));
    }
    let (left, right) = split_indices(total, options)?;
    Ok((
        arrays.iter().map(|a| a.select_rows(&left)).collect(),
        arrays.iter().map(|a| a.select_rows(&right)).collect(),
    ))
}

/// The Mersenne Twister of Python's `random` module, as far as `random.seed(int)` and
/// `random.shuffle` use it.
struct PyRandom {
    state: [u32; 624],
    index: usize,
}

impl PyRandom {
    /// `random.seed(seed)` for a non-negative integer: `init_by_array` with its 32-bit words,
    /// least significant first.
    fn new(seed: u64) -> Self {
        let low = (seed & 0xFFFF_FFFF) as u32;
        let high = (seed >> 32) as u32;
        let key: &[u32] = if high == 0 { &[low] } else { &[low, high] };
        let mut state = [0u32; 624];
        state[0] = 19_650_218;
        for i in 1..624 {
            let prev = state[i - 1];
            // `i` is below 624: the cast cannot truncate.
            state[i] = 1_812_433_253u32
                .wrapping_mul(prev ^ (prev >> 30))
                .wrapping_add(i as u32);
        }
        let (mut i, mut j) = (1usize, 0usize);
        for _ in 0..624.max(key.len()) {
            let prev = state[i - 1];
            state[i] = (state[i] ^ (prev ^ (prev >> 30)).wrapping_mul(1_664_525))
                .wrapping_add(key[j])
                .wrapping_add(j as u32);
            i += 1;
            j += 1;
            if i >= 624 {
                state[0] = state[623];
                i = 1;
            }
            if j >= key.len() {
                j = 0;
            }
        }
        for _ in 0..623 {
            let prev = state[i - 1];
            state[i] = (state[i] ^ (prev ^ (prev >> 30)).wrapping_mul(1_566_083_941))
                .wrapping_sub(i as u32);
            i += 1;
            if i >= 624 {
                state[0] = state[623];
                i = 1;
            }
        }
        state[0] = 0x8000_0000;
        Self { state, index: 624 }
    }

    fn next_u32(&mut self) -> u32 {
        if self.index >= 624 {
            for k in 0..624 {
                let y = (self.state[k] & 0x8000_0000) | (self.state[(k + 1) % 624] & 0x7FFF_FFFF);
                let mag = if y & 1 == 1 { 0x9908_B0DF } else { 0 };
                self.state[k] = self.state[(k + 397) % 624] ^ (y >> 1) ^ mag;
            }
            self.index = 0;
        }
        let mut y = self.state[self.index];
        self.index += 1;
        y ^= y >> 11;
        y ^= (y << 7) & 0x9D2C_5680;
        y ^= (y << 15) & 0xEFC6_0000;
        y ^ (y >> 18)
    }

    /// `random.getrandbits(k)` for `1 <= k <= 64`.
    fn getrandbits(&mut self, k: u32) -> u64 {
        if k <= 32 {
            return u64::from(self.next_u32() >> (32 - k));
        }
        let low = u64::from(self.next_u32());
        let high = u64::from(self.next_u32() >> (64 - k));
        (high << 32) | low
    }

    /// `random._randbelow(n)` for `n >= 1`: `getrandbits(n.bit_length())` until below `n`.
    fn randbelow(&mut self, n: u64) -> u64 {
        let k = 64 - n.leading_zeros();
        loop {
            let r = self.getrandbits(k);
            if r < n {
                return r;
            }
        }
    }

    /// `random.shuffle(x)`.
    fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            // `j <= i`: it fits a `usize`.
            let j = self.randbelow(i as u64 + 1) as usize;
            items.swap(i, j);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Reference values from CPython 3.11: `random.seed(s); [random.getrandbits(32) ...]`.
    #[test]
    fn python_random_reference_output() {
        let mut r = PyRandom::new(0);
        assert_eq!(r.next_u32(), 3_626_764_237);
        let mut r = PyRandom::new(42);
        assert_eq!(r.next_u32(), 2_746_317_213);
    }
}
