//! Keras's `TextVectorization` on the host: strings standardized, split into tokens (and
//! n-grams), looked up in a vocabulary learned with `adapt`, and given out as token ids or as
//! multi-hot, count or TF-IDF vectors — the numbers a model takes. Put it in the model, on an
//! `Input` of dtype `"string"` (Keras's end-to-end text model; `kiln_model` implements its
//! `Layer` for it), or use it where Keras's text tutorials map their `tf.data` pipeline through
//! the layer: `text_dataset_from_directory(..).map_texts(|t| vectorizer.call(t))`.
//!
//! Strings never reach the device: the vectorizer runs on the host before the batch is
//! converted.

use std::collections::HashMap;

use ndarray::{Array2, ArrayD, IxDyn};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::array::HostArray;
use crate::error::{Error, Result};

/// The padding token, index 0 in `int` mode (Keras's `""` mask token).
pub const MASK_TOKEN: &str = "";

/// The out-of-vocabulary token (Keras's `"[UNK]"`).
pub const OOV_TOKEN: &str = "[UNK]";

/// Keras's `DEFAULT_STRIP_REGEX` as a set: every ASCII punctuation character.
fn is_stripped(c: char) -> bool {
    c.is_ascii_punctuation()
}

/// How texts are standardized before splitting (Keras's `standardize`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Standardize {
    /// Lowercase (ASCII letters, as TensorFlow's `lower`), then remove ASCII punctuation
    /// (Keras's default).
    LowerAndStripPunctuation,
    /// Lowercase only.
    Lower,
    /// Remove ASCII punctuation only.
    StripPunctuation,
}

/// How standardized texts become tokens (Keras's `split`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Split {
    /// Runs of whitespace separate tokens (Keras's default).
    Whitespace,
    /// Every Unicode character is a token.
    Character,
}

/// What `call` gives (Keras's `output_mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutputMode {
    /// Token ids `[n, length]` (`i64`), 0 for padding, 1 for out-of-vocabulary tokens.
    Int,
    /// `[n, vocabulary]` of 0/1: which tokens the text holds.
    MultiHot,
    /// `[n, vocabulary]`: how many times each token occurs.
    Count,
    /// `[n, vocabulary]`: counts times each token's inverse document frequency.
    TfIdf,
}

/// Keras's `TextVectorization` (see the module documentation), with Keras's defaults:
/// `standardize="lower_and_strip_punctuation"`, `split="whitespace"`, no n-grams,
/// `output_mode="int"`, no `max_tokens` and no `output_sequence_length` (pad to the longest
/// text of each call).
///
/// # Examples
/// ```
/// use kiln_datasets::{HostArray, TextVectorization};
/// let mut vectorizer = TextVectorization::new().output_sequence_length(4);
/// vectorizer.adapt(["The cat sat.", "The dog sat, the dog ran!"])?;
/// assert_eq!(vectorizer.vocabulary()[..4], ["", "[UNK]", "the", "sat"]);
/// let ids = vectorizer.call(&["the bird sat".to_string()])?;
/// assert_eq!(ids, HostArray::from(ndarray::array![[2i64, 1, 3, 0]]));
/// # Ok::<(), kiln_datasets::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct TextVectorization {
    /// The most tokens in the vocabulary, the reserved ones included (Keras `max_tokens`).
    pub max_tokens: Option<usize>,
    /// Standardization (`None`: texts as they are).
    pub standardize: Option<Standardize>,
    /// Splitting (`None`: each text is one token).
    pub split: Option<Split>,
    /// The n-gram widths made from the tokens (empty: tokens only; Keras's `ngrams=3` is
    /// `[1, 2, 3]`).
    pub ngrams: Vec<usize>,
    /// What `call` gives.
    pub output_mode: OutputMode,
    /// With `Int`, pad (with 0) or cut every text to this many tokens.
    pub output_sequence_length: Option<usize>,
    /// With the vector modes, make vectors `max_tokens` wide even when the vocabulary is
    /// smaller.
    pub pad_to_max_tokens: bool,
    vocabulary: Vec<String>,
    index: HashMap<String, usize>,
    idf: Vec<f32>,
}

