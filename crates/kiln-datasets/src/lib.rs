//! Data sets for Kiln, as Keras's `keras.datasets` gives them: host arrays of the `ndarray`
//! crate (the Rust NumPy), verified by checksum, found offline or downloaded once into a cache.
//!
//! # Quick start
//! ```
//! use kiln_datasets::{mnist, scale_pixels, to_categorical};
//!
//! let ((x_train, y_train), (x_test, y_test)) = mnist::load_data()?;
//! let x_train = scale_pixels(&x_train); // f32 in [0, 1], shape [60000, 28, 28]
//! let y_train = to_categorical(y_train.view(), Some(10))?; // one-hot, shape [60000, 10]
//! assert_eq!(y_train.shape(), &[60000, 10]);
//! # let _ = (x_test, y_test);
//! # Ok::<(), kiln_datasets::Error>(())
//! ```
//!
//! Files are looked for in `$KILN_DATA_DIR` first (the Kiln repository points it at its own
//! `data/` folder), then in the user cache (`$XDG_CACHE_HOME/kiln/datasets` or
//! `~/.cache/kiln/datasets`), then downloaded from public mirrors (feature `download`, on by
//! default). Every file is verified against the SHA-256 of its decompressed content.
//!
//! Keras's other data sets, with Keras's arrays, options, addresses and hashes:
//! [`fashion_mnist`], [`cifar10`], [`cifar100`], [`imdb`], [`reuters`], [`boston_housing`],
//! [`california_housing`] (files located or downloaded by [`remote`]; a mirror can be set with
//! `$KILN_DATASETS_ORIGIN`).
//!
//! Keras's data set utilities: [`image_dataset_from_directory`] and
//! [`text_dataset_from_directory`] (folders of class sub-folders, with Keras's file order,
//! labels and seeded validation split), [`timeseries_dataset_from_array`], [`pad_sequences`],
//! [`split_dataset`], and [`read_csv`] for CSV tables.

mod array;
pub mod boston_housing;
mod cache;
pub mod california_housing;
pub mod cifar10;
pub mod cifar100;
pub mod csv;
mod dataset;
#[cfg(feature = "download")]
mod download;
mod error;
pub mod fashion_mnist;
mod fingerprint;
pub mod hashing;
pub mod idx;
pub mod image_dataset;
pub mod imdb;
pub mod index_lookup;
mod loader;
pub mod mnist;
pub mod npy;
pub mod npz;
pub mod pad_sequences;
pub mod pickle;
mod preprocessing;
pub mod random_state;
pub mod remote;
pub mod reuters;
pub mod sequences;
pub mod split_dataset;
pub mod text_dataset;
pub mod text_vectorization;
pub mod timeseries;

pub use array::HostArray;
pub use cache::{DATA_DIR_ENV, cache_dir, search_dirs, write_atomic};
pub use csv::{Column, CsvArrays, CsvOptions, read_csv};
pub use dataset::{ArrayDataset, Batch, BoxError, Dataset, FromFn, WithWorkers, from_fn};
pub use error::{Error, Result};
pub use fingerprint::fingerprint64;
pub use hashing::{HashInput, Hashing, MaskValue};
pub use image_dataset::{
    ColorMode, IMAGE_FORMATS, ImageDataset, ImageDatasetOptions, Interpolation, LabelMode, Labels,
    MAX_IMAGE_BYTES, Subset, image_dataset_from_directory, image_dataset_from_directory_both,
};
pub use index_lookup::{IndexLookup, IntegerLookup, LookupMode, LookupToken, StringLookup};
pub use loader::load_batches;
pub use pad_sequences::{PadOptions, Side, pad_sequences};
pub use preprocessing::{TrainTest, normalize, scale_pixels, to_categorical, train_test_split};
pub use split_dataset::{SplitOptions, SplitSize, split_dataset, split_indices, split_sizes};
pub use text_dataset::{
    MapTexts, TEXT_FORMATS, TextBatch, TextDataset, TextDatasetOptions,
    text_dataset_from_directory, text_dataset_from_directory_both,
};
pub use text_vectorization::{OutputMode, Split, Standardize, TextVectorization};
pub use timeseries::{TimeseriesDataset, TimeseriesOptions, timeseries_dataset_from_array};
