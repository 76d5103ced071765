//! Keras's `keras.utils.timeseries_dataset_from_array`: a [`Dataset`] of sliding windows over
//! an array whose first axis is time, each window made when its batch is asked for.
//!
//! Window `i` starts at `start_index + p_i`, where the start positions are
//! `p = 0, sequence_stride, 2 * sequence_stride, ...` below
//! `end_index - start_index - (sequence_length - 1) * sampling_rate` (and below
//! `targets.len()` when there are targets), and holds the steps
//! `start_index + p_i + k * sampling_rate` for `k` in `0..sequence_length`. Its target is
//! `targets[start_index + p_i]`: the target of the window's first step, exactly as Keras
//! aligns them (to predict the step after a window, pass `targets = data[sequence_length..]`).
//! With `shuffle`, the start positions are permuted by NumPy's `RandomState(seed)` as Keras
//! permutes them.
//!
//! # What differs from Keras
//! - Keras's shuffled data set is also passed through a `tf.data` shuffle buffer that
//!   reshuffles at each epoch: here the first epoch uses Keras's `RandomState` order of the
//!   windows and each later epoch a new seeded permutation of them.
//! - `batch_size=None` (unbatched windows) is not offered; `sequence_length` 0 and an
//!   `end_index` of 0 are refused rather than giving an empty data set; targets too short for
//!   a window's first step are refused when the data set is made rather than failing while
//!   iterating.
//!
//! # Examples
//! ```
//! use kiln_datasets::{Dataset, HostArray, TimeseriesOptions, timeseries_dataset_from_array};
//!
//! // Keras's first docstring example: windows of 10 steps taken every 2 steps, strided by 3.
//! let data: Vec<f32> = (0..100).map(|i| i as f32).collect();
//! let options = TimeseriesOptions::default().sampling_rate(2).sequence_stride(3);
//! let windows = timeseries_dataset_from_array(data, None, 10, &options)?;
//! let batch = windows.get(0)?;
//! let x = batch.x[0].to_f32_vec();
//! assert_eq!(batch.x[0].shape(), &[28, 10]);
//! assert_eq!(&x[..10], &[0., 2., 4., 6., 8., 10., 12., 14., 16., 18.]);
//! assert_eq!(&x[10..20], &[3., 5., 7., 9., 11., 13., 15., 17., 19., 21.]);
//! # Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
//! ```

use ndarray::{ArrayD, IxDyn};
use rand::SeedableRng;
use rand::seq::SliceRandom;

use crate::array::HostArray;
use crate::dataset::{Batch, BoxError, Dataset};
use crate::error::{Error, Result};
use crate::random_state::RandomState;

/// The options of [`timeseries_dataset_from_array`], with Keras's defaults; set them with the
/// builder methods of the same names.
///
/// # Examples
/// ```
/// use kiln_datasets::TimeseriesOptions;
/// let options = TimeseriesOptions::default().batch_size(32).shuffle(true).seed(7);
/// assert_eq!((options.sequence_stride, options.sampling_rate), (1, 1));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TimeseriesOptions {
    /// The step between the starts of two consecutive windows (default 1).
    pub sequence_stride: usize,
    /// The step between two steps of a window (default 1).
    pub sampling_rate: usize,
    /// Windows per batch, the last batch keeping the remainder (default 128).
    pub batch_size: usize,
    /// Whether windows are shuffled (default `false`: chronological order).
    pub shuffle: bool,
    /// The seed of the shuffle (NumPy's `RandomState` seed); a random one when `None`.
    pub seed: Option<u32>,
    /// Steps before it are not used (default 0).
    pub start_index: Option<usize>,
    /// Steps from it on are not used (default: the end of the data); below `data.len()`.
    pub end_index: Option<usize>,
}

impl Default for TimeseriesOptions {
    fn default() -> Self {
        Self {
            sequence_stride: 1,
            sampling_rate: 1,
            batch_size: 128,
            shuffle: false,
            seed: None,
            start_index: None,
            end_index: None,
        }
    }
}

impl TimeseriesOptions {
    /// Sets [`TimeseriesOptions::sequence_stride`].
    #[must_use]
    pub fn sequence_stride(mut self, stride: usize) -> Self {
        self.sequence_stride = stride;
        self
    }
    /// Sets [`TimeseriesOptions::sampling_rate`].
    #[must_use]
    pub fn sampling_rate(mut self, rate: usize) -> Self {
        self.sampling_rate = rate;
        self
    }
    /// Sets [`TimeseriesOptions::batch_size`].
    #[must_use]
    pub fn batch_size(mut self, batch_size: usize) -> Self {
        self.batch_size = batch_size;
        self
    }
    /// Sets [`TimeseriesOptions::shuffle`].
    #[must_use]
    pub fn shuffle(mut self, shuffle: bool) -> Self {
        self.shuffle = shuffle;
        self
    }
    /// Sets [`TimeseriesOptions::seed`].
    #[must_use]
    pub fn seed(mut self, seed: u32) -> Self {
        self.seed = Some(seed);
        self
    }
    /// Sets [`TimeseriesOptions::start_index`].
    #[must_use]
    pub fn start_index(mut self, index: usize) -> Self {
        self.start_index = Some(index);
        self
    }
    /// Sets [`TimeseriesOptions::end_index`].
    #[must_use]
    pub fn end_index(mut self, index: usize) -> Self {
        self.end_index = Some(index);
        self
    }
}

