//! The California Housing price regression data set, as Keras's
//! `keras.datasets.california_housing.load_data()` returns it: 20,640 block groups of 8
//! features (median income, house age, average rooms, average bedrooms, population, average
//! occupancy, latitude, longitude; `Array2<f64>`) with the median house value in dollars as
//! target (`Array1<f64>`), shuffled with `seed` and split by `test_split`. The `small` version
//! keeps the first 600 samples (before shuffling), as Keras does.
//!
//! # Examples
//! ```no_run
//! use kiln_datasets::california_housing::{self, LoadOptions, Version};
//!
//! let ((x_train, y_train), (x_test, _)) = california_housing::load_data()?;
//! assert_eq!(x_train.shape(), &[16512, 8]);
//! assert_eq!((y_train.len(), x_test.shape()[0]), (16512, 4128));
//! let ((small, _), _) =
//!     california_housing::load_data_with(&LoadOptions::new().version(Version::Small))?;
//! assert_eq!(small.shape()[0], 480);
//! # Ok::<(), kiln_datasets::Error>(())
//! ```

use std::path::Path;

use ndarray::{Axis, Slice};

use crate::boston_housing::{read_xy, shuffle_split};
use crate::error::{Error, Result};
use crate::remote::{KERAS_ORIGIN, KerasFile, Source};
use crate::sequences::check_test_split;

pub use crate::boston_housing::Split;

/// The folder of the data set under the data and cache folders.
pub const NAME: &str = "california_housing";

/// The data, as Keras downloads it (`keras/src/datasets/california_housing.py`).
pub const FILE: KerasFile = KerasFile {
    name: "california_housing.npz",
    origin: KERAS_ORIGIN,
    file_hash: Some("1a2e3a52e0398de6463aebe6f4a8da34fb21fbb6b934cf88c3425e766f2a1a6f"),
};

/// Samples kept by [`Version::Small`].
pub const SMALL_LEN: usize = 600;

/// Keras's `version`: the whole data set, or its first 600 samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Version {
    /// All 20,640 samples (`"large"`, Keras's default).
    #[default]
    Large,
    /// The first 600 samples (`"small"`), for quick experiments.
    Small,
}

impl std::str::FromStr for Version {
    type Err = Error;

    /// `"large"` or `"small"`, as Keras takes them.
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "large" => Ok(Version::Large),
            "small" => Ok(Version::Small),
            other => Err(Error::InvalidArgument {
                name: "version",
                reason: format!("must be one of \"small\", \"large\"; received {other:?}"),
            }),
        }
    }
}

/// Keras's arguments of `california_housing.load_data`, with its defaults, and where the file
/// comes from.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    version: Version,
    test_split: f64,
    seed: u32,
    source: Source,
}

impl Default for LoadOptions {
    fn default() -> Self {
        Self {
            version: Version::Large,
            test_split: 0.2,
            seed: 113,
            source: Source::new(),
        }
    }
}

impl LoadOptions {
    /// Keras's defaults: `version` large, `test_split` 0.2, `seed` 113.
    pub fn new() -> Self {
        Self::default()
    }

    /// The whole data set or its first 600 samples.
    pub fn version(mut self, version: Version) -> Self {
        self.version = version;
        self
    }

    /// The fraction of the (shuffled) samples that form the test set, in `0 <= t < 1`.
    pub fn test_split(mut self, test_split: f64) -> Self {
        self.test_split = test_split;
        self
    }

    /// The shuffling seed (NumPy's `RandomState` seed).
    pub fn seed(mut self, seed: u32) -> Self {
        self.seed = seed;
        self
    }

    /// Where `california_housing.npz` comes from.
    pub fn source(mut self, source: Source) -> Self {
        self.source = source;
        self
    }
}

/// Loads California Housing with Keras's defaults, downloading it when needed.
///
/// # Errors
/// As [`load_data_with`].
pub fn load_data() -> Result<(Split, Split)> {
    load_data_with(&LoadOptions::new())
}

/// Loads California Housing as `options` say: `((x_train, y_train), (x_test, y_test))`.
///
/// # Errors
/// [`Error::InvalidArgument`] for a `test_split` outside `0 <= t < 1` (Keras's
/// `ValueError`); those of [`Source::fetch`]; [`Error::CorruptArchive`], [`Error::Npy`] or
/// [`Error::UnexpectedContent`] for a file that is not the data set's.
pub fn load_data_with(options: &LoadOptions) -> Result<(Split, Split)> {
    check_test_split(options.test_split, false)?;
    let (mut x, mut y) = read_xy(&options.source, NAME, &FILE)?;
    if options.version == Version::Small {
        let n = x.nrows().min(SMALL_LEN);
        x = x.slice_axis(Axis(0), Slice::from(..n)).to_owned();
        y = y.slice_axis(Axis(0), Slice::from(..n)).to_owned();
    }
    Ok(shuffle_split(x, y, options.seed, options.test_split))
}

/// Loads California Housing from `dir` (no search, no download): `california_housing.npz`,
/// checked against the hash of `options`' source.
///
/// # Errors
/// As [`load_data_with`].
pub fn load_data_from(dir: impl AsRef<Path>, options: &LoadOptions) -> Result<(Split, Split)> {
    let source = options.source.clone().cache_dir(dir.as_ref()).offline();
    load_data_with(&options.clone().source(source))
}
