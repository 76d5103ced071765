//! `Discretization`: values bucketed into bins by boundaries given or learned from data with
//! `adapt` (Keras `layers.Discretization`).

use kiln_datasets::{Dataset, HostArray};
use serde::{Deserialize, Serialize};

use super::category_encoding::{encode, encoded_shape};
use super::{Layer, Weights, config_of, only, setters};
use crate::data::ArrayInput;
use crate::error::{Error, Result};
use crate::shape::Shape;
use crate::tensor::DynTensor;

fn int() -> String {
    "int".into()
}

fn default_epsilon() -> f64 {
    0.01
}

/// Buckets each value by `bin_boundaries` (Keras `layers.Discretization`): bin `i` holds
/// `b[i-1] <= x < b[i]` (a value equal to a boundary goes to the upper bin), so there are
/// `len(b) + 1` bins. `output_mode` `int` (default) gives the bin ids; `one_hot`, `multi_hot`
/// and `count` encode them as `CategoryEncoding` does.
///
/// With `num_bins` instead, [`Discretization::adapt`] learns the boundaries as Keras does: an
/// approximate quantile summary of the data (`epsilon` its error, default 0.01), merged over
/// batches, then cut into `num_bins` bins of equal weight.
///
/// # Examples
/// ```
/// use kiln_model::{Discretization, Input, Sequential};
/// let bins = Discretization::new().bin_boundaries(vec![0.0, 1.0]);
/// let model = Sequential::new().add(Input::new([4])).add(bins)
///     .build(&burn::tensor::Device::flex())?;
/// let y = model.predict(&ndarray::array![[-0.5f32, 0.0, 0.5, 1.0]], 32)?;
/// assert_eq!(y.into_raw_vec_and_offset().0, vec![0.0, 1.0, 1.0, 2.0]);
/// # Ok::<(), kiln_model::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Discretization {
    /// The boundaries between bins, increasing.
    #[serde(default)]
    pub bin_boundaries: Option<Vec<f32>>,
    /// How many bins `adapt` makes.
    #[serde(default)]
    pub num_bins: Option<usize>,
    /// The quantile summary's error (default 0.01).
    #[serde(default = "default_epsilon")]
    pub epsilon: f64,
    /// `int` (default), `one_hot`, `multi_hot` or `count`.
    #[serde(default = "int")]
    pub output_mode: String,
    /// Only false.
    #[serde(default)]
    pub sparse: bool,
}

impl Default for Discretization {
    fn default() -> Self {
        Self::new()
    }
}

setters!(Discretization {
    /// Sets the output mode (`int`, `one_hot`, `multi_hot`, `count`).
    output_mode: String,
    /// Sets the summary's error for `adapt`.
    epsilon: f64,
});

/// A weighted summary of sorted values: `(values, weights)`, as Keras's `[2, n]` array.
type Summary = (Vec<f32>, Vec<f32>);

/// Keras's `summarize`: every `step`-th sorted value, each weighing `step`.
fn summarize(mut values: Vec<f32>, epsilon: f64) -> Summary {
    values.sort_by(f32::total_cmp);
    let increment = values.len() as f64 / (1.0 / epsilon);
    let step = increment.max(1.0);
    let (start, stride) = ((step - 1.0) as usize, (step as usize).max(1));
    let kept: Vec<f32> = values.iter().skip(start).step_by(stride).copied().collect();
    let weights = vec![step as f32; kept.len()];
    (kept, weights)
}

/// NumPy's `interp(x, xp, fp)` (xp increasing).
fn interp(x: f64, xp: &[f64], fp: &[f64]) -> f64 {
    let (Some(&first), Some(&last)) = (xp.first(), xp.last()) else {
        return f64::NAN;
    };
    if x <= first {
        return fp[0];
    }
    if x >= last {
        return fp[fp.len() - 1];
    }
    // The last j with xp[j] <= x.
    let j = xp.partition_point(|&v| v <= x).saturating_sub(1);
    let (x0, x1) = (xp[j], xp[j + 1]);
    if x1 == x0 {
        return fp[j];
    }
    let slope = (fp[j + 1] - fp[j]) / (x1 - x0);
    slope * (x - x0) + fp[j]
}

/// Keras's `compress_summary`: the summary re-sampled at `1/epsilon` equal-weight points.
fn compress(summary: Summary, epsilon: f64) -> Summary {
    let (values, weights) = summary;
    if (values.len() as f64) * epsilon < 1.0 {
        return (values, weights);
    }
    // NumPy's arange(0, 1, epsilon): ceil(1 / epsilon) points start + i * step.
    let count = (1.0 / epsilon).ceil() as usize;
    let percents: Vec<f64> = (0..count).map(|i| epsilon + i as f64 * epsilon).collect();
    let mut cum = Vec::with_capacity(weights.len());
    let mut total = 0.0f32;
    for w in &weights {
        total += w;
        cum.push(total);
    }
    let last = cum.last().copied().unwrap_or(1.0);
    let cum_pct: Vec<f64> = cum.iter().map(|c| f64::from(c / last)).collect();
    let fp_values: Vec<f64> = values.iter().map(|&v| f64::from(v)).collect();
    let fp_cum: Vec<f64> = cum.iter().map(|&c| f64::from(c)).collect();
    let new_values: Vec<f32> = percents
        .iter()
        .map(|&p| interp(p, &cum_pct, &fp_values) as f32)
        .collect();
    let new_cum: Vec<f64> = percents
        .iter()
        .map(|&p| interp(p, &cum_pct, &fp_cum))
        .collect();
    let new_weights: Vec<f32> = new_cum
        .iter()
        .enumerate()
        .map(|(i, &c)| (c - if i == 0 { 0.0 } else { new_cum[i - 1] }) as f32)
        .collect();
    (new_values, new_weights)
}

