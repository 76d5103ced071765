//! Fashion-MNIST, as Keras's `keras.datasets.fashion_mnist.load_data()` returns it: 60,000
//! training and 10,000 test grayscale images of 28×28 pixels (`u8`) in 10 classes (`u8`
//! labels): 0 T-shirt/top, 1 Trouser, 2 Pullover, 3 Dress, 4 Coat, 5 Sandal, 6 Shirt,
//! 7 Sneaker, 8 Bag, 9 Ankle boot ([`CLASS_NAMES`]).
//!
//! The four IDX files are downloaded from Keras's address ([`FILES`]) into
//! `<cache>/fashion-mnist` (see [`crate::remote`] for the folders searched and
//! `$KILN_DATASETS_ORIGIN`). Keras gives no hash for these files, so none is checked unless
//! a [`Source`] gives one.
//!
//! # Examples
//! ```no_run
//! let ((x_train, y_train), (x_test, y_test)) = kiln_datasets::fashion_mnist::load_data()?;
//! assert_eq!(x_train.shape(), &[60000, 28, 28]);
//! assert_eq!(y_train.len(), 60000);
//! assert_eq!(x_test.shape(), &[10000, 28, 28]);
//! assert_eq!(y_test.len(), 10000);
//! # Ok::<(), kiln_datasets::Error>(())
//! ```

use std::path::Path;

use ndarray::{Array1, Array3};

use crate::error::{Error, Result};
use crate::idx::{read_images, read_labels};
use crate::remote::{Fetched, KERAS_ORIGIN, KerasFile, MAX_FILE_BYTES, Source, gunzip};

/// Images `[n, 28, 28]` of `u8` pixels and their labels `[n]` (0..=9).
pub type Split = (Array3<u8>, Array1<u8>);

/// The folder of the data set under the data and cache folders (Keras's `cache_subdir`).
pub const NAME: &str = "fashion-mnist";

/// The four files, in Keras's order: training labels and images, test labels and images.
/// Keras passes no `file_hash` for them.
pub const FILES: [KerasFile; 4] = [
    KerasFile {
        name: "train-labels-idx1-ubyte.gz",
        origin: KERAS_ORIGIN,
        file_hash: None,
    },
    KerasFile {
        name: "train-images-idx3-ubyte.gz",
        origin: KERAS_ORIGIN,
        file_hash: None,
    },
    KerasFile {
        name: "t10k-labels-idx1-ubyte.gz",
        origin: KERAS_ORIGIN,
        file_hash: None,
    },
    KerasFile {
        name: "t10k-images-idx3-ubyte.gz",
        origin: KERAS_ORIGIN,
        file_hash: None,
    },
];

/// The class names, by label.
pub const CLASS_NAMES: [&str; 10] = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
];

/// Loads Fashion-MNIST as `((x_train, y_train), (x_test, y_test))`, downloading it when
/// needed.
///
/// # Errors
/// As [`load_data_with`].
pub fn load_data() -> Result<(Split, Split)> {
    load_data_with(&Source::new())
}

/// Loads Fashion-MNIST with the files of `source`.
///
/// # Errors
/// Those of [`Source::fetch`]; [`Error::Gzip`], [`Error::BadMagic`], [`Error::Truncated`],
/// [`Error::UnexpectedLayout`] for a damaged file; [`Error::CountMismatch`] when images and
/// labels disagree; [`Error::UnexpectedContent`] for images other than 28×28.
pub fn load_data_with(source: &Source) -> Result<(Split, Split)> {
    // In Keras's order; the first failure stops.
    let train_labels = source.fetch(NAME, &FILES[0])?;
    let train_images = source.fetch(NAME, &FILES[1])?;
    let test_labels = source.fetch(NAME, &FILES[2])?;
    let test_images = source.fetch(NAME, &FILES[3])?;
    Ok((
        split(&train_images, &train_labels)?,
        split(&test_images, &test_labels)?,
    ))
}

/// Loads Fashion-MNIST from the four files in `dir` (no search, no download).
///
/// # Errors
/// As [`load_data_with`].
pub fn load_data_from(dir: impl AsRef<Path>) -> Result<(Split, Split)> {
    load_data_with(&Source::new().cache_dir(dir.as_ref()).offline())
}

fn split(images: &Fetched, labels: &Fetched) -> Result<Split> {
    let label_bytes = gunzip(&labels.path, &labels.bytes, MAX_FILE_BYTES)?;
    let y = read_labels(&labels.path, &label_bytes)?;
    let image_bytes = gunzip(&images.path, &images.bytes, MAX_FILE_BYTES)?;
    let x = read_images(&images.path, &image_bytes)?;
    if x.shape()[1..] != [28, 28] {
        return Err(Error::UnexpectedContent {
            path: images.path.clone(),
            reason: format!(
                "images are {}x{}, Fashion-MNIST's are 28x28",
                x.shape()[1],
                x.shape()[2]
            ),
        });
    }
    if x.shape()[0] != y.len() {
        return Err(Error::CountMismatch {
            images: images.path.clone(),
            image_count: x.shape()[0],
            labels: labels.path.clone(),
            label_count: y.len(),
        });
    }
    Ok((x, y))
}
