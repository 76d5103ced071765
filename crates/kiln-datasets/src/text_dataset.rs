//! Keras's `keras.utils.text_dataset_from_directory`: batches of texts read from a folder of
//! class sub-folders of `.txt` files, with Keras's labels, file order, shuffle and validation
//! split (the same rules as [`image_dataset_from_directory`]).
//!
//! # Strings in batches
//! A [`Batch`] holds numeric [`HostArray`]s only, so a [`TextDataset`] is not itself a
//! [`Dataset`]: [`TextDataset::get`] gives a [`TextBatch`], the texts as `Vec<String>` with
//! their labels as a [`HostArray`] (encoded as for images). To train on it, turn the texts into
//! numbers on the host with [`TextDataset::map_texts`] (what Keras does with
//! `dataset.map(lambda x, y: (vectorize_layer(x), y))`): the result is a [`Dataset`] whose
//! `x[0]` is what the function returns for each batch (token ids from a text-vectorization
//! step, say), read batch by batch like any other.
//!
//! # What differs from Keras
//! - `max_length` cuts each text to at most that many bytes, as Keras's default
//!   (`tf.strings.substr` in bytes), but never inside a UTF-8 character: a character the cut
//!   would split is dropped whole. Bytes that are not UTF-8 become U+FFFD (TensorFlow keeps
//!   raw bytes). Only the first `max_length` bytes of a file are read.
//! - As for images, the training set is reshuffled at each epoch with a seeded permutation
//!   rather than Keras's `tf.data` shuffle buffer, and unbatched output is not offered.
//!
//! # Examples
//! ```
//! use kiln_datasets::{TextDatasetOptions, text_dataset_from_directory};
//!
//! let dir = tempfile::tempdir()?;
//! for (class, texts) in [("neg", ["bad", "awful"]), ("pos", ["good", "great"])] {
//!     std::fs::create_dir(dir.path().join(class))?;
//!     for (i, text) in texts.iter().enumerate() {
//!         std::fs::write(dir.path().join(class).join(format!("{i}.txt")), text)?;
//!     }
//! }
//! let options = TextDatasetOptions::default().batch_size(4).shuffle(false);
//! let reviews = text_dataset_from_directory(dir.path(), &options)?;
//! let batch = reviews.get(0)?;
//! assert_eq!(batch.texts, ["bad", "awful", "good", "great"]);
//! assert_eq!(batch.labels.map(|l| l.to_f32_vec()), Some(vec![0.0, 0.0, 1.0, 1.0]));
//! # Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
//! ```
//!
//! [`image_dataset_from_directory`]: crate::image_dataset_from_directory

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::array::HostArray;
use crate::dataset::{Batch, BoxError, Dataset};
use crate::error::{Error, Result};
use crate::image_dataset::{LabelMode, Labels, ListingOptions, Samples, Subset};
use crate::image_dataset::{both_subset, list_directory};

/// The text file extensions read (Keras reads `.txt` only), matched case-insensitively.
pub const TEXT_FORMATS: &[&str] = &[".txt"];

/// The options of [`text_dataset_from_directory`], with Keras's defaults; set them with the
/// builder methods of the same names.
///
/// # Examples
/// ```
/// use kiln_datasets::{LabelMode, TextDatasetOptions};
/// let options = TextDatasetOptions::default().label_mode(LabelMode::Binary).max_length(200);
/// assert_eq!(options.batch_size, 32);
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct TextDatasetOptions {
    /// Where labels come from (default [`Labels::Inferred`]).
    pub labels: Labels,
    /// How labels are encoded (default [`LabelMode::Int`]).
    pub label_mode: LabelMode,
    /// With inferred labels only: the class folders to read, in this order.
    pub class_names: Option<Vec<String>>,
    /// Texts per batch, the last batch keeping the remainder (default 32).
    pub batch_size: usize,
    /// The most bytes kept of each text (see the [module](self)); all when `None`.
    pub max_length: Option<usize>,
    /// Whether the files are shuffled (default `true`).
    pub shuffle: bool,
    /// The seed of the shuffle (NumPy's `RandomState` seed); a random one when `None`.
    pub seed: Option<u32>,
    /// The fraction of the files kept for validation, in `(0, 1)`.
    pub validation_split: Option<f64>,
    /// Which part of the split to return; required with `validation_split`.
    pub subset: Option<Subset>,
    /// Whether links to folders are followed inside the class folders (default `false`).
    pub follow_links: bool,
}