/// Keras's `merge_summaries`: both summaries' points sorted by value, then compressed.
fn merge(new: Summary, previous: Summary, epsilon: f64) -> Summary {
    let mut points: Vec<(f32, f32)> = new
        .0
        .into_iter()
        .zip(new.1)
        .chain(previous.0.into_iter().zip(previous.1))
        .collect();
    points.sort_by(|a, b| a.0.total_cmp(&b.0));
    compress(points.into_iter().unzip(), epsilon)
}

impl Discretization {
    /// No boundaries yet: give them with [`Discretization::bin_boundaries`] or learn them with
    /// `num_bins` and `adapt`.
    pub fn new() -> Self {
        Self {
            bin_boundaries: None,
            num_bins: None,
            epsilon: default_epsilon(),
            output_mode: int(),
            sparse: false,
        }
    }

    /// Uses these boundaries (increasing).
    pub fn bin_boundaries(mut self, boundaries: Vec<f32>) -> Self {
        self.bin_boundaries = Some(boundaries);
        self
    }

    /// Makes `adapt` learn boundaries for `bins` bins.
    pub fn num_bins(mut self, bins: usize) -> Self {
        self.num_bins = Some(bins);
        self
    }

    fn invalid(&self, reason: String) -> Error {
        Error::InvalidOption {
            layer: "discretization".into(),
            option: "adapt",
            reason,
        }
    }

    /// Learns `num_bins` bins of equal weight from every value of `data` (Keras `adapt`).
    ///
    /// # Errors
    /// [`Error::InvalidOption`] without `num_bins`, with an `epsilon` outside `(0, 1)`, or no
    /// values.
    pub fn adapt(self, data: &impl ArrayInput) -> Result<Self> {
        self.adapt_batches(std::iter::once(Ok(data.host_array())))
    }

    /// Learns the bins from the first input of every batch of `data`, merging the batches'
    /// summaries as Keras does.
    ///
    /// # Errors
    /// As [`Discretization::adapt`]; a batch the data set cannot give.
    pub fn adapt_dataset(self, data: &dyn Dataset) -> Result<Self> {
        let batches: Vec<Result<HostArray>> = (0..data.len())
            .map(|i| {
                let batch = data
                    .get(i)
                    .map_err(|e| self.invalid(format!("batch {i}: {e}")))?;
                batch
                    .x
                    .into_iter()
                    .next()
                    .ok_or_else(|| self.invalid(format!("batch {i} has no input array")))
            })
            .collect();
        self.adapt_batches(batches.into_iter())
    }

    fn adapt_batches(mut self, batches: impl Iterator<Item = Result<HostArray>>) -> Result<Self> {
        let bins = match self.num_bins {
            Some(b) if (1..=1 << 20).contains(&b) => b,
            Some(b) => {
                return Err(self.invalid(format!("num_bins must be in 1..=1048576, got {b}")));
            }
            None => return Err(self.invalid("adapt needs num_bins".into())),
        };
        if !(self.epsilon > 0.0 && self.epsilon < 1.0) {
            return Err(self.invalid(format!("epsilon must be in (0, 1), got {}", self.epsilon)));
        }
        let mut summary: Summary = (Vec::new(), Vec::new());
        let mut any = false;
        for batch in batches {
            let values = batch?.to_f32_vec();
            if let Some(i) = values.iter().position(|v| !v.is_finite()) {
                return Err(self.invalid(format!("value {i} is {}", values[i])));
            }
            any |= !values.is_empty();
            summary = merge(summarize(values, self.epsilon), summary, self.epsilon);
        }
        if !any {
            return Err(self.invalid("no values to learn from".into()));
        }
        let (mut values, _) = compress(summary, 1.0 / bins as f64);
        values.pop();
        self.bin_boundaries = Some(values);
        Ok(self)
    }

    fn boundaries(&self) -> std::result::Result<&[f32], String> {
        let b = self.bin_boundaries.as_deref().ok_or_else(|| {
            "no bin_boundaries: give them, or set num_bins and call adapt before building"
                .to_string()
        })?;
        if b.iter().any(|v| !v.is_finite()) || b.windows(2).any(|w| w[0] > w[1]) {
            return Err(format!(
                "bin_boundaries must be finite and increasing, got {b:?}"
            ));
        }
        Ok(b)
    }
}

impl Layer for Discretization {
    fn class_name(&self) -> &str {
        "Discretization"
    }

    fn config(&self) -> serde_json::Value {
        config_of(self)
    }

    fn output_shape(&self, inputs: &[Shape]) -> std::result::Result<Shape, String> {
        let input = only(inputs)?;
        let bins = self.boundaries()?.len() + 1;
        if self.sparse {
            return Err("sparse outputs are not supported; use sparse=false".into());
        }
        match self.output_mode.as_str() {
            "int" => Ok(input.clone()),
            mode => encoded_shape("Discretization", input, bins, mode),
        }
    }

    fn call(
        &self,
        inputs: Vec<DynTensor>,
        _weights: &Weights<'_>,
        _training: bool,
    ) -> std::result::Result<DynTensor, String> {
        let x = only(inputs)?;
        let boundaries = self.boundaries()?;
        // The bin id is how many boundaries are <= x.
        let ids = crate::dyn_map!(x, t => {
            let mut ids = t.zeros_like();
            for &b in boundaries {
                ids = ids + t.clone().greater_equal_elem(b).float();
            }
            ids
        });
        match self.output_mode.as_str() {
            "int" => Ok(ids),
            mode => encode(ids, boundaries.len() + 1, mode),
        }
    }
}
