//! Data sets for Kiln, as Keras's `keras.datasets` gives them: host arrays of the `ndarray`
//! crate (the Rust NumPy), verified by checksum, found offline or downloaded once into a cache.
//!
//! # Quick start
//! ```
//! use kiln_datasets::{mnist, normalize, to_categorical};
//!
//! let ((x_train, y_train), (x_test, y_test)) = mnist::load_data()?;
//! let x_train = normalize(&x_train); // f32 in [0, 1], shape [60000, 28, 28]
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

mod cache;
#[cfg(feature = "download")]
mod download;
mod error;
pub mod idx;
pub mod mnist;
pub mod npy;
mod preprocessing;

pub use cache::{DATA_DIR_ENV, cache_dir, search_dirs, write_atomic};
pub use error::{Error, Result};
pub use preprocessing::{TrainTest, normalize, to_categorical, train_test_split};