impl Default for TextDatasetOptions {
    fn default() -> Self {
        Self {
            labels: Labels::Inferred,
            label_mode: LabelMode::Int,
            class_names: None,
            batch_size: 32,
            max_length: None,
            shuffle: true,
            seed: None,
            validation_split: None,
            subset: None,
            follow_links: false,
        }
    }
}

impl TextDatasetOptions {
    /// Sets [`TextDatasetOptions::labels`].
    #[must_use]
    pub fn labels(mut self, labels: Labels) -> Self {
        self.labels = labels;
        self
    }
    /// Sets [`TextDatasetOptions::label_mode`].
    #[must_use]
    pub fn label_mode(mut self, label_mode: LabelMode) -> Self {
        self.label_mode = label_mode;
        self
    }
    /// Sets [`TextDatasetOptions::class_names`].
    #[must_use]
    pub fn class_names<S: Into<String>>(mut self, names: impl IntoIterator<Item = S>) -> Self {
        self.class_names = Some(names.into_iter().map(Into::into).collect());
        self
    }
    /// Sets [`TextDatasetOptions::batch_size`].
    #[must_use]
    pub fn batch_size(mut self, batch_size: usize) -> Self {
        self.batch_size = batch_size;
        self
    }
    /// Sets [`TextDatasetOptions::max_length`].
    #[must_use]
    pub fn max_length(mut self, max_length: usize) -> Self {
        self.max_length = Some(max_length);
        self
    }
    /// Sets [`TextDatasetOptions::shuffle`].
    #[must_use]
    pub fn shuffle(mut self, shuffle: bool) -> Self {
        self.shuffle = shuffle;
        self
    }
    /// Sets [`TextDatasetOptions::seed`].
    #[must_use]
    pub fn seed(mut self, seed: u32) -> Self {
        self.seed = Some(seed);
        self
    }
    /// Sets [`TextDatasetOptions::validation_split`].
    #[must_use]
    pub fn validation_split(mut self, fraction: f64) -> Self {
        self.validation_split = Some(fraction);
        self
    }
    /// Sets [`TextDatasetOptions::subset`].
    #[must_use]
    pub fn subset(mut self, subset: Subset) -> Self {
        self.subset = Some(subset);
        self
    }
    /// Sets [`TextDatasetOptions::follow_links`].
    #[must_use]
    pub fn follow_links(mut self, follow_links: bool) -> Self {
        self.follow_links = follow_links;
        self
    }

    fn listing(&self) -> ListingOptions<'_> {
        ListingOptions {
            labels: &self.labels,
            label_mode: self.label_mode,
            class_names: self.class_names.as_deref(),
            batch_size: self.batch_size,
            shuffle: self.shuffle,
            seed: self.seed,
            validation_split: self.validation_split,
            subset: self.subset,
            follow_links: self.follow_links,
            formats: TEXT_FORMATS,
            what: ["text files", "training text files", "validation text files"],
        }
    }
}

/// Makes a [`TextDataset`] of the `.txt` files in `directory` (Keras's
/// `keras.utils.text_dataset_from_directory`). Files are listed now and read when their
/// batch is asked for.
///
/// # Errors
/// As [`image_dataset_from_directory`](crate::image_dataset_from_directory): bad or
/// incompatible options, an unreadable folder, class names or labels that do not match the
/// folder, [`Error::NoFilesFound`] without text files; [`Subset::Both`] needs
/// [`text_dataset_from_directory_both`].
///
/// # Examples
/// ```
/// use kiln_datasets::{Subset, TextDatasetOptions, text_dataset_from_directory};
///
/// let dir = tempfile::tempdir()?;
/// std::fs::create_dir(dir.path().join("a"))?;
/// for i in 0..10 {
///     std::fs::write(dir.path().join("a").join(format!("{i}.txt")), "some text")?;
/// }
/// let options = TextDatasetOptions::default().seed(1).validation_split(0.2);
/// let val = text_dataset_from_directory(dir.path(), &options.subset(Subset::Validation))?;
/// assert_eq!(val.num_samples(), 2);
/// # Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
/// ```
pub fn text_dataset_from_directory(
    directory: impl AsRef<Path>,
    options: &TextDatasetOptions,
) -> Result<TextDataset> {
    if options.subset == Some(Subset::Both) {
        return Err(Error::IncompatibleOptions {
            reason: "`subset` Both returns two data sets: call `text_dataset_from_directory_both`"
                .into(),
        });
    }
    let mut parts = list_directory(directory.as_ref(), &options.listing())?;
    let samples = parts.pop().ok_or_else(|| Error::IncompatibleOptions {
        reason: "no subset was made".into(),
    })?;
    Ok(TextDataset {
        samples,
        max_length: options.max_length,
    })
}

