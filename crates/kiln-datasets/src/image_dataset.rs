//! Keras's `keras.utils.image_dataset_from_directory`: a [`Dataset`] of image batches read from
//! a folder of class sub-folders, with Keras's labels, file order, shuffle and validation split.
//!
//! ```text
//! main_directory/
//! ...class_a/
//! ......a_image_1.jpg
//! ......a_image_2.jpg
//! ...class_b/
//! ......b_image_1.jpg
//! ......b_image_2.jpg
//! ```
//!
//! [`image_dataset_from_directory`] on `main_directory` yields batches of the images of
//! `class_a` and `class_b` with labels 0 and 1. Files are listed once, when the data set is
//! made; each image is read, decoded and resized only when the batch holding it is asked for.
//!
//! # What is reproduced exactly
//! - The file list: sub-folders in alphanumeric order (or the order of `class_names`), each
//!   walked recursively with Keras's ordering (folders sorted by their path string, then files
//!   by name), extensions `.bmp .gif .jpeg .jpg .png` in any case; with `shuffle` the list is
//!   shuffled by NumPy's `RandomState(seed)` exactly as Keras does, so
//!   [`ImageDataset::file_paths`] is Keras's `dataset.file_paths`, and `validation_split` puts
//!   the same files in the same subset as Keras for the same seed.
//! - Labels: `int` as `int32` `[batch]`, `categorical` as `float32` one-hot
//!   `[batch, classes]`, `binary` as `float32` `[batch, 1]`; given labels make the class names
//!   their sorted distinct values, as in Keras.
//! - The option checks Keras makes (its `ValueError`s are typed [`Error`]s here).
//!
//! # What differs from Keras
//! - Images are `u8`, `[batch, height, width, channels]` (channels last), not `float32`: a
//!   quarter of the memory until the batch reaches the device. Values are still 0..=255; add a
//!   `Rescaling(1/255)` layer (or scale in the model) as in Keras.
//! - Resizing uses the `image` crate (`bilinear` is its triangle filter with half-pixel
//!   centres). Enlarging matches TensorFlow's and JAX's bilinear resize up to the rounding to
//!   `u8` (Keras keeps the fractional `float32` values, so values differ by at most 0.5).
//!   Shrinking differs more: the `image` crate widens its filter by the shrink factor (an
//!   anti-aliased resize, as `antialias=True`), where Keras's default samples the 2×2 nearest
//!   source pixels only; images of the target size are not resampled at all.
//! - Grayscale from colour uses PIL's ITU-R 601 weights and rounding
//!   (`L = 0.299 R + 0.587 G + 0.114 B`), exactly as Keras's `format="grain"` path; Keras's
//!   default TensorFlow path converts inside its PNG and JPEG decoders, whose weights and
//!   rounding may differ slightly. Alpha is dropped for `rgb` and `grayscale`, not blended.
//! - Keras's `verbose` messages ("Found 12 files belonging to 3 classes.") are not printed:
//!   [`ImageDataset::file_paths`] and [`ImageDataset::class_names`] tell the same.
//! - Keras's training data set is also shuffled again at every epoch through a `tf.data`
//!   buffer, which cannot be reproduced outside TensorFlow: here the first epoch reads the
//!   files in [`ImageDataset::file_paths`] order and each later epoch in a new seeded
//!   permutation of them ([`Dataset::on_epoch_end`]).
//! - `batch_size=None` (unbatched samples), `data_format="channels_first"` and the
//!   `area`, `lanczos5` and `mitchellcubic` interpolations are not offered.
//! - With `follow_links`, a link that leads back to a folder already walked is not walked
//!   again (Python's `os.walk` would loop).
//!
//! # Examples
//! ```
//! use kiln_datasets::{Dataset, HostArray, ImageDatasetOptions, Subset, image_dataset_from_directory};
//!
//! let dir = tempfile::tempdir()?;
//! for (class, n) in [("cat", 3), ("dog", 2)] {
//!     std::fs::create_dir(dir.path().join(class))?;
//!     for i in 0..n {
//!         let img = image::RgbImage::from_pixel(8, 6, image::Rgb([i * 40, 0, 0]));
//!         img.save(dir.path().join(class).join(format!("{i}.png")))?;
//!     }
//! }
//! let options = ImageDatasetOptions::default()
//!     .image_size(4, 4)
//!     .batch_size(2)
//!     .seed(1337)
//!     .validation_split(0.2)
//!     .subset(Subset::Training);
//! let train = image_dataset_from_directory(dir.path(), &options)?;
//! assert_eq!(train.class_names(), Some(&["cat".to_string(), "dog".to_string()][..]));
//! assert_eq!(train.file_paths().len(), 4); // one of the five files is kept for validation
//! assert_eq!(train.len(), 2); // batches
//! let batch = train.get(0)?;
//! assert_eq!(batch.x[0].shape(), &[2, 4, 4, 3]); // u8 images
//! assert!(matches!(batch.y[0], HostArray::I32(_))); // int labels, [2]
//! # Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
//! ```
//!
//! [`Error`]: crate::Error

use std::collections::HashSet;
use std::ffi::OsString;
use std::io::Cursor;
use std::path::{Path, PathBuf};

use image::DynamicImage;

/// The largest width or height of an image file that is decoded (a larger one is an
/// [`Error::ImageDecode`]).
pub const MAX_DECODED_SIDE: u32 = 16_384;

/// The most memory one image's decoder may take (128 MiB: a 6000 × 7000 RGB photo fits).
pub const MAX_DECODED_BYTES: u64 = 128 << 20;
use image::imageops::FilterType;
use ndarray::{Array1, Array2, ArrayD, IxDyn};
use rand::SeedableRng;
use rand::seq::SliceRandom;

use crate::array::HostArray;
use crate::dataset::{Batch, BoxError, Dataset};
use crate::error::{Error, Result};
use crate::random_state::RandomState;

