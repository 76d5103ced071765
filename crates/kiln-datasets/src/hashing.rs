//! Keras's `Hashing` on the host: strings (or integers, hashed as their decimal text) put into
//! `num_bins` bins by TensorFlow's hashes — FarmHash `Fingerprint64` (TensorFlow's
//! `to_hash_bucket_fast`), or SipHash-2-4 keyed by a `salt` (`to_hash_bucket_strong`) — as ids
//! or one-hot, multi-hot or count vectors.

use std::hash::Hasher;

use ndarray::{ArrayD, IxDyn};
use serde_json::{Value, json};

use crate::array::HostArray;
use crate::error::{Error, Result};
use crate::index_lookup::LookupMode;

/// What may be hashed: strings, or integers (hashed as their decimal text, as Keras does).
#[derive(Debug, Clone, PartialEq)]
pub enum HashInput {
    /// Strings, hashed as their UTF-8 bytes.
    Strings(ArrayD<String>),
    /// Integers.
    Ints(ArrayD<i64>),
}

/// The masked value of a [`Hashing`] layer, compared with the raw input.
#[derive(Debug, Clone, PartialEq)]
pub enum MaskValue {
    /// A string.
    String(String),
    /// An integer.
    Int(i64),
}

/// Keras's `Hashing` layer (see the module documentation).
///
/// # Examples
/// ```
/// use kiln_datasets::{HashInput, Hashing, HostArray};
/// // Keras: Hashing(num_bins=3)([["A"], ["B"], ["C"], ["D"], ["E"]]) -> [[1], [0], [1], [1], [2]]
/// let layer = Hashing::new(3);
/// let x = ndarray::array![["A"], ["B"], ["C"], ["D"], ["E"]].mapv(String::from).into_dyn();
/// let bins = layer.call(&HashInput::Strings(x))?;
/// assert_eq!(bins, HostArray::from(ndarray::array![[1i64], [0], [1], [1], [2]]));
/// # Ok::<(), kiln_datasets::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Hashing {
    /// How many bins (mask included).
    pub num_bins: u64,
    /// The value put in bin 0 (the other values then share bins 1..num_bins).
    pub mask_value: Option<MaskValue>,
    /// SipHash's key; `None` uses FarmHash `Fingerprint64`.
    pub salt: Option<[u64; 2]>,
    /// `Int` (default), `OneHot`, `MultiHot` or `Count` (not `TfIdf`).
    pub output_mode: LookupMode,
}

impl Hashing {
    /// `num_bins` bins, no mask, no salt, bin ids.
    pub fn new(num_bins: u64) -> Self {
        Self {
            num_bins,
            mask_value: None,
            salt: None,
            output_mode: LookupMode::Int,
        }
    }

    /// Puts `mask` in bin 0.
    pub fn mask_value(mut self, mask: MaskValue) -> Self {
        self.mask_value = Some(mask);
        self
    }

    /// Hashes with SipHash-2-4 keyed by `salt` (Keras's salt pair; an int `s` is `[s, s]`).
    pub fn salt(mut self, salt: [u64; 2]) -> Self {
        self.salt = Some(salt);
        self
    }

    /// Sets the output mode.
    pub fn output_mode(mut self, mode: LookupMode) -> Self {
        self.output_mode = mode;
        self
    }

    fn invalid(reason: impl Into<String>) -> Error {
        Error::InvalidArgument {
            name: "Hashing",
            reason: reason.into(),
        }
    }