/// The training and the validation [`TextDataset`] of one `validation_split` (Keras's
/// `subset="both"`).
///
/// # Errors
/// Those of [`text_dataset_from_directory`]; `validation_split` is required.
///
/// # Examples
/// ```
/// use kiln_datasets::{TextDatasetOptions, text_dataset_from_directory_both};
///
/// let dir = tempfile::tempdir()?;
/// std::fs::create_dir(dir.path().join("a"))?;
/// for i in 0..4 {
///     std::fs::write(dir.path().join("a").join(format!("{i}.txt")), "text")?;
/// }
/// let options = TextDatasetOptions::default().seed(3).validation_split(0.25);
/// let (train, val) = text_dataset_from_directory_both(dir.path(), &options)?;
/// assert_eq!((train.num_samples(), val.num_samples()), (3, 1));
/// # Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
/// ```
pub fn text_dataset_from_directory_both(
    directory: impl AsRef<Path>,
    options: &TextDatasetOptions,
) -> Result<(TextDataset, TextDataset)> {
    let mut listing = options.listing();
    listing.subset = both_subset(options.subset)?;
    let mut parts = list_directory(directory.as_ref(), &listing)?.into_iter();
    let max_length = options.max_length;
    match (parts.next(), parts.next()) {
        (Some(train), Some(val)) => Ok((
            TextDataset {
                samples: train,
                max_length,
            },
            TextDataset {
                samples: val,
                max_length,
            },
        )),
        _ => Err(Error::IncompatibleOptions {
            reason: "`subset` Both needs `validation_split`".into(),
        }),
    }
}

/// One batch of a [`TextDataset`]: the texts and, unless labels are off, their labels.
#[derive(Debug, Clone, PartialEq)]
pub struct TextBatch {
    /// The texts, one per file.
    pub texts: Vec<String>,
    /// The labels, encoded as the [`LabelMode`] says (`int32` `[batch]`, `float32`
    /// `[batch, classes]` or `[batch, 1]`); `None` without labels.
    pub labels: Option<HostArray>,
}

/// A text data set made by [`text_dataset_from_directory`]: the file list with its labels,
/// read batch by batch as [`TextBatch`]es.
#[derive(Debug, Clone)]
pub struct TextDataset {
    samples: Samples,
    max_length: Option<usize>,
}

impl TextDataset {
    /// Batches per epoch.
    pub fn len(&self) -> usize {
        self.samples.num_batches()
    }

    /// Whether there are no batches.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The number of texts.
    pub fn num_samples(&self) -> usize {
        self.samples.paths.len()
    }

    /// Batch `index`, `0..len()`: its files read now.
    ///
    /// # Errors
    /// An index past the end, or [`Error::Io`] naming a file that cannot be read.
    pub fn get(&self, index: usize) -> Result<TextBatch, BoxError> {
        let rows = self.samples.batch_rows(index)?;
        let texts = rows
            .iter()
            .map(|&row| read_text(&self.samples.paths[row], self.max_length))
            .collect::<Result<Vec<_>>>()?;
        Ok(TextBatch {
            texts,
            labels: self.samples.encode_labels(rows)?,
        })
    }

    /// Reshuffles the texts for the next epoch, when the data set shuffles (Keras's training
    /// set, or a set without split).
    pub fn on_epoch_end(&mut self) {
        self.samples.on_epoch_end();
    }

    /// The class names, in label order (Keras's `dataset.class_names`); `None` without labels.
    pub fn class_names(&self) -> Option<&[String]> {
        self.samples.class_names.as_deref()
    }

    /// The text files, in Keras's order (shuffled once with the seed, then split).
    pub fn file_paths(&self) -> &[PathBuf] {
        &self.samples.paths
    }

    /// The label of each file of [`TextDataset::file_paths`]; `None` without labels.
    pub fn labels(&self) -> Option<&[i64]> {
        self.samples.labels.as_deref()
    }

