//! Data that does not come as one in-memory array: a [`Dataset`] of batches (Keras's
//! `keras.utils.PyDataset`), which `fit`, `evaluate` and `predict` read batch by batch, on
//! worker threads when it asks for them.

use crate::array::HostArray;

/// The error a user's [`Dataset`] returns for a batch it cannot make (a failed read, a bad
/// file): any error type, kept as the cause of the error `fit` stops with.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// One batch: an array per model input, an array per model output (none for `predict`), and
/// optionally a weight per sample (Keras: a `(x, y)` or `(x, y, sample_weight)` tuple).
///
/// # Examples
/// ```
/// use kiln_datasets::Batch;
/// let batch = Batch::new(ndarray::Array2::<u8>::zeros((8, 784)), vec![0u8; 8]);
/// assert_eq!(batch.len(), 8);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    /// One array per model input, batch axis first.
    pub x: Vec<HostArray>,
    /// One array per model output (empty for `predict`).
    pub y: Vec<HostArray>,
    /// One weight per sample, `[samples]`.
    pub sample_weight: Option<HostArray>,
}

impl Batch {
    /// A batch for a model of one input and one output.
    pub fn new(x: impl Into<HostArray>, y: impl Into<HostArray>) -> Self {
        Self {
            x: vec![x.into()],
            y: vec![y.into()],
            sample_weight: None,
        }
    }

    /// Inputs only (what `predict` reads).
    pub fn inputs(x: impl Into<HostArray>) -> Self {
        Self {
            x: vec![x.into()],
            y: Vec::new(),
            sample_weight: None,
        }
    }

    /// A batch for a model of several inputs or outputs, in the model's order.
    pub fn many(x: Vec<HostArray>, y: Vec<HostArray>) -> Self {
        Self {
            x,
            y,
            sample_weight: None,
        }
    }

    /// Weighs each sample's loss and metrics (Keras's third tuple element).
    pub fn sample_weight(mut self, weights: impl Into<HostArray>) -> Self {
        self.sample_weight = Some(weights.into());
        self
    }

    /// The samples in the batch (the first input's first axis; 0 without inputs).
    pub fn len(&self) -> usize {
        self.x.first().map_or(0, HostArray::len)
    }

    /// Whether the batch holds no samples.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A data set read batch by batch (Keras's `keras.utils.PyDataset`): how many batches an epoch
/// has, and batch `index` on demand. `fit` asks for the batches of an epoch in order (or in a
/// shuffled order with `shuffle`), calls [`Dataset::on_epoch_end`] after each epoch, and with
/// [`Dataset::workers`] above 1 loads the next batches on that many threads, at most
/// [`Dataset::max_queue_size`] ahead (Keras's `workers` and `max_queue_size`).
///
/// Batches are host arrays in their own element type: `u8` images stay `u8` until their batch
/// is converted for the device, so the whole set is never held as `f32`.
///
/// # Examples
/// A data set that reads one file per batch:
/// ```
/// use kiln_datasets::{Batch, BoxError, Dataset};
/// use ndarray::Array2;
///
/// struct Files(Vec<std::path::PathBuf>);
///
/// impl Dataset for Files {
///     fn len(&self) -> usize {
///         self.0.len()
///     }
///     fn get(&self, index: usize) -> Result<Batch, BoxError> {
///         let bytes = std::fs::read(&self.0[index])?; // 4 samples of 3 bytes, then 4 labels
///         let x = Array2::from_shape_vec((4, 3), bytes[..12].to_vec())?;
///         Ok(Batch::new(x, bytes[12..16].to_vec()))
///     }
/// }
///
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("batch0.bin");
/// std::fs::write(&path, [1u8, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 0, 1, 0, 1])?;
/// let files = Files(vec![path]);
/// assert_eq!(files.get(0)?.len(), 4);
/// # Ok::<(), BoxError>(())
/// ```
#[doc(alias = "PyDataset")]
pub trait Dataset: Sync {
    /// Batches per epoch (Keras's `__len__`).
    fn len(&self) -> usize;

    /// Batch `index`, `0..len()` (Keras's `__getitem__`). Called from worker threads when
    /// [`Dataset::workers`] is above 1.
    ///
    /// # Errors
    /// Whatever stops the batch from being made; `fit` stops with it as the cause.
    fn get(&self, index: usize) -> Result<Batch, BoxError>;

    /// Whether there are no batches.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Called after each epoch (Keras's `on_epoch_end`), e.g. to reshuffle samples.
    fn on_epoch_end(&mut self) {}

    /// Threads loading batches ahead of training (Keras's `workers`, default 1: batches are
    /// loaded by the training thread itself, when needed).
    fn workers(&self) -> usize {
        1
    }

    /// How many loaded batches may wait for training (Keras's `max_queue_size`, default 10).
    fn max_queue_size(&self) -> usize {
        10
    }

