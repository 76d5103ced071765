//! Keras's `StringLookup` and `IntegerLookup` on the host: tokens (strings or integers) mapped
//! to indices of a vocabulary given or learned with `adapt`, as ids or as one-hot, multi-hot,
//! count or TF-IDF vectors; `invert` maps indices back. Like [`crate::TextVectorization`],
//! they run over a data set's batches before the device (`Dataset` mapping), as Keras's
//! tutorials map them over a `tf.data` pipeline.

use std::collections::HashMap;
use std::hash::Hash;

use ndarray::{ArrayD, IxDyn};

use crate::array::HostArray;
use crate::error::{Error, Result};

/// What a lookup gives (Keras's `output_mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LookupMode {
    /// One index per token, same shape as the input.
    Int,
    /// A vector per token (`[n]` → `[n, vocabulary]`).
    OneHot,
    /// Per sample, 1 for each index present.
    MultiHot,
    /// Per sample, how many times each index occurs.
    Count,
    /// Per sample, counts times inverse document frequencies.
    TfIdf,
}

/// The lookup shared by [`StringLookup`] and [`IntegerLookup`]: reserved mask and
/// out-of-vocabulary entries first, then the tokens, Keras's layout.
#[derive(Debug, Clone)]
pub struct IndexLookup<T> {
    /// The most entries, the reserved ones included (Keras `max_tokens`).
    pub max_tokens: Option<usize>,
    /// The token that maps to 0 and pads in `Int` mode, and is dropped in the vector modes
    /// (Keras `mask_token`, none by default).
    pub mask_token: Option<T>,
    /// What an out-of-vocabulary token is called in the vocabulary (Keras `oov_token`).
    pub oov_token: T,
    /// What `call` gives.
    pub output_mode: LookupMode,
    /// With the vector modes, make vectors `max_tokens` wide.
    pub pad_to_max_tokens: bool,
    /// Map indices back to tokens (Keras `invert`, `Int` mode).
    pub invert: bool,
    /// How many indices out-of-vocabulary tokens share, each token hashed to one (Keras
    /// `num_oov_indices`, default 1; 0 makes an unknown token an error).
    pub num_oov_indices: usize,
    /// SipHash's key for those hashes (Keras `salt`); FarmHash `Fingerprint64` without.
    pub salt: Option<[u64; 2]>,
    /// For integers: hash their decimal text (Keras `oov_method="farmhash"`) instead of the
    /// default `floormod`.
    pub farmhash_integers: bool,
    tokens: Vec<T>,
    index: HashMap<T, usize>,
    idf: Vec<f32>,
}

/// Keras's `StringLookup`.
///
/// # Examples
/// ```
/// use kiln_datasets::{HostArray, StringLookup};
/// let mut lookup = StringLookup::new();
/// lookup.set_vocabulary(["a", "b", "c"].map(String::from).to_vec(), None)?;
/// assert_eq!(lookup.vocabulary(), ["[UNK]", "a", "b", "c"]);
/// let ids = lookup.call(&ndarray::array![["a", "c"], ["d", "a"]].mapv(String::from).into_dyn())?;
/// assert_eq!(ids, HostArray::from(ndarray::array![[1i64, 3], [0, 1]]));
/// # Ok::<(), kiln_datasets::Error>(())
/// ```
pub type StringLookup = IndexLookup<String>;

/// Keras's `IntegerLookup` (no mask token and out-of-vocabulary token -1 by default).
///
/// # Examples
/// ```
/// use kiln_datasets::{HostArray, IntegerLookup};
/// let mut lookup = IntegerLookup::new();
/// lookup.adapt([12i64, 36, 12, 1138, 42, 12, 36])?;
/// assert_eq!(lookup.vocabulary(), [-1, 12, 36, 1138, 42]); // ties: larger first, as Keras
/// let ids = lookup.call(&ndarray::array![[12i64, 1000], [36, 42]].into_dyn())?;
/// assert_eq!(ids, HostArray::from(ndarray::array![[1i64, 0], [2, 4]]));
/// # Ok::<(), kiln_datasets::Error>(())
/// ```
pub type IntegerLookup = IndexLookup<i64>;

impl StringLookup {
    /// Keras's defaults: no mask token, one out-of-vocabulary index called `"[UNK]"`, `Int`.
    pub fn new() -> Self {
        Self::with_reserved(None, "[UNK]".to_string())
    }
}

impl Default for StringLookup {
    fn default() -> Self {
        Self::new()
    }
}

impl IntegerLookup {
    /// Keras's defaults: no mask token, out-of-vocabulary token -1, `Int`.
    pub fn new() -> Self {
        Self::with_reserved(None, -1)
    }
}