/// The largest image, in bytes after resizing (`height * width * channels`), that an
/// [`ImageDataset`] makes: 512 MiB, the `image` crate's default decoding limit.
pub const MAX_IMAGE_BYTES: u64 = 512 << 20;

/// The image file extensions read (Keras's `ALLOWLIST_FORMATS`), matched case-insensitively.
pub const IMAGE_FORMATS: &[&str] = &[".bmp", ".gif", ".jpeg", ".jpg", ".png"];

/// Where labels come from (Keras's `labels` argument).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Labels {
    /// From the sub-folder names: the files of the `i`-th class folder get label `i`
    /// (Keras's `"inferred"`, the default).
    #[default]
    Inferred,
    /// One label per file, in the alphanumeric order of the file paths (all sub-folders
    /// walked from the top folder). The class names are the sorted distinct labels.
    Given(Vec<i64>),
    /// No labels: batches hold images only (Keras's `None`).
    None,
}

/// How labels are encoded in batches (Keras's `label_mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LabelMode {
    /// `int32` class indices, `[batch]` (for a sparse categorical cross-entropy; the default).
    #[default]
    Int,
    /// `float32` one-hot vectors, `[batch, classes]` (for a categorical cross-entropy).
    Categorical,
    /// `float32` 0 or 1, `[batch, 1]`, with exactly two classes (for a binary cross-entropy).
    Binary,
    /// No labels (Keras's `None`).
    None,
}

/// Which part of a `validation_split` to return (Keras's `subset`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subset {
    /// The first `1 - validation_split` of the (shuffled) files.
    Training,
    /// The last `validation_split` of the (shuffled) files.
    Validation,
    /// Both: use the `*_both` functions, which return the two data sets.
    Both,
}

/// The channels images are converted to (Keras's `color_mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ColorMode {
    /// One channel.
    Grayscale,
    /// Three channels (the default).
    #[default]
    Rgb,
    /// Four channels; images without alpha get 255.
    Rgba,
}

impl ColorMode {
    /// The number of channels: 1, 3 or 4.
    pub fn channels(self) -> usize {
        match self {
            ColorMode::Grayscale => 1,
            ColorMode::Rgb => 3,
            ColorMode::Rgba => 4,
        }
    }
}

/// The resampling filter used to resize images (Keras's `interpolation`), mapped onto the
/// `image` crate's filters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Interpolation {
    /// Nearest neighbour.
    Nearest,
    /// Bilinear (the `image` crate's triangle filter; the default, as in Keras).
    #[default]
    Bilinear,
    /// Bicubic (Catmull-Rom, the Keys cubic with `a = -0.5` that JAX's `cubic` uses).
    Bicubic,
    /// Lanczos with a window of 3.
    Lanczos3,
    /// Gaussian (the `image` crate's, not TensorFlow's kernel width).
    Gaussian,
}

impl Interpolation {
    fn filter(self) -> FilterType {
        match self {
            Interpolation::Nearest => FilterType::Nearest,
            Interpolation::Bilinear => FilterType::Triangle,
            Interpolation::Bicubic => FilterType::CatmullRom,
            Interpolation::Lanczos3 => FilterType::Lanczos3,
            Interpolation::Gaussian => FilterType::Gaussian,
        }
    }
}

/// The options of [`image_dataset_from_directory`], with Keras's defaults; set them with the
/// builder methods of the same names.
///
/// # Examples
/// ```
/// use kiln_datasets::{ColorMode, ImageDatasetOptions, LabelMode};
/// let options = ImageDatasetOptions::default()
///     .label_mode(LabelMode::Categorical)
///     .color_mode(ColorMode::Grayscale)
///     .image_size(28, 28);
/// assert_eq!(options.batch_size, 32);
/// assert_eq!(options.image_size, (28, 28));
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ImageDatasetOptions {
    /// Where labels come from (default [`Labels::Inferred`]).
    pub labels: Labels,
    /// How labels are encoded (default [`LabelMode::Int`]).
    pub label_mode: LabelMode,
    /// With inferred labels only: the class folders to read, in this order (a subset of the
    /// sub-folders); otherwise all sub-folders in alphanumeric order.
    pub class_names: Option<Vec<String>>,
    /// The channels of the images (default [`ColorMode::Rgb`]).
    pub color_mode: ColorMode,
    /// Images per batch, the last batch keeping the remainder (default 32).
    pub batch_size: usize,
    /// `(height, width)` every image is resized to (default `(256, 256)`); at most
    /// [`MAX_IMAGE_BYTES`] per image.
    pub image_size: (u32, u32),
    /// Whether the files are shuffled (default `true`); otherwise they stay in alphanumeric
    /// order.
    pub shuffle: bool,
    /// The seed of the shuffle (NumPy's `RandomState` seed); a random one when `None`.
    pub seed: Option<u32>,
    /// The fraction of the files kept for validation, in `(0, 1)`.
    pub validation_split: Option<f64>,
    /// Which part of the split to return; required with `validation_split`.
    pub subset: Option<Subset>,
    /// The resampling filter (default [`Interpolation::Bilinear`]).
    pub interpolation: Interpolation,
    /// Whether links to folders are followed inside the class folders (default `false`).
    pub follow_links: bool,
    /// Crops each image to the target aspect ratio (the largest centred window) before
    /// resizing, instead of distorting it.
    pub crop_to_aspect_ratio: bool,
    /// Pads each image with black to the target aspect ratio (centred) before resizing,
    /// instead of distorting it.
    pub pad_to_aspect_ratio: bool,
}

impl Default for ImageDatasetOptions {
    fn default() -> Self {
        Self {
            labels: Labels::Inferred,
            label_mode: LabelMode::Int,
            class_names: None,
            color_mode: ColorMode::Rgb,
            batch_size: 32,
            image_size: (256, 256),
            shuffle: true,
            seed: None,
            validation_split: None,
            subset: None,
            interpolation: Interpolation::Bilinear,
            follow_links: false,
            crop_to_aspect_ratio: false,
            pad_to_aspect_ratio: false,
        }
    }
}

