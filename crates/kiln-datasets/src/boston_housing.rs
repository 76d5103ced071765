//! The Boston Housing price regression data set, as Keras's
//! `keras.datasets.boston_housing.load_data()` returns it: 506 samples of 13 features
//! (`Array2<f64>`) with the median home value in k$ as target (`Array1<f64>`), shuffled with
//! `seed` and split by `test_split` (404 training and 102 test samples by default).
//!
//! # Examples
//! ```no_run
//! use kiln_datasets::boston_housing::{self, LoadOptions};
//!
//! let ((x_train, y_train), (x_test, y_test)) = boston_housing::load_data()?;
//! assert_eq!(x_train.shape(), &[404, 13]);
//! assert_eq!((y_train.len(), x_test.shape()[0], y_test.len()), (404, 102, 102));
//! let ((all, _), _) = boston_housing::load_data_with(&LoadOptions::new().test_split(0.0))?;
//! assert_eq!(all.shape()[0], 506);
//! # Ok::<(), kiln_datasets::Error>(())
//! ```

use std::path::Path;

use ndarray::{Array1, Array2, Axis};

use crate::error::{Error, Result};
use crate::npz::{Member, member, parse_member, read_members};
use crate::random_state::RandomState;
use crate::remote::{KERAS_ORIGIN, KerasFile, Source};
use crate::sequences::{check_test_split, split_point};

/// Features `[n, features]` and targets `[n]`.
pub type Split = (Array2<f64>, Array1<f64>);

/// The folder of the data set under the data and cache folders.
pub const NAME: &str = "boston_housing";

/// The data, as Keras downloads it (`keras/src/datasets/boston_housing.py`).
pub const FILE: KerasFile = KerasFile {
    name: "boston_housing.npz",
    origin: KERAS_ORIGIN,
    file_hash: Some("f553886a1f8d56431e820c5b82552d9d95cfcb96d1e678153f8839538947dff5"),
};

/// Keras's arguments of `boston_housing.load_data`, with its defaults, and where the file
/// comes from.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    test_split: f64,
    seed: u32,
    source: Source,
}

impl Default for LoadOptions {
    fn default() -> Self {
        Self {
            test_split: 0.2,
            seed: 113,
            source: Source::new(),
        }
    }
}

impl LoadOptions {
    /// Keras's defaults: `test_split` 0.2, `seed` 113.
    pub fn new() -> Self {
        Self::default()
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

    /// Where `boston_housing.npz` comes from.
    pub fn source(mut self, source: Source) -> Self {
        self.source = source;
        self
    }
}

/// Loads Boston Housing with Keras's defaults, downloading it when needed.
///
/// # Errors
/// As [`load_data_with`].
pub fn load_data() -> Result<(Split, Split)> {
    load_data_with(&LoadOptions::new())
}

/// Loads Boston Housing as `options` say: `((x_train, y_train), (x_test, y_test))`.
///
/// # Errors
/// [`Error::InvalidArgument`] for a `test_split` outside `0 <= t < 1` (Keras's
/// `ValueError`); those of [`Source::fetch`]; [`Error::CorruptArchive`], [`Error::Npy`] or
/// [`Error::UnexpectedContent`] for a file that is not the data set's.
pub fn load_data_with(options: &LoadOptions) -> Result<(Split, Split)> {
    check_test_split(options.test_split, false)?;
    let (x, y) = read_xy(&options.source, NAME, &FILE)?;
    Ok(shuffle_split(x, y, options.seed, options.test_split))
}

/// Loads Boston Housing from `dir` (no search, no download): `boston_housing.npz`, checked
/// against the hash of `options`' source.
///
/// # Errors
/// As [`load_data_with`].
pub fn load_data_from(dir: impl AsRef<Path>, options: &LoadOptions) -> Result<(Split, Split)> {
    let source = options.source.clone().cache_dir(dir.as_ref()).offline();
    load_data_with(&options.clone().source(source))
}

/// The `x` (2-D) and `y` (1-D) float arrays of a housing `.npz` file, as `f64`.
pub(crate) fn read_xy(source: &Source, dataset: &str, file: &KerasFile) -> Result<Split> {
    let fetched = source.fetch(dataset, file)?;
    let path = fetched.path.as_path();
    let members = read_members(path, &fetched.bytes)?;
    let read = |name: &str, rank: usize| -> Result<(Vec<usize>, Vec<f64>)> {
        let p = path.join(format!("{name}.npy"));
        match parse_member(&p, member(path, &members, name)?)? {
            Member::Numeric(raw) if raw.shape.len() == rank => {
                let values = raw.to_f64(&p)?;
                Ok((raw.shape, values))
            }
            Member::Numeric(raw) => Err(Error::UnexpectedContent {
                path: p,
                reason: format!("expected {rank} dimensions, found shape {:?}", raw.shape),
            }),
            Member::Object { .. } => Err(Error::UnexpectedContent {
                path: p,
                reason: "expected numbers, found an object array".into(),
            }),
        }
    };
    let (x_shape, x) = read("x", 2)?;
    let (y_shape, y) = read("y", 1)?;
    let shaped = |e: ndarray::ShapeError| Error::UnexpectedContent {
        path: path.to_path_buf(),
        reason: e.to_string(),
    };
    let x = Array2::from_shape_vec((x_shape[0], x_shape[1]), x).map_err(shaped)?;
    let y = Array1::from_shape_vec(y_shape[0], y).map_err(shaped)?;
    if x.nrows() != y.len() {
        return Err(Error::UnexpectedContent {
            path: path.to_path_buf(),
            reason: format!("{} samples in `x` but {} in `y`", x.nrows(), y.len()),
        });
    }
    Ok((x, y))
}

/// Keras's shuffle (`RandomState(seed).shuffle(arange(n))`) and split at
/// `int(n * (1 - test_split))`.
pub(crate) fn shuffle_split(
    x: Array2<f64>,
    y: Array1<f64>,
    seed: u32,
    test_split: f64,
) -> (Split, Split) {
    let order = RandomState::new(seed).permutation(x.nrows());
    let x = x.select(Axis(0), &order);
    let y = y.select(Axis(0), &order);
    let idx = split_point(x.nrows(), test_split);
    let (x_train, x_test) = x.view().split_at(Axis(0), idx);
    let (y_train, y_test) = y.view().split_at(Axis(0), idx);
    (
        (x_train.to_owned(), y_train.to_owned()),
        (x_test.to_owned(), y_test.to_owned()),
    )
}