impl Default for IntegerLookup {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: LookupToken> IndexLookup<T> {
    fn with_reserved(mask_token: Option<T>, oov_token: T) -> Self {
        Self {
            max_tokens: None,
            mask_token,
            oov_token,
            output_mode: LookupMode::Int,
            pad_to_max_tokens: false,
            invert: false,
            num_oov_indices: 1,
            salt: None,
            farmhash_integers: false,
            tokens: Vec::new(),
            index: HashMap::new(),
            idf: Vec::new(),
        }
    }

    /// Keeps at most `max_tokens` entries, the reserved ones included.
    pub fn max_tokens(mut self, max_tokens: usize) -> Self {
        self.max_tokens = Some(max_tokens);
        self
    }

    /// Sets the mask token (`None`: no mask).
    pub fn mask_token(mut self, mask: Option<T>) -> Self {
        self.mask_token = mask;
        self
    }

    /// Sets the output mode.
    pub fn output_mode(mut self, mode: LookupMode) -> Self {
        self.output_mode = mode;
        self
    }

    /// Makes vectors `max_tokens` wide.
    pub fn pad_to_max_tokens(mut self, pad: bool) -> Self {
        self.pad_to_max_tokens = pad;
        self
    }

    /// Maps indices back to tokens.
    pub fn invert(mut self, invert: bool) -> Self {
        self.invert = invert;
        self
    }

    fn invalid(reason: impl Into<String>) -> Error {
        Error::InvalidArgument {
            name: "IndexLookup",
            reason: reason.into(),
        }
    }

    /// The mask token, when it has an index (`Int` mode only, as Keras).
    fn indexed_mask(&self) -> Option<&T> {
        self.mask_token
            .as_ref()
            .filter(|_| self.output_mode == LookupMode::Int)
    }

    /// The reserved entries: the mask token (in `Int` mode, when there is one), then the
    /// out-of-vocabulary token once per out-of-vocabulary index.
    fn reserved(&self) -> Vec<T> {
        self.indexed_mask()
            .cloned()
            .into_iter()
            .chain(std::iter::repeat_n(
                self.oov_token.clone(),
                self.num_oov_indices,
            ))
            .collect()
    }

    /// The index of the out-of-vocabulary `token` (`None` without out-of-vocabulary indices).
    fn oov_index(&self, token: &T) -> Option<usize> {
        let start = usize::from(self.indexed_mask().is_some());
        match self.num_oov_indices {
            0 => None,
            1 => Some(start),
            k => {
                let bucket = token.bucket(k as u64, self.salt, self.farmhash_integers);
                Some(start + bucket as usize)
            }
        }
    }

    /// The vocabulary, reserved entries first (Keras's `get_vocabulary()`).
    pub fn vocabulary(&self) -> Vec<T> {
        self.reserved()
            .into_iter()
            .chain(self.tokens.iter().cloned())
            .collect()
    }

    /// The inverse document frequencies, one per vocabulary entry (`TfIdf`).
    pub fn idf_weights(&self) -> &[f32] {
        &self.idf
    }

    /// Sets the tokens after the reserved entries (Keras's `set_vocabulary`; a vocabulary that
    /// starts with the reserved entries is taken as it is); `idf`, one per token, for
    /// `TfIdf`.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a repeated token, a reserved token among the others, too
    /// many tokens for `max_tokens`, or missing IDF weights.
    pub fn set_vocabulary(&mut self, tokens: Vec<T>, idf: Option<Vec<f32>>) -> Result<()> {
        let reserved = self.reserved();
        let tokens = if tokens.starts_with(&reserved) {
            tokens[reserved.len()..].to_vec()
        } else {
            tokens
        };
        let mut index = HashMap::with_capacity(tokens.len());
        for (i, t) in tokens.iter().enumerate() {
            // Past the reserved prefix the out-of-vocabulary token is an ordinary token, as
            // in Keras; the mask token may not appear.
            if self.mask_token.as_ref() == Some(t) || (self.invert && *t == self.oov_token) {
                return Err(Self::invalid(format!(
                    "the vocabulary holds the reserved token {t:?}"
                )));
            }
            if index.insert(t.clone(), reserved.len() + i).is_some() {
                return Err(Self::invalid(format!("the vocabulary holds {t:?} twice")));
            }
        }
        if let Some(max) = self.max_tokens
            && reserved.len() + tokens.len() > max
        {
            return Err(Self::invalid(format!(
                "{} entries, more than max_tokens {max}",
                reserved.len() + tokens.len()
            )));
        }
        let full = reserved.len() + tokens.len();
        self.idf = match (self.output_mode, idf) {
            // A full vector (reserved slots first), possibly padded with zeros to max_tokens.
            (LookupMode::TfIdf, Some(mut w))
                if w.len() >= full
                    && w[full..].iter().all(|&v| v == 0.0)
                    && w.len() != tokens.len() =>
            {
                w.truncate(full);
                w
            }
            (LookupMode::TfIdf, Some(w)) if w.len() == tokens.len() => {
                let mean = if w.is_empty() {
                    0.0
                } else {
                    w.iter().sum::<f32>() / w.len() as f32
                };
                // Out-of-vocabulary tokens weigh the mean.
                std::iter::repeat_n(mean, self.num_oov_indices)
                    .chain(w)
                    .collect()
            }
            (LookupMode::TfIdf, _) => {
                return Err(Self::invalid("tf_idf needs one idf weight per token"));
            }
            _ => Vec::new(),
        };
        self.tokens = tokens;
        self.index = index;
        Ok(())
    }