/// Makes a [`Dataset`] of the windows of `sequence_length` steps over `data` (time on the
/// first axis), with `targets[start]` as the target of the window starting at step `start`
/// (Keras's `keras.utils.timeseries_dataset_from_array`).
///
/// Batches hold the windows `[batch, sequence_length, ...]` in `x[0]`, in the element type of
/// `data`, and the targets `[batch, ...]` in `y[0]` (no `y` without targets).
///
/// # Errors
/// [`Error::InvalidArgument`], with Keras's rules: `start_index` not below `data.len()`,
/// `end_index` not above `start_index` or not below `data.len()`, `sampling_rate` or
/// `sequence_stride` 0 or not below `data.len()`; also a `sequence_length` or `batch_size`
/// of 0, and targets too short for the windows' first steps. [`Error::TooLarge`] when a batch
/// of windows would not fit in memory.
///
/// # Examples
/// ```
/// use kiln_datasets::{Dataset, HostArray, TimeseriesOptions, timeseries_dataset_from_array};
///
/// // Predict the next step: the target of the window data[i..i + 3] is data[i + 3].
/// let data: Vec<i64> = (0..8).collect();
/// let targets = HostArray::from(data[3..].to_vec());
/// let ds = timeseries_dataset_from_array(data, Some(targets), 3, &TimeseriesOptions::default())?;
/// let batch = ds.get(0)?;
/// assert_eq!(batch.x[0].shape(), &[5, 3]);
/// assert_eq!(batch.y[0].to_f32_vec(), [3., 4., 5., 6., 7.]);
/// # Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
/// ```
pub fn timeseries_dataset_from_array(
    data: impl Into<HostArray>,
    targets: Option<HostArray>,
    sequence_length: usize,
    options: &TimeseriesOptions,
) -> Result<TimeseriesDataset> {
    let data = data.into();
    if data.shape().is_empty() {
        return Err(invalid(
            "data",
            "must have a time axis, got a scalar".into(),
        ));
    }
    let len = data.len();
    let o = options;
    if let Some(start) = o.start_index.filter(|&s| s > 0)
        && start >= len
    {
        return Err(invalid(
            "start_index",
            format!("must be lower than the length of the data ({len}), got {start}"),
        ));
    }
    if let Some(end) = o.end_index {
        let start = o.start_index.unwrap_or(0);
        if end == 0 {
            return Err(invalid("end_index", "must be higher than 0".into()));
        }
        if start > 0 && end <= start {
            return Err(invalid(
                "end_index",
                format!("must be higher than start_index ({start}), got {end}"),
            ));
        }
        if end >= len {
            return Err(invalid(
                "end_index",
                format!("must be lower than the length of the data ({len}), got {end}"),
            ));
        }
    }
    for (name, value) in [
        ("sampling_rate", o.sampling_rate),
        ("sequence_stride", o.sequence_stride),
    ] {
        if value == 0 {
            return Err(invalid(name, "must be higher than 0".into()));
        }
        if value >= len {
            return Err(invalid(
                name,
                format!("must be lower than the length of the data ({len}), got {value}"),
            ));
        }
    }
    if sequence_length == 0 {
        return Err(invalid("sequence_length", "must be at least 1".into()));
    }
    if o.batch_size == 0 {
        return Err(invalid("batch_size", "must be at least 1".into()));
    }
    if let Some(t) = &targets
        && t.shape().is_empty()
    {
        return Err(invalid(
            "targets",
            "must have a time axis, got a scalar".into(),
        ));
    }

    let start_index = o.start_index.unwrap_or(0);
    let end_index = o.end_index.unwrap_or(len);
    // num_seqs = end - start - (sequence_length - 1) * sampling_rate, capped by the targets.
    let span = (sequence_length - 1)
        .checked_mul(o.sampling_rate)
        .ok_or_else(|| invalid("sequence_length", "times sampling_rate overflows".into()))?;
    let mut num_seqs = (end_index - start_index).saturating_sub(span);
    if let Some(t) = &targets {
        num_seqs = num_seqs.min(t.len());
    }
    let mut positions: Vec<usize> = (0..num_seqs).step_by(o.sequence_stride).collect();
    if let (Some(t), Some(&last)) = (&targets, positions.iter().max())
        && start_index + last >= t.len()
    {
        return Err(invalid(
            "targets",
            format!(
                "has {} steps, but the window starting at step {} needs targets[{}]",
                t.len(),
                start_index + last,
                start_index + last
            ),
        ));
    }
    let seed = o
        .seed
        .unwrap_or_else(|| rand::random_range(0..1_000_000u32));
    if o.shuffle {
        RandomState::new(seed).shuffle(&mut positions);
    }

    let step: usize = data.shape()[1..].iter().product();
    let rows = o.batch_size.min(positions.len());
    let fits = rows
        .checked_mul(sequence_length)
        .and_then(|r| r.checked_mul(step))
        .and_then(|v| v.checked_mul(8))
        .is_some_and(|b| isize::try_from(b).is_ok());
    if !fits {
        return Err(Error::TooLarge {
            what: format!("a batch of {rows} windows of {sequence_length} steps of {step} values"),
            size: u64::MAX,
            limit: u64::try_from(isize::MAX).unwrap_or(u64::MAX),
        });
    }
    Ok(TimeseriesDataset {
        data,
        targets,
        sequence_length,
        sampling_rate: o.sampling_rate,
        batch_size: o.batch_size,
        start_index,
        positions,
        shuffle: o.shuffle,
        seed,
        epoch: 0,
    })
}

