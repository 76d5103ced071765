//! The IMDB movie review sentiment data set, as Keras's `keras.datasets.imdb.load_data()`
//! returns it: 25,000 training and 25,000 test reviews, each a sequence of word indexes
//! ([`Sequences`], `Vec<Vec<i64>>`) ranked by frequency, labelled 0 (negative) or 1 (positive)
//! (`Array1<i64>`).
//!
//! [`LoadOptions`] are Keras's arguments with Keras's defaults: `num_words` (keep the most
//! frequent words, the rest become `oov_char`), `skip_top`, `maxlen` (drop sequences of
//! `maxlen` words or more), `seed` (113), `start_char` (1), `oov_char` (2) and `index_from`
//! (3). Samples are shuffled exactly as Keras shuffles them, with NumPy's `RandomState`
//! reproduced by [`crate::random_state`]. [`get_word_index`] gives the word → index map.
//!
//! `imdb.npz` holds the sequences as pickled NumPy object arrays; they are read with the
//! restricted [`crate::pickle`] reader (NumPy's array reconstruction only), as Keras does.
//!
//! # Examples
//! ```no_run
//! use kiln_datasets::imdb::{self, LoadOptions};
//!
//! let ((x_train, y_train), (x_test, y_test)) =
//!     imdb::load_data_with(&LoadOptions::new().num_words(10_000))?;
//! assert_eq!((x_train.len(), y_train.len()), (25_000, 25_000));
//! assert_eq!(x_test.len(), y_test.len());
//! assert!(x_train.iter().flatten().all(|&w| w < 10_000));
//! assert_eq!(x_train[0][0], 1); // start_char
//! let word_index = imdb::get_word_index()?;
//! assert_eq!(word_index["the"], 1);
//! # Ok::<(), kiln_datasets::Error>(())
//! ```

use std::collections::HashMap;
use std::path::Path;

use ndarray::Array1;

use crate::error::Result;
use crate::npz::{integers, member, parse_member, read_members, sequences};
use crate::random_state::RandomState;
use crate::remote::{KERAS_ORIGIN, KerasFile, Source};
use crate::sequences::{
    Common, check_pairs, drop_long, limit_vocabulary, nothing_kept, reorder, shift,
};

pub use crate::sequences::Sequences;

/// Sequences and their labels.
pub type Split = (Sequences, Array1<i64>);

/// The folder of the data set under the data and cache folders.
pub const NAME: &str = "imdb";

/// The data, as Keras downloads it (`keras/src/datasets/imdb.py`).
pub const FILE: KerasFile = KerasFile {
    name: "imdb.npz",
    origin: KERAS_ORIGIN,
    file_hash: Some("69664113be75683a8fe16e3ed0ab59fda8886cb3cd7ada244f7d9544e4676b9f"),
};

/// The word index, as Keras downloads it (its hash is an MD5).
pub const WORD_INDEX_FILE: KerasFile = KerasFile {
    name: "imdb_word_index.json",
    origin: KERAS_ORIGIN,
    file_hash: Some("bfafd718b763782e994055a2d397834f"),
};

/// Keras's arguments of `imdb.load_data`, with its defaults, and where the file comes from.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    common: Common,
}

impl LoadOptions {
    /// Keras's defaults: all words, `skip_top` 0, no `maxlen`, `seed` 113, `start_char` 1,
    /// `oov_char` 2, `index_from` 3.
    pub fn new() -> Self {
        Self::default()
    }

    /// Keeps the `n` most frequent words (indexes below `n`, after `index_from`); the others
    /// become `oov_char`. `0`, like Keras's falsy value, keeps all.
    pub fn num_words(mut self, n: usize) -> Self {
        self.common.num_words = Some(n);
        self
    }

    /// Also makes the indexes below `n` (the most frequent words, and the reserved ones)
    /// `oov_char`.
    pub fn skip_top(mut self, n: usize) -> Self {
        self.common.skip_top = n;
        self
    }

    /// Drops the sequences of `maxlen` indexes or more (`start_char` included), as Keras does;
    /// `0` keeps all.
    pub fn maxlen(mut self, maxlen: usize) -> Self {
        self.common.maxlen = Some(maxlen);
        self
    }

    /// The shuffling seed (NumPy's `RandomState` seed).
    pub fn seed(mut self, seed: u32) -> Self {
        self.common.seed = seed;
        self
    }

    /// The index each sequence starts with; `None` for none.
    pub fn start_char(mut self, start_char: Option<i64>) -> Self {
        self.common.start_char = start_char;
        self
    }