    /// This data set loaded on `workers` threads, at most `max_queue_size` batches ahead.
    fn with_workers(self, workers: usize, max_queue_size: usize) -> WithWorkers<Self>
    where
        Self: Sized,
    {
        WithWorkers {
            inner: self,
            workers,
            max_queue_size,
        }
    }
}

/// A [`Dataset`] with its loading spread over worker threads ([`Dataset::with_workers`]).
#[derive(Debug, Clone)]
pub struct WithWorkers<D> {
    inner: D,
    workers: usize,
    max_queue_size: usize,
}

impl<D> WithWorkers<D> {
    /// The wrapped data set.
    pub fn into_inner(self) -> D {
        self.inner
    }
}

impl<D: Dataset> Dataset for WithWorkers<D> {
    fn len(&self) -> usize {
        self.inner.len()
    }
    fn get(&self, index: usize) -> Result<Batch, BoxError> {
        self.inner.get(index)
    }
    fn on_epoch_end(&mut self) {
        self.inner.on_epoch_end();
    }
    fn workers(&self) -> usize {
        self.workers
    }
    fn max_queue_size(&self) -> usize {
        self.max_queue_size
    }
}

impl<D: Dataset + ?Sized> Dataset for &mut D {
    fn len(&self) -> usize {
        (**self).len()
    }
    fn get(&self, index: usize) -> Result<Batch, BoxError> {
        (**self).get(index)
    }
    fn on_epoch_end(&mut self) {
        (**self).on_epoch_end();
    }
    fn workers(&self) -> usize {
        (**self).workers()
    }
    fn max_queue_size(&self) -> usize {
        (**self).max_queue_size()
    }
}

/// In-memory arrays as a [`Dataset`] of consecutive batches of `batch_size` (the last keeps the
/// remainder), each array in its own element type.
///
/// # Examples
/// ```
/// use kiln_datasets::{ArrayDataset, Dataset};
/// let x = ndarray::Array2::<u8>::zeros((10, 4));
/// let data = ArrayDataset::new(x, vec![1u8; 10], 4);
/// assert_eq!(data.len(), 3);
/// assert_eq!(data.get(2).map(|b| b.len()).ok(), Some(2));
/// ```
#[derive(Debug, Clone)]
pub struct ArrayDataset {
    x: Vec<HostArray>,
    y: Vec<HostArray>,
    batch_size: usize,
}

impl ArrayDataset {
    /// `x` and `y` (same number of samples) in batches of `batch_size` (0 counts as 1).
    pub fn new(x: impl Into<HostArray>, y: impl Into<HostArray>, batch_size: usize) -> Self {
        Self::many(vec![x.into()], vec![y.into()], batch_size)
    }

    /// Several inputs or outputs, in the model's order.
    pub fn many(x: Vec<HostArray>, y: Vec<HostArray>, batch_size: usize) -> Self {
        Self {
            x,
            y,
            batch_size: batch_size.max(1),
        }
    }

    fn samples(&self) -> usize {
        self.x.first().map_or(0, HostArray::len)
    }
}

impl Dataset for ArrayDataset {
    fn len(&self) -> usize {
        self.samples().div_ceil(self.batch_size)
    }

    fn get(&self, index: usize) -> Result<Batch, BoxError> {
        if index >= self.len() {
            return Err(format!("batch {index} of {}", self.len()).into());
        }
        let start = index * self.batch_size;
        let take = |arrays: &[HostArray]| -> Vec<HostArray> {
            arrays
                .iter()
                .map(|a| a.slice_rows(start, self.batch_size))
                .collect()
        };
        Ok(Batch::many(take(&self.x), take(&self.y)))
    }
}

/// A [`Dataset`] of `len` batches made by a function of the batch index.
///
/// # Examples
/// ```
/// use kiln_datasets::{Batch, Dataset, from_fn};
/// let squares = from_fn(5, |i| {
///     let x = vec![i as f32; 2];
///     Ok(Batch::new(x, vec![(i * i) as f32; 2]))
/// });
/// assert_eq!(squares.len(), 5);
/// ```
pub fn from_fn<F>(len: usize, make: F) -> FromFn<F>
where
    F: Fn(usize) -> Result<Batch, BoxError> + Sync,
{
    FromFn { len, make }
}

/// The [`Dataset`] of [`from_fn`].
#[derive(Debug, Clone)]
pub struct FromFn<F> {
    len: usize,
    make: F,
}

impl<F> Dataset for FromFn<F>
where
    F: Fn(usize) -> Result<Batch, BoxError> + Sync,
{
    fn len(&self) -> usize {
        self.len
    }
    fn get(&self, index: usize) -> Result<Batch, BoxError> {
        (self.make)(index)
    }
}