fn invalid(name: &'static str, reason: String) -> Error {
    Error::InvalidArgument { name, reason }
}

/// The windows of [`timeseries_dataset_from_array`].
#[derive(Debug, Clone)]
pub struct TimeseriesDataset {
    data: HostArray,
    targets: Option<HostArray>,
    sequence_length: usize,
    sampling_rate: usize,
    batch_size: usize,
    start_index: usize,
    /// The start positions (relative to `start_index`) in this epoch's order.
    positions: Vec<usize>,
    shuffle: bool,
    seed: u32,
    epoch: u64,
}

impl TimeseriesDataset {
    /// The number of windows.
    pub fn num_windows(&self) -> usize {
        self.positions.len()
    }

    /// The first step of each window (an index into `data`), in this epoch's order.
    pub fn window_starts(&self) -> Vec<usize> {
        self.positions
            .iter()
            .map(|p| p + self.start_index)
            .collect()
    }
}

impl Dataset for TimeseriesDataset {
    fn len(&self) -> usize {
        self.positions.len().div_ceil(self.batch_size)
    }

    fn get(&self, index: usize) -> Result<Batch, BoxError> {
        let n = self.len();
        if index >= n {
            return Err(Box::new(invalid(
                "index",
                format!("batch {index} of a data set of {n} batches"),
            )));
        }
        let start = index * self.batch_size;
        let end = (start + self.batch_size).min(self.positions.len());
        let starts: Vec<usize> = self.positions[start..end]
            .iter()
            .map(|p| p + self.start_index)
            .collect();
        let steps: Vec<usize> = starts
            .iter()
            .flat_map(|&s| (0..self.sequence_length).map(move |k| s + k * self.sampling_rate))
            .collect();
        let mut shape = vec![starts.len(), self.sequence_length];
        shape.extend_from_slice(&self.data.shape()[1..]);
        let x = reshape(self.data.select_rows(&steps), &shape)?;
        Ok(match &self.targets {
            Some(t) => Batch::new(x, t.select_rows(&starts)),
            None => Batch::inputs(x),
        })
    }

    fn on_epoch_end(&mut self) {
        if self.shuffle {
            self.epoch += 1;
            let mut rng =
                rand::rngs::StdRng::seed_from_u64((u64::from(self.seed) << 32) ^ self.epoch);
            self.positions.sort_unstable();
            self.positions.shuffle(&mut rng);
        }
    }
}

/// `a` with the shape `shape` (same number of values, row-major).
fn reshape(a: HostArray, shape: &[usize]) -> Result<HostArray, BoxError> {
    fn to<T: Clone>(a: ArrayD<T>, shape: &[usize]) -> Result<ArrayD<T>, BoxError> {
        Ok(a.as_standard_layout()
            .into_owned()
            .into_shape_with_order(IxDyn(shape))?)
    }
    Ok(match a {
        HostArray::F32(a) => HostArray::F32(to(a, shape)?),
        HostArray::F64(a) => HostArray::F64(to(a, shape)?),
        HostArray::I32(a) => HostArray::I32(to(a, shape)?),
        HostArray::I64(a) => HostArray::I64(to(a, shape)?),
        HostArray::U8(a) => HostArray::U8(to(a, shape)?),
        HostArray::Str(a) => HostArray::Str(to(a, shape)?),
    })
}