impl ImageDatasetOptions {
    /// Sets [`ImageDatasetOptions::labels`].
    #[must_use]
    pub fn labels(mut self, labels: Labels) -> Self {
        self.labels = labels;
        self
    }
    /// Sets [`ImageDatasetOptions::label_mode`].
    #[must_use]
    pub fn label_mode(mut self, label_mode: LabelMode) -> Self {
        self.label_mode = label_mode;
        self
    }
    /// Sets [`ImageDatasetOptions::class_names`].
    #[must_use]
    pub fn class_names<S: Into<String>>(mut self, names: impl IntoIterator<Item = S>) -> Self {
        self.class_names = Some(names.into_iter().map(Into::into).collect());
        self
    }
    /// Sets [`ImageDatasetOptions::color_mode`].
    #[must_use]
    pub fn color_mode(mut self, color_mode: ColorMode) -> Self {
        self.color_mode = color_mode;
        self
    }
    /// Sets [`ImageDatasetOptions::batch_size`].
    #[must_use]
    pub fn batch_size(mut self, batch_size: usize) -> Self {
        self.batch_size = batch_size;
        self
    }
    /// Sets [`ImageDatasetOptions::image_size`] (height, then width, as Keras).
    #[must_use]
    pub fn image_size(mut self, height: u32, width: u32) -> Self {
        self.image_size = (height, width);
        self
    }
    /// Sets [`ImageDatasetOptions::shuffle`].
    #[must_use]
    pub fn shuffle(mut self, shuffle: bool) -> Self {
        self.shuffle = shuffle;
        self
    }
    /// Sets [`ImageDatasetOptions::seed`].
    #[must_use]
    pub fn seed(mut self, seed: u32) -> Self {
        self.seed = Some(seed);
        self
    }
    /// Sets [`ImageDatasetOptions::validation_split`].
    #[must_use]
    pub fn validation_split(mut self, fraction: f64) -> Self {
        self.validation_split = Some(fraction);
        self
    }
    /// Sets [`ImageDatasetOptions::subset`].
    #[must_use]
    pub fn subset(mut self, subset: Subset) -> Self {
        self.subset = Some(subset);
        self
    }
    /// Sets [`ImageDatasetOptions::interpolation`].
    #[must_use]
    pub fn interpolation(mut self, interpolation: Interpolation) -> Self {
        self.interpolation = interpolation;
        self
    }
    /// Sets [`ImageDatasetOptions::follow_links`].
    #[must_use]
    pub fn follow_links(mut self, follow_links: bool) -> Self {
        self.follow_links = follow_links;
        self
    }
    /// Sets [`ImageDatasetOptions::crop_to_aspect_ratio`].
    #[must_use]
    pub fn crop_to_aspect_ratio(mut self, crop: bool) -> Self {
        self.crop_to_aspect_ratio = crop;
        self
    }
    /// Sets [`ImageDatasetOptions::pad_to_aspect_ratio`].
    #[must_use]
    pub fn pad_to_aspect_ratio(mut self, pad: bool) -> Self {
        self.pad_to_aspect_ratio = pad;
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
            formats: IMAGE_FORMATS,
            what: ["images", "training images", "validation images"],
        }
    }

    fn image_spec(&self) -> Result<ImageSpec> {
        let (height, width) = self.image_size;
        if height == 0 || width == 0 {
            return Err(Error::InvalidArgument {
                name: "image_size",
                reason: format!("must be positive, got ({height}, {width})"),
            });
        }
        if self.crop_to_aspect_ratio && self.pad_to_aspect_ratio {
            return Err(Error::IncompatibleOptions {
                reason: "only one of `crop_to_aspect_ratio` and `pad_to_aspect_ratio` can be set"
                    .into(),
            });
        }
        Ok(ImageSpec {
            height,
            width,
            color_mode: self.color_mode,
            interpolation: self.interpolation,
            crop_to_aspect_ratio: self.crop_to_aspect_ratio,
            pad_to_aspect_ratio: self.pad_to_aspect_ratio,
        })
    }
}

/// Makes a [`Dataset`] of the images in `directory` (Keras's
/// `keras.utils.image_dataset_from_directory`).
///
/// Batches are `u8` images `[batch, height, width, channels]` in `x[0]` and, unless labels
/// are off, labels in `y[0]` as [`LabelMode`] describes. See the [module](self) for what is
/// reproduced from Keras and what differs.
///
/// # Errors
/// - [`Error::InvalidArgument`] for a value out of range (`batch_size` 0, an `image_size` of
///   0, `validation_split` outside `(0, 1)`, a label that does not fit its encoding);
/// - [`Error::IncompatibleOptions`] for options Keras refuses together: `subset` without
///   `validation_split` or the reverse, a split of shuffled files without `seed`,
///   `class_names` without inferred labels, both aspect-ratio options, and
///   [`Subset::Both`] (use [`image_dataset_from_directory_both`]);
/// - [`Error::Io`] when the folder cannot be listed; [`Error::UnknownClassNames`],
///   [`Error::LabelCountMismatch`], [`Error::BinaryNeedsTwoClasses`];
/// - [`Error::NoFilesFound`] when no image is left (in the subset asked for);
/// - [`Error::TooLarge`] when an image of `image_size` is over [`MAX_IMAGE_BYTES`] or a batch
///   of them would not fit in memory.
///
/// An image that cannot be read or decoded is reported by the [`Dataset::get`] of its batch,
/// as an [`Error::Io`] or [`Error::ImageDecode`] naming the file.
///
/// # Examples
/// ```
/// use kiln_datasets::{Dataset, ImageDatasetOptions, Labels, image_dataset_from_directory};
///
/// let dir = tempfile::tempdir()?;
/// for name in ["b.png", "a.bmp", "c.jpg"] {
///     image::RgbImage::new(5, 5).save(dir.path().join(name))?;
/// }
/// // No labels: batches of images only, in alphanumeric order without shuffling.
/// let options = ImageDatasetOptions::default()
///     .labels(Labels::None)
///     .shuffle(false)
///     .image_size(5, 5);
/// let images = image_dataset_from_directory(dir.path(), &options)?;
/// let names: Vec<_> = images.file_paths().iter().filter_map(|p| p.file_name()).collect();
/// assert_eq!(names, ["a.bmp", "b.png", "c.jpg"]);
/// let batch = images.get(0)?;
/// assert_eq!(batch.x[0].shape(), &[3, 5, 5, 3]);
/// assert!(batch.y.is_empty());
/// # Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
/// ```
pub fn image_dataset_from_directory(
    directory: impl AsRef<Path>,
    options: &ImageDatasetOptions,
) -> Result<ImageDataset> {
    if options.subset == Some(Subset::Both) {
        return Err(Error::IncompatibleOptions {
            reason: "`subset` Both returns two data sets: call `image_dataset_from_directory_both`"
                .into(),
        });
    }
    let spec = options.image_spec()?;
    let mut parts = list_directory(directory.as_ref(), &options.listing())?;
    let samples = parts.pop().ok_or_else(|| Error::IncompatibleOptions {
        reason: "no subset was made".into(),
    })?;
    ImageDataset::new(samples, spec)
}