    /// The index cut words become; `None` drops them instead.
    pub fn oov_char(mut self, oov_char: Option<i64>) -> Self {
        self.common.oov_char = oov_char;
        self
    }

    /// What is added to every word index of the file.
    pub fn index_from(mut self, index_from: i64) -> Self {
        self.common.index_from = index_from;
        self
    }

    /// Where `imdb.npz` comes from.
    pub fn source(mut self, source: Source) -> Self {
        self.common.source = source;
        self
    }
}

/// Loads IMDB with Keras's defaults, downloading it when needed.
///
/// # Errors
/// As [`load_data_with`].
pub fn load_data() -> Result<(Split, Split)> {
    load_data_with(&LoadOptions::new())
}

/// Loads IMDB as `options` say: `((x_train, y_train), (x_test, y_test))`.
///
/// # Errors
/// Those of [`Source::fetch`]; [`crate::Error::CorruptArchive`], [`crate::Error::Npy`],
/// [`crate::Error::Pickle`], [`crate::Error::ForbiddenPickleGlobal`] or
/// [`crate::Error::UnexpectedContent`] for a file that is not IMDB's;
/// [`crate::Error::InvalidArgument`] when `maxlen` leaves no training or no test sequence
/// (Keras's `ValueError`).
pub fn load_data_with(options: &LoadOptions) -> Result<(Split, Split)> {
    let o = &options.common;
    let file = o.source.fetch(NAME, &FILE)?;
    let path = file.path.as_path();
    let members = read_members(path, &file.bytes)?;
    let read_x = |name: &str| {
        let p = path.join(format!("{name}.npy"));
        sequences(&p, &parse_member(&p, member(path, &members, name)?)?)
    };
    let read_y = |name: &str| {
        let p = path.join(format!("{name}.npy"));
        integers(&p, &parse_member(&p, member(path, &members, name)?)?)
    };
    let (x_train, y_train) = (read_x("x_train")?, read_y("y_train")?);
    let (x_test, y_test) = (read_x("x_test")?, read_y("y_test")?);
    drop(members);
    check_pairs(path, &x_train, &y_train, "the training set")?;
    check_pairs(path, &x_test, &y_test, "the test set")?;

    // One generator: the training order, then the test order.
    let mut rng = RandomState::new(o.seed);
    let order = rng.permutation(x_train.len());
    let (x_train, y_train) = (reorder(x_train, &order), reorder(y_train, &order));
    let order = rng.permutation(x_test.len());
    let (x_test, y_test) = (reorder(x_test, &order), reorder(y_test, &order));

    let x_train = shift(path, x_train, o.start_char, o.index_from)?;
    let x_test = shift(path, x_test, o.start_char, o.index_from)?;
    let (x_train, y_train) = drop_long(o.maxlen, x_train, y_train);
    let (x_test, y_test) = drop_long(o.maxlen, x_test, y_test);
    if o.maxlen.is_some_and(|m| m > 0) && (x_train.is_empty() || x_test.is_empty()) {
        return Err(nothing_kept(o.maxlen));
    }

    let n_train = x_train.len();
    let mut xs = x_train;
    xs.extend(x_test);
    let mut xs = limit_vocabulary(xs, o.num_words, o.skip_top, o.oov_char);
    let x_test = xs.split_off(n_train);
    Ok((
        (xs, Array1::from_vec(y_train)),
        (x_test, Array1::from_vec(y_test)),
    ))
}

/// Loads IMDB from `dir` (no search, no download): `imdb.npz`, checked against the hash of
/// `options`' source (Keras's unless it gives another).
///
/// # Errors
/// As [`load_data_with`].
pub fn load_data_from(dir: impl AsRef<Path>, options: &LoadOptions) -> Result<(Split, Split)> {
    let source = options
        .common
        .source
        .clone()
        .cache_dir(dir.as_ref())
        .offline();
    load_data_with(&options.clone().source(source))
}

/// The word index: word → index in the data (before `index_from` is added; 1 is the most
/// frequent word), downloading it when needed.
///
/// # Errors
/// As [`get_word_index_with`].
pub fn get_word_index() -> Result<HashMap<String, i64>> {
    get_word_index_with(&Source::new())
}

/// The word index, from `source`.
///
/// # Errors
/// Those of [`Source::fetch`] (its hash is Keras's MD5), [`crate::Error::Json`] for a file
/// that is not a JSON object of integers.
pub fn get_word_index_with(source: &Source) -> Result<HashMap<String, i64>> {
    crate::sequences::word_index(source, NAME, &WORD_INDEX_FILE)
}