    /// Reads Keras's config of the layer (`Hashing.get_config()`).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for what Keras refuses: `num_bins` missing or 0, an output
    /// mode other than int, one_hot, multi_hot and count, a bad salt or mask value, `sparse`.
    ///
    /// # Examples
    /// ```
    /// use kiln_datasets::Hashing;
    /// let layer = Hashing::from_config(&serde_json::json!({"num_bins": 3, "salt": 7}))?;
    /// assert_eq!(layer.salt, Some([7, 7]));
    /// assert_eq!(Hashing::from_config(&layer.config())?, layer);
    /// # Ok::<(), kiln_datasets::Error>(())
    /// ```
    pub fn from_config(config: &Value) -> Result<Self> {
        let num_bins = config["num_bins"]
            .as_u64()
            .filter(|&n| n > 0)
            .ok_or_else(|| Self::invalid("`num_bins` must be a positive int"))?;
        let mut layer = Self::new(num_bins);
        layer.output_mode =
            crate::index_lookup::lookup_mode(&config["output_mode"]).map_err(Self::invalid)?;
        if layer.output_mode == LookupMode::TfIdf {
            return Err(Self::invalid(
                "output_mode tf_idf: use int, one_hot, multi_hot or count",
            ));
        }
        layer.salt = crate::index_lookup::parse_salt(&config["salt"]).map_err(Self::invalid)?;
        layer.mask_value = match &config["mask_value"] {
            Value::Null => None,
            Value::String(s) => Some(MaskValue::String(s.clone())),
            v => Some(MaskValue::Int(
                v.as_i64()
                    .ok_or_else(|| Self::invalid(format!("mask_value {v}")))?,
            )),
        };
        if crate::index_lookup::flag(config, "sparse") {
            return Err(Self::invalid(
                "sparse outputs are TensorFlow-only in Keras; Kiln gives dense ones",
            ));
        }
        Ok(layer)
    }

    /// Keras's config of the layer.
    pub fn config(&self) -> Value {
        let mask = match &self.mask_value {
            None => Value::Null,
            Some(MaskValue::String(s)) => s.clone().into(),
            Some(MaskValue::Int(i)) => (*i).into(),
        };
        json!({
            "num_bins": self.num_bins,
            "salt": self.salt,
            "mask_value": mask,
            "output_mode": crate::index_lookup::mode_name(self.output_mode),
            "sparse": false,
        })
    }

    /// The 64-bit hash of `bytes`: FarmHash `Fingerprint64`, or SipHash-2-4 with the salt.
    pub fn hash(&self, bytes: &[u8]) -> u64 {
        match self.salt {
            None => crate::fingerprint::fingerprint64(bytes),
            Some([k0, k1]) => {
                let mut h = siphasher::sip::SipHasher24::new_with_keys(k0, k1);
                h.write(bytes);
                h.finish()
            }
        }
    }

    fn bin(&self, bytes: &[u8], masked: bool) -> u64 {
        match (&self.mask_value, self.num_bins) {
            (Some(_), n) if n > 1 => {
                if masked {
                    0
                } else {
                    self.hash(bytes) % (n - 1) + 1
                }
            }
            (_, n) => self.hash(bytes) % n,
        }
    }

    /// The bins of every value (Keras's `layer(x)`): `Int` keeps the shape (`i64`); the
    /// vector modes follow the lookup layers' shapes.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for `num_bins` 0 or `TfIdf`.
    pub fn call(&self, values: &HashInput) -> Result<HostArray> {
        if self.num_bins == 0 {
            return Err(Self::invalid("num_bins must be at least 1"));
        }
        if self.output_mode == LookupMode::TfIdf {
            return Err(Self::invalid("output_mode tf_idf is not one of Hashing's"));
        }
        let (shape, bins): (Vec<usize>, Vec<u64>) = match values {
            HashInput::Strings(a) => (
                a.shape().to_vec(),
                a.iter()
                    .map(|s| {
                        let masked = self.mask_value == Some(MaskValue::String(s.clone()));
                        self.bin(s.as_bytes(), masked)
                    })
                    .collect(),
            ),
            HashInput::Ints(a) => (
                a.shape().to_vec(),
                a.iter()
                    .map(|&v| {
                        let masked = self.mask_value == Some(MaskValue::Int(v));
                        self.bin(v.to_string().as_bytes(), masked)
                    })
                    .collect(),
            ),
        };
        if self.output_mode == LookupMode::Int {
            let ids = bins.into_iter().map(|b| b as i64).collect();
            return ArrayD::from_shape_vec(IxDyn(&shape), ids)
                .map(HostArray::I64)
                .map_err(|e| Self::invalid(e.to_string()));
        }
        let width = usize::try_from(self.num_bins)
            .ok()
            .filter(|&w| w <= 1 << 24)
            .ok_or_else(|| Self::invalid("vector outputs take at most 2^24 bins"))?;
        let ids: Vec<usize> = bins.into_iter().map(|b| b as usize).collect();
        crate::index_lookup::encode_ids(&ids, &shape, width, self.output_mode, &[])
            .map_err(Self::invalid)
    }
}