/// The training and the validation [`ImageDataset`] of one `validation_split` (Keras's
/// `subset="both"`): the same file list, shuffled once with `seed`, cut in two. `subset` may
/// be left unset or be [`Subset::Both`]; the validation set is not reshuffled between epochs.
///
/// # Errors
/// Those of [`image_dataset_from_directory`]; `validation_split` is required, and
/// [`Error::NoFilesFound`] names the subset left without images.
///
/// # Examples
/// ```
/// use kiln_datasets::{ImageDatasetOptions, image_dataset_from_directory_both};
///
/// let dir = tempfile::tempdir()?;
/// for class in ["a", "b"] {
///     std::fs::create_dir(dir.path().join(class))?;
///     for i in 0..5 {
///         image::GrayImage::new(3, 3).save(dir.path().join(class).join(format!("{i}.png")))?;
///     }
/// }
/// let options = ImageDatasetOptions::default().image_size(3, 3).seed(42).validation_split(0.3);
/// let (train, val) = image_dataset_from_directory_both(dir.path(), &options)?;
/// assert_eq!((train.file_paths().len(), val.file_paths().len()), (7, 3));
/// # Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
/// ```
pub fn image_dataset_from_directory_both(
    directory: impl AsRef<Path>,
    options: &ImageDatasetOptions,
) -> Result<(ImageDataset, ImageDataset)> {
    let spec = options.image_spec()?;
    let mut listing = options.listing();
    listing.subset = both_subset(options.subset)?;
    let parts = list_directory(directory.as_ref(), &listing)?;
    let mut parts = parts.into_iter();
    match (parts.next(), parts.next()) {
        (Some(train), Some(val)) => Ok((
            ImageDataset::new(train, spec.clone())?,
            ImageDataset::new(val, spec)?,
        )),
        _ => Err(Error::IncompatibleOptions {
            reason: "`subset` Both needs `validation_split`".into(),
        }),
    }
}

/// The `subset` of a `*_both` call: unset or [`Subset::Both`].
pub(crate) fn both_subset(subset: Option<Subset>) -> Result<Option<Subset>> {
    match subset {
        None | Some(Subset::Both) => Ok(Some(Subset::Both)),
        Some(other) => Err(Error::IncompatibleOptions {
            reason: format!("the `*_both` functions return both subsets, got `subset` {other:?}"),
        }),
    }
}

/// How images are decoded and resized.
#[derive(Debug, Clone, PartialEq)]
struct ImageSpec {
    height: u32,
    width: u32,
    color_mode: ColorMode,
    interpolation: Interpolation,
    crop_to_aspect_ratio: bool,
    pad_to_aspect_ratio: bool,
}

impl ImageSpec {
    fn sample_len(&self) -> Option<usize> {
        usize::try_from(self.height)
            .ok()?
            .checked_mul(usize::try_from(self.width).ok()?)?
            .checked_mul(self.color_mode.channels())
    }

    /// Reads, decodes, converts and resizes one image into `out` (`height * width * channels`
    /// bytes, row-major, channels last).
    fn load_into(&self, path: &Path, out: &mut [u8]) -> Result<()> {
        let bytes = std::fs::read(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let decode_error = |source| Error::ImageDecode {
            path: path.to_path_buf(),
            source,
        };
        let mut reader = image::io::Reader::new(Cursor::new(bytes))
            .with_guessed_format()
            .map_err(|e| decode_error(image::ImageError::IoError(e)))?;
        // A header may claim any size: decoding is bounded before anything is allocated.
        let mut limits = image::io::Limits::default();
        limits.max_image_width = Some(MAX_DECODED_SIDE);
        limits.max_image_height = Some(MAX_DECODED_SIDE);
        limits.max_alloc = Some(MAX_DECODED_BYTES);
        reader.limits(limits);
        let image = reader.decode().map_err(decode_error)?;
        let image = match self.color_mode {
            ColorMode::Grayscale if image.color().has_color() => {
                DynamicImage::ImageLuma8(pil_luma(&image.to_rgb8()))
            }
            ColorMode::Grayscale => DynamicImage::ImageLuma8(image.to_luma8()),
            ColorMode::Rgb => DynamicImage::ImageRgb8(image.to_rgb8()),
            ColorMode::Rgba => DynamicImage::ImageRgba8(image.to_rgba8()),
        };
        let image = if self.crop_to_aspect_ratio {
            crop_to_aspect(image, self.height, self.width)
        } else if self.pad_to_aspect_ratio {
            pad_to_aspect(image, self.height, self.width)
        } else {
            image
        };
        let image = if image.height() == self.height && image.width() == self.width {
            image
        } else {
            image.resize_exact(self.width, self.height, self.interpolation.filter())
        };
        let pixels = image.as_bytes();
        if pixels.len() != out.len() {
            return Err(Error::UnexpectedContent {
                path: path.to_path_buf(),
                reason: format!(
                    "the resized image holds {} bytes, expected {}",
                    pixels.len(),
                    out.len()
                ),
            });
        }
        out.copy_from_slice(pixels);
        Ok(())
    }
}

/// RGB to one channel as PIL's `convert("L")`: `(19595 R + 38470 G + 7471 B + 2^15) >> 16`.
fn pil_luma(rgb: &image::RgbImage) -> image::GrayImage {
    image::GrayImage::from_fn(rgb.width(), rgb.height(), |x, y| {
        let [r, g, b] = rgb.get_pixel(x, y).0;
        let l =
            (u32::from(r) * 19_595 + u32::from(g) * 38_470 + u32::from(b) * 7_471 + 0x8000) >> 16;
        image::Luma([u8::try_from(l).unwrap_or(u8::MAX)])
    })
}

/// `int(float(a * b) / c)` for the sizes of Keras's aspect-ratio crop and pad.
#[allow(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::cast_precision_loss
)]
fn scaled(a: u32, b: u32, c: u32) -> u32 {
    ((f64::from(a) * f64::from(b)) / f64::from(c)) as u32
}