    /// Learns the vocabulary from `tokens` (Keras's `adapt`): by decreasing count, ties in
    /// decreasing order, cut to `max_tokens`; the mask token is not counted.
    ///
    /// # Errors
    /// As [`IndexLookup::set_vocabulary`]; `max_tokens` too small for the reserved entries.
    pub fn adapt(&mut self, tokens: impl IntoIterator<Item = T>) -> Result<()> {
        let reserved = self.reserved();
        if self.max_tokens.is_some_and(|m| m < reserved.len()) {
            return Err(Self::invalid(
                "max_tokens is smaller than the reserved entries",
            ));
        }
        let mut counts: HashMap<T, u64> = HashMap::new();
        for t in tokens {
            if !reserved.contains(&t) && self.mask_token.as_ref() != Some(&t) {
                *counts.entry(t).or_insert(0) += 1;
            }
        }
        let mut sorted: Vec<(T, u64)> = counts.into_iter().collect();
        sorted.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| b.0.cmp(&a.0)));
        if let Some(max) = self.max_tokens {
            sorted.truncate(max - reserved.len());
        }
        let tokens: Vec<T> = sorted.into_iter().map(|(t, _)| t).collect();
        if self.output_mode == LookupMode::TfIdf {
            return Err(Self::invalid(
                "adapt with tf_idf needs documents; give idf weights with set_vocabulary",
            ));
        }
        self.set_vocabulary(tokens, None)
    }

    /// The index of `token`; `usize::MAX` for a mask token that the vector modes drop.
    ///
    /// # Errors
    /// An unknown token without out-of-vocabulary indices.
    fn lookup(&self, token: &T) -> Result<usize> {
        if self.mask_token.as_ref() == Some(token) {
            return Ok(if self.output_mode == LookupMode::Int {
                0
            } else {
                usize::MAX
            });
        }
        match self.index.get(token) {
            Some(&i) => Ok(i),
            None => self.oov_index(token).ok_or_else(|| {
                Self::invalid(format!(
                    "{token:?} is not in the vocabulary and num_oov_indices is 0"
                ))
            }),
        }
    }

    fn width(&self) -> usize {
        match (self.pad_to_max_tokens, self.max_tokens) {
            (true, Some(max)) => max,
            _ => self.reserved().len() + self.tokens.len(),
        }
    }

    /// Looks up every token of `tokens` (Keras's `layer(x)`): `Int` keeps the shape (`i64`
    /// indices); `OneHot` adds an axis of the vocabulary's size (replacing a last axis of 1);
    /// the other modes count per sample (`f32`): a rank-1 batch is one sample (`[depth]`),
    /// `[n, k]` gives `[n, depth]`, and a rank-3 `[n, a, b]` is reduced over its axis 1 to
    /// `[n, b, depth]`, as Keras.
    ///
    /// # Errors
    /// Only for an inconsistent array, which construction rules out.
    pub fn call(&self, tokens: &ArrayD<T>) -> Result<HostArray> {
        let ids: Vec<usize> = tokens
            .iter()
            .map(|t| self.lookup(t))
            .collect::<Result<_>>()?;
        let shape = tokens.shape().to_vec();
        if self.output_mode == LookupMode::Int {
            let ids = ids.into_iter().map(|i| i as i64).collect();
            return ArrayD::from_shape_vec(IxDyn(&shape), ids)
                .map(HostArray::I64)
                .map_err(|e| Self::invalid(e.to_string()));
        }
        encode_ids(&ids, &shape, self.width(), self.output_mode, &self.idf).map_err(Self::invalid)
    }

    /// Maps indices back to their tokens (Keras's `invert=True`); an index past the vocabulary
    /// gives the out-of-vocabulary token.
    pub fn invert_call(&self, ids: &ArrayD<i64>) -> ArrayD<T> {
        let vocabulary = self.vocabulary();
        ids.mapv(|i| {
            usize::try_from(i)
                .ok()
                .and_then(|i| vocabulary.get(i).cloned())
                .unwrap_or_else(|| self.oov_token.clone())
        })
    }
}