impl Default for TextVectorization {
    fn default() -> Self {
        Self::new()
    }
}

impl TextVectorization {
    /// Keras's defaults, with an empty vocabulary (give one, or `adapt`).
    pub fn new() -> Self {
        Self {
            max_tokens: None,
            standardize: Some(Standardize::LowerAndStripPunctuation),
            split: Some(Split::Whitespace),
            ngrams: Vec::new(),
            output_mode: OutputMode::Int,
            output_sequence_length: None,
            pad_to_max_tokens: false,
            vocabulary: Vec::new(),
            index: HashMap::new(),
            idf: Vec::new(),
        }
    }

    /// Keeps at most `max_tokens` tokens, the reserved ones included.
    pub fn max_tokens(mut self, max_tokens: usize) -> Self {
        self.max_tokens = Some(max_tokens);
        self
    }

    /// Sets the standardization (`None`: none).
    pub fn standardize(mut self, standardize: Option<Standardize>) -> Self {
        self.standardize = standardize;
        self
    }

    /// Sets the splitting (`None`: each text is one token).
    pub fn split(mut self, split: Option<Split>) -> Self {
        self.split = split;
        self
    }

    /// Makes n-grams of every width up to `n` (Keras `ngrams=n`).
    pub fn ngrams(mut self, n: usize) -> Self {
        self.ngrams = (1..=n).collect();
        self
    }

    /// Sets the output mode.
    pub fn output_mode(mut self, mode: OutputMode) -> Self {
        self.output_mode = mode;
        self
    }

    /// Pads or cuts id sequences to `length` (`Int` mode).
    pub fn output_sequence_length(mut self, length: usize) -> Self {
        self.output_sequence_length = Some(length);
        self
    }

    /// Makes vectors `max_tokens` wide.
    pub fn pad_to_max_tokens(mut self, pad: bool) -> Self {
        self.pad_to_max_tokens = pad;
        self
    }

