//! What the IMDB and Reuters loaders share: word-index sequences, Keras's preparation of them
//! (`start_char`, `index_from`, `maxlen`, `num_words`, `skip_top`, `oov_char`), and the word
//! index files.
//!
//! Sequences are [`Sequences`], `Vec<Vec<i64>>`: one `Vec` of word indexes per review or
//! newswire, as Keras's object arrays of Python lists of `int` hold them (`i64` so that any
//! `start_char`, `oov_char` or `index_from` Keras accepts fits). Labels are `i64`, the NumPy
//! `int64` of the files.
//!
//! # Examples
//! ```
//! use kiln_datasets::sequences::Sequences;
//!
//! // Decoding a sequence with a word index, as in Keras's `get_word_index` example.
//! let word_index = std::collections::HashMap::from([("the".to_string(), 1i64), ("film".into(), 2)]);
//! let (start_char, oov_char, index_from) = (1, 2, 3);
//! let mut inverted: std::collections::HashMap<i64, &str> =
//!     word_index.iter().map(|(w, &i)| (i + index_from, w.as_str())).collect();
//! inverted.insert(start_char, "[START]");
//! inverted.insert(oov_char, "[OOV]");
//! let x: Sequences = vec![vec![1, 4, 5, 2]];
//! let text: Vec<&str> = x[0].iter().map(|i| inverted[i]).collect();
//! assert_eq!(text.join(" "), "[START] the film [OOV]");
//! ```

use std::collections::HashMap;
use std::path::Path;

use crate::error::{Error, Result};
use crate::remote::{KerasFile, Source};

/// Sequences of word indexes, one per sample.
pub type Sequences = Vec<Vec<i64>>;

/// Keras's options shared by `imdb.load_data` and `reuters.load_data`, with its defaults.
#[derive(Debug, Clone)]
pub(crate) struct Common {
    pub(crate) num_words: Option<usize>,
    pub(crate) skip_top: usize,
    pub(crate) maxlen: Option<usize>,
    pub(crate) seed: u32,
    pub(crate) start_char: Option<i64>,
    pub(crate) oov_char: Option<i64>,
    pub(crate) index_from: i64,
    pub(crate) source: Source,
}

impl Default for Common {
    fn default() -> Self {
        Self {
            num_words: None,
            skip_top: 0,
            maxlen: None,
            seed: 113,
            start_char: Some(1),
            oov_char: Some(2),
            index_from: 3,
            source: Source::new(),
        }
    }
}

/// `x[indices]`: the items in the order `order` (a permutation of their positions) gives.
pub(crate) fn reorder<T>(items: Vec<T>, order: &[usize]) -> Vec<T> {
    let mut slots: Vec<Option<T>> = items.into_iter().map(Some).collect();
    order
        .iter()
        .filter_map(|&i| slots.get_mut(i).and_then(Option::take))
        .collect()
}

/// Prepends `start_char` and adds `index_from` to every word, as Keras does (`index_from` is
/// added only when there is a start character or it is not 0).
pub(crate) fn shift(
    path: &Path,
    xs: Sequences,
    start_char: Option<i64>,
    index_from: i64,
) -> Result<Sequences> {
    if start_char.is_none() && index_from == 0 {
        return Ok(xs);
    }
    let overflow = |w: i64| Error::UnexpectedContent {
        path: path.to_path_buf(),
        reason: format!("the word index {w} plus index_from {index_from} overflows"),
    };
    xs.into_iter()
        .map(|x| {
            let mut out = Vec::with_capacity(x.len() + usize::from(start_char.is_some()));
            out.extend(start_char);
            for w in x {
                out.push(w.checked_add(index_from).ok_or_else(|| overflow(w))?);
            }
            Ok(out)
        })
        .collect()
}

/// Keras's `remove_long_seq`: keeps the sequences shorter than `maxlen` (and their labels).
/// `None` or `Some(0)` keeps everything, as Keras's `if maxlen:` does.
pub(crate) fn drop_long(
    maxlen: Option<usize>,
    xs: Sequences,
    labels: Vec<i64>,
) -> (Sequences, Vec<i64>) {
    match maxlen.filter(|&m| m > 0) {
        None => (xs, labels),
        Some(m) => xs
            .into_iter()
            .zip(labels)
            .filter(|(x, _)| x.len() < m)
            .unzip(),
    }
}

