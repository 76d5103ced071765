//! The size bound on a model: what a file or config may ask Kiln to allocate.

use std::sync::atomic::{AtomicUsize, Ordering};

/// The default of [`max_model_values`]: 2^31 values (8 GiB of `f32`).
pub const DEFAULT_MAX_MODEL_VALUES: usize = 1 << 31;

static MAX_MODEL_VALUES: AtomicUsize = AtomicUsize::new(DEFAULT_MAX_MODEL_VALUES);

/// The most values a model may hold in its weights, all layers together, and the most one
/// sample may take at any layer's output. A model past it (typically from a file or config
/// whose numbers are absurd: `units: 10^12`, an `UpSampling2D` of 10^6) is refused when it is
/// built, before anything is allocated, with [`Error::ModelTooLarge`](crate::Error::ModelTooLarge)
/// naming the layer and the size, instead of aborting the process when memory runs out.
///
/// # Examples
/// ```
/// use kiln_model::{Dense, Error, Input, Sequential, max_model_values, set_max_model_values};
/// let device = burn::tensor::Device::flex();
/// let big = Sequential::new().add(Input::new([1000])).add(Dense::new(1000));
/// let before = max_model_values();
/// set_max_model_values(100_000);
/// assert!(matches!(big.build(&device), Err(Error::ModelTooLarge { .. })));
/// set_max_model_values(before);
/// assert!(big.build(&device).is_ok());
/// ```
pub fn max_model_values() -> usize {
    MAX_MODEL_VALUES.load(Ordering::Relaxed)
}

/// Sets [`max_model_values`] for this process (e.g. to load a model larger than 8 GiB).
pub fn set_max_model_values(values: usize) {
    MAX_MODEL_VALUES.store(values, Ordering::Relaxed);
}
