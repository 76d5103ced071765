//! Keras's `StringLookup` and `IntegerLookup` on the host: tokens (strings or integers) mapped
//! to indices of a vocabulary given or learned with `adapt`, as ids or as one-hot, multi-hot,
//! count or TF-IDF vectors; `invert` maps indices back. Like [`crate::TextVectorization`],
//! they are model layers too (`kiln_model` implements its `Layer` for them: they run on the
//! host, on a model input's data, before the device layers), and run alone over a data set's
//! batches, as Keras's tutorials map them over a `tf.data` pipeline.

use std::collections::HashMap;
use std::hash::Hash;

use ndarray::{ArrayD, IxDyn};
use serde_json::{Value, json};

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
            name: T::CLASS,
            reason: reason.into(),
        }
    }

    /// Reads Keras's config of the layer (`StringLookup.get_config()` /
    /// `IntegerLookup.get_config()`), vocabulary and `idf_weights` included when it has them;
    /// unknown keys are ignored, as Keras's own `from_config` does.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for what Keras refuses too (`max_tokens` below 2,
    /// `pad_to_max_tokens` without `max_tokens`, `invert` outside `int` mode, `sparse`,
    /// an unknown `output_mode`, a salt with `floormod`, a bad vocabulary) and for what Kiln
    /// does not have (an `encoding` other than UTF-8, a vocabulary file path).
    ///
    /// # Examples
    /// ```
    /// use kiln_datasets::StringLookup;
    /// let config = serde_json::json!({"vocabulary": ["a", "b"], "output_mode": "multi_hot"});
    /// let lookup = StringLookup::from_config(&config)?;
    /// assert_eq!(lookup.vocabulary(), ["[UNK]", "a", "b"]);
    /// assert_eq!(StringLookup::from_config(&lookup.config())?.vocabulary(), lookup.vocabulary());
    /// # Ok::<(), kiln_datasets::Error>(())
    /// ```
    pub fn from_config(config: &Value) -> Result<Self> {
        let mut layer = Self::with_reserved(None, T::default_oov());
        layer.output_mode = lookup_mode(&config["output_mode"]).map_err(Self::invalid)?;
        layer.max_tokens =
            optional_count(&config["max_tokens"], "max_tokens").map_err(Self::invalid)?;
        if layer.max_tokens.is_some_and(|m| m <= 1) {
            return Err(Self::invalid("`max_tokens` must be greater than 1"));
        }
        if let Some(k) =
            optional_count(&config["num_oov_indices"], "num_oov_indices").map_err(Self::invalid)?
        {
            layer.num_oov_indices = k;
        }
        layer.mask_token = match &config["mask_token"] {
            Value::Null => None,
            v => Some(T::from_json(v).ok_or_else(|| Self::invalid(format!("mask_token {v}")))?),
        };
        if let Some(v) = config.get("oov_token").filter(|v| !v.is_null()) {
            layer.oov_token =
                T::from_json(v).ok_or_else(|| Self::invalid(format!("oov_token {v}")))?;
        }
        layer.invert = flag(config, "invert");
        layer.pad_to_max_tokens = flag(config, "pad_to_max_tokens");
        if layer.invert && layer.output_mode != LookupMode::Int {
            return Err(Self::invalid("`invert` takes output_mode int"));
        }
        if layer.pad_to_max_tokens && layer.max_tokens.is_none() {
            return Err(Self::invalid("`pad_to_max_tokens` needs `max_tokens`"));
        }
        if flag(config, "sparse") {
            return Err(Self::invalid(
                "sparse outputs are TensorFlow-only in Keras; Kiln gives dense ones",
            ));
        }
        layer.salt = parse_salt(&config["salt"]).map_err(Self::invalid)?;
        layer.farmhash_integers = T::check_options(config, layer.salt).map_err(Self::invalid)?;
        let idf = match &config["idf_weights"] {
            Value::Null => None,
            Value::Array(w) => Some(
                w.iter()
                    .map(|v| v.as_f64().map(|v| v as f32))
                    .collect::<Option<Vec<f32>>>()
                    .ok_or_else(|| Self::invalid("idf_weights must be numbers"))?,
            ),
            other => return Err(Self::invalid(format!("idf_weights {other}"))),
        };
        if idf.is_some() && layer.output_mode != LookupMode::TfIdf {
            return Err(Self::invalid("`idf_weights` takes output_mode tf_idf"));
        }
        match &config["vocabulary"] {
            Value::Null => {}
            Value::Array(tokens) => {
                let tokens = tokens
                    .iter()
                    .map(|v| T::from_json(v).ok_or_else(|| Self::invalid(format!("token {v}"))))
                    .collect::<Result<Vec<T>>>()?;
                if tokens.is_empty() {
                    return Err(Self::invalid("the vocabulary is empty"));
                }
                layer.set_vocabulary(tokens, idf)?;
            }
            Value::String(path) => {
                return Err(Self::invalid(format!(
                    "vocabulary files ({path}) are not read; give the tokens as a list"
                )));
            }
            other => return Err(Self::invalid(format!("vocabulary {other}"))),
        }
        Ok(layer)
    }

    /// Keras's config of the layer, with the vocabulary (reserved entries first) and, for
    /// `tf_idf`, the full IDF vector in it, so the config alone rebuilds the layer (Keras
    /// keeps a learned vocabulary in a `.keras` file's assets instead; it reads this form as
    /// a given vocabulary).
    pub fn config(&self) -> Value {
        let vocabulary = if self.tokens.is_empty() {
            Value::Null
        } else {
            Value::Array(self.vocabulary().iter().map(T::to_json).collect())
        };
        let idf = if self.output_mode == LookupMode::TfIdf && !self.idf.is_empty() {
            json!(self.idf)
        } else {
            Value::Null
        };
        let mut config = json!({
            "invert": self.invert,
            "max_tokens": self.max_tokens,
            "num_oov_indices": self.num_oov_indices,
            "oov_token": self.oov_token.to_json(),
            "mask_token": self.mask_token.as_ref().map(T::to_json),
            "output_mode": mode_name(self.output_mode),
            "sparse": false,
            "pad_to_max_tokens": self.pad_to_max_tokens,
            "idf_weights": idf,
            "vocabulary": vocabulary,
            "vocabulary_size": self.vocabulary_size(),
            "oov_method": if self.farmhash_integers { "farmhash" } else { "floormod" },
            "salt": self.salt,
        });
        T::extra_config(&mut config);
        config
    }

    /// The number of entries, reserved ones included (Keras's `vocabulary_size()`).
    pub fn vocabulary_size(&self) -> usize {
        self.reserved().len() + self.tokens.len()
    }

    /// The number of tokens past the reserved entries (0 before a vocabulary is set).
    pub fn token_count(&self) -> usize {
        self.tokens.len()
    }

    /// The width of the vectors `call` gives outside `Int` mode (the vocabulary size, or
    /// `max_tokens` with `pad_to_max_tokens`).
    pub fn depth(&self) -> usize {
        self.width()
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

    /// The inverse document frequencies, one per vocabulary entry (`TfIdf`), then zeros up
    /// to `max_tokens` with `pad_to_max_tokens`, as Keras's `idf_weights`.
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
        // Keras keeps the vector as wide as the padded outputs, zeros past the vocabulary.
        if let (true, Some(max)) = (self.pad_to_max_tokens, self.max_tokens)
            && !self.idf.is_empty()
        {
            self.idf.resize(max.max(self.idf.len()), 0.0);
        }
        self.tokens = tokens;
        self.index = index;
        Ok(())
    }

    /// Learns the vocabulary from `tokens` (Keras's `adapt`): by decreasing count, ties in
    /// decreasing order, cut to `max_tokens`; the mask token is not counted. With `TfIdf`
    /// each token is one document, as Keras takes a rank-1 array in one call; use
    /// [`IndexLookup::adapt_documents`] for rows or batches.
    ///
    /// # Errors
    /// As [`IndexLookup::set_vocabulary`]; `max_tokens` too small for the reserved entries.
    pub fn adapt(&mut self, tokens: impl IntoIterator<Item = T>) -> Result<()> {
        self.adapt_documents(tokens.into_iter().map(|t| vec![t]))
    }

    /// As [`IndexLookup::adapt`] over documents (the rows of Keras's adapted data, or each
    /// rank-1 batch of a data set): for `TfIdf` each token's weight is
    /// `ln(1 + documents / (1 + documents holding it))`, and the out-of-vocabulary entries
    /// weigh the mean of the tokens' weights, as Keras.
    ///
    /// # Errors
    /// As [`IndexLookup::adapt`].
    pub fn adapt_documents<D>(&mut self, documents: impl IntoIterator<Item = D>) -> Result<()>
    where
        D: IntoIterator<Item = T>,
    {
        let reserved = self.reserved();
        if self.max_tokens.is_some_and(|m| m <= reserved.len()) {
            return Err(Self::invalid(
                "max_tokens leaves no room for tokens past the reserved entries",
            ));
        }
        let mut counts: HashMap<T, u64> = HashMap::new();
        let mut holding: HashMap<T, u64> = HashMap::new();
        let mut n_documents = 0u64;
        for document in documents {
            n_documents += 1;
            let mut seen = std::collections::HashSet::new();
            for t in document {
                if reserved.contains(&t) || self.mask_token.as_ref() == Some(&t) {
                    continue;
                }
                if seen.insert(t.clone()) {
                    *holding.entry(t.clone()).or_insert(0) += 1;
                }
                *counts.entry(t).or_insert(0) += 1;
            }
        }
        let mut sorted: Vec<(T, u64)> = counts.into_iter().collect();
        sorted.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| b.0.cmp(&a.0)));
        if let Some(max) = self.max_tokens {
            sorted.truncate(max - reserved.len());
        }
        let tokens: Vec<T> = sorted.into_iter().map(|(t, _)| t).collect();
        let idf = (self.output_mode == LookupMode::TfIdf).then(|| {
            tokens
                .iter()
                .map(|t| {
                    let df = holding.get(t).copied().unwrap_or(0) as f64;
                    (1.0 + n_documents as f64 / (1.0 + df)).ln() as f32
                })
                .collect()
        });
        self.set_vocabulary(tokens, idf)
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
    /// Keras's class of the lookup of these tokens (`"StringLookup"`).
    const CLASS: &'static str;
    /// The out-of-vocabulary bucket of this token among `k`.
    fn bucket(&self, k: u64, salt: Option<[u64; 2]>, farmhash_integers: bool) -> u64;
    /// The token in a config.
    fn to_json(&self) -> Value;
    /// A token of a config.
    fn from_json(value: &Value) -> Option<Self>;
    /// Keras's default out-of-vocabulary token.
    fn default_oov() -> Self;
    /// Checks the options only this kind of lookup has; whether integers are hashed as text.
    ///
    /// # Errors
    /// The option Keras refuses.
    fn check_options(config: &Value, salt: Option<[u64; 2]>) -> std::result::Result<bool, String>;
    /// Adds the config keys only this kind of lookup has.
    fn extra_config(config: &mut Value);
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
    const CLASS: &'static str = "StringLookup";
    fn bucket(&self, k: u64, salt: Option<[u64; 2]>, _: bool) -> u64 {
        keyed(self.as_bytes(), salt) % k
    }
    fn to_json(&self) -> Value {
        Value::String(self.clone())
    }
    fn from_json(value: &Value) -> Option<Self> {
        value.as_str().map(str::to_string)
    }
    fn default_oov() -> Self {
        "[UNK]".into()
    }
    fn check_options(config: &Value, _: Option<[u64; 2]>) -> std::result::Result<bool, String> {
        match config["encoding"].as_str() {
            None | Some("utf-8" | "utf8" | "UTF-8") => Ok(false),
            Some(other) => Err(format!(
                "encoding {other:?}: Kiln's strings are UTF-8 (Keras uses the encoding only to \
                 decode get_vocabulary())"
            )),
        }
    }
    fn extra_config(config: &mut Value) {
        config["encoding"] = "utf-8".into();
    }
}

