//! CIFAR-100, as Keras's `keras.datasets.cifar100.load_data(label_mode=...)` returns it:
//! 50,000 training and 10,000 test colour images of 32×32 pixels, channels last
//! (`[n, 32, 32, 3]`, `u8`), labelled over 100 fine classes grouped into 20 coarse ones
//! ([`LabelMode`]). Labels are `[n, 1]` `i64`, NumPy's `int64`: Keras builds them from the
//! pickled Python lists with `np.reshape`, so that is their type in Keras too, whatever its
//! docstring says.
//!
//! The archive `cifar-100-python.tar.gz` ([`FILE`]) is checked against Keras's SHA-256 and
//! kept whole in `<cache>/cifar100`; its `cifar-100-python/train` and `test` pickles are read
//! from it.
//!
//! # Examples
//! ```no_run
//! use kiln_datasets::cifar100::{self, LabelMode, LoadOptions};
//!
//! let ((x_train, y_train), _) = cifar100::load_data()?; // fine labels, 0..=99
//! assert_eq!(x_train.shape(), &[50000, 32, 32, 3]);
//! assert_eq!(y_train.shape(), &[50000, 1]);
//! let (_, (_, y_coarse)) =
//!     cifar100::load_data_with(&LoadOptions::new().label_mode(LabelMode::Coarse))?;
//! assert!(y_coarse.iter().all(|&l| (0..20).contains(&l)));
//! # Ok::<(), kiln_datasets::Error>(())
//! ```

use std::path::Path;

use ndarray::{Array2, Array4};

use crate::cifar10::{TORONTO_ORIGIN, archive_members, read_batch, read_file, to_arrays};
use crate::error::{Error, Result};
use crate::remote::{KerasFile, Source};

/// Images `[n, 32, 32, 3]` (channels last) and labels `[n, 1]`.
pub type Split = (Array4<u8>, Array2<i64>);

/// The folder of the data set under the data and cache folders.
pub const NAME: &str = "cifar100";

/// The archive, as Keras downloads it (`keras/src/datasets/cifar100.py`).
pub const FILE: KerasFile = KerasFile {
    name: "cifar-100-python.tar.gz",
    origin: TORONTO_ORIGIN,
    file_hash: Some("85cd44d02ba6437773c5bbd22e183051d648de2e7d6b014e1ef29b855ba677a7"),
};

/// The folder inside the archive holding `train` and `test`.
pub const FOLDER: &str = "cifar-100-python";

/// Which labels to return: Keras's `label_mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LabelMode {
    /// The 100 fine classes (`"fine"`, Keras's default).
    #[default]
    Fine,
    /// The 20 coarse superclasses (`"coarse"`).
    Coarse,
}

impl LabelMode {
    /// The key of the labels in the pickled batches: `fine_labels` or `coarse_labels`.
    pub fn key(self) -> &'static str {
        match self {
            LabelMode::Fine => "fine_labels",
            LabelMode::Coarse => "coarse_labels",
        }
    }
}

impl std::str::FromStr for LabelMode {
    type Err = Error;

    /// `"fine"` or `"coarse"`, as Keras takes them.
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "fine" => Ok(LabelMode::Fine),
            "coarse" => Ok(LabelMode::Coarse),
            other => Err(Error::InvalidArgument {
                name: "label_mode",
                reason: format!("must be one of \"fine\", \"coarse\"; received {other:?}"),
            }),
        }
    }
}

/// The options of [`load_data_with`], with Keras's defaults.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    label_mode: LabelMode,
    source: Source,
}

impl LoadOptions {
    /// Keras's defaults: fine labels, Keras's address and hash.
    pub fn new() -> Self {
        Self::default()
    }

    /// Fine or coarse labels.
    pub fn label_mode(mut self, mode: LabelMode) -> Self {
        self.label_mode = mode;
        self
    }

    /// Where the archive comes from.
    pub fn source(mut self, source: Source) -> Self {
        self.source = source;
        self
    }
}

/// Loads CIFAR-100 with fine labels, downloading it when needed.
///
/// # Errors
/// As [`load_data_with`].
pub fn load_data() -> Result<(Split, Split)> {
    load_data_with(&LoadOptions::new())
}

/// Loads CIFAR-100 as `options` say.
///
/// # Errors
/// Those of [`Source::fetch`]; [`Error::CorruptArchive`], [`Error::Pickle`],
/// [`Error::ForbiddenPickleGlobal`] or [`Error::UnexpectedContent`] for an archive that is not
/// CIFAR-100's.
pub fn load_data_with(options: &LoadOptions) -> Result<(Split, Split)> {
    let archive = options.source.fetch(NAME, &FILE)?;
    let names = [format!("{FOLDER}/train"), format!("{FOLDER}/test")];
    let members = archive_members(&archive.path, &archive.bytes, &names)?;
    let path = archive.path;
    drop(archive.bytes); // the compressed archive is no longer needed
    assemble(&path, &members, options.label_mode)
}

/// Loads CIFAR-100 from `dir` (no search, no download): the archive `cifar-100-python.tar.gz`
/// (checked against the hash of `options`' source), or the extracted folder `cifar-100-python`
/// (as it is, unchecked).
///
/// # Errors
/// As [`load_data_with`].
pub fn load_data_from(dir: impl AsRef<Path>, options: &LoadOptions) -> Result<(Split, Split)> {
    let dir = dir.as_ref();
    let extracted = dir.join(FOLDER);
    if !dir.join(FILE.name).exists() && extracted.is_dir() {
        let mut members = Vec::new();
        for name in ["train", "test"] {
            let path = extracted.join(name);
            let bytes = read_file(&path)?;
            members.push((path, bytes));
        }
        return assemble(dir, &members, options.label_mode);
    }
    let options = options
        .clone()
        .source(options.source.clone().cache_dir(dir).offline());
    load_data_with(&options)
}

fn assemble(
    archive: &Path,
    members: &[(std::path::PathBuf, Vec<u8>)],
    mode: LabelMode,
) -> Result<(Split, Split)> {
    let [(train_path, train), (test_path, test)] = members else {
        return Err(Error::CorruptArchive {
            path: archive.to_path_buf(),
            reason: "it lacks `train` or `test`".into(),
            source: None,
        });
    };
    let (x, y) = read_batch(train_path, train, mode.key())?;
    let train = to_arrays(train_path, x, y)?;
    let (x, y) = read_batch(test_path, test, mode.key())?;
    let test = to_arrays(test_path, x, y)?;
    Ok((train, test))
}