/// Keras's `crop_to_aspect_ratio`: the largest centred window of the target aspect ratio.
fn crop_to_aspect(image: DynamicImage, target_h: u32, target_w: u32) -> DynamicImage {
    let (h, w) = (image.height(), image.width());
    let crop_h = scaled(w, target_h, target_w).clamp(1, h.max(1));
    let crop_w = scaled(h, target_w, target_h).clamp(1, w.max(1));
    let top = (h - crop_h.min(h)) / 2;
    let left = (w - crop_w.min(w)) / 2;
    if (crop_h, crop_w) == (h, w) {
        image
    } else {
        image.crop_imm(left, top, crop_w, crop_h)
    }
}

/// Keras's `pad_to_aspect_ratio`: black bands of equal height (or width) on both sides.
fn pad_to_aspect(image: DynamicImage, target_h: u32, target_w: u32) -> DynamicImage {
    let (h, w) = (image.height(), image.width());
    let pad_h = scaled(w, target_h, target_w).max(h);
    let pad_w = scaled(h, target_w, target_h).max(w);
    let top = (pad_h - h) / 2;
    let left = (pad_w - w) / 2;
    let (new_h, new_w) = if top > 0 {
        (h.saturating_add(2 * top), w)
    } else if left > 0 {
        (h, w.saturating_add(2 * left))
    } else {
        return image;
    };
    let (top, left) = if top > 0 { (top, 0) } else { (0, left) };
    let mut canvas = match &image {
        DynamicImage::ImageLuma8(_) => DynamicImage::new_luma8(new_w, new_h),
        DynamicImage::ImageRgba8(_) => DynamicImage::new_rgba8(new_w, new_h),
        _ => DynamicImage::new_rgb8(new_w, new_h),
    };
    image::imageops::replace(&mut canvas, &image, i64::from(left), i64::from(top));
    canvas
}

/// An image data set made by [`image_dataset_from_directory`]: the file list with its labels,
/// read batch by batch.
#[derive(Debug, Clone)]
pub struct ImageDataset {
    samples: Samples,
    spec: ImageSpec,
}

impl ImageDataset {
    fn new(samples: Samples, spec: ImageSpec) -> Result<Self> {
        let images = samples.batch_size.min(samples.paths.len());
        let channels = spec.color_mode.channels();
        let image_bytes = u128::from(spec.height) * u128::from(spec.width) * channels as u128;
        let what = |n: usize| {
            format!(
                "a batch of {n} images of {}x{}x{channels}",
                spec.height, spec.width
            )
        };
        if image_bytes > u128::from(MAX_IMAGE_BYTES) {
            return Err(Error::TooLarge {
                what: what(1),
                size: u64::try_from(image_bytes).unwrap_or(u64::MAX),
                limit: MAX_IMAGE_BYTES,
            });
        }
        let batch_bytes = image_bytes * images as u128;
        let limit = u64::try_from(isize::MAX).unwrap_or(u64::MAX);
        if batch_bytes > u128::from(limit) {
            return Err(Error::TooLarge {
                what: what(images),
                size: u64::try_from(batch_bytes).unwrap_or(u64::MAX),
                limit,
            });
        }
        Ok(Self { samples, spec })
    }

    /// The class names, in label order (Keras's `dataset.class_names`); `None` without labels.
    pub fn class_names(&self) -> Option<&[String]> {
        self.samples.class_names.as_deref()
    }

    /// The image files, in Keras's order (Keras's `dataset.file_paths`): shuffled once with
    /// the seed, then cut by the validation split.
    pub fn file_paths(&self) -> &[PathBuf] {
        &self.samples.paths
    }

    /// The label of each file of [`ImageDataset::file_paths`] (class indices, or the labels
    /// given); `None` without labels.
    pub fn labels(&self) -> Option<&[i64]> {
        self.samples.labels.as_deref()
    }

    /// The number of images.
    pub fn num_samples(&self) -> usize {
        self.samples.paths.len()
    }

    /// `(height, width, channels)` of every image of a batch.
    pub fn image_shape(&self) -> (usize, usize, usize) {
        (
            usize::try_from(self.spec.height).unwrap_or(usize::MAX),
            usize::try_from(self.spec.width).unwrap_or(usize::MAX),
            self.spec.color_mode.channels(),
        )
    }
}

impl Dataset for ImageDataset {
    fn len(&self) -> usize {
        self.samples.num_batches()
    }