/// Keras's vocabulary cut: words outside `skip_top <= w < num_words` become `oov_char`, or
/// are dropped when there is none. Without `num_words` (or with 0, as Keras's
/// `if not num_words:`), `num_words` is the largest index present, so that word itself falls
/// outside the range, exactly as in Keras.
pub(crate) fn limit_vocabulary(
    xs: Sequences,
    num_words: Option<usize>,
    skip_top: usize,
    oov_char: Option<i64>,
) -> Sequences {
    let bound = match num_words.filter(|&n| n > 0) {
        Some(n) => Some(i64::try_from(n).unwrap_or(i64::MAX)),
        None => xs.iter().flatten().copied().max(),
    };
    let Some(bound) = bound else {
        return xs; // no word at all: nothing to cut
    };
    let low = i64::try_from(skip_top).unwrap_or(i64::MAX);
    let keep = |w: i64| low <= w && w < bound;
    xs.into_iter()
        .map(|x| match oov_char {
            Some(oov) => x
                .into_iter()
                .map(|w| if keep(w) { w } else { oov })
                .collect(),
            None => x.into_iter().filter(|&w| keep(w)).collect(),
        })
        .collect()
}

/// Checks that sequences and labels pair up.
pub(crate) fn check_pairs(path: &Path, xs: &Sequences, ys: &[i64], what: &str) -> Result<()> {
    if xs.len() != ys.len() {
        return Err(Error::UnexpectedContent {
            path: path.to_path_buf(),
            reason: format!("{} sequences but {} labels in {what}", xs.len(), ys.len()),
        });
    }
    Ok(())
}

/// The error Keras raises when `maxlen` leaves nothing.
pub(crate) fn nothing_kept(maxlen: Option<usize>) -> Error {
    Error::InvalidArgument {
        name: "maxlen",
        reason: format!(
            "after filtering for sequences shorter than maxlen={}, no sequence was kept; increase maxlen",
            maxlen.unwrap_or(0)
        ),
    }
}

/// The split point Keras computes: `int(n * (1 - test_split))`.
pub(crate) fn split_point(n: usize, test_split: f64) -> usize {
    // Non-negative and at most `n`: the float-to-int cast truncates like Python's `int`.
    (n as f64 * (1.0 - test_split)) as usize
}

/// Checks a `test_split` in `0 <= test_split < 1` (`<= 1` when `inclusive`).
pub(crate) fn check_test_split(test_split: f64, inclusive: bool) -> Result<()> {
    let ok = test_split >= 0.0 && (test_split < 1.0 || (inclusive && test_split <= 1.0));
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidArgument {
            name: "test_split",
            reason: format!(
                "{test_split} must be between 0 and 1 ({} of 1)",
                if inclusive { "inclusive" } else { "exclusive" }
            ),
        })
    }
}

/// Loads a word index (`{"word": index}` JSON) of data set `dataset`.
pub(crate) fn word_index(
    source: &Source,
    dataset: &str,
    file: &KerasFile,
) -> Result<HashMap<String, i64>> {
    let fetched = source.fetch(dataset, file)?;
    serde_json::from_slice(&fetched.bytes).map_err(|source| Error::Json {
        path: fetched.path,
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keras_preparation_steps() {
        let p = Path::new("x");
        assert!(shift(p, vec![vec![0, 1]], Some(1), 3).is_ok_and(|x| x == vec![vec![1, 3, 4]]));
        assert!(shift(p, vec![vec![0, 1]], None, 3).is_ok_and(|x| x == vec![vec![3, 4]]));
        assert!(shift(p, vec![vec![0, 1]], None, 0).is_ok_and(|x| x == vec![vec![0, 1]]));
        assert!(shift(p, vec![vec![i64::MAX]], None, 3).is_err());
        let (x, y) = drop_long(Some(3), vec![vec![1, 2], vec![1, 2, 3]], vec![7, 8]);
        assert_eq!((x, y), (vec![vec![1, 2]], vec![7]));
        // Without num_words the largest index (9) is itself out of range, as in Keras.
        let cut = limit_vocabulary(vec![vec![1, 5, 9], vec![3]], None, 2, Some(0));
        assert_eq!(cut, vec![vec![0, 5, 0], vec![3]]);
        let dropped = limit_vocabulary(vec![vec![1, 5, 9]], Some(6), 0, None);
        assert_eq!(dropped, vec![vec![1, 5]]);
        assert_eq!(reorder(vec!['a', 'b', 'c'], &[2, 0, 1]), ['c', 'a', 'b']);
        assert_eq!(split_point(506, 0.2), 404);
        assert_eq!(split_point(11228, 0.2), 8982);
        assert_eq!(split_point(10, 0.0), 10);
        assert!(check_test_split(1.0, false).is_err());
        assert!(check_test_split(1.0, true).is_ok());
        assert!(check_test_split(f64::NAN, true).is_err());
    }
}