impl LookupToken for i64 {
    const CLASS: &'static str = "IntegerLookup";
    fn to_json(&self) -> Value {
        Value::from(*self)
    }
    fn from_json(value: &Value) -> Option<Self> {
        value.as_i64()
    }
    fn default_oov() -> Self {
        -1
    }
    fn check_options(config: &Value, salt: Option<[u64; 2]>) -> std::result::Result<bool, String> {
        if let Some(d) = config["vocabulary_dtype"].as_str()
            && d != "int64"
        {
            return Err(format!(
                "vocabulary_dtype {d:?}: Keras takes only \"int64\""
            ));
        }
        match config["oov_method"].as_str() {
            None | Some("floormod") if salt.is_some() => {
                Err("`salt` takes oov_method \"farmhash\"".into())
            }
            None | Some("floormod") => Ok(false),
            Some("farmhash") => Ok(true),
            Some(other) => Err(format!(
                "oov_method {other:?}: use \"floormod\" or \"farmhash\""
            )),
        }
    }
    fn extra_config(config: &mut Value) {
        config["vocabulary_dtype"] = "int64".into();
    }
    fn bucket(&self, k: u64, salt: Option<[u64; 2]>, farmhash_integers: bool) -> u64 {
        if farmhash_integers {
            keyed(self.to_string().as_bytes(), salt) % k
        } else {
            // Keras's default `floormod`: never negative.
            self.rem_euclid(k as i64) as u64
        }
    }
}