    fn get(&self, index: usize) -> Result<Batch, BoxError> {
        let rows = self.samples.batch_rows(index)?;
        let (h, w, c) = self.image_shape();
        let sample = self.spec.sample_len().unwrap_or(0);
        let mut pixels = Vec::new();
        pixels
            .try_reserve_exact(sample * rows.len())
            .map_err(|_| Error::TooLarge {
                what: format!("a batch of {} images of {h}x{w}x{c}", rows.len()),
                size: u64::try_from(sample * rows.len()).unwrap_or(u64::MAX),
                limit: u64::try_from(isize::MAX).unwrap_or(u64::MAX),
            })?;
        pixels.resize(sample * rows.len(), 0);
        for (&row, out) in rows.iter().zip(pixels.chunks_exact_mut(sample.max(1))) {
            self.spec.load_into(&self.samples.paths[row], out)?;
        }
        let x = ArrayD::from_shape_vec(IxDyn(&[rows.len(), h, w, c]), pixels)?;
        Ok(match self.samples.encode_labels(rows)? {
            Some(y) => Batch::new(x, y),
            None => Batch::inputs(x),
        })
    }

    fn on_epoch_end(&mut self) {
        self.samples.on_epoch_end();
    }
}

// ---------------------------------------------------------------------------------------------
// What image and text data sets share: Keras's `dataset_utils.index_directory`,
// `check_validation_split_arg`, `get_training_or_validation_split` and label encoding.

/// The options that list and label the files of a folder.
#[derive(Debug, Clone)]
pub(crate) struct ListingOptions<'a> {
    pub(crate) labels: &'a Labels,
    pub(crate) label_mode: LabelMode,
    pub(crate) class_names: Option<&'a [String]>,
    pub(crate) batch_size: usize,
    pub(crate) shuffle: bool,
    pub(crate) seed: Option<u32>,
    pub(crate) validation_split: Option<f64>,
    pub(crate) subset: Option<Subset>,
    pub(crate) follow_links: bool,
    pub(crate) formats: &'static [&'static str],
    /// How to name the files missing: all, training, validation.
    pub(crate) what: [&'static str; 3],
}

/// The files of one data set (or subset), with their labels and batching.
#[derive(Debug, Clone)]
pub(crate) struct Samples {
    pub(crate) paths: Vec<PathBuf>,
    pub(crate) labels: Option<Vec<i64>>,
    pub(crate) class_names: Option<Vec<String>>,
    pub(crate) label_mode: LabelMode,
    pub(crate) batch_size: usize,
    /// The order of the samples this epoch (indices into `paths`).
    order: Vec<usize>,
    /// Whether `on_epoch_end` reshuffles `order`.
    reshuffle: bool,
    seed: u32,
    epoch: u64,
}

impl Samples {
    pub(crate) fn num_batches(&self) -> usize {
        self.paths.len().div_ceil(self.batch_size.max(1))
    }

    /// The sample indices of batch `index`.
    pub(crate) fn batch_rows(&self, index: usize) -> Result<&[usize], BoxError> {
        let n = self.num_batches();
        if index >= n {
            return Err(Box::new(Error::InvalidArgument {
                name: "index",
                reason: format!("batch {index} of a data set of {n} batches"),
            }));
        }
        let start = index * self.batch_size;
        let end = (start + self.batch_size).min(self.order.len());
        Ok(&self.order[start..end])
    }

    /// The labels of `rows`, encoded as the label mode says; `None` without labels.
    pub(crate) fn encode_labels(&self, rows: &[usize]) -> Result<Option<HostArray>, BoxError> {
        let Some(labels) = &self.labels else {
            return Ok(None);
        };
        let picked = rows.iter().map(|&r| labels[r]);
        Ok(match self.label_mode {
            LabelMode::None => None,
            LabelMode::Int => Some(HostArray::from(
                picked
                    .map(|l| i32::try_from(l).unwrap_or_default())
                    .collect::<Array1<i32>>(),
            )),
            #[allow(clippy::cast_precision_loss)]
            LabelMode::Binary => Some(HostArray::from(Array2::from_shape_vec(
                (rows.len(), 1),
                picked.map(|l| l as f32).collect(),
            )?)),
            LabelMode::Categorical => {
                let classes = self.class_names.as_ref().map_or(0, Vec::len);
                let mut one_hot = Array2::<f32>::zeros((rows.len(), classes));
                for (i, l) in picked.enumerate() {
                    if let Some(v) = usize::try_from(l)
                        .ok()
                        .and_then(|c| one_hot.get_mut((i, c)))
                    {
                        *v = 1.0;
                    }
                }
                Some(HostArray::from(one_hot))
            }
        })
    }

    pub(crate) fn on_epoch_end(&mut self) {
        if self.reshuffle {
            self.epoch += 1;
            let mut rng =
                rand::rngs::StdRng::seed_from_u64((u64::from(self.seed) << 32) ^ self.epoch);
            self.order = (0..self.paths.len()).collect();
            self.order.shuffle(&mut rng);
        }
    }
}

