//! The Reuters newswire topic data set, as Keras's `keras.datasets.reuters.load_data()`
//! returns it: 11,228 newswires, each a sequence of word indexes ([`Sequences`],
//! `Vec<Vec<i64>>`) ranked by frequency, labelled over 46 topics (`Array1<i64>`,
//! [`get_label_names`]), shuffled and split into training and test sets by `test_split`
//! (8,982 and 2,246 with the default 0.2).
//!
//! [`LoadOptions`] are Keras's arguments with Keras's defaults, as for [`crate::imdb`], plus
//! `test_split`. The shuffle is NumPy's, reproduced by [`crate::random_state`].
//!
//! # Examples
//! ```no_run
//! use kiln_datasets::reuters::{self, LoadOptions};
//!
//! let ((x_train, y_train), (x_test, y_test)) =
//!     reuters::load_data_with(&LoadOptions::new().num_words(10_000).test_split(0.2))?;
//! assert_eq!((x_train.len(), x_test.len()), (8982, 2246));
//! assert!(y_train.iter().chain(&y_test).all(|&t| (0..46).contains(&t)));
//! assert_eq!(reuters::get_label_names()[3], "earn");
//! let word_index = reuters::get_word_index()?;
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
    Common, check_pairs, check_test_split, drop_long, limit_vocabulary, nothing_kept, reorder,
    shift, split_point,
};

pub use crate::sequences::Sequences;

/// Sequences and their topic labels.
pub type Split = (Sequences, Array1<i64>);

/// The folder of the data set under the data and cache folders.
pub const NAME: &str = "reuters";

/// The data, as Keras downloads it (`keras/src/datasets/reuters.py`).
pub const FILE: KerasFile = KerasFile {
    name: "reuters.npz",
    origin: KERAS_ORIGIN,
    file_hash: Some("d6586e694ee56d7a4e65172e12b3e987c03096cb01eab99753921ef915959916"),
};

/// The word index, as Keras downloads it (its hash is an MD5).
pub const WORD_INDEX_FILE: KerasFile = KerasFile {
    name: "reuters_word_index.json",
    origin: KERAS_ORIGIN,
    file_hash: Some("4d44cc38712099c9e383dc6e5f11a921"),
};

/// The 46 topics, by label (Keras's `reuters.get_label_names()`).
pub const LABEL_NAMES: [&str; 46] = [
    "cocoa",
    "grain",
    "veg-oil",
    "earn",
    "acq",
    "wheat",
    "copper",
    "housing",
    "money-supply",
    "coffee",
    "sugar",
    "trade",
    "reserves",
    "ship",
    "cotton",
    "carcass",
    "crude",
    "nat-gas",
    "cpi",
    "money-fx",
    "interest",
    "gnp",
    "meal-feed",
    "alum",
    "oilseed",
    "gold",
    "tin",
    "strategic-metal",
    "livestock",
    "retail",
    "ipi",
    "iron-steel",
    "rubber",
    "heat",
    "jobs",
    "lei",
    "bop",
    "zinc",
    "orange",
    "pet-chem",
    "dlr",
    "gas",
    "silver",
    "wpi",
    "hog",
    "lead",
];

/// Keras's arguments of `reuters.load_data`, with its defaults, and where the file comes from.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    common: Common,
    test_split: f64,
}

impl Default for LoadOptions {
    fn default() -> Self {
        Self {
            common: Common::default(),
            test_split: 0.2,
        }
    }
}

impl LoadOptions {
    /// Keras's defaults: all words, `skip_top` 0, no `maxlen`, `test_split` 0.2, `seed` 113,
    /// `start_char` 1, `oov_char` 2, `index_from` 3.
    pub fn new() -> Self {
        Self::default()
    }

    /// Keeps the `n` most frequent words (indexes below `n`, after `index_from`); the others
    /// become `oov_char`. `0`, like Keras's falsy value, keeps all.
    pub fn num_words(mut self, n: usize) -> Self {
        self.common.num_words = Some(n);
        self
    }

    /// Also makes the indexes below `n` `oov_char`.
    pub fn skip_top(mut self, n: usize) -> Self {
        self.common.skip_top = n;
        self
    }

    /// Drops the sequences of `maxlen` indexes or more (`start_char` included); `0` keeps all.
    pub fn maxlen(mut self, maxlen: usize) -> Self {
        self.common.maxlen = Some(maxlen);
        self
    }

    /// The fraction of the (shuffled) newswires that form the test set, in `0..=1`.
    pub fn test_split(mut self, test_split: f64) -> Self {
        self.test_split = test_split;
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

    /// Where `reuters.npz` comes from.
    pub fn source(mut self, source: Source) -> Self {
        self.common.source = source;
        self
    }
}

/// Loads Reuters with Keras's defaults, downloading it when needed.
///
/// # Errors
/// As [`load_data_with`].
pub fn load_data() -> Result<(Split, Split)> {
    load_data_with(&LoadOptions::new())
}

/// Loads Reuters as `options` say: `((x_train, y_train), (x_test, y_test))`.
///
/// # Errors
/// [`crate::Error::InvalidArgument`] for a `test_split` outside `0..=1`, or when `maxlen`
/// leaves no sequence and `num_words` is not given (Keras fails there too); those of
/// [`Source::fetch`]; [`crate::Error::CorruptArchive`], [`crate::Error::Npy`],
/// [`crate::Error::Pickle`], [`crate::Error::ForbiddenPickleGlobal`] or
/// [`crate::Error::UnexpectedContent`] for a file that is not Reuters'.
pub fn load_data_with(options: &LoadOptions) -> Result<(Split, Split)> {
    check_test_split(options.test_split, true)?;
    let o = &options.common;
    let file = o.source.fetch(NAME, &FILE)?;
    let path = file.path.as_path();
    let members = read_members(path, &file.bytes)?;
    let px = path.join("x.npy");
    let xs = sequences(&px, &parse_member(&px, member(path, &members, "x")?)?)?;
    let py = path.join("y.npy");
    let labels = integers(&py, &parse_member(&py, member(path, &members, "y")?)?)?;
    drop(members);
    check_pairs(path, &xs, &labels, "the file")?;

    let order = RandomState::new(o.seed).permutation(xs.len());
    let (xs, labels) = (reorder(xs, &order), reorder(labels, &order));
    let xs = shift(path, xs, o.start_char, o.index_from)?;
    let (xs, mut labels) = drop_long(o.maxlen, xs, labels);
    if xs.is_empty() && o.num_words.is_none_or(|n| n == 0) {
        return Err(nothing_kept(o.maxlen));
    }
    let mut x_train = limit_vocabulary(xs, o.num_words, o.skip_top, o.oov_char);

    let idx = split_point(x_train.len(), options.test_split);
    let x_test = x_train.split_off(idx);
    let y_test = labels.split_off(idx);
    Ok((
        (x_train, Array1::from_vec(labels)),
        (x_test, Array1::from_vec(y_test)),
    ))
}

/// Loads Reuters from `dir` (no search, no download): `reuters.npz`, checked against the hash
/// of `options`' source.
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

/// The word index: word → index in the data (before `index_from` is added), downloading it
/// when needed.
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

/// The 46 topic names, indexed by label.
pub fn get_label_names() -> [&'static str; 46] {
    LABEL_NAMES
}
