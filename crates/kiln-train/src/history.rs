//! `History`: what `fit` returns, per-epoch values by name.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The per-epoch values of a `fit` run, as Keras's `history.history`: `loss`, each metric,
/// and `val_`-prefixed ones when there was validation data.
///
/// # Examples
/// ```
/// let mut h = kiln_train::History::default();
/// h.push(0, &[("loss".into(), 0.5), ("accuracy".into(), 0.8)]);
/// assert_eq!(h.get("loss"), Some(&[0.5][..]));
/// let again = kiln_train::History::from_json(&h.to_json()?)?;
/// assert_eq!(again, h);
/// # Ok::<(), kiln_train::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct History {
    /// The 0-based epoch indices recorded.
    pub epoch: Vec<usize>,
    /// Values by name, one per recorded epoch.
    pub history: BTreeMap<String, Vec<f64>>,
    /// Wall-clock seconds of each recorded epoch (training and validation), for benchmarks.
    #[serde(default)]
    pub epoch_seconds: Vec<f64>,
}

impl History {
    /// Records one epoch's values.
    pub fn push(&mut self, epoch: usize, values: &[(String, f64)]) {
        self.push_timed(epoch, values, 0.0);
    }

    /// Records one epoch's values and its wall-clock seconds.
    pub fn push_timed(&mut self, epoch: usize, values: &[(String, f64)], seconds: f64) {
        self.epoch_seconds.push(seconds);
        self.epoch.push(epoch);
        for (k, v) in values {
            self.history.entry(k.clone()).or_default().push(*v);
        }
    }

    /// The values of `name` (`"loss"`, `"val_accuracy"`), one per epoch.
    pub fn get(&self, name: &str) -> Option<&[f64]> {
        self.history.get(name).map(Vec::as_slice)
    }

    /// The names recorded.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.history.keys().map(String::as_str)
    }

    /// The last value of `name`.
    pub fn last(&self, name: &str) -> Option<f64> {
        self.get(name).and_then(|v| v.last().copied())
    }

    /// Serializes to JSON.
    ///
    /// # Errors
    /// [`Error::Json`] (not expected for these types).
    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string_pretty(self).map_err(Error::Json)
    }

    /// Reads JSON written by [`History::to_json`].
    ///
    /// # Errors
    /// [`Error::Json`] for malformed input.
    pub fn from_json(json: &str) -> Result<Self> {
        serde_json::from_str(json).map_err(Error::Json)
    }
}