/// A token a lookup takes: strings and integers, each with Keras's hash into several
/// out-of-vocabulary indices.
pub trait LookupToken: Clone + Eq + Hash + Ord + std::fmt::Debug {
    /// The out-of-vocabulary bucket of this token among `k`.
    fn bucket(&self, k: u64, salt: Option<[u64; 2]>, farmhash_integers: bool) -> u64;
}

fn keyed(bytes: &[u8], salt: Option<[u64; 2]>) -> u64 {
    use std::hash::Hasher;
    match salt {
        None => crate::fingerprint::fingerprint64(bytes),
        Some([k0, k1]) => {
            let mut h = siphasher::sip::SipHasher24::new_with_keys(k0, k1);
            h.write(bytes);
            h.finish()
        }
    }
}

impl LookupToken for String {
    fn bucket(&self, k: u64, salt: Option<[u64; 2]>, _: bool) -> u64 {
        keyed(self.as_bytes(), salt) % k
    }
}

impl LookupToken for i64 {
    fn bucket(&self, k: u64, salt: Option<[u64; 2]>, farmhash_integers: bool) -> u64 {
        if farmhash_integers {
            keyed(self.to_string().as_bytes(), salt) % k
        } else {
            // Keras's default `floormod`: never negative.
            self.rem_euclid(k as i64) as u64
        }
    }
}