    /// A [`Dataset`] whose batches are `vectorize(texts)` as the input and the labels as the
    /// target (inputs only without labels): how texts reach `fit`.
    ///
    /// # Examples
    /// ```
    /// use kiln_datasets::{Dataset, HostArray, TextDatasetOptions, text_dataset_from_directory};
    ///
    /// let dir = tempfile::tempdir()?;
    /// std::fs::create_dir(dir.path().join("a"))?;
    /// std::fs::write(dir.path().join("a/0.txt"), "one two three")?;
    /// let texts = text_dataset_from_directory(dir.path(), &TextDatasetOptions::default())?;
    /// // A toy vectorizer: the number of words of each text.
    /// let counts = texts.map_texts(|batch: &[String]| {
    ///     let n: Vec<i32> = batch.iter().map(|t| t.split_whitespace().count() as i32).collect();
    ///     Ok(HostArray::from(n))
    /// });
    /// assert_eq!(counts.get(0)?.x[0].to_f32_vec(), [3.0]);
    /// # Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
    /// ```
    pub fn map_texts<F>(self, vectorize: F) -> MapTexts<F>
    where
        F: Fn(&[String]) -> Result<HostArray, BoxError> + Sync,
    {
        MapTexts {
            texts: self,
            vectorize,
        }
    }
}

/// As a [`Dataset`], each batch holds the texts as a string array `[batch]` (Keras's string
/// tensors) and the labels: what a model that starts with a `TextVectorization` on an
/// `Input` of shape `()` and dtype `"string"` takes in `fit`.
impl Dataset for TextDataset {
    fn len(&self) -> usize {
        TextDataset::len(self)
    }

    fn get(&self, index: usize) -> Result<Batch, BoxError> {
        let batch = TextDataset::get(self, index)?;
        let x = HostArray::from(batch.texts);
        Ok(match batch.labels {
            Some(y) => Batch::new(x, y),
            None => Batch::inputs(x),
        })
    }

    fn on_epoch_end(&mut self) {
        TextDataset::on_epoch_end(self);
    }
}

/// A [`TextDataset`] with its texts turned into numbers ([`TextDataset::map_texts`]).
pub struct MapTexts<F> {
    texts: TextDataset,
    vectorize: F,
}

impl<F> std::fmt::Debug for MapTexts<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MapTexts")
            .field("texts", &self.texts)
            .finish_non_exhaustive()
    }
}

impl<F> MapTexts<F> {
    /// The text data set.
    pub fn texts(&self) -> &TextDataset {
        &self.texts
    }
}

impl<F> Dataset for MapTexts<F>
where
    F: Fn(&[String]) -> Result<HostArray, BoxError> + Sync,
{
    fn len(&self) -> usize {
        self.texts.len()
    }

    fn get(&self, index: usize) -> Result<Batch, BoxError> {
        let batch = self.texts.get(index)?;
        let x = (self.vectorize)(&batch.texts)?;
        Ok(match batch.labels {
            Some(y) => Batch::new(x, y),
            None => Batch::inputs(x),
        })
    }

    fn on_epoch_end(&mut self) {
        self.texts.on_epoch_end();
    }
}

/// Reads a text file, keeping at most `max_length` bytes and never half a character.
fn read_text(path: &Path, max_length: Option<usize>) -> Result<String> {
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let mut bytes = Vec::new();
    match max_length {
        Some(max) => {
            // One byte more than kept tells whether the cut falls inside a character.
            let limit = u64::try_from(max).unwrap_or(u64::MAX).saturating_add(1);
            file.take(limit).read_to_end(&mut bytes).map_err(io)?;
        }
        None => {
            let mut file = file;
            file.read_to_end(&mut bytes).map_err(io)?;
        }
    }
    Ok(truncate_text(&bytes, max_length))
}

/// The first `max_length` bytes of `bytes` as text, less a character the cut would split.
fn truncate_text(bytes: &[u8], max_length: Option<usize>) -> String {
    let cut = match max_length {
        Some(max) if max < bytes.len() => {
            let mut end = max;
            // Back off over continuation bytes (`10xxxxxx`) of a character that goes past
            // the cut.
            while end > 0 && (bytes[end] & 0xC0) == 0x80 {
                end -= 1;
            }
            &bytes[..end]
        }
        _ => bytes,
    };
    String::from_utf8_lossy(cut).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_keeps_whole_characters() {
        let text = "héllo".as_bytes(); // h, é (2 bytes), l, l, o
        assert_eq!(truncate_text(text, Some(1)), "h");
        assert_eq!(truncate_text(text, Some(2)), "h");
        assert_eq!(truncate_text(text, Some(3)), "hé");
        assert_eq!(truncate_text(text, Some(100)), "héllo");
        assert_eq!(truncate_text(text, None), "héllo");
        assert_eq!(truncate_text(text, Some(0)), "");
    }
}