/// Lists, labels, shuffles and splits the files of `directory` as Keras does: one [`Samples`]
/// for no split or a single subset, training then validation for [`Subset::Both`].
pub(crate) fn list_directory(directory: &Path, o: &ListingOptions<'_>) -> Result<Vec<Samples>> {
    if o.batch_size == 0 {
        return Err(Error::InvalidArgument {
            name: "batch_size",
            reason: "must be at least 1".into(),
        });
    }
    let label_mode = if matches!(o.labels, Labels::None) {
        LabelMode::None
    } else {
        o.label_mode
    };
    let labels = if label_mode == LabelMode::None {
        &Labels::None
    } else {
        o.labels
    };
    if o.class_names.is_some() && !matches!(labels, Labels::Inferred) {
        return Err(Error::IncompatibleOptions {
            reason: "`class_names` can only be given with inferred labels (and a label mode)"
                .into(),
        });
    }
    let validation_split = check_validation_split(o.validation_split, o.subset, o.shuffle, o.seed)?;
    let seed = o
        .seed
        .unwrap_or_else(|| rand::random_range(0..1_000_000u32));

    let (mut paths, mut file_labels, class_names) =
        index_directory(directory, labels, o.class_names, o.formats, o.follow_links)?;
    if label_mode == LabelMode::Binary {
        let names = class_names.clone().unwrap_or_default();
        if names.len() != 2 {
            return Err(Error::BinaryNeedsTwoClasses { class_names: names });
        }
    }
    if let Some(labels) = &file_labels {
        check_label_values(labels, label_mode, class_names.as_ref().map_or(0, Vec::len))?;
    }
    if o.shuffle {
        // Keras shuffles the paths and the labels with two generators of the same seed: one
        // permutation of both.
        let mut order: Vec<usize> = (0..paths.len()).collect();
        RandomState::new(seed).shuffle(&mut order);
        paths = crate::sequences::reorder(paths, &order);
        file_labels = file_labels.map(|l| crate::sequences::reorder(l, &order));
    }

    let make = |paths: Vec<PathBuf>, labels: Option<Vec<i64>>, reshuffle: bool| Samples {
        order: (0..paths.len()).collect(),
        paths,
        labels,
        class_names: class_names.clone(),
        label_mode,
        batch_size: o.batch_size,
        reshuffle,
        seed,
        epoch: 0,
    };
    let none_found = |what| Error::NoFilesFound {
        directory: directory.to_path_buf(),
        what,
        formats: o.formats,
    };
    let Some(fraction) = validation_split else {
        if paths.is_empty() {
            return Err(none_found(o.what[0]));
        }
        return Ok(vec![make(paths, file_labels, o.shuffle)]);
    };
    // `int(validation_split * len(samples))`
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let num_val = ((fraction * paths.len() as f64) as usize).min(paths.len());
    let num_train = paths.len() - num_val;
    let val_paths = paths.split_off(num_train);
    let val_labels = file_labels.as_mut().map(|l| l.split_off(num_train));
    match o.subset {
        Some(Subset::Both) => {
            if paths.is_empty() {
                return Err(none_found(o.what[1]));
            }
            if val_paths.is_empty() {
                return Err(none_found(o.what[2]));
            }
            Ok(vec![
                make(paths, file_labels, o.shuffle),
                make(val_paths, val_labels, false),
            ])
        }
        Some(Subset::Validation) => {
            if val_paths.is_empty() {
                return Err(none_found(o.what[0]));
            }
            Ok(vec![make(val_paths, val_labels, o.shuffle)])
        }
        _ => {
            if paths.is_empty() {
                return Err(none_found(o.what[0]));
            }
            Ok(vec![make(paths, file_labels, o.shuffle)])
        }
    }
}

/// Keras's `check_validation_split_arg`; returns the split to make (`0` counts as none, as
/// Keras's `if validation_split:`).
fn check_validation_split(
    validation_split: Option<f64>,
    subset: Option<Subset>,
    shuffle: bool,
    seed: Option<u32>,
) -> Result<Option<f64>> {
    let split = validation_split.filter(|&v| v != 0.0);
    if let Some(v) = split
        && !(v > 0.0 && v < 1.0)
    {
        return Err(Error::InvalidArgument {
            name: "validation_split",
            reason: format!("must be between 0 and 1, got {v}"),
        });
    }
    if split.is_some() != subset.is_some() {
        return Err(Error::IncompatibleOptions {
            reason: "if `subset` is set, `validation_split` must be set, and inversely".into(),
        });
    }
    if split.is_some() && shuffle && seed.is_none() {
        return Err(Error::IncompatibleOptions {
            reason: "with `validation_split` and shuffling, a `seed` is needed so that the \
                     training and validation subsets do not overlap"
                .into(),
        });
    }
    Ok(split)
}

/// Checks that every label fits its encoding: `int32` for [`LabelMode::Int`], a class index
/// for [`LabelMode::Categorical`] (Keras's `one_hot` would silently give a row of zeros).
fn check_label_values(labels: &[i64], mode: LabelMode, classes: usize) -> Result<()> {
    for (index, &label) in labels.iter().enumerate() {
        match mode {
            LabelMode::Int if i32::try_from(label).is_err() => {
                return Err(Error::InvalidArgument {
                    name: "labels",
                    reason: format!("label {label} (file {index}) does not fit an int32"),
                });
            }
            LabelMode::Categorical => match usize::try_from(label) {
                Ok(l) if l < classes => {}
                Ok(l) => {
                    return Err(Error::LabelOutOfRange {
                        label: l,
                        index,
                        num_classes: classes,
                    });
                }
                Err(_) => {
                    return Err(Error::InvalidArgument {
                        name: "labels",
                        reason: format!(
                            "label {label} (file {index}) is negative: categorical labels are \
                             class indices"
                        ),
                    });
                }
            },
            _ => {}
        }
    }
    Ok(())
}

/// Files, labels and class names.
type Indexed = (Vec<PathBuf>, Option<Vec<i64>>, Option<Vec<String>>);