/// Ids (`usize::MAX`: dropped) of an array of `shape` as `mode` vectors `width` wide (the
/// lookup layers' and `Hashing`'s rule): `OneHot` adds an axis (replacing a last axis of 1);
/// the counting modes give `[depth]` for rank 1 (one sample), `[n, depth]` for `[n, k]`, and
/// reduce axis 1 of higher ranks; `TfIdf` multiplies counts by `idf`.
pub(crate) fn encode_ids(
    ids: &[usize],
    shape: &[usize],
    width: usize,
    mode: LookupMode,
    idf: &[f32],
) -> std::result::Result<HostArray, String> {
    let one_hot = mode == LookupMode::OneHot;
    let rest: usize = shape.get(2..).map_or(1, |r| r.iter().product());
    let (rows, mut dims): (usize, Vec<usize>) = if one_hot {
        let mut dims = shape.to_vec();
        if dims.len() >= 2 && dims.last() == Some(&1) {
            dims.pop();
        }
        (ids.len(), dims)
    } else if shape.len() <= 1 {
        (1, Vec::new())
    } else {
        let mut dims = vec![shape[0]];
        dims.extend_from_slice(&shape[2..]);
        (shape[0] * rest, dims)
    };
    let row_of = |f: usize| -> usize {
        if one_hot {
            f
        } else if shape.len() <= 1 {
            0
        } else {
            (f / (shape[1] * rest)) * rest + f % rest
        }
    };
    let mut out = vec![0.0f32; rows * width];
    for (f, &id) in ids.iter().enumerate() {
        if id < width {
            let cell = &mut out[row_of(f) * width + id];
            match mode {
                LookupMode::OneHot | LookupMode::MultiHot => *cell = 1.0,
                _ => *cell += 1.0,
            }
        }
    }
    if mode == LookupMode::TfIdf {
        for row in out.chunks_mut(width) {
            for (cell, w) in row.iter_mut().zip(idf) {
                *cell *= w;
            }
        }
    }
    dims.push(width);
    ArrayD::from_shape_vec(IxDyn(&dims), out)
        .map(HostArray::F32)
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    //! The examples of Keras's `StringLookup` and `IntegerLookup` documentation, with the
    //! outputs the documentation gives.
    use super::*;
    use ndarray::array;

    fn strings(rows: &[&[&str]]) -> ArrayD<String> {
        let (n, k) = (rows.len(), rows.first().map_or(0, |r| r.len()));
        let flat: Vec<String> = rows
            .iter()
            .flat_map(|r| r.iter().map(|s| (*s).to_string()))
            .collect();
        ArrayD::from_shape_vec(IxDyn(&[n, k]), flat)
            .unwrap_or_else(|_| ArrayD::from_elem(IxDyn(&[0]), String::new()))
    }

    fn vocab(tokens: &[&str]) -> Vec<String> {
        tokens.iter().map(|s| (*s).to_string()).collect()
    }

    fn values(h: Result<HostArray>) -> Vec<f32> {
        h.map(|h| h.to_f32_vec()).unwrap_or_default()
    }

    #[test]
    fn string_lookup_matches_the_keras_documentation() {
        let data = strings(&[&["a", "c", "d"], &["d", "z", "b"]]);
        let mut lookup = StringLookup::new();
        lookup
            .set_vocabulary(vocab(&["a", "b", "c", "d"]), None)
            .unwrap_or_default();
        assert_eq!(values(lookup.call(&data)), [1.0, 3.0, 4.0, 4.0, 0.0, 2.0]);
        let mut adapted = StringLookup::new();
        adapted.adapt(data.iter().cloned()).unwrap_or_default();
        assert_eq!(
            adapted.vocabulary(),
            vocab(&["[UNK]", "d", "z", "c", "b", "a"])
        );
        let many = strings(&[&["a", "c", "d", "d"], &["d", "z", "b", "z"]]);
        let mut hot = StringLookup::new().output_mode(LookupMode::MultiHot);
        hot.set_vocabulary(vocab(&["a", "b", "c", "d"]), None)
            .unwrap_or_default();
        assert_eq!(
            values(hot.call(&many)),
            [0., 1., 0., 1., 1., 1., 0., 1., 0., 1.]
        );
        let mut count = StringLookup::new().output_mode(LookupMode::Count);
        count
            .set_vocabulary(vocab(&["a", "b", "c", "d"]), None)
            .unwrap_or_default();
        assert_eq!(
            values(count.call(&many)),
            [0., 1., 0., 1., 2., 2., 0., 1., 0., 1.]
        );
        let mut tfidf = StringLookup::new().output_mode(LookupMode::TfIdf);
        tfidf
            .set_vocabulary(
                vocab(&["a", "b", "c", "d"]),
                Some(vec![0.25, 0.75, 0.6, 0.4]),
            )
            .unwrap_or_default();
        let got = values(tfidf.call(&many));
        let expected = [0.0, 0.25, 0.0, 0.6, 0.8, 1.0, 0.0, 0.75, 0.0, 0.4];
        assert!(
            got.iter().zip(expected).all(|(g, e)| (g - e).abs() < 1e-6),
            "{got:?}"
        );
        let one = ArrayD::from_shape_vec(IxDyn(&[5]), vocab(&["a", "b", "c", "d", "z"]))
            .unwrap_or_default();
        let mut hot1 = StringLookup::new().output_mode(LookupMode::OneHot);
        hot1.set_vocabulary(vocab(&["a", "b", "c", "d"]), None)
            .unwrap_or_default();
        let got = values(hot1.call(&one));
        assert_eq!(&got[..5], [0., 1., 0., 0., 0.]);
        assert_eq!(&got[20..], [1., 0., 0., 0., 0.]);
        let mut masked = StringLookup::new().mask_token(Some(String::new()));
        masked
            .set_vocabulary(vocab(&["a", "b", "c", "d"]), None)
            .unwrap_or_default();
        let data = strings(&[&["a", "c", "d"], &["d", "", "b"]]);
        assert_eq!(values(masked.call(&data)), [2., 4., 5., 5., 0., 3.]);
        let back = lookup.invert_call(&array![[1i64, 3, 4], [4, 0, 2]].into_dyn());
        assert_eq!(back, strings(&[&["a", "c", "d"], &["d", "[UNK]", "b"]]));
    }

    #[test]
    fn integer_lookup_matches_the_keras_documentation() {
        let data = array![[12i64, 1138, 42], [42, 1000, 36]].into_dyn();
        let mut lookup = IntegerLookup::new();
        lookup
            .set_vocabulary(vec![12, 36, 1138, 42], None)
            .unwrap_or_default();
        assert_eq!(values(lookup.call(&data)), [1., 3., 4., 4., 0., 2.]);
        let mut adapted = IntegerLookup::new();
        adapted.adapt(data.iter().copied()).unwrap_or_default();
        assert_eq!(adapted.vocabulary(), [-1, 42, 1138, 1000, 36, 12]);
        let mut twice = IntegerLookup::new();
        assert!(twice.set_vocabulary(vec![1, 1], None).is_err());
        assert!(twice.set_vocabulary(vec![-1, 2], None).is_ok()); // the reserved entry first
        // Past the reserved prefix the out-of-vocabulary token is an ordinary token (Keras).
        assert!(twice.set_vocabulary(vec![2, -1], None).is_ok());
        assert_eq!(
            values(twice.call(&array![-1i64, 2, 7].into_dyn())),
            [2., 1., 0.]
        );
    }
}