/// Keras's `output_mode` of the lookup layers (and `Hashing`), deprecated names included.
pub(crate) fn lookup_mode(value: &Value) -> std::result::Result<LookupMode, String> {
    Ok(match value.as_str() {
        None | Some("int") => LookupMode::Int,
        Some("one_hot") => LookupMode::OneHot,
        Some("multi_hot" | "binary") => LookupMode::MultiHot,
        Some("count") => LookupMode::Count,
        Some("tf_idf" | "tf-idf") => LookupMode::TfIdf,
        Some(other) => {
            return Err(format!(
                "Unknown value for `output_mode` {other:?}: use int, one_hot, multi_hot, count \
                 or tf_idf"
            ));
        }
    })
}

/// Keras's name of a mode.
pub(crate) fn mode_name(mode: LookupMode) -> &'static str {
    match mode {
        LookupMode::Int => "int",
        LookupMode::OneHot => "one_hot",
        LookupMode::MultiHot => "multi_hot",
        LookupMode::Count => "count",
        LookupMode::TfIdf => "tf_idf",
    }
}

/// Keras's `salt`: none, an int `s` (the key `[s, s]`) or a pair of ints (each an int64
/// taken as its 64 bits).
pub(crate) fn parse_salt(value: &Value) -> std::result::Result<Option<[u64; 2]>, String> {
    let bits = |v: &Value| {
        v.as_u64()
            .or_else(|| v.as_i64().map(|i| i as u64))
            .ok_or_else(|| format!("salt {value}: give an int or a pair of ints"))
    };
    Ok(match value {
        Value::Null => None,
        Value::Number(_) => {
            let s = bits(value)?;
            Some([s, s])
        }
        Value::Array(pair) => match pair.as_slice() {
            [a, b] => Some([bits(a)?, bits(b)?]),
            _ => return Err(format!("salt {value}: give an int or a pair of ints")),
        },
        other => return Err(format!("salt {other}: give an int or a pair of ints")),
    })
}

/// An optional non-negative count of a config (`null` is `None`).
pub(crate) fn optional_count(
    value: &Value,
    name: &str,
) -> std::result::Result<Option<usize>, String> {
    match value {
        Value::Null => Ok(None),
        v => v
            .as_u64()
            .and_then(|n| usize::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| format!("`{name}` must be a non-negative int, got {v}")),
    }
}

/// A boolean option of a config, false when absent.
pub(crate) fn flag(config: &Value, name: &str) -> bool {
    config[name].as_bool() == Some(true)
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