    /// The tokens reserved at the start of the vocabulary: `""` and `"[UNK]"` in `Int` mode,
    /// `"[UNK]"` otherwise (as Keras).
    fn reserved(&self) -> Vec<&'static str> {
        if self.output_mode == OutputMode::Int {
            vec![MASK_TOKEN, OOV_TOKEN]
        } else {
            vec![OOV_TOKEN]
        }
    }

    /// The vocabulary, reserved tokens first (Keras's `get_vocabulary()`).
    pub fn vocabulary(&self) -> &[String] {
        &self.vocabulary
    }

    /// The inverse document frequencies of the vocabulary's tokens (`TfIdf` mode).
    pub fn idf_weights(&self) -> &[f32] {
        &self.idf
    }

    fn invalid(reason: impl Into<String>) -> Error {
        Error::InvalidArgument {
            name: "TextVectorization",
            reason: reason.into(),
        }
    }

    /// Sets the vocabulary (Keras's `set_vocabulary`): the tokens after the reserved ones, or
    /// a full vocabulary starting with them; `idf` (one per token given) for `TfIdf`.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a repeated token, more than `max_tokens`, or IDF weights
    /// missing (`TfIdf`) or of the wrong count.
    pub fn set_vocabulary(&mut self, tokens: Vec<String>, idf: Option<Vec<f32>>) -> Result<()> {
        let reserved = self.reserved();
        let given_reserved =
            tokens.len() >= reserved.len() && tokens.iter().zip(&reserved).all(|(t, r)| t == r);
        let mut vocabulary: Vec<String> = reserved.iter().map(|s| (*s).to_string()).collect();
        let rest = if given_reserved {
            &tokens[reserved.len()..]
        } else {
            &tokens[..]
        };
        let mut index = HashMap::with_capacity(reserved.len() + rest.len());
        for (i, t) in vocabulary.iter().enumerate() {
            index.insert(t.clone(), i);
        }
        for t in rest {
            if index.insert(t.clone(), vocabulary.len()).is_some() {
                return Err(Self::invalid(format!("the vocabulary holds `{t}` twice")));
            }
            vocabulary.push(t.clone());
        }
        if let Some(max) = self.max_tokens
            && vocabulary.len() > max
        {
            return Err(Self::invalid(format!(
                "the vocabulary has {} tokens, more than max_tokens {max}",
                vocabulary.len()
            )));
        }
        self.idf = match (self.output_mode, idf) {
            // A full vector (reserved slots first), possibly padded with zeros to max_tokens.
            (OutputMode::TfIdf, Some(mut w))
                if w.len() != rest.len()
                    && w.len() >= vocabulary.len()
                    && w[vocabulary.len()..].iter().all(|&v| v == 0.0) =>
            {
                w.truncate(vocabulary.len());
                w
            }
            (OutputMode::TfIdf, Some(w)) if w.len() == rest.len() => {
                let mean = if w.is_empty() {
                    0.0
                } else {
                    w.iter().sum::<f32>() / w.len() as f32
                };
                std::iter::once(mean).chain(w).collect()
            }
            (OutputMode::TfIdf, Some(w)) => {
                return Err(Self::invalid(format!(
                    "{} idf weights for {} tokens",
                    w.len(),
                    rest.len()
                )));
            }
            (OutputMode::TfIdf, None) => {
                return Err(Self::invalid(
                    "tf_idf needs idf weights with the vocabulary",
                ));
            }
            _ => Vec::new(),
        };
        // Keras keeps the vector as wide as the padded outputs, zeros past the vocabulary.
        if let (true, Some(max)) = (self.pad_to_max_tokens, self.max_tokens)
            && !self.idf.is_empty()
        {
            self.idf.resize(max.max(self.idf.len()), 0.0);
        }
        self.vocabulary = vocabulary;
        self.index = index;
        Ok(())
    }

    /// A text's tokens (and n-grams) after standardization and splitting.
    pub fn tokens(&self, text: &str) -> Vec<String> {
        let text = match self.standardize {
            None => text.to_string(),
            Some(Standardize::Lower) => text.to_ascii_lowercase(),
            Some(Standardize::StripPunctuation) => {
                text.chars().filter(|&c| !is_stripped(c)).collect()
            }
            Some(Standardize::LowerAndStripPunctuation) => text
                .to_ascii_lowercase()
                .chars()
                .filter(|&c| !is_stripped(c))
                .collect(),
        };
        let words: Vec<String> = match self.split {
            None => vec![text],
            // TensorFlow splits on the six ASCII whitespace characters only (not U+00A0).
            Some(Split::Whitespace) => text
                .split([' ', '\t', '\n', '\x0b', '\x0c', '\r'])
                .filter(|t| !t.is_empty())
                .map(str::to_string)
                .collect(),
            Some(Split::Character) => text.chars().map(|c| c.to_string()).collect(),
        };
        if self.ngrams.is_empty() {
            return words;
        }
        let mut out = Vec::new();
        for &n in &self.ngrams {
            if n == 0 || n > words.len() {
                continue;
            }
            for window in words.windows(n) {
                out.push(window.join(" "));
            }
        }
        out
    }

    /// Learns the vocabulary from `texts` (Keras's `adapt`): tokens by decreasing count, ties
    /// in decreasing byte order (NumPy's reversed `lexsort`, as Keras), cut to `max_tokens`;
    /// with `TfIdf`, each token's `idf = ln(1 + texts / (1 + texts holding it))`, the
    /// out-of-vocabulary token's the mean of the others'.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for `max_tokens` smaller than the reserved tokens.
    pub fn adapt<I, S>(&mut self, texts: I) -> Result<()>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let reserved = self.reserved().len();
        if self.max_tokens.is_some_and(|m| m <= reserved) {
            return Err(Self::invalid(format!(
                "max_tokens must leave room past the {reserved} reserved tokens"
            )));
        }
        let mut counts: HashMap<String, u64> = HashMap::new();
        let mut documents: HashMap<String, u64> = HashMap::new();
        let mut texts_seen = 0u64;
        for text in texts {
            texts_seen += 1;
            let tokens = self.tokens(text.as_ref());
            let mut seen = std::collections::HashSet::new();
            for t in tokens {
                if seen.insert(t.clone()) {
                    *documents.entry(t.clone()).or_insert(0) += 1;
                }
                *counts.entry(t).or_insert(0) += 1;
            }
        }
        let mut sorted: Vec<(String, u64)> = counts.into_iter().collect();
        sorted.sort_by(|a, b| {
            b.1.cmp(&a.1)
                .then_with(|| b.0.as_bytes().cmp(a.0.as_bytes()))
        });
        // Reserved tokens found in the texts are not learned twice.
        sorted.retain(|(t, _)| t != MASK_TOKEN && t != OOV_TOKEN);
        if let Some(max) = self.max_tokens {
            sorted.truncate(max - reserved);
        }
        let idf: Vec<f32> = sorted
            .iter()
            .map(|(t, _)| {
                let df = documents.get(t).copied().unwrap_or(0) as f64;
                (1.0 + texts_seen as f64 / (1.0 + df)).ln() as f32
            })
            .collect();
        let tokens: Vec<String> = sorted.into_iter().map(|(t, _)| t).collect();
        let idf = (self.output_mode == OutputMode::TfIdf).then_some(idf);
        self.set_vocabulary(tokens, idf)
    }

    /// The id of `token` (1, or 0 outside `Int` mode, when it is not in the vocabulary).
    fn id(&self, token: &str) -> usize {
        let oov = usize::from(self.output_mode == OutputMode::Int);
        self.index.get(token).copied().unwrap_or(oov)
    }

    /// Vectorizes a batch of texts (Keras's `layer(texts)`): `Int` gives `[n, length]` ids
    /// (`i64`), padded with 0 to `output_sequence_length` or to the longest text; the other
    /// modes `[n, vocabulary]` `f32`.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] before a vocabulary is set or learned.
    pub fn call(&self, texts: &[String]) -> Result<HostArray> {
        if self.vocabulary.is_empty() {
            return Err(Self::invalid(
                "no vocabulary: call adapt or set_vocabulary first",
            ));
        }
        let tokenized: Vec<Vec<String>> = texts.iter().map(|t| self.tokens(t)).collect();
        if self.output_mode == OutputMode::Int {
            let length = self
                .output_sequence_length
                .unwrap_or_else(|| tokenized.iter().map(Vec::len).max().unwrap_or(0));
            let mut ids = Array2::<i64>::zeros((texts.len(), length));
            for (row, tokens) in tokenized.iter().enumerate() {
                for (col, t) in tokens.iter().take(length).enumerate() {
                    ids[[row, col]] = self.id(t) as i64;
                }
            }
            return Ok(HostArray::I64(ids.into_dyn()));
        }
        let width = match (self.pad_to_max_tokens, self.max_tokens) {
            (true, Some(max)) => max,
            _ => self.vocabulary.len(),
        };
        let mut out = vec![0.0f32; texts.len() * width];
        for (row, tokens) in tokenized.iter().enumerate() {
            let cells = &mut out[row * width..(row + 1) * width];
            for t in tokens {
                let id = self.id(t);
                match self.output_mode {
                    OutputMode::MultiHot => cells[id] = 1.0,
                    _ => cells[id] += 1.0,
                }
            }
            if self.output_mode == OutputMode::TfIdf {
                for (cell, w) in cells.iter_mut().zip(&self.idf) {
                    *cell *= w;
                }
            }
        }
        ArrayD::from_shape_vec(IxDyn(&[texts.len(), width]), out)
            .map(HostArray::F32)
            .map_err(|e| Self::invalid(e.to_string()))
    }

    /// Vectorizes an array of texts as Keras's layer takes it: `[n]`, or `[n, 1]` (squeezed).
    /// With `split` `None` each element is one token (after standardization), so `[n, k]`
    /// holds `k` tokens per sample: `Int` keeps the shape, the other modes give `[n, depth]`
    /// (`[depth]` for a rank-1 array, one sample).
    ///
    /// # Errors
    /// As [`TextVectorization::call`]; a split on an array that is not `[n]` or `[n, 1]`.
    pub fn call_array(&self, texts: &ArrayD<String>) -> Result<HostArray> {
        let shape = texts.shape().to_vec();
        if self.split.is_some() {
            return match shape.as_slice() {
                [_] | [_, 1] => self.call(&texts.iter().cloned().collect::<Vec<_>>()),
                other => Err(Self::invalid(format!(
                    "texts must be [n] or [n, 1] to be split, got {other:?}"
                ))),
            };
        }
        if self.vocabulary.is_empty() {
            return Err(Self::invalid(
                "no vocabulary: call adapt or set_vocabulary first",
            ));
        }
        // The mask token `""` pads: 0 in `Int` mode, dropped from the vectors (as Keras).
        let ids: Vec<Option<usize>> = texts
            .iter()
            .map(|t| {
                let token = self.tokens(t).into_iter().next().unwrap_or_default();
                (token != MASK_TOKEN || self.output_mode == OutputMode::Int)
                    .then(|| self.id(&token))
            })
            .collect();
        if self.output_mode == OutputMode::Int {
            let ids = ids.into_iter().map(|i| i.unwrap_or(0) as i64).collect();
            return ArrayD::from_shape_vec(IxDyn(&shape), ids)
                .map(HostArray::I64)
                .map_err(|e| Self::invalid(e.to_string()));
        }
        let width = match (self.pad_to_max_tokens, self.max_tokens) {
            (true, Some(max)) => max,
            _ => self.vocabulary.len(),
        };
        let (rows, per) = match shape.as_slice() {
            [n] => (1, *n),
            [n, k] => (*n, *k),
            other => {
                return Err(Self::invalid(format!(
                    "token arrays must be [n] or [n, k], got {other:?}"
                )));
            }
        };
        let mut out = vec![0.0f32; rows * width];
        for (f, id) in ids.iter().enumerate() {
            let Some(id) = *id else { continue };
            let cell = &mut out[(f / per.max(1)) * width + id];
            match self.output_mode {
                OutputMode::MultiHot => *cell = 1.0,
                _ => *cell += 1.0,
            }
        }
        if self.output_mode == OutputMode::TfIdf {
            for row in out.chunks_mut(width) {
                for (cell, w) in row.iter_mut().zip(&self.idf) {
                    *cell *= w;
                }
            }
        }
        let dims: Vec<usize> = if shape.len() == 1 {
            vec![width]
        } else {
            vec![rows, width]
        };
        ArrayD::from_shape_vec(IxDyn(&dims), out)
            .map(HostArray::F32)
            .map_err(|e| Self::invalid(e.to_string()))
    }

    /// Keras's `get_config()` of the layer, with the vocabulary (reserved tokens first) and,
    /// for `tf_idf`, the IDF weights in it, so the config alone rebuilds the layer (Keras
    /// keeps a learned vocabulary in a `.keras` file's assets instead; it reads this form as a
    /// given vocabulary).
    pub fn config(&self) -> Value {
        let ngrams = match self.ngrams.as_slice() {
            [] => Value::Null,
            widths if widths.iter().copied().eq(1..=widths.len()) => widths.len().into(),
            widths => widths.to_vec().into(),
        };
        let vocabulary = if self.vocabulary.is_empty() {
            Value::Null
        } else {
            self.vocabulary.clone().into()
        };
        let idf = if self.output_mode == OutputMode::TfIdf && !self.idf.is_empty() {
            self.idf.clone().into()
        } else {
            Value::Null
        };
        serde_json::json!({
            "max_tokens": self.max_tokens,
            "standardize": self.standardize,
            "split": self.split,
            "ngrams": ngrams,
            "output_mode": self.output_mode,
            "output_sequence_length": self.output_sequence_length,
            "pad_to_max_tokens": self.pad_to_max_tokens,
            "sparse": false,
            "ragged": false,
            "vocabulary": vocabulary,
            "idf_weights": idf,
            "vocabulary_size": self.vocabulary.len(),
            "encoding": "utf-8",
        })
    }

    /// Reads Keras's config of the layer (`TextVectorization.get_config()`), vocabulary and
    /// `idf_weights` included when it has them; unknown keys are ignored.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for what Keras refuses too (an unknown `standardize`,
    /// `split` or `output_mode`, `ngrams` that are not an int or a list of ints,
    /// `output_sequence_length` outside `int` mode, `ragged` or `sparse`, a bad vocabulary),
    /// and for what Kiln does not have (a custom standardize or split function, `one_hot`,
    /// an `encoding` other than UTF-8, a vocabulary file path).
    ///
    /// # Examples
    /// ```
    /// use kiln_datasets::TextVectorization;
    /// let config = serde_json::json!({"vocabulary": ["cat", "dog"], "output_sequence_length": 3});
    /// let v = TextVectorization::from_config(&config)?;
    /// assert_eq!(v.vocabulary(), ["", "[UNK]", "cat", "dog"]);
    /// assert_eq!(TextVectorization::from_config(&v.config())?, v);
    /// # Ok::<(), kiln_datasets::Error>(())
    /// ```
    pub fn from_config(config: &Value) -> Result<Self> {
        use crate::index_lookup::{flag, optional_count};
        let mut layer = Self::new();
        layer.standardize = match &config["standardize"] {
            Value::Null => None,
            v => Some(
                serde_json::from_value(v.clone())
                    .map_err(|_| Self::invalid(format!("standardize {v}: use lower_and_strip_punctuation, lower, strip_punctuation or null")))?,
            ),
        };
        // An absent key is Keras's default; an explicit null is "none".
        if config.get("standardize").is_none() {
            layer.standardize = Some(Standardize::LowerAndStripPunctuation);
        }
        layer.split = match config.get("split") {
            None => Some(Split::Whitespace),
            Some(Value::Null) => None,
            Some(v) => Some(serde_json::from_value(v.clone()).map_err(|_| {
                Self::invalid(format!("split {v}: use whitespace, character or null"))
            })?),
        };
        layer.ngrams = match &config["ngrams"] {
            Value::Null => Vec::new(),
            Value::Number(n) => {
                let n = n
                    .as_u64()
                    .ok_or_else(|| Self::invalid(format!("ngrams {n}")))?;
                (1..=n as usize).collect()
            }
            Value::Array(widths) => widths
                .iter()
                .map(|w| w.as_u64().map(|w| w as usize))
                .collect::<Option<Vec<usize>>>()
                .ok_or_else(|| Self::invalid("ngrams must be an int or a list of ints"))?,
            other => {
                return Err(Self::invalid(format!(
                    "ngrams {other}: give an int or a list of ints"
                )));
            }
        };
        layer.output_mode = match config["output_mode"].as_str() {
            None | Some("int") => OutputMode::Int,
            Some("multi_hot") => OutputMode::MultiHot,
            Some("count") => OutputMode::Count,
            Some("tf_idf") => OutputMode::TfIdf,
            Some("one_hot") => {
                return Err(Self::invalid(
                    "output_mode one_hot is not in Kiln's TextVectorization yet (Keras's works \
                     only with split=None); use a StringLookup with one_hot",
                ));
            }
            Some(other) => {
                return Err(Self::invalid(format!(
                    "Unknown value for `output_mode` {other:?}: use int, multi_hot, count or \
                     tf_idf"
                )));
            }
        };
        layer.max_tokens =
            optional_count(&config["max_tokens"], "max_tokens").map_err(Self::invalid)?;
        layer.output_sequence_length =
            optional_count(&config["output_sequence_length"], "output_sequence_length")
                .map_err(Self::invalid)?;
        if layer.output_sequence_length.is_some() && layer.output_mode != OutputMode::Int {
            return Err(Self::invalid(
                "`output_sequence_length` takes output_mode int",
            ));
        }
        layer.pad_to_max_tokens = flag(config, "pad_to_max_tokens");
        if layer.pad_to_max_tokens && layer.max_tokens.is_none() {
            return Err(Self::invalid("`pad_to_max_tokens` needs `max_tokens`"));
        }
        if flag(config, "sparse") || flag(config, "ragged") {
            return Err(Self::invalid(
                "sparse and ragged outputs are TensorFlow-only in Keras; Kiln gives dense ones",
            ));
        }
        if let Some(e) = config["encoding"].as_str()
            && !matches!(e, "utf-8" | "utf8" | "UTF-8")
        {
            return Err(Self::invalid(format!(
                "encoding {e:?}: Kiln's strings are UTF-8"
            )));
        }
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
        match &config["vocabulary"] {
            Value::Null => {}
            Value::Array(tokens) => {
                let tokens = tokens
                    .iter()
                    .map(|t| t.as_str().map(str::to_string))
                    .collect::<Option<Vec<String>>>()
                    .ok_or_else(|| Self::invalid("the vocabulary must hold strings"))?;
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
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(t: &[&str]) -> Vec<String> {
        t.iter().map(|s| (*s).to_string()).collect()
    }

    #[test]
    fn standardize_split_and_ngrams() {
        let v = TextVectorization::new();
        assert_eq!(
            v.tokens("Hello, WORLD!  It's  fine"),
            ["hello", "world", "its", "fine"]
        );
        let v = TextVectorization::new().ngrams(2);
        assert_eq!(v.tokens("a b c"), ["a", "b", "c", "a b", "b c"]);
        let v = TextVectorization::new()
            .split(Some(Split::Character))
            .standardize(None);
        assert_eq!(v.tokens("Ab!"), ["A", "b", "!"]);
        // Non-ASCII letters keep their case, as TensorFlow's `lower`.
        let v = TextVectorization::new().standardize(Some(Standardize::Lower));
        assert_eq!(v.tokens("ÉTÉ Été"), ["ÉtÉ", "Été"]);
    }

    #[test]
    fn vector_modes_count_and_weigh_tokens() {
        // 3 texts: "a" in all three, "b" in two, "c" in one.
        let corpus = ["a b c", "a b", "a a"];
        let mut v = TextVectorization::new().output_mode(OutputMode::TfIdf);
        v.adapt(corpus).unwrap_or_default();
        assert_eq!(v.vocabulary(), ["[UNK]", "a", "b", "c"]);
        let idf = |df: f64| (1.0 + 3.0 / (1.0 + df)).ln() as f32;
        let (a, b, c) = (idf(3.0), idf(2.0), idf(1.0));
        let oov = (a + b + c) / 3.0;
        assert_eq!(v.idf_weights(), [oov, a, b, c]);
        let out = v
            .call(&texts(&["a a z c"]))
            .map(|h| h.to_f32_vec())
            .unwrap_or_default();
        assert_eq!(out, [oov, 2.0 * a, 0.0, c]);
        let mut counts = TextVectorization::new()
            .output_mode(OutputMode::Count)
            .max_tokens(6)
            .pad_to_max_tokens(true);
        counts.adapt(corpus).unwrap_or_default();
        let out = counts
            .call(&texts(&["b b q"]))
            .map(|h| h.to_f32_vec())
            .unwrap_or_default();
        assert_eq!(out, [1.0, 0.0, 2.0, 0.0, 0.0, 0.0]);
        let mut hot = TextVectorization::new()
            .output_mode(OutputMode::MultiHot)
            .max_tokens(3);
        hot.adapt(corpus).unwrap_or_default();
        assert_eq!(hot.vocabulary(), ["[UNK]", "a", "b"]);
        let out = hot
            .call(&texts(&["c c a"]))
            .map(|h| h.to_f32_vec())
            .unwrap_or_default();
        assert_eq!(out, [1.0, 1.0, 0.0]);
    }

    #[test]
    fn int_mode_pads_and_cuts_and_refuses_without_vocabulary() {
        let v = TextVectorization::new();
        assert!(v.call(&texts(&["x"])).is_err());
        let mut v = TextVectorization::new();
        v.set_vocabulary(texts(&["x", "y"]), None)
            .unwrap_or_default();
        assert_eq!(v.vocabulary(), ["", "[UNK]", "x", "y"]);
        let ids = v
            .call(&texts(&["y x q", "x"]))
            .map(|h| h.to_f32_vec())
            .unwrap_or_default();
        assert_eq!(ids, [3.0, 2.0, 1.0, 2.0, 0.0, 0.0]);
        let v = v.output_sequence_length(2);
        let ids = v
            .call(&texts(&["y x q"]))
            .map(|h| h.to_f32_vec())
            .unwrap_or_default();
        assert_eq!(ids, [3.0, 2.0]);
        let mut twice = TextVectorization::new();
        assert!(twice.set_vocabulary(texts(&["x", "x"]), None).is_err());
    }
}