/// Keras's `index_directory` without its shuffle.
fn index_directory(
    directory: &Path,
    labels: &Labels,
    class_names: Option<&[String]>,
    formats: &[&str],
    follow_links: bool,
) -> Result<Indexed> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| Error::Io { path, source }
    };
    match labels {
        Labels::Inferred => {
            let mut subdirs = Vec::new();
            for entry in std::fs::read_dir(directory).map_err(io(directory))? {
                let entry = entry.map_err(io(directory))?;
                let name = entry.file_name();
                // `os.path.isdir` follows links.
                if entry.path().is_dir() && !name.as_encoded_bytes().starts_with(b".") {
                    subdirs.push(name);
                }
            }
            subdirs.sort_by(|a, b| a.as_encoded_bytes().cmp(b.as_encoded_bytes()));
            let subdirs: Vec<String> = subdirs
                .iter()
                .map(|s| s.to_string_lossy().into_owned())
                .collect();
            let classes: Vec<String> = match class_names {
                None => subdirs.clone(),
                Some(names) => {
                    if names.iter().any(|n| !subdirs.contains(n)) {
                        return Err(Error::UnknownClassNames {
                            directory: directory.to_path_buf(),
                            class_names: names.to_vec(),
                            subdirs,
                        });
                    }
                    let mut seen = HashSet::new();
                    if let Some(dup) = names.iter().find(|n| !seen.insert(n.as_str())) {
                        return Err(Error::InvalidArgument {
                            name: "class_names",
                            reason: format!("`{dup}` is given twice"),
                        });
                    }
                    names.to_vec()
                }
            };
            let mut paths = Vec::new();
            let mut file_labels = Vec::new();
            for (class, name) in classes.iter().enumerate() {
                let files = walk_files(&directory.join(name), follow_links, formats)?;
                let class = i64::try_from(class).unwrap_or(i64::MAX);
                file_labels.extend(std::iter::repeat_n(class, files.len()));
                paths.extend(files);
            }
            Ok((paths, Some(file_labels), Some(classes)))
        }
        Labels::Given(given) => {
            std::fs::read_dir(directory).map_err(io(directory))?;
            let paths = walk_files(directory, follow_links, formats)?;
            if given.len() != paths.len() {
                return Err(Error::LabelCountMismatch {
                    directory: directory.to_path_buf(),
                    labels: given.len(),
                    files: paths.len(),
                });
            }
            let mut distinct = given.clone();
            distinct.sort_unstable();
            distinct.dedup();
            let names = distinct.iter().map(ToString::to_string).collect();
            Ok((paths, Some(given.clone()), Some(names)))
        }
        Labels::None => {
            std::fs::read_dir(directory).map_err(io(directory))?;
            Ok((walk_files(directory, follow_links, formats)?, None, None))
        }
    }
}

/// The files of `top` and its sub-folders whose lower-cased name ends with one of `formats`,
/// in Keras's `iter_valid_files` order: folders sorted by their path string, the files of each
/// sorted by name.
fn walk_files(top: &Path, follow_links: bool, formats: &[&str]) -> Result<Vec<PathBuf>> {
    let mut folders: Vec<(PathBuf, Vec<OsString>)> = Vec::new();
    let mut seen = HashSet::new();
    let mut pending = vec![top.to_path_buf()];
    if let Ok(real) = top.canonicalize() {
        seen.insert(real);
    }
    while let Some(dir) = pending.pop() {
        let io = |source| Error::Io {
            path: dir.clone(),
            source,
        };
        let mut files = Vec::new();
        for entry in std::fs::read_dir(&dir).map_err(io)? {
            let entry = entry.map_err(io)?;
            let path = entry.path();
            let kind = entry.file_type().map_err(io)?;
            // `os.walk` sorts entries into folders (links to folders included) and the rest.
            let is_link = kind.is_symlink();
            let is_dir = if is_link {
                path.is_dir()
            } else {
                kind.is_dir()
            };
            if !is_dir {
                files.push(entry.file_name());
            } else if !is_link || follow_links {
                let new = path.canonicalize().map_or(true, |real| seen.insert(real));
                if new {
                    pending.push(path);
                }
            }
        }
        folders.push((dir, files));
    }
    folders.sort_by(|a, b| {
        a.0.as_os_str()
            .as_encoded_bytes()
            .cmp(b.0.as_os_str().as_encoded_bytes())
    });
    let mut out = Vec::new();
    for (dir, mut files) in folders {
        files.sort_by(|a, b| a.as_encoded_bytes().cmp(b.as_encoded_bytes()));
        for name in files {
            let lower = name.to_string_lossy().to_lowercase();
            if formats.iter().any(|f| lower.ends_with(f)) {
                out.push(dir.join(name));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_split_rules_follow_keras() {
        assert!(matches!(
            check_validation_split(Some(0.2), None, true, Some(1)),
            Err(Error::IncompatibleOptions { .. })
        ));
        assert!(matches!(
            check_validation_split(None, Some(Subset::Training), true, Some(1)),
            Err(Error::IncompatibleOptions { .. })
        ));
        assert!(matches!(
            check_validation_split(Some(0.2), Some(Subset::Training), true, None),
            Err(Error::IncompatibleOptions { .. })
        ));
        assert!(matches!(
            check_validation_split(Some(1.0), Some(Subset::Training), true, Some(1)),
            Err(Error::InvalidArgument { .. })
        ));
        assert_eq!(
            check_validation_split(Some(0.0), None, true, None).ok(),
            Some(None)
        );
        assert_eq!(
            check_validation_split(Some(0.2), Some(Subset::Validation), false, None).ok(),
            Some(Some(0.2))
        );
    }

    #[test]
    fn aspect_ratio_boxes_follow_keras() {
        // A 10x4 (h x w) image to a square: crop 4x4 from row 3; pad to 10x10 with 3 columns.
        let img = DynamicImage::new_rgb8(4, 10);
        let cropped = crop_to_aspect(img.clone(), 8, 8);
        assert_eq!((cropped.height(), cropped.width()), (4, 4));
        let padded = pad_to_aspect(img, 8, 8);
        assert_eq!((padded.height(), padded.width()), (10, 10));
        // 5x2 to square: the padding is int(3 / 2) = 1 on each side, so 5x4 as in Keras.
        let padded = pad_to_aspect(DynamicImage::new_rgb8(2, 5), 8, 8);
        assert_eq!((padded.height(), padded.width()), (5, 4));
    }

    #[test]
    fn pil_luma_weights() {
        let rgb = image::RgbImage::from_pixel(1, 1, image::Rgb([255, 0, 0]));
        assert_eq!(pil_luma(&rgb).get_pixel(0, 0).0, [76]);
        let rgb = image::RgbImage::from_pixel(1, 1, image::Rgb([10, 200, 30]));
        assert_eq!(pil_luma(&rgb).get_pixel(0, 0).0, [124]);
    }
}
